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


FIGURES = ["weight_norm", "norm_distance", "update_magnitude", "changed_units"]


def test_unsupervised_fit_shows_hebbian_figures_and_no_loss(tmp_path):
    """`models.Sequential`: Hebbian figures each epoch, no constant zero loss."""
    from keras_hebbian import models

    x = np.random.default_rng(0).normal(size=(256, 10)).astype("float32")
    model = models.Sequential([keras.Input((10,)), HebbianDense(4, rule="oja", name="hebb")])
    model.compile()
    path = tmp_path / "log.csv"
    history = model.fit(x, epochs=2, batch_size=32, verbose=0, validation_data=(x[:64],),
                        callbacks=[keras.callbacks.CSVLogger(str(path))])
    assert "loss" not in history.history and "val_loss" not in history.history
    for figure in FIGURES:
        assert len(history.history[f"hebb/{figure}"]) == 2
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and "loss" not in rows[0] and "hebb/norm_distance" in rows[0]
    # A monitor the caller gives is not doubled.
    history = model.fit(x, epochs=1, verbose=0, callbacks=[HebbianMonitor(["hebb"])])
    assert len(history.history["hebb/weight_norm"]) == 1


def test_plain_keras_model_with_the_monitor_shows_no_loss():
    x = np.random.default_rng(0).normal(size=(64, 10)).astype("float32")
    model, _ = _model("oja")
    history = model.fit(x, epochs=1, verbose=0, callbacks=[HebbianMonitor()])
    assert "loss" not in history.history and "hebb/weight_norm" in history.history
    # Without the monitor a plain keras.Sequential shows Keras' own zero loss.
    assert model.fit(x, epochs=1, verbose=0).history["loss"] == [0.0]


def test_a_model_with_a_loss_keeps_it():
    from keras_hebbian import models

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 10)).astype("float32")
    y = rng.integers(0, 3, size=128)
    model = models.Sequential([
        keras.Input((10,)),
        HebbianDense(6, rule="oja", name="hebb"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and history.history["loss"][0] > 0
    assert len(history.history["hebb/norm_distance"]) == 2


def test_reporting_models_save_and_load_exactly(tmp_path):
    from keras_hebbian import models

    x = np.random.default_rng(0).normal(size=(128, 10)).astype("float32")
    inputs = keras.Input((10,))
    functional = models.Model(inputs, HebbianDense(4, rule="sanger", name="hebb")(inputs))
    sequential = models.Sequential([keras.Input((10,)), HebbianDense(4, rule="oja", name="hebb")])
    for model in (functional, sequential):
        model.compile()
        assert "hebb/weight_norm" in model.fit(x, epochs=1, verbose=0).history
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.get_layer("hebb").kernel.numpy(),
                                      model.get_layer("hebb").kernel.numpy())
        loaded.compile()
        assert "loss" not in loaded.fit(x, epochs=1, verbose=0).history
