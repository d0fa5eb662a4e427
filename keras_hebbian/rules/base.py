"""The `Rule` base class and the pre-synaptic view that layers hand to rules."""

import copy

import keras
from keras import ops

from keras_hebbian.validation import check_non_negative, check_positive  # noqa: F401


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
        """Number of samples (a float32 scalar tensor)."""
        return ops.cast(ops.shape(self.inputs)[0], "float32")

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


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Rule:
    """Base class of Hebbian learning rules.

    A rule is a small, serializable object. Given the pre-synaptic side of a
    batch, the post-synaptic responses, the current kernel and its own state,
    it returns the weight *direction* (the layer scales it by its
    `learning_rate`, masks it and assigns it) and its new state. A rule never
    touches a variable; a layer never knows a rule's formula. Rules are
    written in `keras.ops` only, so one implementation serves every backend.
    Every statistic is a mean over the samples of the batch, so the batch size
    does not change what a learning rate means.

    To write your own rule, subclass `Rule`, implement `compute_update`, and
    (if the rule keeps state) `state_spec`. Give it a `get_config` returning
    its constructor arguments and register it for saving:

    ```python
    @keras.saving.register_keras_serializable(package="my_rules")
    class Instar(keras_hebbian.rules.Rule):
        # dw_ij = y_j (x_i - w_ij): each unit moves toward the inputs it fires for.
        def compute_update(self, pre, post, kernel, state):
            hebb = pre.correlate(post)
            return hebb - kernel * keras.ops.mean(post, axis=0), state

    layer = keras_hebbian.layers.HebbianDense(16, rule=Instar())
    ```
    """

    #: The norm every unit's weight vector converges to under this rule, or
    #: `None` when the rule has no such fixed point; `norm_order` is the norm's
    #: order. `keras_hebbian.callbacks.HebbianMonitor` reports the distance.
    fixed_point_norm = None
    norm_order = 2.0

    def effective_kernel(self, kernel):
        """The weights through which the layer's inputs reach its units.

        The identity for most rules; `KrotovHopfield` returns
        `sign(W) |W|^(p-1)`. The layer computes its outputs (and so the
        responses the rule sees) with this.
        """
        return kernel

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

    def compute_update(self, pre, post, kernel, state):
        """Compute the weight direction for one batch.

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
        raise NotImplementedError(
            f"{type(self).__name__} must implement `compute_update()`."
        )

    def compute_column_update(self, pre, post, kernel, state):
        """The update as the few columns (units) it changes, or `None`.

        A rule whose update moves only a few units per batch (a winner and
        the `k`-th unit per sample) may return those columns alone; a dense
        layer then updates them in place instead of passing over the whole
        kernel. It must equal `compute_update` at those columns, and
        `compute_update` must be zero elsewhere. The default, `None`, means
        the rule has no such form (the layer uses `compute_update`).

        Args:
            pre: as in `compute_update`.
            post: as in `compute_update`.
            kernel: as in `compute_update`; here 2D, `(in_features, units)`.
            state: as in `compute_update`.

        Returns:
            `None`, or `(units, columns, new_state)`: an int tensor `(m,)` of
            unit indices (repeats allowed, with equal columns), a float32
            tensor `(in_features, m)`, the change of each listed unit, and the
            new state.
        """
        return None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
