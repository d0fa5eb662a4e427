import numpy as np
import pytest

from keras_hebbian import datasets


def _write_mnist(path, n_train=20, n_test=10, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=n_test).astype(np.uint8),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


def test_load_digits_is_offline_and_stratified():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    assert x_train.shape[1:] == (8, 8) and x_test.shape[1:] == (8, 8)
    assert len(x_train) + len(x_test) == 1797
    assert x_train.max() <= 16 and x_train.dtype == np.uint8
    assert set(np.unique(y_test)) == set(range(10))


def test_load_mnist_from_a_path_a_folder_and_the_environment(tmp_path, monkeypatch):
    arrays = _write_mnist(tmp_path / "mnist.npz")
    for source in (tmp_path / "mnist.npz", tmp_path):
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist(source)
        np.testing.assert_array_equal(x_train, arrays["x_train"])
        np.testing.assert_array_equal(y_test, arrays["y_test"])
    monkeypatch.setenv("KERAS_HEBBIAN_DATA", str(tmp_path))
    (x_train, _), _ = datasets.load_mnist()
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_load_mnist_missing_file_says_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST file not found: .*x_train, y_train, x_test, y_test"):
        datasets.load_mnist(tmp_path / "nothing.npz")


def test_load_mnist_malformed_files(tmp_path):
    _write_mnist(tmp_path / "partial.npz", y_test=None)
    with pytest.raises(ValueError, match=r"missing the arrays \['y_test'\]"):
        datasets.load_mnist(tmp_path / "partial.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="could not be read as an .npz file"):
        datasets.load_mnist(tmp_path / "text.npz")
    _write_mnist(tmp_path / "flat.npz", x_train=np.zeros((20, 784), np.uint8))
    with pytest.raises(ValueError, match=r"x_train must have shape \(n, height, width\)"):
        datasets.load_mnist(tmp_path / "flat.npz")


def test_real_mnist_when_available():
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist.npz")
    if not os.path.exists(path):
        pytest.skip("no local MNIST copy (../shared/data/mnist.npz)")
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(path)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist()[:2] == [5923, 6742]
