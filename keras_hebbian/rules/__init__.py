"""Hebbian learning rules.

A rule computes the weight direction of a Hebbian layer from the pre-synaptic
inputs, the post-synaptic responses and the current weights. Layers accept a
rule object or its string identifier:

>>> keras_hebbian.layers.HebbianDense(16, rule="sanger")
>>> keras_hebbian.rules.get("bcm")
BCM(threshold_rate=0.1, normalize=False, epsilon=1e-06, decay=0.0)

Transforms of a weight change (`add_decay`, `scale_by_max`,
`scale_by_norm_distance`) compose with any rule through `chain`:

>>> keras_hebbian.rules.chain("oja", keras_hebbian.rules.scale_by_max(per_unit=True))
chain(Oja(), scale_by_max(per_unit=True))
"""

import keras

from keras_hebbian.rules.anti_hebbian import AntiHebbian
from keras_hebbian.rules.base import Presynaptic, Rule
from keras_hebbian.rules.bcm import BCM
from keras_hebbian.rules.competitive import KrotovHopfield, SoftHebb, WinnerTakeAll
from keras_hebbian.rules.hebb import Covariance, Hebb
from keras_hebbian.rules.oja import Oja, Sanger
from keras_hebbian.rules.transforms import (
    Transform,
    add_decay,
    chain,
    scale_by_max,
    scale_by_norm_distance,
)

ALL_RULES = {
    "hebb": Hebb,
    "oja": Oja,
    "sanger": Sanger,
    "gha": Sanger,
    "bcm": BCM,
    "covariance": Covariance,
    "anti_hebbian": AntiHebbian,
    "foldiak": AntiHebbian,
    "krotov_hopfield": KrotovHopfield,
    "krotov": KrotovHopfield,
    "softhebb": SoftHebb,
    "winner_take_all": WinnerTakeAll,
    "wta": WinnerTakeAll,
}


def serialize(rule):
    """Return the config dict of `rule` (or of a `Transform`), as `keras.saving` writes it."""
    return keras.saving.serialize_keras_object(rule)


def deserialize(config, custom_objects=None):
    """Return a `Rule` (or a `Transform`) from a config dict made by `serialize`."""
    return keras.saving.deserialize_keras_object(
        config, module_objects=ALL_RULES, custom_objects=custom_objects
    )


def get(identifier):
    """Return a `Rule` from a name, a config dict, or a `Rule`.

    Args:
        identifier: a string (`"hebb"`, `"oja"`, `"sanger"` (or `"gha"`),
            `"bcm"`, `"covariance"`, `"anti_hebbian"` (or `"foldiak"`),
            `"krotov_hopfield"` (or `"krotov"`), `"softhebb"`,
            `"winner_take_all"` (or `"wta"`)), a dict made by `serialize`, or a
            `Rule` instance (returned as is).

    Returns:
        A `Rule`.

    Raises:
        ValueError: for an unknown name, a `Transform` (it changes a rule's
            update: `chain(rule, transform)`), or an object that is not a rule.

    Example:

    >>> rules.get(rules.serialize(rules.chain("hebb", rules.add_decay(0.1))))
    chain(Hebb(decay=0.0), add_decay(rate=0.1))
    """
    if isinstance(identifier, Rule):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "_")
        if key not in ALL_RULES:
            raise ValueError(
                f"Unknown `rule`: {identifier!r}. Expected one of "
                f"{sorted(ALL_RULES)} or a `keras_hebbian.rules.Rule` instance."
            )
        return ALL_RULES[key]()
    if isinstance(identifier, dict):
        identifier = deserialize(identifier)
        if isinstance(identifier, Rule):
            return identifier
    if isinstance(identifier, Transform):
        raise ValueError(
            f"`rule` must be a rule; {identifier!r} is a transform of a rule's update. "
            f"Apply it to a rule with `keras_hebbian.rules.chain(rule, {identifier!r})`."
        )
    raise ValueError(
        "`rule` must be a rule name, a serialized rule dict or a "
        f"`keras_hebbian.rules.Rule` instance. Received: rule={identifier!r}"
    )


__all__ = [
    "AntiHebbian",
    "BCM",
    "Covariance",
    "Hebb",
    "KrotovHopfield",
    "Oja",
    "Presynaptic",
    "Rule",
    "Sanger",
    "SoftHebb",
    "Transform",
    "WinnerTakeAll",
    "add_decay",
    "chain",
    "deserialize",
    "get",
    "scale_by_max",
    "scale_by_norm_distance",
    "serialize",
]
