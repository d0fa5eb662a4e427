"""The JAX backend: in-place column updates, host callbacks from jitted steps."""

import jax
import jax.numpy as jnp
import keras

from keras_hebbian.backend.common import (  # noqa: F401
    AUTOMATIC_STEPS,
    compiled_update,
    conv_methods,
    default_jit_compile,
    native_conv_correlation,
    new_report_flag,
    read_report_flag,
    refusal_pending,
    report_now,
    segment_sum,
    snapshot,
    store_by_columns,
    take_columns,
)
from keras_hebbian.backend.common import grouped_top_k_indices as top_k_indices  # noqa: F401


def column_updates():
    return True


#: The most bytes of batches one scan stacks; an execution of larger batches
#: is scanned in parts.
STACKED_BYTES = 256 * 2**20


def _scans(model):
    """Whether `fused_train_function` can scan this compiled model's steps."""
    return (not model.run_eagerly and model.jit_compile
            and keras.distribution.distribution() is None)


def automatic_steps_per_execution(model):
    """`AUTOMATIC_STEPS` where `fused_train_function` scans them, else 1."""
    return AUTOMATIC_STEPS if _scans(model) else 1


def fused_train_function(model, layers=()):
    """`steps_per_execution` training steps as one jitted `lax.scan`, for `model.fit()`.

    Keras' JAX trainer runs each of the `steps_per_execution` steps as its
    own jitted call, from Python. Here the batches of one execution are
    stacked and scanned in one call: the same steps, in the same order, with
    one dispatch. The scan always has the same length, so that one program
    serves every execution: a shorter one (the end of an epoch) is padded
    with copies of its last batch, and the steps on those are skipped
    (`lax.cond`). One scan stacks at most `STACKED_BYTES` of batches (an
    execution of larger ones is scanned in parts), and consecutive batches
    of one size are scanned together (a batch of another size, such as an
    epoch's short last one, in a scan of its own size).

    Where one of `layers` (the model's Hebbian layers) learns with
    `on_nonfinite="raise"`, a batch whose inputs hold NaN or Inf ends the
    scan's learning: its step runs (the layer refuses it and reports), the
    steps after it are skipped, and the call returns, so that
    `NonFiniteGuard` stops `fit()` with the weights learned before that
    batch, as with one step per call. If no layer refused it (no learning
    layer saw the values), the skipped batches run step by step.

    Returns `None` (Keras' own function stays) for `steps_per_execution=1`,
    an eager or non-jitted model, or a model under a `keras.distribution`.
    """
    steps = model.steps_per_execution
    if steps <= 1 or not _scans(model):
        return None
    layers = list(layers)
    halts = any(layer.trainable and layer.on_nonfinite == "raise" for layer in layers)

    def finite_inputs(data):
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        checks = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(x)
                  if jnp.issubdtype(leaf.dtype, jnp.inexact)]
        return jnp.all(jnp.stack(checks)) if checks else jnp.array(True)

    def scan(state, batches, valid):
        first = jax.tree.map(lambda t: t[0], batches)
        logs_shape = jax.eval_shape(model.train_step, state, first)[0]
        no_logs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), logs_shape)

        def body(carry, inputs):
            logs, state, stopped = carry
            data, ok, index = inputs
            ok = jnp.logical_and(ok, stopped < 0)
            if halts:
                bad = jnp.logical_and(ok, jnp.logical_not(finite_inputs(data)))
                stopped = jnp.where(bad, index, stopped)

            def step(carry):
                logs, state = model.train_step(carry[1], data)
                return logs, state

            logs, state = jax.lax.cond(ok, step, lambda carry: carry, (logs, state))
            return (logs, state, stopped), None

        indices = jnp.arange(valid.shape[0])
        carry = (no_logs, state, jnp.array(-1, "int32"))
        (logs, state, stopped), _ = jax.lax.scan(body, carry, (batches, valid, indices))
        return logs, state, stopped

    scan = jax.jit(scan, donate_argnums=0)
    one_step = jax.jit(model.train_step, donate_argnums=0)

    def signature(data):
        return [(leaf.shape, leaf.dtype) for leaf in jax.tree.leaves(data)]

    def train_function(state, iterator):
        batches = []
        for data in iterator:
            batches.append(data)
            if len(batches) == steps:
                break
        if not batches:
            raise StopIteration
        size = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(batches[0]))
        part = max(1, min(steps, STACKED_BYTES // max(size, 1)))
        if part == 1:
            for data in batches:
                logs, state = one_step(state, data)
            return logs, state
        start = 0
        while start < len(batches):
            end = start + 1
            while (end < len(batches) and end - start < part
                   and signature(batches[end]) == signature(batches[start])):
                end += 1
            group = batches[start:end]
            padded = group + [group[-1]] * (part - len(group))
            stacked = jax.tree.map(lambda *t: jnp.stack(t), *padded)
            valid = jnp.arange(part) < len(group)
            logs, state, stopped = scan(state, stacked, valid)
            start = end
            stopped = int(stopped) if halts else -1
            if stopped >= 0:
                jax.effects_barrier()  # the refusals' host callbacks have run
                if any(layer.nonfinite_error is not None for layer in layers):
                    return logs, state  # the guard stops fit() here
                for data in group[stopped + 1:]:
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
