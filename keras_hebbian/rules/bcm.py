"""The Bienenstock-Cooper-Munro rule with a sliding threshold."""

import keras
from keras import ops

from keras_hebbian.rules.base import Rule
from keras_hebbian.rules.transforms import add_decay
from keras_hebbian.validation import check_non_negative


@keras.saving.register_keras_serializable(package="keras_hebbian")
class BCM(Rule):
    """The BCM rule (Bienenstock, Cooper & Munro, 1982).

    `dw_ij = <x_i y_j (y_j - theta_j)>`, where each unit's threshold `theta_j`
    slides toward the running mean of `y_j ** 2`. A unit whose response is
    above its threshold potentiates, below it depresses, and the threshold
    rises faster than the response: units become selective. The thresholds
    are rule state, saved with the layer.

    Args:
        threshold_rate: float in (0, 1], the step of the threshold's running
            average per batch (`theta += threshold_rate * (<y^2> - theta)`).
            Defaults to `0.1`.
        normalize: bool, divide the update by `theta` (Intrator & Cooper's
            form), which makes it scale-free. Defaults to `False`.
        epsilon: float, guards the division when `normalize=True`.
        decay: float >= 0, weight decay per update. Defaults to `0.0`.
    """

    def __init__(self, threshold_rate=0.1, normalize=False, epsilon=1e-6, decay=0.0):
        threshold_rate = check_non_negative("threshold_rate", threshold_rate)
        if not 0.0 < threshold_rate <= 1.0:
            raise ValueError(
                "`threshold_rate` must be in (0, 1]. "
                f"Received: threshold_rate={threshold_rate!r}"
            )
        self.threshold_rate = threshold_rate
        self.normalize = bool(normalize)
        self.epsilon = check_non_negative("epsilon", epsilon)
        self.decay = check_non_negative("decay", decay)

    def state_spec(self, kernel_shape):
        return {"threshold": ((kernel_shape[-1],), "zeros")}

    def core_update(self, pre, post, kernel, state):
        theta = state["threshold"]
        theta = theta + self.threshold_rate * (ops.mean(ops.square(post), axis=0) - theta)
        signal = post * (post - theta)
        if self.normalize:
            signal = signal / (theta + self.epsilon)
        return pre.correlate(signal), {"threshold": theta}

    def transforms(self):
        return [add_decay(self.decay)] if self.decay else []

    def get_config(self):
        return {
            "threshold_rate": self.threshold_rate,
            "normalize": self.normalize,
            "epsilon": self.epsilon,
            "decay": self.decay,
        }
