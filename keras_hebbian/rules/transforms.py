"""Transformations of a weight change, and `chain`, which adds them to a rule.

A transform maps a rule's weight change (and the current kernel) to a new
weight change: weight decay, division by the largest entry, a norm-adaptive
rate. `chain(rule, *transforms)` is a rule that applies them, in order, after
`rule`'s own update, as optax's `chain` composes gradient transformations:

>>> rules.chain(rules.Oja(), rules.scale_by_max(per_unit=True))
chain(Oja(), scale_by_max(per_unit=True))

The built-in rules are built from the same pieces: `Hebb(decay=0.1)` is Hebb's
correlation followed by `add_decay(0.1)`, `KrotovHopfield` ends with
`scale_by_max()`.
"""

import keras
from keras import ops

from keras_hebbian.rules.base import Configurable, Rule
from keras_hebbian.validation import check_non_negative, check_positive

# Guards the division of an all-zero change by its largest entry.
_EPSILON = 1e-30


def _at_least_epsilon(x):
    """`maximum(x, _EPSILON)`, with the bound made from `x`: a Python float (or
    `full_like`) would make a new tensor per call, on PyTorch a copy to the GPU
    that waits for it."""
    return ops.maximum(x, ops.zeros_like(x) + _EPSILON)


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Transform(Configurable):
    """Base class of the transformations of a weight change.

    A transform is a small, serializable object, like a rule. Subclass it,
    implement `__call__`, give it a `get_config` returning its constructor
    arguments and register it for saving; `chain` then applies it after any
    rule.

    Attributes:
        keeps_columns: whether a change confined to a few units stays confined
            to them, so that the transform may be applied to those units'
            columns alone (as `Rule.compute_column_update` does). True for a
            transform that acts on each unit by itself or divides by a global
            maximum; False for one that changes every weight (`add_decay`).
        uses_kernel: whether `__call__` reads its `kernel` argument; a
            transform that does not (`scale_by_max`) may be passed `None`.
        keeps_equal_columns: whether equal columns of `delta` (a unit named
            twice in a column update) stay exactly equal: true of an
            elementwise transform or a division by one global value; a
            per-unit reduction may round them an ulp apart.

    Example:

    ```python
    @keras.saving.register_keras_serializable(package="my_rules")
    class ClipByValue(keras_hebbian.rules.Transform):
        def __init__(self, limit=1.0):
            self.limit = limit

        def __call__(self, delta, kernel):
            return keras.ops.clip(delta, -self.limit, self.limit)

        def get_config(self):
            return {"limit": self.limit}

    rule = keras_hebbian.rules.chain("oja", ClipByValue(0.5))
    ```
    """

    keeps_columns = True
    uses_kernel = True
    keeps_equal_columns = False

    #: The name `repr` shows: the constructor that users call.
    _constructor = None

    def __call__(self, delta, kernel):
        """Transform a weight change.

        Args:
            delta: float32 tensor, the weight change, with the kernel's shape
                (2D dense or 4D convolution; the last axis is units). For a
                column update, `(in_features, m)`: the change of `m` units.
            kernel: float32 tensor, the current weights matching `delta`.

        Returns:
            The transformed change, with `delta`'s shape.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `__call__()`.")



def _over_units(tensor):
    """The axes of `tensor` but its last (units): reduced over, each unit's entries."""
    return tuple(range(len(tensor.shape) - 1))


def _unit_norms(kernel, order=2.0):
    """The norm of each unit's weight vector (the kernel's last axis is units).

    Reduced over the leading axes by name, not through a reshape to 2D,
    which on PyTorch copies a kernel stored unit by unit
    (`backend.store_by_units`).
    """
    axes = _over_units(kernel)
    if order == 2.0:
        return ops.sqrt(ops.sum(ops.square(kernel), axis=axes))
    return ops.power(ops.sum(ops.power(ops.abs(kernel), order), axis=axes), 1.0 / order)


