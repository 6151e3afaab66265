"""LAB, FoldedLAB, Niblack and Sauvola against independent numpy re-implementations."""
import warnings

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lab
from lab.quantizers import LAB, FoldedLAB, Niblack, Sauvola

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- numpy references
def np_depthwise(x, kernel, bias):
    """Stride-1 'same' depthwise conv: x (B,H,W,C), kernel (k,k,C,M), bias (C,M) -> (B,H,W,C,M)."""
    k = kernel.shape[0]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros(x.shape + (kernel.shape[-1],))
    for di in range(k):
        for dj in range(k):
            out += xp[:, di:di + h, dj:dj + w, :, None] * kernel[di, dj]
    return out + bias


def np_difference(x, kernel, bias, pairing):
    """The compared responses z1 - z0, following the method (channel) or the authors' reshape (reference)."""
    z = np_depthwise(x, kernel, bias)  # (..., C, 2)
    if pairing == "channel":
        return z[..., 1] - z[..., 0]
    c = x.shape[-1]
    flat = z.reshape(z.shape[:-2] + (2 * c,))  # TF's depthwise order [c0m0, c0m1, c1m0, ...]
    r = flat.reshape(flat.shape[:-1] + (2, c))
    return r[..., 1, :] - r[..., 0, :]


def np_lab(x, kernel, bias, pairing):
    d = np_difference(x, kernel, bias, pairing)
    return np.where(d > 0, 1.0, -1.0), d


def build_lab(x, **kwargs):
    layer = LAB(**kwargs)
    layer.build(x.shape)
    layer.depthwise_kernel.assign(RNG.normal(size=layer.depthwise_kernel.shape))
    layer.bias.assign(RNG.normal(size=layer.bias.shape) * 0.1)
    return layer


