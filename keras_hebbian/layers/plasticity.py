"""Differentiable plasticity: `PlasticRNNCell` and `PlasticDense`.

Miconi, Clune & Stanley (2018), "Differentiable plasticity"; Miconi,
Rawal, Clune & Stanley (2019), "Backpropamine". A plastic connection has a
fixed weight `W_ij`, trained by backprop, and a Hebbian trace `Hebb_ij`
that changes while the network runs; the connection's effective weight is
`W_ij + alpha_ij Hebb_ij`, where the plasticity coefficients `alpha` are
trained by backprop too, as is the rate `eta` at which the trace changes.
The trace is part of the forward pass: it starts at zero for every sequence
and gradients flow through it, so one ordinary `fit(x, y)` learns how much
each connection should change within a sequence.

The trace of a connection from `pre` to `post`, after each step:

- `"hebb"` (decaying Hebb): `Hebb <- Hebb + eta (pre^T post - Hebb)`,
  i.e. `(1 - eta) Hebb + eta pre^T post`.
- `"oja"`: `Hebb_ij <- Hebb_ij + eta post_j (pre_i - post_j Hebb_ij)`,
  which keeps the trace bounded without decay.

With `neuromodulation=True` the rate is not a learned constant but a learned
output of the layer, `eta(t) = tanh(post(t) . v + c)` per sample and step
(Backpropamine's simple neuromodulation): the network decides when, and with
which sign, its connections change.
"""

import keras
from keras import ops

from keras_hebbian.validation import check_choice, check_int, check_non_negative
from keras_hebbian.validation import check_known_last_axis, check_positive

TRACE_RULES = ("hebb", "oja")


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return value


def _seeded(initializer, seed):
    """`initializer` (any form `keras.initializers.get` takes), seeded by `seed` when given."""
    initializer = keras.initializers.get(initializer)
    if seed is not None and "seed" in initializer.get_config():
        config = dict(initializer.get_config(), seed=seed)
        return initializer.__class__.from_config(config)
    return initializer


def default_alpha_initializer():
    """The initializer of `alpha` when none is given: normal, standard deviation 0.01.

    Miconi et al. (2018) start `W` and `alpha` at `0.01 * randn`.
    """
    return keras.initializers.RandomNormal(stddev=0.01)


