import keras
import numpy as np
import pytest

from keras_hebbian import rules
from keras_hebbian.layers import HebbianDense
from keras_hebbian.rules import Presynaptic
from keras_hebbian.rules.transforms import AddDecay, Chain, ScaleByMax, ScaleByNormDistance


def _tensor(a):
    return keras.ops.convert_to_tensor(np.asarray(a, "float32"))


def _numpy(t):
    return keras.ops.convert_to_numpy(t)


def _apply(transform, delta, kernel):
    return _numpy(transform(_tensor(delta), _tensor(kernel)))


def _update(rule, x, w, state=None):
    y = x @ _numpy(rule.effective_kernel(_tensor(w)))
    state = {k: _tensor(v) for k, v in (state or {}).items()}
    delta, new_state = rule.compute_update(Presynaptic(_tensor(x)), _tensor(y), _tensor(w), state)
    return _numpy(delta), {k: _numpy(v) for k, v in new_state.items()}


_SHAPES = [(5, 4), (3, 3, 2, 4)]  # a dense kernel and a convolution's, 4 units


@pytest.mark.parametrize("shape", _SHAPES)
def test_add_decay_against_numpy(shape):
    rng = np.random.default_rng(0)
    delta, kernel = rng.normal(size=shape), rng.normal(size=shape)
    got = _apply(rules.add_decay(0.3), delta, kernel)
    np.testing.assert_allclose(got, delta - 0.3 * kernel, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", _SHAPES)
def test_scale_by_max_against_numpy(shape):
    rng = np.random.default_rng(1)
    delta = rng.normal(size=shape).astype("float32")
    delta[..., 2] = 0.0  # a unit that does not change
    kernel = rng.normal(size=shape)
    got = _apply(rules.scale_by_max(), delta, kernel)
    np.testing.assert_allclose(got, delta / np.abs(delta).max(), rtol=1e-6)
    assert np.abs(got).max() == pytest.approx(1.0)

    got = _apply(rules.scale_by_max(per_unit=True), delta, kernel)
    flat = delta.reshape(-1, shape[-1])
    largest = np.abs(flat).max(axis=0)
    expected = delta / np.where(largest > 0, largest, 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(np.abs(got.reshape(-1, shape[-1])).max(axis=0), [1, 1, 0, 1],
                               rtol=1e-6)


def test_scale_by_max_keeps_a_zero_change_zero():
    zeros = np.zeros((3, 4), "float32")
    for per_unit in (False, True):
        got = _apply(rules.scale_by_max(per_unit=per_unit), zeros, np.ones((3, 4)))
        assert np.all(np.isfinite(got)) and np.all(got == 0.0)


@pytest.mark.parametrize("shape", _SHAPES)
@pytest.mark.parametrize("power, target", [(0.5, 1.0), (1.5, 2.0)])
def test_scale_by_norm_distance_against_numpy(shape, power, target):
    rng = np.random.default_rng(2)
    delta, kernel = rng.normal(size=shape), rng.normal(size=shape)
    norms = np.linalg.norm(kernel.reshape(-1, shape[-1]), axis=0)
    expected = delta * (np.abs(norms - target) + 1e-10) ** power
    got = _apply(rules.scale_by_norm_distance(power=power, target=target), delta, kernel)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_which_transforms_keep_columns():
    assert rules.add_decay(0.1).keeps_columns is False
    assert rules.scale_by_max().keeps_columns is True
    assert rules.scale_by_max(per_unit=True).keeps_columns is True
    assert rules.scale_by_norm_distance().keeps_columns is True
    assert rules.Transform.keeps_columns is True


_TRANSFORMS = [rules.add_decay(0.25), rules.scale_by_max(), rules.scale_by_max(per_unit=True),
               rules.scale_by_norm_distance(power=1.5, target=2.0)]


@pytest.mark.parametrize("transform", _TRANSFORMS, ids=repr)
def test_transforms_round_trip(transform):
    config = keras.saving.serialize_keras_object(transform)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(transform)
    assert restored.get_config() == transform.get_config()
    restored = rules.deserialize(rules.serialize(transform))
    assert type(restored) is type(transform)
    assert restored.get_config() == transform.get_config()
    # A transform is not a rule: a layer given one says how to use it.
    for identifier in (transform, rules.serialize(transform)):
        with pytest.raises(ValueError, match=r"is a transform .* `keras_hebbian.rules.chain"):
            rules.get(identifier)


def test_transform_configs_and_reprs():
    assert rules.add_decay(0.25).get_config() == {"rate": 0.25}
    assert rules.scale_by_max().get_config() == {"per_unit": False}
    assert rules.scale_by_norm_distance().get_config() == {"power": 0.5, "target": 1.0}
    assert repr(rules.add_decay(0.25)) == "add_decay(rate=0.25)"
    assert repr(rules.scale_by_max(per_unit=True)) == "scale_by_max(per_unit=True)"
    assert repr(rules.scale_by_norm_distance()) == "scale_by_norm_distance(power=0.5, target=1.0)"
    chain = rules.chain(rules.Oja(), rules.scale_by_max(per_unit=True))
    assert repr(chain) == "chain(Oja(), scale_by_max(per_unit=True))"
    assert isinstance(chain, rules.Rule) and isinstance(chain, Chain)


@pytest.mark.parametrize(
    "chain",
    [rules.chain(rules.Oja(), rules.scale_by_max(per_unit=True)),
     rules.chain("bcm", rules.add_decay(0.1), rules.scale_by_norm_distance(0.3)),
     rules.chain(rules.chain("krotov", rules.scale_by_max()), rules.add_decay(0.2)),
     rules.chain(rules.Hebb(decay=0.5))],
    ids=repr,
)
def test_chain_round_trips(chain):
    config = rules.serialize(chain)
    restored = rules.get(config)
    assert type(restored) is Chain
    assert restored.get_config() == chain.get_config()
    assert repr(restored) == repr(chain)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(chain))
    assert restored.get_config() == chain.get_config()


def test_chain_config_holds_the_rule_and_the_transforms():
    config = rules.chain(rules.Hebb(), rules.add_decay(0.1)).get_config()
    assert config["rule"]["class_name"] == "Hebb"
    assert config["rule"]["config"] == {"decay": 0.0}
    assert [t["class_name"] for t in config["transforms"]] == ["AddDecay"]
    assert config["transforms"][0]["config"] == {"rate": 0.1}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: rules.chain("oja", 3),
         r"Every transform of `chain` must be a `keras_hebbian.rules.Transform`.*"
         r"Received: transforms\[0\]=3"),
        (lambda: rules.chain("oja", rules.add_decay(0.1), "scale_by_max"),
         r"Received: transforms\[1\]='scale_by_max'"),
        (lambda: rules.chain(3), r"`rule` must be a rule name.*Received: rule=3"),
        (lambda: rules.chain("ojah"), r"Unknown `rule`: 'ojah'"),
        (lambda: rules.chain(rules.add_decay(0.1)),
         r"The first argument of `chain` must be a rule.*Received: rule=add_decay\(rate=0.1\)"),
        (lambda: rules.add_decay(-0.1), r"`rate` must be a finite number >= 0"),
        (lambda: rules.scale_by_max(per_unit="unit"),
         r"`per_unit` must be True or False. Received: per_unit='unit'"),
        (lambda: rules.scale_by_norm_distance(power=0.0), r"`power` must be a finite number > 0"),
        (lambda: rules.scale_by_norm_distance(target=-1.0),
         r"`target` must be a finite number >= 0"),
    ],
)
def test_errors_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_chain_keeps_the_inner_rules_state_kernel_and_fixed_point():
    krotov = rules.chain(rules.KrotovHopfield(p=4, k=2), rules.scale_by_max(per_unit=True))
    assert krotov.norm_order == 4.0 and krotov.fixed_point_norm == 1.0
    w = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(_numpy(krotov.effective_kernel(_tensor(w))),
                               np.sign(w) * np.abs(w) ** 3, rtol=1e-5)
    with pytest.raises(ValueError, match=r"`k` must be at most the number of units \(1\)"):
        krotov.state_spec((3, 1))
    bcm = rules.chain(rules.BCM(), rules.add_decay(0.1))
    assert set(bcm.state_spec((3, 4))) == {"threshold"}
    assert bcm.fixed_point_norm is None and bcm.norm_order == 2.0
    layer = HebbianDense(4, rule=bcm)
    layer.build((None, 3))
    assert set(layer.rule_state) == {"threshold"}


