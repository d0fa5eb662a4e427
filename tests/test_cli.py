"""The command-line tool, end to end, in subprocesses."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


BACKEND = os.environ.get("KERAS_BACKEND", "jax")
SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-hebbian")


def run(*args, cwd=None, env=None):
    if env is None:
        env = dict(os.environ)
        env.setdefault("KERAS_BACKEND", "jax")
    return subprocess.run([sys.executable, "-m", "keras_hebbian.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


def fresh_env(home, **variables):
    """The environment of a new user: an empty HOME, no KERAS_BACKEND, no local data."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERAS_BACKEND", "KERAS_HOME", "KERAS_HEBBIAN_DATA")}
    env["HOME"] = str(home)
    env.update(variables)
    return env


def one_error_line(result, code=1):
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "keras-hebbian" in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


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
    wins = np.array(metrics["unit_wins"])
    assert wins.shape == (16,) and wins.sum() == 1347  # every training image has one winner
    assert metrics["units_won"] == np.count_nonzero(wins) / 16
    assert f"{np.count_nonzero(wins)} of 16 units won a training sample" in result.stdout
    assert "loss" not in result.stdout  # no constant zero loss in the progress bar
    assert "hebbian_dense/norm_distance" in result.stdout
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


def _installed(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_console_script_runs_on_the_backend_asked_for(tmp_path, how):
    """A new user's HOME (no keras.json); the backend by --backend or KERAS_BACKEND."""
    home, out = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    args = [SCRIPT, "train", "--units", "8", "--epochs", "1", "--out", str(out)]
    if how == "flag":
        env, args = fresh_env(home), args + ["--backend", BACKEND]
    else:
        env = fresh_env(home, KERAS_BACKEND=BACKEND)
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["versions"]["backend"] == BACKEND
    assert f"backend {BACKEND}" in result.stdout


def test_console_script_takes_the_backend_of_keras_json(tmp_path):
    home, out = tmp_path / "home", tmp_path / "run"
    (home / ".keras").mkdir(parents=True)
    (home / ".keras" / "keras.json").write_text(json.dumps({"backend": BACKEND}))
    result = subprocess.run([SCRIPT, "train", "--units", "8", "--epochs", "1", "--out", str(out)],
                            capture_output=True, text=True, env=fresh_env(home), timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["versions"]["backend"] == BACKEND


def test_backend_order_without_a_choice(tmp_path, monkeypatch):
    """--backend, else KERAS_BACKEND, else keras.json's if installed, else jax, torch, tensorflow."""
    from keras_hebbian import cli

    monkeypatch.delitem(sys.modules, "keras")  # as before Keras is imported
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    installed = {"jax": False, "torch": True, "tensorflow": True}
    monkeypatch.setattr(cli, "_installed", lambda name: installed[name])
    assert cli.select_backend() == "torch" and os.environ["KERAS_BACKEND"] == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    assert cli.select_backend() == "tensorflow"
    monkeypatch.delenv("KERAS_BACKEND")
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"backend": "jax"}))  # not installed
    assert cli.select_backend() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert cli.select_backend() == "tensorflow"
    assert cli.select_backend("torch") == "torch"
    with pytest.raises(cli.UsageError, match=r'backend .jax. is not installed: pip install "keras-hebbian\[jax\]"'):
        cli.select_backend("jax")
    monkeypatch.setenv("KERAS_BACKEND", "mxnet")
    with pytest.raises(cli.UsageError, match="KERAS_BACKEND='mxnet' is not a backend"):
        cli.select_backend()
    monkeypatch.delenv("KERAS_BACKEND")
    installed.update(torch=False, tensorflow=False)
    with pytest.raises(cli.UsageError, match="no Keras backend is installed"):
        cli.select_backend()


def test_backend_not_installed_or_already_imported_is_one_line(tmp_path, monkeypatch, capsys):
    from keras_hebbian import cli

    other = next(name for name in cli.BACKENDS if name != BACKEND)
    # Keras is imported in this process: another backend cannot be chosen.
    assert cli.main(["train", "--backend", other, "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"already imported with backend '{BACKEND}'" in error
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setattr(cli, "_installed", lambda name: name != other)
    monkeypatch.setenv("KERAS_BACKEND", BACKEND)
    assert cli.main(["train", "--backend", other, "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error == (f"keras-hebbian: error: backend '{other}' is not installed: "
                     f'pip install "keras-hebbian[{other}]"\n')


def test_mnist_download_that_fails_is_one_line(tmp_path):
    """No local copy and no network (a proxy that refuses): one line, exit 1."""
    nowhere = "http://127.0.0.1:9"
    env = fresh_env(tmp_path, KERAS_BACKEND=BACKEND, HTTPS_PROXY=nowhere, https_proxy=nowhere,
                    HTTP_PROXY=nowhere, http_proxy=nowhere, NO_PROXY="", no_proxy="")
    result = run("train", "--dataset", "mnist", "--out", str(tmp_path / "run"), env=env)
    line = one_error_line(result)
    assert "MNIST could not be downloaded" in line and "--dataset PATH" in line
    assert "KERAS_HEBBIAN_DATA" in line


def test_mnist_download_failure_in_process(tmp_path, monkeypatch, capsys):
    import keras

    from keras_hebbian import cli, datasets

    def unreachable():
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- refused")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", unreachable)
    monkeypatch.delenv("KERAS_HEBBIAN_DATA", raising=False)
    with pytest.raises(ConnectionError, match="MNIST could not be downloaded"):
        datasets.load_mnist()
    assert cli.main(["train", "--dataset", "mnist", "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("keras-hebbian: error: MNIST could not be downloaded")
    assert error.count("\n") == 1


def test_a_file_that_is_not_a_model_is_one_line(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_text("not a zip file")
    line = one_error_line(run("evaluate", str(bad)))
    assert "could not be read as a Keras model" in line
