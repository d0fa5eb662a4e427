"""Training recipes: the rules, initial weights and learning rates that work.

A Hebbian layer learns well only with a rule, an initial weight scale and a
learning rate that suit each other and the inputs. This module gives each
combination that the library's command line, estimators, models and
benchmarks use one name, so they all build the same thing:

- `softhebb_dense`: SoftHebb on a dense layer, as in the MNIST benchmark
  (`benchmarks/mnist_competitive.py`) and `keras_hebbian.sklearn.HebbianFeatures`;
  inputs scaled to unit norm.
- `softhebb_dense_demo`: SoftHebb tuned so that almost every unit learns,
  as `keras-hebbian train` runs it; inputs scaled to unit norm.
- `winner_take_all_dense`: hard winner-take-all with max-normalised steps;
  inputs scaled to unit norm.
- `krotov_hopfield_dense`: Krotov & Hopfield's rule with a learning rate
  annealed linearly to zero; pixels in [0, 1]; `krotov_hopfield_features`
  reads its features as the paper's classifier does.
- `softhebb_conv_initializer` and `SoftHebbBlock` with the published block
  presets: the convolutional SoftHebb networks of
  `keras_hebbian.models`.

Example:

```python
import keras
from keras_hebbian import recipes

model = keras.Sequential([
    keras.Input((784,)),
    keras.layers.UnitNormalization(),
    recipes.softhebb_dense(2000, seed=0),
])
model.compile()
model.fit(x, epochs=1, batch_size=100)  # no labels
```
"""

import math
from typing import NamedTuple

import keras

from keras_hebbian import rules
from keras_hebbian.layers.hebbian_conv2d import HebbianConv2D
from keras_hebbian.layers.hebbian_dense import HebbianDense

#: Standard deviation of the initial weights of `softhebb_dense` and
#: `winner_take_all_dense` (inputs at unit norm).
SOFTHEBB_DENSE_STDDEV = 0.7
#: Standard deviation of the initial weights of `softhebb_dense_demo`.
SOFTHEBB_DENSE_DEMO_STDDEV = 1.0
#: Standard deviation of the initial weights of `krotov_hopfield_dense`.
KROTOV_HOPFIELD_STDDEV = 1.0
#: The initial filter scale of SoftHebb convolutions is this over
#: `sqrt(fan_in)`, as in the paper's code.
SOFTHEBB_CONV_SCALE = 25.0


# -- SoftHebb, dense --------------------------------------------------------------


def softhebb_dense_rule(temperature=0.02):
    """The rule of `softhebb_dense`: `SoftHebb` at a low temperature.

    Args:
        temperature: float > 0, SoftHebb's softmax temperature. Defaults to
            `0.02`.

    Returns:
        A `keras_hebbian.rules.SoftHebb`.

    Example:

    >>> recipes.softhebb_dense_rule().temperature
    0.02
    """
    return rules.SoftHebb(temperature=temperature)


def softhebb_dense_initializer(seed=None):
    """The initial weights of `softhebb_dense`: normal, standard deviation 0.7.

    Args:
        seed: int or `None`.

    Returns:
        A `keras.initializers.RandomNormal`.

    Example:

    >>> recipes.softhebb_dense_initializer(seed=0).stddev
    0.7
    """
    return keras.initializers.RandomNormal(stddev=SOFTHEBB_DENSE_STDDEV, seed=seed)


def softhebb_dense(units, learning_rate=0.05, temperature=0.02, seed=None, **kwargs):
    """A dense SoftHebb layer, as the MNIST benchmark trains it.

    `SoftHebb(temperature=0.02)` (soft winner-take-all, with the
    anti-Hebbian push away from the inputs a unit loses), initial weights
    drawn from a normal of standard deviation 0.7, learning rate 0.05. The
    layer expects inputs scaled to unit norm (put a
    `keras.layers.UnitNormalization` before it); one epoch on MNIST's 60,000
    images with 2000 units is the benchmark's run.

    Args:
        units: int >= 1, the number of units.
        learning_rate: float >= 0 or a schedule. Defaults to `0.05`.
        temperature: float > 0, SoftHebb's temperature. Defaults to `0.02`.
        seed: int or `None`: seeds the initial weights.
        **kwargs: passed on to `HebbianDense` (`name`, `dtype`, ...).

    Returns:
        A `keras_hebbian.layers.HebbianDense`.

    Example:

    ```python
    model = keras.Sequential([keras.Input((784,)), keras.layers.UnitNormalization(),
                              recipes.softhebb_dense(2000, seed=0)])
    ```
    """
    return HebbianDense(
        units,
        rule=softhebb_dense_rule(temperature),
        learning_rate=learning_rate,
        kernel_initializer=softhebb_dense_initializer(seed),
        seed=seed,
        **kwargs,
    )


