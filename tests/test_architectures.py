"""The published SoftHebb architectures against the paper's presets, and their benchmarks.

The expected values are those of the paper's code (Journe et al., ICLR 2023,
`presets.json`: models `4SoftHebbCnnCIFAR`, `5SoftHebbCnnSTL` and
`6SoftHebbCnnImNet`); block by block: filters, kernel, inverse
temperature, learning rate, Triangle power, adaptive-rate exponent, pooling
`(kind, window, stride, zero padding)` and the block's output shape.
"""

import json
import math
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hebbian import models, recipes
from keras_hebbian.layers import HebbianConv2D, Triangle

ROOT = pathlib.Path(__file__).resolve().parent.parent

PRESETS = {
    "cifar10": (models.softhebb_cifar10, (32, 32, 3), [
        (96, 5, 1.0, 0.08, 0.7, 0.5, ("max", 4, 2, 1), (16, 16, 96)),
        (384, 3, 0.65, 0.005, 1.4, 0.5, ("max", 4, 2, 1), (8, 8, 384)),
        (1536, 3, 0.25, 0.01, 1.0, 0.5, ("avg", 2, 2, 0), (4, 4, 1536)),
    ], 24576),
    "stl10": (models.softhebb_stl10, (96, 96, 3), [
        (96, 5, 1.0, 0.08, 0.7, 0.5, ("avg", 4, 2, 1), (48, 48, 96)),
        (384, 3, 0.65, 0.005, 0.7, 0.5, ("max", 4, 2, 1), (24, 24, 384)),
        (1536, 3, 0.45, 0.01, 1.4, 0.5, ("avg", 4, 2, 1), (12, 12, 1536)),
        (6144, 3, 0.25, 0.01, 1.0, 0.5, ("avg", 2, 2, 0), (6, 6, 6144)),
    ], 221184),
    "imagenet": (models.softhebb_imagenet, (160, 160, 3), [
        (48, 5, 1.1, 0.08, 0.7, 0.75, ("max", 4, 2, 1), (80, 80, 48)),
        (192, 3, 0.7, 0.01, 0.7, 0.75, ("max", 4, 2, 1), (40, 40, 192)),
        (768, 3, 0.5, 0.01, 0.7, 0.75, ("max", 4, 2, 1), (20, 20, 768)),
        (3072, 3, 0.4, 0.01, 1.4, 0.75, ("max", 4, 2, 1), (10, 10, 3072)),
        (12288, 3, 0.25, 0.01, 1.0, 0.75, ("avg", 2, 2, 0), (5, 5, 12288)),
    ], 307200),
}


def _pooling(layers):
    """`(kind, window, stride, zero padding)` of a block's pooling layers."""
    pool = layers[-1]
    kind = "max" if isinstance(pool, keras.layers.MaxPooling2D) else "avg"
    if len(layers) == 2:  # ZeroPadding2D, then pooling without padding
        assert isinstance(layers[0], keras.layers.ZeroPadding2D) and pool.padding == "valid"
        padding = layers[0].padding[0][0]
        assert layers[0].padding == ((padding, padding), (padding, padding))
    else:
        # "same" windows of 4 and stride 2 pad one pixel each side on even sizes
        padding = {"same": (pool.pool_size[0] - pool.strides[0]) // 2, "valid": 0}[pool.padding]
    assert pool.pool_size[0] == pool.pool_size[1] and pool.strides[0] == pool.strides[1]
    return kind, pool.pool_size[0], pool.strides[0], padding


def _blocks(model):
    """The model's blocks: lists of layers, each starting at a BatchNormalization."""
    blocks = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            blocks.append([])
        if blocks and not isinstance(layer, keras.layers.Flatten):
            blocks[-1].append(layer)
    return blocks


@pytest.mark.parametrize("dataset", sorted(PRESETS))
def test_published_architecture_matches_the_papers_preset(dataset, monkeypatch):
    # The full-width networks, built on an Input without data; zero initial
    # filters spare the seconds of drawing a billion random numbers.
    fan_ins = []

    def zeros(fan_in, seed=None):
        fan_ins.append(fan_in)
        return keras.initializers.Zeros()

    monkeypatch.setattr(recipes, "softhebb_conv_initializer", zeros)
    build, input_shape, expected, features = PRESETS[dataset]
    model = build()
    # each block's initial filter scale, 25 / sqrt(fan_in), from its own fan-in
    channels = [input_shape[-1]] + [block[0] for block in expected[:-1]]
    assert fan_ins == [c * block[1] ** 2 for c, block in zip(channels, expected)]
    assert model.input_shape == (None, *input_shape)
    blocks = _blocks(model)
    assert len(blocks) == len(expected)
    for block, (filters, kernel, inverse_t, rate, power, rate_power, pool, shape) in zip(
            blocks, expected):
        norm, conv, triangle, *pooling = block
        assert not norm.center and not norm.scale
        assert isinstance(conv, HebbianConv2D) and isinstance(triangle, Triangle)
        assert (conv.filters, conv.kernel_size, conv.padding) == (filters, (kernel, kernel), "reflect")
        assert math.isclose(1.0 / conv.rule.temperature, inverse_t, rel_tol=1e-9)
        assert math.isclose(conv.learning_rate, rate) and math.isclose(triangle.power, power)
        assert conv.rule.power == rate_power and conv.rule.anti_hebbian and conv.rule.adaptive
        assert _pooling(pooling) == pool
        assert tuple(pooling[-1].output.shape[1:]) == shape
    assert model.output_shape == (None, features)
    assert features == int(np.prod(expected[-1][-1]))


def _pool_reference(x, kind, window, stride, padding):
    """PyTorch's MaxPool2d / AvgPool2d (padding counted in the average), in NumPy."""
    fill = -np.inf if kind == "max" else 0.0
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), constant_values=fill)
    size = (x.shape[1] - window) // stride + 1
    out = np.empty((x.shape[0], size, size, x.shape[3]), "float32")
    for i in range(size):
        for j in range(size):
            patch = x[:, i * stride:i * stride + window, j * stride:j * stride + window]
            out[:, i, j] = patch.max(axis=(1, 2)) if kind == "max" else patch.mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("pool, reference", [("max", ("max", 4, 2, 1)), ("avg", ("avg", 2, 2, 0)),
                                             ("avg4", ("avg", 4, 2, 1))])
