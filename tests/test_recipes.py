"""The recipes build exactly what the literal constructions they replaced built.

Each test builds a layer (or network) twice: through `keras_hebbian.recipes`
(as the command line, the models, the estimators and the benchmarks now do)
and by the literal construction those callers used before, and compares the
configs and the initial weights. The numbers of each recipe are also pinned
literally, so that a change of a recipe shows here.
"""

import argparse
import importlib.util
import math
import os

import keras
import numpy as np
import pytest

from keras_hebbian import cli, models, recipes, rules
from keras_hebbian.layers import HebbianConv2D, HebbianDense
from keras_hebbian.sklearn import HebbianFeatures

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")


def _config(layer):
    config = layer.get_config()
    config.pop("name")
    return config


def _weights(layer, input_shape):
    if not layer.built:
        layer.build(input_shape)
    return [keras.ops.convert_to_numpy(w.value) for w in layer.weights]


def assert_same_layer(built, literal, input_shape):
    assert type(built) is type(literal)
    assert _config(built) == _config(literal)
    for a, b in zip(_weights(built, input_shape), _weights(literal, input_shape), strict=True):
        np.testing.assert_array_equal(a, b)


def _rule_config(layer):
    return layer.get_config()["rule"]["config"]


def _initializer_config(layer):
    config = layer.get_config()["kernel_initializer"]
    assert config["class_name"] == "RandomNormal"
    return config["config"]


# -- the command line ---------------------------------------------------------------


def test_cli_softhebb_is_the_demo_recipe():
    model, layer, power = cli.build_model("softhebb", (8, 8, 1), 16, 3, 10, None, 0)
    literal = HebbianDense(
        16, rule=rules.SoftHebb(temperature=0.02, anti_hebbian=False, max_normalize="unit"),
        learning_rate=0.05, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0),
        seed=0)
    assert_same_layer(layer, literal, (None, 64))
    assert isinstance(model.layers[-2], keras.layers.UnitNormalization)
    assert power == 1.0
    rule = _rule_config(layer)
    assert (rule["temperature"], rule["anti_hebbian"], rule["max_normalize"]) == (0.02, False, "unit")
    assert _initializer_config(layer) == {"mean": 0.0, "stddev": 1.0, "seed": 0}
    assert layer.get_config()["learning_rate"] == 0.05


def test_cli_krotov_is_the_krotov_hopfield_recipe():
    model, layer, power = cli.build_model("krotov", (8, 8, 1), 16, 3, 10, None, 0)
    literal = HebbianDense(
        16, rule=rules.KrotovHopfield(k=7),
        learning_rate=keras.optimizers.schedules.PolynomialDecay(0.1, 30, 0.0),
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0), seed=0)
    assert_same_layer(layer, literal, (None, 64))
    assert power == 4.5
    assert _rule_config(layer) == {"p": 3.0, "k": 7, "delta": 0.4}
    rate = layer.get_config()["learning_rate"]
    assert rate["class_name"] == "PolynomialDecay"
    assert (rate["config"]["initial_learning_rate"], rate["config"]["decay_steps"],
            rate["config"]["end_learning_rate"]) == (0.1, 30, 0.0)
    # a layer smaller than k still builds: k is capped at the units
    _, small, _ = cli.build_model("krotov", (8, 8, 1), 4, 1, 1, 0.2, 0)
    assert _rule_config(small)["k"] == 4
    assert small.get_config()["learning_rate"]["config"]["decay_steps"] == 1


def test_cli_conv_initializer():
    _, layer, _ = cli.build_model("conv", (8, 8, 1), 6, 3, 10, None, 0)
    literal = HebbianConv2D(6, 3, padding="same", rule=rules.SoftHebb(temperature=1.0),
                            learning_rate=0.05,
                            kernel_initializer=keras.initializers.RandomNormal(
                                stddev=25.0 / (9 * 1) ** 0.5, seed=0),
                            seed=0)
    assert_same_layer(layer, literal, (None, 8, 8, 1))
    assert _initializer_config(layer)["stddev"] == 25.0 / 3.0


# -- the SoftHebb networks -----------------------------------------------------------


