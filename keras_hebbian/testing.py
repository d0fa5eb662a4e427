"""Conformance checks for your own rules and layers.

Like scikit-learn's `check_estimator` and Keras' `run_layer_test`: a contract
anyone can run on a rule or a layer, built in or their own, on any backend.

- `check_rule(rule)` runs a rule on small, fixed random batches, on a dense
  and on a convolutional kernel, and checks what every layer relies on: the
  declared state, the shape, dtype and finiteness of the update, that it is
  a mean over samples (so the batch size does not change what a learning rate
  means), the column form of sparse rules, and the config round trip.
- `check_layer(layer_class, init_kwargs, input_shape)` checks that `fit()`
  changes the layer's plastic weights, that `predict()` changes none, and
  that a `.keras` file restores every weight exactly, then runs Keras' own
  `run_layer_test` on it.

Both raise an `AssertionError` subclass whose message names the rule or the
layer and the failed check, so they work as they are inside a test:

```python
from keras_hebbian.testing import check_layer, check_rule

def test_my_rule():
    check_rule(MyRule())

def test_my_layer():
    check_layer(MyLayer, {"units": 4}, input_shape=(8, 6))
```
"""

import dataclasses
import os
import tempfile
import warnings

import keras
import numpy as np
from keras import ops

from keras_hebbian import rules as rules_module
from keras_hebbian.layers.hebbian_conv2d import ConvPresynaptic
from keras_hebbian.rules import Presynaptic, Rule

DEFAULT_KERNEL_SHAPES = ((8, 12), (3, 3, 2, 12))
"""The kernel shapes `check_rule` tries by default.

A dense kernel `(in_features, units)` and a 3x3 convolution kernel
`(height, width, in_channels, units)`. Twelve units leave room for rules that
rank units (`KrotovHopfield`'s default `k` is 7).
"""

_SAMPLES = 16  # samples of a dense batch
_IMAGES = 1  # images of a convolutional batch
_IMAGE_MARGIN = 3  # image side = kernel side + margin: 4 x 4 positions (samples) an image
_WIDE_UNITS = 64  # units of the kernel where a column form declined elsewhere may pay
_WIDE_SAMPLES = 2  # samples of that batch


class RuleConformanceError(AssertionError):
    """A rule breaks the contract that `check_rule` checks."""


class LayerConformanceError(AssertionError):
    """A layer breaks the contract that `check_layer` checks."""


@dataclasses.dataclass
class ConformanceReport:
    """What a check ran: returned by `check_rule` and `check_layer`.

    Attributes:
        subject: the rule's `repr`, or the layer class's name.
        passed: the names of the checks that passed, in the order they ran.
        skipped: maps the name of a check that did not apply to the reason.
    """

    subject: str
    passed: list = dataclasses.field(default_factory=list)
    skipped: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        lines = [f"{self.subject}: {len(self.passed)} checks passed"]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped.items()]
        return "\n".join(lines)


# -- rules ----------------------------------------------------------------------


