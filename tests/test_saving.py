import keras
import numpy as np
import pytest
from conftest import fit_unsupervised

from keras_hebbian import rules
from keras_hebbian.layers import HebbianDense


def _weights(model):
    # Keyed by layer and variable name: a loaded model's paths have no prefix.
    return {
        f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v.value)
        for layer in model.layers
        for v in layer.weights
    }


@pytest.mark.parametrize(
    "rule",
    [rules.Oja(), rules.Sanger(), rules.BCM(threshold_rate=0.3), rules.Covariance(momentum=0.9)],
)
def test_keras_round_trip_is_exact(tmp_path, rule):
    x = np.abs(np.random.default_rng(0).normal(size=(256, 12))).astype("float32")
    layer = HebbianDense(
        5,
        rule=rule,
        learning_rate=keras.optimizers.schedules.ExponentialDecay(0.05, 4, 0.5),
        connectivity="random",
        connectivity_prob=0.6,
        activation="relu",
        seed=11,
    )
    model = fit_unsupervised(layer, x, epochs=2)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    restored_layer = restored.layers[0]

    saved, loaded = _weights(model), _weights(restored)
    assert saved.keys() == loaded.keys()
    for name in saved:
        np.testing.assert_array_equal(saved[name], loaded[name], err_msg=name)
        assert saved[name].dtype == loaded[name].dtype
    assert restored_layer.get_config() == layer.get_config()
    assert set(restored_layer.rule_state) == set(layer.rule_state)
    assert int(restored_layer.iterations.numpy()) == 16
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))

    # Learning goes on from where it stopped: one more epoch of each model
    # ends with the same weights.
    restored.compile()
    model.fit(x, batch_size=32, shuffle=False, verbose=0)
    restored.fit(x, batch_size=32, shuffle=False, verbose=0)
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, _weights(restored)[name], err_msg=name)


def test_bcm_threshold_state_is_saved(tmp_path):
    x = np.abs(np.random.default_rng(1).normal(size=(128, 6))).astype("float32")
    layer = HebbianDense(3, rule="bcm", activation="relu", learning_rate=0.01, seed=0)
    model = fit_unsupervised(layer, x)
    threshold = layer.rule_state["threshold"].numpy()
    assert np.all(threshold > 0)
    model.save(tmp_path / "bcm.keras")
    restored = keras.saving.load_model(tmp_path / "bcm.keras")
    np.testing.assert_array_equal(restored.layers[0].rule_state["threshold"].numpy(), threshold)


def test_hybrid_model_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(128, 10)).astype("float32")
    y = rng.integers(0, 2, size=128)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(8, activation="relu"),
            HebbianDense(4, rule="sanger", seed=0),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "hybrid.keras")
    restored = keras.saving.load_model(tmp_path / "hybrid.keras")
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, _weights(restored)[name], err_msg=name)
