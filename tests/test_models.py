"""lab.models: the five networks against larq-zoo, their structure, the per-stage binarizer mask and the sizes."""
from __future__ import annotations

import collections
import functools

import larq as lq
import larq_zoo as lqz
import numpy as np
import pytest
import tensorflow as tf

from lab import models
from lab.quantizers import LAB, Niblack, Sauvola

SMALL = dict(input_shape=(32, 32, 3), num_classes=10, width=0.25)
# Binary convs per stage, counted from the papers' architectures (independent of the builders).
BINARY_PER_STAGE = {
    "xnornet": (6,),
    "birealnet": (4, 4, 4, 4),
    "quicknet": (4, 4, 4, 4),
    "reactnet": (2, 8, 12, 4),  # 1/4/6/2 blocks with a 3x3 and a 1x1 binary conv each
    "labbnn": (4, 4, 4, 4),
}
SIGN_BASELINE = {  # the sign binarizer of each network: (class, STE clip)
    "xnornet": (lq.quantizers.SteSign, 1.0),
    "birealnet": (lq.quantizers.SteSign, 1.0),
    "quicknet": (lq.quantizers.SteSign, 1.25),
    "reactnet": (models.RSign, 1.0),
    "labbnn": (lq.quantizers.SteSign, 1.0),
}
LARQ_ZOO = {
    "xnornet": lqz.literature.XNORNet,
    "birealnet": lqz.literature.BiRealNet,
    "quicknet": lqz.sota.QuickNet,
}


@functools.lru_cache(maxsize=None)
def _model(name, binarizer="sign", input_shape=SMALL["input_shape"], width=SMALL["width"], num_classes=10):
    """One model per argument set, shared by the tests (building is most of their time)."""
    return models.build(name, binarizer=binarizer, input_shape=input_shape, width=width, num_classes=num_classes)


def _full(name, binarizer="lab"):
    """The published size: width 1, 224x224x3, 1000 classes."""
    return _model(name, binarizer, (224, 224, 3), 1.0, 1000)


def _images(shape, batch=2):
    return np.random.RandomState(0).uniform(-1, 1, (batch, *shape)).astype("float32")


def _weight_shapes(model):
    return collections.Counter(tuple(w.shape.as_list()) for w in model.weights)


@pytest.mark.parametrize("name", sorted(LARQ_ZOO))
def test_sign_variant_has_larq_zoos_weights(name):
    ours = _full(name, "sign")
    zoo = LARQ_ZOO[name](weights=None)
    assert ours.count_params() == zoo.count_params()
    assert _weight_shapes(ours) == _weight_shapes(zoo)
    assert models.summary(ours) == models.summary(zoo)
    assert len(models.binary_layers(ours)) == len(models.binary_layers(zoo)) == sum(BINARY_PER_STAGE[name])


@pytest.mark.parametrize("binarizer", ["sign", "lab"])
@pytest.mark.parametrize("name", models.NAMES)
def test_small_forward_pass(name, binarizer):
    model = _model(name, binarizer)
    probs = model(_images(SMALL["input_shape"])).numpy()
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert [layer.name for layer in models.binary_layers(model)][0] == "stage1_block1_binconv1"


@pytest.mark.parametrize("name", models.NAMES)
def test_mnist_sized_input_uses_small_stem(name):
    model = _model(name, input_shape=(28, 28, 1))
    assert model(_images((28, 28, 1))).shape == (2, 10)
    assert not any("pool" in layer.name for layer in model.layers if layer.name.startswith("stem"))
    strides = [layer.strides for layer in model.layers if layer.name.startswith("stem") and hasattr(layer, "strides")]
    assert strides and all(s == (1, 1) for s in strides)


@pytest.mark.parametrize("name", models.NAMES)
def test_builds_at_224_with_lab(name):
    binary = models.binary_layers(_full(name))
    assert [sum(models.stage_of(layer) == s for layer in binary) for s in range(1, len(BINARY_PER_STAGE[name]) + 1)] \
        == list(BINARY_PER_STAGE[name])
    assert all(isinstance(layer.input_quantizer, LAB) for layer in binary)


@pytest.mark.parametrize("name, binarizer", [("birealnet", "sign"), ("labbnn", "lab")])
def test_forward_pass_at_224(name, binarizer):
    model = _model(name, binarizer, input_shape=(224, 224, 3))
    assert model(_images((224, 224, 3), batch=1)).shape == (1, 10)


def _masks(name):
    if models.NUM_STAGES[name] == 1:
        return ["0", [True]]
    return ["1010", (False, True, False, True)]  # each stage once with LAB, once with sign


