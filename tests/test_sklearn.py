import warnings

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import check_estimator

from keras_hebbian import rules
from keras_hebbian.layers import HebbianDense
from keras_hebbian.sklearn import HebbianFeatures, HebbianPCA

DIGITS = load_digits().data


def _largest_angle(a, b):
    qa, _ = np.linalg.qr(a.T)
    qb, _ = np.linalg.qr(b.T)
    s = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1, 1)
    return np.degrees(np.arccos(s)).max()


def test_hebbian_pca_passes_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(HebbianPCA(max_iter=2))


def test_components_span_pca_subspace_in_order():
    hebbian = HebbianPCA(n_components=3, random_state=0).fit(DIGITS)
    pca = PCA(n_components=3).fit(DIGITS)
    assert _largest_angle(hebbian.components_, pca.components_) < 10.0
    cosines = np.abs(hebbian.components_ @ pca.components_.T)
    assert np.all(np.argmax(cosines, axis=1) == np.arange(3))
    np.testing.assert_allclose(hebbian.explained_variance_ratio_, pca.explained_variance_ratio_,
                               rtol=0.05)
    codes = hebbian.transform(DIGITS)
    assert codes.shape == (len(DIGITS), 3)
    error = np.mean((hebbian.inverse_transform(codes) - DIGITS) ** 2)
    pca_error = np.mean((pca.inverse_transform(pca.transform(DIGITS)) - DIGITS) ** 2)
    assert error < pca_error * 1.02


