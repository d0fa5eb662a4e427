"""The weight-gradient of a convolution: the mean over positions of `patch ⊗ signal`.

`HebbianConv2D`'s rules ask for `<x y>` where `x` is the input patch at an
output position and `y` a post-synaptic signal there. That is the weight
gradient of a convolution, and its fastest form differs by backend:

- `"native"`: the backend's own weight-gradient kernel (TensorFlow's
  `Conv2DBackpropFilter`, PyTorch's `convolution_backward`; in
  `keras_hebbian.backend`), the kernel a `keras.layers.Conv2D` training step
  runs. Default on TensorFlow and PyTorch.
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

from keras import ops

from keras_hebbian import backend
from keras_hebbian.validation import check_choice

METHODS = ("auto", "native", "shifts", "conv")


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
    return backend.conv_methods(tuple(strides), tuple(dilation_rate))


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
    return backend.default_conv_method(tuple(strides), tuple(dilation_rate))


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
    check_choice("method", method, METHODS)
    strides, dilation_rate = tuple(strides), tuple(dilation_rate)
    if method == "auto":
        method = default_method(strides, dilation_rate)
    if method == "native" and "native" not in available_methods():
        raise ValueError(
            f"method='native' needs the TensorFlow or PyTorch backend; this is "
            f"{backend.BACKEND!r}."
        )
    accepted = available_methods(strides, dilation_rate)
    if method not in accepted:
        raise ValueError(
            f"method={method!r} cannot run strides={strides} with "
            f"dilation_rate={dilation_rate} on the {backend.BACKEND} backend. `method` must "
            f"be one of {('auto',) + accepted} for this convolution."
        )
    if method == "native":
        return backend.native_conv_correlation(inputs, signal, kernel_size, strides,
                                               dilation_rate)
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