def softhebb_dense_demo_rule():
    """The rule of `softhebb_dense_demo`: SoftHebb in which every unit learns.

    `SoftHebb(temperature=0.02, anti_hebbian=False, max_normalize="unit")`:
    each unit's step is divided by its own largest entry, and there is no
    push away from the inputs a unit loses, so every unit moves toward what
    it wins at its own rate and almost none is left at its random start.

    Returns:
        A `keras_hebbian.rules.SoftHebb`.

    Example:

    >>> recipes.softhebb_dense_demo_rule().max_normalize
    'unit'
    """
    return rules.SoftHebb(temperature=0.02, anti_hebbian=False, max_normalize="unit")


def softhebb_dense_demo(units, learning_rate=0.05, seed=None, **kwargs):
    """A dense SoftHebb layer in which almost every unit learns (`keras-hebbian train`).

    The rule of `softhebb_dense_demo_rule`, initial weights drawn from a
    standard normal, learning rate 0.05. On a few epochs of small data (the
    command line's default, scikit-learn's digits) it leaves almost no unit
    at its random start. The layer expects inputs scaled to unit norm.

    Args:
        units: int >= 1, the number of units.
        learning_rate: float >= 0 or a schedule. Defaults to `0.05`.
        seed: int or `None`: seeds the initial weights.
        **kwargs: passed on to `HebbianDense`.

    Returns:
        A `keras_hebbian.layers.HebbianDense`.

    Example:

    ```python
    model = keras.Sequential([keras.Input((64,)), keras.layers.UnitNormalization(),
                              recipes.softhebb_dense_demo(64, seed=0)])
    ```
    """
    return HebbianDense(
        units,
        rule=softhebb_dense_demo_rule(),
        learning_rate=learning_rate,
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=SOFTHEBB_DENSE_DEMO_STDDEV, seed=seed
        ),
        seed=seed,
        **kwargs,
    )


# -- hard winner-take-all, dense --------------------------------------------------


def winner_take_all_rule():
    """The rule of `winner_take_all_dense`: one winner, max-normalised steps.

    Returns:
        `keras_hebbian.rules.WinnerTakeAll(max_normalize=True)`.

    Example:

    >>> recipes.winner_take_all_rule().max_normalize
    True
    """
    return rules.WinnerTakeAll(max_normalize=True)


def winner_take_all_dense(units, learning_rate=0.05, seed=None, **kwargs):
    """A dense hard winner-take-all layer, as the MNIST benchmark trains it.

    `WinnerTakeAll(max_normalize=True)`, the initial weights of
    `softhebb_dense` (normal, standard deviation 0.7), learning rate 0.05;
    inputs scaled to unit norm.

    Args:
        units: int >= 1, the number of units.
        learning_rate: float >= 0 or a schedule. Defaults to `0.05`.
        seed: int or `None`: seeds the initial weights.
        **kwargs: passed on to `HebbianDense`.

    Returns:
        A `keras_hebbian.layers.HebbianDense`.

    Example:

    >>> layer = recipes.winner_take_all_dense(2000, seed=0)
    """
    return HebbianDense(
        units,
        rule=winner_take_all_rule(),
        learning_rate=learning_rate,
        kernel_initializer=softhebb_dense_initializer(seed),
        seed=seed,
        **kwargs,
    )


# -- Krotov-Hopfield, dense -------------------------------------------------------


def krotov_hopfield_rule(units, k=7, p=3.0, delta=0.4):
    """Krotov & Hopfield's rule with the paper's MNIST settings.

    Args:
        units: int >= 2, the layer's units: `k` is capped at it, so a small
            layer still builds.
        k: int >= 2, the rank of the unit pushed away from each sample.
            Defaults to `7`.
        p: float >= 2, the Lebesgue norm's order. Defaults to `3.0`.
        delta: float >= 0, the strength of the push. Defaults to `0.4`.

    Returns:
        A `keras_hebbian.rules.KrotovHopfield` with `k=min(k, units)`.

    Example:

    >>> recipes.krotov_hopfield_rule(2000).k, recipes.krotov_hopfield_rule(5).k
    (7, 5)
    """
    return rules.KrotovHopfield(p=p, k=min(k, units), delta=delta)


