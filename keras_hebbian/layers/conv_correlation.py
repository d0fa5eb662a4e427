"""The weight-gradient of a convolution: the mean over positions of `patch ⊗ signal`.

`HebbianConv2D`'s rules ask for `<x y>` where `x` is the input patch at an
output position and `y` a post-synaptic signal there. That is the weight
gradient of a convolution, and its fastest form differs by backend:

- `"native"`: the backend's own weight-gradient kernel (TensorFlow's
  `Conv2DBackpropFilter`, PyTorch's `convolution_backward`), the kernel a
  `keras.layers.Conv2D` training step runs. Default on TensorFlow and PyTorch.
  On TensorFlow a dilated convolution never reaches the dilated kernel, which
  the plain (Eigen) CPU build lacks: wherever oneDNN is off (CPUs without
  AVX-512, or `TF_ENABLE_ONEDNN_OPTS=0`) it raises "Current CPU
  implementations do not yet support dilation rates larger than 1". Instead
  each dilated axis is split into its `dilation` phases (`space_to_batch_nd`,
  as `tf.nn.atrous_conv2d` runs a dilated convolution), which turns the
  dilated gradient into an undilated one over `dilation_h * dilation_w` times
  as many, smaller, images. It runs the same way on every CPU; measured, as
  fast as the dilated oneDNN kernel where there is one, 1.5-2x faster than
  `"conv"` with oneDNN and at most about 1.3x slower than it without. It
  needs a stride of 1 on each dilated axis (`keras.layers.Conv2D` and
  `HebbianConv2D` take no stride above 1 with a dilation above 1 at all): for
  a stride and a dilation above 1 on the same axis it raises a `ValueError`,
  and `"auto"` picks `"shifts"`.
- `"shifts"`: one matrix product per group of kernel offsets, each of the
  signal with the input shifted by those offsets. A group holds at most as
  many input values as the signal has (`offsets * channels <= units`), so the
  update never builds more than an output-sized block of shifted inputs, and
  never the whole patch tensor when that is larger. Pure `keras.ops`: it runs
  every geometry on every backend. Default for JAX on the CPU, where XLA's
  weight-gradient convolution is 1.5-4x slower.
- `"conv"`: a convolution of the inputs (channels as batch) with the signal
  (images as channels), in `keras.ops`. Default for JAX on accelerators. It
  swaps strides and dilations, so on TensorFlow (whose convolution takes no
  stride above 1 together with a dilation above 1) it needs the strides or
  the dilations to be all 1.

All three give the same result (the tests compare each with a patches
reference on every backend). `available_methods(strides, dilation_rate)`
names those that run a given geometry on this backend; `"auto"` picks one of
them, never a kernel this machine may lack.
"""

import keras
from keras import ops

METHODS = ("auto", "native", "shifts", "conv")


def _same_axis_stride_and_dilation(strides, dilation_rate):
    return any(s > 1 and d > 1 for s, d in zip(strides, dilation_rate))


