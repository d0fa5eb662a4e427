import csv

import keras
import numpy as np
import pytest

from keras_hebbian import rules
from keras_hebbian.callbacks import HebbianMonitor
from keras_hebbian.layers import HebbianDense


def _model(rule, units=6, name="hebb", learning_rate=0.05):
    layer = HebbianDense(units, rule=rule, learning_rate=learning_rate, name=name,
                         kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0))
    model = keras.Sequential([keras.Input((10,)), layer])
    model.compile()
    return model, layer


def test_monitor_figures_reach_history_and_csv_logger(tmp_path):
    x = np.random.default_rng(0).normal(size=(512, 10)).astype("float32")
    model, layer = _model("oja")
    path = tmp_path / "log.csv"
    history = model.fit(x, epochs=3, batch_size=32, verbose=0,
                        callbacks=[HebbianMonitor(), keras.callbacks.CSVLogger(str(path))])
    keys = ["hebb/weight_norm", "hebb/norm_distance", "hebb/update_magnitude", "hebb/changed_units"]
    for key in keys:
        assert len(history.history[key]) == 3
    norms = np.linalg.norm(layer.kernel.numpy(), axis=0)
    np.testing.assert_allclose(history.history["hebb/weight_norm"][-1], norms.mean(), rtol=1e-5)
    np.testing.assert_allclose(history.history["hebb/norm_distance"][-1], np.abs(norms - 1).mean(),
                               rtol=1e-5)
    # Oja drives the norms to 1.
    assert history.history["hebb/norm_distance"][-1] < history.history["hebb/norm_distance"][0]
    assert history.history["hebb/changed_units"] == [1.0, 1.0, 1.0]
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3 and all(key in rows[0] for key in keys)


def test_changed_units_counts_only_winners():
    # One repeated input and small steps: a single unit wins under hard WTA.
    x = np.tile(np.random.default_rng(1).random((1, 10)), (64, 1)).astype("float32")
    model, _ = _model(rules.WinnerTakeAll(), units=8, learning_rate=1e-4)
    history = model.fit(x, epochs=1, batch_size=16, verbose=0, callbacks=[HebbianMonitor()])
    assert history.history["hebb/changed_units"] == [1 / 8]


def test_rules_without_fixed_point_report_no_distance():
    x = np.random.default_rng(2).normal(size=(64, 10)).astype("float32")
    model, _ = _model("bcm")
    history = model.fit(x, epochs=1, batch_size=32, verbose=0, callbacks=[HebbianMonitor()])
    assert "hebb/norm_distance" not in history.history
    assert "hebb/weight_norm" in history.history


def test_unknown_layer_name():
    model, _ = _model("oja")
    with pytest.raises(ValueError, match=r"no Hebbian layer named \['other'\]"):
        model.fit(np.zeros((4, 10), "float32"), verbose=0, callbacks=[HebbianMonitor(["other"])])


def test_receptive_field_images_in_tensorboard(tmp_path):
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(3).normal(size=(64, 10)).astype("float32")
    model, _ = _model("oja")
    monitor = HebbianMonitor(log_dir=str(tmp_path), image_shape=(2, 5))
    model.fit(x, epochs=2, batch_size=32, verbose=0, callbacks=[monitor])
    files = list((tmp_path / "hebbian").glob("events.out.tfevents.*"))
    assert files
    tags = []
    for record in tf.data.TFRecordDataset([str(f) for f in files]):
        event = tf.compat.v1.Event.FromString(record.numpy())
        tags += [(value.tag, event.step) for value in event.summary.value]
    assert ("hebb/receptive_fields", 0) in tags and ("hebb/receptive_fields", 1) in tags
    with pytest.raises(ValueError, match="`image_shape` is required"):
        HebbianMonitor(log_dir=str(tmp_path))
