"""Hebbian learning rules.

A rule computes the weight direction of a Hebbian layer from the pre-synaptic
inputs, the post-synaptic responses and the current weights. Layers accept a
rule object or its string identifier:

>>> keras_hebbian.layers.HebbianDense(16, rule="sanger")
>>> keras_hebbian.rules.get("bcm")
BCM(threshold_rate=0.1, normalize=False, epsilon=1e-06, decay=0.0)
"""

import keras

from keras_hebbian.rules.anti_hebbian import AntiHebbian
from keras_hebbian.rules.base import Presynaptic, Rule
from keras_hebbian.rules.bcm import BCM
from keras_hebbian.rules.competitive import KrotovHopfield, SoftHebb, WinnerTakeAll
from keras_hebbian.rules.hebb import Covariance, Hebb
from keras_hebbian.rules.oja import Oja, Sanger

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
    """Return the config dict of `rule`, as `keras.saving` writes it."""
    return keras.saving.serialize_keras_object(rule)


def deserialize(config, custom_objects=None):
    """Return a `Rule` from a config dict made by `serialize`."""
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

    Raises:
        ValueError: for an unknown name or an object that is not a rule.
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
        rule = deserialize(identifier)
        if isinstance(rule, Rule):
            return rule
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
    "WinnerTakeAll",
    "deserialize",
    "get",
    "serialize",
]
