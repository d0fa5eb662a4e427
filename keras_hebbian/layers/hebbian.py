"""`Hebbian`: the original Keras Hebbian layer's interface, with its bugs fixed."""

import math

import keras
from keras import ops

from keras_hebbian.layers.hebbian_dense import HebbianDense
from keras_hebbian.validation import check_non_negative


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Hebbian(HebbianDense):
    """The Keras `Hebbian` layer people found, with the meaning its author intended.

    Same constructor as the original (a Keras 2 / TensorFlow 1 layer), every
    bug gone:

    - Inputs of any shape are flattened after the batch axis, and the output
      is `(batch, output_dim)` for any `output_dim`. The original used one
      square matrix both as feed-forward weights and as lateral connections
      (`x + lmbda * K @ x`), which is why the input and output sizes had to
      match. Here the feed-forward kernel is `(in_features, output_dim)` and
      the lateral matrix is separate, `(output_dim, output_dim)`.
    - The diagonal was zeroed because `K` was meant as *lateral* connections
      between the units of the layer, and a unit must not excite itself. That
      intent is kept: the lateral matrix's diagonal is exactly zero, always.
      (The original multiplied by an all-zero matrix, so every weight became
      zero.)
    - The weights learn on every training batch (`fit()`, or a call with
      `training=True`); the original rebound a Python attribute once, at
      graph-build time, so nothing ever changed.

    The feed-forward kernel learns by Hebb's rule with rate `eta`, each
    unit's weight vector kept at unit norm (Hebbian growth is otherwise
    unbounded); the lateral matrix learns by Hebb's rule with rate
    `lmbda * eta`, which is the original's `lmbda`-scaled lateral term (the
    lateral matrix starts at zero), and the response settles through the lateral loop
    `y = x W + y L`, in closed form, with the spectral norm of `L` kept below
    0.95 so the loop stays stable. For the other options use `HebbianDense`.

    Args:
        output_dim: int > 0, the number of units.
        lmbda: float >= 0, the scale of the lateral connections. Defaults to
            `1.0`; `0` disables them.
        eta: float >= 0, the learning rate. Defaults to `0.0005`.
        connectivity: `"random"`, `"all"`, `"zero"` or a boolean mask of shape
            `(in_features, output_dim)`, of the feed-forward kernel.
            Defaults to `"random"`.
        connectivity_prob: float in [0, 1], for `"random"`. Defaults to `0.25`.
        **kwargs: `seed`, `kernel_initializer`, `on_nonfinite` and the base
            layer arguments.

    Call arguments:
        inputs: tensor `(batch, d1, ..., dn)`.
        training: bool; the weights learn only when `True`.

    Example:

    ```python
    model = keras.Sequential([keras.Input((256, 1)), Hebbian(output_dim=24)])
    model.compile()
    model.fit(x, epochs=1)  # no labels
    model.predict(x).shape  # (batch, 24)
    ```
    """

    def __init__(self, output_dim, lmbda=1.0, eta=0.0005, connectivity="random",
                 connectivity_prob=0.25, **kwargs):
        self.lmbda = check_non_negative("lmbda", lmbda)
        self.eta = check_non_negative("eta", eta)
        super().__init__(
            output_dim,
            rule="hebb",
            learning_rate=self.eta,
            connectivity=connectivity,
            connectivity_prob=connectivity_prob,
            kernel_constraint=keras.constraints.UnitNorm(axis=0),
            lateral="hebb",
            lateral_learning_rate=self.lmbda * self.eta,
            **kwargs,
        )
        self.output_dim = output_dim
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        features = _flat_size(input_shape)
        super().build((input_shape[0], features))
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self._input_shape_tail = tuple(input_shape[1:])

    def call(self, inputs, training=None):
        if tuple(inputs.shape[1:]) != self._input_shape_tail:
            raise ValueError(
                f"Input 0 of layer '{self.name}' must have shape (batch, "
                f"{', '.join(map(str, self._input_shape_tail))}). Received: "
                f"{tuple(inputs.shape)}"
            )
        flat = ops.reshape(inputs, (-1, self.kernel.shape[0]))
        return super().call(flat, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        base = keras.layers.Layer.get_config(self)
        base.update(
            {
                "output_dim": self.output_dim,
                "lmbda": self.lmbda,
                "eta": self.eta,
                "connectivity": HebbianDense.get_config(self)["connectivity"],
                "connectivity_prob": self.connectivity_prob,
                "kernel_initializer": keras.initializers.serialize(
                    keras.initializers.get(self._kernel_initializer_arg)
                ),
                "seed": self.seed,
                "on_nonfinite": self.on_nonfinite,
            }
        )
        return base


def _flat_size(input_shape):
    dims = input_shape[1:]
    if any(d is None for d in dims):
        raise ValueError(
            "Every axis of a Hebbian layer's input after the batch axis must be "
            f"known. Received input_shape={input_shape}"
        )
    return math.prod(dims)
