"""`Triangle`: the activation of SoftHebb's convolutional blocks."""

import keras
from keras import ops

from keras_hebbian.validation import check_positive


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Triangle(keras.layers.Layer):
    """`relu(u - mean(u over channels)) ** power` (Journe et al., ICLR 2023).

    Each position keeps only the channels that respond more than the average
    channel there, raised to `power`: a cheap, local form of competition
    between the filters of a convolutional layer.

    Args:
        power: float > 0. Defaults to `1.0`.
        axis: the channels axis. Defaults to `-1`.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: a tensor.

    Example:

    >>> Triangle(power=0.7)(keras.ops.ones((1, 4, 4, 8)))
    """

    def __init__(self, power=1.0, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.power = check_positive("power", power)
        self.axis = axis

    def call(self, inputs):
        centred = ops.relu(inputs - ops.mean(inputs, axis=self.axis, keepdims=True))
        return centred if self.power == 1.0 else centred**self.power

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "power": self.power, "axis": self.axis}
