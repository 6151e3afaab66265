"""lab — reproducible research package for LAB: Learnable Activation Binarizer for Binary Neural Networks.

The package face is lazy: ``import lab`` (and its TensorFlow-free modules such as `lab.presets`, `lab.paper`,
`lab.provenance`, `lab.validate`) imports no TensorFlow, so the command lines answer ``--help`` and reject bad
parameters at once. ``lab.LAB`` and the other names below import `lab.quantizers` on first use, which registers
the binarizers with larq ("lab", "folded_lab", "niblack", "sauvola").
"""
import importlib

__version__ = "0.1.0"
_LAZY = {"LAB": "lab.quantizers", "FoldedLAB": "lab.quantizers", "Niblack": "lab.quantizers",
         "Sauvola": "lab.quantizers", "fold": "lab.folding"}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
