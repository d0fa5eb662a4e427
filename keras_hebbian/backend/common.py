"""What the backends share, and what a backend without its own module gets."""

import math

import keras
import numpy as np
from keras import ops


def column_updates():
    """Whether updating a few columns in place can beat a pass over the kernel, here.

    Asked while a learning call is built (traced, where it is compiled).
    """
    return False


def snapshot(value, partner=None):
    """The value of a plastic variable for a forward pass that learns.

    Args:
        value: the variable's value.
        partner: the tensor `value` is multiplied with (the layer's inputs),
            when known.
    """
    return value


def scatter_columns(kernel, units, columns):
    """`kernel` `(rows, n)` with its columns `units` `(m,)` replaced by `columns` `(rows, m)`.

    Repeated units carry equal columns.
    """
    rows, m = columns.shape
    row_index = ops.repeat(ops.expand_dims(ops.arange(rows, dtype="int32"), 1), m, axis=1)
    column_index = ops.broadcast_to(ops.expand_dims(ops.cast(units, "int32"), 0), (rows, m))
    coordinates = ops.stack(
        [ops.reshape(row_index, (-1,)), ops.reshape(column_index, (-1,))], axis=1
    )
    return ops.scatter_update(kernel, coordinates, ops.reshape(columns, (-1,)))


def segment_sum(data, segment_ids, num_segments):
    """The rows of `data` summed by segment: row `i` adds to row `segment_ids[i]`.

    Args:
        data: tensor `(n, ...)`.
        segment_ids: int tensor `(n,)`, each in `[0, num_segments)`.
        num_segments: int, the rows of the result.
    """
    return ops.segment_sum(data, segment_ids, num_segments=num_segments)


def top_k_indices(values, k):
    """Per row of `values` `(samples, units)`: the indices of the k largest entries, by rank.

    An int tensor `(samples, k)`; an entry equal to a higher-ranked one
    takes the next rank.
    """
    return ops.top_k(values, k)[1]


