"""The JAX backend: in-place column updates, host callbacks from jitted steps."""

import jax

from keras_hebbian.backend.common import (  # noqa: F401
    SUPPORTS_XLA_WITH_REPORTS,
    conv_methods,
    native_conv_correlation,
    report_now,
    snapshot,
)

COLUMN_UPDATES = True


def scatter_columns(kernel, units, columns):
    """An indexed update of the columns (in place once the step donates the kernel)."""
    return kernel.at[:, units].set(columns)


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
