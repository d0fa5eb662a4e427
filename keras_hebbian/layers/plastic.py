"""Plastic matrices: what learns, what it learns from, and proposed updates.

A `Plastic` is a matrix that learns by a rule (its variable, mask, rule,
learning rate, constraint and rule state). In a learning call a layer hands
each one `Synapses` (its pre-synaptic view and responses); its rule's answer
becomes a `Proposal` (the whole matrix) or a `ColumnProposal` (the few
columns a sparse rule moves), which the layer assigns only if every value
is finite.
"""

import warnings
from typing import NamedTuple

import numpy as np
from keras import ops

from keras_hebbian import backend


def connectivity_mask(connectivity, connectivity_prob, shape, seed):
    """Return the fixed float32 mask of a layer's kernel, or `None`.

    Args:
        connectivity: `"all"`, `"zero"`, `"random"` or a boolean array of
            `shape`.
        connectivity_prob: probability that a connection exists, for
            `"random"`.
        shape: the kernel's shape.
        seed: int or `None`; the random mask is drawn with NumPy from it, so
            the same seed gives the same mask on every backend.
    """
    if isinstance(connectivity, str):
        if connectivity == "random":
            rng = np.random.default_rng(seed)
            return (rng.random(shape) < connectivity_prob).astype("float32")
        return None
    mask = np.asarray(connectivity)
    if mask.shape != tuple(shape):
        raise ValueError(
            f"`connectivity` mask must have shape {tuple(shape)} (the kernel's "
            f"shape). Received a mask of shape {mask.shape}."
        )
    return mask.astype(bool).astype("float32")


class Plastic:
    """A matrix that learns by a rule: its variable, mask, rule and rule state.

    Attributes:
        variable: the float32 non-trainable variable.
        mask: a float32 variable of 0/1 of the same shape, or `None`.
        rule: the `keras_hebbian.rules.Rule` that updates it.
        learning_rate: float or `LearningRateSchedule`.
        constraint: callable applied after each update, or `None`.
        state: dict of the rule's state variables.
        effective: for a rule whose `effective_kernel` is not the identity, a
            float32 variable holding `rule.effective_kernel(variable)`,
            assigned with the matrix (only the changed columns, when an update
            changes a few), which the forward pass of a learning call reads;
            otherwise `None`.
    """

    def __init__(self, variable, mask, rule, learning_rate, constraint, state, effective=None):
        self.variable = variable
        self.mask = mask
        self.rule = rule
        self.learning_rate = learning_rate
        self.constraint = constraint
        self.state = state
        self.effective = effective

    def assign(self, weights):
        """Assign the whole matrix (and the effective kernel that follows it)."""
        self.variable.assign(weights)
        if self.effective is not None:
            self.effective.assign(self.rule.effective_kernel(weights))


class Synapses(NamedTuple):
    """What one plastic matrix learns from in a call.

    Attributes:
        plastic: the `Plastic` matrix.
        pre: a `keras_hebbian.rules.Presynaptic` over its float32,
            gradient-stopped inputs.
        post: the responses `(samples, units)` its rule sees.
    """

    plastic: Plastic
    pre: object
    post: object


class Proposal:
    """New values for a plastic matrix and its rule state, not yet assigned."""

    def __init__(self, plastic, weights, state):
        self.plastic, self.weights, self.state = plastic, weights, state

    def proposed(self):
        """The proposed values: weights first, then the state in `plastic.state`'s order."""
        return [self.weights] + [self.state[key] for key in self.plastic.state]

    def current(self):
        """The values in place now, in the order of `proposed()`."""
        return [self.plastic.variable.value] + [v.value for v in self.plastic.state.values()]

    def assign(self, values):
        """Assign `values` (ordered as `proposed()`) to the matrix and its state."""
        self.plastic.assign(values[0])
        self._assign_state(values[1:])

    def _assign_state(self, values):
        for variable, value in zip(self.plastic.state.values(), values):
            variable.assign(value)


class ColumnProposal(Proposal):
    """New values for only some columns (units) of a 2D matrix.

    `units`: int `(m,)` (repeats carry equal columns); `weights` and `old`:
    float32 `(in_features, m)`, the proposed and the current columns.
    """

    def __init__(self, plastic, units, weights, old, state):
        super().__init__(plastic, weights, state)
        self.units, self.old = units, old

    def current(self):
        return [self.old] + super().current()[1:]

    def assign(self, values):
        plastic = self.plastic
        backend.assign_columns(plastic.variable, self.units, values[0])
        if plastic.effective is not None:
            backend.assign_columns(plastic.effective, self.units,
                                   plastic.rule.effective_kernel(values[0]))
        self._assign_state(values[1:])


def all_finite(tensors):
    """A scalar bool tensor: every entry of every float tensor is finite.

    `x * 0` is 0 where `x` is finite and NaN where it is NaN or infinite, and a
    sum is NaN if any term is, so one product and one sum check a tensor
    exactly (no sum of the values themselves, which could overflow), in two
    passes where `all(isfinite(x))` takes several on an eager backend.
    """
    result = None
    for tensor in tensors:
        tensor = ops.convert_to_tensor(tensor)
        if "float" in str(tensor.dtype):
            finite = ops.isfinite(ops.sum(tensor * 0.0))
            result = finite if result is None else ops.logical_and(result, finite)
    return ops.convert_to_tensor(True) if result is None else result


def checked_state(rule, state, new_state):
    """`new_state`, once checked to have exactly the keys of `state` (the rule's `state_spec`)."""
    if not isinstance(new_state, dict) or set(new_state) != set(state):
        got = sorted(new_state) if isinstance(new_state, dict) else type(new_state).__name__
        raise ValueError(
            f"{rule!r} returned the state {got}; its `state_spec` declares "
            f"{sorted(state)}. A rule's update must return exactly the state it declares."
        )
    return new_state


class Refusal:
    """A refused update, reported: recorded on its layer, raised where the call is eager.

    Called by `keras_hebbian.backend.report_unless` with `eager=True` where the
    learning call runs eagerly (it raises `FloatingPointError`), or with
    `eager=False` from a host callback inside a compiled step, where it must
    not raise: it records the message in `layer.nonfinite_error` (read by
    `keras_hebbian.callbacks.NonFiniteGuard`) and, with no guard watching,
    warns. A compiled step that cannot call the host stores `code` in `flag`
    instead (`layer.poll_nonfinite()` reads it).
    """

    def __init__(self, layer, message):
        self.layer, self.message = layer, message

    @property
    def flag(self):
        """The layer's variable for refusals recorded by a compiled step, or `None`."""
        return self.layer._nonfinite_flag

    @property
    def code(self):
        """The int that stands for this refusal's message in `flag`."""
        return self.layer.nonfinite_code(self.message)

    def __call__(self, eager):
        if eager:
            raise FloatingPointError(self.message)
        if self.layer.nonfinite_error is None:  # the first message wins
            self.layer.nonfinite_error = self.message
        if not self.layer.nonfinite_guarded:
            warnings.warn(f"{self.message} The batch was left out and fit() goes on: give "
                          "fit() a keras_hebbian.callbacks.NonFiniteGuard to stop it.",
                          RuntimeWarning, stacklevel=1)
