"""Models for Hebbian learning, published architectures, greedy training.

A model made only of Hebbian layers trains without labels through plain
`model.compile(); model.fit(x)`: every Hebbian layer learns at once, in one
unsupervised pass. `Sequential` and `Model` are `keras.Sequential` and
`keras.Model` whose `fit()` reports what the Hebbian layers learned;
`fit_greedy` trains the layers one at a time.
"""

import warnings

import keras

from keras_hebbian import backend, recipes, rules
from keras_hebbian.callbacks import HebbianMonitor, NonFiniteGuard
from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.layers.hebbian_conv2d import HebbianConv2D
from keras_hebbian.layers.triangle import Triangle
from keras_hebbian.validation import check_choice


#: Callback hooks that Keras calls once per execution, not once per batch,
#: when `steps_per_execution` is above 1.
BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
               "on_test_batch_begin", "on_test_batch_end")


def asks_for_every_batch(callback):
    """Whether `callback` implements a batch-level hook, so wants to see every batch.

    `fit()` of a model compiled with `steps_per_execution="auto"` (the
    default of `Sequential` and `Model`) takes one step per compiled call
    when a callback it is given does. The callbacks of this library and
    Keras' `History` and `ProgbarLogger` work as well once per execution, and
    so do `ModelCheckpoint` and `BackupAndRestore` saving once per epoch
    (`save_freq="epoch"`).

    Args:
        callback: a `keras.callbacks.Callback`.

    Returns:
        bool.

    Example:

    ```python
    asks_for_every_batch(keras.callbacks.TerminateOnNaN())  # True
    asks_for_every_batch(keras.callbacks.CSVLogger("log.csv"))  # False
    ```
    """
    if isinstance(callback, (HebbianMonitor, NonFiniteGuard, keras.callbacks.History,
                             keras.callbacks.ProgbarLogger)):
        return False
    if (isinstance(callback, (keras.callbacks.ModelCheckpoint, keras.callbacks.BackupAndRestore))
            and callback.save_freq == "epoch"):
        return False
    return any(getattr(type(callback), hook, None) is not getattr(keras.callbacks.Callback, hook)
               for hook in BATCH_HOOKS)