@keras.saving.register_keras_serializable(package="keras_hebbian")
class AddDecay(Transform):
    """Weight decay, `delta - rate * kernel`; made by `add_decay`."""

    keeps_columns = False
    _constructor = "add_decay"

    def __init__(self, rate):
        self.rate = check_non_negative("rate", rate)

    def __call__(self, delta, kernel):
        return delta - self.rate * kernel

    def get_config(self):
        return {"rate": self.rate}


@keras.saving.register_keras_serializable(package="keras_hebbian")
class ScaleByMax(Transform):
    """Division by the largest absolute entry; made by `scale_by_max`."""

    _constructor = "scale_by_max"
    uses_kernel = False

    def __init__(self, per_unit=False):
        if not isinstance(per_unit, bool):
            raise ValueError(f"`per_unit` must be True or False. Received: per_unit={per_unit!r}")
        self.per_unit = per_unit
        self.keeps_equal_columns = not per_unit

    def __call__(self, delta, kernel):
        if self.per_unit:
            return delta / _at_least_epsilon(ops.max(ops.abs(delta), axis=_over_units(delta)))
        # Reduced over every axis by name: PyTorch's whole-tensor `max` first copies
        # a strided tensor (the columns of a few units are one) to contiguous memory.
        largest = ops.max(ops.abs(delta), axis=tuple(range(len(delta.shape))))
        return delta / _at_least_epsilon(largest)

    def get_config(self):
        return {"per_unit": self.per_unit}


@keras.saving.register_keras_serializable(package="keras_hebbian")
class ScaleByNormDistance(Transform):
    """A norm-adaptive rate per unit; made by `scale_by_norm_distance`."""

    _constructor = "scale_by_norm_distance"

    def __init__(self, power=0.5, target=1.0):
        self.power = check_positive("power", power)
        self.target = check_non_negative("target", target)

    def __call__(self, delta, kernel):
        distance = ops.abs(_unit_norms(kernel) - self.target) + 1e-10
        return delta * distance**self.power

    def get_config(self):
        return {"power": self.power, "target": self.target}


def add_decay(rate):
    """Weight decay: `delta - rate * kernel`.

    It changes every weight, so a competitive rule chained with it updates
    the whole kernel (no column updates).

    Args:
        rate: float >= 0, the decay per update, relative to the layer's
            learning rate.

    Returns:
        A `Transform`.

    Example:

    >>> rule = rules.chain(rules.Hebb(), rules.add_decay(0.1))  # as Hebb(decay=0.1)
    """
    return AddDecay(rate)


def scale_by_max(per_unit=False):
    """Divide the change by its largest absolute entry (Krotov & Hopfield).

    The layer's learning rate then bounds the change of any weight per
    update. A change that is all zero stays zero.

    Args:
        per_unit: bool. `False`: divide the whole change by its largest
            absolute entry. `True`: divide each unit's change by its own
            largest absolute entry, so every unit moves at its own rate
            however few inputs it wins. Defaults to `False`.

    Returns:
        A `Transform`.

    Example:

    >>> rule = rules.chain(rules.Oja(), rules.scale_by_max(per_unit=True))
    """
    return ScaleByMax(per_unit)


