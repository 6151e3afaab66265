"""Bi-Real Net-18 (Liu et al., ECCV 2018) as in larq-zoo, with a choosable binarizer per stage.

Layer for layer the network of ``larq_zoo.literature.BiRealNet`` (same parameter count at 224x224x3 / 1000 classes),
re-written here so that layers carry stage/block names, the width scales and small images get a small stem. Its
residual block is shared with LAB-BNN (`lab.models.labbnn`), which adds a PReLU after the addition.
"""
from __future__ import annotations

import larq as lq
import tensorflow as tf

from lab.models.common import BinarizerArg, Spec, binconv_name, classifier

NUM_STAGES = 4
BLOCKS_PER_STAGE = 4
STAGE_FILTERS = (64, 128, 256, 512)
KERNEL_QUANTIZER = "magnitude_aware_sign"
KERNEL_CONSTRAINT = "weight_clip"
KERNEL_INITIALIZER = "glorot_normal"


def sign_baseline() -> lq.quantizers.Quantizer:
    """The authors' Bi-Real baseline: STE sign with clip 1 (larq-zoo's Bi-Real uses ApproxSign instead)."""
    return lq.quantizers.SteSign(clip_value=1.0)


def stem(x: tf.Tensor, spec: Spec) -> tf.Tensor:
    """ImageNet: 7x7/2 conv, BN, 3x3/2 max-pool. Small images: 3x3/1 conv and BN, no pooling."""
    kernel, strides = (3, 1) if spec.small_input else (7, 2)
    x = tf.keras.layers.Conv2D(spec.filters(STAGE_FILTERS[0]), kernel, strides=strides, padding="same",
                               kernel_initializer=KERNEL_INITIALIZER, use_bias=False, name="stem_conv")(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.8, name="stem_bn")(x)
    if not spec.small_input:
        x = tf.keras.layers.MaxPool2D(3, strides=2, padding="same", name="stem_pool")(x)
    return x


def residual_block(x: tf.Tensor, spec: Spec, *, stage: int, block: int, filters: int,
                   prelu: bool = False) -> tf.Tensor:
    """Binarizer, binary 3x3 conv, BN, plus the shortcut (optionally followed by a PReLU shared over H and W).

    The first block of stages 2-4 halves the map: its conv has stride 2 and its shortcut is 2x2/2 average pooling,
    a 1x1 float conv and BN.
    """
    name = f"stage{stage}_block{block}"
    downsample = stage > 1 and block == 1
    shortcut = x
    if downsample:
        shortcut = tf.keras.layers.AvgPool2D(2, strides=2, padding="same", name=f"{name}_shortcut_pool")(shortcut)
        shortcut = tf.keras.layers.Conv2D(filters, 1, kernel_initializer=KERNEL_INITIALIZER, use_bias=False,
                                          name=f"{name}_shortcut_conv")(shortcut)
        shortcut = tf.keras.layers.BatchNormalization(momentum=0.8, name=f"{name}_shortcut_bn")(shortcut)
    x = lq.layers.QuantConv2D(filters, 3, strides=2 if downsample else 1, padding="same",
                              input_quantizer=spec.binarizer(stage), kernel_quantizer=KERNEL_QUANTIZER,
                              kernel_initializer=KERNEL_INITIALIZER, kernel_constraint=KERNEL_CONSTRAINT,
                              use_bias=False, name=binconv_name(stage, block))(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.8, name=f"{name}_bn1")(x)
    x = tf.keras.layers.Add(name=f"{name}_add")([x, shortcut])
    if prelu:
        x = tf.keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)
    return x


def stages(x: tf.Tensor, spec: Spec, *, prelu: bool = False) -> tf.Tensor:
    """The 4 stages of 4 residual blocks (64, 128, 256, 512 filters); stages 2-4 start by halving the map."""
    for stage, filters in enumerate(STAGE_FILTERS, start=1):
        for block in range(1, BLOCKS_PER_STAGE + 1):
            x = residual_block(x, spec, stage=stage, block=block, filters=spec.filters(filters), prelu=prelu)
    return x


def BiRealNet(*, binarizer: BinarizerArg = "sign", lab_blocks=None, input_shape=(224, 224, 3),
              num_classes: int = 1000, width: float = 1.0) -> tf.keras.Model:
    """Bi-Real Net-18: stem, 16 binary residual blocks, average pool, dense, softmax.

    Stages (``lab_blocks`` has 4 flags): 4 stages of 4 blocks with 64/128/256/512 filters (times ``width``); each
    block has one binary 3x3 conv ``stage{s}_block{b}_binconv1``. Weights: magnitude-aware sign, clipped to [-1, 1].
    The "sign" binarizer is the authors' baseline, STE sign (clip 1). Below 64 px the stem is a 3x3/1 conv + BN
    without max-pool.

    # Arguments
        As `lab.models.build` (all but ``name``).

    # References
        - Liu et al., Bi-Real Net: Enhancing the Performance of 1-bit CNNs with Improved Representational
          Capability and Advanced Training Algorithm, ECCV 2018.
    """
    spec = Spec.create(num_stages=NUM_STAGES, baseline=sign_baseline, binarizer=binarizer, lab_blocks=lab_blocks,
                       input_shape=input_shape, num_classes=num_classes, width=width)
    image = spec.image_input()
    x = stages(stem(image, spec), spec)
    return tf.keras.Model(image, classifier(x, spec.num_classes), name="birealnet18")