@pytest.mark.parametrize("name", models.NAMES)
def test_lab_layers_per_stage_follow_the_mask(name):
    baseline, clip = SIGN_BASELINE[name]
    sign = [layer.input_quantizer for layer in models.binary_layers(_model(name, "sign"))]
    assert len(sign) == sum(BINARY_PER_STAGE[name])
    assert all(type(q) is baseline and q.clip_value == clip for q in sign)
    for mask in _masks(name):
        model = models.build(name, binarizer="lab", lab_blocks=mask, **SMALL)
        flags = [c == "1" for c in mask] if isinstance(mask, str) else list(mask)
        expected = [n if flag else 0 for n, flag in zip(BINARY_PER_STAGE[name], flags, strict=True)]
        binary = models.binary_layers(model)
        found = [sum(isinstance(layer.input_quantizer, LAB) for layer in binary if models.stage_of(layer) == s)
                 for s in range(1, len(flags) + 1)]
        assert found == expected, mask
        for layer in binary:
            if not isinstance(layer.input_quantizer, LAB):
                assert type(layer.input_quantizer) is baseline and layer.input_quantizer.clip_value == clip
        labs = [layer.input_quantizer for layer in binary if isinstance(layer.input_quantizer, LAB)]
        assert len({id(q) for q in labs}) == len(labs)  # each binary layer has its own LAB


def test_other_binarizers_and_custom_factories():
    for binarizer, cls in [("niblack", Niblack), ("sauvola", Sauvola)]:
        model = models.build("birealnet", binarizer=binarizer, lab_blocks="0100", **SMALL)
        kinds = [type(layer.input_quantizer) for layer in models.binary_layers(model)]
        assert kinds == [lq.quantizers.SteSign] * 4 + [cls] * 4 + [lq.quantizers.SteSign] * 8
    model = models.build("quicknet", binarizer=lambda: LAB(beta=2.0), **SMALL)
    quantizers = [layer.input_quantizer for layer in models.binary_layers(model)]
    assert all(isinstance(q, LAB) and q.beta == 2.0 for q in quantizers)
    assert len({id(q) for q in quantizers}) == 16
    model = models.build("xnornet", binarizer=lq.quantizers.SteSign(clip_value=0.5), **SMALL)
    quantizers = [layer.input_quantizer for layer in models.binary_layers(model)]
    assert all(q.clip_value == 0.5 for q in quantizers) and len({id(q) for q in quantizers}) == 6


def test_reactnet_structure():
    model = _full("reactnet")
    blocks = sorted({models.sizes.parse_binconv_name(layer.name)[:2] for layer in models.binary_layers(model)})
    assert [sum(1 for s, _ in blocks if s == stage) for stage in (1, 2, 3, 4)] == [1, 4, 6, 2]
    outputs = [model.get_layer(f"stage{s}_block{b}_rprelu2_shift_out").output_shape[1:] for s, b in blocks]
    assert outputs == [(112, 112, 64), (56, 56, 128), (56, 56, 128), (28, 28, 256), (28, 28, 256),
                       (14, 14, 512), *[(14, 14, 512)] * 5, (7, 7, 1024), (7, 7, 1024)]
    strided = [(s, b) for s, b in blocks if model.get_layer(f"stage{s}_block{b}_binconv1").strides == (2, 2)]
    assert strided == [(2, 1), (2, 3), (3, 1), (4, 1)]
    assert all(model.get_layer(f"stage{s}_block{b}_shortcut_pool") for s, b in strided)
    for s, b in blocks:
        assert model.get_layer(f"stage{s}_block{b}_binconv1").kernel_size == (3, 3)
        assert model.get_layer(f"stage{s}_block{b}_binconv2").kernel_size == (1, 1)
    assert model.get_layer("stem_conv").strides == (2, 2) and model.get_layer("stem_conv").filters == 32


def test_reactnet_doubling_conv_equals_two_concatenated_convs():
    # basic_block's claim: one 1x1 binary conv with 2C filters is ReActNet's two C-filter convs, concatenated,
    # because the weight quantizer scales each output channel on its own.
    quantize = lq.quantizers.get(models.reactnet.KERNEL_QUANTIZER)
    kernel = tf.constant(np.random.RandomState(1).randn(1, 1, 8, 16).astype("float32"))
    halves = tf.concat([quantize(kernel[..., :8]), quantize(kernel[..., 8:])], axis=-1)
    np.testing.assert_allclose(quantize(kernel).numpy(), halves.numpy(), rtol=1e-6)


