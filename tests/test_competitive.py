import keras
import numpy as np
import pytest
from conftest import fit_unsupervised

from keras_hebbian import rules
from keras_hebbian.layers import HebbianDense
from keras_hebbian.rules import Presynaptic


def _tensor(a):
    return keras.ops.convert_to_tensor(np.asarray(a, "float32"))


def _numpy(t):
    return keras.ops.convert_to_numpy(t)


def _blobs(n=2000, dim=16, centers=6, seed=0):
    """Non-negative inputs drawn around a few prototypes."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((centers, dim)) ** 3
    labels = rng.integers(0, centers, size=n)
    return np.abs(prototypes[labels] + 0.05 * rng.normal(size=(n, dim))).astype("float32")


def test_krotov_hopfield_update_matches_the_papers_numpy_loop():
    rng = np.random.default_rng(0)
    x = rng.random((9, 12)).astype("float32")
    w = rng.normal(size=(12, 10)).astype("float32")  # (inputs, units)
    rule = rules.KrotovHopfield(p=3, k=3, delta=0.4)

    # Krotov & Hopfield's reference loop, with synapses as (units, inputs).
    synapses = w.T
    currents = (np.sign(synapses) * np.abs(synapses) ** 2) @ x.T  # (units, batch)
    order = np.argsort(currents, axis=0)
    g = np.zeros_like(currents)
    g[order[-1], np.arange(len(x))] = 1.0
    g[order[-3], np.arange(len(x))] = -0.4
    xx = np.sum(g * currents, axis=1)
    ds = g @ x - xx[:, None] * synapses
    expected = (ds / np.abs(ds).max()).T

    effective = _numpy(rule.effective_kernel(_tensor(w)))
    np.testing.assert_allclose(effective, np.sign(w) * w**2, rtol=1e-6)
    post = x @ effective
    delta, _ = rule.compute_update(Presynaptic(_tensor(x)), _tensor(post), _tensor(w), {})
    np.testing.assert_allclose(_numpy(delta), expected, rtol=1e-4, atol=1e-5)


def test_krotov_hopfield_layer_computes_currents_through_the_p_metric():
    x = np.random.default_rng(1).random((4, 6)).astype("float32")
    layer = HebbianDense(5, rule=rules.KrotovHopfield(p=4, k=2), seed=0)
    y = _numpy(layer(x))
    w = layer.kernel.numpy()
    np.testing.assert_allclose(y, x @ (np.sign(w) * np.abs(w) ** 3), rtol=1e-5, atol=1e-6)


def test_krotov_hopfield_weights_converge_to_unit_p_norm():
    x = (np.random.default_rng(0).random((3000, 16)) ** 3).astype("float32")
    layer = HebbianDense(12, rule=rules.KrotovHopfield(p=3, k=3, delta=0.2), learning_rate=0.02,
                         kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), seed=0)
    model = keras.Sequential([keras.Input((16,)), layer])
    model.compile()
    model.build((None, 16))
    p_norm = lambda w: (np.abs(w) ** 3).sum(axis=0) ** (1 / 3)  # noqa: E731
    before = np.abs(p_norm(layer.kernel.numpy()) - 1)
    model.fit(x, epochs=8, batch_size=50, verbose=0)
    w = layer.kernel.numpy()
    wins = np.bincount(np.argmax(x @ (w * np.abs(w)), axis=1), minlength=12) / len(x)
    winners = np.flatnonzero(wins > 0.03)
    assert len(winners) >= 8  # the units share the inputs
    assert np.min(before[winners]) > 0.5
    np.testing.assert_allclose(p_norm(w)[winners], 1.0, atol=0.02)


def test_softhebb_update_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.random((8, 5)).astype("float32")
    w = rng.normal(size=(5, 4)).astype("float32")
    u = x @ w
    rule = rules.SoftHebb(temperature=0.5, anti_hebbian=True, adaptive=True, power=0.5)
    y = np.exp(u / 0.5 - (u / 0.5).max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    winners = np.eye(4)[u.argmax(1)]
    y = np.where(winners > 0, y, -y)
    ds = (x.T @ y - w * (y * u).sum(0)) / len(x)
    ds = ds / np.abs(ds).max()
    expected = ds * np.sqrt(np.abs(np.linalg.norm(w, axis=0) - 1) + 1e-10)
    delta, _ = rule.compute_update(Presynaptic(_tensor(x)), _tensor(u), _tensor(w), {})
    np.testing.assert_allclose(_numpy(delta), expected, rtol=1e-4, atol=1e-6)


def test_softhebb_unit_max_normalize_divides_each_units_step_by_its_own_largest_entry():
    rng = np.random.default_rng(4)
    x = rng.random((8, 5)).astype("float32")
    w = rng.normal(size=(5, 4)).astype("float32")
    u = x @ w
    y = np.exp(u - u.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    y = np.where(np.eye(4)[u.argmax(1)] > 0, y, -y)
    ds = (x.T @ y - w * (y * u).sum(0)) / len(x)
    ds = ds / np.abs(ds).max(axis=0)
    distance = np.sqrt(np.abs(np.linalg.norm(w, axis=0) - 1) + 1e-10)
    expected = ds * distance
    rule = rules.SoftHebb(max_normalize="unit")
    delta, _ = rule.compute_update(Presynaptic(_tensor(x)), _tensor(u), _tensor(w), {})
    np.testing.assert_allclose(_numpy(delta), expected, rtol=1e-4, atol=1e-6)
    # every unit's largest change is its adaptive rate, losers included
    np.testing.assert_allclose(np.abs(_numpy(delta)).max(axis=0), distance, rtol=1e-5)


@pytest.mark.parametrize("value, stored", [(True, True), ("layer", True), ("unit", "unit"),
                                           (False, False), (None, False)])
def test_softhebb_max_normalize_values(value, stored):
    rule = rules.SoftHebb(max_normalize=value)
    assert rule.max_normalize == stored
    assert rules.deserialize(rules.serialize(rule)).get_config() == rule.get_config()


@pytest.mark.parametrize("anti_hebbian", [True, False])
def test_softhebb_signal_is_the_softmax_signed_for_losers(anti_hebbian):
    # Responses of 1e3 would overflow an unshifted exponential.
    u = np.random.default_rng(3).normal(size=(6, 5)) * np.array([[1.0], [1e3], [1], [1], [1], [1]])
    y = np.exp(u / 2 - (u / 2).max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    if anti_hebbian:
        y = np.where(np.eye(5)[u.argmax(1)] > 0, y, -y)
    signal = rules.SoftHebb(temperature=2.0, anti_hebbian=anti_hebbian).signal(_tensor(u))
    np.testing.assert_allclose(_numpy(signal), y, rtol=1e-5, atol=1e-7)


def test_softhebb_weight_norms_converge_to_one():
    x = (np.random.default_rng(0).random((3000, 16)) ** 3).astype("float32")
    layer = HebbianDense(10, rule=rules.SoftHebb(temperature=0.1), learning_rate=0.05,
                         kernel_initializer=keras.initializers.RandomNormal(stddev=1.0), seed=0)
    model = keras.Sequential([keras.Input((16,)), layer])
    model.compile()
    model.build((None, 16))
    before = np.abs(np.linalg.norm(layer.kernel.numpy(), axis=0) - 1)
    model.fit(x, epochs=10, batch_size=50, verbose=0)
    w = layer.kernel.numpy()
    wins = np.bincount(np.argmax(x @ w, axis=1), minlength=10) / len(x)
    winners = np.flatnonzero(wins > 0.03)
    assert len(winners) >= 5
    assert np.min(before[winners]) > 1.0
    # Over shuffling seeds 0-7 the largest deviation after 10 epochs is 0.004-0.017.
    np.testing.assert_allclose(np.linalg.norm(w, axis=0)[winners], 1.0, atol=0.03)


@pytest.mark.parametrize("k", [1, 2])
def test_hard_wta_moves_only_the_winners(k):
    x = np.random.default_rng(3).random((1, 6)).astype("float32")
    layer = HebbianDense(5, rule=rules.WinnerTakeAll(k=k), learning_rate=0.1, seed=0)
    layer(x)
    before = layer.kernel.numpy().copy()
    winners = np.argsort(-(x @ before)[0])[:k]
    layer(x, training=True)
    changed = np.flatnonzero(np.any(layer.kernel.numpy() != before, axis=0))
    np.testing.assert_array_equal(np.sort(changed), np.sort(winners))
    # dw = y (x - u w) for the winners
    u = (x @ before)[0]
    for j in winners:
        np.testing.assert_allclose(
            layer.kernel.numpy()[:, j], before[:, j] + 0.1 * (x[0] - u[j] * before[:, j]), rtol=1e-5
        )


def test_wta_prototypes_move_toward_the_inputs_they_win():
    x = _blobs(centers=3)
    layer = HebbianDense(3, rule="wta", learning_rate=0.05,
                         kernel_initializer=keras.initializers.RandomUniform(0, 0.3), seed=1)
    fit_unsupervised(layer, x, epochs=3)
    w = layer.kernel.numpy()
    norms = np.linalg.norm(w, axis=0)
    won = np.bincount(np.argmax(x @ w, axis=1), minlength=3) > 0
    np.testing.assert_allclose(norms[won], 1.0, atol=0.05)


def test_sparse_correlation_equals_dense():
    rng = np.random.default_rng(4)
    x = rng.random((7, 5)).astype("float32")
    indices = rng.integers(0, 6, size=(7, 2))
    values = rng.normal(size=(7, 2)).astype("float32")
    dense = np.zeros((7, 6), "float32")
    for n in range(7):
        for j in range(2):
            dense[n, indices[n, j]] += values[n, j]
    pre = Presynaptic(_tensor(x))
    got = pre.correlate_sparse(keras.ops.convert_to_tensor(indices.astype("int32")), _tensor(values), 6)
    np.testing.assert_allclose(_numpy(got), x.T @ dense / 7, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "rule, message",
    [
        (rules.KrotovHopfield(k=9), r"`k` must be at most the number of units \(8\). Received: k=9"),
        (rules.WinnerTakeAll(k=9), r"`k` must be at most the number of units \(8\)"),
    ],
)
def test_k_larger_than_units_raises_at_build(rule, message):
    layer = HebbianDense(8, rule=rule)
    with pytest.raises(ValueError, match=message):
        layer.build((None, 4))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: rules.KrotovHopfield(p=1.5), "`p` must be >= 2"),
        (lambda: rules.KrotovHopfield(k=1), "`k` must be >= 2"),
        (lambda: rules.KrotovHopfield(delta=-0.1), "`delta` must be"),
        (lambda: rules.SoftHebb(temperature=0.0), "`temperature` must be a finite number > 0"),
        (lambda: rules.SoftHebb(max_normalize="units"), "`max_normalize` must be True or 'layer'"),
        (lambda: rules.SoftHebb(max_normalize=1), "`max_normalize` must be True or 'layer'"),
        (lambda: rules.WinnerTakeAll(k=0), "`k` must be an int >= 1"),
    ],
)
def test_bad_competitive_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "rule",
    [rules.KrotovHopfield(p=4.5, k=5, delta=0.3), rules.SoftHebb(temperature=0.2, adaptive=False),
     rules.WinnerTakeAll(k=3, max_normalize=True)],
)
def test_competitive_rules_serialize(rule):
    assert rules.deserialize(rules.serialize(rule)).get_config() == rule.get_config()
    assert type(rules.get(rules.serialize(rule))) is type(rule)


_COLUMN_RULES = {
    "krotov": rules.KrotovHopfield(p=3, k=3, delta=0.4),
    "wta": rules.WinnerTakeAll(k=1),
    "wta_k2": rules.WinnerTakeAll(k=2, max_normalize=True),
    "wta_chain_unit": rules.chain(rules.WinnerTakeAll(k=2), rules.scale_by_max(per_unit=True),
                                  rules.scale_by_norm_distance(power=0.5)),
    "krotov_chain_unit": rules.chain(rules.KrotovHopfield(p=2, k=2),
                                     rules.scale_by_max(per_unit=True)),
}


@pytest.mark.parametrize("name", sorted(_COLUMN_RULES))
@pytest.mark.parametrize("samples, units", [(20, 200), (60, 8)], ids=["few", "many"])
def test_column_update_equals_the_dense_update(name, samples, units):
    # 20 samples compete for 200 units: units win several samples, so the
    # column form must sum repeated units once. 60 samples for 8 units: the
    # listed entries far outnumber the units.
    rule = _COLUMN_RULES[name]
    rng = np.random.default_rng(0)
    x = rng.random((samples, 12)).astype("float32")
    w = rng.normal(size=(12, units)).astype("float32")
    w[:, :3] *= 4.0  # three strong units win most samples
    post = x @ _numpy(rule.effective_kernel(_tensor(w)))
    pre = Presynaptic(_tensor(x))
    dense, _ = rule.compute_update(pre, _tensor(post), _tensor(w), {})
    units_, columns, _ = rule.compute_column_update(pre, _tensor(post), _tensor(w), {})
    units_, columns, dense = _numpy(units_), _numpy(columns), _numpy(dense)
    assert units_.shape == (samples * rule.sparse_units_per_sample,)
    assert columns.shape == (12, samples * rule.sparse_units_per_sample)
    assert len(np.unique(units_)) < len(units_)  # repeats were exercised
    scattered = np.zeros_like(dense)
    scattered[:, units_] = columns
    for j, unit in enumerate(units_):  # repeated units carry equal columns
        np.testing.assert_array_equal(columns[:, j], scattered[:, unit])
    np.testing.assert_allclose(scattered, dense, rtol=1e-5, atol=1e-6)
    # the dense update is zero at every unit not listed
    changed = np.flatnonzero(np.abs(dense).sum(axis=0))
    np.testing.assert_array_equal(np.unique(units_), changed)


def test_dense_update_from_the_sparse_signal_matches_numpy():
    # WinnerTakeAll(k=2): dW = <x g> - W <g u>, g = 1 at the two strongest units.
    rng = np.random.default_rng(5)
    x = rng.random((30, 6)).astype("float32")
    w = rng.normal(size=(6, 5)).astype("float32")
    u = x @ w
    g = np.zeros_like(u)
    top = np.argsort(-u, axis=1)[:, :2]
    np.put_along_axis(g, top, 1.0, axis=1)
    expected = (x.T @ g - w * (g * u).sum(0)) / len(x)
    rule = rules.WinnerTakeAll(k=2)
    indices, values = rule.sparse_signal(_tensor(u))
    np.testing.assert_array_equal(np.sort(_numpy(indices), axis=1), np.sort(top, axis=1))
    np.testing.assert_array_equal(_numpy(values), np.ones((30, 2), "float32"))
    delta, _ = rule.compute_update(Presynaptic(_tensor(x)), _tensor(u), _tensor(w), {})
    np.testing.assert_allclose(_numpy(delta), expected, rtol=1e-5, atol=1e-6)


def test_sparse_units_per_sample():
    assert rules.KrotovHopfield(k=5).sparse_units_per_sample == 2
    assert rules.WinnerTakeAll(k=3).sparse_units_per_sample == 3
    assert rules.WinnerTakeAll(k=3, max_normalize=True).sparse_units_per_sample == 3
    for dense in [rules.SoftHebb(), rules.Oja(), rules.Hebb(decay=0.1), rules.BCM()]:
        assert dense.sparse_units_per_sample is None
    # A chain keeps the column form only if every transform keeps columns.
    assert rules.chain("wta", rules.scale_by_max(per_unit=True)).sparse_units_per_sample == 1
    assert rules.chain("krotov", rules.add_decay(0.1)).sparse_units_per_sample is None
    assert rules.chain("oja", rules.scale_by_max()).sparse_units_per_sample is None


@pytest.mark.parametrize("connectivity", ["all", "random"])
def test_layer_learns_the_same_by_columns_and_by_the_dense_update(connectivity, monkeypatch):
    x = _blobs(n=40, dim=16)

    def trained(columns):
        if not columns:  # a dense rule has no column form
            monkeypatch.setattr(rules.KrotovHopfield, "sparse_units_per_sample", None)
        keras.utils.set_random_seed(0)
        layer = HebbianDense(400, rule=rules.KrotovHopfield(p=3, k=4), learning_rate=0.05,
                             connectivity=connectivity, kernel_initializer="random_normal", seed=3)
        model = keras.Sequential([keras.Input((16,)), layer])
        model.compile()
        model.fit(x, batch_size=20, epochs=1, shuffle=False, verbose=0)
        mask = layer.connectivity_mask
        return layer.kernel.numpy(), int(layer.iterations.numpy()), mask

    by_columns, updates, mask = trained(True)
    dense, dense_updates, _ = trained(False)
    assert updates == dense_updates == 2
    np.testing.assert_allclose(by_columns, dense, rtol=1e-5, atol=1e-6)
    if connectivity == "random":
        assert np.all(by_columns[mask.numpy() == 0] == 0)


def test_the_layer_alone_decides_the_column_path():
    """Few winners among many units: columns on JAX and PyTorch, the dense update on TensorFlow."""
    from keras_hebbian import backend
    from keras_hebbian.layers.plastic import ColumnProposal, Proposal, Synapses
    from keras_hebbian.rules import Presynaptic

    layer = HebbianDense(400, rule=rules.KrotovHopfield(k=4), kernel_initializer="random_normal")
    layer.build((None, 16))
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).random((20, 16)).astype("float32"))
    post = keras.ops.matmul(x, layer.kernel.value)
    few = layer.propose(Synapses(layer.kernel_plastic, Presynaptic(x), post))
    assert type(few) is (ColumnProposal if backend.BACKEND in ("jax", "torch") else Proposal)
    many = keras.ops.concatenate([x] * 3, axis=0)  # 60 samples x 2 units > 400 / 4
    dense = layer.propose(Synapses(layer.kernel_plastic, Presynaptic(many),
                                   keras.ops.matmul(many, layer.kernel.value)))
    assert type(dense) is Proposal


@pytest.mark.parametrize("by_columns", [False, True])
def test_take_columns_gathers_the_named_columns(by_columns):
    from keras_hebbian import backend

    values = np.random.default_rng(1).normal(size=(7, 30)).astype("float32")
    variable = keras.Variable(values, trainable=False)
    if by_columns:
        backend.store_by_units(variable)
    units = np.array([4, 0, 29, 4, 11])  # repeats allowed
    taken = _numpy(backend.take_columns(variable.value, keras.ops.convert_to_tensor(units)))
    np.testing.assert_array_equal(taken, values[:, units])
    np.testing.assert_array_equal(variable.numpy(), values)


def test_a_matrix_updated_by_columns_keeps_them_contiguous_on_torch(tmp_path):
    """PyTorch stores a sparse rule's kernel column by column; values and saving are unchanged."""
    if keras.backend.backend() != "torch":
        pytest.skip("only PyTorch lets the library choose a variable's memory layout")
    x = _blobs(n=40, dim=16)
    keras.utils.set_random_seed(0)
    layer = HebbianDense(400, rule=rules.KrotovHopfield(p=3, k=4), learning_rate=0.05,
                         connectivity="random", kernel_initializer="random_normal", seed=3)
    dense = HebbianDense(8, rule="oja", kernel_initializer="random_normal", seed=3)
    model = keras.Sequential([keras.Input((16,)), layer, dense])
    model.compile()
    model.fit(x, batch_size=20, epochs=1, shuffle=False, verbose=0)
    stored = [layer.kernel, layer.connectivity_mask, layer.kernel_plastic.effective]
    assert all(v.value.stride() == (1, 16) for v in stored)
    assert dense.kernel.value.stride() == (8, 1)  # a dense rule's kernel stays by rows
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].kernel.value.stride() == (1, 16)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "samples, units, k, ties",
    [(100, 2000, 7, False), (100, 2000, 7, True), (20, 1001, 5, True), (6, 10, 3, True),
     (4, 50, 50, False), (3, 64, 2, True)],
)
def test_top_k_indices_rank_like_a_stable_sort(samples, units, k, ties):
    from keras_hebbian import backend

    rng = np.random.default_rng(units + k)
    values = rng.normal(size=(samples, units)).astype("float32")
    if ties:  # few distinct values: many repeats, also among the largest
        values = np.round(values * 2.0)
        values[0] = 0.0
    ranked = _numpy(backend.top_k_indices(_tensor(values), k))
    reference = np.argsort(-values, axis=1, kind="stable")[:, :k]
    # the k largest values, in rank order
    np.testing.assert_array_equal(np.take_along_axis(values, ranked, 1),
                                  np.take_along_axis(values, reference, 1))
    assert all(len(set(row)) == k for row in ranked.tolist())  # each unit once
    if keras.backend.backend() != "torch":  # torch.topk orders repeats its own way
        np.testing.assert_array_equal(ranked, reference)
    # The ranking by groups that XLA runs (JAX; TensorFlow's jit_compile=True),
    # in keras.ops on every backend: equal entries rank by index.
    grouped = _numpy(backend.common.grouped_top_k_indices(_tensor(values), k))
    np.testing.assert_array_equal(grouped, reference)


