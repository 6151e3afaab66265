"""ReActNet-A (Liu et al., ECCV 2020; MobileNetV1 layout), not in larq-zoo, with a choosable binarizer per stage.

Written from the ReActNet paper and the LAB authors' TensorFlow port: RSign (a learnable per-channel shift, then a
sign) before each binary conv, RPReLU (shift, per-channel PReLU, shift) after each residual addition, average-pool
shortcuts where the map halves, and channel doubling by two 1x1 binary convs whose outputs are concatenated.
"""
from __future__ import annotations

import larq as lq
import tensorflow as tf

from lab.models.common import BinarizerArg, Spec, binconv_name, classifier

STEM_FILTERS = 32
# Per stage, the (output filters, stride) of each block: 1, 4, 6 and 2 blocks, the 13 blocks of ReActNet-A.
# A block whose filters differ from the previous block's doubles the channels.
STAGES = (
    ((64, 1),),
    ((128, 2), (128, 1), (256, 2), (256, 1)),
    ((512, 2),) + ((512, 1),) * 5,
    ((1024, 2), (1024, 1)),
)
NUM_STAGES = len(STAGES)
KERNEL_QUANTIZER = "magnitude_aware_sign"
KERNEL_CONSTRAINT = "weight_clip"
BN_MOMENTUM = 0.8  # the LAB authors' port


@lq.utils.register_keras_custom_object
class LearnableBias(tf.keras.layers.Layer):
    """Adds a trainable per-channel shift (initialised to zero): ReActNet's "move" of RSign and RPReLU."""

    def build(self, input_shape):
        self.bias = self.add_weight("bias", shape=(input_shape[-1],), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        return inputs + self.bias


@lq.utils.register_alias("rsign")
@lq.utils.register_keras_custom_object
class RSign(lq.quantizers.SteSign):
    r"""ReActNet's binarizer: a learnable per-channel shift, then STE sign.

    \[ q(x_c) = \operatorname{sign}(x_c + b_c) \]

    Backward: straight-through estimator (gradient 1 where ``|x_c + b_c| <= clip_value``, else 0), as in the LAB
    authors' port. The shift ``b`` (shape ``(C,)``, initialised to 0) is a full-precision weight.
    """

    def build(self, input_shape):
        self.bias = self.add_weight("bias", shape=(input_shape[-1],), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        return super().call(inputs + self.bias)


def rprelu(x: tf.Tensor, name: str) -> tf.Tensor:
    """RPReLU: per-channel shift, PReLU with one slope per channel (initialised to 0.25), per-channel shift."""
    x = LearnableBias(name=f"{name}_shift_in")(x)
    x = tf.keras.layers.PReLU(alpha_initializer=tf.keras.initializers.Constant(0.25), shared_axes=[1, 2],
                              name=f"{name}_prelu")(x)
    return LearnableBias(name=f"{name}_shift_out")(x)


def _binary_conv(x: tf.Tensor, spec: Spec, *, stage: int, block: int, index: int, filters: int, kernel: int,
                 strides: int = 1) -> tf.Tensor:
    return lq.layers.QuantConv2D(filters, kernel, strides=strides, padding="same", pad_values=1.0,
                                 input_quantizer=spec.binarizer(stage), kernel_quantizer=KERNEL_QUANTIZER,
                                 kernel_constraint=KERNEL_CONSTRAINT, use_bias=False,
                                 name=binconv_name(stage, block, index))(x)


def basic_block(x: tf.Tensor, spec: Spec, *, stage: int, block: int, double: bool, strides: int) -> tf.Tensor:
    """ReActNet-A block: binary 3x3 conv (stride ``strides``) and binary 1x1 conv, each with BN, a shortcut and
    RPReLU.

    The 3x3 shortcut is 2x2/2 average pooling where the map halves. Where the block doubles the channels, ReActNet
    concatenates two 1x1 binary convs of the same binarized input, each added to the block's shortcut; here they
    are one 1x1 binary conv with twice the filters (``binconv2``) added to the shortcut concatenated with itself.
    That is the same function with the same weights (the weight scale is per output channel, BN per channel),
    binarizes once and gives LCE one convolution.
    """
    name = f"stage{stage}_block{block}"
    channels = x.shape[-1]
    filters = 2 * channels if double else channels
    y = _binary_conv(x, spec, stage=stage, block=block, index=1, filters=channels, kernel=3, strides=strides)
    y = tf.keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn1")(y)
    shortcut = x
    if strides == 2:
        shortcut = tf.keras.layers.AvgPool2D(2, strides=2, padding="same", name=f"{name}_shortcut_pool")(x)
    x = rprelu(tf.keras.layers.Add(name=f"{name}_add1")([y, shortcut]), name=f"{name}_rprelu1")

    y = _binary_conv(x, spec, stage=stage, block=block, index=2, filters=filters, kernel=1)
    y = tf.keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn2")(y)
    shortcut = x
    if double:
        shortcut = tf.keras.layers.Concatenate(name=f"{name}_shortcut_concat")([x, x])
    return rprelu(tf.keras.layers.Add(name=f"{name}_add2")([y, shortcut]), name=f"{name}_rprelu2")


def ReActNet(*, binarizer: BinarizerArg = "sign", lab_blocks=None, input_shape=(224, 224, 3),
             num_classes: int = 1000, width: float = 1.0) -> tf.keras.Model:
    """ReActNet-A: 3x3/2 conv stem (32 filters) with BN, 13 binary blocks, average pool, dense, softmax.

    Stages (``lab_blocks`` has 4 flags): the 13 blocks in groups of 1, 4, 6 and 2 blocks. Channels go 32 -> 64
    (stage 1, stride 1) -> 128 -> 128 -> 256 -> 256 (stage 2) -> 512 x 6 (stage 3) -> 1024 x 2 (stage 4), times
    ``width``; the map halves in the first blocks of stages 3 and 4 and in blocks 1 and 3 of stage 2. Each block
    has two binary convs, ``stage{s}_block{b}_binconv1`` (3x3) and ``..._binconv2`` (1x1, see `basic_block`).
    Weights: magnitude-aware sign, clipped to [-1, 1]. The "sign" binarizer is ReActNet's RSign; another binarizer
    replaces the whole RSign (LAB's own bias takes over the learnable shift). Below 64 px the stem has stride 1.

    # Arguments
        As `lab.models.build` (all but ``name``).

    # References
        - Liu et al., ReActNet: Towards Precise Binary Neural Network with Generalized Activation Functions,
          ECCV 2020.
    """
    spec = Spec.create(num_stages=NUM_STAGES, baseline=RSign, binarizer=binarizer, lab_blocks=lab_blocks,
                       input_shape=input_shape, num_classes=num_classes, width=width)
    image = spec.image_input()
    x = tf.keras.layers.Conv2D(spec.filters(STEM_FILTERS), 3, strides=1 if spec.small_input else 2,
                               padding="same", kernel_initializer="glorot_normal", use_bias=False,
                               name="stem_conv")(image)
    x = tf.keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    previous = STEM_FILTERS
    for stage, blocks in enumerate(STAGES, start=1):
        for block, (filters, strides) in enumerate(blocks, start=1):
            x = basic_block(x, spec, stage=stage, block=block, double=filters != previous, strides=strides)
            previous = filters
    return tf.keras.Model(image, classifier(x, spec.num_classes), name="reactnet_a")
