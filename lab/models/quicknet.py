"""QuickNet (larq-zoo's state-of-the-art ResNet-18-like BNN), with a choosable binarizer per stage.

Layer for layer ``larq_zoo.sota.QuickNet`` (same parameter count at 224x224x3 / 1000 classes), re-written here so
that layers carry stage/block names, the width scales and small images get a small stem. Its stem is shared with
LAB-BNN (`lab.models.labbnn`).
"""
from __future__ import annotations

import larq as lq
import tensorflow as tf
from larq_zoo.sota.quicknet import blurpool_initializer

from lab.models.common import BinarizerArg, Spec, binconv_name, classifier

NUM_STAGES = 4
BLOCKS_PER_STAGE = 4
STAGE_FILTERS = (64, 128, 256, 512)
CLIP = 1.25  # QuickNet clips activations' gradients and latent weights at 1.25


def sign_baseline() -> lq.quantizers.Quantizer:
    """QuickNet's own binarizer: STE sign with gradient clip 1.25."""
    return lq.quantizers.SteSign(clip_value=CLIP)


def stem(x: tf.Tensor, spec: Spec, filters: int) -> tf.Tensor:
    """3x3/2 conv (filters/4), BN, ReLU, 3x3/2 depthwise conv, BN (no scale or centre), 1x1 conv, BN.

    Small images: both strided convs have stride 1 instead.
    """
    strides = 1 if spec.small_input else 2
    x = tf.keras.layers.Conv2D(max(1, filters // 4), 3, strides=strides, padding="same",
                               kernel_initializer="he_normal", use_bias=False, name="stem_conv1")(x)
    x = tf.keras.layers.BatchNormalization(name="stem_bn1")(x)
    x = tf.keras.layers.Activation("relu", name="stem_relu")(x)
    x = tf.keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                                        name="stem_depthwise")(x)
    x = tf.keras.layers.BatchNormalization(scale=False, center=False, name="stem_bn2")(x)
    x = tf.keras.layers.Conv2D(filters, 1, kernel_initializer="he_normal", use_bias=False, name="stem_conv2")(x)
    return tf.keras.layers.BatchNormalization(name="stem_bn3")(x)


def residual_block(x: tf.Tensor, spec: Spec, *, stage: int, block: int) -> tf.Tensor:
    """Binarizer, binary 3x3 conv (padding +1, ReLU), BN, identity shortcut."""
    name = f"stage{stage}_block{block}"
    y = lq.layers.QuantConv2D(x.shape[-1], 3, activation="relu", padding="same", pad_values=1.0,
                              input_quantizer=spec.binarizer(stage),
                              kernel_quantizer=lq.quantizers.SteSign(clip_value=CLIP),
                              kernel_constraint=lq.constraints.WeightClip(clip_value=CLIP),
                              kernel_initializer="glorot_normal", use_bias=False, name=binconv_name(stage, block))(x)
    y = tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn1")(y)
    return tf.keras.layers.Add(name=f"{name}_add")([y, x])


def transition_block(x: tf.Tensor, *, stage: int, filters: int) -> tf.Tensor:
    """Float downsampling between stages: ReLU, 2x2/1 max-pool, fixed 3x3/2 blur-pool, 1x1 conv, BN."""
    name = f"stage{stage}_transition"
    x = tf.keras.layers.Activation("relu", name=f"{name}_relu")(x)
    x = tf.keras.layers.MaxPool2D(pool_size=2, strides=1, name=f"{name}_maxpool")(x)
    x = tf.keras.layers.DepthwiseConv2D(3, depthwise_initializer=blurpool_initializer, padding="same", strides=2,
                                        trainable=False, use_bias=False, name=f"{name}_blurpool")(x)
    x = tf.keras.layers.Conv2D(filters, 1, kernel_initializer="glorot_normal", use_bias=False,
                               name=f"{name}_conv")(x)
    return tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)


def QuickNet(*, binarizer: BinarizerArg = "sign", lab_blocks=None, input_shape=(224, 224, 3),
             num_classes: int = 1000, width: float = 1.0) -> tf.keras.Model:
    """QuickNet: stem, 16 binary residual blocks with float transitions, ReLU, average pool, dense, softmax.

    Stages (``lab_blocks`` has 4 flags): 4 stages of 4 blocks with 64/128/256/512 filters (times ``width``); stages
    2-4 start with a float transition block (``stage{s}_transition_*``) that halves the map; each block has one
    binary 3x3 conv ``stage{s}_block{b}_binconv1``. Weights: STE sign, clipped to [-1.25, 1.25]. The "sign"
    binarizer is QuickNet's STE sign with clip 1.25. Below 64 px the two strided stem convs have stride 1.

    # Arguments
        As `lab.models.build` (all but ``name``).

    # References
        - Bannink et al., Larq Compute Engine: Design, Benchmark, and Deploy State-of-the-Art Binarized Neural
          Networks, MLSys 2021.
    """
    spec = Spec.create(num_stages=NUM_STAGES, baseline=sign_baseline, binarizer=binarizer, lab_blocks=lab_blocks,
                       input_shape=input_shape, num_classes=num_classes, width=width)
    image = spec.image_input()
    x = stem(image, spec, spec.filters(STAGE_FILTERS[0]))
    for stage, filters in enumerate(STAGE_FILTERS, start=1):
        if stage > 1:
            x = transition_block(x, stage=stage, filters=spec.filters(filters))
        for block in range(1, BLOCKS_PER_STAGE + 1):
            x = residual_block(x, spec, stage=stage, block=block)
    x = tf.keras.layers.Activation("relu", name="head_relu")(x)
    x = classifier(x, spec.num_classes, kernel_initializer="glorot_normal")
    return tf.keras.Model(image, x, name="quicknet")