def krotov_hopfield_initializer(seed=None):
    """The initial weights of `krotov_hopfield_dense`: a standard normal.

    Args:
        seed: int or `None`.

    Returns:
        A `keras.initializers.RandomNormal`.

    Example:

    >>> recipes.krotov_hopfield_initializer(seed=0).stddev
    1.0
    """
    return keras.initializers.RandomNormal(stddev=KROTOV_HOPFIELD_STDDEV, seed=seed)


def krotov_hopfield_schedule(learning_rate, steps):
    """A learning rate annealed linearly from `learning_rate` to zero over `steps` updates.

    Args:
        learning_rate: float > 0, the initial rate.
        steps: int, the number of updates of the whole training (at least 1
            is used).

    Returns:
        A `keras.optimizers.schedules.PolynomialDecay`.

    Example:

    >>> rate = recipes.krotov_hopfield_schedule(0.1, 100 * 600)
    """
    return keras.optimizers.schedules.PolynomialDecay(learning_rate, max(1, steps), 0.0)


def krotov_hopfield_dense(units, steps, learning_rate=0.1, k=7, seed=None, **kwargs):
    """A dense Krotov-Hopfield layer, as in the paper and the MNIST benchmark.

    `KrotovHopfield(p=3, k=7, delta=0.4)`, initial weights drawn from a
    standard normal, and a learning rate annealed linearly from
    `learning_rate` to zero over `steps` updates (the whole training:
    epochs times batches per epoch). The layer sees the pixels in [0, 1]
    as they are; its features are read by `krotov_hopfield_features`.

    Args:
        units: int >= 2, the number of units.
        steps: int, updates over which the rate decays to zero, or `None`
            for the constant rate `learning_rate`.
        learning_rate: float > 0, the initial rate. Defaults to `0.1`.
        k: int >= 2, the rank of the unit pushed away (capped at `units`).
            Defaults to `7`.
        seed: int or `None`: seeds the initial weights.
        **kwargs: passed on to `HebbianDense`.

    Returns:
        A `keras_hebbian.layers.HebbianDense`.

    Example:

    ```python
    epochs, batches = 100, 600  # MNIST, batch 100
    layer = recipes.krotov_hopfield_dense(2000, epochs * batches, seed=0)
    model = keras.Sequential([keras.Input((784,)), layer])
    model.compile()
    model.fit(x, epochs=epochs, batch_size=100)
    ```
    """
    rate = learning_rate if steps is None else krotov_hopfield_schedule(learning_rate, steps)
    return HebbianDense(
        units,
        rule=krotov_hopfield_rule(units, k=k),
        learning_rate=rate,
        kernel_initializer=krotov_hopfield_initializer(seed),
        seed=seed,
        **kwargs,
    )


def krotov_hopfield_features(layer):
    """A model that reads a Krotov-Hopfield layer's features as the paper's classifier does.

    The layer learns from the pixels as they are (in [0, 1]), but the paper's
    classifier sees each image scaled to unit norm, so that a unit's current
    is bounded like a cosine similarity and does not grow with the ink in
    the image (the author's answer in the Biological_Learning repository's
    issue 4). This model puts `UnitNormalization` before the layer itself
    (shared, not copied: it reads the kernel as it is when called, and
    `predict` does not train it). Train the paper's head on its output with
    `keras_hebbian.evaluation.train_head(..., power=4.5, head="tanh")`.

    Args:
        layer: a `HebbianDense` (usually from `krotov_hopfield_dense`),
            built on flat inputs.

    Returns:
        A `keras.Sequential`: `UnitNormalization`, then `layer`.

    Example:

    ```python
    layer = recipes.krotov_hopfield_dense(2000, 100 * 600, seed=0)
    model = keras.Sequential([keras.Input((784,)), layer])
    model.compile()
    model.fit(x, epochs=100, batch_size=100)
    h = recipes.krotov_hopfield_features(layer).predict(x)
    ```
    """
    if not isinstance(layer, HebbianDense) or not layer.built:
        raise ValueError(f"`layer` must be a built HebbianDense. Received: layer={layer!r}")
    inputs = layer.kernel.shape[0]
    return keras.Sequential([keras.Input((inputs,)), keras.layers.UnitNormalization(), layer],
                            name=f"{layer.name}_features")


# -- SoftHebb, convolutional ------------------------------------------------------


