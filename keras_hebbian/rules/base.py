"""The `Rule` base class and the pre-synaptic view that layers hand to rules."""

import copy

import keras
from keras import ops

from keras_hebbian import backend


class Presynaptic:
    """What a rule may ask of the pre-synaptic side of a layer.

    A layer builds one of these per training batch and passes it to its rule.
    It hides how inputs meet outputs (a matrix product for a dense layer, a
    convolution for a convolutional one), so that one rule serves every layer.

    Args:
        inputs: float32 tensor of shape `(samples, in_features)`: the inputs
            of the batch, with every leading axis folded into `samples`.
    """

    def __init__(self, inputs):
        self.inputs = inputs

    def with_inputs(self, inputs):
        """A copy of this view over other inputs (e.g. gathered from replicas)."""
        other = copy.copy(self)
        other.inputs = inputs
        return other

    @property
    def num_samples(self):
        """Number of samples: a float, or a float32 scalar tensor where it is
        known only when the step runs."""
        samples = ops.shape(self.inputs)[0]
        if isinstance(samples, int):  # no tensor to make (and copy to a device) per step
            return float(samples)
        return ops.cast(samples, "float32")

    def correlate(self, signal):
        """Mean over samples of the outer product `inputs ⊗ signal`.

        Args:
            signal: float32 tensor `(samples, units)`, a post-synaptic signal.

        Returns:
            A tensor with the kernel's shape `(in_features, units)`.
        """
        return ops.matmul(ops.transpose(self.inputs), signal) / self.num_samples

    def correlate_sparse(self, indices, values, units):
        """`correlate` of a signal with few non-zero units per sample.

        The signal of sample `n` is `values[n, j]` at unit `indices[n, j]` and
        zero elsewhere (a winner-take-all signal, say). A dense layer adds the
        winners' inputs into their columns with a segment sum, which costs
        `samples * in_features` instead of the `samples * in_features * units`
        of a matrix product.

        Args:
            indices: int tensor `(samples, m)`, the active units.
            values: float32 tensor `(samples, m)`, their signal.
            units: int, the number of units.

        Returns:
            A tensor with the kernel's shape.
        """
        in_features = self.inputs.shape[-1]
        data = ops.expand_dims(self.inputs, 1) * ops.expand_dims(values, -1)
        summed = ops.segment_sum(
            ops.reshape(data, (-1, in_features)),
            ops.reshape(indices, (-1,)),
            num_segments=units,
        )
        return ops.transpose(summed) / self.num_samples

    def mean(self):
        """Mean input, with the kernel's shape less its last axis."""
        return ops.mean(self.inputs, axis=0)


