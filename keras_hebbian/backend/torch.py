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


def store_by_columns(variable):
    """Keep the variable's memory column by column (its transpose contiguous).

    A unit's weights are then one contiguous run of memory, so gathering and
    writing the columns of a few units reads and writes only those; stored
    by rows, each of a unit's weights lies in its own cache line, and a
    gather of a tenth of the columns streams most of the matrix. Products
    read the matrix as a transposed operand, at the same speed. Assigns
    (`copy_`) keep the layout; values, saving and loading do not change.
    """
    value = variable.value
    if value.dim() == 2 and value.device.type != "meta" and value.stride(0) != 1:
        with torch.no_grad():
            value.data = value.data.t().contiguous().t()


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


def conv_methods(strides, dilation_rate):
    return ("native", "shifts", "conv")


def default_conv_method(strides, dilation_rate):
    return "native"


def native_conv_correlation(inputs, signal, kernel_size, strides, dilation_rate):
    """PyTorch's `convolution_backward`, the kernel a `Conv2D` training step runs."""
    channels, units = inputs.shape[-1], signal.shape[-1]
    x = inputs.permute(0, 3, 1, 2)
    y = signal.permute(0, 3, 1, 2)
    # Only the weight's shape matters to the kernel; an expanded zero costs nothing.
    weight = x.new_zeros(()).expand(units, channels, kernel_size[0], kernel_size[1])
    _, grad_weight, _ = torch.ops.aten.convolution_backward(
        y, x, weight, None, list(strides), [0, 0], list(dilation_rate), False, [0, 0], 1,
        [False, True, False],
    )
    return grad_weight.permute(2, 3, 1, 0)
