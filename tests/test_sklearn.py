import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import check_estimator

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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_components": 0}, "n_components must be an int in"),
        ({"n_components": 65}, r"n_components must be an int in \[1, n_features=64\]"),
        ({"rule": "bcm"}, "rule must be 'sanger' or 'oja'"),
        ({"rule": "oja", "n_components": 2}, "rule='oja' learns one component"),
        ({"learning_rate": -1.0}, "learning_rate must be a finite number > 0"),
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