def test_block_presets_are_the_published_settings():
    cifar = [(96, 5, 1.0, 0.08, 0.7, "max", 0.5), (384, 3, 1 / 0.65, 0.005, 1.4, "max", 0.5),
             (1536, 3, 1 / 0.25, 0.01, 1.0, "avg", 0.5)]
    assert [tuple(block) for block in recipes.SOFTHEBB_CIFAR10_BLOCKS] == cifar
    assert [tuple(block) for block in recipes.SOFTHEBB_MNIST_BLOCKS] == cifar
    assert [tuple(block) for block in recipes.SOFTHEBB_MNIST_TWO_BLOCKS] == [
        (96, 5, 1.0, 0.08, 0.7, "max", 0.5), (384, 3, 1 / 0.65, 0.005, 1.4, "avg", 0.5)]
    block = recipes.SOFTHEBB_CIFAR10_BLOCKS[1]
    assert (block.filters, block.kernel_size, block.temperature, block.learning_rate,
            block.triangle_power, block.pool) == (384, 3, 1 / 0.65, 0.005, 1.4, "max")


@pytest.mark.parametrize(
    "build, specs, channels",
    [
        (lambda: models.softhebb_mnist(width=0.1, seed=3, blocks=2, first_rule="paper"),
         [(96, 5, 1.0, 0.08, 0.7, "max"), (384, 3, 1 / 0.65, 0.005, 1.4, "avg")], 1),
        (lambda: models.softhebb_mnist(width=0.1, seed=3, first_rule="paper"),
         [(96, 5, 1.0, 0.08, 0.7, "max"), (384, 3, 1 / 0.65, 0.005, 1.4, "max"),
          (1536, 3, 1 / 0.25, 0.01, 1.0, "avg")], 1),
        (lambda: models.softhebb_cifar10(input_shape=(16, 16, 3), width=0.1, seed=3),
         [(96, 5, 1.0, 0.08, 0.7, "max"), (384, 3, 1 / 0.65, 0.005, 1.4, "max"),
          (1536, 3, 1 / 0.25, 0.01, 1.0, "avg")], 3),
    ],
    ids=["mnist_2", "mnist_3", "cifar10"],
)
def test_softhebb_networks_are_built_from_the_presets(build, specs, channels):
    model = build()
    convs = [layer for layer in model.layers if isinstance(layer, HebbianConv2D)]
    triangles = [layer for layer in model.layers if layer.__class__.__name__ == "Triangle"]
    pools = [layer for layer in model.layers if layer.name.endswith("pool")]
    assert len(convs) == len(specs)
    for index, (conv, triangle, pool, spec) in enumerate(
            zip(convs, triangles, pools, specs, strict=True), 1):
        filters, kernel, temperature, rate, power, kind = spec
        filters = max(1, int(round(filters * 0.1)))
        fan_in = channels * kernel * kernel
        assert conv.filters == filters and conv.kernel_size == (kernel, kernel)
        assert _rule_config(conv)["temperature"] == temperature
        assert conv.get_config()["learning_rate"] == rate
        assert triangle.power == power
        assert isinstance(pool, keras.layers.MaxPooling2D if kind == "max"
                          else keras.layers.AveragePooling2D)
        assert _initializer_config(conv) == {"mean": 0.0, "stddev": 25.0 / math.sqrt(fan_in),
                                             "seed": 3 + index}
        literal = keras.initializers.RandomNormal(stddev=25.0 / math.sqrt(fan_in), seed=3 + index)
        expected = keras.ops.convert_to_numpy(literal((kernel, kernel, channels, filters)))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(conv.kernel.value), expected)
        channels = filters


# -- the dense recipes ---------------------------------------------------------------


def test_softhebb_dense_is_the_benchmark_layer():
    literal = HebbianDense(12, rule=rules.SoftHebb(temperature=0.02), learning_rate=0.05,
                           kernel_initializer=keras.initializers.RandomNormal(stddev=0.7, seed=1),
                           seed=1)
    assert_same_layer(recipes.softhebb_dense(12, seed=1), literal, (None, 20))
    layer = recipes.softhebb_dense(12, seed=1)
    assert _rule_config(layer)["temperature"] == 0.02
    assert _rule_config(layer)["anti_hebbian"] is True
    assert _initializer_config(layer) == {"mean": 0.0, "stddev": 0.7, "seed": 1}


def test_winner_take_all_dense():
    literal = HebbianDense(12, rule=rules.WinnerTakeAll(max_normalize=True), learning_rate=0.05,
                           kernel_initializer=keras.initializers.RandomNormal(stddev=0.7, seed=1),
                           seed=1)
    assert_same_layer(recipes.winner_take_all_dense(12, seed=1), literal, (None, 20))