def check_rule(rule, kernel_shapes=None, atol=1e-5, rtol=1e-4, seed=0):
    """Check that a rule honours the contract every Hebbian layer relies on.

    The rule is run, eagerly on the current backend, on small batches of
    fixed random data (NumPy, seeded), for each kernel shape: a 2D shape is a
    dense kernel `(in_features, units)` seen through a
    `keras_hebbian.rules.Presynaptic`, a 4D shape a convolution kernel
    `(height, width, in_channels, units)` seen through the
    `HebbianConv2D` layer's `ConvPresynaptic`. The responses are the inputs
    through `rule.effective_kernel(kernel)`, as a layer computes them.

    Checked, for each kernel shape:

    - `state_spec(kernel_shape)` maps names to `(shape, initializer)`, with a
      tuple of ints and an initializer that `keras.initializers.get` accepts
      and that can make a tensor of that shape;
    - `compute_update(pre, post, kernel, state)` returns `(delta, new_state)`:
      `delta` has the kernel's shape and a float dtype, `new_state` has
      exactly the declared keys, each with its declared shape;
    - finite inputs give a finite delta and state;
    - `effective_kernel(kernel)` keeps the kernel's shape and acts on each
      unit's weights alone (a layer recomputes only the changed columns);
    - the update of a batch equals the update of that batch repeated twice:
      statistics are means over samples, so the batch size does not change
      the update;
    - `N` identical samples give the update of one sample (for a
      convolution kernel, a sample is an image).

    For a sparse rule (`rule.sparse_units_per_sample` is not `None`) or a rule
    that overrides `compute_column_update`, on the first dense kernel:
    `compute_column_update` returns `(units, columns, new_state)` equal to
    `compute_update` at the units it lists, `compute_update` is zero at every
    other unit, and a sparse rule changes at most `sparse_units_per_sample`
    units per sample. A rule may return `None` where the column form does not
    pay; the check then tries a wide kernel (64 units) and two samples, and
    is skipped if the rule returns `None` there too.

    Once: `type(rule).from_config(rule.get_config())` has the same config, and
    so does `keras_hebbian.rules.get(keras_hebbian.rules.serialize(rule))` for
    a rule registered with `keras.saving.register_keras_serializable`.

    Args:
        rule: a `keras_hebbian.rules.Rule` instance.
        kernel_shapes: sequence of kernel shapes (2D or 4D tuples, last axis:
            units). Defaults to `DEFAULT_KERNEL_SHAPES`, one dense and one
            convolutional kernel.
        atol: float, absolute tolerance of the comparisons of two updates.
        rtol: float, tolerance relative to the largest entry of the
            reference update.
        seed: int, seeds the random data.

    Returns:
        A `ConformanceReport`: the checks that passed, and those skipped with
        the reason (e.g. `compute_column_update` returned `None`, or the rule
        is not registered for serialization).

    Raises:
        RuleConformanceError: (an `AssertionError`) at the first failed
            check; the message names the rule (its `repr`) and the problem.
        TypeError: if `rule` is not a `Rule`.
        ValueError: if a kernel shape is neither 2D nor 4D.

    Example:

    ```python
    from keras_hebbian.testing import check_rule

    report = check_rule(MyRule())
    print(report)
    ```
    """
    if not isinstance(rule, Rule):
        raise TypeError(
            f"`rule` must be a keras_hebbian.rules.Rule instance. Received: rule={rule!r}"
        )
    shapes = DEFAULT_KERNEL_SHAPES if kernel_shapes is None else kernel_shapes
    shapes = [tuple(int(d) for d in shape) for shape in shapes]
    for shape in shapes:
        if len(shape) not in (2, 4):
            raise ValueError(
                "Every kernel shape must be 2D `(in_features, units)` or 4D "
                f"`(height, width, in_channels, units)`. Received: {shape}"
            )
    checker = _RuleChecker(rule, atol, rtol, np.random.default_rng(seed))
    dense = None
    for shape in shapes:
        result = checker.check_kernel(shape)
        if dense is None and len(shape) == 2:
            dense = result
    checker.check_columns(dense)
    checker.check_config()
    return checker.report


class _Batch:
    """One batch for a rule: the pre-synaptic view, the responses, the kernel, the state."""

    def __init__(self, pre, post, kernel, state):
        self.pre = pre
        self.post = post
        self.kernel = kernel
        self.state = state