def grouped_top_k_indices(values, k):
    """`top_k_indices` for XLA, which may sort each row for `top_k` on the CPU.

    Inside a training step that reads single ranks of its result (the
    winner, the `k`-th), XLA's `top_k` becomes a sort of each row on the CPU:
    up to 50 ms for 100 x 2000, against about 0.5 ms for its own TopK kernel
    (which JAX reaches only behind `jax.lax.optimization_barrier`). Here the
    units are cut into groups of about `sqrt(units)`: the k largest entries
    lie in the k groups with the largest maxima (ranked by maximum, then by
    index), so `k` rounds of "take the largest, mask it" run over those `k`
    groups only, after one pass over the row for the groups' maxima. Exact;
    equal entries rank by index, as `top_k` ranks them.
    """
    units = values.shape[-1]
    size = _group_size(units)
    groups = -(-units // size)
    index = ops.arange(units, dtype="int32")
    if groups > k and 2 * k * size < units:
        if groups * size > units:
            values = ops.pad(values, ((0, 0), (0, groups * size - units)),
                             constant_values=float("-inf"))
        blocks = ops.reshape(values, (-1, groups, size))
        maxima = ops.max(blocks, axis=-1)
        chosen = _ranked(maxima, ops.arange(groups, dtype="int32"), k, groups)
        values = ops.reshape(
            ops.take_along_axis(blocks, ops.expand_dims(chosen, -1), axis=1), (-1, k * size)
        )
        index = ops.reshape(
            ops.expand_dims(chosen, -1) * size + ops.arange(size, dtype="int32"), (-1, k * size)
        )
    return _ranked(values, index, k, units)


def _group_size(units):
    """About `sqrt(units)`: a divisor of `units` near it if there is one (no padding)."""
    root = max(1, math.isqrt(units))
    for size in sorted(range(max(1, root // 2), 2 * root + 1), key=lambda d: abs(d - root)):
        if units % size == 0:
            return size
    return root


def _ranked(values, index, k, count):
    """The indices (`index`'s entries, below `count`) of each row's k largest entries, `(rows, k)`.

    `index` is `values`' shape or broadcasts to it. A row holding NaN names
    no entry; its indices are clamped to `count - 1`.
    """
    largest = 2**31 - 1
    index = ops.zeros_like(values, dtype="int32") + index
    ranked = []
    for _ in range(k):
        top = ops.max(values, axis=-1, keepdims=True)
        chosen = ops.minimum(
            ops.min(ops.where(ops.equal(values, top), index, largest), axis=-1), count - 1
        )
        ranked.append(chosen)
        values = ops.where(ops.equal(index, ops.expand_dims(chosen, -1)), float("-inf"), values)
    return ops.stack(ranked, axis=1)


def softmax(values, axis=-1):
    """`keras.ops.softmax` of float32 `values` along `axis`.

    On a CPU, XLA's programs (JAX, TensorFlow) flush results below float32's
    smallest normal number to zero; PyTorch's `softmax` does that itself.
    """
    return ops.softmax(values, axis=axis)


def pad(values, pad_width, mode="constant"):
    """`keras.ops.pad` of `values`: `pad_width` holds a `(before, after)` pair per axis,
    `mode` is `"constant"` (zeros) or `"reflect"`."""
    return ops.pad(values, pad_width, mode=mode)


def store_by_units(variable):
    """Lay out a variable's memory unit by unit, where that is the backend's choice.

    The last axis is units: each unit's weights (a column of a dense kernel,
    a filter of a convolution's) become one contiguous run of memory. Called
    once, when a layer creates the variable. The values, saving and loading
    do not change.
    """


def take_columns(value, units):
    """The columns `units` `(m,)` of a 2D tensor, `(rows, m)`."""
    return ops.take(value, units, axis=1)


def assign_columns(variable, units, columns):
    """Assign `columns` `(rows, m)` to the columns `units` `(m,)` of a 2D variable.

    Repeated units carry equal columns.
    """
    variable.assign(scatter_columns(variable.value, units, columns))


def learning_call(layer):
    """Called by a Hebbian layer once per learning call, as the call is built
    (traced, where the step is compiled); JAX's scan counts them."""


def fused_train_function(model, layers=()):
    """A train function running `model.steps_per_execution` steps as one program, or `None`.

    `layers`: the model's Hebbian layers. `None` where nothing would be
    gained (PyTorch runs each step eagerly).
    """
    return None


#: The most bytes of batches that one compiled loop over an execution's steps
#: stacks (`fused_train_function`); an execution of larger batches runs in parts.
STACKED_BYTES = 256 * 2**20


def _signature(data):
    return [(tuple(leaf.shape), keras.backend.standardize_dtype(leaf.dtype))
            for leaf in keras.tree.flatten(data)]


def execution_parts(batches, steps, stacked_bytes):
    """The parts in which a compiled loop runs the batches of one execution, in order.

    Consecutive batches of one shape run together, at most `part` of them,
    where `part` (at most `steps`) batches hold at most `stacked_bytes`; a
    batch of another shape (an epoch's short last one) starts a part of its
    own. Yields `(group, padded)`: the batches, and the same padded with
    copies of the last to the `part` batches the loop runs (so that one
    program serves every part of a shape); `padded` holds one batch where two
    would hold more than `stacked_bytes`.
    """
    size = sum(math.prod(shape) * np.dtype(dtype).itemsize
               for shape, dtype in _signature(batches[0]))
    part = max(1, min(steps, stacked_bytes // max(size, 1)))
    start = 0
    while start < len(batches):
        end = start + 1
        while (end < len(batches) and end - start < part
               and _signature(batches[end]) == _signature(batches[start])):
            end += 1
        group = batches[start:end]
        yield group, group + [group[-1]] * (part - len(group))
        start = end


#: Steps per compiled call that `compile(steps_per_execution="auto")` chooses
#: where several pay: on an H200, 50, 200 and 600 steps per call ran a
#: Krotov-Hopfield epoch in 0.26-0.28 s alike (`docs/benchmarks.md`).
AUTOMATIC_STEPS = 50


def automatic_steps_per_execution(model):
    """The steps per compiled call that `compile(steps_per_execution="auto")` of
    `keras_hebbian.models` chooses for the compiled `model`: 1 where several
    would gain nothing (here: Keras' PyTorch trainer takes one step per call)."""
    return 1


def compiled_update(update):
    """`update` as the backend runs a layer's weight update inside a training step."""
    return update


def default_jit_compile(model, run_eagerly):
    """What `compile(jit_compile="auto")` of `keras_hebbian.models` passes on to Keras."""
    return "auto"


def is_traced(tensor):
    """Whether `tensor` has no value yet (it is inside a function being traced)."""
    return False


def report_now(condition, report):
    """Call `report(eager=True)` at once when the concrete `condition` (a bool, or a
    scalar bool tensor) is false."""
    if not (condition if isinstance(condition, bool) else bool(ops.convert_to_numpy(condition))):
        report(eager=True)


def report_unless(condition, report):
    """Call `report` on the Python side when the scalar bool `condition` is false.

    Eagerly (a layer called outside a compiled step, or PyTorch) it calls
    `report(eager=True)` at once, so an exception `report` raises reaches the
    caller. Inside a compiled step a backend calls `report(eager=False)` as a
    host callback while the step executes; there `report` must not raise,
    only record: the step goes on. Where a compiled step cannot call the host
    (TensorFlow's XLA), the step stores `report.code` in `report.flag`
    instead, and `report.layer.poll_nonfinite()` reads it after the step.
    """
    report_now(condition, report)


def new_report_flag():
    """The variable a compiled step records a refused update in, where it cannot call the
    host (`report_unless`); `None` where every compiled step can."""
    return None


def refusal_pending(flag):
    """In a compiled step: whether the report flag `flag` holds a refusal not read yet,
    as a scalar bool tensor; `None` where there is no flag to read (refusals reach the
    host, or the call runs eagerly)."""
    return None


def read_report_flag(flag):
    """The code recorded in a report flag (0: none), which is then cleared."""
    return 0


def conv_methods(strides, dilation_rate):
    """The weight-gradient methods this backend runs for a convolution's geometry."""
    return ("shifts", "conv")


def default_conv_method(strides, dilation_rate):
    """The fastest measured method that runs this geometry on this backend."""
    return "conv"


def native_conv_correlation(inputs, signal, kernel_size, strides, dilation_rate):
    """The backend's own weight-gradient kernel (TensorFlow and PyTorch only)."""
    raise ValueError("method='native' needs the TensorFlow or PyTorch backend.")
