import keras
import numpy as np
import pytest
from conftest import fit_unsupervised, gaussian_data, principal_angles_deg
from sklearn.decomposition import PCA

from keras_hebbian import rules
from keras_hebbian.constraints import MaxSpectralNorm
from keras_hebbian.layers import Hebbian, HebbianDense, SimilarityMatching


def _correlated(n=4000, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, 1))
    return (rng.normal(size=(n, dim)) + common).astype("float32")


def _mean_off_diagonal_correlation(y):
    c = np.corrcoef(y.T)
    return np.abs(c[~np.eye(len(c), dtype=bool)]).mean()


def _record_kernels(model, x, name="kernel", **fit_kwargs):
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(getattr(self.model.layers[-1], name).numpy().copy())

    model.fit(x, verbose=0, callbacks=[Record()], **fit_kwargs)
    return seen


@pytest.mark.parametrize("output_dim", [24, 256])
def test_original_hebbian_snippet_works(output_dim):
    x = np.random.default_rng(0).normal(size=(96, 256, 1)).astype("float32")
    model = keras.Sequential([keras.Input((256, 1)), Hebbian(output_dim=output_dim)])
    model.compile()
    kernels = _record_kernels(model, x, epochs=1, batch_size=32)
    assert len(kernels) == 3
    for before, after in zip(kernels, kernels[1:]):
        assert not np.array_equal(before, after)
    assert model.predict(x, verbose=0).shape == (96, output_dim)
    layer = model.layers[-1]
    assert layer.kernel.shape == (256, output_dim)
    assert layer.lateral_kernel.shape == (output_dim, output_dim)
    assert np.any(layer.lateral_kernel.numpy() != 0.0)
    assert np.all(np.diag(layer.lateral_kernel.numpy()) == 0.0)


def test_original_hebbian_rejects_a_different_input_shape():
    layer = Hebbian(output_dim=4)
    layer(np.zeros((2, 8, 1), "float32"))
    with pytest.raises(ValueError, match=r"must have shape \(batch, 8, 1\)"):
        layer(np.zeros((2, 9, 1), "float32"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: HebbianDense(6, rule="oja", lateral="hebb", learning_rate=0.01),
        lambda: HebbianDense(6, rule="oja", lateral="anti_hebbian", learning_rate=0.01,
                             activation="relu"),
        lambda: Hebbian(output_dim=6, eta=0.01),
        lambda: SimilarityMatching(6, learning_rate=0.01),
    ],
    ids=["hebb", "anti_hebbian_relu", "original", "similarity_matching"],
)
def test_lateral_diagonal_exactly_zero_after_1000_updates(make):
    x = _correlated(n=8000, dim=10)
    layer = make()
    fit_unsupervised(layer, x, batch_size=8)
    assert int(layer.iterations.numpy()) == 1000
    lateral = layer.lateral_kernel.numpy()
    assert np.all(np.diag(lateral) == 0.0)
    assert np.any(lateral != 0.0)
    assert np.all(np.isfinite(lateral))


def test_foldiak_anti_hebbian_lateral_learning_decorrelates():
    x = _correlated()
    layer = HebbianDense(
        4,
        learning_rate=0.0,  # a fixed feed-forward kernel: only the lateral matrix learns
        kernel_initializer="identity",
        lateral="foldiak",
        lateral_learning_rate=keras.optimizers.schedules.ExponentialDecay(0.05, 125, 0.5),
    )
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile()
    before = _mean_off_diagonal_correlation(model.predict(x, verbose=0))
    model.fit(x, epochs=4, batch_size=32, verbose=0)
    after = _mean_off_diagonal_correlation(model.predict(x, verbose=0))
    assert before > 0.3
    assert after < 0.05
    lateral = layer.lateral_kernel.numpy()
    assert np.all(lateral[~np.eye(4, dtype=bool)] < 0)  # learned inhibition


def test_similarity_matching_finds_principal_subspace():
    x, _, _ = gaussian_data(n=6000)
    layer = SimilarityMatching(3, learning_rate=0.01, seed=0)
    fit_unsupervised(layer, x, epochs=6)
    pca = PCA(n_components=3).fit(x)
    assert principal_angles_deg(layer.kernel.numpy(), pca.components_.T).max() < 10.0
    assert np.all(np.diag(layer.lateral_kernel.numpy()) == 0.0)
    gain = layer.self_gain.numpy()
    np.testing.assert_array_equal(gain, np.diag(np.diag(gain)))


