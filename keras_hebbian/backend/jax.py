"""The JAX backend: in-place column updates, host callbacks from jitted steps."""

import jax
import jax.numpy as jnp
import keras

from keras_hebbian.backend.common import (  # noqa: F401
    compiled_update,
    conv_methods,
    default_jit_compile,
    native_conv_correlation,
    new_report_flag,
    read_report_flag,
    report_now,
    segment_sum,
    snapshot,
    store_by_columns,
    take_columns,
)
from keras_hebbian.backend.common import grouped_top_k_indices as top_k_indices  # noqa: F401


def column_updates():
    return True


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