class _ReportsHebbianFigures:
    """`fit()` adds a `NonFiniteGuard` and a `HebbianMonitor` unless given, and
    runs `steps_per_execution` steps as one compiled program; `compile()`
    resolves `jit_compile="auto"` by `backend.default_jit_compile` and
    `steps_per_execution="auto"` by `backend.automatic_steps_per_execution`."""

    def compile(self, *args, jit_compile="auto", steps_per_execution="auto", **kwargs):
        if jit_compile == "auto":
            jit_compile = backend.default_jit_compile(self, kwargs.get("run_eagerly", False))
        automatic = steps_per_execution == "auto"
        if not automatic and not (isinstance(steps_per_execution, int)
                                  and not isinstance(steps_per_execution, bool)
                                  and steps_per_execution >= 1):
            raise ValueError('`steps_per_execution` must be an integer >= 1 or "auto", '
                             f"got {steps_per_execution!r}")
        super().compile(*args, jit_compile=jit_compile,
                        steps_per_execution=1 if automatic else steps_per_execution, **kwargs)
        self._automatic_steps = backend.automatic_steps_per_execution(self) if automatic else None
        if automatic:
            self.steps_per_execution = self._automatic_steps

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and getattr(self, "_automatic_steps", None) is not None:
            config = dict(config, steps_per_execution="auto")
        return config

    def compile_from_config(self, config):
        # Keras does not compile a loaded model whose class overrides
        # `compile()`; this one only resolves `jit_compile`, so compile it as
        # Keras compiles any other.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        fused = backend.fused_train_function(self, hebbian_layers(self))
        if fused is not None:
            self.train_function = fused
        return self.train_function

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            **kwargs):
        callbacks = list(callbacks or [])
        if hebbian_layers(self):
            for kind in (HebbianMonitor, NonFiniteGuard):
                if not any(isinstance(c, kind) for c in callbacks):
                    callbacks.insert(0, kind())
        automatic = getattr(self, "_automatic_steps", None)
        if automatic is not None:
            # "auto": one step per call for a callback that wants every batch
            steps = 1 if any(asks_for_every_batch(c) for c in callbacks) else automatic
            if steps != self.steps_per_execution:
                self.steps_per_execution = steps
                self.train_function = self.test_function = self.predict_function = None
        with warnings.catch_warnings():
            # Hebbian layers learn without trainable weights, by design.
            warnings.filterwarnings("ignore", message="The model does not have any trainable")
            return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                               callbacks=callbacks, **kwargs)


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Sequential(_ReportsHebbianFigures, keras.Sequential):
    """A `keras.Sequential` whose `fit()` reports what its Hebbian layers learned.

    It is a `keras.Sequential` in every other way (building, saving,
    `predict`, nesting). `fit()` adds a `keras_hebbian.callbacks.NonFiniteGuard`
    (a refused non-finite update stops `fit()` with a `FloatingPointError`)
    and a `keras_hebbian.callbacks.HebbianMonitor` ahead of the callbacks it
    is given (unless they already hold one): after every epoch the progress bar, `History` and
    every later callback (`CSVLogger`, `TensorBoard`) see, for each Hebbian
    layer `NAME`, `NAME/weight_norm`, `NAME/norm_distance` (where the rule
    drives the norms to a fixed point), `NAME/update_magnitude` and
    `NAME/changed_units`. A model without a loss (Hebbian layers only,
    `compile()` without `loss`) shows no `loss`: Keras would show a constant
    zero. A model compiled with a loss shows its loss as usual.

    The figures are computed from the weights once per epoch, outside the
    training step, so they cost the step nothing. The constructor is
    `keras.Sequential`'s (`layers`, `trainable`, `name`).

    Every N batches run as one compiled program: on JAX a `lax.scan` over
    the N batches (Keras' own JAX trainer calls each step from Python), on
    TensorFlow with XLA (the default) a `tf.while_loop` over them in one XLA
    program (Keras' own calls each step, compiled by XLA on its own, from a
    loop in a graph; without XLA that loop stays). It learns the weights that N
    single steps learn, to float rounding, with less time per step where a
    step is short (small batches, a GPU). `compile()` chooses N
    (`steps_per_execution="auto"`, the default): 50 on JAX and TensorFlow, 1
    where several would gain nothing (PyTorch, whose Keras trainer takes one
    step per call; an eager model; on JAX, a model without XLA or under a
    `keras.distribution`). `fit()` then takes one step per call where a
    callback it is given implements a batch-level hook (`on_train_batch_end`,
    ...), so that callback sees every batch; otherwise batch-level callbacks
    run once per N batches, as Keras documents for `steps_per_execution`.
    `compile(steps_per_execution=N)` sets N, and `1` one step per call. A
    refused learning call (a batch holding NaN or Inf, or an update that
    would make a weight non-finite) stops `fit()` with the weights learned
    before it, as with one step per call: the steps after it in the same
    call learn nothing. One call stacks at most 256 MiB of batches (larger
    executions run in parts).

    On TensorFlow, `compile()` (with `jit_compile="auto"`, the default)
    compiles the step with XLA wherever Keras allows it, where Keras' own
    `"auto"` chooses XLA only on a GPU: the competitive layers' column update
    and ranking need it (one Krotov-Hopfield MNIST epoch on a 2-core CPU:
    4.8 s against 9.6 s), and the guard `fit()` adds reads what a step under
    XLA records. `jit_compile=False` keeps the graph without XLA.

    Example:

    ```python
    model = keras_hebbian.models.Sequential([
        keras.Input((64,)),
        keras_hebbian.layers.HebbianDense(8, rule="sanger", learning_rate=0.05),
    ])
    model.compile()
    history = model.fit(x, epochs=20)
    history.history["hebbian_dense/norm_distance"]  # one figure per epoch
    ```
    """


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Model(_ReportsHebbianFigures, keras.Model):
    """A `keras.Model` whose `fit()` reports what its Hebbian layers learned.

    Built like `keras.Model`: functionally (`Model(inputs, outputs)`) or by
    subclassing. `fit()` adds a `HebbianMonitor` as `Sequential` does (see
    there): per-layer figures after every epoch, and no `loss` for a model
    without one.

    Example:

    ```python
    inputs = keras.Input((64,))
    codes = keras_hebbian.layers.HebbianDense(8, rule="oja")(inputs)
    model = keras_hebbian.models.Model(inputs, codes)
    model.compile()
    model.fit(x, epochs=5)
    ```
    """


#: The pooling kinds of `softhebb_block`.
POOLS = ("max", "avg", "avg4")