# ---------------------------------------------------------------- forward
@pytest.mark.parametrize("pairing", ["channel", "reference"])
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
@pytest.mark.parametrize("shape", [(3, 7, 5, 4), (2, 9, 9, 1), (4, 5, 11, 3)])
def test_forward_matches_numpy(pairing, kernel_size, shape):
    x = RNG.normal(size=shape).astype("float32")
    layer = build_lab(x, kernel_size=kernel_size, pairing=pairing)
    expected, d = np_lab(x, layer.depthwise_kernel.numpy(), layer.bias.numpy(), pairing)
    out = layer(x).numpy()
    clear = np.abs(d) >= 1e-5
    assert out.shape == shape
    assert set(np.unique(out)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(out[clear], expected[clear])


def test_pairings_differ_and_ties_give_minus_one():
    x = RNG.normal(size=(2, 6, 6, 3)).astype("float32")
    channel = build_lab(x, pairing="channel")
    reference = LAB(pairing="reference")
    reference.build(x.shape)
    reference.set_weights(channel.get_weights())
    assert not np.array_equal(channel(x).numpy(), reference(x).numpy())
    # identical responses everywhere: argmax picks response 0, i.e. -1
    channel.depthwise_kernel.assign(tf.repeat(channel.depthwise_kernel[..., :1], 2, axis=-1))
    channel.bias.assign(tf.zeros_like(channel.bias))
    np.testing.assert_array_equal(channel(x).numpy(), -np.ones(x.shape))


# ---------------------------------------------------------------- backward
def np_grads(x, kernel, bias, beta, dy, pairing):
    """Analytic gradients of sum(dy * tanh(beta * d / 2)) w.r.t. x, kernel, bias and beta."""
    d = np_difference(x, kernel, bias, pairing)
    t = np.tanh(beta * d / 2)
    g = dy * (1 - t * t) / 2
    gd = g * beta  # dL/dd
    c = x.shape[-1]
    # scatter dL/dd back to the two depthwise responses they were computed from
    gz = np.zeros(x.shape + (2,))
    if pairing == "channel":
        gz[..., 1], gz[..., 0] = gd, -gd
    else:
        flat = np.zeros(x.shape[:-1] + (2 * c,))
        flat[..., c:], flat[..., :c] = gd, -gd
        gz = flat.reshape(x.shape + (2,))
    k = kernel.shape[0]
    p = k // 2
    h, w = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    gk = np.zeros_like(kernel)
    gxp = np.zeros_like(xp)
    for di in range(k):
        for dj in range(k):
            gk[di, dj] = np.einsum("bhwcm,bhwc->cm", gz, xp[:, di:di + h, dj:dj + w, :])
            gxp[:, di:di + h, dj:dj + w, :] += np.einsum("bhwcm,cm->bhwc", gz, kernel[di, dj])
    gx = gxp[:, p:p + h, p:p + w, :]
    return gx, gk, gz.sum(axis=(0, 1, 2)), np.sum(g * d)


@pytest.mark.parametrize("pairing", ["channel", "reference"])
@pytest.mark.parametrize("kernel_size", [1, 3])
@pytest.mark.parametrize("fixed_beta", [False, True])
def test_gradients_match_analytic_surrogate(pairing, kernel_size, fixed_beta):
    x = RNG.normal(size=(2, 5, 7, 3)).astype("float32")
    layer = build_lab(x, kernel_size=kernel_size, pairing=pairing, beta=1.7 if fixed_beta else None)
    if not fixed_beta:
        layer.beta.assign(1.7)
    dy = RNG.normal(size=x.shape).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * dy)
    grads = tape.gradient(loss, [xt, layer.depthwise_kernel, layer.bias] + ([] if fixed_beta else [layer.beta]))
    expected = np_grads(x.astype("float64"), layer.depthwise_kernel.numpy().astype("float64"),
                        layer.bias.numpy().astype("float64"), 1.7, dy, pairing)
    for got, want in zip(grads, expected, strict=False):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_the_pair_equals_training_the_difference_with_twice_the_rate(optimizer):
    """K1 and K0 (b1 and b0) get opposite gradients, so the pair trained at lr moves K1 - K0 as one difference kernel
    (a strict FoldedLAB) trained at 2 lr, under SGD and Adam (sign-symmetric updates)."""
    x = RNG.normal(size=(4, 6, 6, 3)).astype("float32")
    dy = tf.constant(RNG.normal(size=x.shape).astype("float32"))
    pair = build_lab(x, beta=1.5)
    single = FoldedLAB(beta=1.5, strict=True)
    single.build(x.shape)
    initial = pair.folded_weights()
    single.set_weights(initial)
    for layer, lr in [(pair, 0.05), (single, 0.1)]:
        opt = tf.keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": lr}})
        for _ in range(5):  # the outputs, hence the gradients, change as the weights move
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x) * dy)
            opt.apply_gradients(zip(tape.gradient(loss, layer.trainable_weights), layer.trainable_weights))
    kernel, bias = pair.folded_weights()
    assert not np.allclose(kernel, initial[0], atol=1e-2)  # the difference really moved
    np.testing.assert_allclose(single.depthwise_kernel.numpy(), kernel, atol=1e-5)
    np.testing.assert_allclose(single.bias.numpy(), bias, atol=1e-5)


