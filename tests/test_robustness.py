"""Bad input never corrupts learned weights; bad settings fail loudly."""

import keras
import numpy as np
import pytest

from keras_hebbian import models, rules
from keras_hebbian.callbacks import NonFiniteGuard
from keras_hebbian.layers import HebbianConv2D, HebbianDense, SimilarityMatching

BATCH = 8


def _dense(**kwargs):
    return HebbianDense(4, rule="oja", learning_rate=0.05, seed=1, name="plastic", **kwargs)


def _lateral(**kwargs):
    return HebbianDense(4, rule="oja", lateral="foldiak", learning_rate=0.05, seed=1,
                        name="plastic", **kwargs)


def _similarity(**kwargs):
    return SimilarityMatching(3, learning_rate=0.02, seed=1, name="plastic", **kwargs)


def _conv(**kwargs):
    return HebbianConv2D(3, 3, rule=rules.SoftHebb(), learning_rate=0.05, seed=1,
                         name="plastic", **kwargs)


def _competitive(**kwargs):
    # few winners among many units: the rule updates columns, not the kernel
    return HebbianDense(80, rule=rules.KrotovHopfield(k=2), learning_rate=0.05, seed=1,
                        kernel_initializer="random_normal", name="plastic", **kwargs)


MAKERS = {"dense": (_dense, (6,)), "lateral": (_lateral, (6,)),
          "similarity": (_similarity, (6,)), "conv": (_conv, (6, 6, 2)),
          "competitive": (_competitive, (6,))}


def _data(shape, batches=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batches * BATCH,) + shape).astype("float32")


def _model(make, shape, sequential=models.Sequential, jit="auto", **kwargs):
    keras.utils.clear_session()
    layer = make(**kwargs)
    model = sequential([keras.Input(shape), layer])
    model.compile(jit_compile=_jit_compile(jit))
    if jit == "xla":
        assert model.jit_compile is True  # Keras did not fall back to a graph without XLA
    return model, layer


# A TensorFlow step compiled by XLA (`jit_compile=True`) cannot call back to
# Python, so its layers record a refusal in a variable that the guard reads.
JIT = ["auto", "xla"]


def _jit_compile(jit):
    if jit == "auto":
        return "auto"
    if jit == "graph":  # TensorFlow's graph without XLA, where the layer warns by itself
        return False if keras.backend.backend() == "tensorflow" else "auto"
    if keras.backend.backend() != "tensorflow":
        pytest.skip("JAX compiles every step by XLA already; PyTorch's jit_compile is "
                    "torch.compile")
    return True


def _variables(layer):
    return [v.numpy().copy() for v in layer.non_trainable_variables]


def _fit(model, x, **kwargs):
    model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, **kwargs)


def _assert_same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_batch_raises_and_keeps_what_was_learned(kind, bad, jit):
    make, shape = MAKERS[kind]
    x = _data(shape)
    x_bad = x.copy()
    x_bad[2 * BATCH + 3].flat[5] = bad  # in the third batch

    # What the layer knows after the two good batches before the bad one.
    model, layer = _model(make, shape, jit=jit)
    _fit(model, x[: 2 * BATCH])
    expected = _variables(layer)

    model, layer = _model(make, shape, jit=jit)
    with pytest.raises(FloatingPointError, match="received a batch with NaN or Inf") as error:
        _fit(model, x_bad)
    assert "plastic" in str(error.value)
    assert "on_nonfinite='skip'" in str(error.value)
    after = _variables(layer)
    assert all(np.isfinite(v).all() for v in after)
    _assert_same(after, expected)


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_nonfinite_batch_is_skipped_on_request(kind, jit):
    make, shape = MAKERS[kind]
    x = _data(shape)
    x_bad = x.copy()
    x_bad[2 * BATCH: 3 * BATCH] = np.nan  # the whole third batch

    # The same training without the third batch.
    model, layer = _model(make, shape, jit=jit, on_nonfinite="skip")
    _fit(model, np.concatenate([x[: 2 * BATCH], x[3 * BATCH:]]))
    expected = _variables(layer)

    model, layer = _model(make, shape, jit=jit, on_nonfinite="skip")
    _fit(model, x_bad)
    np.testing.assert_array_equal(int(layer.iterations.numpy()), 3)
    _assert_same(_variables(layer), expected)


def test_direct_training_call_with_nan_raises_and_changes_nothing():
    layer = _dense()
    x = _data((6,), batches=1)
    layer(x)
    before = _variables(layer)
    x[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="received a batch with NaN or Inf"):
        layer(x, training=True)
    _assert_same(_variables(layer), before)


def test_inference_on_nan_input_neither_raises_nor_learns():
    model, layer = _model(_dense, (6,))
    x = _data((6,))
    _fit(model, x)
    before = _variables(layer)
    x[0, 0] = np.nan
    out = model.predict(x, batch_size=BATCH, verbose=0)
    assert np.isnan(out[0]).any() and np.isfinite(out[1:]).all()
    _assert_same(_variables(layer), before)


@pytest.mark.parametrize("jit", JIT)
def test_diverging_weights_stop_training_and_keep_the_last_finite_ones(jit):
    def make(**kwargs):
        # Plain Hebb grows without bound; this rate overflows float32 at the 2nd update.
        return HebbianDense(4, rule="hebb", learning_rate=1e30, seed=1, name="runaway")

    x = _data((6,), batches=3) + 1.0
    model, layer = _model(make, (6,), jit=jit)
    _fit(model, x[:BATCH])
    expected = _variables(layer)
    assert np.abs(expected[0]).max() > 1e20  # large but finite

    model, layer = _model(make, (6,), jit=jit)
    with pytest.raises(FloatingPointError, match="would make the weights of layer .runaway. non-finite"):
        _fit(model, x)
    _assert_same(_variables(layer), expected)


