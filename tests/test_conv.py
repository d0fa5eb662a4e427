import keras
import numpy as np
import pytest
from conftest import fit_unsupervised

from keras_hebbian import rules
from keras_hebbian.layers import HebbianConv2D, Triangle
from keras_hebbian.layers.conv_correlation import (
    METHODS,
    available_methods,
    conv_correlation,
    default_method,
)


def _patches(x, kernel_size, strides, padding, dilation):
    """Reference: every input patch, as (samples, kh, kw, channels), in NumPy."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation
    n, h, w, c = x.shape
    if padding == "valid":
        pads = ((0, 0), (0, 0))
    else:
        def same(size, k, s, d):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            return total // 2, total - total // 2
        pads = (same(h, kh, sh, dh), same(w, kw, sw, dw))
    mode = "reflect" if padding == "reflect" else "constant"
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), mode=mode)
    oh = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    patches = np.empty((n, oh, ow, kh, kw, c), dtype="float64")
    for i in range(kh):
        for j in range(kw):
            patches[:, :, :, i, j, :] = xp[:, i * dh: i * dh + (oh - 1) * sh + 1: sh,
                                           j * dw: j * dw + (ow - 1) * sw + 1: sw, :]
    return patches.reshape(n * oh * ow, kh, kw, c), (oh, ow)


CASES = [
    # kernel, strides, padding, dilation
    ((3, 3), (1, 1), "valid", (1, 1)),
    ((3, 3), (2, 2), "valid", (1, 1)),
    ((3, 3), (1, 1), "same", (1, 1)),
    ((3, 3), (2, 2), "same", (1, 1)),
    ((4, 4), (1, 1), "valid", (1, 1)),
    ((4, 4), (2, 2), "same", (1, 1)),
    ((2, 5), (1, 2), "same", (1, 1)),
    ((3, 3), (1, 1), "same", (2, 2)),
    ((3, 3), (1, 1), "valid", (2, 2)),
    ((5, 5), (1, 1), "reflect", (1, 1)),
    ((2, 3), (1, 1), "reflect", (2, 3)),
]


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", CASES)
def test_update_equals_patches_reference(kernel_size, strides, padding, dilation):
    # Eager, with the layer's "auto" method: on TensorFlow a dilated case
    # fails here if "auto" reaches the dilated Conv2DBackpropFilter, which
    # CPUs without oneDNN (or TF_ENABLE_ONEDNN_OPTS=0) lack.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 11, 10, 2)).astype("float32")
    layer = HebbianConv2D(4, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                          rule=rules.Oja(), learning_rate=1.0, seed=0)
    y = keras.ops.convert_to_numpy(layer(x))
    before = layer.kernel.numpy().astype("float64")
    layer(x, training=True)
    delta = layer.kernel.numpy().astype("float64") - before

    patches, (oh, ow) = _patches(x.astype("float64"), kernel_size, strides, padding, dilation)
    assert y.shape == (3, oh, ow, 4)
    post = y.reshape(-1, 4).astype("float64")
    # Oja: mean over patches of patch * y  -  W * mean(y^2)
    expected = np.einsum("skwc,sf->kwcf", patches, post) / len(post) - before * (post**2).mean(0)
    error = np.linalg.norm(delta - expected) / np.linalg.norm(expected)
    assert error < 1e-5
    np.testing.assert_allclose(
        y, np.einsum("skwc,kwcf->sf", patches, before).reshape(y.shape), rtol=1e-4, atol=1e-4
    )


CORRELATION_CASES = [
    # kernel, strides, dilation, channels, units
    ((3, 3), (1, 1), (1, 1), 2, 4),
    ((3, 3), (2, 2), (1, 1), 2, 4),
    ((4, 4), (1, 1), (1, 1), 3, 5),
    ((4, 4), (2, 2), (1, 1), 3, 7),
    ((2, 5), (1, 2), (1, 1), 2, 9),
    ((3, 3), (1, 1), (2, 2), 2, 4),
    ((3, 2), (1, 1), (1, 1), 6, 4),  # more channels than units: one offset per product
    ((5, 5), (1, 1), (1, 1), 3, 96),  # every offset in one product
    ((2, 4), (1, 1), (3, 2), 3, 5),  # output rows not a multiple of the dilation
    ((3, 3), (1, 2), (2, 1), 2, 4),  # a stride on one axis, a dilation on the other
    ((3, 3), (2, 1), (2, 1), 2, 4),  # both on one axis: not "native" or "conv" on TensorFlow
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kernel_size, strides, dilation, channels, units", CORRELATION_CASES)
def test_conv_correlation_equals_patches_reference(method, kernel_size, strides, dilation,
                                                   channels, units):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 11, 10, channels)).astype("float32")
    patches, (oh, ow) = _patches(x.astype("float64"), kernel_size, strides, "valid", dilation)
    signal = rng.normal(size=(3, oh, ow, units)).astype("float32")
    x, signal_t = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(signal)
    if method != "auto" and method not in available_methods(strides, dilation):
        # A clear error naming `method`, not the backend's own deep one.
        with pytest.raises(ValueError, match="method"):
            conv_correlation(x, signal_t, kernel_size, strides, dilation, method=method)
        return
    summed = conv_correlation(x, signal_t, kernel_size, strides, dilation, method=method)
    summed = keras.ops.convert_to_numpy(summed).astype("float64")
    expected = np.einsum("skwc,sf->kwcf", patches, signal.reshape(-1, units).astype("float64"))
    assert summed.shape == expected.shape
    assert np.linalg.norm(summed - expected) / np.linalg.norm(expected) < 1e-5


def test_conv_correlation_rejects_unknown_method():
    x = keras.ops.ones((1, 4, 4, 1))
    with pytest.raises(ValueError, match="method"):
        conv_correlation(x, keras.ops.ones((1, 2, 2, 1)), (3, 3), (1, 1), (1, 1), method="fft")
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="native"):
            conv_correlation(x, keras.ops.ones((1, 2, 2, 1)), (3, 3), (1, 1), (1, 1),
                             method="native")


def test_available_and_default_methods():
    backend = keras.backend.backend()
    for strides, dilation in [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 1), (2, 2)),
                              ((1, 2), (2, 1)), ((2, 1), (2, 1))]:
        methods = available_methods(strides, dilation)
        assert set(methods) <= {"native", "shifts", "conv"} and "shifts" in methods
        assert default_method(strides, dilation) in methods
        assert ("native" in methods) == (
            backend == "torch"
            or (backend == "tensorflow" and not (strides == dilation == (2, 1)))
        )
    assert available_methods() == available_methods((1, 1), (1, 1))
    if backend in ("tensorflow", "torch"):
        assert default_method() == default_method((1, 1), (2, 2)) == "native"
    if backend == "tensorflow":
        assert default_method((2, 1), (2, 1)) == "shifts"
        assert available_methods((2, 1), (1, 2)) == ("native", "shifts")


@pytest.mark.parametrize("method", ["auto", "native"])
@pytest.mark.parametrize("dilation", [(2, 2), (3, 1), (1, 2)])
def test_tensorflow_dilated_gradient_uses_no_dilated_kernel(method, dilation):
    """The CPU build without oneDNN has no dilated Conv2DBackpropFilter: never ask for one.

    Whatever this machine's CPU, so the check does not rest on
    `TF_ENABLE_ONEDNN_OPTS=0`: a dilated `Conv2DBackpropFilter` anywhere in
    the traced graph fails it.
    """
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's kernels only")
    import tensorflow as tf

    x = tf.TensorSpec((None, 11, 10, 2), "float32")
    oh, ow = 11 - 2 * dilation[0], 10 - 2 * dilation[1]
    y = tf.TensorSpec((None, oh, ow, 4), "float32")
    graph = tf.function(
        lambda a, b: conv_correlation(a, b, (3, 3), (1, 1), dilation, method=method)
    ).get_concrete_function(x, y).graph
    kernels = [op for op in graph.get_operations() if op.type == "Conv2DBackpropFilter"]
    if method == "native" or default_method((1, 1), dilation) == "native":
        assert kernels
    for op in kernels:
        assert list(op.get_attr("dilations")) == [1, 1, 1, 1]


def test_output_shape_matches_keras_conv2d():
    for padding in ("valid", "same"):
        for strides in (1, 2):
            hebbian = HebbianConv2D(6, 3, strides=strides, padding=padding)
            plain = keras.layers.Conv2D(6, 3, strides=strides, padding=padding)
            assert hebbian.compute_output_shape((None, 9, 8, 3)) == plain.compute_output_shape((None, 9, 8, 3))


def test_softhebb_conv_block_learns_in_fit():
    rng = np.random.default_rng(1)
    x = rng.random((64, 12, 12, 1)).astype("float32")
    conv = HebbianConv2D(8, 5, padding="same", rule=rules.SoftHebb(temperature=0.5),
                         learning_rate=0.05,
                         kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), seed=0)
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.BatchNormalization(center=False, scale=False),
        conv,
        Triangle(power=0.7),
        keras.layers.MaxPooling2D(2),
    ])
    model.compile()
    before = conv.kernel.numpy().copy()
    model.fit(x, epochs=2, batch_size=16, verbose=0)
    after = conv.kernel.numpy()
    assert not np.allclose(before, after)
    assert np.all(np.isfinite(after))
    # SoftHebb moves norms toward 1
    norm = lambda k: np.linalg.norm(k.reshape(-1, 8), axis=0)  # noqa: E731
    assert np.median(np.abs(norm(after) - 1)) < np.median(np.abs(norm(before) - 1))
    assert model.predict(x[:2], verbose=0).shape == (2, 6, 6, 8)


@pytest.mark.parametrize("rule", ["wta", "krotov", "hebb"])
def test_conv_works_with_other_rules(rule):
    x = np.random.default_rng(2).random((8, 9, 9, 3)).astype("float32")
    layer = HebbianConv2D(8, 3, rule=rule, learning_rate=0.01, seed=0,
                          kernel_initializer=keras.initializers.RandomNormal(stddev=0.5))
    fit_unsupervised(layer, x, batch_size=4)
    assert int(layer.iterations.numpy()) == 2
    assert np.all(np.isfinite(layer.kernel.numpy()))


def test_conv_round_trip(tmp_path):
    x = np.random.default_rng(3).random((16, 8, 8, 2)).astype("float32")
    layer = HebbianConv2D(4, (3, 2), strides=(2, 1), padding="same", rule="softhebb",
                          connectivity="random", connectivity_prob=0.7, seed=5)
    model = fit_unsupervised(layer, x, batch_size=8)
    config = layer.get_config()
    assert HebbianConv2D.from_config(config).get_config() == config
    mask = layer.connectivity_mask.numpy()
    assert np.all(layer.kernel.numpy()[mask == 0] == 0.0)
    model.save(tmp_path / "conv.keras")
    restored = keras.saving.load_model(tmp_path / "conv.keras")
    for a, b in zip(layer.weights, restored.layers[-1].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_conv_kernel_is_stored_filter_by_filter_on_torch(tmp_path):
    """PyTorch stores a convolution's filters unit by unit (its channels-last filters),
    learning keeps that layout, and values and saving are unchanged."""
    if keras.backend.backend() != "torch":
        pytest.skip("only PyTorch lets the library choose a variable's memory layout")
    x = np.random.default_rng(4).random((16, 8, 8, 3)).astype("float32")
    layer = HebbianConv2D(6, 3, rule="softhebb", connectivity="random", connectivity_prob=0.8,
                          learning_rate=0.05, seed=2)
    model = fit_unsupervised(layer, x, batch_size=8)
    by_units = (3 * 3, 3, 1, 3 * 3 * 3)  # (kh, kw, in, units), units outermost in memory
    assert int(layer.iterations.numpy()) == 2
    for variable in (layer.kernel, layer.connectivity_mask):
        assert variable.value.stride() == by_units
    path = str(tmp_path / "conv.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.layers[-1].kernel.value.stride() == by_units
    for a, b in zip(layer.weights, restored.layers[-1].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_triangle():
    u = np.array([[[[1.0, 2.0, 6.0]]]], "float32")  # mean 3
    np.testing.assert_allclose(keras.ops.convert_to_numpy(Triangle()(u)), [[[[0.0, 0.0, 3.0]]]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(Triangle(power=2.0)(u)), [[[[0.0, 0.0, 9.0]]]])
    assert Triangle.from_config(Triangle(power=0.7).get_config()).power == 0.7
    with pytest.raises(ValueError, match="`power` must be"):
        Triangle(power=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0, "kernel_size": 3}, "`filters` must be an int >= 1"),
        ({"filters": 4, "kernel_size": 0}, "`kernel_size` must be an int >= 1"),
        ({"filters": 4, "kernel_size": 3, "padding": "full"}, "`padding` must be"),
        ({"filters": 4, "kernel_size": 3, "strides": (1, 2, 3)}, "`strides` must be"),
        ({"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
         "`strides > 1` is not supported with `dilation_rate > 1`"),
    ],
)
def test_bad_conv_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HebbianConv2D(**kwargs)


def test_too_small_input_for_valid_padding():
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        HebbianConv2D(2, 5, dilation_rate=2).build((None, 6, 6, 1))
