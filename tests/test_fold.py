"""lab.fold is exact: the lowered bias, engineered ties in TF and in LCE, and the five networks before and after the
fold (every binary activation, the converted logits, the biases stored in the .tflite)."""
import functools

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lab
from lab import deploy, models, timing, tflite
from lab.folding import lowered_bias
from lab.quantizers import LAB, FoldedLAB

FLT_MIN = np.finfo(np.float32).tiny
SMALL = dict(input_shape=(32, 32, 3), num_classes=10, width=0.0625)


def f32(values) -> np.ndarray:
    return np.asarray(values, np.float32)


# ------------------------------------------------------------------ the lowered bias, one addition at a time
def critical_sums():
    """Biases of every magnitude and sign (0 and -0 included) and, for each, the depthwise sums where the rules
    could part: -b and its float neighbours, +-0, +-FLT_MIN and a few ordinary values."""
    rng = np.random.default_rng(0)
    b = f32(np.concatenate([rng.choice([-1, 1], 300) * 2.0 ** rng.uniform(-101, 100, 300),
                            [0.0, -0.0, 1.0, -1.0, 2.0 ** -101, -(2.0 ** -101), 0.1, 3e38, -3e38]]))
    up, down = (np.nextafter(-b, f32(s * np.inf)) for s in (1, -1))
    a = np.stack([-b, up, down, np.nextafter(up, f32(np.inf)), np.nextafter(down, f32(-np.inf)),
                  np.zeros_like(b), -np.zeros_like(b), np.full_like(b, FLT_MIN), np.full_like(b, -FLT_MIN),
                  np.full_like(b, 2 * FLT_MIN), f32(rng.normal(size=b.shape))], axis=1)
    return a, np.broadcast_to(b[:, None], a.shape)


def test_lowered_bias_keeps_the_strict_rule_in_tf_and_in_exact_arithmetic():
    a, b = critical_sums()
    lowered = np.broadcast_to(lowered_bias(b[:, 0])[:, None], a.shape)
    # TF on the CPU flushes subnormals (results and operands), as LCE on x86 does
    lab_rule = tf.constant(a) + tf.constant(b) > 0
    folded = (tf.constant(a) + tf.constant(lowered)).numpy()
    np.testing.assert_array_equal(folded >= 0, lab_rule.numpy())
    assert not np.signbit(folded[folded == 0]).any()  # a tie of the folded form is +0.0: +1 on x86 and ARM alike
    # gradual underflow (numpy): the same, except b == 0 with a subnormal positive sum (documented)
    with np.errstate(over="ignore"):
        exact = a + lowered
    subnormal = (b == 0) & (a > 0) & (a < FLT_MIN)
    np.testing.assert_array_equal((exact >= 0)[~subnormal], (a + b > 0)[~subnormal])
    assert lowered_bias(f32([0.0, -0.0])).tolist() == [-FLT_MIN, -FLT_MIN]  # never -2**-149: it reads as 0


