"""The PyTorch backend: eager steps, snapshots for autograd, its own weight-gradient kernel."""

import torch
from keras import ops

from keras_hebbian.backend.common import (  # noqa: F401
    automatic_steps_per_execution,
    compiled_update,
    default_jit_compile,
    fused_train_function,
    is_traced,
    learning_call,
    new_report_flag,
    read_report_flag,
    refusal_pending,
    report_unless,
    top_k_indices,
)


def column_updates():
    return True


def snapshot(value, partner=None):
    """A copy, unless `partner` is known and needs no gradient.

    The assigns are in place (`copy_`, `index_copy_`): if autograd saved the
    very tensor the forward pass read (a trainable layer upstream needs the
    gradient of `partner`, the tensor `value` is multiplied with), the assign
    would break the backward pass.
    """
    if partner is not None and not getattr(partner, "requires_grad", True):
        return value
    return ops.copy(value)


def segment_sum(data, segment_ids, num_segments):
    """`index_add_` into zeros: one kernel, and no wait for the device.

    (Keras' `segment_sum` copies the shape to the device and sizes a
    `repeat_interleave` from a device tensor, which waits for the GPU.)
    """
    data = ops.convert_to_tensor(data)
    segment_ids = ops.convert_to_tensor(segment_ids).long()
    summed = data.new_zeros((num_segments,) + tuple(data.shape[1:]))
    return summed.index_add_(0, segment_ids, data)


def store_by_units(variable):
    """Keep the variable's memory unit by unit: its last axis outermost.

    A dense kernel is then stored column by column (its transpose
    contiguous): gathering and writing the columns of a few units reads and
    writes only those, where stored by rows each of a unit's weights lies in
    its own cache line and a gather of a tenth of the columns streams most
    of the matrix; products read it as a transposed operand, at the same
    speed. A convolution's `(height, width, in_channels, units)` kernel is
    then stored as PyTorch's channels-last filters, `(units, height, width,
    in_channels)`: Keras' convolution reads it without a copy, and the
    weight gradient of inputs in Keras' channels-last layout comes out in
    the same order, so the update's passes over the kernel run through both
    in memory order. Stored by rows, each of those passes read one of them
    3456 floats apart (a block of 1536 filters of 3 x 3 x 384: a subtraction
    of the two took 4-7 ms against 1.5 ms, and Keras' copy of the filters 18
    ms a call). Assigns (`copy_`) keep the layout; values, saving and loading
    do not change.
    """
    value = variable.value
    if value.dim() >= 2 and value.device.type != "meta":
        by_units = value.movedim(-1, 0)
        if not by_units.is_contiguous():
            with torch.no_grad():
                value.data = by_units.contiguous().movedim(0, -1)


def take_columns(value, units):
    """The columns `units` of a 2D tensor, gathered as they lie in memory."""
    units = units.long()
    if value.stride(0) == 1 and value.shape[1] > 1:  # stored by columns
        return value.t().index_select(0, units).t()
    return value.index_select(1, units)


def assign_columns(variable, units, columns):
    """Copy `columns` into the columns `units` of the variable, in place."""
    with torch.no_grad():
        variable.value.index_copy_(1, units.long(), columns.to(variable.value.dtype))


#: Below this many entries along its axis, `softmax` on a CPU runs over the other axes.
SHORT_SOFTMAX_AXIS = 16


def softmax(values, axis=-1):
    """`keras.ops.softmax` of float32 `values`, without subnormal numbers, fast on a CPU.

    Entries below float32's smallest normal number (about 1.2e-38) are zero,
    as XLA's CPU programs (JAX, TensorFlow) give them. PyTorch keeps them,
    and a CPU computes with a subnormal operand many times slower: at
    SoftHebb's temperatures a fraction of a percent of the signal is
    subnormal, and the weight-gradient convolution of its update took 12-45x
    longer (block 2 of the published network at batch 10: 218 ms against 5
    ms).

    And PyTorch's CPU softmax along the last axis is slow where that axis
    holds fewer entries than a vector register (16 floats with AVX-512): the
    responses of 7840 positions to 12 filters took 0.7 ms, against 0.05 ms
    for the same softmax taken along the first axis of the transposed view,
    which runs vectorized across the positions. Values equal to float
    rounding.
    """
    values = ops.convert_to_tensor(values)
    size = values.shape[axis]
    if values.device.type == "cpu" and values.dim() > 1 and size < SHORT_SOFTMAX_AXIS:
        out = torch.softmax(values.movedim(axis, 0), 0).movedim(0, axis)
    else:
        out = torch.softmax(values, axis)
    return out.masked_fill(out < torch.finfo(out.dtype).tiny, 0.0)


def pad(values, pad_width, mode="constant"):
    """`keras.ops.pad` without its per-call cost: PyTorch's `pad`, directly.

    Keras' `pad` builds an operation object on every eager call: about 80 us
    against 6 us for `torch.nn.functional.pad` (a (10, 14, 14, 12) batch).
    """
    flat = []
    for before, after in reversed(tuple(pad_width)):
        flat += [int(before), int(after)]
    # PyTorch pads the last len(flat) / 2 axes: leave out the unpadded leading ones.
    while len(flat) > 2 and flat[-2:] == [0, 0]:
        flat = flat[:-2]
    return torch.nn.functional.pad(ops.convert_to_tensor(values), flat, mode=mode)


def conv_methods(strides, dilation_rate):
    return ("native", "shifts", "conv")


def default_conv_method(strides, dilation_rate):
    return "native"


def native_conv_correlation(inputs, signal, kernel_size, strides, dilation_rate):
    """PyTorch's `convolution_backward`, the kernel a `Conv2D` training step runs.

    The weight it is given is never read: its shape and memory format set the
    gradient's. Channels-last, as inputs in Keras' layout are, the gradient
    comes out filter by filter, as `store_by_units` keeps the kernel, in one
    copy out of oneDNN's own layout; given an expanded zero (no format), the
    CPU's kernel made a second copy of it (block 3 of the published SoftHebb
    network: 21 MB).
    """
    channels, units = inputs.shape[-1], signal.shape[-1]
    x = inputs.permute(0, 3, 1, 2)
    y = signal.permute(0, 3, 1, 2)
    # uninitialized and never written: no pass over its memory
    weight = torch.empty((units, channels, kernel_size[0], kernel_size[1]), dtype=x.dtype,
                         device=x.device, memory_format=torch.channels_last)
    _, grad_weight, _ = torch.ops.aten.convolution_backward(
        y, x, weight, None, list(strides), [0, 0], list(dilation_rate), False, [0, 0], 1,
        [False, True, False],
    )
    return grad_weight.permute(2, 3, 1, 0)
