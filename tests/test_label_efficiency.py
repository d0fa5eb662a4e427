"""The label-efficiency benchmark: its labelled subsets, and one whole run on synthetic images."""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _benchmark():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(
            "label_efficiency", ROOT / "benchmarks" / "label_efficiency.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_labelled_subsets_have_the_same_count_of_each_class_and_follow_the_seed():
    bench = _benchmark()
    labels = np.random.default_rng(0).integers(0, 10, size=2000)
    subset = bench.balanced_subset(labels, 100, seed=0)
    assert len(subset) == len(np.unique(subset)) == 100
    np.testing.assert_array_equal(np.bincount(labels[subset], minlength=10), np.full(10, 10))
    np.testing.assert_array_equal(subset, bench.balanced_subset(labels, 100, seed=0))
    assert not np.array_equal(subset, bench.balanced_subset(labels, 100, seed=1))
    np.testing.assert_array_equal(bench.balanced_subset(labels, 5000, seed=0), np.arange(2000))
    with pytest.raises(ValueError, match="multiples of the 10 classes"):
        bench.balanced_subset(labels, 105, seed=0)
    # a hundred images still get the minimum number of steps
    assert bench.epochs_for(100, 100, 50, 2000) == 2000
    assert bench.epochs_for(60000, 100, 50, 2000) == 50


def test_a_line_with_fewer_seeds_than_its_panel_names_them():
    bench = _benchmark()
    rows = [{"architecture": "conv", "method": m, "seed": s, "labels": 100, "test_accuracy": 0.9}
            for m, seeds in (("hebbian", (0, 1, 2)), ("random", (0, 1, 2)), ("backprop", (0,)))
            for s in seeds]
    rows.append({"architecture": "dense", "method": "backprop", "seed": 1, "labels": 100,
                 "test_accuracy": 0.8})
    assert bench.legend_labels(rows) == {"conv": {"backprop": "backprop (seed 0)"}, "dense": {}}


def test_a_panel_whose_lines_ran_on_different_devices_names_each_device():
    bench = _benchmark()
    rows = [{"architecture": "conv", "method": m, "seed": s, "labels": 100, "test_accuracy": 0.9,
             "device": device}
            for m, device in (("hebbian", "CPU"), ("random", "CPU"), ("backprop", "NVIDIA H200"))
            for s in (0, 1, 2)]
    rows += [{"architecture": "dense", "method": m, "seed": 0, "labels": 100,
              "test_accuracy": 0.8} for m in ("hebbian", "backprop")]
    assert bench.legend_labels(rows) == {
        "conv": {"hebbian": "hebbian (CPU)", "random": "random (CPU)",
                 "backprop": "backprop (NVIDIA H200)"},
        "dense": {}}
    rows[-1]["device"] = "NVIDIA H200"
    assert bench.legend_labels(rows)["dense"] == {"hebbian": "hebbian (CPU)",
                                                  "backprop": "backprop (NVIDIA H200)"}


def test_mnist_conv_runs_join_the_plot_as_the_conv_network_with_every_label():
    bench = _benchmark()
    recorded = {"conv_width": 1.0, "conv_batch_size": 10}
    network = {"width": 1.0, "blocks": 3, "epochs": 1, "train": 60000, "batch_size": 10,
               "first_rule": "unit", "deeper_rule": "paper"}
    run = {"args": network, "rows": [{"features": "softhebb", "seed": 0, "test_accuracy": 0.99},
                                     {"features": "random", "seed": 0, "test_accuracy": 0.98}]}
    assert bench.rows_of(run, recorded) == [
        {"architecture": "conv", "method": "hebbian", "seed": 0, "labels": 60000,
         "test_accuracy": 0.99},
        {"architecture": "conv", "method": "random", "seed": 0, "labels": 60000,
         "test_accuracy": 0.98}]
    # this script's own rows pass as they are
    own = {"args": {}, "rows": [{"architecture": "dense", "method": "random", "seed": 0,
                                 "labels": 100, "test_accuracy": 0.5}]}
    assert bench.rows_of(own, recorded) == own["rows"]
    # another network cannot join
    for change in ({"width": 0.5}, {"first_rule": "paper"}, {"deeper_rule": "unit"},
                   {"blocks": 2}, {"batch_size": 64}):
        with pytest.raises(SystemExit, match=next(iter(change))):
            bench.rows_of({**run, "args": {**network, **change}}, recorded)
    # the untrained network does not depend on the rules it would learn by
    control = {"args": {**network, "first_rule": "paper"}, "rows": run["rows"][1:]}
    assert [r["method"] for r in bench.rows_of(control, recorded)] == ["random"]


@pytest.mark.parametrize("architecture, rate", [("dense", 1e-3), ("conv", 1e-4)])
def test_each_backprop_twin_starts_at_its_own_learning_rate(architecture, rate, monkeypatch):
    bench = _benchmark()
    args = bench.argparse.Namespace(synthetic=True, train=40, test=10, data=None)
    bench.load(args)
    args.__dict__.update(dense_units=8, conv_width=0.03, backprop_batch_size=20,
                         backprop_epochs=1, min_steps=1, dense_backprop_learning_rate=1e-3,
                         conv_backprop_learning_rate=1e-4)
    started = []
    adam = keras.optimizers.Adam

    def recording_adam(learning_rate, **kwargs):
        started.append(float(learning_rate.initial_learning_rate))
        return adam(learning_rate, **kwargs)

    monkeypatch.setattr(bench.keras.optimizers, "Adam", recording_adam)
    bench.backprop_accuracy(args, architecture, np.arange(20), seed=0)
    assert started == [pytest.approx(rate)]


def test_the_conv_backprop_twin_has_the_blocks_with_relu_as_the_paper_trains_them():
    from keras_hebbian import layers, models

    bench = _benchmark()
    args = bench.argparse.Namespace(conv_width=0.05, x_image=np.zeros((2, 28, 28, 1), "float32"))
    twin = bench.backprop_network(args, "conv", seed=0)
    hebbian = models.softhebb_mnist(width=0.05, seed=0)
    convs = [layer for layer in twin.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [layer.filters for layer in models.hebbian_layers(hebbian)]
    assert not any(isinstance(layer, layers.Triangle) for layer in twin.layers)
    assert sum(isinstance(layer, keras.layers.ReLU) for layer in twin.layers) == len(convs)
    assert twin.output_shape == (None, 10)


def test_the_conv_backprop_twin_keeps_the_statistics_of_the_batches_it_trains_on():
    # With a learning rate of zero the batch-norm inputs stay the same, so after
    # 100 steps the moving statistics must be those of the training batch.
    bench = _benchmark()
    x = np.random.default_rng(0).uniform(size=(64, 28, 28, 1)).astype("float32")
    args = bench.argparse.Namespace(conv_width=0.05, x_image=x)
    twin = bench.backprop_network(args, "conv", seed=0)
    twin.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    twin.fit(x, np.arange(64) % 10, epochs=100, batch_size=64, verbose=0)
    norms = [layer for layer in twin.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3
    for norm in norms:
        inputs = keras.ops.convert_to_numpy(keras.Model(twin.inputs, norm.input)(x))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_mean),
                                   inputs.mean(axis=(0, 1, 2)), rtol=0.02, atol=1e-3)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_variance),
                                   inputs.var(axis=(0, 1, 2)), rtol=0.02, atol=1e-3)


