"""The TensorFlow backend: graphs with and without XLA, its own weight-gradient kernel.

Keras compiles a TensorFlow training step with XLA where `compile(jit_compile=True)`
asks for it, by default on a GPU, and `keras_hebbian.models` by default on a
CPU too (`default_jit_compile`). In a step that XLA does not compile (Keras'
default on a CPU), each Hebbian layer's weight update is compiled by XLA on its
own (`compiled_update`). A few choices depend on whether XLA compiles the code
being traced: XLA runs no host callback, so a refused update is recorded in a
variable instead; competitive rules rank by groups instead of XLA's `top_k`,
which sorts each row; columns are updated alone only under XLA, where a graph
without it is faster with the dense update. With several steps per call under
XLA, the steps run as one `tf.while_loop` in one XLA program
(`fused_train_function`), not Keras' loop of separately compiled steps.
"""

import tensorflow as tf
from tensorflow.python.framework.config import is_op_determinism_enabled
from tensorflow.python.ops import control_flow_util

from keras_hebbian.backend.common import (  # noqa: F401
    AUTOMATIC_STEPS,
    STACKED_BYTES,
    assign_columns,
    execution_parts,
    grouped_top_k_indices,
    learning_call,
    pad,
    report_now,
    segment_sum,
    snapshot,
    softmax,
    store_by_units,
    take_columns,
)
from keras_hebbian.backend.common import top_k_indices as _top_k_indices


def compiled_by_xla():
    """Whether the function being traced now is compiled by XLA (`tf.function(jit_compile=True)`)."""
    if tf.executing_eagerly():
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def column_updates():
    """Under XLA only: in a graph without it, gathering and scattering columns cost more
    than the dense update (one Krotov-Hopfield MNIST epoch: 7-21 s against 6.3-7.7 s).

    `column_updates_pay` also needs the batch size when the step is traced: `fit()` on
    arrays traces it unknown, so there the dense update runs, fused by XLA.
    """
    return compiled_by_xla()


def top_k_indices(values, k):
    """`tf.math.top_k` in a graph; under XLA, which sorts each row for it, the grouped ranking."""
    if compiled_by_xla():
        return grouped_top_k_indices(values, k)
    return _top_k_indices(values, k)


def automatic_steps_per_execution(model):
    """`AUTOMATIC_STEPS`, run as one XLA program (`fused_train_function`) or, without
    XLA, by Keras' own loop over the steps in one graph; 1 for an eager model."""
    return 1 if model.run_eagerly else AUTOMATIC_STEPS


def default_jit_compile(model, run_eagerly):
    """XLA (`True`) wherever Keras allows it, a CPU included; else Keras' own `"auto"`.

    Keras' `"auto"` leaves XLA out on a machine without a GPU, where then only
    the layers' updates are compiled by XLA (`compiled_update`); the whole
    step under XLA was faster still in most runs of
    `benchmarks/krotov_speed.py` (see the benchmarks' documentation). As
    Keras does, no XLA for an eager model, under a `tf.distribute` strategy,
    with op determinism enabled, or with a layer that does not support it.
    """
    if run_eagerly or _keras_leaves_xla_out():
        return "auto"
    layers, pending = [], [model]
    while pending:
        layer = pending.pop()
        layers.append(layer)
        pending.extend(getattr(layer, "layers", []))
    if not all(getattr(layer, "supports_jit", True) for layer in layers):
        return "auto"
    return True


def compiled_update(update):
    """`update` compiled by XLA on its own inside a graph that XLA does not compile.

    Keras runs a TensorFlow step on a CPU as a graph without XLA. There every
    pass of a dense update over the kernel is an op of its own (a
    Krotov-Hopfield update: about a dozen passes over the weights, each
    reading and writing all of them); XLA fuses them. `update` returns the
    checks that the layer then reports outside XLA (`report_unless`), as in
    any graph. As it is eagerly, under XLA already, under a `tf.distribute`
    strategy and with op determinism enabled (where Keras leaves XLA out too).
    """
    if tf.executing_eagerly() or compiled_by_xla() or _keras_leaves_xla_out():
        return update
    return tf.function(update, jit_compile=True, autograph=False)


def _keras_leaves_xla_out():
    """Keras' own conditions against XLA: a `tf.distribute` strategy, op determinism."""
    return tf.distribute.has_strategy() or is_op_determinism_enabled()


def is_traced(tensor):
    return not tf.executing_eagerly()


