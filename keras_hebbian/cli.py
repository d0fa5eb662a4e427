"""`keras-hebbian`: train, evaluate and show Hebbian networks from the command line.

    keras-hebbian train                          # SoftHebb on scikit-learn's digits, offline
    keras-hebbian train --model krotov --dataset mnist --units 2000 --epochs 20 --out runs/krotov
    keras-hebbian evaluate runs/krotov/model.keras --dataset mnist
    keras-hebbian show runs/krotov/model.keras

The backend is chosen before Keras is imported (Keras fixes it then):
`--backend`, else `$KERAS_BACKEND`, else the backend that Keras'
`keras.json` names if it is installed, else the first installed of jax,
torch and tensorflow. Every failure a user can cause ends in one line on
stderr and a non-zero exit status.
"""

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
import zipfile

MODELS = ("oja", "sanger", "krotov", "softhebb", "conv")
BACKENDS = ("jax", "tensorflow", "torch")
# The order in which an installed backend is picked when none is named.
DEFAULT_BACKENDS = ("jax", "torch", "tensorflow")
_BACKEND_MODULES = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}


class UsageError(Exception):
    """A failure the user can fix; printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """Errors in one line and exit status 2, without the usage block."""

    def error(self, message):
        self.exit(2, f"keras-hebbian: error: {message}\n")


def build_parser():
    """The argument parser of `keras-hebbian` and its commands."""
    parser = _Parser(prog="keras-hebbian", description="Hebbian learning for Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    backend_help = ("Keras backend (default: $KERAS_BACKEND, else the one in ~/.keras/keras.json "
                    "if installed, else the first installed of jax, torch, tensorflow)")

    train = commands.add_parser("train", help="train without labels, then evaluate a head")
    train.add_argument("--model", choices=MODELS, default="softhebb")
    train.add_argument("--dataset", default="digits",
                       help="'digits' (offline, default), 'mnist', or a path to an MNIST-layout .npz")
    train.add_argument("--units", type=int, default=64, help="units (filters for --model conv)")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=None,
                       help="the rule's learning rate (default: the model's own)")
    train.add_argument("--backend", choices=BACKENDS, default=None, help=backend_help)
    train.add_argument("--out", default="runs/latest", help="folder for model.keras, metrics.json, "
                       "receptive_fields.png")
    train.add_argument("--seed", type=int, default=0)

    evaluate = commands.add_parser("evaluate", help="train a head on a saved model's features")
    evaluate.add_argument("model", help="a .keras file written by 'train'")
    evaluate.add_argument("--dataset", default="digits")
    evaluate.add_argument("--backend", choices=BACKENDS, default=None, help=backend_help)

    show = commands.add_parser("show", help="print a saved model's summary and draw its units")
    show.add_argument("model", help="a .keras file")
    show.add_argument("--out", default=None, help="PNG path (default: next to the model)")
    show.add_argument("--backend", choices=BACKENDS, default=None, help=backend_help)
    return parser


def _installed(backend):
    return importlib.util.find_spec(_BACKEND_MODULES[backend]) is not None


def _keras_json_backend():
    """The backend that Keras' configuration file names, or `None`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return backend if isinstance(backend, str) else None


def select_backend(requested=None):
    """Choose the Keras backend and set `KERAS_BACKEND`, before Keras is imported.

    Args:
        requested: `"jax"`, `"tensorflow"`, `"torch"` or `None`. `None`
            takes `$KERAS_BACKEND`, else the backend that `keras.json` names
            if it is installed, else the first installed of jax, torch and
            tensorflow.

    Returns:
        The backend's name.

    Raises:
        UsageError: the backend is not installed, not one of the three, or
            Keras was already imported with another backend.
    """
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        wanted = requested or os.environ.get("KERAS_BACKEND") or current
        if wanted != current:
            raise UsageError(f"Keras was already imported with backend '{current}'; "
                             f"backend '{wanted}' cannot be chosen in this process")
        return current
    if requested:
        backend, source = requested, "--backend"
    elif os.environ.get("KERAS_BACKEND"):
        backend, source = os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    else:
        configured = _keras_json_backend()
        installed = [name for name in DEFAULT_BACKENDS if _installed(name)]
        if configured in installed:
            backend = configured
        elif installed:
            backend = installed[0]
        else:
            raise UsageError('no Keras backend is installed: pip install "keras-hebbian[jax]" '
                             '(or [torch], [tensorflow])')
        source = None
    if backend not in BACKENDS:
        raise UsageError(f"{source}={backend!r} is not a backend keras-hebbian runs on; "
                         f"choose one of {', '.join(BACKENDS)}")
    if not _installed(backend):
        raise UsageError(f"backend '{backend}' is not installed: "
                         f'pip install "keras-hebbian[{backend}]"')
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return backend