def softhebb_block(filters, kernel_size, in_channels, temperature, learning_rate,
                   triangle_power, pool="max", seed=None, name=None, rule=None, rate_power=0.5):
    """One SoftHebb convolutional block (Journe et al., ICLR 2023).

    Non-affine batch normalisation, a `HebbianConv2D` learning by SoftHebb
    (reflect padding, norm-adaptive rate), the `Triangle` activation and
    pooling of stride 2, one of the paper's three kinds:

    - `"max"`: 4x4 windows, `"same"` padding (the paper's `max_4_2_1`:
      the same windows on even sizes);
    - `"avg"`: 2x2 windows, no padding (`avg_2_2_0`);
    - `"avg4"`: one pixel of zeros around the maps, then 4x4 average
      windows; the zeros count in the average, as in PyTorch's
      `AvgPool2d(4, 2, padding=1)` (`avg_4_2_1`).

    Args:
        filters: int, the block's filters.
        kernel_size: int, the square kernel's size.
        in_channels: int, the channels entering the block (sets the initial
            weight scale, `25 / sqrt(fan_in)`, as in the paper's code:
            `keras_hebbian.recipes.softhebb_conv_initializer`).
        temperature: float, SoftHebb's softmax temperature.
        learning_rate: float or schedule.
        triangle_power: float, the `Triangle` exponent.
        pool: `"max"`, `"avg"` or `"avg4"`. Defaults to `"max"`.
        seed: int or `None`.
        name: prefix of the layers' names.
        rule: a rule (or its name) to learn with instead of
            `SoftHebb(temperature=temperature, power=rate_power)`.
        rate_power: float > 0, the exponent of SoftHebb's norm-adaptive
            learning rate. Defaults to `0.5`.

    Returns:
        A list of Keras layers: normalisation, convolution, activation and
        pooling (with `pool="avg4"`, a `ZeroPadding2D` before the pooling).

    Example:

    ```python
    layers = [keras.Input((96, 96, 3))]
    layers += models.softhebb_block(96, 5, 3, 1.0, 0.08, 0.7, pool="avg4", name="block1")
    model = models.Sequential(layers)  # output (None, 48, 48, 96)
    ```
    """
    prefix = f"{name}_" if name else ""
    fan_in = in_channels * kernel_size * kernel_size
    check_choice("pool", pool, POOLS)
    if pool == "max":
        pooling = [keras.layers.MaxPooling2D(4, strides=2, padding="same", name=f"{prefix}pool")]
    elif pool == "avg":
        pooling = [keras.layers.AveragePooling2D(2, strides=2, name=f"{prefix}pool")]
    else:
        pooling = [keras.layers.ZeroPadding2D(1, name=f"{prefix}pad"),
                   keras.layers.AveragePooling2D(4, strides=2, name=f"{prefix}pool")]
    if rule is None:
        rule = rules.SoftHebb(temperature=temperature, power=rate_power)
    return [
        keras.layers.BatchNormalization(center=False, scale=False, name=f"{prefix}norm"),
        HebbianConv2D(
            filters,
            kernel_size,
            padding="reflect",
            rule=rule,
            learning_rate=learning_rate,
            kernel_initializer=recipes.softhebb_conv_initializer(fan_in, seed=seed),
            seed=seed,
            name=f"{prefix}conv",
        ),
        Triangle(power=triangle_power, name=f"{prefix}triangle"),
        *pooling,
    ]


def softhebb_cifar10(input_shape=(32, 32, 3), width=1.0, seed=None, block_rules=None):
    """The three-block SoftHebb network for CIFAR-10: 96 -> 384 -> 1536 filters.

    Hyperparameters of the paper's code (`presets.json`, model
    `4SoftHebbCnnCIFAR`): kernels 5, 3, 3; inverse temperatures 1, 0.65,
    0.25; Triangle powers 0.7, 1.4, 1.0; learning rates 0.08, 0.005, 0.01;
    max, max, average pooling (`keras_hebbian.recipes.SOFTHEBB_CIFAR10_BLOCKS`).
    The paper's code trains it on CIFAR-10's 50,000 training images, pixels
    in [0, 1], one epoch in batches of 10. The model outputs the flattened
    features of the last block (4 x 4 x 1536 = 24,576 for 32x32 inputs), for
    a linear head.

    Args:
        input_shape: `(height, width, channels)`.
        width: multiplies every block's filters (`1.0`: the published sizes).
        seed: int or `None`.
        block_rules: `None`, or a list with one entry per block: a rule
            (or its name) replacing that block's SoftHebb rule, or `None` to
            keep it.

    Returns:
        A `Sequential`, to `compile()` and `fit(x)` without labels.

    Example:

    ```python
    model = models.softhebb_cifar10()
    model.output_shape  # (None, 24576)
    ```
    """
    return _softhebb(input_shape, recipes.SOFTHEBB_CIFAR10_BLOCKS, width, seed,
                     "softhebb_cifar10", block_rules)


