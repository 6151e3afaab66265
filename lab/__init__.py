"""lab — reproducible research package for LAB: Learnable Activation Binarizer for Binary Neural Networks.

Importing ``lab`` registers its binarizers with larq ("lab", "folded_lab", "niblack", "sauvola").
"""
from lab.folding import fold
from lab.quantizers import LAB, FoldedLAB, Niblack, Sauvola

__version__ = "0.1.0"
__all__ = ["LAB", "FoldedLAB", "Niblack", "Sauvola", "fold", "__version__"]