def test_features_of_the_labelled_images_are_theirs_among_all_images():
    bench = _benchmark()
    args = bench.argparse.Namespace(synthetic=True, train=200, test=50, data=None,
                                    dense_units=12, dense_epochs=1, batch_size=100)
    bench.load(args)
    labelled = np.unique(np.concatenate([bench.balanced_subset(args.y_train, n, seed=0)
                                         for n in (20, 60)]))
    assert len(labelled) < 200
    train, test, _ = bench.features(args, "dense", 0, False, labelled)
    every, every_test, _ = bench.features(args, "dense", 0, False, np.arange(200))
    assert train.shape == (len(labelled), 12) and test.shape == (50, 12)
    np.testing.assert_allclose(train, every[labelled], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(test, every_test, rtol=1e-6, atol=1e-6)


def test_label_efficiency_runs_end_to_end_on_synthetic_images(tmp_path):
    backend = keras.backend.backend()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "label_efficiency.py"), "--synthetic",
         "--train", "120", "--test", "60", "--labels", "20", "60", "--seeds", "0",
         "--dense-units", "16", "--dense-epochs", "1", "--conv-width", "0.03",
         "--dense-head-epochs", "1", "--conv-head-epochs", "1", "--backprop-epochs", "1",
         "--min-steps", "1",
         "--json", str(tmp_path / "run.json"), "--plot", str(tmp_path / "run.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["device"] == _benchmark().accelerator()
    cells = {(r["architecture"], r["method"], r["labels"]) for r in run["rows"]}
    assert cells == {(a, m, n) for a in ("dense", "conv") for m in ("hebbian", "backprop", "random")
                     for n in (20, 60)}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in run["rows"])
    means = run["means"]["dense"]["hebbian"]
    assert [p["labels"] for p in means] == [20, 60]
    for architecture in ("dense", "conv"):
        assert re.search(rf"^{architecture}: test accuracy, mean \(std\)", result.stdout, re.M)
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the plot drawn again from the JSON alone
    again = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "label_efficiency.py"),
         "--replot", str(tmp_path / "run.json"), "--plot", str(tmp_path / "again.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "again.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # and from several runs' files, one of them a list of runs
    (tmp_path / "runs.json").write_text(json.dumps([run]))
    merged = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "label_efficiency.py"),
         "--replot", str(tmp_path / "run.json"), str(tmp_path / "runs.json"),
         "--plot", str(tmp_path / "merged.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert merged.returncode == 0, merged.stderr[-3000:]
    assert (tmp_path / "merged.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
