"""`HebbianLayer`: what every layer with a plastic kernel shares.

The mechanism, on every backend: the kernel is a non-trainable variable,
updated with `variable.assign()` inside `call(..., training=True)`, exactly as
`BatchNormalization` updates its moving statistics; Keras' `fit()` collects
such assigns on JAX (stateless call), TensorFlow (stateful ops) and PyTorch
(in-place copy).
"""

import sys
import warnings
import weakref

import keras
import numpy as np
from keras import ops

from keras_hebbian import rules as rules_module
from keras_hebbian.distribution import all_gather_many
from keras_hebbian.rules.base import check_non_negative

# A model made only of Hebbian layers has no trainable weights by design; Keras
# warns about it on every `fit()`. That warning says nothing useful here.
warnings.filterwarnings(
    "ignore", message="The model does not have any trainable weights."
)

CONNECTIVITY_MODES = ("all", "random", "zero")
NONFINITE_MODES = ("raise", "skip")

# Rules that change few columns per batch update them in place on JAX and
# PyTorch. On TensorFlow gathering and scattering columns cost more than the
# dense update (one Krotov-Hopfield MNIST epoch: 7-21 s against 6.3-7.7 s).
_COLUMN_UPDATES = keras.backend.backend() != "tensorflow"


def check_learning_rate(learning_rate, name="learning_rate"):
    """Return a float or a `LearningRateSchedule`; raise on anything else."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if isinstance(learning_rate, dict):
        return keras.optimizers.schedules.deserialize(learning_rate)
    return check_non_negative(name, learning_rate)


def serialize_learning_rate(learning_rate):
    """A learning rate for `get_config`: the float, or the schedule's config."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return keras.optimizers.schedules.serialize(learning_rate)
    return learning_rate


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


