"""Activation binarizers: LAB (the paper's learnable binarizer), its folded deployment form, Niblack and Sauvola.

Each binarizer is a pure function with its surrogate gradient plus a small registered larq `Quantizer` layer, so it
can be used wherever larq takes a quantizer: ``lq.layers.QuantConv2D(..., input_quantizer="lab")``.

Reference: S. Falkena, H. Jamali-Rad, J. van Gemert, "LAB: Learnable Activation Binarizer for Binary Neural
Networks", WACV 2023 (arXiv:2210.13858).
"""
from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

__all__ = ["LAB", "FoldedLAB", "Niblack", "Sauvola", "soft_argmax_sign", "PAIRINGS", "BETA_MIN"]

PAIRINGS = ("channel", "reference")
BETA_MIN = 1e-3  # floor of a trainable beta: beta <= 0 would flip or kill the surrogate and could not be folded


def soft_argmax_sign(d: tf.Tensor, beta, tie: float = -1.0) -> tf.Tensor:
    r"""Binarize the response difference ``d = z1 - z0`` with LAB's soft-argmax surrogate gradient.

    Forward (argmax over the two responses; ties pick response 0, i.e. ``tie=-1``):
    \[ q(d) = \begin{cases} +1 & d > 0 \\ -1 & d \le 0 \end{cases} \]
    ``tie=+1`` gives ``+1`` at ``d = 0`` (``where(d >= 0, 1, -1)``: larq's sign, which LCE fuses without a comparison
    op); `FoldedLAB` uses it with a bias lowered by one ULP, which keeps LAB's outputs.

    Backward: the derivative of ``2 softmax(beta z)_1 - 1 = tanh(beta d / 2)``:
    \[ \partial q / \partial d = \tfrac{\beta}{2} (1 - \tanh^2(\beta d / 2)), \qquad
       \partial q / \partial \beta = \tfrac{d}{2} (1 - \tanh^2(\beta d / 2)). \]

    The forward ends in ``tf.where(cond, 1., -1.)``, the form Larq Compute Engine fuses into ``LceQuantize``.
    The backward uses TF's fused ``TanhGrad`` (few passes over the activations: it is most of LAB's training cost).
    A Python-number ``beta`` is a constant: no gradient is computed for it.
    """
    one = tf.constant(1.0, d.dtype)

    if tie not in (-1.0, 1.0):
        raise ValueError(f"tie must be -1.0 or 1.0, got {tie!r}")

    def forward(d):
        return tf.where(d >= 0.0 if tie > 0 else d > 0.0, one, -one)

    def d_surrogate(d, beta, dy):
        """dL/du for u = beta d / 2, i.e. dy (1 - tanh^2(u))."""
        return tf.raw_ops.TanhGrad(y=tf.tanh(beta * 0.5 * d), dy=dy)

    if isinstance(beta, (int, float)):
        @tf.custom_gradient
        def _binarize_fixed(d):
            return forward(d), lambda dy: d_surrogate(d, beta, dy) * (beta * 0.5)

        return _binarize_fixed(d)

    @tf.custom_gradient
    def _binarize(d, beta):
        def grad(dy):
            g = d_surrogate(d, beta, dy)
            return g * (beta * 0.5), 0.5 * tf.reduce_sum(g * d)

        return forward(d), grad

    return _binarize(d, tf.cast(beta, d.dtype))


