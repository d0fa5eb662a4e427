"""`HebbianConv2D`: a 2D convolution whose kernel learns by a local rule."""

import keras
from keras import ops

from keras_hebbian import backend
from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.layers.conv_correlation import conv_correlation
from keras_hebbian.layers.plastic import Synapses
from keras_hebbian.rules.base import Presynaptic
from keras_hebbian.validation import check_choice, check_int

PADDINGS = ("valid", "same", "reflect")


def _pair(value, name):
    """`value` as a pair of ints >= 1 (an int stands for the pair of itself)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        value = tuple(value)
        if len(value) != 2:
            raise ValueError
        return tuple(check_int(name, v, minimum=1) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be an int >= 1 or a pair of them. Received: {name}={value!r}"
        ) from None


def same_padding(size, kernel, stride, dilation):
    """`(before, after)` padding of one axis for `padding="same"` (TensorFlow's rule)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class ConvPresynaptic(Presynaptic):
    """The pre-synaptic side of a convolution: every input patch is a sample.

    `correlate` computes the mean over images and output positions of
    `patch ⊗ signal`: the weight-gradient of a convolution, by the fastest
    method of the backend (`keras_hebbian.layers.conv_correlation`), never by
    unfolding the whole patch tensor.

    Args:
        inputs: float32 `(batch, height, width, channels)`, already padded.
        kernel_size, strides, dilation_rate: pairs, as in the layer.
        output_size: `(out_height, out_width)` of the layer's output.
    """

    def __init__(self, inputs, kernel_size, strides, dilation_rate, output_size):
        super().__init__(inputs)
        self.kernel_size = kernel_size
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.output_size = output_size

    @property
    def num_samples(self):
        return super().num_samples * float(self.output_size[0] * self.output_size[1])

    def correlate(self, signal):
        oh, ow = self.output_size
        y = ops.reshape(signal, (-1, oh, ow, signal.shape[-1]))
        summed = conv_correlation(self.inputs, y, self.kernel_size, self.strides,
                                  self.dilation_rate)
        return summed / self.num_samples

    def correlate_sparse(self, indices, values, units):
        signal = ops.sum(ops.one_hot(indices, units) * ops.expand_dims(values, -1), axis=1)
        return self.correlate(signal)

    def mean(self):
        ones = ops.ones((ops.shape(self.inputs)[0] * self.output_size[0] * self.output_size[1], 1))
        return self.correlate(ones)[..., 0]


@keras.saving.register_keras_serializable(package="keras_hebbian")
class HebbianConv2D(HebbianLayer):
    """A 2D convolution whose kernel learns by a Hebbian rule on every training batch.

    Channels-last like `keras.layers.Conv2D`: inputs `(batch, height, width,
    channels)`, outputs `(batch, out_height, out_width, filters)`. Every output
    position is a sample for the rule: its input patch is the pre-synaptic
    activity and the `filters` responses there are the post-synaptic ones, so
    any rule that works for `HebbianDense` works here (SoftHebb, WTA,
    Krotov-Hopfield, Oja, Hebb, ...); competition runs across filters at each
    position. The update is a convolution's weight-gradient of the inputs and
    the responses, computed by the backend's fastest method
    (`keras_hebbian.layers.conv_correlation`), never by unfolding the whole
    patch tensor.

    Args:
        filters: int > 0, the number of filters (units).
        kernel_size: int or pair.
        strides: int or pair. Defaults to `1`.
        padding: `"valid"` or `"same"` (zeros) or `"reflect"` (same output
            size as `"same"`, the borders mirrored, as in SoftHebb).
        dilation_rate: int or pair. Defaults to `1`.
        rule: a `keras_hebbian.rules.Rule` or its name. Defaults to
            `"softhebb"`.
        learning_rate: float or schedule. Defaults to `0.01`.
        activation: activation of the outputs (the rule sees the activated
            outputs). Defaults to `None`.
        use_bias: bool, a trainable bias (learned by backprop only).
        kernel_initializer: initializer of the kernel, as in `HebbianDense`.
            The kernel has shape `(kh, kw, in_channels, filters)`.
        bias_initializer: initializer of the bias, as in `HebbianDense`.
        kernel_constraint: optional constraint applied after every update, as
            in `HebbianDense`.
        connectivity: as in `HebbianDense`; a boolean mask has the kernel's
            shape `(kh, kw, in_channels, filters)`.
        connectivity_prob: float in [0, 1], for `connectivity="random"`.
            Defaults to `0.5`.
        seed: int or `None`, as in `HebbianDense`.
        **kwargs: `on_nonfinite` (`"raise"` or `"skip"`: what a learning
            call does with a batch holding NaN or Inf; see `HebbianLayer`) and
            base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `(batch, height, width, channels)`.
        training: bool; the kernel learns only when `True`.

    Example:

    ```python
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        HebbianConv2D(32, 5, padding="same", rule="softhebb", learning_rate=0.05),
        keras.layers.MaxPooling2D(2),
    ])
    model.compile()
    model.fit(images, epochs=1)
    ```
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        dilation_rate=1,
        rule="softhebb",
        learning_rate=0.01,
        activation=None,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_constraint=None,
        connectivity="all",
        connectivity_prob=0.5,
        seed=None,
        **kwargs,
    ):
        filters = check_int("filters", filters, minimum=1)
        super().__init__(
            rule=rule,
            learning_rate=learning_rate,
            connectivity=connectivity,
            connectivity_prob=connectivity_prob,
            kernel_initializer=kernel_initializer,
            kernel_constraint=kernel_constraint,
            seed=seed,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` is not supported with `dilation_rate > 1` (as in "
                f"keras.layers.Conv2D). Received: strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}"
            )
        self.padding = check_choice("padding", padding, PADDINGS)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if None in tuple(input_shape[1:]):
            raise ValueError(
                "The height, width and channels of a HebbianConv2D layer's inputs "
                f"must be known. Received input_shape={input_shape}"
            )
        for size, k, d, axis in zip(input_shape[1:3], self.kernel_size, self.dilation_rate,
                                    ("height", "width")):
            if self.padding == "valid" and size < (k - 1) * d + 1:
                raise ValueError(
                    f"Input {axis} {size} is smaller than the dilated kernel "
                    f"({(k - 1) * d + 1}) with padding='valid'."
                )
        self.add_plastic_kernel(self.kernel_size + (channels, self.filters))
        self.add_bias(self.filters)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def _paddings(self, height, width):
        if self.padding == "valid":
            return (0, 0), (0, 0)
        return tuple(
            same_padding(size, k, s, d)
            for size, k, s, d in zip((height, width), self.kernel_size, self.strides,
                                      self.dilation_rate)
        )

    def _output_size(self, height, width):
        sizes = []
        for size, k, s, d, (before, after) in zip(
            (height, width), self.kernel_size, self.strides, self.dilation_rate,
            self._paddings(height, width),
        ):
            sizes.append((size + before + after - (k - 1) * d - 1) // s + 1)
        return tuple(sizes)

    def respond(self, inputs, learning):
        height, width = inputs.shape[1], inputs.shape[2]
        (top, bottom), (left, right) = self._paddings(height, width)
        padded = inputs
        if top or bottom or left or right:
            mode = "reflect" if self.padding == "reflect" else "constant"
            padded = backend.pad(inputs, ((0, 0), (top, bottom), (left, right), (0, 0)),
                                 mode=mode)
        kernel = self.read_effective(self.kernel_plastic, learning, padded)
        outputs = ops.conv(padded, kernel, strides=self.strides, padding="valid",
                           dilation_rate=self.dilation_rate)
        outputs = self.activate(outputs)
        pre = ConvPresynaptic(
            ops.cast(ops.stop_gradient(padded), "float32"),
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self._output_size(height, width),
        )
        return outputs, [Synapses(self.kernel_plastic, pre, ops.reshape(outputs, (-1, self.filters)))]

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if height is None or width is None:
            return (batch, None, None, self.filters)
        return (batch,) + self._output_size(height, width) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
            }
        )
        return config