class _RuleChecker:
    def __init__(self, rule, atol, rtol, rng):
        self.rule = rule
        self.atol = atol
        self.rtol = rtol
        self.rng = rng
        self.name = _safe_repr(rule)
        self.report = ConformanceReport(self.name)

    def fail(self, problem):
        raise RuleConformanceError(f"{self.name}: {problem}")

    def passed(self, check):
        if check not in self.report.passed:
            self.report.passed.append(check)

    def call(self, method, *args):
        try:
            return getattr(self.rule, method)(*args)
        except RuleConformanceError:
            raise
        except Exception as error:  # a rule that raises fails the contract
            self.fail(f"`{method}` raised {type(error).__name__}: {error}")

    # -- the pieces of a batch ------------------------------------------------

    def state_spec(self, kernel_shape):
        spec = self.call("state_spec", kernel_shape)
        where = f"`state_spec({kernel_shape})`"
        if not isinstance(spec, dict):
            self.fail(f"{where} must return a dict; returned {type(spec).__name__}.")
        checked = {}
        for key, entry in spec.items():
            if not isinstance(key, str):
                self.fail(f"{where}: state names must be strings; received {key!r}.")
            if not isinstance(entry, (tuple, list)) or len(entry) != 2:
                self.fail(f"{where}[{key!r}] must be `(shape, initializer)`; received {entry!r}.")
            shape, initializer = entry
            if not isinstance(shape, (tuple, list)) or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0
                for d in shape
            ):
                self.fail(
                    f"{where}[{key!r}]: the shape must be a tuple of ints >= 0; "
                    f"received {shape!r}."
                )
            shape = tuple(int(d) for d in shape)
            try:
                value = keras.initializers.get(initializer)(shape, dtype="float32")
            except Exception as error:
                self.fail(
                    f"{where}[{key!r}]: the initializer {initializer!r} is not one Keras "
                    f"accepts for shape {shape} ({type(error).__name__}: {error})."
                )
            checked[key] = (shape, ops.convert_to_tensor(value, dtype="float32"))
        self.passed("state_spec")
        return checked

    def batch(self, kernel_shape, state, samples=None, repeat=1, kernel=None, inputs=None):
        """A batch on `kernel_shape`: `(batch, kernel, inputs)`.

        New random `inputs` of `samples` samples (images for a 4D kernel) and
        a new random kernel unless given; the batch holds `inputs` stacked
        `repeat` times, and responses computed through the effective kernel.
        """
        if kernel is None:
            kernel = (0.5 * self.rng.normal(size=kernel_shape)).astype("float32")
        if inputs is None:
            if len(kernel_shape) == 2:
                size = (samples, kernel_shape[0])
            else:
                size = (samples, kernel_shape[0] + _IMAGE_MARGIN,
                        kernel_shape[1] + _IMAGE_MARGIN, kernel_shape[2])
            inputs = self.rng.normal(size=size).astype("float32")
        effective = self.effective_kernel(kernel)
        x = ops.convert_to_tensor(np.concatenate([inputs] * repeat, axis=0), dtype="float32")
        if len(kernel_shape) == 2:
            pre = Presynaptic(x)
            post = ops.matmul(x, effective)
        else:
            post = ops.conv(x, effective, strides=1, padding="valid")
            output_size = tuple(int(d) for d in post.shape[1:3])
            pre = ConvPresynaptic(x, tuple(kernel_shape[:2]), (1, 1), (1, 1), output_size)
            post = ops.reshape(post, (-1, kernel_shape[-1]))
        tensor = ops.convert_to_tensor(kernel, dtype="float32")
        return _Batch(pre, post, tensor, dict(state)), kernel, inputs

    def effective_kernel(self, kernel):
        tensor = ops.convert_to_tensor(kernel, dtype="float32")
        effective = self.call("effective_kernel", tensor)
        effective = ops.convert_to_tensor(effective)
        if _shape(effective) != tuple(kernel.shape):
            self.fail(
                f"`effective_kernel` returned shape {_shape(effective)}; it must keep "
                f"the kernel's shape {tuple(kernel.shape)}."
            )
        if not np.all(np.isfinite(ops.convert_to_numpy(effective))):
            self.fail("`effective_kernel` of a finite kernel is non-finite (NaN or Inf).")
        units = kernel.shape[-1]
        if units > 1:
            # A layer recomputes only the columns a sparse update changes.
            part = ops.convert_to_numpy(self.call("effective_kernel", tensor[..., ::2]))
            if not np.allclose(part, ops.convert_to_numpy(effective)[..., ::2], rtol=1e-5,
                               atol=1e-6):
                self.fail("`effective_kernel` must act on each unit's weights alone: on some "
                          "of the units it gave other values than on all of them.")
        self.passed("effective_kernel")
        return ops.cast(effective, "float32")

    def update(self, batch, spec, where):
        """`compute_update` on `batch`, checked; returns numpy `(delta, new_state)`."""
        result = self.call("compute_update", batch.pre, batch.post, batch.kernel, batch.state)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            self.fail(
                f"`compute_update` must return `(delta, new_state)`; it returned "
                f"{type(result).__name__} ({where})."
            )
        delta, new_state = result
        kernel_shape = _shape(batch.kernel)
        delta = ops.convert_to_tensor(delta)
        if _shape(delta) != kernel_shape:
            self.fail(
                f"`compute_update` returned a delta of shape {_shape(delta)}; it must have "
                f"the kernel's shape {kernel_shape} ({where})."
            )
        dtype = keras.backend.standardize_dtype(delta.dtype)
        if "float" not in dtype:
            self.fail(
                f"`compute_update` returned a delta of dtype {dtype}; it must be a float "
                f"dtype (float32) ({where})."
            )
        delta = ops.convert_to_numpy(delta)
        if not np.all(np.isfinite(delta)):
            self.fail(
                f"`compute_update` returned a non-finite delta (NaN or Inf) from finite "
                f"inputs, kernel and state ({where})."
            )
        new_state = self.check_state(new_state, spec, "`compute_update`", where)
        self.passed("compute_update")
        return delta, new_state

    def check_state(self, new_state, spec, method, where):
        if not isinstance(new_state, dict):
            self.fail(
                f"{method} must return the new state as a dict; it returned "
                f"{type(new_state).__name__} ({where})."
            )
        missing = sorted(set(spec) - set(new_state))
        extra = sorted(set(new_state) - set(spec))
        if missing or extra:
            self.fail(
                f"{method} returned a state whose keys differ from `state_spec`'s "
                f"{sorted(spec)}: missing keys {missing}, extra keys {extra} ({where})."
            )
        values = {}
        for key, (shape, _) in spec.items():
            value = ops.convert_to_tensor(new_state[key])
            if _shape(value) != shape:
                self.fail(
                    f"{method} returned state[{key!r}] of shape {_shape(value)}; "
                    f"`state_spec` declares {shape} ({where})."
                )
            value = ops.convert_to_numpy(value)
            if not np.all(np.isfinite(value)):
                self.fail(
                    f"{method} returned a non-finite state[{key!r}] (NaN or Inf) from "
                    f"finite inputs ({where})."
                )
            values[key] = value
        return values

    def close(self, actual, reference):
        actual, reference = np.asarray(actual, "float64"), np.asarray(reference, "float64")
        if actual.shape != reference.shape:
            return False, np.inf
        if actual.size == 0:
            return True, 0.0
        difference = float(np.max(np.abs(actual - reference)))
        scale = float(np.max(np.abs(reference)))
        return difference <= self.atol + self.rtol * scale, difference

    def same_update(self, first, second):
        """The first pair of `(name, difference)` where two updates differ, or `None`."""
        ok, difference = self.close(second[0], first[0])
        if not ok:
            return "delta", difference
        for key in first[1]:
            ok, difference = self.close(second[1][key], first[1][key])
            if not ok:
                return f"state[{key!r}]", difference
        return None

    # -- the checks ---------------------------------------------------------------

    def check_kernel(self, kernel_shape):
        """The checks on one kernel shape; returns `(batch, update, spec, where)`."""
        kind = "dense" if len(kernel_shape) == 2 else "convolutional"
        where = f"{kind} kernel {kernel_shape}"
        spec = self.state_spec(kernel_shape)
        state = {key: value for key, (_, value) in spec.items()}
        # A dense batch has 16 samples; a convolutional one, one image of 4 x 4
        # positions: both give responses (16, units), so the compiled ops of
        # an eager backend serve both.
        samples = _SAMPLES if kind == "dense" else _IMAGES
        batch, kernel, inputs = self.batch(kernel_shape, state, samples=samples)
        reference = self.update(batch, spec, where)

        doubled, _, _ = self.batch(kernel_shape, state, repeat=2, kernel=kernel, inputs=inputs)
        twice = self.update(doubled, spec, f"{where}, batch repeated twice")
        differs = self.same_update(reference, twice)
        if differs is not None:
            name, difference = differs
            self.fail(
                f"the update depends on the batch size: the {name} of a batch repeated "
                f"twice differs from that of the batch (max abs difference {difference:.3g}; "
                f"{where}). Statistics must be means over samples (`pre.correlate`, "
                "`ops.mean(..., axis=0)`), not sums."
            )
        self.passed("batch_size_invariance")

        copies = max(len(inputs), 2)
        one, _, _ = self.batch(kernel_shape, state, kernel=kernel, inputs=inputs[:1])
        single = self.update(one, spec, f"{where}, one sample")
        same, _, _ = self.batch(kernel_shape, state, kernel=kernel, inputs=inputs[:1],
                                repeat=copies)
        repeated = self.update(same, spec, f"{where}, {copies} identical samples")
        differs = self.same_update(single, repeated)
        if differs is not None:
            name, difference = differs
            self.fail(
                f"{copies} identical samples do not give the update of one sample: the "
                f"{name} differs (max abs difference {difference:.3g}; {where}). Statistics "
                "must be means over samples."
            )
        self.passed("identical_samples")
        return batch, reference, spec, where

    def check_columns(self, dense):
        """The column form of a sparse rule, on `dense`: `check_kernel`'s result, or None."""
        rule = self.rule
        sparse = getattr(rule, "sparse_units_per_sample", None)
        overridden = type(rule).compute_column_update is not Rule.compute_column_update
        if sparse is None and not overridden:
            self.report.skipped["column_update"] = (
                "the rule is not sparse (`sparse_units_per_sample` is None) and does "
                "not implement `compute_column_update`"
            )
            return
        if dense is None:
            self.report.skipped["column_update"] = "no dense (2D) kernel shape to check on"
            return
        per_sample = sparse if isinstance(sparse, int) and not isinstance(sparse, bool) else None
        if self.compare_columns_on(*dense, per_sample):
            self.passed("column_update")
            return
        # A rule may decline the column form where it does not pay: try a
        # wide kernel and few samples, where it does.
        kernel_shape = (dense[0].kernel.shape[0],
                        _WIDE_UNITS if per_sample is None else max(_WIDE_UNITS, 8 * per_sample))
        where = f"dense kernel {kernel_shape}, {_WIDE_SAMPLES} samples"
        spec = self.state_spec(kernel_shape)
        state = {key: value for key, (_, value) in spec.items()}
        batch, _, _ = self.batch(kernel_shape, state, samples=_WIDE_SAMPLES)
        update = self.update(batch, spec, where)
        if self.compare_columns_on(batch, update, spec, where, per_sample):
            self.passed("column_update")
            return
        self.report.skipped["column_update"] = (
            "`compute_column_update` returned None for every batch tried"
        )

    def compare_columns_on(self, batch, update, spec, where, per_sample):
        """Compare the column form on one batch; False if the rule returned None."""
        delta, new_state = update
        if per_sample is not None:
            samples = int(batch.post.shape[0])
            changed = int(np.sum(np.any(delta != 0.0, axis=0)))
            if changed > samples * per_sample:
                self.fail(
                    f"`sparse_units_per_sample={per_sample}` but `compute_update` changed "
                    f"{changed} units for {samples} samples (at most "
                    f"{samples * per_sample}) ({where})."
                )
            self.passed("sparse_units_per_sample")
        result = self.call("compute_column_update", batch.pre, batch.post, batch.kernel,
                           batch.state)
        if result is None:
            return False
        self.compare_columns(result, delta, new_state, spec, where)
        return True

    def compare_columns(self, result, delta, new_state, spec, where):
        method = "`compute_column_update`"
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            self.fail(
                f"{method} must return None or `(units, columns, new_state)`; it returned "
                f"{type(result).__name__} ({where})."
            )
        units, columns, column_state = result
        units = ops.convert_to_numpy(ops.convert_to_tensor(units))
        columns = ops.convert_to_numpy(ops.convert_to_tensor(columns))
        in_features, num_units = delta.shape
        if units.ndim != 1 or not np.issubdtype(units.dtype, np.integer):
            self.fail(
                f"{method} must return the units as a 1D int tensor; received shape "
                f"{units.shape}, dtype {units.dtype} ({where})."
            )
        if units.size and (units.min() < 0 or units.max() >= num_units):
            self.fail(f"{method} returned unit indices outside [0, {num_units}) ({where}).")
        if columns.shape != (in_features, units.size):
            self.fail(
                f"{method} returned columns of shape {columns.shape}; expected "
                f"{(in_features, units.size)}, one column per listed unit ({where})."
            )
        if not np.all(np.isfinite(columns)):
            self.fail(f"{method} returned non-finite columns (NaN or Inf) ({where}).")
        column_state = self.check_state(column_state, spec, method, where)
        ok, difference = self.close(columns, delta[:, units])
        if not ok:
            self.fail(
                f"{method} differs from `compute_update` at the units it lists (max abs "
                f"difference {difference:.3g}) ({where})."
            )
        others = np.setdiff1d(np.arange(num_units), units)
        scale = float(np.max(np.abs(delta))) if delta.size else 0.0
        leak = float(np.max(np.abs(delta[:, others]))) if others.size else 0.0
        if leak > self.atol + self.rtol * scale:
            self.fail(
                f"`compute_update` changes units that {method} does not list (max abs "
                f"change {leak:.3g}); it must be zero at every other unit ({where})."
            )
        for key in spec:
            ok, difference = self.close(column_state[key], new_state[key])
            if not ok:
                self.fail(
                    f"{method} returned a state[{key!r}] that differs from "
                    f"`compute_update`'s (max abs difference {difference:.3g}) ({where})."
                )

    def check_config(self):
        rule = self.rule
        config = self.call("get_config")
        if not isinstance(config, dict):
            self.fail(f"`get_config` must return a dict; it returned {type(config).__name__}.")
        try:
            revived = type(rule).from_config(config)
        except Exception as error:
            self.fail(
                f"`{type(rule).__name__}.from_config(rule.get_config())` raised "
                f"{type(error).__name__}: {error}. `get_config` must return the "
                "constructor's arguments."
            )
        revived_config = revived.get_config()
        if not _equal(revived_config, config):
            self.fail(
                f"`from_config(get_config())` does not round-trip: the revived rule's "
                f"config is {revived_config}, the rule's {config}."
            )
        for key, value in vars(rule).items():
            if not _is_plain(value):
                continue
            revived_value = vars(revived).get(key, _MISSING)
            if revived_value != value:
                self.fail(
                    f"`from_config(get_config())` does not round-trip: the revived rule's "
                    f"attribute `{key}` is {revived_value!r}, the rule's {value!r}. "
                    "`get_config` must return every constructor argument."
                )
        self.passed("config_round_trip")
        if not _is_registered(rule):
            self.report.skipped["serialize_round_trip"] = (
                "the rule class is not registered with "
                "`keras.saving.register_keras_serializable`"
            )
            return
        try:
            revived = rules_module.get(rules_module.serialize(rule))
        except Exception as error:
            self.fail(
                "`keras_hebbian.rules.get(keras_hebbian.rules.serialize(rule))` raised "
                f"{type(error).__name__}: {error}."
            )
        if type(revived) is not type(rule) or not _equal(revived.get_config(), config):
            self.fail(
                "`keras_hebbian.rules.get(keras_hebbian.rules.serialize(rule))` gives "
                f"{_safe_repr(revived)}, not the same rule."
            )
        self.passed("serialize_round_trip")