@pytest.mark.parametrize("bias", [2.0 ** -140, -(2.0 ** -110), FLT_MIN, -np.finfo(np.float32).max])
def test_a_bias_that_cannot_be_lowered_keeps_the_strict_rule(bias):
    assert lowered_bias(f32([1.0, bias])) is None
    x = inputs = tf.keras.Input((5, 5, 2))
    model = tf.keras.Model(inputs, LAB(name="tiny")(x))
    model.layers[1].bias.assign(f32([[0.0, 1.0], [0.0, bias]]))
    with pytest.warns(UserWarning, match="strict rule.*tiny"):
        folded = lab.fold(model)
    assert folded.layers[1].strict
    np.testing.assert_array_equal(folded.layers[1].bias.numpy(), f32([1.0, bias]))
    x = np.random.default_rng(1).normal(size=(2, 5, 5, 2)).astype("float32")
    np.testing.assert_array_equal(folded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ engineered ties
def tie_model(pad_values: float, monotone: bool) -> tf.keras.Model:
    """A LAB binary conv on 8x8x4 with dyadic weights and dyadic inputs in {0, 0.5, 1}: every sum is exact and
    many windows tie (``DW(x; K1 - K0) + b1 - b0 == 0``). Channel biases b1 - b0 = 0.5, -1, 0, 0.75.
    ``monotone``: each channel's difference kernel has the sign opposite to its bias (strictly positive where the
    bias is 0), so every running sum of the depthwise accumulation lies between the bias and the total, where
    lowering the bias by one ULP stays exact in any order of summation (LCE starts from the bias)."""
    rng = np.random.default_rng(2)
    x = inputs = tf.keras.Input((8, 8, 4))
    x = lq.layers.QuantConv2D(6, 3, padding="same", pad_values=pad_values, input_quantizer=LAB(name="lab"),
                              kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
                              name="binconv")(x)
    model = tf.keras.Model(inputs, x)
    diff_bias = f32([0.5, -1.0, 0.0, 0.75])
    magnitude = rng.integers(0, 3, (3, 3, 4)) / 4
    if monotone:
        diff_kernel = -np.sign(diff_bias) * magnitude
        diff_kernel[..., 2] = magnitude[..., 2] + 0.25
    else:
        diff_kernel = rng.choice([-1, 1], (3, 3, 4)) * magnitude
    k0, b0 = rng.integers(-4, 5, (3, 3, 4)) / 8, rng.integers(-4, 5, 4) / 8
    quantizer = model.get_layer("binconv").input_quantizer
    quantizer.set_weights([np.stack([k0, k0 + diff_kernel], -1), np.stack([b0, b0 + diff_bias], -1), f32(1.0)])
    model.get_layer("binconv").kernel.assign(rng.choice([-1.0, 1.0], (3, 3, 4, 6)))
    return model


def tie_inputs() -> np.ndarray:
    x = np.random.default_rng(3).integers(0, 3, (4, 8, 8, 4)) / 2
    x[0] = 0.0  # all-zero windows: b1 - b0 alone decides, 0 included
    return x.astype("float32")


def binarized(model: tf.keras.Model, x: np.ndarray) -> np.ndarray:
    return model.get_layer("binconv").input_quantizer(tf.constant(x)).numpy()


@pytest.mark.parametrize("monotone", [False, True])
def test_folded_lab_equals_lab_on_engineered_ties(monotone):
    model, x = tie_model(0.0, monotone), tie_inputs()
    ties = model.get_layer("binconv").input_quantizer.difference(x).numpy() == 0
    assert 0.1 < ties.mean() < 0.7 and ties[0, ..., 2].all()  # ties abound; zero input with b1 == b0 ties
    folded = lab.fold(model)
    np.testing.assert_array_equal(binarized(folded, x), binarized(model, x))
    np.testing.assert_array_equal(folded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert (binarized(model, x)[ties] == -1).all()


def lce_depthwise_output(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    """What reaches the first LceQuantize: the graph's first DEPTHWISE_CONV_2D run on its own."""
    ops = tflite.op_list(flatbuffer)["node_type"].tolist()
    single = tflite.single_op_flatbuffer(tflite.unpack(flatbuffer), ops.index("DEPTHWISE_CONV_2D"))
    return timing.interpreter(single, 1, True).predict(x)


@pytest.mark.parametrize("pad_values", [0.0, 1.0])
def test_lce_folded_equals_unfolded_on_engineered_ties(pad_values):
    model, x = tie_model(pad_values, monotone=True), tie_inputs()
    folded_fb, unfolded_fb = deploy.convert(model), deploy.convert(model, fold=False)
    assert "GREATER" not in tflite.op_list(folded_fb)["node_type"].tolist()
    folded = [timing.interpreter(folded_fb, 1, True).predict(x[i:i + 1]) for i in range(len(x))]
    unfolded = [timing.interpreter(unfolded_fb, 1, True).predict(x[i:i + 1]) for i in range(len(x))]
    np.testing.assert_array_equal(np.concatenate(folded), np.concatenate(unfolded))
    np.testing.assert_array_equal(np.concatenate(folded), model.predict(x, verbose=0))
    # no -0.0 reaches LceQuantize (ARM packs the sign bit: -0.0 would give -1 where the rule says +1)
    z = np.concatenate([lce_depthwise_output(folded_fb, x[i:i + 1]) for i in range(len(x))])
    assert not np.signbit(z[z == 0]).any()


def test_a_tie_of_the_folded_form_is_plus_zero_and_gives_plus_one():
    """A window whose depthwise sum is exactly -b' (the lowered bias): the folded sum is 0 and must be +0.0 in TF
    and in LCE, binarizing to +1 as LAB does (its sum is one ULP above 0)."""
    model = tie_model(0.0, monotone=True)
    quantizer = model.get_layer("binconv").input_quantizer
    kernel, bias = quantizer.get_weights()[:2]
    lowered = lowered_bias(bias[:, 1] - bias[:, 0])
    kernel[1, 1, :, 0], kernel[1, 1, :, 1] = 0.0, -lowered  # centre tap of K1 - K0 is -b'
    quantizer.set_weights([kernel, bias, f32(1.0)])
    x = np.zeros((1, 8, 8, 4), "float32")
    x[0, 4, 4] = 1.0  # at (4, 4) only the centre tap sees a non-zero input
    folded = lab.fold(model).get_layer("binconv").input_quantizer
    z = (tf.nn.depthwise_conv2d(x, folded.depthwise_kernel, [1, 1, 1, 1], "SAME") + folded.bias).numpy()
    assert (z[0, 4, 4] == 0).all() and not np.signbit(z[0, 4, 4]).any()
    assert (binarized(model, x)[0, 4, 4] == 1).all()
    flatbuffer = deploy.convert(model)
    z = lce_depthwise_output(flatbuffer, x)
    assert (z[0, 4, 4] == 0).all() and not np.signbit(z[0, 4, 4]).any()
    np.testing.assert_array_equal(timing.interpreter(flatbuffer, 1, True).predict(x), model.predict(x, verbose=0))


def test_lce_depthwise_accumulates_from_the_bias():
    """Why LCE's exactness needs exact running sums: its depthwise kernel starts the sum from the bias, so with
    bias 1 and taps 2**24, -2**24 it gets (1 + 2**24) - 2**24 = 0, where TF (bias last) gets 1."""
    x = inputs = tf.keras.Input((3, 3, 1))
    layer = tf.keras.layers.DepthwiseConv2D(3, padding="same")
    model = tf.keras.Model(inputs, layer(x))
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[0, :2, 0, 0] = [2.0 ** 24, -(2.0 ** 24)]
    layer.set_weights([kernel, f32([1.0])])
    ones = np.ones((1, 3, 3, 1), "float32")
    assert model.predict(ones, verbose=0)[0, 1, 1, 0] == 1.0
    assert timing.interpreter(deploy.convert(model), 1, True).predict(ones)[0, 1, 1, 0] == 0.0


# ------------------------------------------------------------------ the five networks
def masks(network: str) -> list[str]:
    stages = models.NUM_STAGES[network]
    return ["1" * stages] + ([("10" * stages)[:stages], ("01" * stages)[:stages]] if stages > 1 else [])


CASES = [(network, mask) for network in models.NAMES for mask in masks(network)]


def randomise(model: tf.keras.Model, seed: int) -> None:
    """Random LAB kernels and biases of both signs: every third channel b1 == b0 (lowered bias -FLT_MIN), channel
    0 also K1 == K0, so that it ties at every pixel. Random batch-norm statistics, so that no binarizer sees the
    exact zeros of an untrained network (where TF's float sums of scaled binary kernels leave +-3e-8 and LCE 0)."""
    rng = np.random.default_rng(seed)
    for quantizer in (m for m in model.submodules if isinstance(m, LAB)):
        kernel = rng.normal(size=quantizer.depthwise_kernel.shape).astype("float32")
        bias = rng.normal(size=quantizer.bias.shape).astype("float32")
        bias[::3, 1] = bias[::3, 0]
        kernel[:, :, 0, 1] = kernel[:, :, 0, 0]
        quantizer.depthwise_kernel.assign(kernel)
        quantizer.bias.assign(bias)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in w.name else rng.normal(0, 0.3, w.shape)
                               for w in layer.weights])


def images() -> np.ndarray:
    """Two random inputs and two real photographs (scikit-image's astronaut and cat), 32x32, standardised."""
    from skimage import data, transform

    real = [transform.resize(image, (32, 32), anti_aliasing=True) for image in (data.astronaut(), data.chelsea())]
    real = (np.stack(real) - 0.45) / 0.25
    return np.concatenate([np.random.default_rng(4).normal(size=(2, 32, 32, 3)), real]).astype("float32")


def activation_probe(model: tf.keras.Model) -> tf.keras.Model:
    """The binary activations entering every binary conv of ``model``, by layer name."""
    layers = models.binary_layers(model)
    return tf.keras.Model(model.input, {layer.name: layer.input_quantizer(layer.input) for layer in layers})


@functools.lru_cache(maxsize=None)
def network(name: str, mask: str):
    model = models.build(name, binarizer="lab", lab_blocks=mask, **SMALL)
    randomise(model, seed=len(CASES) + CASES.index((name, mask)))
    return model, lab.fold(model)


@pytest.mark.parametrize("name, mask", CASES)
def test_every_binary_activation_is_identical_after_the_fold(name, mask):
    model, folded = network(name, mask)
    kinds = {type(layer.input_quantizer).__name__ for layer in models.binary_layers(folded)}
    assert "LAB" not in kinds and "FoldedLAB" in kinds
    x = images()
    before, after = ({k: v.numpy() for k, v in activation_probe(m)(x, training=False).items()} for m in (model, folded))
    assert before.keys() == after.keys() == {layer.name for layer in models.binary_layers(model)}
    for layer, values in before.items():
        np.testing.assert_array_equal(after[layer], values, err_msg=layer)
    lab_layers = [layer.name for layer in models.binary_layers(model) if isinstance(layer.input_quantizer, LAB)]
    assert all((before[layer][..., 0] == -1).all() for layer in lab_layers)  # channel 0 ties everywhere
    plus = np.concatenate([before[layer][..., 1:].ravel() > 0 for layer in lab_layers])
    assert 0.2 < plus.mean() < 0.8  # both signs, not a vacuous comparison


def logits(model: tf.keras.Model) -> tf.keras.Model:
    return tf.keras.Model(model.input, model.get_layer("head_dense").output)


def depthwise_biases(flatbuffer: bytes) -> dict[str, np.ndarray]:
    """The bias of every DEPTHWISE_CONV_2D of a converted graph, by the layer it came from (as stored)."""
    fb = tflite.unpack(flatbuffer)
    graph, ops = fb.subgraphs[0], tflite.op_list(flatbuffer)
    return {row.layer: np.frombuffer(bytes(fb.buffers[graph.tensors[graph.operators[row.run_order].inputs[2]]
                                                          .buffer].data), "<f4")
            for row in ops.itertuples() if row.node_type == "DEPTHWISE_CONV_2D"}


@pytest.mark.parametrize("name", models.NAMES)
def test_converted_network_matches_keras_and_keeps_the_lowered_biases(name):
    model, folded = network(name, masks(name)[0])
    flatbuffer = deploy.convert(logits(folded), fold=False)
    assert "GREATER" not in tflite.op_list(flatbuffer)["node_type"].tolist()
    x = images()
    interpreter = timing.interpreter(flatbuffer, 1, True)
    lce = np.concatenate([interpreter.predict(x[i:i + 1]) for i in range(len(x))])
    keras = logits(model)(x, training=False).numpy()
    np.testing.assert_allclose(lce, keras, rtol=1e-5, atol=1e-5 * np.abs(keras).max())  # a flipped bit: ~0.1
    np.testing.assert_array_equal(lce.argmax(-1), keras.argmax(-1))
    stored = depthwise_biases(flatbuffer)
    for layer in models.binary_layers(model):
        if isinstance(layer.input_quantizer, LAB):
            expected = lowered_bias(layer.input_quantizer.folded_weights()[1])
            np.testing.assert_array_equal(stored[layer.name].view(np.uint32), expected.view(np.uint32))
            assert isinstance(folded.get_layer(layer.name).input_quantizer, FoldedLAB)
