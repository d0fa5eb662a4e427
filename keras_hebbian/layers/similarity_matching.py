"""`SimilarityMatching`: the Hebbian/anti-Hebbian network of Pehlevan & Chklovskii."""

import keras
import numpy as np
from keras import ops

from keras_hebbian import rules
from keras_hebbian.layers.hebbian_dense import HebbianDense
from keras_hebbian.layers.plastic import Synapses
from keras_hebbian.validation import check_learning_rate, check_positive, serialize_learning_rate


@keras.saving.register_keras_serializable(package="keras_hebbian")
class SimilarityMatching(HebbianDense):
    """A linear network that learns the principal subspace by similarity matching.

    Pehlevan, Hu & Chklovskii (2015); Pehlevan, Sengupta & Chklovskii (2018).
    Feed-forward weights `W` learn by a Hebbian rule, lateral weights by an
    anti-Hebbian one, and the output is the fixed point of the lateral loop:

        W <- W + eta (y x^T - W)
        M <- M + (eta / tau) (y y^T - M)
        y  = M^-1 W x

    `M` is kept as a zero-diagonal lateral matrix `L = -offdiag(M)` (no unit
    is connected to itself) and a diagonal of self-gains `D = diag(M)`, so the
    response `y = (x @ kernel) @ inv(D - L)` is the settled state of
    `D y = W x + L y`. With `k` units, the rows of `W` span the top-`k`
    principal subspace of the (zero-mean) inputs; unlike `Sanger`, the basis
    within it is not ordered.

    Args:
        units: int > 0, the number of output units `k`.
        learning_rate: float or schedule, `eta`. Defaults to `0.01`.
        tau: float > 0, the ratio of feed-forward to lateral time scales;
            `tau < 1` (lateral learning faster) is the stable regime.
            Defaults to `0.5`.
        kernel_initializer: initializer of `W`. Defaults to
            `"glorot_uniform"`.
        seed: int or `None`.
        **kwargs: `on_nonfinite` (`"raise"` or `"skip"`: what a learning
            call does with a batch holding NaN or Inf; see `HebbianLayer`) and
            base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `(batch, ..., in_features)`.
        training: bool; the weights learn only when `True`.

    Example:

    ```python
    model = keras.Sequential([keras.Input((64,)), SimilarityMatching(8)])
    model.compile()
    model.fit(x - x.mean(0), epochs=10)
    ```
    """

    def __init__(self, units, learning_rate=0.01, tau=0.5, kernel_initializer="glorot_uniform",
                 seed=None, **kwargs):
        self.tau = check_positive("tau", tau)
        super().__init__(
            units,
            rule=rules.Hebb(decay=1.0),
            learning_rate=learning_rate,
            kernel_initializer=kernel_initializer,
            seed=seed,
            lateral=rules.AntiHebbian(decay=1.0),
            lateral_learning_rate=_divide(learning_rate, self.tau),
            lateral_max_norm=None,
            **kwargs,
        )

    def build(self, input_shape):
        super().build(input_shape)
        self.gain_plastic = self.add_plastic(
            "self_gain",
            (self.units, self.units),
            rule=rules.Hebb(decay=1.0),
            learning_rate=self.lateral_plastic.learning_rate,
            initializer="identity",
            mask=np.eye(self.units, dtype="float32"),
        )
        self.self_gain = self.gain_plastic.variable

    def respond(self, inputs, learning):
        outputs, synapses = super().respond(inputs, learning)
        # What teaches the lateral matrix, (y, y), also teaches the self-gains.
        lateral = next(s for s in synapses if s.plastic is self.lateral_plastic)
        return outputs, synapses + [Synapses(self.gain_plastic, lateral.pre, lateral.post)]

    def settle(self, drive, learning):
        gain = self.read(self.gain_plastic, learning)
        lateral = self.read(self.lateral_plastic, learning)
        m = ops.cast(gain, "float32") - ops.cast(lateral, "float32")
        return ops.matmul(drive, ops.cast(ops.inv(m), drive.dtype))

    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        config.update(
            {
                "units": self.units,
                "learning_rate": serialize_learning_rate(self.learning_rate),
                "tau": self.tau,
                "kernel_initializer": keras.initializers.serialize(
                    keras.initializers.get(self._kernel_initializer_arg)
                ),
                "seed": self.seed,
                "on_nonfinite": self.on_nonfinite,
            }
        )
        return config


def _divide(learning_rate, tau):
    learning_rate = check_learning_rate(learning_rate)
    if isinstance(learning_rate, float):
        return learning_rate / tau
    return _ScaledSchedule(learning_rate, 1.0 / tau)


class _ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, schedule, factor):
        self.schedule = schedule
        self.factor = factor

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "factor": self.factor}