def test_guard_bounds_the_spectral_norm_of_the_lateral_matrix():
    x = _correlated(n=2000, dim=6) * 3
    layer = HebbianDense(6, rule="oja", lateral="hebb", lateral_learning_rate=1.0,
                         lateral_max_norm=0.5, seed=0)
    model = fit_unsupervised(layer, x)
    assert np.linalg.norm(layer.lateral_kernel.numpy(), 2) <= 0.5 * 1.01
    assert np.all(np.isfinite(model.predict(x, verbose=0)))


def test_max_spectral_norm_constraint():
    w = np.diag([3.0, 1.0, 0.1]).astype("float32") + 0.01
    capped = keras.ops.convert_to_numpy(MaxSpectralNorm(0.9)(keras.ops.convert_to_tensor(w)))
    np.testing.assert_allclose(np.linalg.norm(capped, 2), 0.9, rtol=1e-3)
    small = np.eye(3, dtype="float32") * 0.2
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(MaxSpectralNorm(0.9)(keras.ops.convert_to_tensor(small))), small
    )
    with pytest.raises(ValueError, match="`max_norm` must be"):
        MaxSpectralNorm(-1.0)


def test_settling_closed_form_and_iteration_agree():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5)).astype("float32")
    lateral = rng.normal(size=(4, 4)).astype("float32") * 0.2
    np.fill_diagonal(lateral, 0.0)
    closed = HebbianDense(4, lateral="anti_hebbian", seed=1)
    iterated = HebbianDense(4, lateral="anti_hebbian", lateral_iterations=200, seed=1)
    for layer in (closed, iterated):
        layer.build((None, 5))
        layer.lateral_kernel.assign(lateral)
    y_closed = keras.ops.convert_to_numpy(closed(x))
    y_iter = keras.ops.convert_to_numpy(iterated(x))
    drive = x @ closed.kernel.numpy()
    np.testing.assert_allclose(y_closed, drive @ np.linalg.inv(np.eye(4) - lateral), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y_iter, y_closed, rtol=1e-3, atol=1e-3)
    # A nonlinear loop settles at its fixed point y = relu(drive + y L).
    relu = HebbianDense(4, lateral="anti_hebbian", activation="relu", lateral_iterations=100, seed=1)
    relu.build((None, 5))
    relu.lateral_kernel.assign(lateral)
    y = keras.ops.convert_to_numpy(relu(x))
    np.testing.assert_allclose(y, np.maximum(drive + y @ lateral, 0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: HebbianDense(5, rule="sanger", lateral=rules.AntiHebbian(sparsity=0.1),
                             lateral_learning_rate=0.02, activation="relu", lateral_iterations=5,
                             seed=2),
        lambda: Hebbian(output_dim=5, lmbda=0.5, eta=0.01, seed=2),
        lambda: SimilarityMatching(5, learning_rate=0.02, tau=0.4, seed=2),
    ],
    ids=["dense", "original", "similarity_matching"],
)
def test_lateral_models_round_trip_exactly(tmp_path, make):
    x = _correlated(n=256, dim=8)
    layer = make()
    model = fit_unsupervised(layer, x)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    model.save(tmp_path / "lateral.keras")
    restored = keras.saving.load_model(tmp_path / "lateral.keras")
    restored_layer = restored.layers[-1]
    assert len(restored_layer.weights) == len(layer.weights)
    for a, b in zip(layer.weights, restored_layer.weights):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: HebbianDense(3, lateral="lateral"), "Unknown `rule`: 'lateral'"),
        (lambda: HebbianDense(3, lateral="hebb", lateral_iterations=0), "`lateral_iterations` must be"),
        (lambda: HebbianDense(3, lateral="hebb", lateral_max_norm=-1.0), "`lateral_max_norm` must be"),
        (lambda: HebbianDense(3, lateral="hebb", lateral_learning_rate=-1.0),
         "`lateral_learning_rate` must be"),
        (lambda: SimilarityMatching(3, tau=0.0), "`tau` must be a finite number > 0"),
        (lambda: Hebbian(3, eta=-1.0), "`eta` must be a finite number >= 0"),
        (lambda: Hebbian(3, lmbda=float("nan")), "`lmbda` must be"),
        (lambda: rules.AntiHebbian(sparsity=2.0), r"`sparsity` must be in \[0, 1\]"),
    ],
)
def test_bad_lateral_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()
