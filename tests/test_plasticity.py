"""PlasticRNNCell and PlasticDense: the equations, gradients, the trace's reset, saving."""

import keras
import numpy as np
import pytest

from keras_hebbian.layers import PlasticDense, PlasticRNNCell

STRONG = {"eta": 0.3, "alpha_initializer": keras.initializers.RandomNormal(stddev=0.5)}


def numpy_of(tensor):
    return keras.ops.convert_to_numpy(tensor)


def sequences(batch=3, steps=6, features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, features)).astype("float32")


def trace_step(rule, trace, pre, post, rate):
    if rule == "hebb":
        return trace + rate * (pre[:, :, None] * post[:, None, :] - trace)
    return trace + rate * post[:, None, :] * (pre[:, :, None] - post[:, None, :] * trace)


def reference_rnn(x, cell, rule):
    """The cell's equations in NumPy: outputs `(batch, steps, units)` and the last trace."""
    kernel, recurrent, alpha = (numpy_of(w.value) for w in (cell.kernel, cell.recurrent_kernel,
                                                             cell.alpha))
    eta, bias = float(numpy_of(cell.eta.value)), numpy_of(cell.bias.value)
    batch, units = x.shape[0], recurrent.shape[0]
    h = np.zeros((batch, units))
    trace = np.zeros((batch, units, units))
    outputs = []
    for t in range(x.shape[1]):
        plastic = np.einsum("bi,bij->bj", h, alpha[None] * trace)
        new = np.tanh(x[:, t] @ kernel + bias + h @ recurrent + plastic)
        trace = trace_step(rule, trace, h, new, eta)
        h = new
        outputs.append(h)
    return np.stack(outputs, 1), trace


@pytest.mark.parametrize("rule", ["hebb", "oja"])
def test_plastic_rnn_cell_follows_its_equations(rule):
    x = sequences()
    cell = PlasticRNNCell(5, rule=rule, seed=0, **STRONG)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    outputs, last, trace = rnn(x)
    expected, expected_trace = reference_rnn(x, cell, rule)
    np.testing.assert_allclose(numpy_of(outputs), expected, atol=1e-5)
    np.testing.assert_allclose(numpy_of(last), expected[:, -1], atol=1e-5)
    np.testing.assert_allclose(numpy_of(trace).reshape(3, 5, 5), expected_trace, atol=1e-5)
    # The trace shapes the outputs: without alpha they differ.
    cell.alpha.assign(np.zeros((5, 5), dtype="float32"))
    assert np.abs(numpy_of(rnn(x)[0]) - expected).max() > 1e-3


def test_the_trace_resets_between_sequences():
    a, b = sequences(1, seed=1), sequences(1, seed=2) * 3.0
    model = keras.Sequential([keras.Input((None, 4)),
                              keras.layers.RNN(PlasticRNNCell(6, seed=0, **STRONG))])
    first = model.predict(a, verbose=0)
    other = model.predict(b, verbose=0)
    assert np.abs(first - other).max() > 1e-3
    np.testing.assert_array_equal(model.predict(a, verbose=0), first)  # after b
    # Within a batch, a sequence does not see its neighbours' traces.
    np.testing.assert_allclose(model.predict(np.concatenate([b, a]), verbose=0)[1:], first,
                               atol=1e-6)


@pytest.mark.parametrize("options, names", [
    ({}, ("recurrent_kernel", "alpha", "eta", "kernel", "bias")),
    ({"rule": "oja"}, ("recurrent_kernel", "alpha", "eta")),
    ({"neuromodulation": True, "trace_clip": 1.0},
     ("recurrent_kernel", "alpha", "modulation_kernel", "modulation_bias")),
])
def test_gradients_reach_the_fixed_weights_alpha_and_eta(options, names):
    x = sequences(8, steps=8)
    y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    cell = PlasticRNNCell(6, seed=0, **dict(STRONG, **options))
    model = keras.Sequential([keras.Input((8, 4)), keras.layers.RNN(cell), keras.layers.Dense(2)])
    # One step of plain SGD with rate 1 moves each weight by minus its gradient.
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    before = {w.name: numpy_of(w.value).copy() for w in cell.weights}
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    moved = {w.name: float(np.abs(numpy_of(w.value) - before[w.name]).max()) for w in cell.weights}
    for name in names:
        assert moved[name] > 1e-6, moved