def load_data(dataset):
    """Images scaled to [0, 1], with a channels axis: `(x_train, y_train), (x_test, y_test)`.

    Args:
        dataset: `"digits"`, `"mnist"` or the path of an MNIST-layout `.npz`.
    """
    from keras_hebbian import datasets

    if dataset == "digits":
        (x_train, y_train), (x_test, y_test) = datasets.load_digits()
        scale = 16.0
    elif dataset == "mnist":
        try:
            (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
        except ConnectionError as error:
            raise UsageError(f"{error} On the command line: --dataset PATH.") from None
        scale = 255.0
    else:
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist(dataset)
        scale = float(max(x_train.max(), 1))
    prepare = lambda x: (x.astype("float32") / scale)[..., None]  # noqa: E731
    return (prepare(x_train), y_train), (prepare(x_test), y_test)


def build_model(name, image_shape, units, epochs, steps_per_epoch, learning_rate, seed):
    """The unsupervised network for `--model`, its Hebbian layer and the head's power.

    Args:
        name: one of `MODELS`.
        image_shape: `(height, width, channels)` of the inputs.
        units: units of the Hebbian layer (filters for `"conv"`).
        epochs: unsupervised epochs (the length of Krotov-Hopfield's annealing).
        steps_per_epoch: batches per epoch.
        learning_rate: the rule's learning rate, or `None` for the model's own.
        seed: int, seeds the initial weights.

    Returns:
        `(model, layer, power)`: a `keras_hebbian.models.Sequential`, its
        Hebbian layer, and the power of the features `relu(h) ** power`
        that the probe reads.
    """
    import keras

    from keras_hebbian import recipes, rules
    from keras_hebbian.layers import HebbianConv2D, HebbianDense, Triangle
    from keras_hebbian.models import Sequential

    flat = [keras.Input(image_shape), keras.layers.Flatten()]
    if name in ("oja", "sanger"):
        layer = HebbianDense(units, rule=name, learning_rate=learning_rate or 0.01, seed=seed)
        return Sequential(flat + [layer]), layer, 1.0
    if name == "krotov":
        layer = recipes.krotov_hopfield_dense(units, epochs * steps_per_epoch,
                                              learning_rate=learning_rate or 0.1, seed=seed)
        return Sequential(flat + [layer]), layer, 4.5
    if name == "softhebb":
        layer = recipes.softhebb_dense_demo(units, learning_rate=learning_rate or 0.05, seed=seed)
        return Sequential(flat + [keras.layers.UnitNormalization(), layer]), layer, 1.0
    layer = HebbianConv2D(units, 3, padding="same", rule=rules.SoftHebb(temperature=1.0),
                          learning_rate=learning_rate or 0.05,
                          kernel_initializer=recipes.softhebb_conv_initializer(
                              3 * 3 * image_shape[-1], seed=seed),
                          seed=seed)
    model = Sequential([
        keras.Input(image_shape),
        keras.layers.BatchNormalization(center=False, scale=False),
        layer,
        Triangle(power=0.7),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
    ])
    return model, layer, 1.0


def _hebbian_layer(model):
    from keras_hebbian.models import hebbian_layers

    layers = hebbian_layers(model)
    if not layers:
        raise UsageError("the model has no Hebbian layer")
    return layers[0]


def unit_wins(model, layer, x, batch_size=256):
    """How many samples of `x` each unit of `layer` wins (responds to most strongly).

    For a convolution every output position of every image is a sample.

    Returns:
        int array `(units,)`.
    """
    import keras
    import numpy as np

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    responses = keras.Model(inputs, layer.output)
    wins = np.zeros(layer.kernel.shape[-1], dtype="int64")
    for start in range(0, len(x), batch_size):
        h = keras.ops.convert_to_numpy(responses(x[start:start + batch_size], training=False))
        h = h.reshape(-1, h.shape[-1])
        wins += np.bincount(h.argmax(axis=-1), minlength=len(wins))
    return wins


def _draw(layer, image_shape, path, title, order="norm"):
    import keras
    import numpy as np

    from keras_hebbian.plot import receptive_fields

    kernel = keras.ops.convert_to_numpy(layer.kernel.value)
    units = min(64, kernel.shape[-1])
    if kernel.ndim == 4:  # conv: one image per filter, its first input channel
        kh, kw, _, filters = kernel.shape
        receptive_fields(kernel[:, :, 0, :].reshape(kh * kw, filters), (kh, kw), units=units,
                         path=path, title=title, order=order)
    else:
        shape = image_shape[:2] if kernel.shape[0] == int(np.prod(image_shape)) else None
        if shape is None:
            side = int(round(kernel.shape[0] ** 0.5))
            shape = (side, kernel.shape[0] // side)
        receptive_fields(kernel, shape, units=units, path=path, title=title, order=order)


def _versions():
    import keras
    import numpy as np

    import keras_hebbian

    return {"keras_hebbian": keras_hebbian.__version__, "keras": keras.__version__,
            "backend": keras.backend.backend(), "numpy": np.__version__,
            "python": platform.python_version()}


def _probe(model, x_train, y_train, x_test, y_test, power=1.0):
    """Logistic-regression accuracy on the model's frozen features `relu(h) ** power`."""
    from keras_hebbian.evaluation import linear_probe, power_features

    features = lambda x: power_features(model.predict(x, batch_size=1000, verbose=0), power)  # noqa: E731
    return linear_probe(features(x_train), y_train, features(x_test), y_test)


def command_train(args):
    """`keras-hebbian train`: learn without labels, probe, write the run's files."""
    for name in ("units", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(args, name)})")
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise UsageError(f"--learning-rate must be > 0 (got {args.learning_rate})")
    _check_plotting()
    os.makedirs(args.out, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = load_data(args.dataset)

    import keras
    import numpy as np

    steps = -(-len(x_train) // args.batch_size)
    keras.utils.set_random_seed(args.seed)
    model, layer, power = build_model(args.model, x_train.shape[1:], args.units, args.epochs, steps,
                                      args.learning_rate, args.seed)
    model.compile()
    control, _, _ = build_model(args.model, x_train.shape[1:], args.units, args.epochs, steps,
                                args.learning_rate, args.seed)
    print(f"{args.model}: {args.units} units on {args.dataset} ({len(x_train)} training images), "
          f"backend {keras.backend.backend()}")
    start = time.perf_counter()
    model.fit(x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=1)
    unsupervised_seconds = time.perf_counter() - start

    start = time.perf_counter()
    accuracy = _probe(model, x_train, y_train, x_test, y_test, power)
    # The control: the same network, untrained (its batch normalisation, if
    # any, still learns its statistics).
    _hebbian_layer(control).trainable = False
    control.compile()
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in control.layers):
        control.fit(x_train, epochs=1, batch_size=args.batch_size, verbose=0)
    random_accuracy = _probe(control, x_train, y_train, x_test, y_test, power)
    head_seconds = time.perf_counter() - start

    wins = unit_wins(model, layer, x_train)
    won = int(np.count_nonzero(wins))
    model.save(os.path.join(args.out, "model.keras"))
    _draw(layer, x_train.shape[1:], os.path.join(args.out, "receptive_fields.png"),
          f"{args.model}: {'the ' + str(min(64, len(wins))) + ' of ' if len(wins) > 64 else ''}"
          f"{len(wins)} units after {args.epochs} epochs on {os.path.basename(args.dataset)}, "
          "most training samples won first",
          order=np.argsort(-wins, kind="stable"))
    config = {k: v for k, v in vars(args).items() if k != "func"}
    metrics = {"accuracy": accuracy, "random_features_accuracy": random_accuracy,
               "units_won": won / len(wins), "unit_wins": wins.tolist(),
               "unsupervised_seconds": unsupervised_seconds, "head_seconds": head_seconds,
               "config": config, "versions": _versions()}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"test accuracy {accuracy:.4f} (random features: {random_accuracy:.4f}); "
          f"{won} of {len(wins)} units won a training sample ({100 * won / len(wins):.0f}%); "
          f"wrote model.keras, metrics.json, receptive_fields.png to {args.out}")


def _check_plotting():
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError('drawing the units needs matplotlib: pip install "keras-hebbian[plot]"')


def _load_model(path):
    if not os.path.isfile(path):
        raise UsageError(f"no such model file: {path}")
    import keras

    import keras_hebbian.layers  # noqa: F401  (registers the layers, rules and models)
    import keras_hebbian.models  # noqa: F401

    try:
        return keras.saving.load_model(path)
    except (ValueError, OSError, zipfile.BadZipFile, KeyError) as error:
        reason = " ".join(str(error).split())[:300]
        raise UsageError(f"{path} could not be read as a Keras model: {reason}") from None


def command_evaluate(args):
    """`keras-hebbian evaluate`: a probe on a saved model's frozen features."""
    model = _load_model(args.model)
    (x_train, y_train), (x_test, y_test) = load_data(args.dataset)
    if tuple(model.input_shape[1:]) != tuple(x_train.shape[1:]):
        raise UsageError(f"the model takes inputs of shape {tuple(model.input_shape[1:])}; "
                         f"{args.dataset} images have shape {tuple(x_train.shape[1:])}")
    power = 4.5 if _hebbian_layer(model).rule.__class__.__name__ == "KrotovHopfield" else 1.0
    print(f"test accuracy {_probe(model, x_train, y_train, x_test, y_test, power):.4f}")


def command_show(args):
    """`keras-hebbian show`: a saved model's summary and its units' picture."""
    _check_plotting()
    model = _load_model(args.model)
    model.summary()
    out = args.out or os.path.splitext(args.model)[0] + "_receptive_fields.png"
    _draw(_hebbian_layer(model), tuple(model.input_shape[1:]), out, os.path.basename(args.model))
    print(f"wrote {out}")


def main(argv=None):
    """Run `keras-hebbian` with `argv` (default: `sys.argv[1:]`); return the exit status."""
    args = build_parser().parse_args(argv)
    commands = {"train": command_train, "evaluate": command_evaluate, "show": command_show}
    try:
        select_backend(args.backend)
        commands[args.command](args)
    except (UsageError, ValueError, OSError) as error:
        print(f"keras-hebbian: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("keras-hebbian: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
