"""Same seed, same weights; an interrupted run resumed from a checkpoint ends bit-identical."""

import keras
import numpy as np
import pytest

from keras_hebbian import rules
from keras_hebbian.layers import HebbianConv2D, HebbianDense

EPOCHS = 4
CRASH_AFTER = 1  # the epoch (0-based) after which the first run dies


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 6, 6, 1)).astype("float32"), rng.integers(0, 3, size=64)


def build(seed=7):
    """Every kind of learned state: a conv kernel, a lateral matrix, a BCM
    threshold, a schedule indexed by the update counter, a backprop head and
    its optimizer."""
    keras.utils.set_random_seed(seed)
    steps = EPOCHS * 8
    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        HebbianConv2D(4, 3, rule=rules.SoftHebb(), learning_rate=0.05, seed=seed),
        keras.layers.Flatten(),
        HebbianDense(6, rule="bcm", lateral="foldiak", lateral_learning_rate=0.01, seed=seed + 1,
                     learning_rate=keras.optimizers.schedules.PolynomialDecay(0.02, steps, 0.0)),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _weights(model):
    return [v.numpy().copy() for v in model.weights]


def _assert_identical(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def _fit(model, callbacks=(), initial_epoch=0):
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=list(callbacks), initial_epoch=initial_epoch)


class Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == CRASH_AFTER:
            raise KeyboardInterrupt("the machine went down")


def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not():
    runs = []
    for seed in (7, 7, 8):
        keras.utils.clear_session()
        model = build(seed)
        _fit(model)
        runs.append(_weights(model))
    _assert_identical(runs[0], runs[1])
    assert not np.array_equal(runs[0][0], runs[2][0])


@pytest.fixture
def uninterrupted():
    model = build()
    _fit(model)
    return _weights(model)


def test_resume_with_backup_and_restore_is_bit_identical(tmp_path, uninterrupted):
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    keras.utils.clear_session()
    model = build()
    with pytest.raises(KeyboardInterrupt):
        _fit(model, [backup, Crash()])
    # A new process: the same code builds the model again and calls fit again.
    keras.utils.clear_session()
    model = build(seed=123)  # other initial weights: all must come from the backup
    _fit(model, [keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    _assert_identical(_weights(model), uninterrupted)


def test_resume_from_a_keras_checkpoint_is_bit_identical(tmp_path, uninterrupted):
    path = str(tmp_path / "checkpoint.keras")
    keras.utils.clear_session()
    model = build()
    with pytest.raises(KeyboardInterrupt):
        _fit(model, [keras.callbacks.ModelCheckpoint(path), Crash()])
    keras.utils.clear_session()
    model = keras.saving.load_model(path)
    assert int(model.layers[2].iterations.numpy()) == (CRASH_AFTER + 1) * 8
    _fit(model, initial_epoch=CRASH_AFTER + 1)
    _assert_identical(_weights(model), uninterrupted)