def softhebb_conv_initializer(fan_in, seed=None):
    """The initial filters of a SoftHebb convolution: normal, `25 / sqrt(fan_in)`.

    The scale of the paper's code (Journe et al., ICLR 2023).

    Args:
        fan_in: int, the inputs of one filter (`kernel_height *
            kernel_width * in_channels`).
        seed: int or `None`.

    Returns:
        A `keras.initializers.RandomNormal`.

    Example:

    >>> recipes.softhebb_conv_initializer(5 * 5 * 1).stddev
    5.0
    """
    return keras.initializers.RandomNormal(stddev=SOFTHEBB_CONV_SCALE / math.sqrt(fan_in),
                                           seed=seed)


class SoftHebbBlock(NamedTuple):
    """The settings of one SoftHebb convolutional block (`models.softhebb_block`).

    Attributes:
        filters: int, the block's filters (before any width factor).
        kernel_size: int, the square kernel's size.
        temperature: float, SoftHebb's softmax temperature (the paper gives
            its inverse).
        learning_rate: float, the rule's learning rate.
        triangle_power: float, the `Triangle` activation's exponent.
        pool: `"max"` (4x4 windows, stride 2), `"avg"` (2x2, stride 2) or
            `"avg4"` (4x4, stride 2, one pixel of zero padding counted in
            the average): the paper's `max_4_2_1`, `avg_2_2_0` and
            `avg_4_2_1`.
        rate_power: float, the exponent of SoftHebb's norm-adaptive
            learning rate (`SoftHebb(power=...)`, the paper's `power_lr`).
            Defaults to `0.5`.

    Example:

    >>> recipes.SOFTHEBB_CIFAR10_BLOCKS[0].filters, recipes.SOFTHEBB_CIFAR10_BLOCKS[0].pool
    (96, 'max')
    """

    filters: int
    kernel_size: int
    temperature: float
    learning_rate: float
    triangle_power: float
    pool: str
    rate_power: float = 0.5


#: The three blocks of the published CIFAR-10 network (the paper's code,
#: `presets.json`, model `4SoftHebbCnnCIFAR`): kernels 5, 3, 3; inverse
#: temperatures 1, 0.65, 0.25; Triangle powers 0.7, 1.4, 1.0; learning rates
#: 0.08, 0.005, 0.01; max, max, average pooling; adaptive-rate exponent 0.5.
SOFTHEBB_CIFAR10_BLOCKS = (
    SoftHebbBlock(96, 5, 1.0, 0.08, 0.7, "max"),
    SoftHebbBlock(384, 3, 1 / 0.65, 0.005, 1.4, "max"),
    SoftHebbBlock(1536, 3, 1 / 0.25, 0.01, 1.0, "avg"),
)
#: The MNIST network: the CIFAR-10 blocks, unchanged.
SOFTHEBB_MNIST_BLOCKS = SOFTHEBB_CIFAR10_BLOCKS


def softhebb_mnist_first_rule():
    """The first block's rule of `models.softhebb_mnist` (its default, `first_rule="unit"`).

    `SoftHebb(temperature=0.3, max_normalize="unit")`: each filter's step is
    divided by its own largest entry, so every filter of the first block
    learns within one MNIST epoch. With the published rule (one division for
    the whole layer) the filter that wins MNIST's blank background sets the
    scale and the other filters keep their random directions
    (`docs/benchmarks.md`, "A first layer that learns").

    Returns:
        A `keras_hebbian.rules.SoftHebb`.

    Example:

    >>> recipes.softhebb_mnist_first_rule().max_normalize
    'unit'
    """
    return rules.SoftHebb(temperature=0.3, max_normalize="unit")