def _depthwise(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """Stride-1, ``same``-padded depthwise convolution with bias."""
    return tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME") + bias


def _check_window(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd integer (1, 3, 5, ...), got {value!r}")
    return value


def _check_beta(value, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"beta must be {'None (trainable) or ' if allow_none else ''}a positive float, got {value!r}")
    return float(value)


def _check_4d(cls_name: str, input_shape) -> tf.TensorShape:
    shape = tf.TensorShape(input_shape)
    if shape.rank != 4 or shape[-1] is None:
        raise ValueError(f"{cls_name} input must be 4-D (batch, height, width, channels) with known channels; "
                         f"got input shape {shape}")
    return shape


def _at_least_beta_min(beta: tf.Tensor) -> tf.Tensor:
    """Constraint of LAB's trainable beta, applied by Keras optimizers after every update."""
    return tf.maximum(beta, BETA_MIN)


class _Binarizer(lq.quantizers.Quantizer):
    """Common base: 1-bit output and a check that the input is a 4-D feature map.

    No larq ``metrics``: larq's only one, ``flip_ratio``, counts sign flips of a tensor between training steps and
    needs its full shape; for an activation binarizer that is a changing batch of different images.
    """

    precision = 1

    def __init__(self, name: str | None = None, **kwargs):
        if kwargs.pop("metrics", None):
            raise ValueError(f"metrics: {type(self).__name__} takes no larq metrics (flip_ratio tracks weights "
                             "between training steps, not activations); pass None or leave it out")
        super().__init__(name=name, **kwargs)

    def build(self, input_shape):
        _check_4d(type(self).__name__, input_shape)
        super().build(input_shape)


@lq.utils.register_alias("lab")
@lq.utils.register_keras_custom_object
class LAB(_Binarizer):
    r"""Learnable Activation Binarizer (LAB).

    Per input channel ``c`` a ``k x k`` depthwise convolution (stride 1, ``same`` padding, with bias, full precision)
    gives two responses ``z_c0 = DW(x; K0) + b0`` and ``z_c1 = DW(x; K1) + b1``; the output is ``+1`` where
    ``z_c1 > z_c0`` and ``-1`` elsewhere (ties give ``-1``, as argmax picks response 0).

    Forward (``pairing="channel"``, the method): since ``z_c1 - z_c0 = DW(x; K1 - K0) + (b1 - b0)`` exactly, the layer
    computes ONE multiplier-1 depthwise convolution with the difference kernel and difference bias, while the paper's
    two kernels stay the trained variables (the optimizer sees exactly the paper's parameters).

    Backward: the soft-argmax surrogate ``tanh(beta * (z_c1 - z_c0) / 2)`` (see `soft_argmax_sign`). A trainable
    beta enters as ``max(beta_variable, BETA_MIN)``, positive by construction (the forward does not depend on it),
    and the variable carries the constraint ``max(., BETA_MIN)``: after each optimizer step it holds the beta in use
    (``layer.beta`` reads as the actual beta, as in earlier checkpoints) and at the floor the gradient still
    reaches it (``d max(v, m) / dv = 1`` at ``v = m``).

    ``pairing="reference"`` reproduces the authors' code: the multiplier-2 depthwise output, ordered
    ``[c0m0, c0m1, c1m0, c1m1, ...]``, is reshaped to ``[..., 2, C]``, so output channel ``j`` compares depthwise
    outputs ``j`` and ``j + C`` (responses of two different input channels). It cannot be folded.

    Weights (all full precision; larq's summary counts them as 32-bit and larq's Bop leaves them alone):
    ``depthwise_kernel`` ``(k, k, C, 2)`` (last axis: response 0, response 1, TF's depthwise layout), ``bias``
    ``(C, 2)`` and, unless ``beta`` is given, a trainable scalar ``beta`` initialised to 1.0.

    # Arguments
        kernel_size: odd positive size of the depthwise kernel.
        beta: fixed positive temperature of the surrogate, or ``None`` for a trainable one (initialised to 1.0,
            kept >= `BETA_MIN`).
        pairing: "channel" (the method) or "reference" (the authors' code).

    # References
        - Falkena et al., LAB: Learnable Activation Binarizer for Binary Neural Networks, WACV 2023.
    """

    def __init__(self, kernel_size: int = 3, beta: float | None = None, pairing: str = "channel",
                 name: str | None = None, **kwargs):
        self.kernel_size = _check_window("kernel_size", kernel_size)
        self.beta_value = _check_beta(beta, allow_none=True)
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
        self.pairing = pairing
        super().__init__(name=name, **kwargs)

    def build(self, input_shape):
        channels = _check_4d("LAB", input_shape)[-1]
        k = self.kernel_size
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", shape=(k, k, channels, 2), initializer="glorot_uniform", trainable=True)
        self.bias = self.add_weight("bias", shape=(channels, 2), initializer="zeros", trainable=True)
        self.beta = (self.add_weight("beta", shape=(), initializer=tf.keras.initializers.Constant(1.0),
                                     constraint=_at_least_beta_min, trainable=True)
                     if self.beta_value is None else self.beta_value)
        super().build(input_shape)

    @property
    def temperature(self):
        """The beta the surrogate uses: the fixed one, or ``max(beta variable, BETA_MIN)``."""
        return self.beta if self.beta_value is not None else tf.maximum(self.beta, BETA_MIN)

    def difference(self, inputs: tf.Tensor) -> tf.Tensor:
        """The compared response difference ``z1 - z0`` (before binarization) for this layer's pairing."""
        if self.pairing == "channel":
            kernel = self.depthwise_kernel[..., 1:] - self.depthwise_kernel[..., :1]
            return _depthwise(inputs, kernel, self.bias[:, 1] - self.bias[:, 0])
        z = _depthwise(inputs, self.depthwise_kernel, tf.reshape(self.bias, [-1]))
        channels = self.depthwise_kernel.shape[2]
        z = tf.reshape(z, tf.concat([tf.shape(z)[:-1], [2, channels]], axis=0))
        return z[..., 1, :] - z[..., 0, :]

    def folded_weights(self) -> list[np.ndarray]:
        """``[K1 - K0 (k, k, C, 1), b1 - b0 (C,)]`` in float32, the single depthwise conv `difference` computes
        (channel pairing only)."""
        if self.pairing != "channel":
            raise ValueError("only pairing='channel' folds into one depthwise conv; got pairing='reference'")
        kernel = self.depthwise_kernel.numpy()
        bias = self.bias.numpy()
        return [kernel[..., 1:] - kernel[..., :1], bias[:, 1] - bias[:, 0]]

    def call(self, inputs):
        return soft_argmax_sign(self.difference(inputs), self.temperature)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "beta": self.beta_value,
                "pairing": self.pairing}


@lq.utils.register_alias("folded_lab")
@lq.utils.register_keras_custom_object
class FoldedLAB(_Binarizer):
    r"""LAB in its deployment form: one multiplier-1 depthwise conv, then the sign LCE fuses into ``LceQuantize``.

    Forward: ``q(x) = +1 where DW(x; K) + b >= 0 else -1`` with ``K = K1 - K0`` of a trained channel-pairing `LAB`
    and ``b`` its bias difference ``b1 - b0`` lowered by one ULP (`lab.folding.lowered_bias`): the same outputs as
    that LAB, ties included, where the bias is added after the depthwise sum (as in TF), with half the weights and
    no comparison op after conversion. ``strict=True`` keeps LAB's own rule, ``+1 where DW(x; K) + b > 0`` with
    ``b = b1 - b0``, for a layer whose bias cannot be lowered exactly; LCE then adds a ``GREATER`` op.

    Backward: the soft-argmax surrogate ``tanh(beta (DW(x; K) + b) / 2)`` with ``beta`` fixed to the trained value,
    so a folded model can still be fine-tuned (training the difference kernel is an exact reparametrisation of
    training the pair).

    Weights: ``depthwise_kernel`` ``(k, k, C, 1)`` and ``bias`` ``(C,)``, full precision. Made by `lab.fold`.
    """

    def __init__(self, kernel_size: int = 3, beta: float = 1.0, strict: bool = False, name: str | None = None,
                 **kwargs):
        self.kernel_size = _check_window("kernel_size", kernel_size)
        self.beta = _check_beta(beta, allow_none=False)
        if not isinstance(strict, bool):
            raise ValueError(f"strict must be True or False, got {strict!r}")
        self.strict = strict
        super().__init__(name=name, **kwargs)

    def build(self, input_shape):
        channels = _check_4d("FoldedLAB", input_shape)[-1]
        k = self.kernel_size
        self.depthwise_kernel = self.add_weight("depthwise_kernel", shape=(k, k, channels, 1),
                                                initializer="glorot_uniform", trainable=True)
        self.bias = self.add_weight("bias", shape=(channels,), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        return soft_argmax_sign(_depthwise(inputs, self.depthwise_kernel, self.bias), self.beta,
                                tie=-1.0 if self.strict else 1.0)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "beta": self.beta, "strict": self.strict}


def _local_mean_std(x: tf.Tensor, window: int):
    """Per-channel local mean and standard deviation over a ``window x window`` neighbourhood (``same`` padding,
    borders averaged over the valid pixels only)."""
    pool = lambda t: tf.nn.avg_pool2d(t, window, strides=1, padding="SAME")  # noqa: E731
    mean = pool(x)
    var = tf.maximum(pool(x * x) - mean * mean, 0.0)
    return mean, tf.sqrt(var + 1e-12)


class _LocalThreshold(_Binarizer):
    """STE sign of ``x - threshold(x)`` for a local threshold (Niblack, Sauvola)."""

    def __init__(self, window: int = 3, k: float = 0.0, name: str | None = None, **kwargs):
        self.window = _check_window("window", window)
        self.k = float(k)
        super().__init__(name=name, **kwargs)

    def threshold(self, mean, std):
        raise NotImplementedError

    def call(self, inputs):
        mean, std = _local_mean_std(inputs, self.window)
        return lq.quantizers.ste_sign(inputs - self.threshold(mean, std))

    def get_config(self):
        return {**super().get_config(), "window": self.window, "k": self.k}


@lq.utils.register_alias("niblack")
@lq.utils.register_keras_custom_object
class Niblack(_LocalThreshold):
    r"""Niblack local thresholding: ``q(x) = sign(x - (m + k s))`` with ``m``, ``s`` the local mean and standard
    deviation over a ``window x window`` neighbourhood per channel (k = -0.2 in the authors' code).

    Backward: straight-through estimator of the sign (larq's ``ste_sign``, clip 1), differentiated through the
    threshold. A comparison binarizer of the LAB paper (Falkena et al., WACV 2023).
    """

    def __init__(self, window: int = 3, k: float = -0.2, **kwargs):
        super().__init__(window=window, k=k, **kwargs)

    def threshold(self, mean, std):
        return mean + self.k * std


@lq.utils.register_alias("sauvola")
@lq.utils.register_keras_custom_object
class Sauvola(_LocalThreshold):
    r"""Sauvola local thresholding: ``q(x) = sign(x - m (1 + k (s / R - 1)))`` with local mean ``m`` and standard
    deviation ``s`` (``window x window``, per channel), ``k = 0.5`` and ``R`` the largest local standard deviation of
    the example (the authors take it over the tensor; per example keeps predictions independent of the batch).

    Backward: straight-through estimator of the sign (larq's ``ste_sign``, clip 1), differentiated through the
    threshold. A comparison binarizer of the LAB paper (Falkena et al., WACV 2023).
    """

    def __init__(self, window: int = 3, k: float = 0.5, **kwargs):
        super().__init__(window=window, k=k, **kwargs)

    def threshold(self, mean, std):
        r = tf.reduce_max(std, axis=[1, 2, 3], keepdims=True)
        return mean * (1.0 + self.k * (std / r - 1.0))