@pytest.mark.parametrize(
    "make",
    [lambda r: rules.Hebb(decay=r), lambda r: rules.AntiHebbian(sparsity=0.2, decay=r),
     lambda r: rules.BCM(threshold_rate=0.5, decay=r),
     lambda r: rules.Covariance(momentum=0.5, decay=r)],
    ids=["hebb", "anti_hebbian", "bcm", "covariance"],
)
def test_decay_argument_is_add_decay(make):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 5)).astype("float32")
    w = rng.normal(size=(5, 3)).astype("float32")
    plain = make(0.0)
    spec = plain.state_spec(w.shape)
    state = {k: np.full(shape, 0.5, "float32") for k, (shape, _) in spec.items()}
    built_in, built_in_state = _update(make(0.1), x, w, state)
    chained, chained_state = _update(rules.chain(plain, rules.add_decay(0.1)), x, w, state)
    np.testing.assert_allclose(chained, built_in, rtol=1e-6, atol=1e-7)
    for key in built_in_state:
        np.testing.assert_allclose(chained_state[key], built_in_state[key], rtol=1e-6)
    assert repr(make(0.1).transforms()) == "[add_decay(rate=0.1)]"
    assert plain.transforms() == []


def test_chain_of_hebb_and_decay_is_hebb_with_decay():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 5)).astype("float32")
    w = rng.normal(size=(5, 3)).astype("float32")
    chained, _ = _update(rules.chain(rules.Hebb(), rules.add_decay(0.1)), x, w)
    np.testing.assert_allclose(chained, _update(rules.Hebb(decay=0.1), x, w)[0], rtol=1e-6)
    np.testing.assert_allclose(chained, x.T @ (x @ w) / 7 - 0.1 * w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_normalize", [True, "unit", False])
@pytest.mark.parametrize("adaptive", [True, False])
def test_softhebb_is_its_core_update_and_transforms(max_normalize, adaptive):
    rng = np.random.default_rng(5)
    x = rng.random((8, 5)).astype("float32")
    w = rng.normal(size=(5, 4)).astype("float32")
    rule = rules.SoftHebb(temperature=0.5, adaptive=adaptive, power=0.7,
                          max_normalize=max_normalize)
    transforms = []
    if max_normalize:
        transforms.append(rules.scale_by_max(per_unit=max_normalize == "unit"))
    if adaptive:
        transforms.append(rules.scale_by_norm_distance(power=0.7))
    assert repr(rule.transforms()) == repr(transforms)
    core = rules.SoftHebb(temperature=0.5, adaptive=False, max_normalize=False)
    chained, _ = _update(rules.chain(core, *transforms), x, w)
    np.testing.assert_allclose(_update(rule, x, w)[0], chained, rtol=1e-6, atol=1e-7)


def test_builtin_competitive_transforms():
    assert repr(rules.KrotovHopfield().transforms()) == "[scale_by_max(per_unit=False)]"
    assert rules.WinnerTakeAll().transforms() == []
    assert repr(rules.WinnerTakeAll(max_normalize=True).transforms()) == (
        "[scale_by_max(per_unit=False)]")


def test_chain_of_oja_and_per_unit_max_trains_like_numpy():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(96, 6)).astype("float32")
    rule = rules.chain(rules.Oja(), rules.scale_by_max(per_unit=True))
    layer = HebbianDense(3, rule=rule, learning_rate=0.05, seed=0)
    model = keras.Sequential([keras.Input((6,)), layer])
    model.compile()
    w = layer.kernel.numpy().astype("float64")
    model.fit(x, batch_size=32, epochs=2, shuffle=False, verbose=0)
    for _ in range(2):
        for start in range(0, len(x), 32):
            batch = x[start:start + 32].astype("float64")
            y = batch @ w
            delta = batch.T @ y / len(batch) - w * (y**2).mean(axis=0)
            delta = delta / np.abs(delta).max(axis=0)  # each unit by its own largest entry
            w = w + 0.05 * delta
    assert int(layer.iterations.numpy()) == 6
    np.testing.assert_allclose(layer.kernel.numpy(), w, rtol=1e-4, atol=1e-5)
    assert rules.serialize(layer.rule) == rules.serialize(rule)


