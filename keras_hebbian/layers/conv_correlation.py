"""The weight-gradient of a convolution: the mean over positions of `patch ⊗ signal`.

`HebbianConv2D`'s rules ask for `<x y>` where `x` is the input patch at an
output position and `y` a post-synaptic signal there. That is the weight
gradient of a convolution, and its fastest form differs by backend:

- `"native"`: the backend's own weight-gradient kernel (TensorFlow's
  `Conv2DBackpropFilter`, PyTorch's `convolution_backward`), the kernel a
  `keras.layers.Conv2D` training step runs. Default on TensorFlow and PyTorch.
- `"shifts"`: one matrix product per group of kernel offsets, each of the
  signal with the input shifted by those offsets. A group holds at most as
  many input values as the signal has (`offsets * channels <= units`), so the
  update never builds more than an output-sized block of shifted inputs, and
  never the whole patch tensor when that is larger. Default for JAX on the
  CPU, where XLA's weight-gradient convolution is 1.5-4x slower.
- `"conv"`: a convolution of the inputs (channels as batch) with the signal
  (images as channels), in `keras.ops`. Default for JAX on accelerators.

All three give the same result (the tests compare each with a patches
reference on every backend).
"""

import keras
from keras import ops

METHODS = ("auto", "native", "shifts", "conv")


def default_method():
    """The fastest method measured for this backend and device."""
    backend = keras.backend.backend()
    if backend in ("tensorflow", "torch"):
        return "native"
    if backend == "jax":
        import jax

        return "shifts" if jax.default_backend() == "cpu" else "conv"
    return "conv"


def available_methods():
    """The methods this backend can run (`"native"` is TensorFlow and PyTorch only)."""
    if keras.backend.backend() in ("tensorflow", "torch"):
        return ("native", "shifts", "conv")
    return ("shifts", "conv")


def conv_correlation(inputs, signal, kernel_size, strides, dilation_rate, method="auto"):
    """Sum over images and output positions of `patch ⊗ signal`.

    Args:
        inputs: float32 `(batch, height, width, channels)`, already padded.
        signal: float32 `(batch, out_height, out_width, units)`, the
            post-synaptic signal at each output position (a `"valid"`
            convolution of `inputs`).
        kernel_size, strides, dilation_rate: pairs of ints.
        method: `"auto"`, `"native"`, `"shifts"` or `"conv"` (see the module).

    Returns:
        float32 `(kernel_height, kernel_width, channels, units)`: the sum
        (not the mean) over all patches.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")
    if method == "auto":
        method = default_method()
    if method == "native":
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return _tensorflow(inputs, signal, kernel_size, strides, dilation_rate)
        if backend == "torch":
            return _torch(inputs, signal, kernel_size, strides, dilation_rate)
        raise ValueError(
            f"method='native' needs the TensorFlow or PyTorch backend; this is {backend!r}."
        )
    if method == "shifts":
        return _shifts(inputs, signal, kernel_size, strides, dilation_rate)
    return _conv(inputs, signal, kernel_size, strides, dilation_rate)


def _shifts(inputs, signal, kernel_size, strides, dilation_rate):
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation_rate
    _, oh, ow, units = signal.shape
    channels = inputs.shape[-1]
    y = ops.reshape(signal, (-1, units))
    offsets = [(p, q) for p in range(kh) for q in range(kw)]
    per_group = max(1, units // channels)
    blocks = []
    for start in range(0, len(offsets), per_group):
        shifted = [
            ops.reshape(
                inputs[:, p * dh: p * dh + (oh - 1) * sh + 1: sh,
                       q * dw: q * dw + (ow - 1) * sw + 1: sw, :],
                (-1, channels),
            )
            for p, q in offsets[start:start + per_group]
        ]
        block = shifted[0] if len(shifted) == 1 else ops.concatenate(shifted, axis=-1)
        blocks.append(ops.matmul(ops.transpose(block), y))
    summed = blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=0)
    return ops.reshape(summed, (kh, kw, channels, units))


def _conv(inputs, signal, kernel_size, strides, dilation_rate):
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation_rate
    # out[c, i, j, f] = sum_{n,p,q} x[n, i*d + p*s, j*d + q*s, c] y[n, p, q, f]:
    # a convolution of the inputs (channels as batch) with the signal
    # (images as input channels), strides and dilations swapped.
    x_t = ops.transpose(inputs, (3, 1, 2, 0))
    y_t = ops.transpose(signal, (1, 2, 0, 3))
    out = ops.conv(x_t, y_t, strides=(dh, dw), padding="valid", dilation_rate=(sh, sw))
    return ops.transpose(out[:, :kh, :kw, :], (1, 2, 0, 3))


def _tensorflow(inputs, signal, kernel_size, strides, dilation_rate):
    import tensorflow as tf

    channels, units = inputs.shape[-1], signal.shape[-1]
    return tf.raw_ops.Conv2DBackpropFilter(
        input=inputs,
        filter_sizes=[kernel_size[0], kernel_size[1], channels, units],
        out_backprop=signal,
        strides=[1, strides[0], strides[1], 1],
        padding="VALID",
        dilations=[1, dilation_rate[0], dilation_rate[1], 1],
        data_format="NHWC",
    )


def _torch(inputs, signal, kernel_size, strides, dilation_rate):
    import torch

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
