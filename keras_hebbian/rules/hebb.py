"""Plain Hebbian learning and its covariance form."""

import keras
from keras import ops

from keras_hebbian.rules.base import Rule
from keras_hebbian.rules.transforms import add_decay
from keras_hebbian.validation import check_non_negative


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Hebb(Rule):
    """Hebb's rule, with optional weight decay: `dw_ij = <x_i y_j> - decay * w_ij`.

    "Cells that fire together wire together". Without decay the weights grow
    without bound; a decay, a kernel constraint (e.g.
    `keras.constraints.UnitNorm(axis=0)`) or a self-normalising rule such as
    `Oja` keeps them finite.

    Args:
        decay: float >= 0, weight decay per update, relative to the learning
            rate. Defaults to `0.0`.

    Example:

    >>> layer = keras_hebbian.layers.HebbianDense(8, rule=Hebb(decay=0.1))
    """

    def __init__(self, decay=0.0):
        self.decay = check_non_negative("decay", decay)

    def core_update(self, pre, post, kernel, state):
        return pre.correlate(post), state

    def transforms(self):
        return [add_decay(self.decay)] if self.decay else []

    def get_config(self):
        return {"decay": self.decay}


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Covariance(Rule):
    """The covariance rule: `dw_ij = <(x_i - mean x_i)(y_j - mean y_j)> - decay * w_ij`.

    Units strengthen connections to inputs whose *fluctuations* go with their
    own, so constant inputs teach nothing (Sejnowski, 1977). The means are
    running means kept as rule state: the exact mean of every sample seen
    while that is shorter than the window, then an exponential average with
    the given `momentum`.

    Args:
        momentum: float in [0, 1), how slowly the running means forget.
            Defaults to `0.99`.
        decay: float >= 0, weight decay per update. Defaults to `0.0`.
    """

    def __init__(self, momentum=0.99, decay=0.0):
        momentum = check_non_negative("momentum", momentum)
        if momentum >= 1.0:
            raise ValueError(
                f"`momentum` must be in [0, 1). Received: momentum={momentum!r}"
            )
        self.momentum = momentum
        self.decay = check_non_negative("decay", decay)

    def state_spec(self, kernel_shape):
        return {
            "input_mean": (tuple(kernel_shape[:-1]), "zeros"),
            "output_mean": ((kernel_shape[-1],), "zeros"),
            "count": ((), "zeros"),
        }

    def core_update(self, pre, post, kernel, state):
        count = state["count"] + 1.0
        rate = ops.maximum(1.0 / count, 1.0 - self.momentum)
        input_mean = state["input_mean"] + rate * (pre.mean() - state["input_mean"])
        output_mean = state["output_mean"] + rate * (
            ops.mean(post, axis=0) - state["output_mean"]
        )
        centred = post - output_mean
        # <(x - mx)(y - my)> = <x (y - my)> - mx <y - my>
        delta = pre.correlate(centred) - ops.expand_dims(input_mean, -1) * ops.mean(
            centred, axis=0
        )
        new_state = {
            "input_mean": input_mean,
            "output_mean": output_mean,
            "count": count,
        }
        return delta, new_state

    def transforms(self):
        return [add_decay(self.decay)] if self.decay else []

    def get_config(self):
        return {"momentum": self.momentum, "decay": self.decay}