def available_methods(strides=(1, 1), dilation_rate=(1, 1)):
    """The methods this backend can run for a convolution's geometry.

    Args:
        strides: pair of ints. Defaults to `(1, 1)`.
        dilation_rate: pair of ints. Defaults to `(1, 1)`.

    Returns:
        Tuple of method names, a subset of `("native", "shifts", "conv")`:
        `"native"` on TensorFlow and PyTorch only, and on TensorFlow neither
        `"native"` when an axis has both a stride and a dilation above 1 nor
        `"conv"` when any stride and any dilation are above 1.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return ("native", "shifts", "conv")
    if backend == "tensorflow":
        methods = ["shifts"]
        if not _same_axis_stride_and_dilation(strides, dilation_rate):
            methods.insert(0, "native")
        if max(strides) == 1 or max(dilation_rate) == 1:
            methods.append("conv")
        return tuple(methods)
    return ("shifts", "conv")


def default_method(strides=(1, 1), dilation_rate=(1, 1)):
    """The method `"auto"` picks: the fastest measured that runs this geometry here.

    `"native"` on TensorFlow and PyTorch, dilated or not (on TensorFlow a
    dilated gradient is computed without the dilated kernel, see the module),
    except on TensorFlow for a stride and a dilation above 1 on the same axis:
    `"shifts"`. On JAX `"shifts"` on the CPU, `"conv"` on accelerators.

    Args:
        strides: pair of ints. Defaults to `(1, 1)`.
        dilation_rate: pair of ints. Defaults to `(1, 1)`.

    Returns:
        `"native"`, `"shifts"` or `"conv"`, one of
        `available_methods(strides, dilation_rate)`.
    """
    backend = keras.backend.backend()
    if backend in ("tensorflow", "torch"):
        return "native" if "native" in available_methods(strides, dilation_rate) else "shifts"
    if backend == "jax":
        import jax

        return "shifts" if jax.default_backend() == "cpu" else "conv"
    return "conv"


def conv_correlation(inputs, signal, kernel_size, strides, dilation_rate, method="auto"):
    """Sum over images and output positions of `patch ⊗ signal`.

    Args:
        inputs: float32 `(batch, height, width, channels)`, already padded.
        signal: float32 `(batch, out_height, out_width, units)`, the
            post-synaptic signal at each output position (a `"valid"`
            convolution of `inputs`).
        kernel_size: pair of ints.
        strides: pair of ints.
        dilation_rate: pair of ints.
        method: `"auto"` (`default_method(strides, dilation_rate)`),
            `"native"`, `"shifts"` or `"conv"` (see the module). Defaults to
            `"auto"`.

    Returns:
        float32 `(kernel_height, kernel_width, channels, units)`: the sum
        (not the mean) over all patches.

    Raises:
        ValueError: for an unknown `method`, or one this backend cannot run
            with these strides and dilations (not in
            `available_methods(strides, dilation_rate)`).
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")
    strides, dilation_rate = tuple(strides), tuple(dilation_rate)
    if method == "auto":
        method = default_method(strides, dilation_rate)
    backend = keras.backend.backend()
    if method == "native" and backend not in ("tensorflow", "torch"):
        raise ValueError(
            f"method='native' needs the TensorFlow or PyTorch backend; this is {backend!r}."
        )
    accepted = available_methods(strides, dilation_rate)
    if method not in accepted:
        raise ValueError(
            f"method={method!r} cannot run strides={strides} with "
            f"dilation_rate={dilation_rate} on the {backend} backend. `method` must be "
            f"one of {('auto',) + accepted} for this convolution."
        )
    if method == "native":
        if backend == "tensorflow":
            return _tensorflow(inputs, signal, kernel_size, strides, dilation_rate)
        return _torch(inputs, signal, kernel_size, strides, dilation_rate)
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
    if max(dilation_rate) > 1:
        inputs, signal = _split_dilation_phases(tf, inputs, signal, kernel_size, dilation_rate)
    # Never a dilation here: the plain CPU build has no dilated Conv2DBackpropFilter.
    return tf.raw_ops.Conv2DBackpropFilter(
        input=inputs,
        filter_sizes=[kernel_size[0], kernel_size[1], channels, units],
        out_backprop=signal,
        strides=[1, strides[0], strides[1], 1],
        padding="VALID",
        dilations=[1, 1, 1, 1],
        data_format="NHWC",
    )


def _split_dilation_phases(tf, inputs, signal, kernel_size, dilation_rate):
    """The inputs and signal of an undilated weight-gradient equal to the dilated one.

    Along an axis of dilation `d` (and stride 1), `sum_i x[i + d*p] y[i]` over
    output positions `i = d*a + r` is `sum_r sum_a x_r[a + p] y_r[a]` with
    `x_r[m] = x[d*m + r]` and `y_r[a] = y[d*a + r]`: the undilated gradient of
    the `d` phases, stacked as images by `space_to_batch_nd` (phases first,
    the same order for both). The signal is zero-padded to a multiple of `d`
    positions, and the inputs to the `d * (positions / d + kernel - 1)` rows
    those read; the padded signal is zero, so adds nothing.

    Args:
        tf: the `tensorflow` module.
        inputs: `(batch, height, width, channels)`.
        signal: `(batch, out_height, out_width, units)`, a stride-1 `"valid"`
            output on every dilated axis.
        kernel_size: pair of ints.
        dilation_rate: pair of ints.

    Returns:
        `(inputs, signal)`, each with `dilation_h * dilation_w` times the
        batch and with the dilated axes divided by their dilation.
    """
    input_pads, signal_pads = [], []
    for axis, (k, d) in enumerate(zip(kernel_size, dilation_rate), start=1):
        size, out = inputs.shape[axis], signal.shape[axis]
        if d == 1:
            input_pads.append([0, 0])
            signal_pads.append([0, 0])
            continue
        phases_out = -(-out // d)
        needed = (phases_out + k - 1) * d
        if size > needed:
            inputs = inputs[:, :needed] if axis == 1 else inputs[:, :, :needed]
            size = needed
        input_pads.append([0, needed - size])
        signal_pads.append([0, phases_out * d - out])
    block = list(dilation_rate)
    return (tf.space_to_batch_nd(inputs, block, input_pads),
            tf.space_to_batch_nd(signal, block, signal_pads))


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
