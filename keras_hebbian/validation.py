"""Checks of constructor arguments, shared by rules, layers, heads and constraints.

Each check returns the value in its canonical type, or raises a `ValueError`
that names the parameter, the value received and the values expected, as
Keras' own layers do.
"""

import math


def check_non_negative(name, value):
    """`value` as a float; raise `ValueError` unless it is a finite number >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0.0 <= number < math.inf:
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    return number


def check_positive(name, value):
    """`value` as a float; raise `ValueError` unless it is a finite number > 0."""
    try:
        number = check_non_negative(name, value)
    except ValueError:
        number = 0.0
    if number == 0.0:
        raise ValueError(f"`{name}` must be a finite number > 0. Received: {name}={value!r}")
    return number


def check_fraction(name, value, low_open=False, high_open=False):
    """`value` as a float; raise `ValueError` unless it lies in [0, 1].

    Args:
        name: the parameter's name, for the message.
        value: the value to check.
        low_open: exclude 0.
        high_open: exclude 1.
    """
    number = check_non_negative(name, value)
    if number > 1.0 or (low_open and number == 0.0) or (high_open and number == 1.0):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"`{name}` must be in {interval}. Received: {name}={value!r}")
    return number


def check_int(name, value, minimum=None):
    """`value` as an int; raise `ValueError` unless it is an int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or (
        minimum is not None and value < minimum
    ):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"`{name}` must be an int{bound}. Received: {name}={value!r}")
    return int(value)


def check_choice(name, value, choices):
    """`value`; raise `ValueError` unless it is one of `choices`."""
    if not isinstance(value, (str, int, float, type(None))) or value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}")
    return value


def check_known_last_axis(layer_name, input_shape):
    """The size of the inputs' last axis as an int; raise `ValueError` if it is unknown."""
    features = input_shape[-1]
    if features is None:
        raise ValueError(
            f"The last axis of the inputs of a {layer_name} layer must be known. "
            f"Received input_shape={input_shape}"
        )
    return int(features)


def check_learning_rate(learning_rate, name="learning_rate"):
    """Return a float >= 0 or a `LearningRateSchedule`; raise on anything else."""
    import keras

    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if isinstance(learning_rate, dict):
        return keras.optimizers.schedules.deserialize(learning_rate)
    return check_non_negative(name, learning_rate)


def serialize_learning_rate(learning_rate):
    """A learning rate for `get_config`: the float, or the schedule's config."""
    import keras

    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return keras.optimizers.schedules.serialize(learning_rate)
    return learning_rate