@pytest.mark.parametrize("shape", [(12,), (12, 5)])
def test_segment_sum_adds_rows_by_segment(shape):
    from keras_hebbian import backend

    rng = np.random.default_rng(len(shape))
    data = rng.normal(size=shape).astype("float32")
    ids = np.array([0, 3, 3, 1, 0, 5, 5, 5, 2, 0, 1, 3])  # segment 4 gets nothing
    summed = _numpy(backend.segment_sum(_tensor(data), keras.ops.convert_to_tensor(ids), 6))
    reference = np.zeros((6,) + shape[1:], "float32")
    np.add.at(reference, ids, data)
    assert summed.shape == reference.shape
    np.testing.assert_allclose(summed, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape, axis", [((7840, 12), -1), ((640, 3), -1), ((100, 2000), -1),
                                         ((4, 6, 6, 12), -1), ((4, 5, 6, 7), 1), ((9, 40), 0)])
def test_softmax_matches_numpy_along_short_and_long_axes(shape, axis):
    """`backend.softmax` runs a short axis otherwise on PyTorch's CPU (< 16 entries)."""
    from keras_hebbian import backend

    values = (np.random.default_rng(shape[axis]).normal(size=shape) * 5.0).astype("float32")
    result = _numpy(backend.softmax(_tensor(values), axis=axis))
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    reference = shifted / shifted.sum(axis=axis, keepdims=True)
    assert result.shape == values.shape
    np.testing.assert_allclose(result, reference, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("length", [4, 20])  # a short axis and a long one (`SHORT_SOFTMAX_AXIS`)
def test_softmax_leaves_no_subnormal_number(axis, length):
    """A CPU computes many times slower with subnormal operands; XLA flushes them, and
    `backend.softmax` does on PyTorch (SoftHebb's signal at a low temperature)."""
    from keras_hebbian import backend

    row = np.full(length, -95.0, "float32")
    row[:4] = [0.0, -100.0, -90.0, -50.0]  # e^-100, e^-95 and e^-90 are subnormal
    values = np.tile(row, (20, 1))
    values = values if axis == -1 else values.T
    result = _numpy(backend.softmax(_tensor(values), axis=axis))
    tiny = np.finfo("float32").tiny
    assert not np.any((result != 0) & (np.abs(result) < tiny))
    first = result[0] if axis == -1 else result[:, 0]
    np.testing.assert_allclose(first[:4], [1.0, 0.0, 0.0, np.exp(-50.0)], rtol=1e-5, atol=0)
    assert np.all(first[4:] == 0.0)


@pytest.mark.parametrize("pad_width, mode", [
    (((0, 0), (2, 1), (0, 2), (0, 0)), "constant"),
    (((0, 0), (2, 1), (0, 2), (0, 0)), "reflect"),  # as a convolution pads its inputs
    (((1, 0), (0, 0), (1, 1), (2, 0)), "constant"),
])
def test_pad_matches_numpy(pad_width, mode):
    from keras_hebbian import backend

    values = np.random.default_rng(3).normal(size=(2, 5, 4, 3)).astype("float32")
    result = _numpy(backend.pad(_tensor(values), pad_width, mode=mode))
    np.testing.assert_array_equal(result, np.pad(values, pad_width, mode=mode))


def _competitive_network(network):
    from keras_hebbian import models, recipes

    if network == "krotov_hopfield":
        model = keras.Sequential([keras.Input((64,)),
                                  recipes.krotov_hopfield_dense(400, None, seed=0)])
        x = np.random.default_rng(0).random((20, 64)).astype("float32")
    else:
        model = models.softhebb_mnist(width=0.05, seed=0, first_rule="paper")
        x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    x = keras.ops.convert_to_tensor(x)
    model(x, training=True)  # builds
    return model, x


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch's copies to the GPU")
@pytest.mark.parametrize("network", ["krotov_hopfield", "softhebb_mnist"])
def test_a_learning_step_makes_no_tensor_from_a_python_number(network, monkeypatch):
    # On a GPU each such tensor is a copy from the host that waits for the device.
    import torch

    model, x = _competitive_network(network)
    made = []
    for name in ("as_tensor", "tensor", "scalar_tensor"):
        original = getattr(torch, name)

        def spy(data, *args, _original=original, **kwargs):
            if isinstance(data, (bool, int, float)):
                made.append(data)
            return _original(data, *args, **kwargs)

        monkeypatch.setattr(torch, name, spy)
    before = [keras.ops.convert_to_numpy(w) for w in model.non_trainable_weights]
    model(x, training=True)
    after = [keras.ops.convert_to_numpy(w) for w in model.non_trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))  # it learned
    assert made == []


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch's eager steps")
@pytest.mark.parametrize("network", ["krotov_hopfield", "softhebb_mnist"])
def test_an_eager_learning_call_reads_the_device_once(network, monkeypatch):
    # Each read of a tensor's value on the host waits for the device: an eager
    # learning call reads its two checks (finite inputs, finite result) together.
    import torch

    from keras_hebbian import models

    model, x = _competitive_network(network)
    reads = []
    for name in ("__bool__", "item", "numpy", "tolist"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    before = [keras.ops.convert_to_numpy(w) for w in model.non_trainable_weights]
    reads.clear()
    model(x, training=True)
    layers = len(models.hebbian_layers(model))
    assert len(reads) == layers, reads
    after = [keras.ops.convert_to_numpy(w) for w in model.non_trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))  # it learned
