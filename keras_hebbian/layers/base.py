"""`HebbianLayer`: what every layer with a plastic kernel shares.

A plastic matrix is a non-trainable float32 variable, assigned inside
`call(..., training=True)` as `BatchNormalization` assigns its moving
statistics; Keras' `fit()` collects such assigns on every backend.

One learning call, in order:

1. `respond(inputs, learning)` (the subclass): the outputs, and one `Synapses`
   per plastic matrix: the matrix, its pre-synaptic view, its responses.
2. The inputs and every pre- and post-synaptic signal are gathered from all
   replicas (`keras_hebbian.distribution`), so each computes the global update.
3. Each matrix's rule proposes new weights and state (`propose`): a whole
   matrix, or only the columns of the few units a sparse rule moves.
4. All proposals are applied, or none: only if the inputs and every proposed
   value are finite. A refused call is reported (`on_nonfinite`).
5. `iterations`, the count of applied updates, indexes learning-rate schedules.
"""

import keras
import numpy as np
from keras import ops

from keras_hebbian import backend
from keras_hebbian import rules as rules_module
from keras_hebbian.distribution import all_gather_many
from keras_hebbian.layers.plastic import ColumnProposal, Plastic, Proposal, Synapses
from keras_hebbian.layers.plastic import Refusal, all_finite, checked_state, connectivity_mask
from keras_hebbian.validation import check_choice, check_fraction, check_learning_rate
from keras_hebbian.validation import serialize_learning_rate

CONNECTIVITY_MODES = ("all", "random", "zero")
NONFINITE_MODES = ("raise", "skip")