class _Plasticity(keras.layers.Layer):
    """What both plastic layers share: `alpha`, the rate, and the trace's update."""

    def __init__(self, units, rule, activation, use_bias, eta, neuromodulation, trace_clip,
                 kernel_initializer, alpha_initializer, bias_initializer, seed, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int("units", units, minimum=1)
        self.rule = check_choice("rule", rule, TRACE_RULES)
        self.activation = keras.activations.get(activation)
        self.use_bias = _check_bool("use_bias", use_bias)
        self.initial_eta = check_non_negative("eta", eta)
        self.neuromodulation = _check_bool("neuromodulation", neuromodulation)
        self.trace_clip = None if trace_clip is None else check_positive("trace_clip", trace_clip)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.alpha_initializer = keras.initializers.get(
            default_alpha_initializer() if alpha_initializer is None else alpha_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _initializer(self, initializer, offset):
        """`initializer` seeded by `seed + offset`, so each weight gets its own draw."""
        return _seeded(initializer, None if self.seed is None else self.seed + offset)

    def build_plasticity(self, pre, post):
        """Create `alpha` `(pre, post)`, the rate (`eta`, or the modulator's weights) and the bias."""
        self.alpha = self.add_weight(name="alpha", shape=(pre, post),
                                     initializer=self._initializer(self.alpha_initializer, 2))
        if self.neuromodulation:
            self.eta = None
            self.modulation_kernel = self.add_weight(
                name="modulation_kernel", shape=(post, 1),
                initializer=self._initializer(self.kernel_initializer, 3))
            self.modulation_bias = self.add_weight(name="modulation_bias", shape=(1,),
                                                   initializer="zeros")
        else:
            self.eta = self.add_weight(
                name="eta", shape=(), initializer=keras.initializers.Constant(self.initial_eta))
            self.modulation_kernel = self.modulation_bias = None
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=self.bias_initializer)

    def plastic_response(self, pre, trace):
        """`pre @ (alpha * Hebb)` per sample: `(batch, pre)`, `(batch, pre, post)` -> `(batch, post)`."""
        plastic = ops.expand_dims(self.alpha, 0) * trace
        return ops.squeeze(ops.matmul(ops.expand_dims(pre, 1), plastic), 1)

    def update_trace(self, trace, pre, post):
        """The trace after one step, from `pre` `(batch, pre)` to `post` `(batch, post)`."""
        if self.neuromodulation:
            rate = ops.tanh(ops.matmul(post, self.modulation_kernel) + self.modulation_bias)
            rate = ops.expand_dims(rate, -1)  # (batch, 1, 1)
        else:
            rate = self.eta
        pre_column = ops.expand_dims(pre, 2)
        post_row = ops.expand_dims(post, 1)
        if self.rule == "hebb":
            change = pre_column * post_row - trace
        else:
            change = post_row * (pre_column - post_row * trace)
        trace = trace + rate * change
        if self.trace_clip is not None:
            trace = ops.clip(trace, -self.trace_clip, self.trace_clip)
        return trace

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "rule": self.rule,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "eta": self.initial_eta,
                "neuromodulation": self.neuromodulation,
                "trace_clip": self.trace_clip,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hebbian")
class PlasticRNNCell(_Plasticity):
    """A recurrent cell with differentiable Hebbian plasticity, for `keras.layers.RNN`.

    Miconi et al. (2018, 2019). At each step, with inputs `x_t` and the
    previous output `h_{t-1}`:

        h_t  = activation(x_t U + b + h_{t-1} (W + alpha * Hebb))
        Hebb <- Hebb + eta (h_{t-1}^T h_t - Hebb)              # rule="hebb"
        Hebb <- Hebb + eta h_t * (h_{t-1}^T - h_t * Hebb)      # rule="oja"

    `U` (`kernel`), `W` (`recurrent_kernel`), the plasticity coefficients
    `alpha` (one per connection, same shape as `W`), `eta` and `b` are
    ordinary trainable weights, learned by backprop through the whole
    sequence. The Hebbian trace `Hebb` `(units, units)` is not a weight: it
    is the second part of the cell's state, `(batch, units * units)`,
    flattened, so it starts at zero for every sequence (unless the RNN is
    `stateful`) and the same sequence always gives the same outputs,
    whatever the cell saw before. `rnn(x, return_state=True)` returns it.

    With `neuromodulation=True`, `eta` is replaced by a learned output of
    the cell, `eta(t) = tanh(h_t v + c)` per sample (`modulation_kernel`
    `v`, `modulation_bias` `c`; Backpropamine's simple neuromodulation): the
    network sets its own plasticity rate, and its sign, at every step.

    Self-connections: `W`, `alpha` and `Hebb` are full `(units, units)`
    matrices, diagonal included, as in Miconi et al.: a unit's own previous
    output reaches it through a fixed weight and a plastic one. Nothing
    constrains the diagonal (unlike `HopfieldMemory`, whose zero diagonal is
    what makes its energy decrease).

    Args:
        units: int > 0, the number of units (outputs).
        rule: `"hebb"` (default, the decaying Hebbian trace) or `"oja"`.
        activation: activation of the units. Defaults to `"tanh"`, which
            keeps a `"hebb"` trace within [-1, 1] while `0 <= eta <= 1`.
        use_input_kernel: bool. `True` (default): the inputs reach the units
            through a trainable kernel `U` `(features, units)`. `False`: the
            inputs are added to the units directly (as in Miconi et al.'s
            pattern completion, one input per unit), so they must have
            `units` features.
        use_bias: bool, add a trainable bias `b`. Defaults to `True`.
        eta: float >= 0, the initial value of the learned plasticity rate
            (without neuromodulation). Defaults to `0.01`. It is trained
            freely; a rate outside [0, 1] makes the `"hebb"` trace grow,
            which `trace_clip` bounds.
        neuromodulation: bool, let a learned output of the cell set the rate
            at every step (see above). Defaults to `False`. Its rate may be
            negative, so set `trace_clip` (Backpropamine clips the trace).
        trace_clip: float > 0 or `None`: clip the trace to
            `[-trace_clip, trace_clip]` after every step. Defaults to `None`.
        kernel_initializer: initializer of `U` (and of the modulator's
            kernel). Defaults to `"glorot_uniform"`.
        recurrent_initializer: initializer of `W`. Defaults to
            `"orthogonal"`.
        alpha_initializer: initializer of `alpha`; `None` draws it from a
            normal distribution of standard deviation 0.01.
        bias_initializer: initializer of `b`. Defaults to `"zeros"`.
        seed: int or `None`: seeds every initializer (each weight with its
            own offset), so the same seed gives the same weights.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, features)`, the inputs of one step.
        states: `[h, trace]`: the previous output `(batch, units)` and the
            flattened trace `(batch, units * units)`.
        training: unused (the trace changes in every call, as an RNN's
            state does).

    Example:

    ```python
    import keras
    from keras_hebbian.layers import PlasticRNNCell

    model = keras.Sequential([
        keras.Input((None, 16)),                       # (batch, time, features)
        keras.layers.RNN(PlasticRNNCell(32, rule="oja", seed=0)),
        keras.layers.Dense(4),
    ])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y)     # W, alpha, eta, U and b learn by backprop
    ```
    """

    def __init__(
        self,
        units,
        rule="hebb",
        activation="tanh",
        use_input_kernel=True,
        use_bias=True,
        eta=0.01,
        neuromodulation=False,
        trace_clip=None,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        alpha_initializer=None,
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(units, rule, activation, use_bias, eta, neuromodulation, trace_clip,
                         kernel_initializer, alpha_initializer, bias_initializer, seed, **kwargs)
        self.use_input_kernel = _check_bool("use_input_kernel", use_input_kernel)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.state_size = [self.units, self.units * self.units]
        self.output_size = self.units

    def build(self, input_shape):
        features = check_known_last_axis("PlasticRNNCell", input_shape)
        self.kernel = None
        if self.use_input_kernel:
            self.kernel = self.add_weight(name="kernel", shape=(features, self.units),
                                          initializer=self._initializer(self.kernel_initializer, 0))
        elif features != self.units:
            raise ValueError(
                f"With `use_input_kernel`=False the inputs are added to the units, so they "
                f"must have `units`={self.units} features. Received input_shape={input_shape}"
            )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, self.units),
            initializer=self._initializer(self.recurrent_initializer, 1))
        self.build_plasticity(self.units, self.units)
        self.built = True

    def get_initial_state(self, batch_size=None):
        """Zeros: no output yet and an empty trace."""
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype),
                ops.zeros((batch_size, self.units * self.units), dtype=self.compute_dtype)]

    def call(self, inputs, states, training=None):
        previous, trace = states[0], states[1]
        trace = ops.reshape(trace, (-1, self.units, self.units))
        drive = ops.matmul(inputs, self.kernel) if self.kernel is not None else inputs
        if self.bias is not None:
            drive = drive + self.bias
        recurrent = ops.matmul(previous, self.recurrent_kernel) + self.plastic_response(
            previous, trace)
        outputs = self.activation(drive + recurrent)
        trace = self.update_trace(trace, previous, outputs)
        return outputs, [outputs, ops.reshape(trace, (-1, self.units * self.units))]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "use_input_kernel": self.use_input_kernel,
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hebbian")
class PlasticDenseCell(_Plasticity):
    """One step of `PlasticDense`: a plastic connection from the inputs to the units.

    `y_t = activation(x_t (W + alpha * Hebb) + b)`, then the trace `Hebb`
    `(features, units)` is updated from `(x_t, y_t)`. Its state is the
    flattened trace, `(batch, features * units)`. Arguments as
    `PlasticDense`.
    """

    def __init__(self, units, rule="hebb", activation=None, use_bias=True, eta=0.01,
                 neuromodulation=False, trace_clip=None, kernel_initializer="glorot_uniform",
                 alpha_initializer=None, bias_initializer="zeros", seed=None, **kwargs):
        super().__init__(units, rule, activation, use_bias, eta, neuromodulation, trace_clip,
                         kernel_initializer, alpha_initializer, bias_initializer, seed, **kwargs)
        self.features = None
        self.output_size = self.units

    @property
    def state_size(self):
        # The trace's size depends on the inputs; until the cell is built it
        # is unknown (0), and `PlasticDense.build` reads it again.
        return [0 if self.features is None else self.features * self.units]

    def build(self, input_shape):
        # the layer a user builds is PlasticDense, which builds this cell
        self.features = check_known_last_axis("PlasticDense", input_shape)
        self.kernel = self.add_weight(name="kernel", shape=(self.features, self.units),
                                      initializer=self._initializer(self.kernel_initializer, 0))
        self.build_plasticity(self.features, self.units)
        self.built = True

    def get_initial_state(self, batch_size=None):
        """An empty trace."""
        return [ops.zeros((batch_size, self.features * self.units), dtype=self.compute_dtype)]

    def call(self, inputs, states, training=None):
        trace = ops.reshape(states[0], (-1, self.features, self.units))
        drive = ops.matmul(inputs, self.kernel) + self.plastic_response(inputs, trace)
        if self.bias is not None:
            drive = drive + self.bias
        outputs = self.activation(drive)
        trace = self.update_trace(trace, inputs, outputs)
        return outputs, [ops.reshape(trace, (-1, self.features * self.units))]