def fused_train_function(model, layers=()):
    """`steps_per_execution` training steps as one XLA program, for `model.fit()` with XLA.

    Keras' TensorFlow trainer runs the steps of one execution in a
    `tf.while_loop` of a graph that XLA does not compile, calling each step
    compiled by XLA on its own: every step hands the variables to XLA and
    takes them back (writing 200 columns of a 784 x 2000 variable took 0.73
    ms a step so, against 0.19 ms inside one XLA loop, one-off). Here the
    execution's batches are taken from the iterator, stacked, and run by one
    `tf.while_loop` inside one XLA program: the same steps, in the same
    order. One program serves every execution of a batch shape: a shorter
    one (the end of an epoch) is padded with copies of its last batch, which
    the loop never reaches; at most `STACKED_BYTES` of batches are stacked at
    once (larger ones run in parts), and batches that cannot be stacked
    (ragged or sparse) run step by step.

    A refused learning call is recorded in the layer's flag as in any XLA
    step (`report_unless`), and a guarded layer learns nothing after it in
    the loop (`refusal_pending`), so that `NonFiniteGuard` stops `fit()` with
    the weights of that step, as with one step per call.

    Returns `None` (Keras' own function stays) for `steps_per_execution=1`,
    without XLA (`jit_compile=False`), for an eager model, or under a
    `tf.distribute` strategy.
    """
    steps = model.steps_per_execution
    if (steps <= 1 or model.run_eagerly or not model.jit_compile or _keras_leaves_xla_out()
            or model.distribute_strategy is not tf.distribute.get_strategy()):
        return None

    @tf.autograph.experimental.do_not_convert
    def train_step(data):
        return model.train_step(data)

    one_step = tf.function(train_step, jit_compile=True, reduce_retracing=True)
    loops = {}

    def loop(stacked):
        """The XLA program that runs the steps of `stacked` batches (one per shape)."""
        specs = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape[1:], t.dtype), stacked)
        key = str(specs)
        if key not in loops:
            # the structure and shapes of a step's logs, from a trace (nothing runs)
            traced = tf.function(train_step).get_concrete_function(specs).structured_outputs
            no_logs = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), traced)

            @tf.autograph.experimental.do_not_convert
            def run(stacked, count):
                def body(index, logs):
                    return index + 1, train_step(tf.nest.map_structure(lambda t: t[index],
                                                                       stacked))

                logs = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), no_logs)
                return tf.while_loop(lambda index, _: index < count, body,
                                     (tf.constant(0), logs))[1]

            loops[key] = tf.function(run, jit_compile=True)
        return loops[key]

    def train_function(iterator):
        if not isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            batches = [data for _, data in zip(range(steps), iterator)]
        else:
            batches = []
            while len(batches) < steps:
                optional = iterator.get_next_as_optional()
                if not optional.has_value():
                    break
                batches.append(optional.get_value())
        if not batches:
            raise StopIteration
        if not all(isinstance(leaf, tf.Tensor) for leaf in tf.nest.flatten(batches[0])):
            for data in batches:  # ragged or sparse batches: step by step
                logs = one_step(data)
            return logs
        for group, padded in execution_parts(batches, steps, STACKED_BYTES):
            if len(padded) == 1:
                logs = one_step(group[0])
                continue
            stacked = tf.nest.map_structure(lambda *t: tf.stack(t), *padded)
            logs = _run_traced_as_loop(loop(stacked), stacked, tf.constant(len(group)))
        return logs

    return train_function


def _run_traced_as_loop(function, *args):
    """`function(*args)`, traced (where it traces) as the loop of `fused_train_function`."""
    global _tracing_loop
    _tracing_loop = True
    try:
        return function(*args)
    finally:
        _tracing_loop = False


def report_unless(condition, report):
    """Eagerly `report(eager=True)`; in a graph `report(eager=False)` by `tf.py_function`;
    under XLA, which runs no host callback, `report.code` into `report.flag` unless a code
    is there already (the first refusal wins). In a graph watched by a `NonFiniteGuard`
    the flag records it too, so that `refusal_pending` halts the steps after it."""
    if not is_traced(condition):
        return report_now(condition, report)
    xla = compiled_by_xla()
    if xla or report.layer.nonfinite_guarded:
        flag = report.flag
        keep = tf.logical_or(condition, tf.not_equal(flag, 0))
        flag.assign(tf.where(keep, flag, tf.constant(report.code, tf.int32)))
    if xla:
        return

    def host():
        report(eager=False)
        return True

    tf.cond(condition, lambda: tf.constant(True), lambda: tf.py_function(host, [], tf.bool))


