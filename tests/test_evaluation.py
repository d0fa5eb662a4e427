import numpy as np
import pytest

from keras_hebbian.evaluation import linear_probe, power_features, train_head
from keras_hebbian.plot import receptive_fields


def _separable(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    return np.eye(3)[labels] * 3 + rng.normal(size=(n, 3)) * 0.3, labels


def test_linear_probe_separates_separable_features():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=300)
    features = np.eye(3)[labels] * 3 + rng.normal(size=(300, 3)) * 0.3
    assert linear_probe(features[:200], labels[:200], features[200:], labels[200:]) > 0.95
    noise = rng.normal(size=(300, 3))
    assert linear_probe(noise[:200], labels[:200], noise[200:], labels[200:]) < 0.6


def test_power_features():
    np.testing.assert_allclose(power_features(np.array([-1.0, 0.5, 2.0]), 2.0), [0.0, 0.25, 4.0])


def test_train_head_learns_on_frozen_features_only():
    features, labels = _separable()
    accuracy = train_head(features[:200], labels[:200], features[200:], labels[200:],
                          epochs=20, batch_size=32, learning_rate=0.05)
    assert accuracy > 0.95
    noise = np.random.default_rng(1).normal(size=(300, 3))
    assert train_head(noise[:200], labels[:200], noise[200:], labels[200:], epochs=5) < 0.6


def test_receptive_fields_png(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(64, 30))
    path = tmp_path / "fields.png"
    receptive_fields(kernel, (8, 8), units=25, path=path, title="test")
    image = np.asarray(Image.open(path).convert("L"), dtype="float32")
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 10  # not blank
    with pytest.raises(ValueError, match=r"= \(64, units\)\. Received: \(60, 30\)"):
        receptive_fields(kernel[:60], (8, 8))