@keras.saving.register_keras_serializable(package="keras_hebbian")
class PlasticDense(keras.layers.RNN):
    """A dense layer with differentiable Hebbian plasticity along a sequence.

    The feed-forward counterpart of `PlasticRNNCell`: the same plastic
    connection (fixed weight `W`, plasticity coefficient `alpha`, rate
    `eta`), from the inputs to the units. For inputs `(batch, time,
    features)`, at each step `t`:

        y_t  = activation(x_t (W + alpha * Hebb) + b)
        Hebb <- Hebb + eta (x_t^T y_t - Hebb)                  # rule="hebb"
        Hebb <- Hebb + eta y_t * (x_t^T - y_t * Hebb)          # rule="oja"

    The trace `Hebb` `(features, units)` is per sample; it starts at zero at
    the beginning of every sequence (an episode) and is updated after each
    step, so step `t` responds through the associations formed by steps
    `0 .. t-1`; an input seen for the first time meets the fixed weights
    alone. `W` (`kernel`), `alpha`, `eta` and `b` are trained by backprop
    through the sequence, like any Keras weight. Like `keras.layers.SimpleRNN`,
    it is a `keras.layers.RNN` over its cell (`PlasticDenseCell`), so the
    sequence may have any length and `return_state=True` returns the final
    trace, flattened.

    Args:
        units: int > 0, the number of units (outputs).
        rule: `"hebb"` (default, the decaying Hebbian trace) or `"oja"`.
        activation: activation of the units. Defaults to `None` (linear).
        use_bias: bool, add a trainable bias. Defaults to `True`.
        eta: float >= 0, the initial value of the learned plasticity rate
            (without neuromodulation). Defaults to `0.01`.
        neuromodulation: bool: the rate is a learned output of the layer at
            every step, `eta(t) = tanh(y_t v + c)` per sample. Defaults to
            `False`; set `trace_clip` with it.
        trace_clip: float > 0 or `None`: clip the trace to
            `[-trace_clip, trace_clip]` after every step. Defaults to `None`.
        kernel_initializer: initializer of `W` (and of the modulator's
            kernel). Defaults to `"glorot_uniform"`.
        alpha_initializer: initializer of `alpha`; `None` draws it from a
            normal distribution of standard deviation 0.01.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        seed: int or `None`: seeds every initializer, so the same seed gives
            the same weights.
        return_sequences: bool: return the outputs of every step
            `(batch, time, units)` (default) or of the last `(batch, units)`.
        **kwargs: `keras.layers.RNN` arguments (`return_state`,
            `go_backwards`, `stateful`, `unroll`) and base layer arguments
            (`name`, `dtype`, ...).

    Call arguments:
        sequences: `(batch, time, features)`.
        initial_state: optional list holding a trace `(batch, features *
            units)` to start from instead of zeros.
        mask: optional boolean `(batch, time)`: masked steps leave the trace
            and the output unchanged.
        training: passed to the cell (unused).

    Example:

    ```python
    import keras
    from keras_hebbian.layers import PlasticDense

    model = keras.Sequential([
        keras.Input((20, 8)),                          # episodes of 20 steps
        PlasticDense(8, activation="tanh", seed=0),    # (batch, 20, 8)
    ])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y)                                    # y: (batch, 20, 8)
    ```
    """

    def __init__(
        self,
        units,
        rule="hebb",
        activation=None,
        use_bias=True,
        eta=0.01,
        neuromodulation=False,
        trace_clip=None,
        kernel_initializer="glorot_uniform",
        alpha_initializer=None,
        bias_initializer="zeros",
        seed=None,
        return_sequences=True,
        **kwargs,
    ):
        cell = PlasticDenseCell(
            units, rule=rule, activation=activation, use_bias=use_bias, eta=eta,
            neuromodulation=neuromodulation, trace_clip=trace_clip,
            kernel_initializer=kernel_initializer, alpha_initializer=alpha_initializer,
            bias_initializer=bias_initializer, seed=seed, dtype=kwargs.get("dtype"),
            name="plastic_dense_cell",
        )
        super().__init__(cell, return_sequences=_check_bool("return_sequences", return_sequences),
                         **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)
        self.state_size = list(self.cell.state_size)

    @property
    def units(self):
        return self.cell.units

    @property
    def rule(self):
        return self.cell.rule

    @property
    def activation(self):
        return self.cell.activation

    @property
    def use_bias(self):
        return self.cell.use_bias

    @property
    def neuromodulation(self):
        return self.cell.neuromodulation

    @property
    def trace_clip(self):
        return self.cell.trace_clip

    @property
    def seed(self):
        return self.cell.seed

    @property
    def kernel(self):
        """`W`, the fixed weights `(features, units)`."""
        return self.cell.kernel

    @property
    def alpha(self):
        """The plasticity coefficients `(features, units)`."""
        return self.cell.alpha

    @property
    def eta(self):
        """The learned plasticity rate (`None` with neuromodulation)."""
        return self.cell.eta

    @property
    def bias(self):
        return self.cell.bias

    def get_config(self):
        config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            config.pop(key, None)
        base = super().get_config()
        del base["cell"]
        return {**base, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

