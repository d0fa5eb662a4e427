"""`HebbianDense`: a densely connected layer whose kernel learns by a local rule."""

import keras
import numpy as np
from keras import ops

from keras_hebbian import rules as rules_module
from keras_hebbian.constraints import MaxSpectralNorm
from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.layers.plastic import Synapses
from keras_hebbian.rules.base import Presynaptic
from keras_hebbian.validation import check_int, check_learning_rate, check_positive
from keras_hebbian.validation import serialize_learning_rate

DEFAULT_LATERAL_ITERATIONS = 10


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
            schedule indexed by `iterations`, the number of updates applied.
            Defaults to `0.01`.
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
        lateral: `None` (no lateral connections), or the rule of a
            `(units, units)` lateral matrix `L` between the units: a
            `keras_hebbian.rules.Rule` or its name (`"anti_hebbian"` /
            `"foldiak"` to decorrelate the units, `"hebb"` to bind them).
            `L` starts at zero and its diagonal is exactly zero, always: no
            unit connects to itself. The response settles through the loop
            `y = activation(inputs @ kernel + bias + y @ L)`; the kernel's rule
            and the lateral rule both learn from the settled `y`.
        lateral_learning_rate: float or schedule for `L`; defaults to
            `learning_rate`.
        lateral_iterations: `None` or int >= 1. With `None` and a linear
            activation the loop is solved in closed form,
            `y = (inputs @ kernel + bias) @ inv(I - L)`; with `None` and another
            activation it is iterated 10 times from `y = activation(drive)`;
            an int sets the number of iterations.
        lateral_max_norm: float > 0 or `None`. The guard that keeps the loop
            stable: after every update `L` is scaled down so that its spectral
            norm (which bounds its spectral radius) is at most this, which
            makes the iteration a contraction and `I - L` well conditioned.
            Defaults to `0.95`; `None` removes the guard.
        **kwargs: `on_nonfinite` (`"raise"` or `"skip"`: what a learning
            call does with a batch holding NaN or Inf; see `HebbianLayer`) and
            base layer arguments (`name`, `dtype`, ...).

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
        lateral=None,
        lateral_learning_rate=None,
        lateral_iterations=None,
        lateral_max_norm=0.95,
        **kwargs,
    ):
        units = check_int("units", units, minimum=1)
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
        self.units = units
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.lateral = None if lateral is None else rules_module.get(lateral)
        self.lateral_learning_rate = (
            None if lateral_learning_rate is None else check_learning_rate(lateral_learning_rate, "lateral_learning_rate")
        )
        if lateral_iterations is not None:
            lateral_iterations = check_int("lateral_iterations", lateral_iterations, minimum=1)
        self.lateral_iterations = lateral_iterations
        if lateral_max_norm is not None:
            lateral_max_norm = check_positive("lateral_max_norm", lateral_max_norm)
        self.lateral_max_norm = lateral_max_norm
        self._lateral_guard = (
            None if lateral_max_norm is None else MaxSpectralNorm(lateral_max_norm)
        )

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(
                "The last axis of the inputs of a HebbianDense layer must be "
                f"known. Received input_shape={input_shape}"
            )
        self.add_plastic_kernel((in_features, self.units))
        self.add_bias(self.units)
        self.lateral_plastic = None
        if self.lateral is not None:
            self.lateral_plastic = self.add_plastic(
                "lateral_kernel",
                (self.units, self.units),
                rule=self.lateral,
                learning_rate=(
                    self.learning_rate
                    if self.lateral_learning_rate is None
                    else self.lateral_learning_rate
                ),
                initializer="zeros",
                mask=1.0 - np.eye(self.units, dtype="float32"),
                constraint=self._lateral_guard,
            )
            self.lateral_kernel = self.lateral_plastic.variable
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: in_features})

    def respond(self, inputs, learning):
        kernel = self.read_effective(self.kernel_plastic, learning, inputs)
        drive = ops.matmul(inputs, kernel)
        if self.bias is not None:
            drive = drive + self.bias
        if self.lateral is None:
            outputs = self.activation(drive)
        else:
            outputs = self.settle(drive, learning)
        x = ops.reshape(ops.stop_gradient(inputs), (-1, self.kernel.shape[0]))
        post = ops.reshape(outputs, (-1, self.units))
        synapses = [Synapses(self.kernel_plastic, Presynaptic(ops.cast(x, "float32")), post)]
        if self.lateral is not None:
            y = ops.cast(ops.stop_gradient(post), "float32")
            synapses.append(Synapses(self.lateral_plastic, Presynaptic(y), post))
        return outputs, synapses

    def settle(self, drive, learning):
        """The response of the lateral loop `y = activation(drive + y @ L)`."""
        lateral = self.read(self.lateral_plastic, learning)
        linear = self.activation is keras.activations.linear
        if self.lateral_iterations is None and linear:
            eye = ops.eye(self.units, dtype="float32")
            solve = ops.inv(eye - ops.cast(lateral, "float32"))
            return ops.matmul(drive, ops.cast(solve, drive.dtype))
        outputs = self.activation(drive)
        for _ in range(self.lateral_iterations or DEFAULT_LATERAL_ITERATIONS):
            outputs = self.activation(drive + ops.matmul(outputs, lateral))
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "lateral": None if self.lateral is None else rules_module.serialize(self.lateral),
                "lateral_learning_rate": serialize_learning_rate(self.lateral_learning_rate),
                "lateral_iterations": self.lateral_iterations,
                "lateral_max_norm": self.lateral_max_norm,
            }
        )
        return config
