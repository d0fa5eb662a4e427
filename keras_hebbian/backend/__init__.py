"""What differs between Keras' backends, in one place.

The layers and rules are written in `keras.ops` and never ask which backend
runs them. The few things that must differ are implemented once per backend,
in `keras_hebbian.backend.jax`, `.tensorflow` and `.torch` (`.common` holds
what they share), and this module exposes the running backend's, chosen once
at import (Keras fixes its backend when it is imported):

- `snapshot(value, partner)`: the value a learning call's forward pass reads.
- `assign_columns(variable, units, columns)` and `column_updates_pay(entries,
  units)`: writing a few columns of a kernel in place, and whether that beats
  a pass over the whole kernel in the step being built; `take_columns(value,
  units)` reads them, and `store_by_units(variable)` lays out a kernel unit
  by unit, for them and for a convolution's update, where the backend lets
  the library choose (PyTorch).
- `top_k_indices(values, k)`: the k largest responses of each sample, as
  competitive rules rank their units.
- `segment_sum(data, segment_ids, num_segments)`: rows summed by segment, as
  a column update sums the entries that name the same unit.
- `is_traced(tensor)` and `report_unless(condition, report)`: tell the Python
  side, from inside a compiled training step, that a learning call was
  refused; `new_report_flag()` and `read_report_flag(flag)`: where a compiled
  step cannot call the host (TensorFlow's XLA), the variable it records that
  in, and reading it; `refusal_pending(flag)`: in a compiled step, whether
  the flag holds a refusal not read yet (a guarded layer then learns nothing).
- `compiled_update(update)`: a layer's weight update as the backend runs it
  inside a training step (TensorFlow: compiled by XLA where the step is not).
- `fused_train_function(model, layers)`: `compile(steps_per_execution=N)`'s N steps
  as one compiled program, where Keras' own trainer dispatches each step (JAX, and
  TensorFlow under XLA); `execution_parts` (in `.common`) splits an execution's
  batches into the parts one program stacks;
  `learning_call(layer)`: a layer tells the backend of each learning call it
  builds (JAX's scan counts them, to see a refused one);
  `automatic_steps_per_execution(model)`: the N that `compile()` of
  `keras_hebbian.models` chooses (1 where several would gain nothing);
  `default_jit_compile(model, run_eagerly)`: what `compile(jit_compile="auto")`
  of `keras_hebbian.models` asks Keras for (TensorFlow: XLA on a CPU too).
- `conv_methods`, `default_conv_method`, `native_conv_correlation`: the
  weight-gradient kernels of `keras_hebbian.layers.conv_correlation`.
- `softmax(values, axis)` and `pad(values, pad_width, mode)`: `keras.ops`'
  own, where a backend runs them slowly through Keras (PyTorch eagerly);
  `softmax` leaves no subnormal number, on which a CPU computes slowly.

The collectives of several devices are in `keras_hebbian.distribution`.
"""

import keras

BACKEND = keras.backend.backend()

if BACKEND == "jax":
    from keras_hebbian.backend import jax as _current
elif BACKEND == "tensorflow":
    from keras_hebbian.backend import tensorflow as _current
elif BACKEND == "torch":
    from keras_hebbian.backend import torch as _current
else:
    from keras_hebbian.backend import common as _current

snapshot = _current.snapshot
segment_sum = _current.segment_sum
top_k_indices = _current.top_k_indices
fused_train_function = _current.fused_train_function
learning_call = _current.learning_call
automatic_steps_per_execution = _current.automatic_steps_per_execution
compiled_update = _current.compiled_update
default_jit_compile = _current.default_jit_compile
assign_columns = _current.assign_columns
store_by_units = _current.store_by_units
take_columns = _current.take_columns
is_traced = _current.is_traced
report_unless = _current.report_unless
new_report_flag = _current.new_report_flag
read_report_flag = _current.read_report_flag
refusal_pending = _current.refusal_pending
conv_methods = _current.conv_methods
default_conv_method = _current.default_conv_method
native_conv_correlation = _current.native_conv_correlation
softmax = _current.softmax
pad = _current.pad


def column_updates_pay(entries, units):
    """Whether updating `entries` columns in place beats a pass over `units` columns.

    Args:
        entries: int or `None`, the columns a batch changes (samples times the
            units each sample moves); `None` when unknown at trace time.
        units: int, the kernel's columns.
    """
    return _current.column_updates() and entries is not None and entries <= units // 4


__all__ = [
    "BACKEND",
    "assign_columns",
    "automatic_steps_per_execution",
    "column_updates_pay",
    "compiled_update",
    "conv_methods",
    "default_conv_method",
    "default_jit_compile",
    "fused_train_function",
    "is_traced",
    "learning_call",
    "new_report_flag",
    "pad",
    "read_report_flag",
    "native_conv_correlation",
    "refusal_pending",
    "report_unless",
    "segment_sum",
    "snapshot",
    "softmax",
    "store_by_units",
    "take_columns",
    "top_k_indices",
]