def test_krotov_hopfield_dense_with_a_constant_rate():
    layer = recipes.krotov_hopfield_dense(12, None, learning_rate=0.02, seed=2, name="krotov")
    literal = HebbianDense(12, rule=rules.KrotovHopfield(p=3, k=7, delta=0.4), learning_rate=0.02,
                           kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=2),
                           seed=2, name="krotov")
    assert_same_layer(layer, literal, (None, 20))
    assert layer.name == "krotov"


def test_krotov_hopfield_features_read_unit_norm_images_through_the_shared_layer():
    layer = recipes.krotov_hopfield_dense(20, 10, seed=0)
    model = keras.Sequential([keras.Input((30,)), layer])
    model.compile()
    x = np.random.default_rng(0).uniform(size=(64, 30)).astype("float32")
    model.fit(x, epochs=2, batch_size=8, verbose=0)
    reader = recipes.krotov_hopfield_features(layer)
    kernel = layer.kernel.numpy().copy()
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    # the currents of the unit-norm images, through sign(W)|W|^(p-1) with p = 3
    np.testing.assert_allclose(reader.predict(x, verbose=0), unit @ (kernel * np.abs(kernel)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)  # reading does not train
    model.fit(x, epochs=1, batch_size=8, verbose=0)  # the reader follows the layer's kernel
    np.testing.assert_allclose(reader.predict(x, verbose=0), model.predict(unit, verbose=0),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="`layer` must be a built HebbianDense"):
        recipes.krotov_hopfield_features(keras.layers.Dense(3))


def _benchmark(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mnist_competitive_benchmark_layers():
    bench = _benchmark("mnist_competitive")
    args = argparse.Namespace(units=16, krotov_epochs=2, krotov_lr=0.1, softhebb_epochs=1,
                              softhebb_lr=0.05, softhebb_temperature=0.02, wta_epochs=1,
                              wta_lr=0.05)
    init = lambda stddev: keras.initializers.RandomNormal(stddev=stddev, seed=0)  # noqa: E731
    literal = {
        "krotov": (HebbianDense(16, rule=rules.KrotovHopfield(p=3, k=7, delta=0.4),
                                learning_rate=keras.optimizers.schedules.PolynomialDecay(
                                    0.1, 2 * bench.STEPS_PER_EPOCH, 0.0),
                                kernel_initializer=init(1.0), seed=0), 2, False),
        "softhebb": (HebbianDense(16, rule=rules.SoftHebb(temperature=0.02), learning_rate=0.05,
                                  kernel_initializer=init(0.7), seed=0), 1, True),
        "wta": (HebbianDense(16, rule=rules.WinnerTakeAll(max_normalize=True), learning_rate=0.05,
                             kernel_initializer=init(0.7), seed=0), 1, True),
        "random": (HebbianDense(16, learning_rate=0.0, kernel_initializer=init(1.0), seed=0),
                   0, False),
    }
    for name, (expected, epochs, unit_norm) in literal.items():
        layer, got_epochs, got_unit_norm = bench.make_layer(name, args, 0)
        assert (got_epochs, got_unit_norm) == (epochs, unit_norm), name
        assert_same_layer(layer, expected, (None, 784))


# -- the estimators ------------------------------------------------------------------


def test_hebbian_features_rules_and_initial_scale():
    literal = {
        "softhebb": rules.SoftHebb(temperature=0.02),
        "wta": rules.WinnerTakeAll(max_normalize=True),
        "krotov": rules.KrotovHopfield(k=7),
    }
    for name, rule in literal.items():
        made = HebbianFeatures(n_units=100, rule=name)._make_rule()
        assert rules.serialize(made) == rules.serialize(rule)
    assert HebbianFeatures(n_units=5, rule="krotov")._make_rule().k == 5
    assert recipes.SOFTHEBB_DENSE_STDDEV == 0.7
    # the first weights are the NumPy draw of scale 0.7 (epochs=0 is refused, so
    # learning_rate is made negligible instead)
    x = np.random.default_rng(0).random((10, 6))
    features = HebbianFeatures(n_units=3, learning_rate=1e-300, epochs=1, batch_size=10,
                               random_state=0).fit(x)
    expected = np.random.RandomState(0).normal(scale=0.7, size=(6, 3))
    np.testing.assert_allclose(features.kernel_, expected, rtol=1e-12)


def test_softhebb_conv_initializer():
    init = recipes.softhebb_conv_initializer(5 * 5 * 3, seed=4)
    assert init.get_config() == {"mean": 0.0, "stddev": 25.0 / math.sqrt(75), "seed": 4}