_MISSING = "<missing>"


def _equal(a, b):
    """`a == b` for configs, which may hold arrays."""
    try:
        return bool(a == b)
    except ValueError:  # arrays: compare their text
        return repr(a) == repr(b)


def _is_plain(value):
    """Whether `value` is a constructor-argument-like value that compares by `==`."""
    if isinstance(value, (tuple, list)):
        return all(_is_plain(item) for item in value)
    return isinstance(value, (bool, int, float, str, type(None)))


def _is_registered(rule):
    cls = type(rule)
    if cls in set(rules_module.ALL_RULES.values()):
        return True
    name = keras.saving.get_registered_name(cls)
    return name != cls.__name__ and keras.saving.get_registered_object(name) is cls


def _safe_repr(obj):
    try:
        return repr(obj)
    except Exception:
        return f"{type(obj).__name__}(<repr failed>)"


def _shape(tensor):
    return tuple(int(d) for d in tensor.shape)


# -- layers ---------------------------------------------------------------------


def check_layer(
    layer_class,
    init_kwargs,
    input_shape,
    expected_output_shape=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    custom_objects=None,
    run_mixed_precision_check=True,
    seed=0,
):
    """Check that a Hebbian layer learns as it should and behaves as a Keras layer.

    On a `keras.Sequential([keras.Input(input_shape[1:]), layer])` compiled
    without a loss, on fixed random data (two batches):

    - `fit()` for one epoch changes every plastic weight: each matrix that
      one of the layer's rules updates (the `variable` of every attribute
      that holds a `variable` and its `rule`; for a layer without such
      attributes, its `kernel`);
    - `predict()` changes no weight, and its outputs have
      `expected_output_shape` (but for the batch axis);
    - a `.keras` save and load restores every weight of the layer exactly,
      and the restored model predicts the same outputs.

    Then Keras' own `run_layer_test` (from `keras.src.testing`): the config
    and serialization round trips, building, a symbolic and an eager call
    against `expected_output_shape`, one compiled training step, and a
    mixed-precision call whose weights must stay float32.

    Args:
        layer_class: the layer class.
        init_kwargs: dict, the constructor arguments. They must make the
            layer learn (a `learning_rate` above zero).
        input_shape: tuple, the shape of one batch, batch axis included,
            e.g. `(8, 6)` for a dense layer of 6 inputs.
        expected_output_shape: tuple, the shape of the outputs of one batch.
            Defaults to the layer's own `compute_output_shape(input_shape)`,
            which the eager outputs must then match.
        expected_num_trainable_weights: int or `None` (not checked).
        expected_num_non_trainable_weights: int or `None` (not checked).
        custom_objects: dict of objects needed to deserialize the layer; the
            layer class is added under its name and its registered name.
        run_mixed_precision_check: bool, run `run_layer_test`'s
            mixed-precision call (Keras skips it on PyTorch without a GPU).
        seed: int, seeds the random data.

    Returns:
        A `ConformanceReport` naming the checks that passed.

    Raises:
        LayerConformanceError: (an `AssertionError`) at the first failed
            check; the message names the layer class and the check.

    Example:

    ```python
    from keras_hebbian.layers import HebbianDense
    from keras_hebbian.testing import check_layer

    check_layer(HebbianDense, {"units": 4, "rule": "sanger"}, input_shape=(8, 6))
    ```
    """
    name = getattr(layer_class, "__name__", repr(layer_class))
    report = ConformanceReport(name)
    input_shape = tuple(input_shape)
    init_kwargs = dict(init_kwargs or {})
    objects = {name: layer_class, keras.saving.get_registered_name(layer_class): layer_class}
    objects.update(custom_objects or {})

    def fail(check, problem, error=None):
        raise LayerConformanceError(f"{name} fails the `{check}` check: {problem}") from error

    if expected_output_shape is None:
        try:
            expected_output_shape = tuple(
                layer_class(**init_kwargs).compute_output_shape(input_shape)
            )
        except NotImplementedError:
            expected_output_shape = None
        except Exception as error:
            fail("compute_output_shape", f"{type(error).__name__}: {error}", error)

    rng = np.random.default_rng(seed)
    batch_size = input_shape[0] or 8
    x = rng.normal(size=(2 * batch_size,) + input_shape[1:]).astype("float32")
    model, layer = _check_fit(layer_class, init_kwargs, input_shape, x, batch_size, fail)
    report.passed.append("fit_changes_plastic_weights")
    outputs = _check_predict(model, x, batch_size, expected_output_shape, fail)
    report.passed.append("predict_changes_nothing")
    _check_save_load(model, x, batch_size, outputs, objects, fail)
    report.passed.append("save_load_round_trip")
    _run_layer_test(layer_class, init_kwargs, input_shape, expected_output_shape,
                    expected_num_trainable_weights, expected_num_non_trainable_weights,
                    objects, run_mixed_precision_check, fail)
    report.passed.append("run_layer_test")
    return report


