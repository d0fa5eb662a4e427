import numpy as np
import pytest

from keras_hebbian.evaluation import linear_probe, power_features, train_head
from keras_hebbian.evaluation.heads import head_schedule
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


def _png_stats(path):
    from PIL import Image

    image = np.asarray(Image.open(path).convert("L"), dtype="float32")
    return image.shape, image.std()


def test_conv_filters_png(tmp_path):
    from keras_hebbian.plot import conv_filters

    kernel = np.random.default_rng(0).normal(size=(5, 5, 3, 12))
    conv_filters(kernel, path=tmp_path / "rgb.png")
    conv_filters(kernel[:, :, :2], path=tmp_path / "mean.png")
    for name in ("rgb.png", "mean.png"):
        shape, std = _png_stats(tmp_path / name)
        assert min(shape) > 100 and std > 10
    with pytest.raises(ValueError, match=r"\(kh, kw, channels, filters\)"):
        conv_filters(kernel[0])


def test_norm_convergence_and_correlation_pngs(tmp_path):
    from keras_hebbian.plot import correlation_matrices, norm_convergence

    logs = {"a/weight_norm": [3.0, 2.0, 1.1], "a/norm_distance": [2.0, 1.0, 0.1], "loss": [0, 0, 0]}
    norm_convergence(logs, path=tmp_path / "curves.png")
    shape, std = _png_stats(tmp_path / "curves.png")
    assert shape[1] > shape[0] and std > 5
    with pytest.raises(ValueError, match="no HebbianMonitor entries"):
        norm_convergence({"loss": [0.0]})
    c = np.corrcoef(np.random.default_rng(0).normal(size=(4, 50)))
    correlation_matrices([c, np.eye(4)], titles=["before", "after"], path=tmp_path / "corr.png")
    assert _png_stats(tmp_path / "corr.png")[1] > 10


def test_tanh_head_learns_and_beats_chance():
    features, labels = _separable()
    features = np.abs(features)
    accuracy = train_head(features[:200], labels[:200], features[200:], labels[200:],
                          power=2.0, head="tanh", epochs=30, batch_size=32,
                          learning_rate=0.01, beta=3.0)
    assert accuracy > 0.95
    noise = np.abs(np.random.default_rng(1).normal(size=(300, 3)))
    assert train_head(noise[:200], labels[:200], noise[200:], labels[200:], head="tanh",
                      epochs=5) < 0.6


@pytest.mark.parametrize("head", ["softmax", "tanh"])
def test_head_with_dropout_learns(head):
    features, labels = _separable()
    # dropout is meant for many redundant features: 20 noisy copies of each
    noise = np.random.default_rng(2).normal(size=(len(features), 60)) * 0.3
    features = np.abs(np.repeat(features, 20, axis=1) + noise)
    accuracy = train_head(features[:200], labels[:200], features[200:], labels[200:],
                          head=head, epochs=30, batch_size=32, learning_rate=0.01, beta=3.0,
                          dropout=0.5)
    assert accuracy > 0.9


def test_step_schedule_halves_the_rate_at_the_milestones():
    step = head_schedule("step", 1e-3, 1000)
    rates = [float(step(i)) for i in (0, 199, 201, 349, 351, 501, 601, 701, 801, 999)]
    expected = [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 1.25e-4, 6.25e-5, 3.125e-5, 1.5625e-5, 7.8125e-6]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    cosine = head_schedule("cosine", 1e-3, 1000)
    np.testing.assert_allclose([float(cosine(i)) for i in (0, 500, 1000)], [1e-3, 5e-4, 0.0],
                               atol=1e-9)


def test_head_learns_from_raw_features_with_the_step_schedule():
    features, labels = _separable()
    # unstandardised, non-negative features on their own scale
    features = np.abs(features) * 5.0
    accuracy = train_head(features[:200], labels[:200], features[200:], labels[200:],
                          epochs=20, batch_size=32, learning_rate=0.05, standardize=False,
                          schedule="step")
    assert accuracy > 0.95


@pytest.mark.parametrize(
    "kwargs, message",
    [({"head": "svm"}, "`head` must be one of"),
     ({"schedule": "linear"}, "`schedule` must be one of"), ({"beta": 0.0}, "beta=0.0"),
     ({"head": "tanh", "m": 0.5}, "`m` must be >= 1"),
     ({"dropout": 1.0}, "`dropout` must be in"), ({"dropout": -0.1}, "dropout=-0.1")],
)
def test_train_head_rejects_bad_settings(kwargs, message):
    features, labels = _separable(n=20)
    with pytest.raises(ValueError, match=message):
        train_head(features, labels, features, labels, **kwargs)
