import keras
import numpy as np
import pytest

from keras_hebbian import models
from keras_hebbian.layers import HebbianConv2D


def _synthetic_images(n=96, size=32, channels=3, seed=0):
    """Two classes of striped images: dark (0) or bright (1), plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    grid = np.sin(np.arange(size) * 0.8)
    stripes = np.stack([np.tile(grid[:, None], (1, size)), np.tile(grid[None, :], (size, 1))])
    orientation = rng.integers(0, 2, size=n)
    x = stripes[orientation][..., None] + (labels - 0.5)[:, None, None, None]
    x = x + 0.3 * rng.normal(size=(n, size, size, channels))
    return x.astype("float32"), labels


def test_published_cifar10_architecture():
    model = models.softhebb_cifar10()
    convs = [layer for layer in model.layers if isinstance(layer, HebbianConv2D)]
    assert [c.filters for c in convs] == [96, 384, 1536]
    assert [c.kernel_size for c in convs] == [(5, 5), (3, 3), (3, 3)]
    assert [round(c.rule.temperature, 4) for c in convs] == [1.0, round(1 / 0.65, 4), 4.0]
    assert model.output_shape == (None, 24576)
    assert models.softhebb_mnist(blocks=2).output_shape == (None, 7 * 7 * 384)
    three = models.softhebb_mnist()
    convs = [layer for layer in three.layers if isinstance(layer, HebbianConv2D)]
    assert [c.filters for c in convs] == [96, 384, 1536]
    assert three.output_shape == (None, 3 * 3 * 1536)
    with pytest.raises(ValueError, match="`blocks` must be 2 or 3"):
        models.softhebb_mnist(blocks=4)


def test_cifar10_pipeline_on_synthetic_images():
    x, _ = _synthetic_images()
    model = models.softhebb_cifar10(width=0.1, seed=0)
    model.compile()
    untrained = model.predict(x, verbose=0)
    convs = models.hebbian_layers(model)
    before = [c.kernel.numpy().copy() for c in convs]
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    for conv, kernel in zip(convs, before):
        assert not np.allclose(conv.kernel.numpy(), kernel)
        assert np.all(np.isfinite(conv.kernel.numpy()))
    features = model.predict(x, verbose=0)
    assert features.shape == (96, 4 * 4 * 154)
    assert np.all(np.isfinite(features)) and features.std() > 0
    assert not np.allclose(features, untrained)


def test_fit_greedy_trains_one_layer_at_a_time():
    x, _ = _synthetic_images(n=32, size=16, channels=1)
    model = models.softhebb_mnist(input_shape=(16, 16, 1), width=0.05, seed=1, blocks=2)
    first, second = models.hebbian_layers(model)
    model.build((None, 16, 16, 1))
    first_before, second_before = first.kernel.numpy().copy(), second.kernel.numpy().copy()
    models.fit_greedy(model, x, epochs=[1, 0], batch_size=8, verbose=0)
    assert not np.allclose(first.kernel.numpy(), first_before)
    np.testing.assert_array_equal(second.kernel.numpy(), second_before)
    assert first.trainable and second.trainable
    after_first = first.kernel.numpy().copy()
    models.fit_greedy(model, x, epochs=[0, 1], batch_size=8, verbose=0)
    np.testing.assert_array_equal(first.kernel.numpy(), after_first)
    assert not np.allclose(second.kernel.numpy(), second_before)


def test_fit_greedy_errors():
    with pytest.raises(ValueError, match="no Hebbian layer"):
        models.fit_greedy(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), np.zeros((2, 2)))
    model = models.softhebb_mnist(width=0.05, blocks=2)
    with pytest.raises(ValueError, match=r"`epochs` must be an int or a list of 2 ints"):
        models.fit_greedy(model, np.zeros((2, 28, 28, 1)), epochs=[1, 1, 1])