def test_block_pooling_computes_the_papers_pooling(pool, reference):
    x = np.random.default_rng(0).uniform(0.0, 1.0, size=(2, 12, 12, 3)).astype("float32")
    pooling = models.softhebb_block(4, 3, 3, 1.0, 0.01, 1.0, pool=pool)[3:]
    y = x
    for layer in pooling:
        y = layer(y)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), _pool_reference(x, *reference),
                               rtol=1e-5, atol=1e-6)


def test_block_rejects_an_unknown_pooling():
    with pytest.raises(ValueError, match="`pool` must be one of"):
        models.softhebb_block(4, 3, 3, 1.0, 0.01, 1.0, pool="avg3")


BENCHMARKS = {
    "cifar10_conv.py": ["--train", "40", "--test", "20", "--width", "0.02", "--head-epochs", "1"],
    "stl10_conv.py": ["--train", "20", "--test", "10", "--unlabeled", "20", "--width", "0.02",
                      "--head-epochs", "1", "--training", "together"],
}


@pytest.fixture(scope="module")
def benchmark_runs(tmp_path_factory):
    """Both benchmarks on synthetic images, started at once in subprocesses."""
    folder = tmp_path_factory.mktemp("benchmarks")
    runs = {}
    for script, options in BENCHMARKS.items():
        path = folder / f"{script}.json"
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / script), "--synthetic", "--json", str(path),
             *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
        )
        runs[script] = (process, path)
    yield runs
    for process, _ in runs.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def _finished(benchmark_runs, script):
    process, path = benchmark_runs[script]
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return stdout, json.loads(path.read_text())


def test_cifar10_benchmark_runs_end_to_end_on_synthetic_images(benchmark_runs):
    stdout, run = _finished(benchmark_runs, "cifar10_conv.py")
    line = re.search(r"CIFAR-10 test accuracy (\d\.\d{4}) .*the paper's: 0\.803", stdout)
    assert line, stdout
    assert 0.0 <= float(line.group(1)) <= 1.0
    assert run["mean_test_accuracy"] == pytest.approx(float(line.group(1)), abs=1e-4)
    # 32x32 images, widths round(0.02 * (96, 384, 1536)) = (2, 8, 31): 4 x 4 x 31 features
    assert [row["features"] for row in run["rows"]] == [4 * 4 * 31]
    assert run["args"]["training"] == "greedy" and run["args"]["batch_size"] == 10


def test_stl10_benchmark_runs_end_to_end_on_synthetic_images(benchmark_runs):
    stdout, run = _finished(benchmark_runs, "stl10_conv.py")
    line = re.search(r"STL-10 test accuracy (\d\.\d{4}) .*the paper's: 0\.762", stdout)
    assert line, stdout
    assert 0.0 <= float(line.group(1)) <= 1.0
    assert "20 unlabelled / 20 labelled training images, 10 test images" in stdout
    # 96x96 images, widths round(0.02 * (96, 384, 1536, 6144)) = (2, 8, 31, 123): 6 x 6 x 123
    assert [row["features"] for row in run["rows"]] == [6 * 6 * 123]
    assert run["args"]["augment"] and run["args"]["batch_size"] == 32