def softhebb_mnist(input_shape=(28, 28, 1), width=1.0, seed=None, blocks=3, block_rules=None,
                   first_rule="unit"):
    """A SoftHebb network for MNIST: 96 -> 384 (-> 1536) filters.

    The blocks of `softhebb_cifar10`, sized for 28x28 grey images; outputs
    flattened features. `blocks=3` (default): all three, as published
    (13,824 features for 28x28 images; `keras_hebbian.recipes.SOFTHEBB_MNIST_BLOCKS`);
    `blocks=2`: the first two, the second with average pooling (18,816
    features; `keras_hebbian.recipes.SOFTHEBB_MNIST_TWO_BLOCKS`), about a
    fifth of the computation.

    The first block learns by `recipes.softhebb_mnist_first_rule()` (each
    filter's step divided by its own largest entry, temperature 0.3), with
    which every first-layer filter learns within one epoch and the features
    beat the untrained network's on every seed measured; `first_rule="paper"`
    keeps the published rule there.

    Args:
        input_shape: `(height, width, channels)`.
        width: multiplies every block's filters.
        seed: int or `None`.
        blocks: `3` or `2`.
        block_rules: `None`, or a list with one entry per block: a rule
            (or its name) replacing that block's rule, or `None` to keep it.
        first_rule: `"unit"` (default) or `"paper"`: the first block's rule
            where `block_rules` leaves it.

    Returns:
        A `Sequential`, to `compile()` and `fit(x)` without labels.

    Example:

    ```python
    model = models.softhebb_mnist(seed=0)
    model.compile()
    model.fit(x_train, epochs=1, batch_size=10)  # no labels
    features = model.predict(x_test)  # (n, 13824)
    published = models.softhebb_mnist(seed=0, first_rule="paper")
    ```
    """
    specs = {2: recipes.SOFTHEBB_MNIST_TWO_BLOCKS, 3: recipes.SOFTHEBB_MNIST_BLOCKS}
    check_choice("blocks", blocks, tuple(specs))
    check_choice("first_rule", first_rule, ("unit", "paper"))
    if block_rules is None:
        block_rules = [None] * blocks
    if (first_rule == "unit" and isinstance(block_rules, (list, tuple))
            and len(block_rules) == blocks and block_rules[0] is None):
        block_rules = [recipes.softhebb_mnist_first_rule(), *block_rules[1:]]
    return _softhebb(input_shape, specs[blocks], width, seed, "softhebb_mnist", block_rules)


def softhebb_stl10(input_shape=(96, 96, 3), width=1.0, seed=None, block_rules=None):
    """The four-block SoftHebb network for STL-10: 96 -> 384 -> 1536 -> 6144 filters.

    Hyperparameters of the paper's code (`presets.json`, model
    `5SoftHebbCnnSTL`, `keras_hebbian.recipes.SOFTHEBB_STL10_BLOCKS`):
    kernels 5, 3, 3, 3; inverse temperatures 1, 0.65, 0.45, 0.25; Triangle
    powers 0.7, 0.7, 1.4, 1.0; learning rates 0.08, 0.005, 0.01, 0.01;
    pooling 4x4 average with one pixel of zero padding, 4x4 max, 4x4 average
    with padding, 2x2 average, all of stride 2. STL-10's images are 96x96x3
    (pixels in [0, 1]); the paper's code trains the blocks on the 100,000
    unlabelled images. The model outputs the flattened features of the last
    block (6 x 6 x 6144 = 221,184 for 96x96 inputs), for a linear head.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(96, 96, 3)`.
        width: multiplies every block's filters (`1.0`: the published sizes).
        seed: int or `None`.
        block_rules: `None`, or a list of four entries: a rule (or its name)
            replacing that block's SoftHebb rule, or `None` to keep it.

    Returns:
        A `Sequential`, to `compile()` and `fit(x)` without labels.

    Example:

    ```python
    model = models.softhebb_stl10()
    model.output_shape  # (None, 221184)
    ```
    """
    return _softhebb(input_shape, recipes.SOFTHEBB_STL10_BLOCKS, width, seed,
                     "softhebb_stl10", block_rules)


