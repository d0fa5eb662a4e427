"""Associative memories: `HopfieldMemory` and `DenseAssociativeMemory`.

Both store patterns in non-trainable variables assigned inside
`call(..., training=True)`, like every Hebbian layer of this library: a
`model.fit(x)` stores each training batch, incrementally over batches and
calls, and `predict()` / `layer(cues)` recall. Both also have an explicit
`store(patterns)` method.

Bipolar states: an entry is on (+1) when it is > 0 and off (-1) otherwise,
so bipolar (+1/-1) and binary (0/1) patterns are read alike. A unit whose
local field is exactly zero keeps its state.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hebbian.validation import check_choice, check_int, check_known_last_axis, check_positive

HOPFIELD_RULES = ("hebb", "storkey")
HOPFIELD_UPDATES = ("async", "sync")
INTERACTIONS = ("polynomial", "exponential")
#: A continuous (exponential) recall stops once no entry changes by more than
#: this much relative to its size.
FIXED_POINT_TOLERANCE = 1e-6


def bipolar(inputs):
    """`inputs` as float32 bipolar states: +1 where an entry is > 0, -1 elsewhere."""
    inputs = ops.cast(inputs, "float32")
    return ops.where(inputs > 0, 1.0, -1.0)


def settle_sign(field, states):
    """The sign of `field`, keeping `states` where the field is exactly zero."""
    return ops.where(field > 0, 1.0, ops.where(field < 0, -1.0, states))


def _check_seed(seed):
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
    return seed


def _pattern_matrix(layer, patterns, name="patterns"):
    """`patterns` as a float32 `(samples, features)` tensor; build `layer` if needed."""
    patterns = ops.convert_to_tensor(patterns)
    shape = tuple(patterns.shape)
    if len(shape) != 2:
        raise ValueError(
            f"`{name}` must have shape (samples, features). Received: {name} of shape {shape}"
        )
    if not layer.built:
        layer.build((None, shape[-1]))
    if shape[-1] != layer.features:
        raise ValueError(
            f"`{name}` must have {layer.features} features (the layer's input size). "
            f"Received: {name} of shape {shape}"
        )
    return ops.cast(patterns, "float32")


def _zero_loss(layer, outputs):
    # Keras' fit() refuses a model without a loss on TensorFlow and PyTorch;
    # a zero tied to the output lets `model.compile(); model.fit(x)` store
    # patterns, and adds nothing to any other loss or gradient.
    layer.add_loss(ops.cast(ops.sum(ops.ravel(outputs)[:1]), "float32") * 0.0)


class _Memory(keras.layers.Layer):
    """What both memories share: input checks, the storing call and the fixed-point loop."""

    def __init__(self, max_iterations, **kwargs):
        super().__init__(**kwargs)
        self.max_iterations = check_int("max_iterations", max_iterations, minimum=1)
        self.input_spec = keras.layers.InputSpec(ndim=2)
        self.features = None

    def _check_features(self, input_shape):
        self.features = check_known_last_axis(type(self).__name__, input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: self.features})

    def _add_state(self, name, shape, initializer, dtype="float32"):
        return self.add_weight(name=name, shape=shape, initializer=initializer,
                               trainable=False, autocast=False, dtype=dtype)

    def call(self, inputs, training=None):
        if bool(training) and self.trainable:
            outputs = self.write(ops.cast(inputs, "float32"))
        else:
            outputs = self.recall(inputs)
        _zero_loss(self, outputs)
        return ops.cast(outputs, self.compute_dtype)

    def store(self, patterns):
        """Store `patterns` `(samples, features)` at once (no recall).

        The same update as a training call: `model.fit(x)` and
        `layer.store(x)` leave the same memory.
        """
        self.write(_pattern_matrix(self, patterns))

    def write(self, patterns):
        """Store a float32 batch; return what a training call outputs."""
        raise NotImplementedError

    def settle(self, states, update, converged, max_iterations):
        """Apply `update` until `converged(old, new)` or `max_iterations` times."""

        def cond(iteration, states, done):
            return ops.logical_and(iteration < max_iterations, ops.logical_not(done))

        def body(iteration, states, done):
            new = update(states)
            return iteration + 1, new, converged(states, new)

        start = (ops.convert_to_tensor(0, "int32"), states, ops.convert_to_tensor(False))
        return ops.while_loop(cond, body, start)[1]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_iterations": self.max_iterations})
        return config


def _unchanged(old, new):
    return ops.all(ops.equal(old, new))


@keras.saving.register_keras_serializable(package="keras_hebbian")
class HopfieldMemory(_Memory):
    """A Hopfield network: an associative memory of bipolar patterns.

    Hopfield (1982). `N` binary units `s_i = +1/-1` connected by a symmetric
    matrix `W` (`kernel`, `(N, N)`) whose diagonal is exactly zero: no unit
    is connected to itself. Patterns are stored in `W` by a local rule; a
    cue (a stored pattern with some bits wrong) settles to the nearest
    stored pattern by repeated updates `s_i <- sign(sum_j W_ij s_j)`, each of
    which never increases the energy `E(s) = -1/2 s^T W s` when the units
    are updated one at a time.

    Storing, by `model.fit(x)` (each training batch is stored, incrementally
    over batches and calls) or `layer.store(x)`:

    - `"hebb"`: `W += sum_p x_p x_p^T / N`, diagonal zero. It recalls about
      `0.138 N` random patterns with few errors (Amit, Gutfreund &
      Sompolinsky, 1985); the order of storage does not matter.
    - `"storkey"` (Storkey, 1997): one pattern at a time,
      `W_ij += (x_i x_j - x_i h_ji - h_ij x_j) / N`, with the local field
      `h_ij = sum_{k != i, j} W_ik x_k`: incremental, local, and it stores
      more patterns than Hebb's rule (about `N / sqrt(2 ln N)`).

    Patterns are bipolarised (+1 where an entry is > 0, -1 elsewhere), so
    bipolar and binary (0/1) patterns are both stored as bipolar.

    Recall, by `predict(cues)` or `layer(cues)` (`training=False`), from the
    bipolarised cues:

    - `update="async"`: the units are updated one at a time, in a fixed
      order drawn once from `seed` (`update_order`, saved with the layer),
      each from the current state of the others. The energy never increases
      and the state reaches a fixed point.
    - `update="sync"`: all units at once from the previous state; faster per
      sweep, but the state may fall into a cycle of two states.

    A sweep updates every unit once. Recall stops after a sweep that changes
    nothing (a fixed point), or after `max_iterations` sweeps. A unit whose
    field is exactly zero keeps its state. The output is the settled state,
    `+1/-1` in the layer's compute dtype. A training call stores the batch
    and returns it bipolarised (it does not recall).

    Args:
        rule: `"hebb"` (default) or `"storkey"`, the storage rule.
        update: `"async"` (default) or `"sync"`, the recall dynamics.
        max_iterations: int >= 1, the most sweeps a recall makes.
            Defaults to `100`.
        seed: int or `None`; seeds the order of asynchronous updates (with
            `None`, NumPy's global generator draws it, which
            `keras.utils.set_random_seed` seeds).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `(batch, N)`: patterns to store (training) or cues to
            complete.
        training: bool; a training call stores the batch, any other call
            recalls.

    Example:

    ```python
    import numpy as np
    from keras_hebbian.layers import HopfieldMemory

    rng = np.random.default_rng(0)
    patterns = rng.choice([-1.0, 1.0], size=(5, 100)).astype("float32")
    memory = HopfieldMemory(rule="storkey", seed=0)
    memory.store(patterns)                      # or model.fit(patterns)
    cues = patterns * np.where(rng.random((5, 100)) < 0.1, -1.0, 1.0)
    recalled = memory(cues)                     # (5, 100), +1/-1
    memory.energy(recalled)                     # (5,), the energy of each state
    ```
    """

    def __init__(self, rule="hebb", update="async", max_iterations=100, seed=None, **kwargs):
        super().__init__(max_iterations, **kwargs)
        self.rule = check_choice("rule", rule, HOPFIELD_RULES)
        self.update = check_choice("update", update, HOPFIELD_UPDATES)
        self.seed = _check_seed(seed)

    def build(self, input_shape):
        self._check_features(input_shape)
        n = self.features
        self.kernel = self._add_state("kernel", (n, n), "zeros")
        if self.seed is None:
            order = np.random.permutation(n)
        else:
            order = np.random.default_rng(self.seed).permutation(n)
        self.update_order = self._add_state(
            "update_order", (n,), keras.initializers.Constant(order.astype("int32")), "int32"
        )
        self.stored_count = self._add_state("stored_count", (), "zeros", "int32")
        self.built = True

    # -- storing --------------------------------------------------------------

    def write(self, patterns):
        states = bipolar(patterns)
        weights = self.kernel.value
        n = self.features
        off_diagonal = 1.0 - ops.eye(n, dtype="float32")
        if self.rule == "hebb":
            correlation = ops.matmul(ops.transpose(states), states)
            # Each product is +1/-1, so the sums are exact; the average of the
            # matrix and its transpose makes the symmetry exact whatever the
            # order of summation.
            correlation = 0.5 * (correlation + ops.transpose(correlation))
            weights = weights + correlation * off_diagonal / n
        else:
            def store_one(index, weights):
                return self._storkey_step(weights, ops.take(states, index, axis=0), off_diagonal)

            weights = ops.fori_loop(0, ops.shape(states)[0], store_one, weights)
        self.kernel.assign(weights)
        self.stored_count.assign_add(ops.cast(ops.shape(states)[0], "int32"))
        return states

    def _storkey_step(self, weights, pattern, off_diagonal):
        """Storkey's update of `weights` (symmetric, zero diagonal) by one pattern."""
        n = self.features
        field = ops.matmul(weights, pattern)  # h_i = sum_k W_ik x_k (W_ii = 0)
        # h_ij = h_i - W_ij x_j, so with x_i^2 = 1:
        # dW_ij = (x_i x_j - x_i h_j - h_i x_j + W_ij + W_ji) / N.
        cross = ops.outer(pattern, field)
        squared = ops.expand_dims(pattern * pattern, 0)
        kept = weights * squared  # W_ij x_j^2
        delta = (ops.outer(pattern, pattern) - (cross + ops.transpose(cross))
                 + (kept + ops.transpose(kept)))
        return (weights + delta / n) * off_diagonal

    # -- recalling ------------------------------------------------------------

    def recall(self, cues, max_iterations=None):
        """The states that `cues` settle to (see the class docstring).

        Args:
            cues: `(batch, N)`, bipolarised (+1 where > 0, -1 elsewhere).
            max_iterations: int >= 1 or `None` (the layer's
                `max_iterations`): the most sweeps.

        Returns:
            float32 `(batch, N)` of +1/-1.
        """
        if not self.built:
            self.build(tuple(cues.shape))
        if max_iterations is None:
            max_iterations = self.max_iterations
        max_iterations = check_int("max_iterations", max_iterations, minimum=1)
        states = bipolar(cues)
        weights = self.kernel.value
        if self.update == "sync":
            def update(states):
                return settle_sign(ops.matmul(states, weights), states)
        else:
            order = self.update_order.value

            def update(states):
                def one_unit(step, states):
                    return self._update_unit(states, weights, ops.take(order, step))

                return ops.fori_loop(0, self.features, one_unit, states)

        return self.settle(states, update, _unchanged, max_iterations)

    def update_unit(self, states, unit):
        """Update one unit of bipolar `states` `(batch, N)` from the others.

        `s_unit <- sign(sum_j W_j,unit s_j)`, kept where that field is zero:
        one step of an asynchronous recall, which never increases the
        energy.

        Args:
            states: `(batch, N)` bipolar states.
            unit: int, the unit to update.

        Returns:
            float32 `(batch, N)`: the states after the update.
        """
        states = ops.cast(ops.convert_to_tensor(states), "float32")
        return self._update_unit(states, self.kernel.value, ops.convert_to_tensor(unit, "int32"))

    def _update_unit(self, states, weights, unit):
        field = ops.matmul(states, ops.take(weights, unit, axis=1))  # (batch,)
        current = ops.take(states, unit, axis=1)
        new = settle_sign(field, current)
        chosen = ops.expand_dims(ops.equal(ops.arange(self.features, dtype="int32"), unit), 0)
        return ops.where(chosen, ops.expand_dims(new, 1), states)

    def energy(self, states):
        """The Hopfield energy `E(s) = -1/2 s^T W s` of each state.

        Args:
            states: `(batch, N)`; used as given (not bipolarised).

        Returns:
            float32 `(batch,)`.
        """
        states = ops.cast(ops.convert_to_tensor(states), "float32")
        return -0.5 * ops.sum(ops.matmul(states, self.kernel.value) * states, axis=-1)

    def clear(self):
        """Forget every stored pattern (`W = 0`, `stored_count = 0`)."""
        self.kernel.assign(ops.zeros_like(self.kernel.value))
        self.stored_count.assign(0)

    def get_config(self):
        config = super().get_config()
        config.update({"rule": self.rule, "update": self.update, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_hebbian")
class DenseAssociativeMemory(_Memory):
    """A dense associative memory (modern Hopfield network).

    The stored patterns are the rows of a memory matrix `M` (`memory`,
    `(capacity, N)`); recall follows the update of an energy
    `E(s) = -sum_mu F(M_mu . s)` whose interaction `F` grows fast, so many
    more patterns than `N` can be recalled.

    - `interaction="polynomial"` (Krotov & Hopfield, 2016): bipolar states,
      `F(x) = x^degree`. Every unit is updated at once by the exact energy
      difference of its two states,
      `s_i <- sign(sum_mu F(M_mu,i + sum_{j != i} M_mu,j s_j)
      - F(-M_mu,i + sum_{j != i} M_mu,j s_j))`. Patterns and cues are
      bipolarised (+1 where an entry is > 0, -1 elsewhere); the output is
      +1/-1. The capacity grows as `N^(degree - 1)`.
    - `interaction="exponential"` (Ramsauer et al., 2020, "Hopfield networks
      is all you need"): continuous states, `s <- softmax(beta s M^T) M`, the
      update of attention with the stored patterns as keys and values.
      Patterns and cues are used as given; for bipolar patterns take the
      sign of the output. `beta` sets how sharply one pattern is chosen
      (small values blend similar patterns).

    How the memory grows: Keras variables have a fixed shape, so `memory`
    has `capacity` rows, and `stored_count` counts the patterns stored so
    far. Pattern `k` (counting from 0 over all batches and calls) goes to
    row `k mod capacity`: once `capacity` patterns are stored, each new one
    replaces the oldest (first in, first out). Only the `min(stored_count,
    capacity)` filled rows take part in recall; an empty memory returns its
    cues (bipolarised for `"polynomial"`).

    Storing is by `model.fit(x)` (each training batch is stored) or
    `layer.store(x)`. A training call returns the stored batch (bipolarised
    for `"polynomial"`), without recall. Recall (`predict(cues)`,
    `layer(cues)`) repeats the update until the state stops changing (for
    `"exponential"`: by more than `1e-6` relative) or `max_iterations`
    times.

    Args:
        capacity: int >= 1, the number of rows of the memory. Defaults to
            `1024`.
        interaction: `"polynomial"` (default) or `"exponential"`.
        degree: int >= 2, the degree of the polynomial interaction.
            Defaults to `4`, which recalls 200 random patterns of 100 bits
            from cues with 10% of their bits flipped (degree 3 loses about
            1 in 200).
        beta: float > 0 or `None`, the inverse temperature of the
            exponential interaction; `None` uses `1 / sqrt(N)`, the scale of
            attention.
        max_iterations: int >= 1, the most updates a recall makes. Defaults
            to `10`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `(batch, N)`: patterns to store (training) or cues to
            complete.
        training: bool; a training call stores the batch, any other call
            recalls.

    Example:

    ```python
    import numpy as np
    from keras_hebbian.layers import DenseAssociativeMemory

    rng = np.random.default_rng(0)
    patterns = rng.choice([-1.0, 1.0], size=(200, 100)).astype("float32")
    memory = DenseAssociativeMemory()           # polynomial, degree 4, 1024 rows
    memory.store(patterns)                      # or model.fit(patterns)
    cues = patterns * np.where(rng.random((200, 100)) < 0.1, -1.0, 1.0)
    recalled = memory(cues)                     # (200, 100), +1/-1
    ```
    """

    def __init__(self, capacity=1024, interaction="polynomial", degree=4, beta=None,
                 max_iterations=10, **kwargs):
        super().__init__(max_iterations, **kwargs)
        self.capacity = check_int("capacity", capacity, minimum=1)
        self.interaction = check_choice("interaction", interaction, INTERACTIONS)
        self.degree = check_int("degree", degree, minimum=2)
        self.beta = None if beta is None else check_positive("beta", beta)

    def build(self, input_shape):
        self._check_features(input_shape)
        self.memory = self._add_state("memory", (self.capacity, self.features), "zeros")
        self.stored_count = self._add_state("stored_count", (), "zeros", "int32")
        self.built = True

    @property
    def inverse_temperature(self):
        """`beta`, or `1 / sqrt(N)` when `beta` is `None`."""
        return self.beta if self.beta is not None else 1.0 / math.sqrt(self.features)

    def _prepare(self, inputs):
        inputs = ops.cast(inputs, "float32")
        return bipolar(inputs) if self.interaction == "polynomial" else inputs

    # -- storing --------------------------------------------------------------

    def write(self, patterns):
        patterns = self._prepare(patterns)
        # Only the last `capacity` patterns of a batch can be held.
        kept = patterns[-self.capacity:]
        count = ops.shape(patterns)[0]
        kept_count = ops.shape(kept)[0]
        first = self.stored_count.value + ops.cast(count - kept_count, "int32")
        rows = ops.mod(first + ops.arange(kept_count, dtype="int32"), self.capacity)
        memory = ops.scatter_update(self.memory.value, ops.expand_dims(rows, 1), kept)
        self.memory.assign(memory)
        self.stored_count.assign_add(ops.cast(count, "int32"))
        return patterns

    def _filled(self):
        """float32 `(capacity,)`: 1 for the rows that hold a pattern."""
        held = ops.minimum(self.stored_count.value, self.capacity)
        return ops.cast(ops.arange(self.capacity, dtype="int32") < held, "float32")

    # -- recalling ------------------------------------------------------------

    def recall(self, cues, max_iterations=None):
        """The states that `cues` settle to (see the class docstring).

        Args:
            cues: `(batch, N)`.
            max_iterations: int >= 1 or `None` (the layer's
                `max_iterations`): the most updates.

        Returns:
            float32 `(batch, N)`.
        """
        if not self.built:
            self.build(tuple(cues.shape))
        if max_iterations is None:
            max_iterations = self.max_iterations
        max_iterations = check_int("max_iterations", max_iterations, minimum=1)
        states = self._prepare(cues)
        memory = self.memory.value
        filled = self._filled()
        if self.interaction == "polynomial":
            def update(states):
                return settle_sign(self._polynomial_field(states, memory, filled), states)

            converged = _unchanged
        else:
            beta = self.inverse_temperature

            def update(states):
                logits = beta * ops.matmul(states, ops.transpose(memory))
                logits = ops.where(filled > 0, logits, -1e30)
                return ops.matmul(ops.softmax(logits, axis=-1), memory)

            def converged(old, new):
                change = ops.abs(new - old)
                return ops.all(change <= FIXED_POINT_TOLERANCE * (1.0 + ops.abs(old)))

        settled = self.settle(states, update, converged, max_iterations)
        return ops.where(ops.sum(filled) > 0, settled, states)

    def _polynomial_field(self, states, memory, filled):
        """Each unit's energy difference between its two states, scaled by `N^-degree`.

        With overlaps `o_mu = M_mu . s`, bipolar `M` and `s`, the difference
        `F(o_mu - M_mu,i s_i + M_mu,i) - F(o_mu - M_mu,i s_i - M_mu,i)` is
        `M_mu,i odd(o_mu) - s_i even(o_mu)`, where `odd` and `even` gather the
        odd and even `k >= 1` terms of the binomial expansion of
        `(o + 2)^n`: two matrix products, with no cancellation of large
        terms. The overlaps are divided by `N` so no power overflows.
        """
        n = self.features
        overlap = ops.matmul(states, ops.transpose(memory)) / n  # (batch, capacity)
        step = 2.0 / n
        odd = ops.zeros_like(overlap)
        even = ops.zeros_like(overlap)
        for k in range(1, self.degree + 1):
            term = math.comb(self.degree, k) * step**k * overlap ** (self.degree - k)
            if k % 2:
                odd = odd + term
            else:
                even = even + term
        odd = odd * filled
        even = even * filled
        return ops.matmul(odd, memory) - states * ops.sum(even, axis=-1, keepdims=True)

    def energy(self, states):
        """The energy of each state.

        `-sum_mu (M_mu . s)^degree` (polynomial), or Ramsauer et al.'s
        `-logsumexp(beta M s) / beta + s.s / 2 + log(stored) / beta +
        max_mu |M_mu|^2 / 2` (exponential), over the filled rows.

        Args:
            states: `(batch, N)`; used as given.

        Returns:
            float32 `(batch,)`.
        """
        states = ops.cast(ops.convert_to_tensor(states), "float32")
        memory = self.memory.value
        filled = self._filled()
        overlap = ops.matmul(states, ops.transpose(memory))
        if self.interaction == "polynomial":
            return -ops.sum(filled * overlap**self.degree, axis=-1)
        beta = self.inverse_temperature
        logits = ops.where(filled > 0, beta * overlap, -1e30)
        held = ops.maximum(ops.sum(filled), 1.0)
        largest = ops.max(filled * ops.sum(memory * memory, axis=-1))
        return (-ops.logsumexp(logits, axis=-1) / beta + 0.5 * ops.sum(states * states, axis=-1)
                + ops.log(held) / beta + 0.5 * largest)

    def clear(self):
        """Forget every stored pattern (`memory = 0`, `stored_count = 0`)."""
        self.memory.assign(ops.zeros_like(self.memory.value))
        self.stored_count.assign(0)

    def get_config(self):
        config = super().get_config()
        config.update({"capacity": self.capacity, "interaction": self.interaction,
                       "degree": self.degree, "beta": self.beta})
        return config