def test_on_nonfinite_is_validated_and_serialized():
    with pytest.raises(ValueError, match="`on_nonfinite` must be one of"):
        HebbianDense(3, on_nonfinite="ignore")
    for make in (_dense, _conv, _similarity):
        layer = make(on_nonfinite="skip")
        assert layer.get_config()["on_nonfinite"] == "skip"
        assert type(layer).from_config(layer.get_config()).on_nonfinite == "skip"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: HebbianDense(3, learning_rate=float("nan")), "learning_rate=nan"),
        (lambda: HebbianDense(3, learning_rate=-1e-3), "`learning_rate` must be a finite number >= 0"),
        (lambda: HebbianDense(3, connectivity_prob=-0.1), "connectivity_prob=-0.1"),
        (lambda: HebbianDense(3, connectivity_prob=float("nan")), "connectivity_prob=nan"),
        (lambda: HebbianDense(3, lateral="oja-ish"), "Unknown `rule`: 'oja-ish'"),
        (lambda: HebbianDense(3, lateral="foldiak", lateral_learning_rate=float("inf")),
         "lateral_learning_rate=inf"),
        (lambda: HebbianConv2D(3, 3, rule="krotov", learning_rate=float("-inf")),
         "learning_rate=-inf"),
        (lambda: HebbianConv2D(3, 3, connectivity_prob=2), "connectivity_prob=2"),
    ],
)
def test_bad_settings_raise_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "layer, shape, message",
    [
        (lambda: HebbianDense(9, rule=rules.KrotovHopfield(k=10)), (None, 5), "k=10"),
        (lambda: HebbianConv2D(3, 3, rule=rules.WinnerTakeAll(k=4)), (None, 8, 8, 1), "k=4"),
        (lambda: HebbianDense(3, connectivity=np.ones((4, 4), bool)), (None, 5),
         r"must have shape \(5, 3\)"),
        (lambda: HebbianConv2D(3, 3, connectivity=np.ones((3, 3, 2, 3), bool)),
         (None, 8, 8, 1), r"must have shape \(3, 3, 1, 3\)"),
    ],
)
def test_bad_settings_raise_at_build(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer().build(shape)


@pytest.mark.parametrize(
    "make, good, bad, message",
    [
        (_dense, (2, 6), (2, 7), "expected axis -1 of input shape to have value 6"),
        (_dense, (2, 6), (2,), "expected min_ndim=2"),
        (_conv, (2, 6, 6, 2), (2, 6, 6, 3), "expected axis -1 of input shape to have value 2"),
        (_conv, (2, 6, 6, 2), (2, 6, 12), "expected ndim=4"),
    ],
)
def test_wrong_input_after_build_raises_and_changes_nothing(make, good, bad, message):
    layer = make()
    layer(np.ones(good, "float32"))
    before = _variables(layer)
    with pytest.raises(ValueError, match=message):
        layer(np.ones(bad, "float32"), training=True)
    _assert_same(_variables(layer), before)


def _bad_third_batch(shape):
    x = _data(shape)
    x[2 * BATCH + 3].flat[5] = np.nan
    return x


def test_any_keras_model_stops_with_the_guard():
    model, layer = _model(_dense, (6,), jit="graph")
    _fit(model, _data((6,))[: 2 * BATCH])
    expected = _variables(layer)
    model, layer = _model(_dense, (6,), sequential=keras.Sequential, jit="graph")
    with pytest.raises(FloatingPointError, match="'plastic' received a batch with NaN"):
        _fit(model, _bad_third_batch((6,)), callbacks=[NonFiniteGuard()])
    _assert_same(_variables(layer), expected)
    assert layer.nonfinite_error is None  # cleared once raised
    _fit(model, _data((6,)), callbacks=[NonFiniteGuard()])  # the next fit() starts afresh


def test_a_plain_keras_model_without_the_guard_never_learns_from_a_bad_batch():
    """Compiled steps (JAX, TensorFlow) warn and leave the batch out; eager ones raise."""
    x = _bad_third_batch((6,))
    model, layer = _model(_dense, (6,), jit="graph", on_nonfinite="skip")
    _fit(model, np.concatenate([x[: 2 * BATCH], x[3 * BATCH:]]))
    expected = _variables(layer)
    model, layer = _model(_dense, (6,), sequential=keras.Sequential, jit="graph")
    if keras.backend.backend() == "torch":
        with pytest.raises(FloatingPointError, match="received a batch with NaN"):
            _fit(model, x)
        return
    with pytest.warns(RuntimeWarning, match="'plastic' received a batch with NaN"):
        _fit(model, x)
    assert "received a batch with NaN" in layer.nonfinite_error
    _assert_same(_variables(layer), expected)


def test_a_step_compiled_by_xla_records_a_refusal_for_the_guard_to_read():
    """TensorFlow's XLA runs no host callback: the step records the refusal in a variable."""
    model, layer = _model(_dense, (6,), sequential=keras.Sequential, jit="xla")
    weights = len(layer.weights)
    _fit(model, _bad_third_batch((6,)))  # no guard: nothing reads it, nothing warns
    assert layer.nonfinite_error is None
    assert "'plastic' received a batch with NaN" in layer.poll_nonfinite()
    assert int(layer.iterations.numpy()) == 3  # the bad batch was left out
    layer.nonfinite_error = None
    assert layer.poll_nonfinite() is None  # read once
    with pytest.raises(FloatingPointError, match="'plastic' received a batch with NaN"):
        _fit(model, _bad_third_batch((6,)), callbacks=[NonFiniteGuard()])
    assert int(layer.iterations.numpy()) == 3 + 2  # stopped after the bad batch
    assert len(layer.weights) == weights  # the variable is not a weight, nor saved