def test_partial_fit_over_batches_reaches_the_same_subspace():
    hebbian = HebbianPCA(n_components=3, random_state=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        for batch in np.array_split(DIGITS[rng.permutation(len(DIGITS))], 20):
            hebbian.partial_fit(batch)
    assert hebbian.n_samples_seen_ == 30 * len(DIGITS)
    assert _largest_angle(hebbian.components_, PCA(n_components=3).fit(DIGITS).components_) < 10.0


def _projected_variance(data, components):
    """NumPy: the variance of `data` along each component, and its share of the total."""
    variance = ((data - data.mean(axis=0)) @ components.T).var(axis=0, ddof=1)
    return variance, variance / data.var(axis=0, ddof=1).sum()


def test_explained_variance_after_partial_fit_describes_all_the_data_seen():
    hebbian = HebbianPCA(n_components=3, random_state=0)
    batches = np.array_split(DIGITS, 9)
    for count, batch in enumerate(batches, 1):
        hebbian.partial_fit(batch)
        seen = np.concatenate(batches[:count])
        variance, ratio = _projected_variance(seen, hebbian.components_)
        np.testing.assert_allclose(hebbian.explained_variance_, variance, rtol=1e-9)
        np.testing.assert_allclose(hebbian.explained_variance_ratio_, ratio, rtol=1e-9)
    # and not the variance of the last batch alone
    last, _ = _projected_variance(batches[-1], hebbian.components_)
    assert np.max(np.abs(hebbian.explained_variance_ / last - 1.0)) > 0.01


def test_explained_variance_after_fit_then_partial_fit():
    first, second = DIGITS[:1000], DIGITS[1000:] * 0.5 + 1.0
    hebbian = HebbianPCA(n_components=2, max_iter=3, random_state=0).fit(first)
    np.testing.assert_allclose(hebbian.explained_variance_,
                               _projected_variance(first, hebbian.components_)[0], rtol=1e-9)
    hebbian.partial_fit(second)
    variance, ratio = _projected_variance(np.concatenate([first, second]), hebbian.components_)
    np.testing.assert_allclose(hebbian.explained_variance_, variance, rtol=1e-9)
    np.testing.assert_allclose(hebbian.explained_variance_ratio_, ratio, rtol=1e-9)
    # a new fit forgets what was seen before
    hebbian.fit(second)
    np.testing.assert_allclose(hebbian.explained_variance_,
                               _projected_variance(second, hebbian.components_)[0], rtol=1e-9)


def _standard_batches(count, size, features, seed):
    """Batches of zero mean and unit mean square: the estimator's scaling leaves them as they are."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        batch = rng.exponential(size=(size, features))  # skewed, for BCM
        batch -= batch.mean(axis=0)
        batches.append(batch / np.sqrt(np.mean(batch**2)))
    return batches


def test_bcm_threshold_carries_over_partial_fit_calls_as_in_a_layer():
    features, units, rate = 6, 3, 0.05
    first, second = _standard_batches(2, 40, features, seed=0)

    def estimator():
        return HebbianPCA(n_components=units, rule="bcm", learning_rate=rate, batch_size=40,
                          decay_steps=1, random_state=0)

    streamed = estimator().partial_fit(first).partial_fit(second)
    fresh = estimator().partial_fit(second)
    assert set(streamed.rule_state_) == {"threshold"}
    assert not np.allclose(streamed.rule_state_["threshold"], fresh.rule_state_["threshold"],
                           rtol=1e-3)

    # A layer learning from the same batches in order, from the same first
    # weights, with the same decaying rate, reaches the same threshold.
    kernel = np.random.RandomState(0).normal(scale=1.0 / np.sqrt(features), size=(features, units))
    layer = HebbianDense(
        units, rule=rules.BCM(),
        learning_rate=keras.optimizers.schedules.InverseTimeDecay(rate, 1, 1.0),
        kernel_initializer=keras.initializers.Constant(kernel))
    for batch in (first, second):
        layer(keras.ops.convert_to_tensor(batch, "float32"), training=True)
    threshold = keras.ops.convert_to_numpy(layer.rule_state["threshold"].value)
    np.testing.assert_allclose(streamed.rule_state_["threshold"], threshold, rtol=1e-4)
    learned = keras.ops.convert_to_numpy(layer.kernel.value)
    np.testing.assert_allclose(streamed.components_,
                               (learned / np.linalg.norm(learned, axis=0)).T, rtol=1e-4, atol=1e-6)
    # fit starts the state afresh
    refit = streamed.fit(second)
    again = estimator().fit(second)
    np.testing.assert_array_equal(refit.rule_state_["threshold"], again.rule_state_["threshold"])


def test_stateless_rule_has_an_empty_state():
    assert HebbianPCA(n_components=2, max_iter=1, random_state=0).fit(DIGITS).rule_state_ == {}


def test_covariance_rule_object_keeps_its_running_means():
    pca = HebbianPCA(n_components=2, rule=rules.Covariance(decay=1.0), learning_rate=0.01,
                     batch_size=50, random_state=0)
    for batch in np.array_split(DIGITS[:200], 4):
        pca.partial_fit(batch)
    assert pca.rule_state_["count"] == 4.0  # one update per call, counted across the calls
    assert pca.rule_state_["input_mean"].shape == (64,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_components": 0}, "n_components must be an int in"),
        ({"n_components": 65}, r"n_components must be an int in \[1, n_features=64\]"),
        ({"rule": "softhebb"}, "rule must be 'sanger', 'oja', 'bcm' or a keras_hebbian.rules.Rule"),
        ({"rule": "oja", "n_components": 2}, "rule='oja' learns one component"),
        ({"learning_rate": 0.0}, "`learning_rate` must be a finite number > 0"),
        ({"learning_rate": -1.0}, "`learning_rate` must be a finite number"),
        ({"batch_size": 0}, "`batch_size` must be an int >= 1"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HebbianPCA(**kwargs).fit(DIGITS)


def test_hebbian_features_in_a_pipeline():
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target, random_state=0)
    pipeline = Pipeline([
        ("hebb", HebbianFeatures(n_units=64, epochs=5, random_state=0)),
        ("clf", LogisticRegression(max_iter=2000)),
    ])
    pipeline.fit(x_train, y_train)
    assert pipeline.named_steps["hebb"].transform(x_test).shape == (len(x_test), 64)
    assert pipeline.score(x_test, y_test) > 0.9
    with pytest.raises(ValueError, match="rule must be 'softhebb', 'wta' or 'krotov'"):
        HebbianFeatures(rule="oja").fit(x_train)