def scale_by_norm_distance(power=0.5, target=1.0):
    """Scale each unit's change by `(|norm(w_unit) - target| + 1e-10) ** power`.

    SoftHebb's norm-adaptive learning rate: large while a unit's weight
    vector is far from its fixed-point norm, vanishing at it.

    Args:
        power: float > 0, the exponent. Defaults to `0.5`.
        target: float >= 0, the norm at which the rate vanishes.
            Defaults to `1.0`.

    Returns:
        A `Transform`.

    Example:

    >>> rule = rules.chain(rules.Oja(), rules.scale_by_norm_distance(power=0.5))
    """
    return ScaleByNormDistance(power, target)


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Chain(Rule):
    """A rule followed by transforms of its update; made by `chain`.

    Its state, `state_spec`, `effective_kernel`, `fixed_point_norm` and
    `norm_order` are those of the inner rule.

    Args:
        rule: a `Rule`, or its name or config (as `rules.get` takes).
        transforms: a sequence of `Transform`s, applied in order.
    """

    def __init__(self, rule, transforms=()):
        from keras_hebbian import rules

        if isinstance(rule, Transform):
            raise ValueError(
                "The first argument of `chain` must be a rule (a `keras_hebbian.rules.Rule`, "
                f"its name or its config). Received: rule={rule!r}"
            )
        self.rule = rules.get(rule)
        transforms = tuple(transforms)
        for i, transform in enumerate(transforms):
            if not isinstance(transform, Transform):
                raise ValueError(
                    "Every transform of `chain` must be a `keras_hebbian.rules.Transform`, "
                    "such as `add_decay(0.1)`, `scale_by_max()` or "
                    f"`scale_by_norm_distance()`. Received: transforms[{i}]={transform!r}"
                )
        self._transforms = transforms

    @property
    def fixed_point_norm(self):
        return self.rule.fixed_point_norm

    @property
    def norm_order(self):
        return self.rule.norm_order

    @property
    def sparse_units_per_sample(self):
        if all(transform.keeps_columns for transform in self._transforms):
            return self.rule.sparse_units_per_sample
        return None

    def effective_kernel(self, kernel):
        return self.rule.effective_kernel(kernel)

    @property
    def identity_kernel(self):
        return self.rule.identity_kernel

    def state_spec(self, kernel_shape):
        return self.rule.state_spec(kernel_shape)

    def transforms(self):
        return list(self._transforms)

    def sparse_signal(self, post):
        return self.rule.sparse_signal(post)

    def core_update(self, pre, post, kernel, state):
        return self.rule.compute_update(pre, post, kernel, state)

    def core_column_update(self, pre, post, kernel, state):
        return self.rule.compute_column_update(pre, post, kernel, state)

    def get_config(self):
        return {
            "rule": keras.saving.serialize_keras_object(self.rule),
            "transforms": [keras.saving.serialize_keras_object(t) for t in self._transforms],
        }

    @classmethod
    def from_config(cls, config):
        from keras_hebbian import rules

        transforms = [keras.saving.deserialize_keras_object(t) for t in config["transforms"]]
        return cls(rules.get(config["rule"]), transforms)

    def __repr__(self):
        return f"chain({', '.join(repr(part) for part in (self.rule,) + self._transforms)})"


def chain(rule, *transforms):
    """A rule whose update is `rule`'s update followed by `transforms`, in order.

    Like optax's `chain`: each transform takes the weight change so far and
    the current kernel. The chain keeps `rule`'s state, its `effective_kernel`
    and its fixed point, and saves with the model like any rule (register your
    own transforms with `keras.saving.register_keras_serializable`). A
    competitive rule keeps its column updates when every transform keeps a
    change confined to a few units (`Transform.keeps_columns`; `add_decay`
    does not).

    Args:
        rule: a `Rule`, or its name (`"oja"`, ...) or config.
        *transforms: `Transform`s: `add_decay(rate)`, `scale_by_max(per_unit)`,
            `scale_by_norm_distance(power, target)` or your own.

    Returns:
        A `Rule`.

    Raises:
        ValueError: if `rule` is not a rule or a transform is not a
            `Transform`.

    Example:

    ```python
    rule = rules.chain(rules.Oja(), rules.scale_by_max(per_unit=True))
    layer = keras_hebbian.layers.HebbianDense(16, rule=rule, learning_rate=0.01)
    rules.chain(rules.Hebb(), rules.add_decay(0.1))  # the update of Hebb(decay=0.1)
    ```
    """
    return Chain(rule, transforms)