def test_surrogate_gradient_matches_finite_differences():
    """d/d beta and d/d d of the surrogate tanh(beta d / 2), by central differences."""
    d = tf.constant(RNG.normal(size=(50,)), tf.float64)
    beta = tf.constant(0.8, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([d, beta])
        out = lab.quantizers.soft_argmax_sign(d, beta)
    gd, gbeta = tape.gradient(out, [d, beta])
    eps = 1e-6
    surrogate = lambda dd, bb: np.tanh(bb * dd / 2)  # noqa: E731
    fd_d = (surrogate(d.numpy() + eps, 0.8) - surrogate(d.numpy() - eps, 0.8)) / (2 * eps)
    fd_beta = np.sum(surrogate(d.numpy(), 0.8 + eps) - surrogate(d.numpy(), 0.8 - eps)) / (2 * eps)
    np.testing.assert_allclose(gd.numpy(), fd_d, rtol=1e-6)
    np.testing.assert_allclose(gbeta.numpy(), fd_beta, rtol=1e-6)


def test_fixed_beta_is_not_a_variable():
    layer = build_lab(np.zeros((1, 4, 4, 2), "float32"), beta=3.0)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["depthwise_kernel:0", "bias:0"]
    assert layer.beta == 3.0


# ---------------------------------------------------------------- models: fold, save/reload, summary, LCE
def lab_model(input_quantizers, shape=(11, 9, 3), pad_values=0.0):
    x = inputs = tf.keras.Input(shape)
    for i, quantizer in enumerate(input_quantizers):
        x = lq.layers.QuantConv2D(6 + i, 3, padding="same", input_quantizer=quantizer, pad_values=pad_values,
                                  kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
                                  use_bias=False, name=f"binconv{i}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"bn{i}")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(4)(x))
    for layer in model.layers:  # non-trivial weights so that every output bit depends on them
        layer.set_weights([w + RNG.normal(size=w.shape) * 0.3 for w in layer.get_weights()])
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.moving_variance.assign(tf.abs(layer.moving_variance) + 0.5)
    return model


@pytest.mark.parametrize("pad_values", [0.0, 1.0])
def test_fold_gives_identical_outputs(pad_values):
    model = lab_model(["lab", LAB(beta=2.0), LAB(kernel_size=5), "ste_sign"], pad_values=pad_values)
    folded = lab.fold(model)
    x = RNG.normal(size=(5, 11, 9, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), folded.predict(x, verbose=0))
    convs = [layer for layer in folded.layers if isinstance(layer, lq.layers.QuantConv2D)]
    quantizers = [layer.input_quantizer for layer in convs]
    assert [type(q).__name__ for q in quantizers] == ["FoldedLAB", "FoldedLAB", "FoldedLAB", "SteSign"]
    assert quantizers[1].beta == 2.0 and quantizers[2].depthwise_kernel.shape == (5, 5, 6 + 1, 1)
    assert not any(q.strict for q in quantizers[:3])  # the fusable >= 0 sign, whatever the padding
    for old, new in zip(model.layers, folded.layers, strict=True):  # the binary kernels are left alone
        if isinstance(old, lq.layers.QuantConv2D):
            np.testing.assert_array_equal(new.kernel.numpy(), old.kernel.numpy())
    # half the binarizer weights, and no beta variable
    labs = [m for m in model.submodules if isinstance(m, LAB)]
    saved = sum(int(np.prod(q.depthwise_kernel.shape[:3])) + q.bias.shape[0] + (q.beta_value is None) for q in labs)
    assert folded.count_params() == model.count_params() - saved


def test_fold_of_a_standalone_lab_layer_keeps_the_tie_rule():
    x = inputs = tf.keras.Input((6, 6, 2))
    model = tf.keras.Model(inputs, LAB()(x))
    model.layers[1].set_weights([np.zeros((3, 3, 2, 2)), np.zeros((2, 2)), np.float32(1.0)])  # every output a tie
    folded = lab.fold(model)
    assert not folded.layers[1].strict and (folded.layers[1].bias.numpy() < 0).all()  # b1 == b0: -FLT_MIN
    np.testing.assert_array_equal(folded.predict(np.ones((1, 6, 6, 2)), verbose=0), -np.ones((1, 6, 6, 2)))


def test_fold_keeps_reference_pairing_and_warns():
    model = lab_model([LAB(pairing="reference"), "lab"])
    with pytest.warns(UserWarning, match="pairing='reference'"):
        folded = lab.fold(model)
    kinds = [type(layer.input_quantizer).__name__ for layer in folded.layers
             if isinstance(layer, lq.layers.QuantConv2D)]
    assert kinds == ["LAB", "FoldedLAB"]
    x = RNG.normal(size=(3, 11, 9, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), folded.predict(x, verbose=0))


@pytest.mark.parametrize("fmt", ["h5", "savedmodel", "keras"])
def test_save_and_reload(tmp_path, fmt):
    model = lab_model([LAB(beta=2.5), LAB(pairing="reference"), "lab"])
    model.layers[5].input_quantizer.beta.assign(0.7)  # a learned beta must survive too
    path = str(tmp_path / {"h5": "m.h5", "savedmodel": "m", "keras": "m.keras"}[fmt])
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    x = RNG.normal(size=(4, 11, 9, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    quantizers = [layer.input_quantizer for layer in loaded.layers if isinstance(layer, lq.layers.QuantConv2D)]
    assert [(q.pairing, q.beta_value) for q in quantizers] == [("channel", 2.5), ("reference", None),
                                                              ("channel", None)]
    assert float(quantizers[2].beta.numpy()) == pytest.approx(0.7)
    # a folded model reloads too
    lab.fold(model).save(path + "_folded.h5")
    np.testing.assert_array_equal(lab.fold(model).predict(x, verbose=0),
                                  tf.keras.models.load_model(path + "_folded.h5").predict(x, verbose=0))


@pytest.mark.parametrize("layer", [LAB(kernel_size=5, beta=1.5, pairing="reference"), FoldedLAB(beta=0.3),
                                   FoldedLAB(strict=True), Niblack(window=5, k=-0.1), Sauvola()])
def test_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert lq.quantizers.get(lq.quantizers.serialize(layer)).get_config() == layer.get_config()


def test_registered_aliases():
    for alias, cls in [("lab", LAB), ("folded_lab", FoldedLAB), ("niblack", Niblack), ("sauvola", Sauvola)]:
        layer = lq.layers.QuantConv2D(2, 3, input_quantizer=alias)
        assert isinstance(layer.input_quantizer, cls)
        assert layer.input_quantizer.precision == 1


def test_larq_summary_counts_lab_weights_as_32_bit():
    model = lab_model(["lab", LAB(beta=1.0)])
    profile = lq.models.ModelProfile(model)
    bits = {w._weight.name: w.bitwidth for lp in profile.layer_profiles for w in lp.weight_profiles}
    lab_weights = [name for name in bits if "depthwise_kernel" in name or "lab" in name]
    assert lab_weights and all(bits[name] == 32 for name in lab_weights)
    assert all(bits[name] == 1 for name in bits if name.endswith("binconv0/kernel:0") or
               name.endswith("binconv1/kernel:0"))
    assert not any(lq.optimizers.Bop.is_binary_variable(w) for w in model.weights if "lab" in w.name)


def lce_ops(model):
    """Operator names of the LCE-converted model, in run order."""
    import larq_compute_engine as lce

    from lab.tflite import op_list

    return op_list(lce.convert_keras_model(model))["node_type"].tolist()


@pytest.mark.parametrize("pad_values", [0.0, 1.0])
@pytest.mark.parametrize("fold", [False, True])
def test_lce_fuses_lab_into_quantize_bconv(fold, pad_values):
    model = lab_model(["lab", "lab"], pad_values=pad_values)
    ops = lce_ops(lab.fold(model) if fold else model)
    assert ops.count("LceBconv2d") == 2 and ops.count("LceQuantize") == 2
    assert "CONV_2D" not in ops
    for i, op in enumerate(ops):
        if op == "LceBconv2d":
            assert ops[i - 1] == "LceQuantize"
    assert ops.count("DEPTHWISE_CONV_2D") == 2  # one multiplier-1 depthwise conv per LAB
    # LAB's tie rule (z > 0) costs a GREATER op before LceQuantize; the fold (z + b' >= 0) fuses, in any padding
    assert ops.count("GREATER") == (0 if fold else 2)


# ---------------------------------------------------------------- beta stays positive
def test_trainable_beta_stays_positive_however_hard_training_pushes_it():
    model = lab_model(["lab", "lab"])
    labs = [m for m in model.submodules if isinstance(m, LAB)]
    model.add_loss(lambda: 1e3 * tf.add_n([q.beta for q in labs]))  # pushes beta far below 0 in one step
    model.compile(optimizer=tf.keras.optimizers.SGD(1.0), loss="mse")
    x = RNG.normal(size=(8, 11, 9, 3)).astype("float32")
    model.fit(x, np.zeros((8, 4)), epochs=2, batch_size=4, verbose=0)
    assert [float(q.beta.numpy()) for q in labs] == [pytest.approx(lab.quantizers.BETA_MIN)] * 2
    folded = lab.fold(model)  # a trained LAB folds and converts
    assert [q.beta for q in folded.submodules if isinstance(q, FoldedLAB)] == [pytest.approx(1e-3)] * 2
    np.testing.assert_array_equal(model.predict(x, verbose=0), folded.predict(x, verbose=0))
    assert lce_ops(folded).count("LceBconv2d") == 2


def test_a_beta_below_the_floor_acts_as_the_floor():
    """A beta variable set below BETA_MIN by hand (or read from an old checkpoint) is used as BETA_MIN."""
    x = tf.constant(RNG.normal(size=(2, 5, 5, 3)).astype("float32"))
    grads = []
    for beta in (-2.0, lab.quantizers.BETA_MIN):
        layer = build_lab(x.numpy())
        layer.set_weights([np.ones(layer.depthwise_kernel.shape) * [0.0, 1.0], np.zeros(layer.bias.shape),
                           np.float32(beta)])
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x))
        grads.append(tape.gradient(loss, x).numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    assert (grads[0] > 0).all()  # not a flipped (negative beta) surrogate


# ---------------------------------------------------------------- larq metrics
@pytest.mark.parametrize("cls", [LAB, FoldedLAB, Niblack, Sauvola])
def test_metrics_are_refused_with_a_clear_error(cls):
    with pytest.raises(ValueError, match="^metrics: .* takes no larq metrics"):
        cls(metrics=["flip_ratio"])
    assert cls(metrics=None).precision == 1


def test_a_model_built_in_larqs_metrics_scope_trains():
    """larq's flip_ratio scope applies to kernel quantizers; a model with LAB input quantizers builds and trains."""
    with lq.context.metrics_scope(["flip_ratio"]):
        model = lab_model(["lab", "niblack"])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(RNG.normal(size=(4, 11, 9, 3)), np.zeros((4, 4)), verbose=0)
    assert any(name.startswith("flip_ratio") for name in history.history)


# ---------------------------------------------------------------- Niblack and Sauvola
def np_local_stats(x, window):
    p = window // 2
    h, w = x.shape[1:3]
    mean, sq = np.zeros_like(x), np.zeros_like(x)
    count = np.zeros((1, h, w, 1))
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    ones = np.pad(np.ones((1, h, w, 1)), ((0, 0), (p, p), (p, p), (0, 0)))
    for di in range(window):
        for dj in range(window):
            mean += xp[:, di:di + h, dj:dj + w]
            sq += xp[:, di:di + h, dj:dj + w] ** 2
            count += ones[:, di:di + h, dj:dj + w]
    mean, sq = mean / count, sq / count
    return mean, np.sqrt(np.maximum(sq - mean ** 2, 0))


@pytest.mark.parametrize("window", [3, 5])
def test_niblack_and_sauvola_match_numpy(window):
    x = RNG.normal(size=(2, 7, 6, 3))
    m, s = np_local_stats(x, window)
    thresholds = {Niblack(window=window): m + -0.2 * s,
                  Sauvola(window=window): m * (1 + 0.5 * (s / s.max(axis=(1, 2, 3), keepdims=True) - 1))}
    for layer, threshold in thresholds.items():
        out = layer(tf.constant(x, tf.float32)).numpy()
        clear = np.abs(x - threshold) > 1e-4
        np.testing.assert_array_equal(out[clear], np.where(x - threshold >= 0, 1.0, -1.0)[clear])


# ---------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("kwargs, match", [
    ({"pairing": "x"}, "pairing must be one of"),
    ({"kernel_size": 2}, "kernel_size must be a positive odd"),
    ({"kernel_size": 0}, "kernel_size must be a positive odd"),
    ({"kernel_size": -3}, "kernel_size must be a positive odd"),
    ({"beta": 0.0}, "beta must be None"),
    ({"beta": -1.0}, "beta must be None"),
    ({"beta": float("nan")}, "beta must be None"),
    ({"metrics": ["flip_ratio"]}, "metrics:"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LAB(**kwargs)


@pytest.mark.parametrize("cls", [LAB, FoldedLAB, Niblack, Sauvola])
def test_non_4d_input_raises(cls):
    with pytest.raises(ValueError, match="must be 4-D"):
        cls()(tf.zeros((2, 5)))


def test_bad_window_raises():
    with pytest.raises(ValueError, match="window must be a positive odd"):
        Niblack(window=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Sauvola(window=1)