class Configurable:
    """A small object rebuilt from its constructor arguments (rules, transforms).

    `get_config()` returns the constructor's arguments, `from_config` calls
    the constructor with them, and the repr reads like that call (under the
    name in `_constructor`, when a function builds the object).
    """

    _constructor = None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self._constructor or type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Rule(Configurable):
    """Base class of Hebbian learning rules.

    A rule is a small, serializable object. Given the pre-synaptic side of a
    batch, the post-synaptic responses, the current kernel and its own state,
    it returns the weight *direction* (the layer scales it by its
    `learning_rate`, masks it and assigns it) and its new state. A rule never
    touches a variable; a layer never knows a rule's formula. Rules are
    written in `keras.ops` only, so one implementation serves every backend.
    Every statistic is a mean over the samples of the batch, so the batch size
    does not change what a learning rate means.

    To write your own rule, subclass `Rule` and implement one of:

    - `compute_update(pre, post, kernel, state)`: the whole update; the
      simplest way.
    - `core_update(pre, post, kernel, state)` and `transforms()`: the rule's
      own update, then a list of `keras_hebbian.rules.Transform`s
      (`add_decay`, `scale_by_max`, ...) that the base class's
      `compute_update` applies after it, in order.
    - `sparse_signal(post)` and `sparse_units_per_sample` (and, if it has
      some, `transforms()`): for a competitive rule whose signal gives each
      sample a few units (a winner, the `k`-th unit). The base class derives
      from it the dense update `dW = <x g> - W <g u>` and the update of the
      changed units' columns alone (`compute_column_update`), which a dense
      layer may apply in place of a pass over the whole kernel.

    A rule that keeps state between batches also implements `state_spec`.
    Give it a `get_config` returning its constructor arguments and register
    it for saving. To add transforms to an existing rule, use
    `keras_hebbian.rules.chain` instead of a subclass.

    Attributes:
        fixed_point_norm: the norm every unit's weight vector converges to
            under the rule, or `None` (the default) when it has none.
            `keras_hebbian.callbacks.HebbianMonitor` reports the distance.
        norm_order: the order of that norm. Defaults to `2.0`.
        sparse_units_per_sample: for a rule with a `sparse_signal`, the
            number `m` of units its signal gives each sample (an int); `None`
            (the default) for a dense rule. A layer uses the column form of
            the update only where this is an int.

    Example:

    ```python
    @keras.saving.register_keras_serializable(package="my_rules")
    class Instar(keras_hebbian.rules.Rule):
        # dw_ij = y_j (x_i - w_ij): each unit moves toward the inputs it fires for.
        def compute_update(self, pre, post, kernel, state):
            hebb = pre.correlate(post)
            return hebb - kernel * keras.ops.mean(post, axis=0), state

    layer = keras_hebbian.layers.HebbianDense(16, rule=Instar())


    @keras.saving.register_keras_serializable(package="my_rules")
    class Winner(keras_hebbian.rules.Rule):
        # The unit with the largest response learns dw = x - u w.
        sparse_units_per_sample = 1

        def sparse_signal(self, post):
            winner = keras.ops.expand_dims(keras.ops.argmax(post, axis=-1), -1)
            return winner, keras.ops.ones_like(winner, dtype="float32")

        def transforms(self):
            return [keras_hebbian.rules.scale_by_max()]
    ```
    """

    fixed_point_norm = None
    norm_order = 2.0
    sparse_units_per_sample = None

    def effective_kernel(self, kernel):
        """The weights through which the layer's inputs reach its units.

        The identity for most rules; `KrotovHopfield` returns
        `sign(W) |W|^(p-1)`. The layer computes its outputs (and so the
        responses the rule sees) with this. It must act on each unit's
        weights (each column of a dense kernel) alone: a layer keeps the
        effective kernel as a variable and, when a batch changes a few units,
        computes only their columns again.

        Args:
            kernel: float32 tensor, the kernel.

        Returns:
            A tensor of the kernel's shape.
        """
        return kernel

    @property
    def identity_kernel(self):
        """Whether `effective_kernel` is the identity (the layer then keeps no copy)."""
        return type(self).effective_kernel is Rule.effective_kernel

    def state_spec(self, kernel_shape):
        """State the rule keeps between batches.

        Also the place to check the rule against the kernel's shape (e.g. `k`
        winners among `units`): it is called once, when the layer is built.

        Args:
            kernel_shape: tuple, the shape of the kernel (last axis: units).

        Returns:
            A dict mapping a state name to `(shape, initializer)`. The layer
            creates one non-trainable float32 variable per entry (saved with
            the model) and passes their values to `compute_update`.
        """
        return {}

    def transforms(self):
        """The transforms applied, in order, after the rule's `core_update`.

        Returns:
            A list of `keras_hebbian.rules.Transform`s; empty by default.

        Example:

        ```python
        def transforms(self):  # in Hebb
            return [add_decay(self.decay)] if self.decay else []
        ```
        """
        return []

    def compute_update(self, pre, post, kernel, state):
        """Compute the weight direction for one batch.

        The default runs `core_update`, then `transforms()`. Override it to
        write the whole update yourself (then `transforms()` is not applied).

        Args:
            pre: a `Presynaptic`: `pre.correlate(signal)` gives the mean over
                samples of `inputs ⊗ signal` in the kernel's shape,
                `pre.mean()` the mean input.
            post: float32 tensor `(samples, units)`, the layer's responses.
            kernel: float32 tensor, the current kernel (last axis: units).
            state: dict of float32 tensors, as declared by `state_spec`.

        Returns:
            `(delta, new_state)`: `delta` has the kernel's shape; `new_state`
            has the keys of `state`.
        """
        delta, new_state = self.core_update(pre, post, kernel, state)
        return _apply(self.transforms(), delta, kernel), new_state

    def core_update(self, pre, post, kernel, state):
        """The rule's own update, before its `transforms()`.

        Takes the arguments of `compute_update` and returns
        `(delta, new_state)` likewise. The default derives it from
        `sparse_signal`: with `g` the signal and `u` the response of the
        units it names, `dW = <x g> - W <g u>`, zero for units that no sample
        names.
        """
        indices, values = self.sparse_signal(post)
        units = kernel.shape[-1]
        hebbian = pre.correlate_sparse(indices, values, units)
        # <g u> per unit: only the named units' own responses count.
        g_currents = values * ops.take_along_axis(post, indices, axis=-1)
        g_currents = ops.segment_sum(
            ops.reshape(g_currents, (-1,)), ops.reshape(indices, (-1,)), num_segments=units
        ) / pre.num_samples
        return hebbian - kernel * g_currents, state

    def sparse_signal(self, post):
        """The post-synaptic signal of a competitive rule, as a few units per sample.

        Implement it together with `sparse_units_per_sample`; the base class
        then derives `compute_update` and `compute_column_update`.

        Args:
            post: float32 tensor `(samples, units)`, the layer's responses.

        Returns:
            `(indices, values)`: an int tensor `(samples, m)` of unit indices
            and a float32 tensor `(samples, m)` of their signal `g`, with `m`
            the rule's `sparse_units_per_sample`. Every other unit's signal is
            zero.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `compute_update()`, `core_update()` or "
            "`sparse_signal()`."
        )

    def compute_column_update(self, pre, post, kernel, state):
        """The update as the columns of the few units it changes.

        Derived from `sparse_signal`, for a rule whose
        `sparse_units_per_sample` is an int: equal to `compute_update` at the
        listed units, which is zero elsewhere. The rule's transforms are
        applied to the columns, so each must keep columns
        (`Transform.keeps_columns`). Its cost, `samples * m * in_features`,
        does not depend on the number of units; the layer decides when it
        pays, and asks only rules whose `sparse_units_per_sample` is an int.

        Args:
            pre: as in `compute_update`.
            post: as in `compute_update`.
            kernel: as in `compute_update`; here 2D, `(in_features, units)`.
            state: as in `compute_update`.

        Returns:
            `(units, columns, new_state)`: an int tensor `(samples * m,)` of
            unit indices (repeats allowed, with equal columns), a float32
            tensor `(in_features, samples * m)`, the change of each listed
            unit, and the new state.

        Raises:
            ValueError: if the rule has no column update: its
                `sparse_units_per_sample` is `None`, or one of its transforms
                does not keep columns.
        """
        if self.sparse_units_per_sample is None:
            raise ValueError(
                f"{self!r} has no column update: its `sparse_units_per_sample` is None "
                "(use `compute_update`)."
            )
        transforms = self.transforms()
        for transform in transforms:
            if not transform.keeps_columns:
                raise ValueError(
                    f"{self!r} has a transform that changes every weight ({transform!r}), so "
                    "it has no column update: its `sparse_units_per_sample` must be None."
                )
        units, columns, new_state = self.core_column_update(pre, post, kernel, state)
        if transforms:
            uses_kernel = any(transform.uses_kernel for transform in transforms)
            columns = _apply(transforms, columns,
                             backend.take_columns(kernel, units) if uses_kernel else None)
            # A per-unit reduction may round a repeated unit's columns apart by
            # an ulp: every repeat takes the column of the unit's first entry.
            if not all(transform.keeps_equal_columns for transform in transforms):
                columns = ops.take(columns, _first_entries(units), axis=1)
        return units, columns, new_state

    def core_column_update(self, pre, post, kernel, state):
        """`core_update` at the listed units: `(units, columns, new_state)`.

        As `compute_column_update` returns it, before the rule's transforms.
        The default derives it from `sparse_signal`.
        """
        indices, values = self.sparse_signal(post)
        currents = ops.take_along_axis(post, indices, axis=-1)
        units, columns = _column_update(pre, kernel, indices, values, currents)
        return units, columns, state



def _apply(transforms, delta, kernel):
    """`delta` passed through `transforms` in order (`kernel`: the matching weights)."""
    for transform in transforms:
        delta = transform(delta, kernel)
    return delta


def _first_entries(units):
    """For each entry of the int tensor `units`, the first entry naming the same unit."""
    return ops.argmax(ops.equal(ops.expand_dims(units, 1), ops.expand_dims(units, 0)), axis=1)


def _column_update(pre, kernel, indices, signal, currents):
    """The change `dW = <x g> - W <g u>` of the units in `indices`, as `(units, columns)`.

    Sample `n` gives the signal `g = signal[n, j]` (response `u =
    currents[n, j]`) to unit `indices[n, j]`. Entries naming the same unit
    are summed once and share one column, so repeated units get equal
    columns. Costs `samples * m * in_features`, independent of the number of
    units.
    """
    in_features = kernel.shape[0]
    units = ops.reshape(indices, (-1,))
    entries = units.shape[0]
    # the mean over samples, taken before the sums: no pass over the columns
    signal = signal / pre.num_samples
    # one row per entry: its sample's inputs times its signal
    rows = ops.reshape(ops.expand_dims(signal, -1) * ops.expand_dims(pre.inputs, 1),
                       (-1, in_features))
    # Sums land once, in each unit's first entry.
    first = _first_entries(units)
    hebbian = backend.segment_sum(rows, first, entries)
    g_currents = backend.segment_sum(ops.reshape(signal * currents, (-1,)), first, entries)
    hebbian = ops.transpose(ops.take(hebbian, first, axis=0))
    g_currents = ops.take(g_currents, first, axis=0)
    # Columns are gathered as they lie in memory (`backend.take_columns`),
    # `(in_features, entries)`: on a kernel stored by rows, gathered
    # transposed, each entry would read its weights one cache line apart.
    return units, hebbian - backend.take_columns(kernel, units) * g_currents