def test_reactnet_rsign_shifts_then_signs():
    rsign = models.RSign()
    x = tf.constant(_images((4, 4, 3)))
    rsign.build(x.shape)
    rsign.bias.assign([0.5, -0.5, 0.0])
    np.testing.assert_array_equal(rsign(x).numpy(), np.where(x.numpy() + [0.5, -0.5, 0.0] >= 0, 1.0, -1.0))


def test_labbnn_structure():
    model = _full("labbnn")
    stem = [model.get_layer(n) for n in ("stem_conv1", "stem_depthwise", "stem_conv2")]
    assert (stem[0].filters, stem[0].strides, stem[1].strides, stem[2].filters) == (16, (2, 2), (2, 2), 64)
    binary = models.binary_layers(model)
    assert [layer.filters for layer in binary] == [64] * 4 + [128] * 4 + [256] * 4 + [512] * 4
    strided = [layer.name for layer in binary if layer.strides == (2, 2)]
    assert strided == ["stage2_block1_binconv1", "stage3_block1_binconv1", "stage4_block1_binconv1"]
    for name in strided:
        block = name.rsplit("_", 1)[0]
        assert isinstance(model.get_layer(f"{block}_shortcut_pool"), tf.keras.layers.AveragePooling2D)
        assert model.get_layer(f"{block}_shortcut_conv").kernel_size == (1, 1)
    prelus = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.PReLU)]
    assert len(prelus) == 16 and all(p.shared_axes == [1, 2] for p in prelus)
    assert model.get_layer("stage4_block4_prelu").output_shape[1:] == (7, 7, 512)


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(name="resnet"), "name"),
    (dict(name="birealnet", lab_blocks="101"), "lab_blocks"),
    (dict(name="xnornet", lab_blocks="11"), "lab_blocks"),
    (dict(name="birealnet", lab_blocks="10x1"), "lab_blocks"),
    (dict(name="birealnet", lab_blocks=[1, 0, 1, 1]), "lab_blocks"),
    (dict(name="quicknet", binarizer="approx"), "binarizer"),
    (dict(name="quicknet", binarizer=3), "binarizer"),
    (dict(name="reactnet", input_shape=(27, 64, 3)), "input_shape"),
    (dict(name="reactnet", input_shape=(64, 64)), "input_shape"),
    (dict(name="labbnn", width=0), "width"),
    (dict(name="labbnn", num_classes=0), "num_classes"),
])
def test_bad_arguments_raise_naming_the_parameter(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        models.build(**kwargs)


def test_stage_of_rejects_unnamed_layers():
    with pytest.raises(ValueError, match="layer"):
        models.stage_of(tf.keras.layers.Dense(1, name="dense"))


@pytest.mark.parametrize("name", models.NAMES)
def test_summary_matches_larq_and_counts_lab_at_32_bit(name):
    sign, with_lab = _model(name, "sign"), _model(name, "lab")
    for model in (sign, with_lab):
        stats, profile = models.summary(model), lq.models.ModelProfile(model)
        assert stats["deployed_size_mb"] * 8 * 2**20 == pytest.approx(profile.memory)
        assert stats["binary_params"] == profile.weight_count(bitwidth=1)
        assert stats["total_params"] == stats["binary_params"] + stats["float_params"] == model.count_params()
    # LAB adds, per binary layer with C input channels, a 3x3xCx2 kernel, a Cx2 bias and a scalar beta.
    lab_params = sum(20 * layer.input.shape[-1] + 1 for layer in models.binary_layers(with_lab))
    extra = models.summary(with_lab)["binarizer_params"] - models.summary(sign)["binarizer_params"]
    rsign = sum(layer.input.shape[-1] for layer in models.binary_layers(sign)) if name == "reactnet" else 0
    assert extra == lab_params - rsign
    growth_bits = (models.summary(with_lab)["deployed_size_mb"] - models.summary(sign)["deployed_size_mb"]) * 8 * 2**20
    assert growth_bits == pytest.approx(32 * extra)


def test_size_report_cli(capsys, monkeypatch, tmp_path):
    from lab.models.__main__ import main

    monkeypatch.setattr(models, "NAMES", ("labbnn",))  # the report builds every network; one shows the format
    main(["--input-shape", "32,32,3", "--width", "0.25", "--num-classes", "10", "--out", str(tmp_path / "sizes")])
    lines = capsys.readouterr().out.splitlines()
    written = (tmp_path / "sizes.md").read_text()
    assert "32x32x3" in written and "| labbnn" in written and (tmp_path / "sizes.provenance.json").exists()
    assert "paper MB" in lines[0] and "deployed MiB" in lines[0]
    sign, lab = (line for line in lines if line.startswith("| labbnn"))
    assert "| sign" in sign and "nan" in sign and "4.62" in lab  # the paper publishes LAB-BNN with LAB only
