"""Anti-Hebbian learning: lateral decorrelation (Foldiak, 1990)."""

import keras

from keras_hebbian.rules.base import Rule
from keras_hebbian.rules.transforms import add_decay
from keras_hebbian.validation import check_non_negative


@keras.saving.register_keras_serializable(package="keras_hebbian")
class AntiHebbian(Rule):
    """Anti-Hebbian rule: `dw_ij = -(<x_i y_j> - sparsity**2) - decay * w_ij`.

    Connections between units that fire together become more inhibitory, so
    as lateral connections (`HebbianDense(..., lateral="anti_hebbian")`) they
    decorrelate the units' responses: the rule is at rest when
    `<y_i y_j> = sparsity**2` for every pair. With `sparsity` the target firing
    probability of binary units this is Foldiak's (1990) lateral rule; with
    `sparsity=0` it drives the outputs' cross-correlations to zero. With
    `decay=1` it is the lateral rule of similarity matching
    (`M <- M + eta (y y^T - M)`, with `L = -M`).

    Args:
        sparsity: float in [0, 1], the target co-activity is `sparsity**2`.
            Defaults to `0.0`.
        decay: float >= 0, weight decay per update. Defaults to `0.0`.
    """

    def __init__(self, sparsity=0.0, decay=0.0):
        sparsity = check_non_negative("sparsity", sparsity)
        if sparsity > 1.0:
            raise ValueError(f"`sparsity` must be in [0, 1]. Received: sparsity={sparsity!r}")
        self.sparsity = sparsity
        self.decay = check_non_negative("decay", decay)

    def core_update(self, pre, post, kernel, state):
        return self.sparsity**2 - pre.correlate(post), state

    def transforms(self):
        return [add_decay(self.decay)] if self.decay else []

    def get_config(self):
        return {"sparsity": self.sparsity, "decay": self.decay}
