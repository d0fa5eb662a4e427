"""`HebbianDense`: a densely connected layer whose kernel learns by a local rule."""

import keras
from keras import ops

from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.rules.base import Presynaptic


@keras.saving.register_keras_serializable(package="keras_hebbian")
class HebbianDense(HebbianLayer):
    """A dense layer whose kernel learns by a Hebbian rule on every training batch.

    `outputs = activation(inputs @ kernel + bias)`, like `keras.layers.Dense`,
    for inputs of any rank `(batch, ..., in_features)` and any number of
    `units`. The kernel is not trained by backprop: during `fit()` (any call
    with `training=True`) the rule computes a weight change from the batch's
    inputs and outputs, which is scaled by `learning_rate`, masked by the
    connectivity and assigned. `predict()`, `evaluate()` and `layer(x)` never
    change it, nor does training once `layer.trainable = False` (recompile
    the model after changing `trainable`, as for any Keras layer).

    A network made only of Hebbian layers trains with no labels and no loss
    (`model.compile(); model.fit(x)`); between ordinary layers, one
    `fit(x, y)` trains those by backprop while this kernel learns by its rule.

    Args:
        units: int > 0, the number of output units.
        rule: a `keras_hebbian.rules.Rule` or its name: `"hebb"`, `"oja"`,
            `"sanger"`, `"bcm"`, `"covariance"`. Defaults to `"oja"`.
        learning_rate: float >= 0, or a `keras.optimizers.schedules`
            schedule indexed by the number of updates. Defaults to `0.01`.
        connectivity: `"all"`, `"random"` (a fixed Bernoulli mask drawn once
            from `seed` with probability `connectivity_prob`), `"zero"` (the
            kernel starts at zero) or a boolean array of shape
            `(in_features, units)`. Masked weights stay exactly zero.
        connectivity_prob: float in [0, 1], for `connectivity="random"`.
            Defaults to `0.5`.
        activation: activation applied to the outputs; the rule sees the
            activated outputs. Defaults to `None` (linear).
        use_bias: bool, add a bias vector. The bias is an ordinary trainable
            weight (learned by backprop when the model has a loss; the rule
            does not change it). Defaults to `False`.
        kernel_initializer: initializer of the kernel. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        kernel_constraint: optional constraint applied after every update.
        seed: int or `None`: seeds the kernel initializer and the mask, so
            the same seed gives the same weights.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(batch, ..., in_features)`.
        training: bool; the kernel learns only when `True`.

    Example:

    ```python
    import keras
    from keras_hebbian.layers import HebbianDense

    # Hebbian-only network: PCA by Sanger's rule, trained without labels.
    model = keras.Sequential([keras.Input((64,)), HebbianDense(8, rule="sanger")])
    model.compile()
    model.fit(x, epochs=5, batch_size=32)
    codes = model.predict(x)  # (samples, 8)
    ```
    """

    def __init__(
        self,
        units,
        rule="oja",
        learning_rate=0.01,
        connectivity="all",
        connectivity_prob=0.5,
        activation=None,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_constraint=None,
        seed=None,
        **kwargs,
    ):
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"`units` must be a positive int. Received: units={units!r}")
        super().__init__(
            rule=rule,
            learning_rate=learning_rate,
            connectivity=connectivity,
            connectivity_prob=connectivity_prob,
            kernel_initializer=kernel_initializer,
            kernel_constraint=kernel_constraint,
            seed=seed,
            **kwargs,
        )
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(
                "The last axis of the inputs of a HebbianDense layer must be "
                f"known. Received input_shape={input_shape}"
            )
        self.add_plastic_kernel((in_features, self.units))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: in_features})

    def respond(self, inputs, learning):
        outputs = ops.matmul(inputs, self.read(self.kernel_plastic, learning))
        if self.bias is not None:
            outputs = outputs + self.bias
        outputs = self.activation(outputs)
        x = ops.reshape(ops.stop_gradient(inputs), (-1, self.kernel.shape[0]))
        pre = Presynaptic(ops.cast(x, "float32"))
        return outputs, [(self.kernel_plastic, pre, ops.reshape(outputs, (-1, self.units)))]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
