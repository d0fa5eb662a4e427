"""The command-line tool, end to end, in subprocesses."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def run(*args, cwd=None):
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    return subprocess.run([sys.executable, "-m", "keras_hebbian.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    backend = os.environ.get("KERAS_BACKEND", "jax")
    result = run("train", "--model", "krotov", "--units", "16", "--epochs", "2",
                 "--backend", backend, "--out", str(out))
    return result, out


def test_train_writes_model_metrics_and_figure(trained):
    from PIL import Image

    result, out = trained
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    assert "Epoch 2/2" in result.stdout  # Keras' progress bar
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.5 < metrics["accuracy"] <= 1.0
    assert 0.0 < metrics["random_features_accuracy"] <= 1.0
    assert metrics["config"]["model"] == "krotov" and metrics["config"]["units"] == 16
    assert metrics["versions"]["backend"] == os.environ.get("KERAS_BACKEND", "jax")
    assert metrics["unsupervised_seconds"] > 0
    assert (out / "model.keras").stat().st_size > 0
    image = np.asarray(Image.open(out / "receptive_fields.png").convert("L"), dtype="float32")
    assert min(image.shape) >= 100 and image.std() > 10


def test_evaluate_and_show_a_saved_model(trained):
    _, out = trained
    evaluated = run("evaluate", str(out / "model.keras"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "test accuracy" in evaluated.stdout
    shown = run("show", str(out / "model.keras"), "--out", str(out / "shown.png"))
    assert shown.returncode == 0, shown.stderr
    assert "hebbian_dense" in shown.stdout and (out / "shown.png").exists()


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["train", "--model", "hopfield"], 2, "invalid choice: 'hopfield'"),
        (["train", "--backend", "mxnet"], 2, "invalid choice: 'mxnet'"),
        (["train", "--epochs", "many"], 2, "invalid int value: 'many'"),
        (["train", "--units", "0"], 1, "--units must be >= 1 (got 0)"),
        (["train", "--dataset", "/nonexistent/mnist.npz"], 1, "MNIST file not found"),
        (["evaluate", "/nonexistent/model.keras"], 1, "no such model file"),
        ([], 2, "the following arguments are required"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, args, code, message):
    result = run(*args, "--out", str(tmp_path)) if args[:1] == ["train"] else run(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "keras-hebbian" in line]) == 1
