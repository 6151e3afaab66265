"""XNOR-Net (Rastegari et al., ECCV 2016; AlexNet backbone) as in larq-zoo, with a choosable binarizer.

Layer for layer ``larq_zoo.literature.XNORNet`` (same parameter count at 224x224x3 / 1000 classes), re-written here
so that layers carry block names, the width scales and small images get a small stem. Its kernel quantizer (scaled
sign per output filter) is larq-zoo's ``xnor_weight_scale``.
"""
from __future__ import annotations

import larq as lq
import tensorflow as tf
from larq_zoo.literature.xnornet import xnor_weight_scale

from lab.models.common import BinarizerArg, Spec, binconv_name

NUM_STAGES = 1
# (filters, kernel, max-pool after) of the binary convs; kernel None covers the whole remaining map (6x6 at 224
# px), a "valid" conv equivalent to AlexNet's first dense layer; the last one (1x1) is its second dense layer.
BINARY_CONVS = ((256, 5, True), (384, 3, False), (384, 3, False), (256, 3, True), (4096, None, False),
                (4096, 1, False))


def sign_baseline() -> lq.quantizers.Quantizer:
    """larq-zoo's XNOR-Net binarizer: STE sign with clip 1."""
    return lq.quantizers.SteSign(clip_value=1.0)


def _regularizer() -> tf.keras.regularizers.Regularizer:
    return tf.keras.regularizers.l2(5e-7)


def stem(x: tf.Tensor, spec: Spec) -> tf.Tensor:
    """ImageNet: 11x11/4 conv (96), BN, ReLU, 3x3/2 max-pool. Small images: 3x3/1 conv, BN, ReLU, no pooling."""
    kernel, strides = (3, 1) if spec.small_input else (11, 4)
    x = tf.keras.layers.Conv2D(spec.filters(96), kernel, strides=strides, padding="same", use_bias=False,
                               kernel_regularizer=_regularizer(), name="stem_conv")(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, scale=False, epsilon=1e-5, name="stem_bn")(x)
    x = tf.keras.layers.Activation("relu", name="stem_relu")(x)
    if not spec.small_input:
        x = tf.keras.layers.MaxPool2D(3, strides=2, name="stem_pool")(x)
    return x


def binary_block(x: tf.Tensor, spec: Spec, *, block: int, filters: int, kernel: int | None,
                 pool: bool) -> tf.Tensor:
    """BN, binarizer, binary conv (``valid`` over the whole map when ``kernel`` is None), optional 3x3/2 max-pool."""
    name = f"stage1_block{block}"
    x = tf.keras.layers.BatchNormalization(momentum=0.9, scale=False, epsilon=1e-4, name=f"{name}_bn1")(x)
    whole_map = kernel is None
    x = lq.layers.QuantConv2D(filters, tuple(x.shape[1:3]) if whole_map else kernel,
                              padding="valid" if whole_map else "same", input_quantizer=spec.binarizer(1),
                              kernel_quantizer=xnor_weight_scale, kernel_constraint="weight_clip", use_bias=False,
                              kernel_regularizer=_regularizer(), name=binconv_name(1, block))(x)
    if pool:
        x = tf.keras.layers.MaxPool2D(3, strides=2, name=f"{name}_pool")(x)
    return x


def XNORNet(*, binarizer: BinarizerArg = "sign", lab_blocks=None, input_shape=(224, 224, 3),
            num_classes: int = 1000, width: float = 1.0) -> tf.keras.Model:
    """XNOR-Net (AlexNet): stem, 6 binary conv blocks, BN, ReLU, dense, softmax.

    Stages (``lab_blocks`` has 1 flag): one stage holding all 6 binary layers ``stage1_block{1..6}_binconv1`` (5
    convs with 256/384/384/256/4096 filters, then AlexNet's second dense layer as a 1x1 conv with 4096 filters, all
    times ``width``). All binary layers, the "dense" ones included, are convolutions on 4-D maps, so LAB applies to
    every one of them, as in the authors' code. Weights: sign scaled by the mean absolute value per filter, clipped
    to [-1, 1]. The "sign" binarizer is larq-zoo's STE sign. Below 64 px the stem is a 3x3/1 conv without max-pool.

    # Arguments
        As `lab.models.build` (all but ``name``).

    # References
        - Rastegari et al., XNOR-Net: ImageNet Classification Using Binary Convolutional Neural Networks, ECCV 2016.
    """
    spec = Spec.create(num_stages=NUM_STAGES, baseline=sign_baseline, binarizer=binarizer, lab_blocks=lab_blocks,
                       input_shape=input_shape, num_classes=num_classes, width=width)
    image = spec.image_input()
    x = stem(image, spec)
    for block, (filters, kernel, pool) in enumerate(BINARY_CONVS, start=1):
        x = binary_block(x, spec, block=block, filters=spec.filters(filters), kernel=kernel, pool=pool)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, scale=False, epsilon=1e-3, name="head_bn")(x)
    x = tf.keras.layers.Activation("relu", name="head_relu")(x)
    x = tf.keras.layers.Flatten(name="head_flatten")(x)
    x = tf.keras.layers.Dense(spec.num_classes, use_bias=False, kernel_regularizer=_regularizer(),
                              name="head_dense")(x)
    x = tf.keras.layers.Activation("softmax", dtype="float32", name="head_softmax")(x)
    return tf.keras.Model(image, x, name="xnornet")
