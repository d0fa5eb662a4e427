"""Competitive Hebbian rules: units compete for each input, the winners learn.

Krotov & Hopfield (2019), SoftHebb (Moraitis et al. 2022; Journe et al. 2023)
and hard winner-take-all. Each keeps every unit's weight vector near a fixed
norm, so the units become prototypes of the inputs they win.
"""

import keras
from keras import ops

from keras_hebbian import backend
from keras_hebbian.rules.base import Rule
from keras_hebbian.rules.transforms import scale_by_max, scale_by_norm_distance
from keras_hebbian.validation import check_int, check_non_negative, check_positive


def _check_at_most_units(name, value, kernel_shape):
    units = kernel_shape[-1]
    if value > units:
        raise ValueError(
            f"`{name}` must be at most the number of units ({units}). "
            f"Received: {name}={value}"
        )


# accepted values of `SoftHebb(max_normalize=...)` and what is stored for each
_MAX_NORMALIZE = {True: True, "layer": True, "unit": "unit", False: False, None: False}


def _check_max_normalize(value):
    if isinstance(value, (bool, str, type(None))) and value in _MAX_NORMALIZE:
        return _MAX_NORMALIZE[value]
    raise ValueError(
        "`max_normalize` must be True or 'layer' (the whole step divided by its largest "
        "entry), 'unit' (each unit's step by its own largest entry) or False. "
        f"Received: max_normalize={value!r}"
    )


@keras.saving.register_keras_serializable(package="keras_hebbian")
class KrotovHopfield(Rule):
    """Krotov & Hopfield's competing hidden units (PNAS 2019).

    Each unit's input current is `I = sum_i sign(w_i) |w_i|^(p-1) x_i` (the
    layer computes its outputs through that kernel, see `effective_kernel`).
    For each sample the unit with the largest current gets `g = 1`, the unit
    ranked `k`-th gets `g = -delta` (anti-Hebbian), the others `0`, and

        dW = <x g> - W * <g I>

    which drives each unit's weights to unit `p`-norm. The step is divided by
    its largest absolute entry, so `learning_rate` is the largest change of
    any weight per update (the paper anneals it linearly to zero, e.g. with
    `keras.optimizers.schedules.PolynomialDecay(0.04, steps, 0.0)`).

    Args:
        p: float >= 2, the Lebesgue norm of the weights. Defaults to `3.0`.
        k: int >= 2, the rank of the unit that is pushed away. Defaults to `7`.
        delta: float >= 0, the strength of that anti-Hebbian push.
            Defaults to `0.4`.

    Example:

    >>> layer = HebbianDense(2000, rule=KrotovHopfield(p=3, k=7, delta=0.4),
    ...                      learning_rate=0.02, kernel_initializer="random_normal")
    """

    fixed_point_norm = 1.0
    sparse_units_per_sample = 2

    def __init__(self, p=3.0, k=7, delta=0.4):
        p = check_positive("p", p)
        if p < 2.0:
            raise ValueError(f"`p` must be >= 2. Received: p={p!r}")
        self.p = p
        self.k = check_int("k", k, minimum=1)
        if self.k < 2:
            raise ValueError(f"`k` must be >= 2 (rank 1 is the winner). Received: k={k!r}")
        self.delta = check_non_negative("delta", delta)
        self.norm_order = self.p

    def effective_kernel(self, kernel):
        if self.p == 2.0:
            return kernel
        if self.p == 3.0:
            return kernel * ops.abs(kernel)
        return ops.sign(kernel) * ops.power(ops.abs(kernel), self.p - 1.0)

    def state_spec(self, kernel_shape):
        _check_at_most_units("k", self.k, kernel_shape)
        return {}

    def sparse_signal(self, post):
        # g is +1 at the winner, -delta at the k-th unit, 0 elsewhere.
        ranked = backend.top_k_indices(post, self.k)
        indices = ops.stack([ranked[:, 0], ranked[:, self.k - 1]], axis=1)
        ones = ops.ones_like(indices[:, :1], dtype="float32")
        return indices, ops.concatenate([ones, -self.delta * ones], axis=1)

    def transforms(self):
        return [scale_by_max()]

    def get_config(self):
        return {"p": self.p, "k": self.k, "delta": self.delta}


