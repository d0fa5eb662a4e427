"""The JAX backend: in-place column updates, host callbacks from jitted steps."""

import math

import jax
import jax.numpy as jnp
import keras

from keras_hebbian.backend.common import (  # noqa: F401
    SUPPORTS_XLA_WITH_REPORTS,
    conv_methods,
    native_conv_correlation,
    report_now,
    segment_sum,
    snapshot,
    store_by_columns,
    take_columns,
)

COLUMN_UPDATES = True


def fused_train_function(model):
    """`steps_per_execution` training steps as one jitted `lax.scan`, for `model.fit()`.

    Keras' JAX trainer runs each of the `steps_per_execution` steps as its
    own jitted call, from Python. Here the batches of one execution are
    stacked and scanned in one call: the same steps, in the same order, with
    one dispatch. An execution with fewer batches (the end of an epoch) or a
    batch of another size runs step by step. Returns `None` (Keras' own
    function stays) for `steps_per_execution=1`, an eager or non-jitted
    model, or a model under a `keras.distribution`.
    """
    steps = model.steps_per_execution
    if (steps <= 1 or model.run_eagerly or not model.jit_compile
            or keras.distribution.distribution() is not None):
        return None

    def scan(state, batches):
        def body(state, data):
            logs, state = model.train_step(state, data)
            return state, logs

        state, logs = jax.lax.scan(body, state, batches)
        return jax.tree.map(lambda t: t[-1], logs), state

    scan = jax.jit(scan, donate_argnums=0)
    one_step = jax.jit(model.train_step, donate_argnums=0)

    def train_function(state, iterator):
        batches = []
        for data in iterator:
            batches.append(data)
            if len(batches) == steps:
                break
        if not batches:
            raise StopIteration
        leaves = [jax.tree.leaves(data) for data in batches]
        if len(batches) == steps and all(
            [leaf.shape for leaf in each] == [leaf.shape for leaf in leaves[0]] for each in leaves
        ):
            return scan(state, jax.tree.map(lambda *t: jnp.stack(t), *batches))
        for data in batches:
            logs, state = one_step(state, data)
        return logs, state

    return train_function


def assign_columns(variable, units, columns):
    """An indexed update of the columns (in place once the step donates the variable)."""
    variable.assign(variable.value.at[:, units].set(columns))


def is_traced(tensor):
    return isinstance(tensor, jax.core.Tracer)


def report_unless(condition, report):
    """Eagerly `report(eager=True)`; in a jitted step `report(eager=False)` by `jax.debug.callback`."""
    if not is_traced(condition):
        return report_now(condition, report)
    jax.lax.cond(condition, lambda: None, lambda: jax.debug.callback(lambda: report(eager=False)))


def default_conv_method(strides, dilation_rate):
    """`"shifts"` on the CPU (XLA's weight-gradient convolution is 1.5-4x slower), else `"conv"`."""
    return "shifts" if jax.default_backend() == "cpu" else "conv"


def top_k_indices(values, k):
    """Per row of `values` `(samples, units)`: the indices of the k largest entries, by rank.

    XLA's `top_k` on the CPU sorts each row, up to 50 ms for 100 x 2000 inside a
    training step. Here the units are cut into groups of about `sqrt(units)`:
    the k largest entries lie in the k groups with the largest maxima (ranked
    by maximum, then by index), so `k` rounds of "take the largest, mask it"
    run over those `k` groups only, after one pass over the row for the
    groups' maxima. Exact; equal entries rank by index, as `top_k` ranks them.
    """
    samples, units = values.shape
    size = _group_size(units)
    groups = -(-units // size)
    index = jnp.arange(units, dtype="int32")
    if groups > k and 2 * k * size < units:
        if groups * size > units:
            values = jnp.pad(values, ((0, 0), (0, groups * size - units)),
                             constant_values=-jnp.inf)
        blocks = values.reshape(samples, groups, size)
        maxima = jnp.max(blocks, axis=-1)
        chosen = _ranked(maxima, jnp.arange(groups, dtype="int32"), k, groups)
        values = jnp.take_along_axis(blocks, chosen[:, :, None], axis=1).reshape(samples, k * size)
        index = (chosen[:, :, None] * size + jnp.arange(size, dtype="int32")).reshape(samples, -1)
    return _ranked(values, jnp.broadcast_to(index, values.shape), k, units)


def _group_size(units):
    """About `sqrt(units)`: a divisor of `units` near it if there is one (no padding)."""
    root = max(1, math.isqrt(units))
    for size in sorted(range(max(1, root // 2), 2 * root + 1), key=lambda d: abs(d - root)):
        if units % size == 0:
            return size
    return root


def _ranked(values, index, k, count):
    """The indices (`index`'s entries, below `count`) of each row's k largest entries, `(rows, k)`.

    A row holding NaN names no entry; its indices are clamped to `count - 1`.
    """
    largest = jnp.iinfo(jnp.int32).max
    ranked = []
    for _ in range(k):
        top = jnp.max(values, axis=-1, keepdims=True)
        chosen = jnp.minimum(jnp.min(jnp.where(values == top, index, largest), axis=-1), count - 1)
        ranked.append(chosen)
        values = jnp.where(index == chosen[:, None], -jnp.inf, values)
    return jnp.stack(ranked, axis=1)
