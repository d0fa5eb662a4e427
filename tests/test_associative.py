"""HopfieldMemory and DenseAssociativeMemory: storing, recall, energy, saving."""

import keras
import numpy as np
import pytest

from keras_hebbian.layers import DenseAssociativeMemory, HopfieldMemory


def random_patterns(count, n, seed=0):
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(count, n)).astype("float32")


def flipped(patterns, fraction, seed=1):
    """Each pattern with exactly `fraction` of its bits flipped."""
    rng = np.random.default_rng(seed)
    count, n = patterns.shape
    flips = np.zeros(patterns.shape, dtype=bool)
    for row in flips:
        row[rng.choice(n, int(round(fraction * n)), replace=False)] = True
    return np.where(flips, -patterns, patterns).astype("float32")


def numpy_of(tensor):
    return keras.ops.convert_to_numpy(tensor)


def recalled_fraction(layer, patterns, cues):
    out = numpy_of(layer.predict_on(cues) if hasattr(layer, "predict_on") else layer(cues))
    return float(np.mean(np.all(np.sign(out) == patterns, axis=1)))


def fit_store(layer, patterns, batch_size):
    model = keras.Sequential([keras.Input(patterns.shape[1:]), layer])
    model.compile()
    model.fit(patterns, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return model


# -- HopfieldMemory -----------------------------------------------------------


def test_hebb_storage_is_symmetric_with_a_zero_diagonal_and_matches_the_formula():
    patterns = random_patterns(20, 64)
    layer = HopfieldMemory(seed=0)
    fit_store(layer, patterns, batch_size=7)  # incremental over three batches
    weights = numpy_of(layer.kernel.value)
    assert np.all(np.diag(weights) == 0.0)
    assert np.array_equal(weights, weights.T)
    expected = patterns.T @ patterns / 64.0
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(weights, expected, atol=1e-6)
    assert int(numpy_of(layer.stored_count.value)) == 20
    # store() is the same update as a training call.
    other = HopfieldMemory(seed=0)
    other.store(patterns[:5])
    other.store(patterns[5:])
    np.testing.assert_allclose(numpy_of(other.kernel.value), weights, atol=1e-6)


def test_storkey_storage_is_symmetric_with_a_zero_diagonal_and_matches_the_formula():
    patterns = random_patterns(12, 40, seed=3)
    layer = HopfieldMemory(rule="storkey")
    fit_store(layer, patterns, batch_size=5)
    weights = numpy_of(layer.kernel.value)
    assert np.all(np.diag(weights) == 0.0)
    assert np.array_equal(weights, weights.T)
    # Storkey (1997), pattern by pattern, with h_ij = sum_{k != i, j} w_ik x_k.
    n = patterns.shape[1]
    expected = np.zeros((n, n))
    for x in patterns.astype("float64"):
        field = expected @ x
        h = field[:, None] - expected * x[None, :] - (np.diag(expected) * x)[:, None]
        expected = expected + (np.outer(x, x) - x[:, None] * h.T - h * x[None, :]) / n
        np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(weights, expected, atol=1e-5)


@pytest.mark.parametrize("rule, update", [("hebb", "async"), ("hebb", "sync"),
                                          ("storkey", "async")])
def test_five_patterns_are_recalled_exactly_from_cues_with_ten_percent_flipped(rule, update):
    patterns = random_patterns(5, 100)
    cues = flipped(patterns, 0.1)
    layer = HopfieldMemory(rule=rule, update=update, seed=0)
    model = fit_store(layer, patterns, batch_size=5)
    assert np.array_equal(model.predict(cues, verbose=0), patterns)


def test_asynchronous_recall_never_increases_the_energy_step_by_step():
    patterns = random_patterns(12, 100, seed=5)
    cues = flipped(patterns, 0.3, seed=6)
    layer = HopfieldMemory(seed=0)
    layer.store(patterns)
    order = numpy_of(layer.update_order.value)
    assert sorted(order.tolist()) == list(range(100))
    states = keras.ops.convert_to_tensor(cues)
    energies = [numpy_of(layer.energy(states))]
    sweeps = 3
    for step in range(sweeps * 100):
        states = layer.update_unit(states, int(order[step % 100]))
        energies.append(numpy_of(layer.energy(states)))
    energies = np.stack(energies)  # (steps + 1, samples)
    assert np.all(np.diff(energies, axis=0) <= 1e-4)
    assert np.all(energies[-1] < energies[0])  # the cues did move downhill
    # The layer's recall takes exactly these steps.
    np.testing.assert_array_equal(numpy_of(layer.recall(cues, max_iterations=sweeps)),
                                  numpy_of(states))


def test_storkey_stores_more_patterns_than_hebb_at_n_100():
    patterns = random_patterns(25, 100, seed=7)
    cues = flipped(patterns, 0.1, seed=8)
    fractions = {}
    for rule in ("hebb", "storkey"):
        layer = HopfieldMemory(rule=rule, update="sync")
        layer.store(patterns)
        fractions[rule] = recalled_fraction(layer, patterns, cues)
    # Measured at this seed: Hebb recalls few of 25 patterns, Storkey most.
    assert fractions["storkey"] >= fractions["hebb"] + 0.5, fractions


def test_hopfield_predict_does_not_store_and_clear_forgets():
    patterns = random_patterns(5, 30)
    layer = HopfieldMemory(seed=0)
    model = fit_store(layer, patterns, batch_size=5)
    before = numpy_of(layer.kernel.value).copy()
    model.predict(flipped(patterns, 0.1), verbose=0)
    np.testing.assert_array_equal(numpy_of(layer.kernel.value), before)
    layer.clear()
    assert not np.any(numpy_of(layer.kernel.value))
    assert int(numpy_of(layer.stored_count.value)) == 0


def test_same_seed_gives_the_same_update_order():
    a, b, c = HopfieldMemory(seed=3), HopfieldMemory(seed=3), HopfieldMemory(seed=4)
    for layer in (a, b, c):
        layer.build((None, 50))
    assert np.array_equal(numpy_of(a.update_order.value), numpy_of(b.update_order.value))
    assert not np.array_equal(numpy_of(a.update_order.value), numpy_of(c.update_order.value))


# -- DenseAssociativeMemory ------------------------------------------------------


def test_dense_memory_with_default_settings_recalls_200_patterns_of_100_bits():
    patterns = random_patterns(200, 100, seed=11)
    cues = flipped(patterns, 0.1, seed=12)
    layer = DenseAssociativeMemory()
    layer.store(patterns)
    assert np.array_equal(numpy_of(layer(cues)), patterns)
    # Hebbian storage of the same patterns recalls none of them.
    hopfield = HopfieldMemory(update="sync", max_iterations=10)
    hopfield.store(patterns)
    assert recalled_fraction(hopfield, patterns, cues) == 0.0


def test_polynomial_update_is_the_exact_energy_difference():
    """One update sets each unit to its lower-energy state, `E(s) = -sum_mu (M_mu . s)^3`."""
    rng = np.random.default_rng(13)
    patterns = random_patterns(30, 12, seed=14)
    states = rng.choice([-1.0, 1.0], size=(20, 12)).astype("float32")
    layer = DenseAssociativeMemory(capacity=30, degree=3)
    layer.store(patterns)
    gains = np.zeros(states.shape)
    for b, state in enumerate(states.astype("float64")):
        for i in range(12):
            up, down = state.copy(), state.copy()
            up[i], down[i] = 1.0, -1.0
            gains[b, i] = np.sum((patterns @ up) ** 3) - np.sum((patterns @ down) ** 3)
    decided = gains != 0  # an exact tie may go either way in floating point
    assert decided.mean() > 0.9
    recalled = numpy_of(layer.recall(states, max_iterations=1))
    np.testing.assert_array_equal(recalled[decided], np.sign(gains)[decided])


def test_exponential_memory_completes_continuous_patterns():
    rng = np.random.default_rng(0)
    patterns = rng.normal(size=(50, 64)).astype("float32")
    cues = patterns.copy()
    cues[:, 32:] = 0.0  # half of each pattern missing
    layer = DenseAssociativeMemory(interaction="exponential", beta=1.0)
    layer.store(patterns)
    np.testing.assert_allclose(numpy_of(layer(cues)), patterns, atol=1e-4)
    # The energy of a stored pattern is below that of its cue.
    assert np.all(numpy_of(layer.energy(patterns)) < numpy_of(layer.energy(cues)))


def test_dense_memory_replaces_the_oldest_patterns_when_full():
    patterns = random_patterns(20, 16)
    layer = DenseAssociativeMemory(capacity=8)
    fit_store(layer, patterns[:10], batch_size=3)
    layer.store(patterns[10:])
    memory = numpy_of(layer.memory.value)
    # Pattern k sits in row k mod 8: the last 8 patterns are held.
    np.testing.assert_array_equal(memory[np.arange(12, 20) % 8], patterns[12:20])
    assert int(numpy_of(layer.stored_count.value)) == 20
    empty = DenseAssociativeMemory(capacity=4)
    np.testing.assert_array_equal(numpy_of(empty(patterns[:3])), patterns[:3])


# -- saving ------------------------------------------------------------------------


MEMORIES = [
    lambda: HopfieldMemory(rule="storkey", update="async", max_iterations=7),  # order unseeded
    lambda: DenseAssociativeMemory(capacity=64, degree=3, max_iterations=5),
    lambda: HopfieldMemory(rule="hebb", update="sync", seed=2),
    lambda: DenseAssociativeMemory(capacity=64, interaction="exponential", beta=0.5),
]


@pytest.mark.parametrize("make", MEMORIES[:2])
def test_memory_keras_file_round_trip_is_exact(tmp_path, make):
    patterns = random_patterns(12, 48, seed=4)
    cues = flipped(patterns, 0.2, seed=5)
    layer = make()
    model = fit_store(layer, patterns, batch_size=5)
    path = str(tmp_path / "memory.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for saved, restored in zip(model.layers[0].weights, loaded.layers[0].weights):
        np.testing.assert_array_equal(numpy_of(saved.value), numpy_of(restored.value))
    np.testing.assert_array_equal(model.predict(cues, verbose=0), loaded.predict(cues, verbose=0))
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    # Both go on storing alike.
    more = random_patterns(6, 48, seed=6)
    model.layers[0].store(more)
    loaded.layers[0].store(more)
    for saved, restored in zip(model.layers[0].weights, loaded.layers[0].weights):
        np.testing.assert_allclose(numpy_of(saved.value), numpy_of(restored.value), atol=1e-6)


ARGUMENTS = ("rule", "update", "max_iterations", "seed", "capacity", "interaction", "degree",
             "beta")


@pytest.mark.parametrize("make", MEMORIES)
def test_memory_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    restored = type(layer).from_config(config)
    assert restored.get_config() == config
    for name in ARGUMENTS:
        assert getattr(restored, name, None) == getattr(layer, name, None), name


# -- arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: HopfieldMemory(rule="oja"), "rule"),
        (lambda: HopfieldMemory(update="random"), "update"),
        (lambda: HopfieldMemory(max_iterations=0), "max_iterations"),
        (lambda: HopfieldMemory(seed=1.5), "seed"),
        (lambda: DenseAssociativeMemory(capacity=0), "capacity"),
        (lambda: DenseAssociativeMemory(interaction="cubic"), "interaction"),
        (lambda: DenseAssociativeMemory(degree=1), "degree"),
        (lambda: DenseAssociativeMemory(beta=-1.0), "beta"),
        (lambda: DenseAssociativeMemory(max_iterations=2.5), "max_iterations"),
    ],
)
def test_bad_arguments_name_the_parameter(make, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        make()


def test_storing_patterns_of_the_wrong_shape_names_the_parameter():
    layer = HopfieldMemory()
    layer.store(random_patterns(3, 10))
    with pytest.raises(ValueError, match="`patterns`.*10 features"):
        layer.store(random_patterns(3, 12))
    with pytest.raises(ValueError, match="`patterns`.*shape"):
        DenseAssociativeMemory().store(np.ones(10, dtype="float32"))
    with pytest.raises(ValueError, match="`max_iterations`"):
        layer.recall(random_patterns(2, 10), max_iterations=0)


@pytest.mark.parametrize("layer", [HopfieldMemory(), DenseAssociativeMemory(capacity=4)],
                         ids=["hopfield", "dense"])
def test_an_unknown_last_input_axis_is_a_clear_error(layer):
    with pytest.raises(ValueError, match=rf"inputs of a {type(layer).__name__} layer must be known"):
        layer.build((None, None))
