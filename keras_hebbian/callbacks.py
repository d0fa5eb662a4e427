"""Keras callbacks for Hebbian layers."""

import keras
import numpy as np


class HebbianMonitor(keras.callbacks.Callback):
    """Adds per-layer figures of every Hebbian layer to Keras' logs, each epoch.

    For each Hebbian layer `name` of the model (nested models included):

    - `name/weight_norm`: mean norm of the units' weight vectors (the rule's
      norm, e.g. the p-norm for Krotov-Hopfield);
    - `name/norm_distance`: mean |norm - fixed point| for rules that drive
      the norms to a fixed point (Oja, Sanger, Krotov-Hopfield, SoftHebb,
      WTA); absent otherwise;
    - `name/update_magnitude`: mean absolute change of a weight this epoch;
    - `name/changed_units`: fraction of units whose weights changed this
      epoch (for winner-take-all rules: the units that won or were pushed).

    They appear in the progress bar, in `History.history`, and in every
    callback listed after this one (`CSVLogger`, `TensorBoard`, ...). When
    the model has no loss (compiled without `loss`, and no other layer adds
    one), the constant `loss` of 0 that Keras would show (and `val_loss`)
    is left out of the logs.

    The figures are computed from the weights at the end of each epoch,
    outside the training step. `keras_hebbian.models.Sequential` and
    `keras_hebbian.models.Model` add this callback to every `fit()`.

    With `log_dir`, it also writes each dense layer's receptive fields (the
    64 units of largest norm, drawn by `keras_hebbian.plot.receptive_fields`
    with `image_shape`) as a TensorBoard image each epoch, under
    `log_dir/hebbian` (this needs TensorFlow installed, whatever the backend).

    Args:
        layers: optional list of layer names to monitor; defaults to all
            Hebbian layers.
        log_dir: optional TensorBoard folder for receptive-field images.
        image_shape: `(height, width)` or `(height, width, channels)` of the
            inputs of the dense layers drawn; required with `log_dir`.

    Example:

    ```python
    model.fit(x, epochs=5, callbacks=[HebbianMonitor(), keras.callbacks.CSVLogger("log.csv")])
    ```
    """

    # Its batch hook only drops keys from the logs: Keras may run it on its
    # thread pool, so the training loop need not wait for each step.
    async_safe = True

    def __init__(self, layers=None, log_dir=None, image_shape=None):
        super().__init__()
        self.layer_names = None if layers is None else list(layers)
        self.log_dir = log_dir
        self.image_shape = None if image_shape is None else tuple(image_shape)
        if log_dir is not None and image_shape is None:
            raise ValueError("HebbianMonitor: `image_shape` is required with `log_dir`.")
        self._previous = {}
        self._writer = None
        self._no_loss = False

    def _layers(self):
        from keras_hebbian.models import hebbian_layers

        found = hebbian_layers(self.model)
        if self.layer_names is not None:
            known = {layer.name for layer in found}
            missing = [name for name in self.layer_names if name not in known]
            if missing:
                raise ValueError(
                    f"HebbianMonitor: no Hebbian layer named {missing}; the model has {sorted(known)}"
                )
            found = [layer for layer in found if layer.name in self.layer_names]
        return found

    def on_train_begin(self, logs=None):
        self._no_loss = not has_loss(self.model)
        self._previous = {
            layer.name: keras.ops.convert_to_numpy(layer.kernel.value).copy()
            for layer in self._layers()
        }

    def _drop_loss(self, logs):
        if self._no_loss and logs is not None:
            logs.pop("loss", None)
            logs.pop("val_loss", None)

    def on_train_batch_end(self, batch, logs=None):
        self._drop_loss(logs)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        self._drop_loss(logs)
        for layer in self._layers():
            kernel = keras.ops.convert_to_numpy(layer.kernel.value)
            flat = kernel.reshape(-1, kernel.shape[-1]).astype("float64")
            rule = layer.rule
            norms = np.sum(np.abs(flat) ** rule.norm_order, axis=0) ** (1.0 / rule.norm_order)
            logs[f"{layer.name}/weight_norm"] = float(norms.mean())
            if rule.fixed_point_norm is not None:
                logs[f"{layer.name}/norm_distance"] = float(
                    np.abs(norms - rule.fixed_point_norm).mean()
                )
            previous = self._previous.get(layer.name, kernel).reshape(flat.shape)
            change = np.abs(flat - previous)
            logs[f"{layer.name}/update_magnitude"] = float(change.mean())
            logs[f"{layer.name}/changed_units"] = float(np.mean(change.max(axis=0) > 0))
            self._previous[layer.name] = kernel.copy()
            if self.log_dir is not None and kernel.ndim == 2:
                self._write_image(layer.name, kernel, epoch)

    def _write_image(self, name, kernel, epoch):
        import io

        import tensorflow as tf

        from keras_hebbian.plot import _pyplot, receptive_fields

        if self._writer is None:
            import os

            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "hebbian"))
        figure = receptive_fields(kernel, self.image_shape, units=64)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=60)
        _pyplot().close(figure)
        image = tf.io.decode_png(buffer.getvalue(), channels=4)
        with self._writer.as_default():
            tf.summary.image(f"{name}/receptive_fields", image[None], step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops `fit()` when a Hebbian layer refuses a non-finite update, then raises it.

    A Hebbian layer never applies an update made from a batch with NaN or Inf
    values (with `on_nonfinite="raise"`) or one that would make a weight
    non-finite. Inside a compiled training step (JAX, TensorFlow) the layer
    cannot raise without losing the step's state, so it records the error in
    its `nonfinite_error`; after each batch this callback looks for one, sets
    `model.stop_training`, and at the end of `fit()`, once Keras has put the
    last state back into the variables, raises it as a `FloatingPointError`
    naming the layer. The weights are then those after the last good batch.
    Where the step runs eagerly (PyTorch) the layer raises at once.

    `keras_hebbian.models.Sequential` and `Model` add this callback to every
    `fit()`; give it to the `fit()` of any other Keras model. Its check after
    each batch makes Keras wait for every step to finish before dispatching
    the next (on JAX that forgoes overlapping the Python side of the loop
    with the step; `benchmarks/fit_reporting.py` measures the cost).

    Example:

    ```python
    model.fit(x, epochs=5, callbacks=[keras_hebbian.callbacks.NonFiniteGuard()])
    ```
    """

    def __init__(self):
        super().__init__()
        self._error = None
        self._layers = []

    def on_train_begin(self, logs=None):
        from keras_hebbian.models import hebbian_layers

        self._error = None
        self._layers = hebbian_layers(self.model)  # once: checked after every batch
        for layer in self._layers:
            layer.poll_nonfinite()  # clears what an earlier fit() left
            layer.nonfinite_error = None
            layer.nonfinite_guarded = True

    def on_train_batch_end(self, batch, logs=None):
        if self._error is not None:
            return
        for layer in self._layers:
            if layer.poll_nonfinite() is not None:
                self._error = layer.nonfinite_error
                self.model.stop_training = True
                return

    def on_train_end(self, logs=None):
        error, self._error = self._error, None
        for layer in self._layers:
            layer.poll_nonfinite()
            layer.nonfinite_error = None
            layer.nonfinite_guarded = False
        if error is not None:
            raise FloatingPointError(error)


def has_loss(model):
    """Whether `model` has a loss: compiled with one, or added by a non-Hebbian layer.

    Hebbian layers add a zero to the loss so that Keras trains a model that
    has no other; that zero does not count.
    """
    from keras_hebbian.layers.base import HebbianLayer

    if getattr(model, "loss", None) is not None:
        return True

    def layers_of(layer):
        for inner in getattr(layer, "layers", []):
            yield inner
            yield from layers_of(inner)

    return any(
        layer.losses for layer in layers_of(model)
        if not isinstance(layer, HebbianLayer) and not hasattr(layer, "layers")
    )
