import keras
import numpy as np
import pytest
from conftest import fit_unsupervised

from keras_hebbian.layers import HebbianDense


def _data(n=256, dim=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype("float32")


@pytest.mark.parametrize("in_features, units", [(784, 24), (24, 784), (256, 256)])
def test_any_input_and_output_size(in_features, units):
    x = _data(n=64, dim=in_features)
    layer = HebbianDense(units, rule="oja", learning_rate=1e-3, seed=0)
    model = fit_unsupervised(layer, x, batch_size=16)
    assert layer.kernel.shape == (in_features, units)
    assert model.predict(x, verbose=0).shape == (64, units)
    assert layer.compute_output_shape((None, in_features)) == (None, units)


def test_inputs_of_higher_rank():
    x = _data(n=32 * 5 * 8).reshape(32, 5, 8, 16)
    layer = HebbianDense(4, seed=0)
    model = fit_unsupervised(layer, x)
    assert model.predict(x, verbose=0).shape == (32, 5, 8, 4)
    assert layer.compute_output_shape((None, 5, 8, 16)) == (None, 5, 8, 4)


def test_kernel_learns_in_fit_and_never_in_inference():
    x = _data()
    layer = HebbianDense(4, rule="oja", learning_rate=0.05, seed=0)
    model = keras.Sequential([keras.Input((16,)), layer])
    model.compile()
    initial = layer.kernel.numpy().copy()
    model.predict(x, verbose=0)
    model.evaluate(x, verbose=0)
    model(x)
    model(x, training=False)
    np.testing.assert_array_equal(layer.kernel.numpy(), initial)
    assert int(layer.iterations.numpy()) == 0

    kernels = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            kernels.append(self.model.layers[0].kernel.numpy().copy())

    model.fit(x, epochs=1, batch_size=64, verbose=0, callbacks=[Record()])
    assert len(kernels) == 4
    # Every batch changes the kernel, and the change persists.
    for before, after in zip([initial] + kernels[:-1], kernels):
        assert not np.array_equal(before, after)
    np.testing.assert_array_equal(layer.kernel.numpy(), kernels[-1])
    assert int(layer.iterations.numpy()) == 4


def test_direct_training_call_learns():
    x = _data(n=8)
    layer = HebbianDense(3, learning_rate=0.1, seed=0)
    layer(x)
    before = layer.kernel.numpy().copy()
    layer(x, training=True)
    assert not np.array_equal(layer.kernel.numpy(), before)


def test_trainable_false_freezes_plasticity():
    x = _data()
    layer = HebbianDense(4, learning_rate=0.05, seed=0)
    layer.trainable = False
    fit_unsupervised(layer, x)
    initial = keras.initializers.GlorotUniform(seed=0)((16, 4))
    np.testing.assert_array_equal(layer.kernel.numpy(), keras.ops.convert_to_numpy(initial))


def test_trainable_layer_before_hebbian_still_trains():
    # On PyTorch the Hebbian assign is an in-place copy: without a snapshot of
    # the kernel the backward pass of the Dense layer before it would fail.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 12)).astype("float32")
    y = rng.integers(0, 3, size=128)
    dense = keras.layers.Dense(8)
    hebbian = HebbianDense(6, rule="oja", learning_rate=0.01, seed=0)
    model = keras.Sequential(
        [keras.Input((12,)), dense, hebbian, keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.build((None, 12))
    dense_before = dense.kernel.numpy().copy()
    hebbian_before = hebbian.kernel.numpy().copy()
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(dense.kernel.numpy(), dense_before)
    assert not np.allclose(hebbian.kernel.numpy(), hebbian_before)


def test_hybrid_model_trains_head_by_backprop_and_kernel_by_rule():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(3, 20)) * 3
    labels = rng.integers(0, 3, size=600)
    x = (centers[labels] + rng.normal(size=(600, 20))).astype("float32")
    hebbian = HebbianDense(5, rule="sanger", learning_rate=0.005, seed=0)
    head = keras.layers.Dense(3, activation="softmax")
    model = keras.Sequential([keras.Input((20,)), hebbian, head])
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    head_before = head.kernel.numpy().copy()
    hebbian_before = hebbian.kernel.numpy().copy()
    history = model.fit(x, labels, epochs=5, batch_size=32, verbose=0)
    assert not np.allclose(head.kernel.numpy(), head_before)
    assert not np.allclose(hebbian.kernel.numpy(), hebbian_before)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    assert hebbian.trainable_weights == []


def test_bias_is_trained_by_backprop_only():
    x = _data(n=64)
    y = _data(n=64, dim=3, seed=1)
    layer = HebbianDense(3, use_bias=True, learning_rate=0.01, seed=0)
    model = keras.Sequential([keras.Input((16,)), layer])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(layer.bias.numpy(), 0.0)
    # With no loss the bias has no gradient and stays put; the kernel learns.
    layer = HebbianDense(3, use_bias=True, learning_rate=0.01, seed=0)
    fit_unsupervised(layer, x)
    np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(3))


def test_mixed_bfloat16_kernel_learns_and_stays_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    x = _data()
    layer = HebbianDense(4, rule="oja", learning_rate=0.05, seed=0)
    model = keras.Sequential([keras.Input((16,)), layer])
    model.compile()
    model.build((None, 16))
    before = layer.kernel.numpy().copy()
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    assert layer.kernel.dtype == "float32"
    assert layer.compute_dtype == "bfloat16"
    after = layer.kernel.numpy()
    assert after.dtype == np.float32
    assert not np.allclose(after, before)
    assert np.all(np.isfinite(after))


def test_random_connectivity_mask_holds_and_is_seeded():
    x = np.abs(_data(n=512))

    def train(seed):
        layer = HebbianDense(8, rule="hebb", learning_rate=0.01, connectivity="random",
                             connectivity_prob=0.3, seed=seed)
        fit_unsupervised(layer, x, epochs=2)
        return layer

    a, b, c = train(7), train(7), train(8)
    mask = a.connectivity_mask.numpy()
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert 0.15 < mask.mean() < 0.45
    kernel = a.kernel.numpy()
    assert np.all(kernel[mask == 0] == 0.0)
    assert np.all(kernel[mask == 1] != 0.0)
    np.testing.assert_array_equal(mask, b.connectivity_mask.numpy())
    np.testing.assert_array_equal(kernel, b.kernel.numpy())
    assert not np.array_equal(mask, c.connectivity_mask.numpy())


def test_user_mask_and_zero_connectivity():
    x = np.abs(_data(n=128, dim=4))
    mask = np.eye(4, 3, dtype=bool)
    layer = HebbianDense(3, rule="hebb", learning_rate=0.01, connectivity=mask, seed=0)
    fit_unsupervised(layer, x)
    kernel = layer.kernel.numpy()
    assert np.all(kernel[~mask] == 0.0)
    assert np.all(kernel[mask] != 0.0)

    zero = HebbianDense(3, connectivity="zero")
    zero.build((None, 4))
    np.testing.assert_array_equal(zero.kernel.numpy(), np.zeros((4, 3)))
    assert zero.connectivity_mask is None


def test_learning_rate_schedule_follows_updates():
    x = _data(n=64, dim=4)
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([2], [0.1, 0.0])
    layer = HebbianDense(2, rule="hebb", learning_rate=schedule, seed=0)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile()
    kernels = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            kernels.append(self.model.layers[0].kernel.numpy().copy())

    model.fit(x, batch_size=16, verbose=0, shuffle=False, callbacks=[Record()])
    # Updates 0, 1, 2 learn (step <= 2); from step 3 on the rate is zero.
    assert not np.array_equal(kernels[1], kernels[2])
    np.testing.assert_array_equal(kernels[2], kernels[3])


def test_same_seed_same_weights():
    x = _data()

    def train():
        keras.utils.clear_session()
        layer = HebbianDense(5, rule="sanger", learning_rate=0.01, seed=42)
        fit_unsupervised(layer, x, epochs=2)
        return layer.kernel.numpy()

    np.testing.assert_array_equal(train(), train())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 0}, "`units` must be an int >= 1"),
        ({"units": 4, "rule": "hopfield"}, "Unknown `rule`: 'hopfield'"),
        ({"units": 4, "learning_rate": -0.1}, "`learning_rate` must be a finite number >= 0"),
        ({"units": 4, "learning_rate": float("inf")}, "learning_rate=inf"),
        ({"units": 4, "connectivity": "sparse"}, "`connectivity` must be one of"),
        ({"units": 4, "connectivity_prob": 1.5}, r"`connectivity_prob` must be in \[0, 1\]"),
        ({"units": 4, "seed": 1.5}, "`seed` must be an int"),
    ],
)
def test_bad_arguments_raise_with_the_parameter_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HebbianDense(**kwargs)


def test_mask_of_wrong_shape_raises_at_build():
    layer = HebbianDense(3, connectivity=np.ones((5, 3), bool))
    with pytest.raises(ValueError, match=r"mask must have shape \(4, 3\)"):
        layer.build((None, 4))


def test_wrong_input_size_after_build_raises():
    layer = HebbianDense(3)
    layer(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        layer(np.zeros((2, 5), "float32"))


def test_get_config_round_trip():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5)
    layer = HebbianDense(
        7,
        rule="bcm",
        learning_rate=schedule,
        connectivity=np.eye(3, 7, dtype=bool),
        activation="relu",
        use_bias=True,
        kernel_constraint=keras.constraints.UnitNorm(axis=0),
        seed=3,
        name="h",
    )
    config = layer.get_config()
    clone = HebbianDense.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.learning_rate, keras.optimizers.schedules.ExponentialDecay)
    np.testing.assert_array_equal(np.asarray(clone.connectivity), np.eye(3, 7, dtype=bool))
