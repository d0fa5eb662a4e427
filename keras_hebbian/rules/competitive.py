"""Competitive Hebbian rules: units compete for each input, the winners learn.

Krotov & Hopfield (2019), SoftHebb (Moraitis et al. 2022; Journe et al. 2023)
and hard winner-take-all. Each keeps every unit's weight vector near a fixed
norm, so the units become prototypes of the inputs they win.
"""

import keras
from keras import ops

from keras_hebbian.rules.base import (
    Presynaptic,
    Rule,
    check_non_negative,
    check_positive,
)

_EPSILON = 1e-30


def _check_k(k, name="k"):
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={k!r}")
    return k


def _check_at_most_units(name, value, kernel_shape):
    units = kernel_shape[-1]
    if value > units:
        raise ValueError(
            f"`{name}` must be at most the number of units ({units}). "
            f"Received: {name}={value}"
        )


def _first_and_kth(values, k):
    """Per row: (index, value) of the largest entry and of the k-th largest.

    The k-th largest value is found by `k - 1` rounds of masking every entry
    at or above the running maximum, then each index by one `argmax`. Inside
    a fused XLA CPU training step this is far faster than `top_k` (1.4 ms
    against up to 50 ms for 100 x 2000). Tied values count once.
    """
    first_value = ops.max(values, axis=-1)
    kth_value = first_value
    masked = values
    for _ in range(k - 1):
        masked = ops.where(masked >= ops.expand_dims(kth_value, -1), -float("inf"), masked)
        kth_value = ops.max(masked, axis=-1)
    first = ops.argmax(values, axis=-1)
    kth = ops.argmax(ops.equal(values, ops.expand_dims(kth_value, -1)), axis=-1)
    return (first, first_value), (kth, kth_value)


def _column_update(pre, kernel, indices, signal, currents, normalize):
    """The change of the units in `indices`, as `(units, columns)`.

    `dW = <x g> - W * <g I>` restricted to the units that have a non-zero
    signal `g` in the batch: sample `n` gives `g = signal[n, j]` (current
    `currents[n, j]`) to unit `indices[n, j]`. Entries naming the same unit
    are summed once and share one column, so repeated units get equal
    columns. Costs `samples * m * in_features`, independent of the number of
    units.
    """
    in_features = kernel.shape[0]
    m = indices.shape[-1]
    units = ops.reshape(indices, (-1,))
    g = ops.reshape(signal, (-1,))
    g_currents = ops.reshape(signal * currents, (-1,))
    entries = units.shape[0]
    x = ops.reshape(ops.repeat(ops.expand_dims(pre.inputs, 1), m, axis=1), (-1, in_features))
    # Each entry's first entry naming the same unit: sums land there once.
    first = ops.argmax(ops.equal(ops.expand_dims(units, 1), ops.expand_dims(units, 0)), axis=1)
    hebbian = ops.segment_sum(x * ops.expand_dims(g, 1), first, num_segments=entries)
    g_currents = ops.segment_sum(g_currents, first, num_segments=entries)
    hebbian = ops.take(hebbian, first, axis=0) / pre.num_samples
    g_currents = ops.take(g_currents, first, axis=0) / pre.num_samples
    old = ops.transpose(ops.take(kernel, units, axis=1))
    delta = hebbian - old * ops.expand_dims(g_currents, 1)
    if normalize:
        delta = scale_by_max(delta)
    return units, ops.transpose(delta)


def _columns_pay(pre, kernel, entries_per_sample):
    """Whether updating columns beats a pass over the kernel for this batch."""
    if type(pre) is not Presynaptic or len(kernel.shape) != 2:
        return False
    samples = pre.inputs.shape[0]
    return samples is not None and samples * entries_per_sample <= kernel.shape[1] // 4


def scale_by_max(delta):
    """Divide a weight change by its largest absolute entry (Krotov & Hopfield)."""
    return delta / ops.maximum(ops.max(ops.abs(delta)), _EPSILON)


def scale_units_by_max(delta):
    """Divide each unit's weight change by its own largest absolute entry.

    The kernel's last axis is units; a unit whose change is all zero keeps it.
    """
    flat = ops.reshape(delta, (-1, delta.shape[-1]))
    return delta / ops.maximum(ops.max(ops.abs(flat), axis=0), _EPSILON)


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


