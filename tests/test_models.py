import keras
import numpy as np
import pytest

from keras_hebbian import models, rules
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
    with pytest.raises(ValueError, match=r"`blocks` must be one of \(2, 3\)"):
        models.softhebb_mnist(blocks=4)


def test_block_rules_replace_a_blocks_rule():
    first = rules.SoftHebb(temperature=0.3, max_normalize="unit")
    model = models.softhebb_mnist(width=0.05, blocks=2, block_rules=[first, None])
    convs = models.hebbian_layers(model)
    assert convs[0].rule is first
    assert convs[1].rule.max_normalize is True
    assert round(convs[1].rule.temperature, 4) == round(1 / 0.65, 4)
    named = models.softhebb_cifar10(width=0.05, block_rules=[None, "wta", None])
    assert type(models.hebbian_layers(named)[1].rule) is rules.WinnerTakeAll
    with pytest.raises(ValueError, match="`block_rules` must be None or a list of 3 entries"):
        models.softhebb_mnist(width=0.05, block_rules=[first])


def test_softhebb_mnist_first_block_divides_each_filters_step_unless_asked_for_the_paper():
    default = models.hebbian_layers(models.softhebb_mnist(width=0.05))
    assert default[0].rule.max_normalize == "unit" and default[0].rule.temperature == 0.3
    assert [c.rule.max_normalize for c in default[1:]] == [True, True]
    paper = models.hebbian_layers(models.softhebb_mnist(width=0.05, first_rule="paper"))
    assert paper[0].rule.max_normalize is True and paper[0].rule.temperature == 1.0
    # an explicit first-block rule wins over either
    wta = models.hebbian_layers(models.softhebb_mnist(width=0.05, block_rules=["wta", None, None]))
    assert type(wta[0].rule) is rules.WinnerTakeAll
    with pytest.raises(ValueError, match=r"`first_rule` must be one of \('unit', 'paper'\)"):
        models.softhebb_mnist(first_rule="published")

def test_unit_normalised_first_block_shrinks_to_its_norm_faster():
    # Under a layer-wide division the filter that wins the uniform background
    # sets the step's scale and the others move slowly; divided per unit,
    # every first-layer filter moves at its own rate toward its norm of 1
    # (from about 25). 50 steps: about 1.1-1.9 against 6-10 on every backend.
    rng = np.random.default_rng(0)
    x = np.zeros((200, 12, 12, 1), "float32")  # blank images with one short bar each
    for image, (row, col, vertical) in zip(x, rng.integers(0, 8, size=(200, 3))):
        if vertical % 2:
            image[row:row + 4, col, 0] = 1.0
        else:
            image[row, col:col + 4, 0] = 1.0  # a blank half, like MNIST's background
    norms = {}
    for normalize in (True, "unit"):
        model = models.softhebb_mnist(
            input_shape=(12, 12, 1), width=0.1, seed=0, blocks=2,
            block_rules=[rules.SoftHebb(temperature=0.3, max_normalize=normalize), None])
        model.compile()
        model.fit(x, epochs=1, batch_size=4, verbose=0)
        kernel = models.hebbian_layers(model)[0].kernel.numpy()
        norms[normalize] = np.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), axis=0)
    assert np.all(norms["unit"] > 0.99)
    assert np.median(norms["unit"]) < 2.5
    assert np.median(norms[True]) > 2.0 * np.median(norms["unit"])


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