#: The first two MNIST blocks, the second with average pooling: about a
#: fifth of the computation of `SOFTHEBB_MNIST_BLOCKS`.
SOFTHEBB_MNIST_TWO_BLOCKS = (
    SOFTHEBB_MNIST_BLOCKS[0],
    SOFTHEBB_MNIST_BLOCKS[1]._replace(pool="avg"),
)
#: The four blocks of the published STL-10 network (the paper's code,
#: `presets.json`, model `5SoftHebbCnnSTL`): 96 -> 384 -> 1536 -> 6144
#: filters; kernels 5, 3, 3, 3; inverse temperatures 1, 0.65, 0.45, 0.25;
#: Triangle powers 0.7, 0.7, 1.4, 1.0; learning rates 0.08, 0.005, 0.01,
#: 0.01; pooling 4x4 average (padding 1), 4x4 max, 4x4 average (padding 1),
#: 2x2 average, all of stride 2; adaptive-rate exponent 0.5.
SOFTHEBB_STL10_BLOCKS = (
    SoftHebbBlock(96, 5, 1.0, 0.08, 0.7, "avg4"),
    SoftHebbBlock(384, 3, 1 / 0.65, 0.005, 0.7, "max"),
    SoftHebbBlock(1536, 3, 1 / 0.45, 0.01, 1.4, "avg4"),
    SoftHebbBlock(6144, 3, 1 / 0.25, 0.01, 1.0, "avg"),
)
#: The five blocks of the published ImageNet network (the paper's code,
#: `presets.json`, model `6SoftHebbCnnImNet`): 48 -> 192 -> 768 -> 3072 ->
#: 12288 filters; kernels 5, 3, 3, 3, 3; inverse temperatures 1.1, 0.7,
#: 0.5, 0.4, 0.25; Triangle powers 0.7, 0.7, 0.7, 1.4, 1.0; learning rates
#: 0.08, 0.01, 0.01, 0.01, 0.01; four 4x4 max poolings then a 2x2 average,
#: all of stride 2; the preset sets no adaptive-rate exponent, so the code's
#: default for convolutions, 0.75, applies.
SOFTHEBB_IMAGENET_BLOCKS = (
    SoftHebbBlock(48, 5, 1 / 1.1, 0.08, 0.7, "max", 0.75),
    SoftHebbBlock(192, 3, 1 / 0.7, 0.01, 0.7, "max", 0.75),
    SoftHebbBlock(768, 3, 1 / 0.5, 0.01, 0.7, "max", 0.75),
    SoftHebbBlock(3072, 3, 1 / 0.4, 0.01, 1.4, "max", 0.75),
    SoftHebbBlock(12288, 3, 1 / 0.25, 0.01, 1.0, "avg", 0.75),
)


# -- a Hebbian layer between layers trained by backprop ---------------------------


def hybrid_hebbian_block(units, steps, kernel_size=None, learning_rate=0.001, seed=None,
                         **kwargs):
    """A Hebbian layer to put between layers trained by backprop, with what must follow it.

    Returns three layers: the Hebbian layer (`HebbianDense`, or
    `HebbianConv2D` when `kernel_size` is given) learning by Sanger's rule
    at a rate that decays linearly from `learning_rate` to zero over `steps`
    updates, then `keras.layers.BatchNormalization`, then
    `keras.layers.ReLU`. Trained in one `fit(x, y)` with the layers around
    it, the Hebbian layer learns from inputs that backprop keeps changing,
    and each part answers one way that goes wrong:

    - Sanger's rule gives the units distinct directions (the leading
      principal subspace of their inputs, in order), where Oja's rule turns
      them all toward the same one and leaves the next layer a single
      feature;
    - the normalisation holds the scale of what the next layer sees while
      the Hebbian layer's own output scale drifts;
    - a small rate decaying to zero keeps the layer close to its start and
      lets it settle before training ends.

    In `benchmarks/hybrid.py` (MNIST) this block came within a fraction of
    a point of the same network with the Hebbian layer left at its random
    start (`trainable=False`), but did not beat it; see the "Hybrid
    networks" section of `docs/benchmarks.md` for the measurements.

    Args:
        units: int >= 1, the Hebbian layer's units (filters when
            `kernel_size` is given).
        steps: int, the number of updates of the whole training (epochs
            times batches per epoch), over which the rate decays to zero.
        kernel_size: `None` for a `HebbianDense`, or an int or pair for a
            `HebbianConv2D` with that kernel.
        learning_rate: float > 0, the initial rate. Defaults to `0.001`.
        seed: int or `None`: seeds the Hebbian layer's initial weights.
        **kwargs: passed on to the Hebbian layer (`name`, `strides`,
            `padding`, ...).

    Returns:
        A list `[hebbian_layer, BatchNormalization, ReLU]`.

    Example:

    ```python
    epochs, batch_size = 3, 32
    steps = epochs * -(-len(x) // batch_size)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        *recipes.hybrid_hebbian_block(64, steps, seed=0),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=batch_size)
    ```
    """
    rate = keras.optimizers.schedules.PolynomialDecay(learning_rate, max(1, steps), 0.0)
    layer_kwargs = dict(rule=rules.Sanger(), learning_rate=rate, seed=seed, **kwargs)
    if kernel_size is None:
        layer = HebbianDense(units, **layer_kwargs)
    else:
        layer = HebbianConv2D(units, kernel_size, **layer_kwargs)
    return [layer, keras.layers.BatchNormalization(), keras.layers.ReLU()]
