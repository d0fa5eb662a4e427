"""Datasets for Hebbian learning: MNIST and scikit-learn's digits.

Every loader returns `(x_train, y_train), (x_test, y_test)` like
`keras.datasets`, images as arrays of shape `(samples, height, width)`.
"""

import os

import numpy as np

DATA_ENV = "KERAS_HEBBIAN_DATA"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_digits(test_size=0.25, seed=0):
    """The 8x8 handwritten digits shipped inside scikit-learn (offline).

    Args:
        test_size: fraction of the 1,797 images held out for testing.
        seed: seed of the stratified split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 8, 8)` with
        values 0..16 and int labels 0..9.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    digits = sk_load_digits()
    images = digits.images.astype("uint8")
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_size, random_state=seed, stratify=digits.target
    )
    return (x_train, y_train), (x_test, y_test)


def _local_mnist_path(path):
    if path is None:
        path = os.environ.get(DATA_ENV)
    if path is None:
        return None
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "mnist.npz")
    return path


def load_mnist(path=None):
    """MNIST in the layout of `keras.datasets.mnist.load_data()`.

    Args:
        path: a local `.npz` file with the keys `x_train`, `y_train`,
            `x_test`, `y_test` (or a folder holding `mnist.npz`). When `None`,
            the environment variable `KERAS_HEBBIAN_DATA` is used if set;
            otherwise `keras.datasets.mnist` downloads the data.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 28, 28)`
        and uint8 labels.

    Raises:
        ConnectionError: no local copy was named and the download failed.
        FileNotFoundError: the local file does not exist.
        ValueError: the file is not an `.npz` with the expected arrays.
    """
    local = _local_mnist_path(path)
    if local is None:
        import keras

        try:
            return keras.datasets.mnist.load_data()
        except Exception as error:  # keras.utils.get_file raises a bare Exception
            reason = " ".join(str(error).split())
            raise ConnectionError(
                f"MNIST could not be downloaded ({reason}). Use a local copy: an .npz "
                f"with the keys {', '.join(MNIST_KEYS)}, passed as `path=` or named by "
                f"{DATA_ENV}."
            ) from None
    if not os.path.isfile(local):
        raise FileNotFoundError(
            f"MNIST file not found: {local!r}. Expected an .npz file with the keys "
            f"{', '.join(MNIST_KEYS)} (pass `path=` or set {DATA_ENV})."
        )
    try:
        with np.load(local, allow_pickle=False) as data:
            arrays = {key: data[key] for key in MNIST_KEYS if key in data.files}
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(
            f"{local!r} could not be read as an .npz file with the keys "
            f"{', '.join(MNIST_KEYS)}: {error}"
        ) from None
    missing = [key for key in MNIST_KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{local!r} is not an MNIST .npz: missing the arrays {missing}; "
            f"expected the keys {', '.join(MNIST_KEYS)}."
        )
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or len(x) != len(y):
            raise ValueError(
                f"{local!r}: x_{split} must have shape (n, height, width) and y_{split} "
                f"shape (n,); got {x.shape} and {y.shape}."
            )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