class HebbianLayer(keras.layers.Layer):
    """Base class of the layers whose kernel learns by a local rule.

    It owns what every such layer shares: the rule and its state variables,
    the learning rate (a float or a Keras `LearningRateSchedule`, indexed by
    the number of updates), the connectivity mask, the kernel constraint, the
    gating of plasticity (`training=True` and `trainable`), the snapshot of the
    kernel that the forward pass reads, and the assign. A subclass says how it
    computes its output and which pre/post pairs its rules see, in
    `respond(inputs, learning)`.

    Args:
        rule: a `keras_hebbian.rules.Rule` or its name (`"oja"`, ...).
        learning_rate: float >= 0 or a `keras.optimizers.schedules`
            schedule, called with the number of updates made so far.
        connectivity: `"all"` (dense), `"random"` (a fixed Bernoulli mask with
            probability `connectivity_prob`, drawn once from `seed`), `"zero"`
            (the kernel starts at zero) or a boolean array of the kernel's
            shape. Masked weights stay exactly zero.
        connectivity_prob: float in [0, 1], used by `"random"`.
        kernel_initializer: initializer of the kernel.
        kernel_constraint: optional `keras.constraints.Constraint` applied to
            the kernel after every update (e.g. `UnitNorm(axis=0)`).
        seed: int or `None`, seeds the kernel initializer and the random mask.
        activation: activation of the outputs (the rule sees activated outputs).
        use_bias: bool, add a trainable bias (learned by backprop only).
        bias_initializer: initializer of the bias.
        on_nonfinite: what a learning call does with a batch that holds NaN
            or Inf: `"raise"` (default) stops with an error, `"skip"` leaves
            the batch out of learning (the outputs are still computed). Either
            way no weight changes. An update that would make a weight (or
            the rule's state) non-finite always raises, naming the layer, and
            the last finite weights are kept.
    """

    def __init__(
        self,
        rule="oja",
        learning_rate=0.01,
        connectivity="all",
        connectivity_prob=0.5,
        kernel_initializer="glorot_uniform",
        kernel_constraint=None,
        seed=None,
        activation=None,
        use_bias=False,
        bias_initializer="zeros",
        on_nonfinite="raise",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if on_nonfinite not in NONFINITE_MODES:
            raise ValueError(
                f"`on_nonfinite` must be one of {NONFINITE_MODES}. "
                f"Received: on_nonfinite={on_nonfinite!r}"
            )
        self.on_nonfinite = on_nonfinite
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.rule = rules_module.get(rule)
        self.learning_rate = check_learning_rate(learning_rate)
        if isinstance(connectivity, str):
            if connectivity not in CONNECTIVITY_MODES:
                raise ValueError(
                    f"`connectivity` must be one of {CONNECTIVITY_MODES} or a "
                    f"boolean mask array. Received: connectivity={connectivity!r}"
                )
        else:
            connectivity = np.asarray(connectivity).astype(bool)
        self.connectivity = connectivity
        prob = check_non_negative("connectivity_prob", connectivity_prob)
        if prob > 1.0:
            raise ValueError(
                "`connectivity_prob` must be in [0, 1]. "
                f"Received: connectivity_prob={connectivity_prob!r}"
            )
        self.connectivity_prob = prob
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.kernel_initializer = self._seeded(
            keras.initializers.get(
                "zeros" if _is_mode(connectivity, "zero") else kernel_initializer
            )
        )
        self._kernel_initializer_arg = kernel_initializer
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def _seeded(self, initializer):
        if self.seed is not None and "seed" in initializer.get_config():
            config = dict(initializer.get_config(), seed=self.seed)
            return initializer.__class__.from_config(config)
        return initializer

    # -- building -----------------------------------------------------------

    def add_plastic_kernel(self, shape, name="kernel"):
        """Create the plastic kernel, its mask, the rule's state and the counter."""
        shape = tuple(int(d) for d in shape)
        mask = connectivity_mask(self.connectivity, self.connectivity_prob, shape, self.seed)
        self.kernel_plastic = self.add_plastic(
            name,
            shape,
            rule=self.rule,
            learning_rate=self.learning_rate,
            initializer=self.kernel_initializer,
            mask=mask,
            constraint=self.kernel_constraint,
        )
        self.kernel = self.kernel_plastic.variable
        self.connectivity_mask = self.kernel_plastic.mask
        self.rule_state = self.kernel_plastic.state

    def add_bias(self, units):
        """Create the trainable bias when `use_bias` (else `self.bias = None`)."""
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(units,),
                                        initializer=self.bias_initializer)

    def activate(self, outputs):
        """Add the bias (if any) and apply the activation."""
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def add_plastic(self, name, shape, rule, learning_rate, initializer, mask=None,
                    constraint=None):
        """Create a matrix that learns by `rule`, with its mask and rule state.

        Returns a `Plastic` record. The first call also creates `updates`,
        the number of updates made so far (it indexes learning-rate
        schedules).
        """
        variable = self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            trainable=False,
            autocast=False,
            dtype="float32",
            aggregation="mean",
        )
        mask_variable = None
        if mask is not None:
            mask_variable = self.add_weight(
                name=f"{name}_mask" if name != "kernel" else "connectivity_mask",
                shape=shape,
                initializer=keras.initializers.Constant(mask),
                trainable=False,
                autocast=False,
                dtype="float32",
                aggregation="only_first_replica",
            )
            variable.assign(ops.where(mask_variable.value > 0, variable.value, 0.0))
        prefix = "rule" if name == "kernel" else f"{name}_rule"
        state = {}
        for key, (state_shape, state_initializer) in rule.state_spec(shape).items():
            state[key] = self.add_weight(
                name=f"{prefix}_{key}",
                shape=tuple(state_shape),
                initializer=state_initializer,
                trainable=False,
                autocast=False,
                dtype="float32",
                aggregation="mean",
            )
        if getattr(self, "updates", None) is None:
            self.updates = self.add_weight(
                name="updates",
                shape=(),
                initializer="zeros",
                trainable=False,
                autocast=False,
                dtype="int32",
                aggregation="only_first_replica",
            )
        return Plastic(variable, mask_variable, rule, learning_rate, constraint, state)

    # -- calling --------------------------------------------------------------

    def plastic(self, training):
        """Whether this call learns: training, and the layer is trainable."""
        return bool(training) and self.trainable

    def read(self, plastic, learning):
        """A plastic matrix's value for the forward pass, in the compute dtype.

        On PyTorch the assign is an in-place copy; if autograd saved the very
        tensor the forward pass read (a trainable layer upstream needs it for
        its gradient), the copy would break the backward pass. When the layer
        learns, the forward pass therefore reads a snapshot.
        """
        value = plastic.variable.value
        if learning and keras.backend.backend() == "torch":
            value = ops.copy(value)
        return ops.cast(value, self.compute_dtype)

    def call(self, inputs, training=None):
        learning = self.plastic(training)
        outputs, updates = self.respond(inputs, learning)
        if learning:
            self.learn(updates)
        # Keras' `fit()` and `evaluate()` on TensorFlow and PyTorch refuse a
        # model that has no loss. A zero tied to the output lets
        # `model.compile(); model.fit(x)` work for networks made only of
        # Hebbian layers, and adds nothing to the loss (nor to any gradient)
        # of a model compiled with one.
        self.add_loss(ops.cast(ops.sum(ops.ravel(outputs)[:1]), "float32") * 0.0)
        return outputs

    def learn(self, updates):
        """Apply the rules' updates, all or none of them.

        The pre- and post-synaptic signals are first gathered from every
        replica when training is distributed (`keras_hebbian.distribution`),
        so each replica computes the update of the global batch. Every update
        is computed before any is applied, and they are applied only if the
        batch is finite and every new weight and rule state is finite;
        otherwise no variable changes and, by `on_nonfinite`, the batch is
        skipped or learning stops with an error that names the layer.
        """
        tensors = all_gather_many(
            [t for _, pre, post in updates for t in (pre.inputs, ops.cast(post, "float32"))]
        )
        updates = [(plastic, pre.with_inputs(tensors[2 * i]), tensors[2 * i + 1])
                   for i, (plastic, pre, _) in enumerate(updates)]
        proposals = [self.propose(plastic, pre, post) for plastic, pre, post in updates]
        # The first pair's pre-synaptic side is the layer's own inputs.
        finite_inputs = _all_finite([updates[0][1].inputs])
        finite_result = _all_finite(
            [_new(w) for _, w, _ in proposals] + [v for _, _, s in proposals for v in s.values()]
        )
        self._stop_if_nonfinite(finite_inputs, finite_result)
        accept = ops.logical_and(finite_inputs, finite_result)
        old = [[_old(p, w)] + [v.value for v in p.state.values()] for p, w, _ in proposals]
        new = [[_new(w)] + [s[key] for key in p.state] for p, w, s in proposals]
        chosen = _select(accept, new, old)
        for (plastic, proposed, _), values in zip(proposals, chosen):
            if isinstance(proposed, Columns):
                plastic.variable.assign(
                    _scatter_columns(plastic.variable.value, proposed.units, values[0])
                )
            else:
                plastic.variable.assign(values[0])
            for var, value in zip(plastic.state.values(), values[1:]):
                var.assign(value)
        self.updates.assign_add(ops.cast(accept, "int32"))

    def _stop_if_nonfinite(self, finite_inputs, finite_result):
        input_message = (
            f"Layer '{self.name}' received a batch with NaN or Inf values while "
            "learning; no weight was changed. Clean the inputs, or construct "
            "the layer with on_nonfinite='skip' to leave such batches out."
        )
        result_message = (
            f"Learning stopped: this update would make the weights of layer "
            f"'{self.name}' non-finite (NaN or Inf); the last finite weights "
            "are kept. Lower its learning_rate or use a rule that bounds the "
            "weights (e.g. rule='oja' instead of 'hebb')."
        )
        if self.on_nonfinite == "skip":
            # A skipped batch proposes no weights to check.
            finite_result = ops.logical_or(ops.logical_not(finite_inputs), finite_result)
            checks = [(finite_result, result_message)]
        else:
            checks = [(finite_inputs, input_message),
                      (ops.logical_or(ops.logical_not(finite_inputs), finite_result),
                       result_message)]
        for condition, message in checks:
            _raise_unless(condition, message)

    def respond(self, inputs, learning):
        """Compute the layer's outputs and the pairs its rules learn from.

        Args:
            inputs: the layer's inputs.
            learning: bool, whether this call learns (read plastic matrices
                with `self.read(plastic, learning)`).

        Returns:
            `(outputs, updates)`: the outputs of the call, and a list of
            `(plastic, pre, post)`: a `Plastic` record, a
            `keras_hebbian.rules.Presynaptic` over its float32,
            gradient-stopped inputs, and the responses `(samples, units)` its
            rule sees. The updates are applied in order, after `respond`.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `respond()`.")

    def propose(self, plastic, pre, post):
        """One update of `plastic`'s rule: `(plastic, new_weights, new_state)`.

        Nothing is assigned here; `learn` applies the proposals.
        """
        post = ops.cast(ops.stop_gradient(post), "float32")
        weights = plastic.variable.value
        state = {key: var.value for key, var in plastic.state.items()}
        learning_rate = plastic.learning_rate
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            learning_rate = ops.cast(learning_rate(self.updates.value), "float32")
        columns = None
        if _COLUMN_UPDATES and plastic.constraint is None and len(weights.shape) == 2:
            columns = plastic.rule.compute_column_update(pre, post, weights, state)
        if columns is not None:
            # Only these units change: update their columns, not the kernel.
            units, delta, new_state = columns
            old = ops.take(weights, units, axis=1)
            new = old + learning_rate * delta
            if plastic.mask is not None:
                new = ops.where(ops.take(plastic.mask.value, units, axis=1) > 0, new, 0.0)
            return plastic, Columns(units, new, old), new_state
        delta, new_state = plastic.rule.compute_update(pre, post, weights, state)
        new_weights = weights + learning_rate * delta
        if plastic.constraint is not None:
            new_weights = plastic.constraint(new_weights)
        if plastic.mask is not None:
            new_weights = ops.where(plastic.mask.value > 0, new_weights, 0.0)
        return plastic, new_weights, new_state

    # -- configuration --------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        connectivity = self.connectivity
        if not isinstance(connectivity, str):
            connectivity = np.asarray(connectivity).tolist()
        config.update(
            {
                "rule": rules_module.serialize(self.rule),
                "learning_rate": serialize_learning_rate(self.learning_rate),
                "connectivity": connectivity,
                "connectivity_prob": self.connectivity_prob,
                "kernel_initializer": keras.initializers.serialize(
                    keras.initializers.get(self._kernel_initializer_arg)
                ),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "seed": self.seed,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "on_nonfinite": self.on_nonfinite,
            }
        )
        return config


class Plastic:
    """A matrix that learns by a rule: its variable, mask, rule and rule state.

    Attributes:
        variable: the float32 non-trainable variable.
        mask: a float32 variable of 0/1 of the same shape, or `None`.
        rule: the `keras_hebbian.rules.Rule` that updates it.
        learning_rate: float or `LearningRateSchedule`.
        constraint: callable applied after each update, or `None`.
        state: dict of the rule's state variables.
    """

    def __init__(self, variable, mask, rule, learning_rate, constraint, state):
        self.variable = variable
        self.mask = mask
        self.rule = rule
        self.learning_rate = learning_rate
        self.constraint = constraint
        self.state = state


class Columns:
    """A proposal that changes only some columns (units) of a 2D kernel.

    `units`: int tensor `(m,)` (repeats carry equal columns); `new`, `old`:
    float32 `(in_features, m)`, the proposed and the current columns.
    """

    def __init__(self, units, new, old):
        self.units = units
        self.new = new
        self.old = old


def _new(proposed):
    return proposed.new if isinstance(proposed, Columns) else proposed


def _old(plastic, proposed):
    return proposed.old if isinstance(proposed, Columns) else plastic.variable.value


def _scatter_columns(kernel, units, columns):
    """`kernel` with its columns `units` replaced by `columns` `(rows, m)`.

    On JAX an indexed update of the columns (in place once the step donates
    the kernel); on PyTorch a scatter of their entries.
    """
    if keras.backend.backend() == "jax":
        return kernel.at[:, units].set(columns)
    rows, m = columns.shape
    row_index = ops.repeat(ops.expand_dims(ops.arange(rows, dtype="int32"), 1), m, axis=1)
    column_index = ops.broadcast_to(ops.expand_dims(ops.cast(units, "int32"), 0), (rows, m))
    coordinates = ops.stack(
        [ops.reshape(row_index, (-1,)), ops.reshape(column_index, (-1,))], axis=1
    )
    return ops.scatter_update(kernel, coordinates, ops.reshape(columns, (-1,)))


def _all_finite(tensors):
    """A scalar bool tensor: every entry of every tensor is finite.

    `x * 0` is 0 where `x` is finite and NaN where it is NaN or infinite, and a
    sum is NaN if any term is, so one product and one sum check a tensor
    exactly (no sum of the values themselves, which could overflow), in two
    passes where `all(isfinite(x))` takes several on an eager backend.
    """
    result = ops.convert_to_tensor(True)
    for tensor in tensors:
        tensor = ops.convert_to_tensor(tensor)
        if "float" not in str(tensor.dtype):
            continue
        result = ops.logical_and(result, ops.isfinite(ops.sum(tensor * 0.0)))
    return result


def _select(condition, if_true, if_false):
    """`if_true` when the scalar bool `condition` holds, else `if_false` (nested lists).

    A conditional rather than an elementwise `where` over every weight.
    """
    return ops.cond(condition, lambda: if_true, lambda: if_false)


def _raise_unless(condition, message):
    """Stop learning with `message` when the scalar bool `condition` is false.

    Called eagerly (PyTorch, or a layer called outside a compiled step), it
    raises `FloatingPointError` at once. Inside a compiled training step an
    error would lose state (Keras' JAX trainer hands every weight to each
    step), so the step ends normally, the update unapplied, and a host
    callback on that path sets `stop_training` on the model being trained;
    `fit()` then puts the last finite weights back into the variables and
    raises `FloatingPointError(message)` at its end. Under TensorFlow's XLA
    compilation (`jit_compile=True`) no host callback can run: the batch is
    skipped, as with `on_nonfinite="skip"`.
    """
    backend = keras.backend.backend()
    if _is_eager(backend, condition):
        if not bool(ops.convert_to_numpy(condition)):
            raise FloatingPointError(message)
        return
    model = _model_in_train_step()

    def stop():
        owner = None if model is None else model()
        if owner is None:
            raise FloatingPointError(message)
        owner.stop_training = True
        _raise_at_train_end(owner, message)

    if backend == "jax":
        import jax

        jax.lax.cond(condition, lambda: None, lambda: jax.debug.callback(stop))
    elif backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.ops import control_flow_util

        if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
            return

        def host():
            stop()
            return True

        tf.cond(condition, lambda: tf.constant(True),
                lambda: tf.py_function(host, [], tf.bool))


def _is_eager(backend, condition):
    """Whether `condition` has a value now (not inside a traced function)."""
    if backend == "jax":
        import jax

        return not isinstance(condition, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    return True


def _raise_at_train_end(model, message):
    """Raise `FloatingPointError(message)` once `model.fit()` has synced its state.

    `model.history` is the `History` callback of the running `fit()`; its
    `on_train_end` runs after Keras' trainer has put the last state back into
    the variables. The first message wins (replicas may each report).
    """
    history = getattr(model, "history", None)
    if history is None:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return
    if "on_train_end" in vars(history):
        return
    original = history.on_train_end

    def on_train_end(logs=None):
        del history.on_train_end  # back to the class' method
        original(logs)
        raise FloatingPointError(message)

    history.on_train_end = on_train_end


def _model_in_train_step():
    """A weak reference to the `keras.Model` whose `train_step` is tracing this call."""
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if frame.f_code.co_name == "train_step" and isinstance(owner, keras.Model):
            return weakref.ref(owner)
        frame = frame.f_back
    return None


def _is_mode(connectivity, mode):
    return isinstance(connectivity, str) and connectivity == mode
