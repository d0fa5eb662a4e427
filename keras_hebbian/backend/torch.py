"""The PyTorch backend: eager steps, snapshots for autograd, its own weight-gradient kernel."""

import torch
from keras import ops

from keras_hebbian.backend.common import (  # noqa: F401
    SUPPORTS_XLA_WITH_REPORTS,
    is_traced,
    report_unless,
    scatter_columns,
)

COLUMN_UPDATES = True


def snapshot(value):
    """A copy: the assign is an in-place `copy_`, and if autograd saved the very
    tensor the forward pass read (a trainable layer upstream needs it for its
    gradient), the assign would break the backward pass."""
    return ops.copy(value)


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
