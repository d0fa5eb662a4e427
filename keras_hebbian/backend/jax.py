"""The JAX backend: in-place column updates, host callbacks from jitted steps."""

import jax
import jax.numpy as jnp
import keras

from keras_hebbian.backend.common import (  # noqa: F401
    AUTOMATIC_STEPS,
    STACKED_BYTES,
    compiled_update,
    conv_methods,
    default_jit_compile,
    execution_parts,
    native_conv_correlation,
    new_report_flag,
    pad,
    read_report_flag,
    refusal_pending,
    report_now,
    segment_sum,
    snapshot,
    softmax,
    store_by_units,
    take_columns,
)
from keras_hebbian.backend.common import grouped_top_k_indices as top_k_indices  # noqa: F401


def column_updates():
    return True


def _scans(model):
    """Whether `fused_train_function` can scan this compiled model's steps."""
    return (not model.run_eagerly and model.jit_compile
            and keras.distribution.distribution() is None)


def automatic_steps_per_execution(model):
    """`AUTOMATIC_STEPS` where `fused_train_function` scans them, else 1."""
    return AUTOMATIC_STEPS if _scans(model) else 1


#: While `learning_calls` traces a training step: the learning calls of each
#: Hebbian layer in it, by the layer's `id` (`learning_call`); else `None`.
_learning_calls = None


def learning_call(layer):
    """Count a learning call of `layer` while `learning_calls` traces a step."""
    if _learning_calls is not None:
        _, calls = _learning_calls.get(id(layer), (layer, 0))
        _learning_calls[id(layer)] = (layer, calls + 1)


def learning_calls(model, state, data):
    """The learning calls each Hebbian layer makes in one training step of `model`.

    Traces the step (`jax.eval_shape`, nothing runs) on `state` and `data`.
    Returns `(calls, logs)`: a list of `(layer, calls)` for the layers that
    learn in the step (a frozen layer makes none), and the step's logs as
    shapes.
    """
    global _learning_calls
    _learning_calls = {}
    try:
        logs = jax.eval_shape(model.train_step, state, data)[0]
        return list(_learning_calls.values()), logs
    finally:
        _learning_calls = None


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

    A learning call that a Hebbian layer refuses (a batch holding NaN or
    Inf, or an update that would make a weight non-finite) ends the scan's
    learning: the scan sees it as a step after which the layer's
    `iterations` grew by less than its learning calls in a step
    (`learning_calls`), skips the steps after it, and the call returns, so
    that `NonFiniteGuard` stops `fit()` with the weights of that step, as
    with one step per call. Where none of `layers` (the model's Hebbian
    layers) reported the refusal (a batch left out by
    `on_nonfinite="skip"`), the skipped batches run step by step.

    Returns `None` (Keras' own function stays) for `steps_per_execution=1`,
    an eager or non-jitted model, or a model under a `keras.distribution`.
    """
    steps = model.steps_per_execution
    if steps <= 1 or not _scans(model):
        return None
    layers = list(layers)
    # where each variable lies in the state Keras passes (its second part)
    non_trainable = {id(v): i for i, v in enumerate(model.non_trainable_variables)}

    def scan(state, batches, valid):
        first = jax.tree.map(lambda t: t[0], batches)
        calls, logs_shape = learning_calls(model, state, first)
        # each learning layer's `iterations` in the state, and its growth in a step
        counters = [(non_trainable[id(layer.iterations)], count) for layer, count in calls]
        no_logs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), logs_shape)

        def body(carry, inputs):
            logs, state, stopped = carry
            data, ok, index = inputs
            ok = jnp.logical_and(ok, stopped < 0)

            def step(carry):
                logs, state = model.train_step(carry[1], data)
                return logs, state

            logs, after = jax.lax.cond(ok, step, lambda carry: carry, (logs, state))
            if counters:
                refused = jnp.any(jnp.stack(
                    [after[1][i] - state[1][i] < count for i, count in counters]))
                stopped = jnp.where(jnp.logical_and(ok, refused), index, stopped)
            return (logs, after, stopped), None

        indices = jnp.arange(valid.shape[0])
        carry = (no_logs, state, jnp.array(-1, "int32"))
        (logs, state, stopped), _ = jax.lax.scan(body, carry, (batches, valid, indices))
        return logs, state, stopped

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
        for group, padded in execution_parts(batches, steps, STACKED_BYTES):
            if len(padded) == 1:
                logs, state = one_step(state, group[0])
                continue
            stacked = jax.tree.map(lambda *t: jnp.stack(t), *padded)
            valid = jnp.arange(len(padded)) < len(group)
            logs, state, stopped = scan(state, stacked, valid)
            stopped = int(stopped)
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
