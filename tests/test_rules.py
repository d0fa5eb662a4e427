import keras
import numpy as np
import pytest
from conftest import fit_unsupervised, gaussian_data, principal_angles_deg
from sklearn.decomposition import PCA

from keras_hebbian import rules
from keras_hebbian.layers import HebbianDense
from keras_hebbian.rules import Presynaptic


def test_get_by_name_and_instance():
    assert isinstance(rules.get("oja"), rules.Oja)
    assert isinstance(rules.get("GHA"), rules.Sanger)
    assert isinstance(rules.get("bcm"), rules.BCM)
    rule = rules.Hebb(decay=0.5)
    assert rules.get(rule) is rule


def test_unknown_rule_names_the_parameter():
    with pytest.raises(ValueError, match=r"Unknown `rule`: 'ojah'"):
        rules.get("ojah")
    with pytest.raises(ValueError, match="`rule` must be"):
        rules.get(3.0)


@pytest.mark.parametrize(
    "rule",
    [
        rules.Hebb(decay=0.25),
        rules.Oja(),
        rules.Sanger(),
        rules.BCM(threshold_rate=0.5, normalize=True),
        rules.Covariance(momentum=0.9, decay=0.1),
    ],
)
def test_serialize_round_trip(rule):
    restored = rules.deserialize(rules.serialize(rule))
    assert type(restored) is type(rule)
    assert restored.get_config() == rule.get_config()
    assert rules.get(rules.serialize(rule)).get_config() == rule.get_config()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: rules.Hebb(decay=-1.0), "`decay` must be a finite number >= 0"),
        (lambda: rules.BCM(threshold_rate=0.0), "`threshold_rate` must be in"),
        (lambda: rules.Covariance(momentum=1.0), "`momentum` must be in"),
        (lambda: rules.Hebb(decay=float("nan")), "Received: decay=nan"),
    ],
)
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def _update(rule, x, y, kernel, state=None):
    pre = Presynaptic(keras.ops.convert_to_tensor(x))
    delta, new_state = rule.compute_update(
        pre,
        keras.ops.convert_to_tensor(y),
        keras.ops.convert_to_tensor(kernel),
        {k: keras.ops.convert_to_tensor(v) for k, v in (state or {}).items()},
    )
    return keras.ops.convert_to_numpy(delta), {
        k: keras.ops.convert_to_numpy(v) for k, v in new_state.items()
    }


def test_formulas_against_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5)).astype("float32")
    w = rng.normal(size=(5, 3)).astype("float32")
    y = x @ w
    n = len(x)
    hebb = x.T @ y / n
    np.testing.assert_allclose(_update(rules.Hebb(decay=0.5), x, y, w)[0], hebb - 0.5 * w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        _update(rules.Oja(), x, y, w)[0], hebb - w * (y**2).mean(0), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        _update(rules.Sanger(), x, y, w)[0],
        hebb - w @ np.triu(y.T @ y / n),
        rtol=1e-5,
        atol=1e-5,
    )
    # Sanger, sample by sample as Sanger wrote it: dw_j = y_j (x - sum_{k<=j} y_k w_k)
    expected = np.zeros_like(w)
    for xi, yi in zip(x, y):
        for j in range(w.shape[1]):
            expected[:, j] += yi[j] * (xi - w[:, : j + 1] @ yi[: j + 1])
    np.testing.assert_allclose(_update(rules.Sanger(), x, y, w)[0], expected / n, rtol=1e-4, atol=1e-4)


def test_bcm_threshold_slides_to_mean_square_and_sign_flips():
    rule = rules.BCM(threshold_rate=1.0)
    x = np.ones((4, 1), "float32")
    y = np.full((4, 2), 2.0, "float32")
    delta, state = _update(rule, x, y, np.zeros((1, 2), "float32"), {"threshold": np.array([0.0, 0.0], "float32")})
    np.testing.assert_allclose(state["threshold"], [4.0, 4.0])
    # y = 2 is below the new threshold 4: depression.
    assert np.all(delta < 0)
    rule = rules.BCM(threshold_rate=0.5)
    _, state = _update(rule, x, y, np.zeros((1, 2), "float32"), {"threshold": np.array([0.0, 8.0], "float32")})
    np.testing.assert_allclose(state["threshold"], [2.0, 6.0])