def softhebb_imagenet(input_shape=(160, 160, 3), width=1.0, seed=None, block_rules=None):
    """The five-block SoftHebb network for ImageNet: 48 -> 192 -> 768 -> 3072 -> 12288 filters.

    Hyperparameters of the paper's code (`presets.json`, model
    `6SoftHebbCnnImNet`, `keras_hebbian.recipes.SOFTHEBB_IMAGENET_BLOCKS`):
    kernels 5, 3, 3, 3, 3; inverse temperatures 1.1, 0.7, 0.5, 0.4, 0.25;
    Triangle powers 0.7, 0.7, 0.7, 1.4, 1.0; learning rates 0.08, 0.01,
    0.01, 0.01, 0.01; four 4x4 max poolings then a 2x2 average, all of
    stride 2; the norm-adaptive rate's exponent is 0.75 (the code's default,
    which this preset does not override; the other networks use 0.5).

    The images are full ImageNet (ILSVRC-2012, 1000 classes) resized to
    160x160: the paper's code (`dataset.py`, presets `ImageNet_1160` and
    `ImageNet_200aug160`) trains the blocks for one epoch on 128,116
    randomly drawn training images (a tenth) in batches of 10, each a random
    resized crop to 160x160 with a random horizontal flip, normalised with
    ImageNet's channel means and standard deviations; test images are
    resized to 160x160. The model outputs the flattened features of the
    last block (5 x 5 x 12288 = 307,200 for 160x160 inputs), for a linear
    head.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(160, 160, 3)`.
        width: multiplies every block's filters (`1.0`: the published sizes).
        seed: int or `None`.
        block_rules: `None`, or a list of five entries: a rule (or its name)
            replacing that block's SoftHebb rule, or `None` to keep it.

    Returns:
        A `Sequential`, to `compile()` and `fit(x)` without labels.

    Example:

    ```python
    model = models.softhebb_imagenet()
    model.output_shape  # (None, 307200)
    ```
    """
    return _softhebb(input_shape, recipes.SOFTHEBB_IMAGENET_BLOCKS, width, seed,
                     "softhebb_imagenet", block_rules)


def _softhebb(input_shape, blocks, width, seed, name, block_rules=None):
    if block_rules is None:
        block_rules = [None] * len(blocks)
    if not isinstance(block_rules, (list, tuple)) or len(block_rules) != len(blocks):
        raise ValueError(
            f"`block_rules` must be None or a list of {len(blocks)} entries (a rule or None "
            f"per block). Received: block_rules={block_rules!r}"
        )
    layers = [keras.Input(input_shape)]
    channels = input_shape[-1]
    for index, (block, rule) in enumerate(zip(blocks, block_rules), 1):
        filters = max(1, int(round(block.filters * width)))
        layers += softhebb_block(filters, block.kernel_size, channels, block.temperature,
                                 block.learning_rate, block.triangle_power, block.pool,
                                 seed=None if seed is None else seed + index, name=f"block{index}",
                                 rule=rule, rate_power=block.rate_power)
        channels = filters
    layers.append(keras.layers.Flatten(name="features"))
    return Sequential(layers, name=name)


def hebbian_layers(model):
    """The Hebbian layers of `model`, in order (nested models included)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, HebbianLayer):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found += hebbian_layers(layer)
    return found


def fit_greedy(model, x, epochs=1, batch_size=32, verbose="auto", **fit_kwargs):
    """Train a model's Hebbian layers one at a time, first to last.

    While layer `i` learns, every other Hebbian layer is frozen
    (`trainable=False`, so it neither learns nor changes), and the model is
    compiled again so the flag takes effect on every backend. Afterwards
    every layer's `trainable` flag is restored.

    Args:
        model: a Keras model containing Hebbian layers.
        x: the unlabelled training inputs (anything `fit` accepts).
        epochs: int, or a list with one entry per Hebbian layer.
        batch_size: batch size.
        verbose: Keras verbosity.
        **fit_kwargs: passed on to `fit`.

    Returns:
        A list with the `History` of each layer's training.
    """
    layers = hebbian_layers(model)
    if not layers:
        raise ValueError("`model` has no Hebbian layer to train.")
    if isinstance(epochs, int):
        epochs = [epochs] * len(layers)
    if len(epochs) != len(layers):
        raise ValueError(
            f"`epochs` must be an int or a list of {len(layers)} ints (one per Hebbian "
            f"layer). Received: epochs={epochs!r}"
        )
    flags = [layer.trainable for layer in layers]
    histories = []
    try:
        for index, layer in enumerate(layers):
            for other in layers:
                other.trainable = other is layer
            model.compile()
            histories.append(
                model.fit(x, epochs=epochs[index], batch_size=batch_size, verbose=verbose,
                          **fit_kwargs)
            )
    finally:
        for layer, flag in zip(layers, flags):
            layer.trainable = flag
        model.compile()
    return histories