def test_chain_of_a_competitive_rule_with_decay_updates_the_whole_kernel():
    rng = np.random.default_rng(7)
    x = rng.random((4, 6)).astype("float32")
    krotov = rules.KrotovHopfield(p=2, k=2)
    layer = HebbianDense(40, rule=rules.chain(krotov, rules.add_decay(0.5)), learning_rate=0.1,
                         seed=0)
    layer(x)
    w = layer.kernel.numpy().copy()
    layer(x, training=True)
    expected = w + 0.1 * (_update(krotov, x, w)[0] - 0.5 * w)
    np.testing.assert_allclose(layer.kernel.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.all(layer.kernel.numpy() != w)  # decay moved every weight


def test_chain_saves_and_loads(tmp_path):
    x = np.abs(np.random.default_rng(8).normal(size=(64, 5))).astype("float32")
    rule = rules.chain(rules.BCM(threshold_rate=0.5), rules.add_decay(0.05),
                       rules.scale_by_max(per_unit=True))
    layer = HebbianDense(3, rule=rule, learning_rate=0.02, seed=1)
    model = keras.Sequential([keras.Input((5,)), layer])
    model.compile()
    model.fit(x, batch_size=16, shuffle=False, verbose=0)
    model.save(tmp_path / "chain.keras")
    restored = keras.saving.load_model(tmp_path / "chain.keras").layers[0]
    assert repr(restored.rule) == repr(rule)
    assert restored.rule.get_config() == rule.get_config()
    np.testing.assert_array_equal(restored.kernel.numpy(), layer.kernel.numpy())
    np.testing.assert_array_equal(restored.rule_state["threshold"].numpy(),
                                  layer.rule_state["threshold"].numpy())


@keras.saving.register_keras_serializable(package="test_transforms")
class _Winner(rules.Rule):
    """The strongest unit learns dw = x - u w: a user's sparse rule."""

    sparse_units_per_sample = 1

    def sparse_signal(self, post):
        winner = keras.ops.expand_dims(keras.ops.argmax(post, axis=-1), -1)
        return winner, keras.ops.ones_like(winner, dtype="float32")

    def transforms(self):
        return [rules.scale_by_max()]


def test_a_users_sparse_rule_gets_its_dense_and_column_updates():
    rng = np.random.default_rng(9)
    x = rng.random((10, 4)).astype("float32")
    w = rng.normal(size=(4, 6)).astype("float32")
    u = x @ w
    g = np.eye(6)[u.argmax(axis=1)]
    expected = (x.T @ g - w * (g * u).sum(0)) / len(x)
    expected = expected / np.abs(expected).max()
    rule = _Winner()
    delta, _ = _update(rule, x, w)
    np.testing.assert_allclose(delta, expected, rtol=1e-5, atol=1e-6)
    units, columns, _ = rule.compute_column_update(Presynaptic(_tensor(x)), _tensor(u),
                                                   _tensor(w), {})
    np.testing.assert_allclose(_numpy(columns), expected[:, _numpy(units)], rtol=1e-5, atol=1e-6)
    assert rules.get(rules.serialize(rule)).sparse_units_per_sample == 1


def test_a_column_update_with_a_transform_that_changes_every_weight_raises():
    class Decaying(_Winner):
        def transforms(self):
            return [rules.add_decay(0.1)]

    x = _tensor(np.ones((2, 3)))
    w = _tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"changes every weight \(add_decay\(rate=0.1\)\)"):
        Decaying().compute_column_update(Presynaptic(x), keras.ops.matmul(x, w), w, {})


def test_a_dense_rule_has_no_column_update():
    x = _tensor(np.ones((2, 3)))
    w = _tensor(np.ones((3, 4)))
    for rule in [rules.Oja(), rules.chain("wta", rules.add_decay(0.1))]:
        with pytest.raises(ValueError, match="has no column update"):
            rule.compute_column_update(Presynaptic(x), keras.ops.matmul(x, w), w, {})


def test_a_rule_with_no_update_says_what_to_implement():
    with pytest.raises(NotImplementedError, match=r"must implement `compute_update\(\)`"):
        rules.Rule().compute_update(Presynaptic(_tensor(np.ones((2, 3)))),
                                    _tensor(np.ones((2, 4))), _tensor(np.ones((3, 4))), {})


def test_classes_behind_the_constructors():
    assert type(rules.add_decay(0.1)) is AddDecay
    assert type(rules.scale_by_max()) is ScaleByMax
    assert type(rules.scale_by_norm_distance()) is ScaleByNormDistance
    assert all(isinstance(t, rules.Transform) for t in _TRANSFORMS)