def _check_fit(layer_class, init_kwargs, input_shape, x, batch_size, fail):
    try:
        layer = layer_class(**init_kwargs)
        model = keras.Sequential([keras.Input(input_shape[1:]), layer])
        model.compile()
    except Exception as error:
        fail("fit", f"building and compiling the model raised {type(error).__name__}: {error}",
             error)
    plastic = _plastic_variables(layer)
    if not plastic:
        fail("fit", "the layer has no plastic weights (no `kernel` variable) to check.")
    before = [_numpy(v) for v in plastic]
    try:
        with warnings.catch_warnings():
            # A model made only of Hebbian layers has no trainable weights by design.
            warnings.filterwarnings("ignore", message="The model does not have any trainable")
            model.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    except Exception as error:
        fail("fit", f"`fit()` of the model compiled without a loss raised "
             f"{type(error).__name__}: {error}", error)
    unchanged = [v.path for v, old in zip(plastic, before) if np.array_equal(_numpy(v), old)]
    if unchanged:
        fail("fit", f"`fit()` did not change the plastic weights {unchanged}: the layer must "
             "assign their new values in `call(..., training=True)`.")
    return model, layer


def _check_predict(model, x, batch_size, expected_output_shape, fail):
    weights = [_numpy(v) for v in model.weights]
    try:
        outputs = model.predict(x, batch_size=batch_size, verbose=0)
    except Exception as error:
        fail("predict", f"`predict()` raised {type(error).__name__}: {error}", error)
    changed = [v.path for v, old in zip(model.weights, weights)
               if not np.array_equal(_numpy(v), old)]
    if changed:
        fail("predict", f"`predict()` changed the weights {changed}: a layer may learn only "
             "when called with training=True.")
    if expected_output_shape is not None:
        expected = tuple(expected_output_shape[1:])
        received = tuple(np.shape(outputs)[1:])
        if len(expected) != len(received) or any(
            e is not None and e != r for e, r in zip(expected, received)
        ):
            fail("predict", f"`predict()` returned outputs of shape {np.shape(outputs)}; "
                 f"expected (batch,) + {expected}.")
    return outputs


