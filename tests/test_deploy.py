"""LCE deployment: checked conversion, folded vs unfolded LAB through the LCE interpreter, sizes, latency, op profile,
and the edge-latency notebook at smoke scale."""
import functools
import os
from pathlib import Path

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lab
from lab import deploy, models, provenance
from lab.quantizers import LAB

SMALL = dict(input_shape=(32, 32, 3), num_classes=10, width=0.0625)
PAPER_NETWORKS = ["xnornet", "birealnet", "quicknet", "reactnet"]


def lce_predict(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    return deploy._interpreter(flatbuffer, 1, True).predict(x)


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
    unfolded_ops, folded_ops = (deploy.op_list(fb)["node_type"].tolist() for fb in (unfolded, folded))
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
    assert deploy.op_list(fast)["node_type"].tolist() == deploy.op_list(slow)["node_type"].tolist()
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
    ops = deploy.op_list(flatbuffer)
    binary = [layer.name for layer in models.binary_layers(model)]
    assert (ops["node_type"] == deploy.BINARY_CONV_OP).sum() == len(binary) > 0
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
    assert len(deploy.compared_quantizes(deploy.convert(model))) == 2


def test_bad_arguments_raise_before_work():
    with pytest.raises(ValueError, match="fold"):
        deploy.convert(exact_lab_model(), fold="yes")
    with pytest.raises(ValueError, match="method"):
        deploy.convert(exact_lab_model(), method="tflite")
    with pytest.raises(ValueError, match="runs"):
        deploy.latency(b"", runs=0)
    with pytest.raises(ValueError, match="variants"):
        deploy.measure_network("birealnet", variants=["lab_unfolded"])
    with pytest.raises(ValueError, match="networks"):
        deploy.edge_latency(preset="smoke", networks=["alexnet"])
    with pytest.raises(ValueError, match="^jobs"):
        deploy.edge_latency(preset="smoke", jobs=0)


# --------------------------------------------------------------------------- timing
def test_latency_and_op_profile():
    _, flatbuffer = converted("birealnet", "sign")
    timing = deploy.latency(flatbuffer, runs=5, warmup=1)
    assert timing["min_ms"] <= timing["median_ms"] <= timing["max_ms"] and timing["runs"] == 5
    assert timing["host_cpu"] == provenance.cpu_model() and timing["threads"] == 1
    assert timing["bconv_kernel"] == "indirect BGEMM"
    longer = deploy.latency(flatbuffer, runs=5, warmup=1, min_seconds=0.2)  # a tiny graph: many more runs
    assert longer["runs"] > 5 and longer["runs"] * longer["median_ms"] == pytest.approx(200, rel=0.5)
    with pytest.raises(ValueError, match="min_seconds"):
        deploy.latency(flatbuffer, min_seconds=-1)
    profile = deploy.op_profile(flatbuffer, runs=2, warmup=1)
    ops = deploy.op_list(flatbuffer)
    assert list(profile.columns) == deploy.PROFILE_COLUMNS
    assert profile["node_type"].tolist() == ops["node_type"].tolist()  # every op, in run order
    assert (profile["avg_ms"] > 0).all() and profile["percent"].sum() == pytest.approx(100)


# --------------------------------------------------------------------------- the notebook
def test_notebook_runs_at_smoke_scale(tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("LAB_RESULTS", str(tmp_path))
    logs = Path(__file__).parent / "fixtures" / "oplogs"
    papermill.execute_notebook(
        str(provenance.REPO_ROOT / "notebooks" / "edge_latency.ipynb"), str(tmp_path / "out.ipynb"),
        parameters=dict(preset="smoke", networks=["birealnet"], input_size=32, width=0.0625, runs=3,
                        profile_runs=1, device_logs=str(logs), jobs=2),  # conversions in processes of a kernel
        cwd=str(provenance.REPO_ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
    out = tmp_path / "smoke" / "edge_latency"
    for name in ("birealnet_sign.tflite", "birealnet_lab.tflite", "birealnet_lab_folded.tflite", "benchmark.sh",
                 "deployment.csv", "lab_over_sign.csv", "host_op_profile.csv", "device_op_profile.csv",
                 "fig6_host.svg", "fig6_device.svg"):
        assert (out / name).exists(), name
    import pandas as pd

    table = pd.read_csv(out / "deployment.csv")
    assert table["variant"].tolist() == ["sign", "LAB (unfolded)", "LAB (folded)"]
    assert table["latency_ms_jetson_xavier_nx_paper"].tolist() == [72.5, 100.6, 100.6]
    assert os.path.getsize(out / "birealnet_sign.tflite") == pytest.approx(table["tflite_file_mb"][0] * 2**20)
