"""Shared fixtures. Each test process runs one backend, chosen by KERAS_BACKEND."""

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _clean_keras_state():
    keras.utils.clear_session()
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)  # shuffling in fit() and unseeded initializers
    yield
    keras.config.set_dtype_policy("float32")


def gaussian_data(n=4000, dim=10, seed=0):
    """Zero-mean Gaussian samples with a known covariance of distinct eigenvalues.

    Returns `(x, eigenvalues, eigenvectors)`, eigenvalues in decreasing order
    and eigenvectors as columns.
    """
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    eigenvalues = np.geomspace(4.0, 0.1, dim)
    cov = (q * eigenvalues) @ q.T
    x = rng.multivariate_normal(np.zeros(dim), cov, size=n).astype("float32")
    return x, eigenvalues, q


def principal_angles_deg(a, b):
    """Principal angles (degrees) between the column spaces of `a` and `b`."""
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    s = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1.0, 1.0)
    return np.degrees(np.arccos(s))


def fit_unsupervised(layer, x, epochs=1, batch_size=32):
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    model.compile()
    model.fit(x, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    return model


# Property tests (tests/test_properties.py): a fixed, derandomized profile, so
# every run checks the same examples; HYPOTHESIS_PROFILE=thorough for more.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "ci"))