def _unit_norms(kernel, order=2.0):
    """The norm of each unit's weight vector (the kernel's last axis is units)."""
    flat = ops.reshape(kernel, (-1, kernel.shape[-1]))
    if order == 2.0:
        return ops.sqrt(ops.sum(ops.square(flat), axis=0))
    return ops.power(ops.sum(ops.power(ops.abs(flat), order), axis=0), 1.0 / order)


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

    def __init__(self, p=3.0, k=7, delta=0.4):
        p = check_positive("p", p)
        if p < 2.0:
            raise ValueError(f"`p` must be >= 2. Received: p={p!r}")
        self.p = p
        self.k = _check_k(k)
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

    def compute_update(self, pre, post, kernel, state):
        units = kernel.shape[-1]
        (first, first_current), (kth, kth_current) = _first_and_kth(post, self.k)
        # g is +1 at the winner, -delta at the k-th unit, 0 elsewhere: sparse.
        indices = ops.stack([first, kth], axis=1)
        ones = ops.ones_like(first_current)
        g = ops.stack([ones, -self.delta * ones], axis=1)
        hebbian = pre.correlate_sparse(indices, g, units)
        # <g I> per unit: the winners' and k-th units' own currents.
        g_currents = ops.stack([first_current, kth_current], axis=1) * g
        g_currents = ops.segment_sum(
            ops.reshape(g_currents, (-1,)), ops.reshape(indices, (-1,)), num_segments=units
        ) / pre.num_samples
        delta = hebbian - kernel * g_currents
        return scale_by_max(delta), state

    def compute_column_update(self, pre, post, kernel, state):
        if not _columns_pay(pre, kernel, 2):
            return None
        (first, first_current), (kth, kth_current) = _first_and_kth(post, self.k)
        ones = ops.ones_like(first_current)
        units, columns = _column_update(
            pre, kernel,
            ops.stack([first, kth], axis=1),
            ops.stack([ones, -self.delta * ones], axis=1),
            ops.stack([first_current, kth_current], axis=1),
            normalize=True,
        )
        return units, columns, state

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
    `models.softhebb_mnist` their norms shrink from the initial 25 to about
    5-7 and their directions stay where they started.

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
        y = ops.softmax(scaled, axis=-1)
        if not self.anti_hebbian:
            return y
        return ops.where(scaled >= ops.max(scaled, axis=-1, keepdims=True), y, -y)

    def compute_update(self, pre, post, kernel, state):
        y = self.signal(post)
        delta = pre.correlate(y) - kernel * ops.mean(y * post, axis=0)
        if self.max_normalize == "unit":
            delta = scale_units_by_max(delta)
        elif self.max_normalize:
            delta = scale_by_max(delta)
        if self.adaptive:
            distance = ops.abs(_unit_norms(kernel) - 1.0) + 1e-10
            delta = delta * ops.power(distance, self.power)
        return delta, state

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
        self.k = _check_k(k)
        self.max_normalize = bool(max_normalize)

    def state_spec(self, kernel_shape):
        _check_at_most_units("k", self.k, kernel_shape)
        return {}

    def compute_update(self, pre, post, kernel, state):
        units = kernel.shape[-1]
        currents, winners = ops.top_k(post, self.k, sorted=False)
        ones = ops.ones_like(currents)
        # y is 1 at the k winners, 0 elsewhere: a sparse signal.
        hebbian = pre.correlate_sparse(winners, ones, units)
        y_currents = ops.segment_sum(
            ops.reshape(currents, (-1,)), ops.reshape(winners, (-1,)), num_segments=units
        ) / pre.num_samples
        delta = hebbian - kernel * y_currents
        if self.max_normalize:
            delta = scale_by_max(delta)
        return delta, state

    def compute_column_update(self, pre, post, kernel, state):
        if not _columns_pay(pre, kernel, self.k):
            return None
        currents, winners = ops.top_k(post, self.k, sorted=False)
        units, columns = _column_update(pre, kernel, winners, ops.ones_like(currents), currents,
                                        normalize=self.max_normalize)
        return units, columns, state

    def get_config(self):
        return {"k": self.k, "max_normalize": self.max_normalize}
