"""LCE deployment: checked conversion, folded vs unfolded LAB through the LCE interpreter, sizes; bad arguments of
conversion, timing and the edge study. Latency and op profile: tests/test_timing.py; the edge notebook:
tests/test_edge.py."""
import functools

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lab
from lab import deploy, edge, models, timing, tflite
from lab.quantizers import LAB

SMALL = dict(input_shape=(32, 32, 3), num_classes=10, width=0.0625)
PAPER_NETWORKS = ["xnornet", "birealnet", "quicknet", "reactnet"]


def lce_predict(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    return timing.interpreter(flatbuffer, 1, True).predict(x)


# --------------------------------------------------------------------------- an exactly computable LAB model
def exact_lab_model() -> tf.keras.Model:
    """Two LAB binary convs on 12x12x4 with dyadic weights: every float sum is exact, so Keras and LCE must agree
    bit for bit on every binarization, ties (difference exactly 0 -> -1) included."""
    x = inputs = tf.keras.Input((12, 12, 4))
    for i in range(2):
        x = lq.layers.QuantConv2D(8, 3, padding="same", input_quantizer=LAB(), kernel_quantizer="ste_sign",
                                  kernel_constraint="weight_clip", use_bias=False, name=f"binconv{i}")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling2D()(x))
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if "depthwise_kernel" in weight.name:
            weight.assign(rng.integers(-2, 3, weight.shape) / 2)
        elif "bias" in weight.name:
            weight.assign(rng.integers(-2, 3, weight.shape) / 4)
        elif "beta" not in weight.name:
            weight.assign(rng.choice([-1.0, 1.0], weight.shape))
    return model


def test_fold_is_exact_in_keras_and_drops_only_the_greater_ops():
    model = exact_lab_model()
    x = np.random.default_rng(1).integers(-4, 5, (3, 12, 12, 4)).astype("float32")
    ties = model.get_layer("binconv0").input_quantizer.difference(x).numpy() == 0
    assert 0 < ties.mean() < 0.5  # the tie rule (a zero difference gives -1) is exercised
    unfolded, folded = deploy.convert(model, fold=False), deploy.convert(model)
    # the folded graph has the unfolded one's ops less the GREATER before each LceQuantize (z + b' >= 0 fuses)
    unfolded_ops, folded_ops = (tflite.op_list(fb)["node_type"].tolist() for fb in (unfolded, folded))
    assert unfolded_ops.count("GREATER") == 2 and [op for op in unfolded_ops if op != "GREATER"] == folded_ops
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(lab.fold(model).predict(x, verbose=0), expected)
    np.testing.assert_array_equal(lce_predict(unfolded, x), expected)  # every sum exact: LCE is exact too
    # LCE's folded graph is exact where its bias-first running sums are (tests/test_fold.py); at these ties they
    # reach 18 and round the one-ULP lowering of the bias away


def test_sizes_count_binary_weights_at_one_bit():
    model = exact_lab_model()
    flatbuffer = deploy.convert(model, fold=False)
    # binary kernels 3*3*4*8 + 3*3*8*8 bits; LAB kernels, biases and beta at 32 bit: (72+8+1) + (144+16+1)
    assert deploy.sizes(model, flatbuffer) == {"tflite_file_mb": len(flatbuffer) / 2**20,
                                               "deployed_size_mb": ((288 + 576) / 8 + 242 * 4) / 2**20}
    folded = lab.fold(model)  # one (k, k, C, 1) kernel and C biases per LAB, beta a constant
    assert deploy.sizes(folded, flatbuffer)["deployed_size_mb"] == ((288 + 576) / 8 + 120 * 4) / 2**20


def test_both_conversion_methods_give_the_same_graph():
    model = exact_lab_model()
    fast, slow = deploy.convert(model, method="graphdef"), deploy.convert(model, method="saved_model")
    assert tflite.op_list(fast)["node_type"].tolist() == tflite.op_list(slow)["node_type"].tolist()
    x = np.random.default_rng(2).integers(-4, 5, (2, 12, 12, 4)).astype("float32")
    np.testing.assert_array_equal(lce_predict(fast, x), lce_predict(slow, x))


# --------------------------------------------------------------------------- every network
@functools.lru_cache(maxsize=None)
def converted(network: str, binarizer: str):
    model = models.build(network, binarizer=binarizer, **SMALL)
    return model, deploy.convert(model)


