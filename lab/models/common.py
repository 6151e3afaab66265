"""What every network builder shares: argument checks, binarizer choice per stage, width scaling, layer names.

A builder turns its keyword arguments into a `Spec` (which checks them all before any layer is made) and asks it
for a fresh input quantizer per binary layer (`Spec.binarizer`), for scaled filter counts (`Spec.filters`) and for
the stem to use (`Spec.small_input`).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence, Union

import larq as lq
import numpy as np
import tensorflow as tf
from larq_zoo.core import utils as zoo_utils

BINARIZERS = ("sign", "lab", "niblack", "sauvola")
MIN_INPUT_SIDE = 28  # the smallest images the builders support (MNIST-sized)
SMALL_INPUT_BELOW = 64  # images smaller than this (height or width) get a stride-1 stem without max-pool

QuantizerFactory = Callable[[], lq.quantizers.Quantizer]
BinarizerArg = Union[str, lq.quantizers.Quantizer, QuantizerFactory]

_BINCONV_NAME = re.compile(r"^stage(\d+)_block(\d+)_binconv(\d+)$")


def binconv_name(stage: int, block: int, index: int = 1) -> str:
    """Name of a binary conv: ``stage{s}_block{b}_binconv{i}``, all counted from 1."""
    return f"stage{stage}_block{block}_binconv{index}"


def parse_binconv_name(name: str) -> tuple[int, int, int] | None:
    """``(stage, block, index)`` of a binary conv name, or ``None`` when the name is not one."""
    match = _BINCONV_NAME.match(name)
    return tuple(int(g) for g in match.groups()) if match else None


def _lab_quantizer(name: str) -> QuantizerFactory:
    """The `lab.quantizers` class for a binarizer name (imported late: `lab.quantizers` imports nothing of ours)."""
    from lab import quantizers

    return {"lab": quantizers.LAB, "niblack": quantizers.Niblack, "sauvola": quantizers.Sauvola}[name]


def binarizer_factory(binarizer: BinarizerArg, baseline: QuantizerFactory) -> QuantizerFactory:
    """A zero-argument callable returning a fresh binarizer per call (LAB has weights: one instance per layer).

    ``binarizer`` is "sign" (the network's own ``baseline``), "lab", "niblack", "sauvola", a larq quantizer
    instance (copied from its config for each layer) or a zero-argument factory such as a quantizer class.
    """
    if isinstance(binarizer, str) and binarizer in BINARIZERS:
        return baseline if binarizer == "sign" else _lab_quantizer(binarizer)
    if isinstance(binarizer, lq.quantizers.Quantizer):
        return lambda: type(binarizer).from_config(binarizer.get_config() | {"name": None})
    if callable(binarizer) and not isinstance(binarizer, str):
        return binarizer
    raise ValueError(f"binarizer must be one of {BINARIZERS}, a larq quantizer or a factory returning one; "
                     f"got {binarizer!r}")


def parse_mask(lab_blocks: str | Sequence[bool] | None, num_stages: int) -> tuple[bool, ...]:
    """Per-stage flags from ``lab_blocks``: ``None`` (every stage), a mask string like "1011" or a bool sequence."""
    if lab_blocks is None:
        return (True,) * num_stages
    if isinstance(lab_blocks, str) and set(lab_blocks) <= {"0", "1"}:
        flags = tuple(c == "1" for c in lab_blocks)
    elif isinstance(lab_blocks, (list, tuple, np.ndarray)) and all(isinstance(f, (bool, np.bool_))
                                                                   for f in lab_blocks):
        flags = tuple(bool(f) for f in lab_blocks)
    else:
        raise ValueError(f"lab_blocks must be None, a '0'/'1' string or a sequence of bools, one per stage; "
                         f"got {lab_blocks!r}")
    if len(flags) != num_stages:
        raise ValueError(f"lab_blocks must have one flag per stage: {num_stages} for this network, "
                         f"got {len(flags)} ({lab_blocks!r})")
    return flags


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    valid = len(shape) == 3 and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape)
    if not valid or min(shape[:2]) < MIN_INPUT_SIDE or shape[2] < 1:
        raise ValueError(f"input_shape must be (height, width, channels) with height and width >= "
                         f"{MIN_INPUT_SIDE} and channels >= 1, got {input_shape!r}")
    return tuple(int(d) for d in shape)


@dataclasses.dataclass(frozen=True)
class Spec:
    """The checked arguments of one build and what a builder asks of them."""

    binarizer_factory: QuantizerFactory
    baseline: QuantizerFactory
    mask: tuple[bool, ...]
    input_shape: tuple[int, int, int]
    num_classes: int
    width: float

    @classmethod
    def create(cls, *, num_stages: int, baseline: QuantizerFactory, binarizer: BinarizerArg,
               lab_blocks, input_shape, num_classes: int, width: float) -> "Spec":
        """Check every argument (raising `ValueError` naming it and its allowed values) and resolve them."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
            raise ValueError(f"width must be a positive number (1.0 = the published network), got {width!r}")
        return cls(binarizer_factory=binarizer_factory(binarizer, baseline), baseline=baseline,
                   mask=parse_mask(lab_blocks, num_stages), input_shape=_check_input_shape(input_shape),
                   num_classes=num_classes, width=float(width))

    def binarizer(self, stage: int) -> lq.quantizers.Quantizer:
        """A fresh input quantizer for a binary layer of ``stage`` (from 1): the chosen one where the mask says so,
        else the network's sign baseline."""
        return (self.binarizer_factory if self.mask[stage - 1] else self.baseline)()

    def filters(self, count: int) -> int:
        """``count`` scaled by the width multiplier (at least 1)."""
        return max(1, round(count * self.width))

    @property
    def small_input(self) -> bool:
        """Whether the image is below `SMALL_INPUT_BELOW` pixels, so the network uses its small-image stem."""
        return min(self.input_shape[:2]) < SMALL_INPUT_BELOW

    def image_input(self) -> tf.Tensor:
        """The model's input layer, named "image"."""
        return tf.keras.Input(shape=self.input_shape, name="image")


def classifier(x: tf.Tensor, num_classes: int, **dense_kwargs) -> tf.Tensor:
    """larq-zoo's head: average pool over the whole map (faster than global pooling on LCE), dense, float32 softmax."""
    x = zoo_utils.global_pool(x, name="head")
    x = tf.keras.layers.Dense(num_classes, name="head_dense", **dense_kwargs)(x)
    return tf.keras.layers.Activation("softmax", dtype="float32", name="head_softmax")(x)