def _check_save_load(model, x, batch_size, outputs, objects, fail):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        try:
            model.save(path)
            restored = keras.saving.load_model(path, custom_objects=objects)
        except Exception as error:
            fail("save_load", f"a `.keras` round trip raised {type(error).__name__}: {error}",
                 error)
    saved, loaded = model.layers[-1].weights, restored.layers[-1].weights
    if [v.name for v in saved] != [v.name for v in loaded]:
        fail("save_load", f"the restored layer's weights {[v.name for v in loaded]} differ "
             f"from the saved layer's {[v.name for v in saved]}.")
    for old, new in zip(saved, loaded):
        if old.dtype != new.dtype or not np.array_equal(_numpy(old), _numpy(new)):
            fail("save_load", f"the weight {old.name!r} is not restored exactly by a `.keras` "
                 "save and load.")
    restored_outputs = restored.predict(x, batch_size=batch_size, verbose=0)
    if not np.allclose(restored_outputs, outputs, rtol=1e-6, atol=1e-6):
        fail("save_load", "the restored model's `predict()` differs from the saved model's.")


def _run_layer_test(layer_class, init_kwargs, input_shape, expected_output_shape,
                    expected_num_trainable_weights, expected_num_non_trainable_weights,
                    objects, run_mixed_precision_check, fail):
    from keras.src.testing import TestCase

    # Keras' run_layer_test applies to a Hebbian layer as it is, no sub-check
    # disabled: the plastic weights are non-trainable variables, which its
    # training step (a loss on the outputs, optimizer "sgd") leaves to the
    # layer's own assigns, and its eager calls run with training=None, which
    # does not learn.
    with keras.saving.custom_object_scope(objects), warnings.catch_warnings():
        # Its training step fits a generator, for which Keras warns that
        # `shuffle` is ignored.
        warnings.filterwarnings("ignore", message=".*was provided as a generator")
        warnings.filterwarnings("ignore", message="The model does not have any trainable")
        try:
            TestCase().run_layer_test(
                layer_class,
                init_kwargs,
                input_shape=input_shape,
                expected_output_shape=expected_output_shape,
                expected_num_trainable_weights=expected_num_trainable_weights,
                expected_num_non_trainable_weights=expected_num_non_trainable_weights,
                supports_masking=False,
                custom_objects=objects,
                run_mixed_precision_check=run_mixed_precision_check,
            )
        except Exception as error:
            fail("run_layer_test", f"{type(error).__name__}: {error}", error)


def _plastic_variables(layer):
    """The variables a layer's rules update: its plastic matrices', or its `kernel`.

    A plastic matrix is an attribute that holds a `variable` and the `rule`
    that updates it (the `Plastic` records of a `HebbianLayer`).
    """
    variables = [
        value.variable for value in vars(layer).values()
        if isinstance(getattr(value, "variable", None), keras.Variable)
        and isinstance(getattr(value, "rule", None), Rule)
    ]
    if not variables and isinstance(getattr(layer, "kernel", None), keras.Variable):
        variables = [layer.kernel]
    return variables


def _numpy(variable):
    return np.array(ops.convert_to_numpy(variable.value))