def test_covariance_ignores_constant_inputs():
    rule = rules.Covariance()
    rng = np.random.default_rng(1)
    signal = rng.normal(size=(64, 1)).astype("float32")
    # Input 0 co-varies with the output, input 1 is a large constant.
    x = np.concatenate([signal, np.full_like(signal, 5.0)], axis=1)
    y = 2.0 * signal
    spec = rule.state_spec((2, 1))
    state = {k: np.zeros(shape, "float32") for k, (shape, _) in spec.items()}
    delta, state = _update(rule, x, y, np.zeros((2, 1), "float32"), state)
    np.testing.assert_allclose(state["input_mean"], x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(delta[1, 0], 0.0, atol=1e-5)
    np.testing.assert_allclose(delta[0, 0], np.cov(signal[:, 0], y[:, 0], bias=True)[0, 1], rtol=1e-4)


def test_oja_learns_first_principal_component():
    x, _, eigenvectors = gaussian_data()
    layer = HebbianDense(1, rule="oja", learning_rate=0.01, seed=3)
    fit_unsupervised(layer, x, epochs=3)
    w = layer.kernel.numpy()[:, 0]
    cosine = abs(w @ eigenvectors[:, 0]) / np.linalg.norm(w)
    assert cosine >= 0.99
    assert abs(np.linalg.norm(w) - 1.0) < 0.05  # Oja's fixed point: unit norm


def test_sanger_recovers_principal_subspace_in_order():
    x, eigenvalues, _ = gaussian_data(n=6000)
    k = 3
    layer = HebbianDense(k, rule="sanger", learning_rate=0.01, seed=0)
    fit_unsupervised(layer, x, epochs=4)
    w = layer.kernel.numpy()
    pca = PCA(n_components=k).fit(x)
    assert principal_angles_deg(w, pca.components_.T).max() < 10.0
    # Columns in eigenvalue order: unit j aligns with component j.
    cosines = np.abs((w / np.linalg.norm(w, axis=0)).T @ pca.components_.T)
    assert np.all(np.argmax(cosines, axis=1) == np.arange(k))
    variances = (x @ w).var(axis=0)
    assert np.all(np.diff(variances) < 0)


def test_custom_rule_subclass_learns_and_saves(tmp_path):
    @keras.saving.register_keras_serializable(package="test_rules")
    class Instar(rules.Rule):
        def __init__(self, gain=1.0):
            self.gain = gain

        def compute_update(self, pre, post, kernel, state):
            delta = pre.correlate(post) - kernel * keras.ops.mean(post, axis=0)
            return self.gain * delta, state

        def get_config(self):
            return {"gain": self.gain}

    x = np.abs(np.random.default_rng(0).normal(size=(256, 6))).astype("float32")
    layer = HebbianDense(2, rule=Instar(gain=2.0), seed=0)
    before = np.array(layer(x[:1]) * 0)  # builds
    model = fit_unsupervised(layer, x)
    assert not np.allclose(layer.kernel.numpy(), before.sum())
    path = tmp_path / "instar.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.layers[0].rule.get_config() == {"gain": 2.0}
    np.testing.assert_array_equal(restored.layers[0].kernel.numpy(), layer.kernel.numpy())


def test_builtin_configs_are_unchanged():
    expected = {
        rules.Hebb(): {"decay": 0.0},
        rules.Hebb(decay=0.25): {"decay": 0.25},
        rules.Oja(): {},
        rules.Sanger(): {},
        rules.BCM(): {"threshold_rate": 0.1, "normalize": False, "epsilon": 1e-6, "decay": 0.0},
        rules.BCM(threshold_rate=0.5, normalize=True, epsilon=1e-3, decay=0.1):
            {"threshold_rate": 0.5, "normalize": True, "epsilon": 1e-3, "decay": 0.1},
        rules.Covariance(): {"momentum": 0.99, "decay": 0.0},
        rules.Covariance(momentum=0.9, decay=0.1): {"momentum": 0.9, "decay": 0.1},
        rules.AntiHebbian(): {"sparsity": 0.0, "decay": 0.0},
        rules.AntiHebbian(sparsity=0.2, decay=1.0): {"sparsity": 0.2, "decay": 1.0},
        rules.KrotovHopfield(): {"p": 3.0, "k": 7, "delta": 0.4},
        rules.KrotovHopfield(p=4.5, k=3, delta=0.2): {"p": 4.5, "k": 3, "delta": 0.2},
        rules.SoftHebb(): {"temperature": 1.0, "anti_hebbian": True, "adaptive": True,
                           "power": 0.5, "max_normalize": True},
        rules.SoftHebb(temperature=0.3, anti_hebbian=False, adaptive=False, power=1.5,
                       max_normalize="unit"):
            {"temperature": 0.3, "anti_hebbian": False, "adaptive": False, "power": 1.5,
             "max_normalize": "unit"},
        rules.WinnerTakeAll(): {"k": 1, "max_normalize": False},
        rules.WinnerTakeAll(k=3, max_normalize=True): {"k": 3, "max_normalize": True},
    }
    for rule, config in expected.items():
        assert rule.get_config() == config, repr(rule)
        serialized = rules.serialize(rule)
        assert serialized["config"] == config
        assert serialized["registered_name"] == f"keras_hebbian>{type(rule).__name__}"


def test_a_rule_that_returns_other_state_keys_fails_clearly():
    """A misspelt state key names the rule and both sets of keys, and changes nothing."""

    class Misspelt(rules.BCM):
        def core_update(self, pre, post, kernel, state):
            delta, new_state = super().core_update(pre, post, kernel, state)
            return delta, {"treshold": new_state["threshold"]}

    layer = HebbianDense(3, rule=Misspelt())
    x = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
    layer(x)
    before = layer.kernel.numpy().copy()
    with pytest.raises(ValueError, match=r"returned the state \['treshold'\]; its `state_spec` "
                                         r"declares \['threshold'\]"):
        layer(x, training=True)
    np.testing.assert_array_equal(layer.kernel.numpy(), before)