def new_report_flag():
    """An int32 scalar variable, 0 until a step compiled by XLA records a refused update.

    A plain `tf.Variable`, not a Keras one: it is not among the layer's
    weights and is not saved. Every replica of a distributed step computes the
    same refusal (from the gathered batch), so the first replica's counts.
    """
    with tf.init_scope():
        return tf.Variable(0, dtype=tf.int32, trainable=False, name="nonfinite_report",
                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def refusal_pending(flag):
    """In a compiled step: whether `flag` holds a refusal not read yet (`None` eagerly).

    A guarded layer learns nothing while one is pending, so that the steps
    after a refused batch in one execution (`steps_per_execution` above 1:
    `fused_train_function`'s loop, or Keras' in a graph) change nothing
    before `NonFiniteGuard` stops `fit()`, as with one step per call.
    """
    if tf.executing_eagerly():
        return None
    return tf.not_equal(flag, 0)


def read_report_flag(flag):
    """The code recorded in `flag` (0: none), which is then cleared."""
    code = int(flag.numpy())
    if code:
        flag.assign(0)
    return code


def _same_axis_stride_and_dilation(strides, dilation_rate):
    return any(s > 1 and d > 1 for s, d in zip(strides, dilation_rate))


def conv_methods(strides, dilation_rate):
    """`"native"` unless an axis has a stride and a dilation above 1; `"shifts"`; `"conv"`
    unless some stride and some dilation are above 1 (TensorFlow's convolution takes no
    stride above 1 together with a dilation above 1)."""
    methods = ["shifts"]
    if not _same_axis_stride_and_dilation(strides, dilation_rate):
        methods.insert(0, "native")
    if max(strides) == 1 or max(dilation_rate) == 1:
        methods.append("conv")
    return tuple(methods)


#: True while `fused_train_function` traces its loop of steps.
_tracing_loop = False


def default_conv_method(strides, dilation_rate):
    """`"native"`, dilated or not; `"shifts"` where native cannot run the geometry.

    Also `"shifts"` on a CPU inside the loop of `fused_train_function`: there
    XLA ran the native kernel (`Conv2DBackpropFilter`) 20-40x slower than in
    a step of its own (the three SoftHebb blocks at an eighth of their width,
    batch 64: 13-21 s an epoch against 0.5-0.6 s), as it runs JAX's
    weight-gradient convolution inside a `lax.scan`.
    """
    if _tracing_loop and not tf.config.list_logical_devices("GPU"):
        return "shifts"
    return "native" if "native" in conv_methods(strides, dilation_rate) else "shifts"


def native_conv_correlation(inputs, signal, kernel_size, strides, dilation_rate):
    """TensorFlow's `Conv2DBackpropFilter`, never with a dilation.

    The plain (Eigen) CPU build has no dilated `Conv2DBackpropFilter`: wherever
    oneDNN is off (CPUs without AVX-512, or `TF_ENABLE_ONEDNN_OPTS=0`) it
    raises "Current CPU implementations do not yet support dilation rates
    larger than 1". A dilated gradient is therefore split into its phases
    first (`_split_dilation_phases`).
    """
    channels, units = inputs.shape[-1], signal.shape[-1]
    if max(dilation_rate) > 1:
        inputs, signal = _split_dilation_phases(inputs, signal, kernel_size, dilation_rate)
    return tf.raw_ops.Conv2DBackpropFilter(
        input=inputs,
        filter_sizes=[kernel_size[0], kernel_size[1], channels, units],
        out_backprop=signal,
        strides=[1, strides[0], strides[1], 1],
        padding="VALID",
        dilations=[1, 1, 1, 1],
        data_format="NHWC",
    )


def _split_dilation_phases(inputs, signal, kernel_size, dilation_rate):
    """The inputs and signal of an undilated weight-gradient equal to the dilated one.

    Along an axis of dilation `d` (and stride 1), `sum_i x[i + d*p] y[i]` over
    output positions `i = d*a + r` is `sum_r sum_a x_r[a + p] y_r[a]` with
    `x_r[m] = x[d*m + r]` and `y_r[a] = y[d*a + r]`: the undilated gradient of
    the `d` phases, stacked as images by `space_to_batch_nd` (phases first,
    the same order for both), as `tf.nn.atrous_conv2d` runs a dilated
    convolution. The signal is zero-padded to a multiple of `d` positions, and
    the inputs to the `d * (positions / d + kernel - 1)` rows those read; the
    padded signal is zero, so adds nothing.

    Args:
        inputs: `(batch, height, width, channels)`.
        signal: `(batch, out_height, out_width, units)`, a stride-1 `"valid"`
            output on every dilated axis.
        kernel_size: pair of ints.
        dilation_rate: pair of ints.

    Returns:
        `(inputs, signal)`, each with `dilation_h * dilation_w` times the
        batch and with the dilated axes divided by their dilation.
    """
    input_pads, signal_pads = [], []
    for axis, (k, d) in enumerate(zip(kernel_size, dilation_rate), start=1):
        size, out = inputs.shape[axis], signal.shape[axis]
        if d == 1:
            input_pads.append([0, 0])
            signal_pads.append([0, 0])
            continue
        phases_out = -(-out // d)
        needed = (phases_out + k - 1) * d
        if size > needed:
            inputs = inputs[:, :needed] if axis == 1 else inputs[:, :, :needed]
            size = needed
        input_pads.append([0, needed - size])
        signal_pads.append([0, phases_out * d - out])
    block = list(dilation_rate)
    return (tf.space_to_batch_nd(inputs, block, input_pads),
            tf.space_to_batch_nd(signal, block, signal_pads))
