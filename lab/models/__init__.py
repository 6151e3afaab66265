"""The binary networks of the LAB paper, each with a choosable activation binarizer per stage.

``build(name, binarizer=..., lab_blocks=...)`` makes XNOR-Net, Bi-Real Net, QuickNet, ReActNet-A or LAB-BNN with the
network's own sign binarizer ("sign"), LAB ("lab"), Niblack or Sauvola in the stages ``lab_blocks`` selects. At
``width=1`` and 224x224x3 inputs with 1000 classes and the sign binarizer, XNOR-Net, Bi-Real Net and QuickNet have
exactly larq-zoo's parameters. Binary convs are named ``stage{s}_block{b}_binconv{i}``; `binary_layers`,
`stage_of` and `summary` read a model back.
"""
from __future__ import annotations

import tensorflow as tf

from lab.models.birealnet import BiRealNet
from lab.models.common import BINARIZERS, MIN_INPUT_SIDE, SMALL_INPUT_BELOW, BinarizerArg
from lab.models.labbnn import LABBNN
from lab.models.quicknet import QuickNet
from lab.models.reactnet import ReActNet, RSign
from lab.models.sizes import binary_layers, is_binary_layer, stage_of, summary
from lab.models.xnornet import XNORNet
from lab import paper
from lab.models import birealnet, labbnn, quicknet, reactnet, xnornet

__all__ = ["NAMES", "NUM_STAGES", "BINARIZERS", "MIN_INPUT_SIDE", "SMALL_INPUT_BELOW", "build", "XNORNet",
           "BiRealNet", "QuickNet", "ReActNet", "LABBNN", "RSign", "binary_layers", "is_binary_layer", "stage_of",
           "summary"]

_BUILDERS = {"xnornet": XNORNet, "birealnet": BiRealNet, "quicknet": QuickNet, "reactnet": ReActNet,
             "labbnn": LABBNN}
NAMES = paper.MODELS  # the paper's networks, in its order
NUM_STAGES = {"xnornet": xnornet.NUM_STAGES, "birealnet": birealnet.NUM_STAGES, "quicknet": quicknet.NUM_STAGES,
              "reactnet": reactnet.NUM_STAGES, "labbnn": labbnn.NUM_STAGES}


def build(name: str, *, binarizer: BinarizerArg = "sign", lab_blocks=None, input_shape=(224, 224, 3),
          num_classes: int = 1000, width: float = 1.0) -> tf.keras.Model:
    """Build network ``name`` (one of `NAMES`); the other arguments are those of its builder (e.g. `BiRealNet`).

    # Arguments
        name: "xnornet", "birealnet", "quicknet", "reactnet" or "labbnn".
        binarizer: "sign" (the network's own sign binarizer), "lab", "niblack", "sauvola", a larq quantizer
            (copied for each layer) or a zero-argument factory returning a fresh quantizer.
        lab_blocks: one flag per stage (`NUM_STAGES[name]`), as bools or a mask string like "1011", saying where
            ``binarizer`` is used; the other stages keep the sign binarizer. None: every stage.
        input_shape: (height, width, channels); height and width at least 28, below 64 a small-image stem.
        num_classes: size of the softmax output.
        width: multiplier of every filter count (1.0 = the published network).

    # Raises
        ValueError: naming the bad argument and its allowed values, before anything is built.
    """
    if name not in _BUILDERS:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    return _BUILDERS[name](binarizer=binarizer, lab_blocks=lab_blocks, input_shape=input_shape,
                           num_classes=num_classes, width=width)