@pytest.mark.parametrize("network, binarizer", [(n, b) for n in PAPER_NETWORKS for b in ("sign", "lab")]
                         + [("labbnn", "lab")])
def test_every_binary_conv_becomes_lce_bconv(network, binarizer):
    model, flatbuffer = converted(network, binarizer)
    ops = tflite.op_list(flatbuffer)
    binary = [layer.name for layer in models.binary_layers(model)]
    assert (ops["node_type"] == tflite.BINARY_CONV_OP).sum() == len(binary) > 0
    float_convs = ops[ops["node_type"] == "CONV_2D"]
    assert not any(name in layer.split("+") for layer in float_convs["layer"] for name in binary)


def test_folded_and_unfolded_network_agree():
    model, folded = converted("birealnet", "lab")
    unfolded = deploy.convert(model, fold=False)
    x = np.random.default_rng(3).standard_normal((4, *SMALL["input_shape"])).astype("float32")
    # the same binary activations, the same float ops around them: identical outputs (logits vs Keras: test_fold)
    np.testing.assert_array_equal(lce_predict(unfolded, x), lce_predict(folded, x))


class BrokenBinarizer(lq.quantizers._BaseQuantizer):
    """A 1-bit quantizer LCE cannot fuse: it ends in tf.sign, or scales the tf.where output."""

    precision = 1

    def __init__(self, ending: str = "sign", **kwargs):
        self.ending = ending
        super().__init__(**kwargs)

    def call(self, inputs):
        if self.ending == "sign":
            return tf.sign(inputs)
        return tf.where(inputs > 0, 1.0, -1.0) * 2.0


@pytest.mark.parametrize("ending", ["sign", "scaled where"])
def test_convert_refuses_a_float_fallback(ending):
    inputs = tf.keras.Input((8, 8, 4))
    outputs = lq.layers.QuantConv2D(8, 3, padding="same", input_quantizer=BrokenBinarizer(ending),
                                    kernel_quantizer="ste_sign", kernel_constraint="weight_clip")(inputs)
    with pytest.raises(deploy.ConversionError, match=r"0 LceBconv2d op\(s\) for 1 binary") as err:
        deploy.convert(tf.keras.Model(inputs, outputs))
    assert "CONV_2D" in str(err.value)  # the op list is in the message


@pytest.mark.parametrize("compare", ["greater", "less"])
def test_convert_refuses_a_comparison_before_a_folded_labs_quantize(monkeypatch, compare):
    """A folded LAB whose sign LCE cannot fuse (a strict comparison) is refused, naming the layer; the same graph
    from a FoldedLAB(strict=True), which keeps the comparison on purpose, converts."""
    model = lab.fold(exact_lab_model())

    def call(self, inputs):
        z = tf.nn.depthwise_conv2d(inputs, self.depthwise_kernel, [1, 1, 1, 1], "SAME") + self.bias
        return tf.where(z > 0 if compare == "greater" else 0 > z, 1.0, -1.0)

    monkeypatch.setattr(lab.FoldedLAB, "call", call)
    with pytest.raises(deploy.ConversionError, match=r"2 folded LAB layer\(s\).*\n  binconv0: DEPTHWISE_CONV_2D -> "
                                                      r"(GREATER|LESS) -> LceQuantize\n  binconv1"):
        deploy.convert(model)
    for layer in model.layers:
        if isinstance(layer, lq.layers.QuantConv2D):
            layer.input_quantizer.strict = True
    assert len(tflite.compared_quantizes(deploy.convert(model))) == 2


def test_bad_arguments_raise_before_work():
    with pytest.raises(ValueError, match="fold"):
        deploy.convert(exact_lab_model(), fold="yes")
    with pytest.raises(ValueError, match="method"):
        deploy.convert(exact_lab_model(), method="tflite")
    with pytest.raises(ValueError, match="runs"):
        timing.latency(b"", runs=0)
    with pytest.raises(ValueError, match="variants"):
        edge.measure_network("birealnet", variants=["lab_unfolded"])
    with pytest.raises(ValueError, match="networks"):
        edge.edge_latency(preset="smoke", networks=["alexnet"])
    with pytest.raises(ValueError, match="^jobs"):
        edge.edge_latency(preset="smoke", jobs=0)