@keras.saving.register_keras_serializable(package="keras_hebbian")
class SoftHebb(Rule):
    """SoftHebb: Hebbian learning in a soft winner-take-all layer.

    Moraitis et al. (2022) and Journe et al. (ICLR 2023). The units'
    responses `u` compete through a softmax, `y = softmax(u / temperature)`
    over units, and each unit learns

        dw = <y (x - u w)>

    which drives its weight norm to 1. With `anti_hebbian=True` (Journe et
    al.) every unit but the winner learns with `-y`, pushing losers away. With
    `adaptive=True` each unit's step is scaled by `|norm(w) - 1| ** power`, the
    norm-adaptive learning rate that is large while a unit is far from its
    fixed point and vanishes at it. The step is divided by its largest absolute
    entry (`max_normalize=True`), so `learning_rate` bounds the change of any
    weight.

    With `max_normalize="unit"` each unit's step is divided by its own largest
    entry instead, so every unit moves at its own rate, however few inputs it
    wins. Divided over the whole layer, the unit that wins most inputs sets
    the scale (in a first layer on MNIST, the one that wins the blank
    background) and the others move slowly: in one epoch of
    `models.softhebb_mnist(first_rule="paper")` their norms shrink from the
    initial 25 to about 5-7 and their directions stay where they started.

    Args:
        temperature: float > 0, the softmax temperature. Defaults to `1.0`.
        anti_hebbian: bool, losers learn anti-Hebbian. Defaults to `True`.
        adaptive: bool, norm-adaptive learning rate. Defaults to `True`.
        power: float > 0, the exponent of the adaptive rate. Defaults to `0.5`.
        max_normalize: `True` or `"layer"`: divide the step by its largest
            entry; `"unit"`: divide each unit's step by its own largest entry;
            `False`: no division. Defaults to `True`.

    Example:

    >>> layer = HebbianConv2D(96, 5, rule=SoftHebb(temperature=0.3, max_normalize="unit"),
    ...                       learning_rate=0.08)
    """

    fixed_point_norm = 1.0

    def __init__(self, temperature=1.0, anti_hebbian=True, adaptive=True, power=0.5,
                 max_normalize=True):
        self.temperature = check_positive("temperature", temperature)
        self.anti_hebbian = bool(anti_hebbian)
        self.adaptive = bool(adaptive)
        self.power = check_positive("power", power)
        self.max_normalize = _check_max_normalize(max_normalize)

    def signal(self, post):
        """Each unit's post-synaptic signal `y`: the softmax, its sign flipped for losers.

        The winners are the units at the maximum response (ties all count),
        found by comparing with the row's maximum: no argmax or one-hot pass
        over the responses, which dominate the cost of a convolutional
        layer's update.
        """
        scaled = post if self.temperature == 1.0 else post / self.temperature
        y = backend.softmax(scaled, axis=-1)
        if not self.anti_hebbian:
            return y
        return ops.where(scaled >= ops.max(scaled, axis=-1, keepdims=True), y, -y)

    def core_update(self, pre, post, kernel, state):
        y = self.signal(post)
        return pre.correlate(y) - kernel * ops.mean(y * post, axis=0), state

    def transforms(self):
        steps = []
        if self.max_normalize:
            steps.append(scale_by_max(per_unit=self.max_normalize == "unit"))
        if self.adaptive:
            steps.append(scale_by_norm_distance(self.power))
        return steps

    def get_config(self):
        return {
            "temperature": self.temperature,
            "anti_hebbian": self.anti_hebbian,
            "adaptive": self.adaptive,
            "power": self.power,
            "max_normalize": self.max_normalize,
        }


@keras.saving.register_keras_serializable(package="keras_hebbian")
class WinnerTakeAll(Rule):
    """Hard winner-take-all (competitive) learning, with one or `k` winners.

    For each sample the `k` units with the largest responses `u` win
    (`y = 1`), the others lose (`y = 0`), and only winners learn:

        dw = <y (x - u w)>

    Each winner's weights move toward the inputs it wins while their norm is
    driven to 1; a unit that wins nothing does not change.

    Args:
        k: int >= 1, the number of winners per sample. Defaults to `1`.
        max_normalize: bool, divide the step by its largest entry.
            Defaults to `False`.
    """

    fixed_point_norm = 1.0

    def __init__(self, k=1, max_normalize=False):
        self.k = check_int("k", k, minimum=1)
        self.max_normalize = bool(max_normalize)

    def state_spec(self, kernel_shape):
        _check_at_most_units("k", self.k, kernel_shape)
        return {}

    @property
    def sparse_units_per_sample(self):
        return self.k

    def sparse_signal(self, post):
        # y is 1 at the k winners, 0 elsewhere.
        winners = backend.top_k_indices(post, self.k)
        return winners, ops.ones_like(winners, dtype="float32")

    def transforms(self):
        return [scale_by_max()] if self.max_normalize else []

    def get_config(self):
        return {"k": self.k, "max_normalize": self.max_normalize}