class HebbianLayer(keras.layers.Layer):
    """Base class of the layers whose weights learn by a local rule.

    It owns what every such layer shares: the rule and its state variables,
    the learning rate (a float or a Keras `LearningRateSchedule`, indexed by
    `iterations`, the number of updates applied), the connectivity mask, the
    kernel constraint, the gating of plasticity (`training=True` and
    `trainable`), the snapshot of the kernel that the forward pass reads, and
    the assign. A subclass says how it computes its output and which
    `Synapses` its rules see, in `respond(inputs, learning)`.

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
            or Inf: `"raise"` (default) stops with a `FloatingPointError`
            naming the layer, `"skip"` leaves the batch out of learning (the
            outputs are still computed). Either way no weight changes. An
            update that would make a weight (or the rule's state) non-finite
            is never applied and always raises. Where the call runs eagerly
            (PyTorch) the error is raised at once; inside a compiled step
            (JAX, TensorFlow) the layer records it in `nonfinite_error` and
            `keras_hebbian.callbacks.NonFiniteGuard` (added by
            `keras_hebbian.models.Sequential` and `Model` to every `fit()`)
            stops `fit()` after that batch and raises it; without the guard,
            the layer warns. A TensorFlow step compiled by XLA (the default
            of `keras_hebbian.models`, or `compile(jit_compile=True)`)
            cannot call back to Python: it records the refusal in a variable
            that the guard reads after each batch (`poll_nonfinite`), and
            without the guard nothing warns.
        **kwargs: base layer arguments (`name`, `dtype`, ...).
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
        self.on_nonfinite = check_choice("on_nonfinite", on_nonfinite, NONFINITE_MODES)
        self.nonfinite_error = None
        self.nonfinite_guarded = False  # set while a NonFiniteGuard watches a fit()
        # Where a compiled step cannot call the host (TensorFlow's XLA), it
        # records a refused update here, as the 1-based index of its message.
        self._nonfinite_flag = backend.new_report_flag()
        self._nonfinite_messages = []
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.rule = rules_module.get(rule)
        self.learning_rate = check_learning_rate(learning_rate)
        if isinstance(connectivity, str):
            check_choice("connectivity", connectivity, CONNECTIVITY_MODES)
        else:
            connectivity = np.asarray(connectivity).astype(bool)
        self.connectivity = connectivity
        self.connectivity_prob = check_fraction("connectivity_prob", connectivity_prob)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        zero = isinstance(connectivity, str) and connectivity == "zero"
        self.kernel_initializer = self._seeded(
            keras.initializers.get("zeros" if zero else kernel_initializer)
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
        """Create the plastic kernel (`self.kernel`), its mask and the rule's state."""
        shape = tuple(int(d) for d in shape)
        mask = connectivity_mask(self.connectivity, self.connectivity_prob, shape, self.seed)
        self.kernel_plastic = self.add_plastic(
            name, shape, rule=self.rule, learning_rate=self.learning_rate,
            initializer=self.kernel_initializer, mask=mask, constraint=self.kernel_constraint,
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

    def _add_state(self, name, shape, initializer, dtype="float32", aggregation="mean"):
        return self.add_weight(name=name, shape=shape, initializer=initializer, trainable=False,
                               autocast=False, dtype=dtype, aggregation=aggregation)

    def add_plastic(self, name, shape, rule, learning_rate, initializer, mask=None,
                    constraint=None):
        """Create a matrix that learns by `rule`, with its mask and rule state.

        Returns a `Plastic` record. The first call also creates `iterations`,
        the number of updates applied so far (it indexes learning-rate
        schedules).
        """
        variable = self._add_state(name, shape, initializer)
        mask_variable = None
        if mask is not None:
            mask_variable = self._add_state(
                f"{name}_mask" if name != "kernel" else "connectivity_mask", shape,
                keras.initializers.Constant(mask), aggregation="only_first_replica",
            )
            variable.assign(ops.where(mask_variable.value > 0, variable.value, 0.0))
        effective = None
        if not rule.identity_kernel:
            effective = self._add_state(f"effective_{name}", shape, "zeros")
            effective.assign(rule.effective_kernel(variable.value))
        prefix = "rule" if name == "kernel" else f"{name}_rule"
        state = {
            key: self._add_state(f"{prefix}_{key}", tuple(state_shape), state_initializer)
            for key, (state_shape, state_initializer) in rule.state_spec(shape).items()
        }
        if getattr(self, "iterations", None) is None:
            self.iterations = self._add_state("iterations", (), "zeros", dtype="int32",
                                              aggregation="only_first_replica")
        # Unit by unit: the columns of a dense kernel that a sparse rule may
        # update alone (see `_updates_columns`), and a convolution's filters.
        if len(shape) > 2 or (rule.sparse_units_per_sample and constraint is None):
            for matrix in (variable, mask_variable, effective):
                if matrix is not None:
                    backend.store_by_units(matrix)
        plastic = Plastic(variable, mask_variable, rule, learning_rate, constraint, state,
                          effective)
        self._plastics = getattr(self, "_plastics", []) + [plastic]
        return plastic

    def refresh_effective_kernels(self):
        """Compute each kept effective kernel (`Plastic.effective`) again from its matrix.

        Learning, `set_weights` and loading keep them right; call this after
        assigning a kernel by hand (`layer.kernel.assign(...)`).
        """
        for plastic in getattr(self, "_plastics", []):
            if plastic.effective is not None:
                plastic.effective.assign(plastic.rule.effective_kernel(plastic.variable.value))

    # -- calling --------------------------------------------------------------

    def learns(self, training):
        """Whether a call learns: training, and the layer is trainable."""
        return bool(training) and self.trainable

    def read(self, plastic, learning, partner=None):
        """A plastic matrix's value for the forward pass, in the compute dtype.

        Args:
            plastic: the `Plastic` matrix.
            learning: bool, whether the call learns.
            partner: the tensor the value is multiplied with (the inputs),
                when known: a backend whose assigns are in place then copies
                the value only if that tensor needs a gradient.
        """
        value = plastic.variable.value
        if learning:
            value = backend.snapshot(value, partner)
        return ops.cast(value, self.compute_dtype)

    def read_effective(self, plastic, learning, partner=None):
        """`plastic.rule.effective_kernel` of the matrix, for the forward pass.

        A learning call reads the copy the layer keeps (`Plastic.effective`);
        any other call computes it from the matrix. Arguments as in `read`.
        """
        if learning and plastic.effective is not None:
            value = backend.snapshot(plastic.effective.value, partner)
            return ops.cast(value, self.compute_dtype)
        return plastic.rule.effective_kernel(self.read(plastic, learning, partner))

    def call(self, inputs, training=None):
        learning = self.learns(training)
        outputs, synapses = self.respond(inputs, learning)
        if learning:
            self.learn(inputs, synapses)
        # Keras' `fit()` and `evaluate()` on TensorFlow and PyTorch refuse a
        # model that has no loss. A zero tied to the output lets
        # `model.compile(); model.fit(x)` work for networks made only of
        # Hebbian layers, and adds nothing to the loss (nor to any gradient)
        # of a model compiled with one.
        self.add_loss(ops.cast(ops.sum(ops.ravel(outputs)[:1]), "float32") * 0.0)
        return outputs

    def respond(self, inputs, learning):
        """Compute the layer's outputs and what its rules learn from.

        Args:
            inputs: the layer's inputs.
            learning: bool, whether this call learns (read plastic matrices
                with `self.read(plastic, learning)`).

        Returns:
            `(outputs, synapses)`: the outputs of the call, and a list of
            `Synapses`, one per plastic matrix, applied in order.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `respond()`.")

    def learn(self, inputs, synapses):
        """Apply the rules' updates for one batch, all or none of them.

        Args:
            inputs: the layer's inputs in this call.
            synapses: the list of `Synapses` that `respond` returned.
        """
        backend.learning_call(self)
        gathered = all_gather_many(
            [ops.cast(inputs, "float32")]
            + [t for s in synapses for t in (s.pre.inputs, ops.cast(s.post, "float32"))]
        )

        def update(gathered):
            matrices = [
                Synapses(s.plastic, s.pre.with_inputs(gathered[1 + 2 * i]), gathered[2 + 2 * i])
                for i, s in enumerate(synapses)
            ]
            proposals = [self.propose(s) for s in matrices]
            finite_inputs = all_finite([gathered[0]])
            finite_result = all_finite([v for p in proposals for v in p.proposed()])
            accept = ops.logical_and(finite_inputs, finite_result)
            if self.nonfinite_guarded and self._nonfinite_flag is not None:
                # a refused batch earlier in this execution: nothing more until the guard
                pending = backend.refusal_pending(self._nonfinite_flag)
                if pending is not None:
                    accept = ops.logical_and(accept, ops.logical_not(pending))
            if backend.is_traced(accept):
                chosen = ops.cond(accept, lambda: [p.proposed() for p in proposals],
                                  lambda: [p.current() for p in proposals])
            else:
                # Eagerly (PyTorch) both checks are read now, in one wait for the
                # device, and the branch is taken in Python, as Keras' `cond` does there.
                checks = ops.convert_to_numpy(ops.stack([finite_inputs, finite_result]))
                finite_inputs, finite_result = bool(checks[0]), bool(checks[1])
                chosen = [p.proposed() if finite_inputs and finite_result else p.current()
                          for p in proposals]
            for proposal, values in zip(proposals, chosen):
                proposal.assign(values)
            self.iterations.assign_add(ops.cast(accept, "int32"))
            return finite_inputs, finite_result

        # TensorFlow compiles it by XLA where the step is not (a CPU's default).
        if self.supports_jit:
            update = backend.compiled_update(update)
        self._report_nonfinite(*update(gathered))

    def propose(self, synapses):
        """The rule's update of one plastic matrix, as a `Proposal` (nothing assigned)."""
        plastic, pre = synapses.plastic, synapses.pre
        post = ops.cast(ops.stop_gradient(synapses.post), "float32")
        weights = plastic.variable.value
        state = {key: var.value for key, var in plastic.state.items()}
        rule, rate = plastic.rule, plastic.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = ops.cast(rate(self.iterations.value), "float32")
        if self._updates_columns(plastic, pre):
            units, delta, new_state = rule.compute_column_update(pre, post, weights, state)
            old = backend.take_columns(weights, units)
            new = old + rate * delta
            if plastic.mask is not None:
                new = ops.where(backend.take_columns(plastic.mask.value, units) > 0, new, 0.0)
            return ColumnProposal(plastic, units, new, old, checked_state(rule, state, new_state))
        delta, new_state = rule.compute_update(pre, post, weights, state)
        new = weights + rate * delta
        if plastic.constraint is not None:
            new = plastic.constraint(new)
        if plastic.mask is not None:
            new = ops.where(plastic.mask.value > 0, new, 0.0)
        return Proposal(plastic, new, checked_state(rule, state, new_state))

    def _updates_columns(self, plastic, pre):
        """Whether a sparse rule's update pays to apply column by column, here."""
        per_sample = plastic.rule.sparse_units_per_sample
        if not per_sample or plastic.constraint is not None or len(plastic.variable.shape) != 2:
            return False
        samples = pre.inputs.shape[0]
        entries = None if samples is None else samples * per_sample
        return backend.column_updates_pay(entries, plastic.variable.shape[1])

    def nonfinite_code(self, message):
        """The code (1, 2, ...) a compiled step records for a refusal with `message`."""
        if message not in self._nonfinite_messages:
            self._nonfinite_messages.append(message)
        return self._nonfinite_messages.index(message) + 1

    def poll_nonfinite(self):
        """`nonfinite_error` once a refusal recorded by a compiled step is read, or `None`.

        Reads (and clears) the variable that a TensorFlow step compiled by XLA
        records a refusal in; elsewhere the step has set `nonfinite_error`
        already. The first refusal's message is kept. A layer that no step
        under XLA has traced has registered no message, and reads nothing
        (no wait for the device after each batch).
        """
        if self._nonfinite_flag is not None and self._nonfinite_messages:
            code = backend.read_report_flag(self._nonfinite_flag)
            if code and self.nonfinite_error is None:
                self.nonfinite_error = self._nonfinite_messages[code - 1]
        return self.nonfinite_error

    def _report_nonfinite(self, finite_inputs, finite_result):
        """Report a refused update, by `on_nonfinite` (see the class docstring)."""
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
        # A batch left out proposes no weights to check.
        if isinstance(finite_inputs, bool):  # read already, by an eager call
            result_ok = not finite_inputs or finite_result
        else:
            result_ok = ops.logical_or(ops.logical_not(finite_inputs), finite_result)
        checks = [(result_ok, result_message)]
        if self.on_nonfinite == "raise":
            checks.insert(0, (finite_inputs, input_message))
        for condition, message in checks:
            backend.report_unless(condition, Refusal(self, message))

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
