"""`recipes.hybrid_hebbian_block`: a Hebbian layer trained in one `fit(x, y)` with backprop.

The block trains with the layers around it on scikit-learn's digits, and the
properties that keep such a network from losing accuracy hold: the Hebbian
units keep distinct directions (Oja's rule turns them all toward one), the
kernel stays bounded, the normalisation holds the scale of what the next
layer sees, and the rate has decayed to zero by the end of training.
"""

import keras
import numpy as np
import pytest

from keras_hebbian import datasets, models, recipes, rules
from keras_hebbian.layers import HebbianConv2D, HebbianDense

EPOCHS = 3
BATCH_SIZE = 32


@pytest.fixture(scope="module")
def digits():
    (x, y), (x_test, y_test) = datasets.load_digits()
    def flat(images):
        return (images.reshape(len(images), -1) / 16.0).astype("float32")

    return (flat(x), y), (flat(x_test), y_test)


def steps_of(x):
    return EPOCHS * -(-len(x) // BATCH_SIZE)


def hybrid_model(x, learning_rate, seed=0):
    block = recipes.hybrid_hebbian_block(16, steps_of(x), learning_rate=learning_rate, seed=seed,
                                         name="hebbian")
    return models.Sequential(
        [keras.Input(x.shape[1:]), keras.layers.Dense(32, activation="relu"), *block,
         keras.layers.Dense(10, activation="softmax")]
    )


def largest_cosine(kernel):
    """The largest |cosine| between two different units' weight vectors."""
    units = kernel / np.linalg.norm(kernel, axis=0, keepdims=True)
    cosines = np.abs(units.T @ units)
    np.fill_diagonal(cosines, 0.0)
    return float(cosines.max())


def test_block_layers_and_rate():
    layer, norm, relu = recipes.hybrid_hebbian_block(8, 100, seed=3)
    assert isinstance(layer, HebbianDense) and layer.units == 8 and layer.seed == 3
    assert isinstance(layer.rule, rules.Sanger)
    assert isinstance(norm, keras.layers.BatchNormalization)
    assert isinstance(relu, keras.layers.ReLU)
    rate = layer.learning_rate
    assert float(rate(0)) == pytest.approx(0.001)
    assert float(rate(50)) == pytest.approx(0.0005)
    assert float(rate(100)) == 0.0 and float(rate(1000)) == 0.0
    conv = recipes.hybrid_hebbian_block(4, 10, kernel_size=3, padding="same")[0]
    assert isinstance(conv, HebbianConv2D) and conv.filters == 4
    assert conv.kernel_size == (3, 3) and conv.padding == "same"


def test_trains_in_one_fit_and_keeps_units_apart(digits):
    (x, y), (x_test, y_test) = digits
    # Ten times the default rate, so that on these few steps the kernel moves
    # far from its start: with Oja's rule instead of Sanger's the units then
    # end up nearly parallel and the accuracy falls to about 0.4.
    model = hybrid_model(x, learning_rate=0.01)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hebbian = model.get_layer("hebbian")
    start = keras.ops.convert_to_numpy(hebbian.kernel)
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
    kernel = keras.ops.convert_to_numpy(hebbian.kernel)

    # The kernel learned by its rule, all the way to the end of the schedule.
    assert int(keras.ops.convert_to_numpy(hebbian.iterations)) == steps_of(x)
    assert np.abs(kernel - start).max() > 1e-3
    # The backprop layers learned too: the network classifies.
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.8

    # The units keep distinct directions and bounded norms.
    assert np.all(np.isfinite(kernel))
    assert largest_cosine(kernel) < 0.9
    assert np.min(np.linalg.svd(kernel, compute_uv=False)) > 0.1
    assert np.linalg.norm(kernel, axis=0).max() < 3.0

    # What the next layer sees keeps its scale: the normalised responses.
    block_output = model.layers[model.layers.index(hebbian) + 1].output
    probe = keras.Model(model.inputs, block_output)
    responses = probe.predict(x_test, verbose=0)
    spread = responses.std(axis=0)
    assert np.all(spread < 3.0)
    assert np.median(spread) > 0.3

    # The rate has reached zero: more training leaves the kernel as it is.
    model.fit(x[:64], y[:64], epochs=1, batch_size=BATCH_SIZE, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(hebbian.kernel), kernel, atol=1e-6)