def test_plastic_dense_follows_its_equations_and_resets():
    x = sequences(2, steps=5, features=3, seed=4)
    layer = PlasticDense(4, rule="oja", activation="tanh", seed=1, **STRONG)
    outputs = numpy_of(layer(x))
    kernel, alpha, bias = (numpy_of(w.value) for w in (layer.kernel, layer.alpha, layer.bias))
    eta = float(numpy_of(layer.eta.value))
    trace = np.zeros((2, 3, 4))
    expected = []
    for t in range(5):
        y = np.tanh(x[:, t] @ kernel + np.einsum("bi,bij->bj", x[:, t], alpha[None] * trace) + bias)
        trace = trace_step("oja", trace, x[:, t], y, eta)
        expected.append(y)
    np.testing.assert_allclose(outputs, np.stack(expected, 1), atol=1e-5)
    np.testing.assert_array_equal(numpy_of(layer(x)), outputs)  # a new call, a new trace
    assert numpy_of(layer(x[:, :1])).shape == (2, 1, 4)


def test_same_seed_gives_the_same_weights():
    def weights(seed):
        cell = PlasticRNNCell(5, seed=seed)
        cell.build((None, 3))
        return [numpy_of(w.value) for w in cell.weights]

    first, again, other = weights(7), weights(7), weights(8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    # W and alpha are drawn separately.
    assert not np.allclose(first[1] / np.abs(first[1]).max(), first[2] / np.abs(first[2]).max())


MODELS = [
    lambda: keras.layers.RNN(PlasticRNNCell(4, rule="oja", use_input_kernel=False,
                                            neuromodulation=True, trace_clip=1.0, seed=1)),
    lambda: PlasticDense(3, activation="tanh", eta=0.1, seed=2),
]


@pytest.mark.parametrize("make", MODELS)
def test_keras_file_round_trip_is_exact(tmp_path, make):
    x = sequences(4, steps=6, features=4, seed=5)
    model = keras.Sequential([keras.Input((6, 4)), make()])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros(model.output_shape[1:], dtype="float32")[None].repeat(4, 0),
              epochs=1, verbose=0)
    path = str(tmp_path / "plastic.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(numpy_of(saved.value), numpy_of(restored.value))
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


@pytest.mark.parametrize("layer", [
    PlasticRNNCell(5, rule="oja", activation="relu", use_input_kernel=False, eta=0.05,
                   neuromodulation=True, trace_clip=2.0, seed=3),
    PlasticDense(4, rule="oja", use_bias=False, trace_clip=1.5, return_sequences=False, seed=4),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    restored = type(layer).from_config(config)
    assert restored.get_config() == config
    for name in ("units", "rule", "use_input_kernel", "use_bias", "neuromodulation", "trace_clip",
                 "seed", "return_sequences"):
        assert getattr(restored, name, None) == getattr(layer, name, None), name


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: PlasticRNNCell(0), "units"),
        (lambda: PlasticRNNCell(4, rule="bcm"), "rule"),
        (lambda: PlasticRNNCell(4, eta=-0.1), "eta"),
        (lambda: PlasticRNNCell(4, trace_clip=0.0), "trace_clip"),
        (lambda: PlasticRNNCell(4, neuromodulation="yes"), "neuromodulation"),
        (lambda: PlasticRNNCell(4, use_input_kernel=1), "use_input_kernel"),
        (lambda: PlasticRNNCell(4, seed="a"), "seed"),
        (lambda: PlasticDense(4, rule="hebbian"), "rule"),
        (lambda: PlasticDense(4, return_sequences=None), "return_sequences"),
        (lambda: keras.layers.RNN(PlasticRNNCell(5, use_input_kernel=False))(sequences()),
         "use_input_kernel"),
    ],
)
def test_bad_arguments_name_the_parameter(make, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        make()


@pytest.mark.parametrize("layer", [PlasticRNNCell(4), PlasticDense(4)], ids=["cell", "dense"])
def test_an_unknown_last_input_axis_is_a_clear_error(layer):
    with pytest.raises(ValueError, match=rf"inputs of a {type(layer).__name__} layer must be known"):
        layer.build((None, None) if isinstance(layer, PlasticRNNCell) else (None, 5, None))
