"""`keras-hebbian`: train, evaluate and show Hebbian networks from the command line.

    keras-hebbian train                          # SoftHebb on scikit-learn's digits, offline
    keras-hebbian train --model krotov --dataset mnist --units 2000 --epochs 20 --out runs/krotov
    keras-hebbian evaluate runs/krotov/model.keras --dataset mnist
    keras-hebbian show runs/krotov/model.keras
"""

import argparse
import json
import os
import platform
import sys
import time

MODELS = ("oja", "sanger", "krotov", "softhebb", "conv")
BACKENDS = ("jax", "tensorflow", "torch")


class _Parser(argparse.ArgumentParser):
    """Errors in one line and exit status 2, without the usage block."""

    def error(self, message):
        self.exit(2, f"keras-hebbian: error: {message}\n")


def build_parser():
    parser = _Parser(prog="keras-hebbian", description="Hebbian learning for Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train without labels, then evaluate a head")
    train.add_argument("--model", choices=MODELS, default="softhebb")
    train.add_argument("--dataset", default="digits",
                       help="'digits' (offline, default), 'mnist', or a path to an MNIST-layout .npz")
    train.add_argument("--units", type=int, default=64, help="units (filters for --model conv)")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=None,
                       help="the rule's learning rate (default: the model's own)")
    train.add_argument("--backend", choices=BACKENDS, default=None,
                       help="Keras backend (default: $KERAS_BACKEND, else jax)")
    train.add_argument("--out", default="runs/latest", help="folder for model.keras, metrics.json, "
                       "receptive_fields.png")
    train.add_argument("--seed", type=int, default=0)

    evaluate = commands.add_parser("evaluate", help="train a head on a saved model's features")
    evaluate.add_argument("model", help="a .keras file written by 'train'")
    evaluate.add_argument("--dataset", default="digits")
    evaluate.add_argument("--backend", choices=BACKENDS, default=None)

    show = commands.add_parser("show", help="print a saved model's summary and draw its units")
    show.add_argument("model", help="a .keras file")
    show.add_argument("--out", default=None, help="PNG path (default: next to the model)")
    show.add_argument("--backend", choices=BACKENDS, default=None)
    return parser


def _select_backend(backend):
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    else:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_data(dataset):
    """Images scaled to [0, 1], with a channels axis: `(x_train, y_train), (x_test, y_test)`."""
    from keras_hebbian import datasets

    if dataset == "digits":
        (x_train, y_train), (x_test, y_test) = datasets.load_digits()
        scale = 16.0
    elif dataset == "mnist":
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
        scale = 255.0
    else:
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist(dataset)
        scale = float(max(x_train.max(), 1))
    prepare = lambda x: (x.astype("float32") / scale)[..., None]  # noqa: E731
    return (prepare(x_train), y_train), (prepare(x_test), y_test)


def build_model(name, image_shape, units, epochs, steps_per_epoch, learning_rate, seed):
    """The unsupervised network for `--model`, and the head's power."""
    import keras

    from keras_hebbian import rules
    from keras_hebbian.layers import HebbianConv2D, HebbianDense, Triangle

    flat = [keras.Input(image_shape), keras.layers.Flatten()]
    if name in ("oja", "sanger"):
        layer = HebbianDense(units, rule=name, learning_rate=learning_rate or 0.01, seed=seed)
        return keras.Sequential(flat + [layer]), layer, 1.0
    if name == "krotov":
        rate = keras.optimizers.schedules.PolynomialDecay(
            learning_rate or 0.1, max(1, epochs * steps_per_epoch), 0.0
        )
        layer = HebbianDense(units, rule=rules.KrotovHopfield(k=min(7, units)), learning_rate=rate,
                             kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed),
                             seed=seed)
        return keras.Sequential(flat + [layer]), layer, 4.5
    if name == "softhebb":
        layer = HebbianDense(units, rule=rules.SoftHebb(temperature=0.02),
                             learning_rate=learning_rate or 0.05,
                             kernel_initializer=keras.initializers.RandomNormal(stddev=0.7, seed=seed),
                             seed=seed)
        return keras.Sequential(flat + [keras.layers.UnitNormalization(), layer]), layer, 1.0
    layer = HebbianConv2D(units, 3, padding="same", rule=rules.SoftHebb(temperature=1.0),
                          learning_rate=learning_rate or 0.05,
                          kernel_initializer=keras.initializers.RandomNormal(
                              stddev=25.0 / (9 * image_shape[-1]) ** 0.5, seed=seed),
                          seed=seed)
    model = keras.Sequential([
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
        raise ValueError("the model has no Hebbian layer")
    return layers[0]


def _draw(layer, image_shape, path, title):
    import keras
    import numpy as np

    from keras_hebbian.plot import receptive_fields

    kernel = keras.ops.convert_to_numpy(layer.kernel.value)
    if kernel.ndim == 4:  # conv: one image per filter, its first input channel
        kh, kw, _, filters = kernel.shape
        receptive_fields(kernel[:, :, 0, :].reshape(kh * kw, filters), (kh, kw), units=64,
                         path=path, title=title)
    else:
        shape = image_shape[:2] if kernel.shape[0] == int(np.prod(image_shape)) else None
        if shape is None:
            side = int(round(kernel.shape[0] ** 0.5))
            shape = (side, kernel.shape[0] // side)
        receptive_fields(kernel, shape, units=64, path=path, title=title)


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
    import keras

    for name in ("units", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(args, name)})")
    (x_train, y_train), (x_test, y_test) = load_data(args.dataset)
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

    os.makedirs(args.out, exist_ok=True)
    model.save(os.path.join(args.out, "model.keras"))
    _draw(layer, x_train.shape[1:], os.path.join(args.out, "receptive_fields.png"),
          f"{args.model}: {args.units} units, {args.epochs} epochs")
    config = {k: v for k, v in vars(args).items() if k != "func"}
    metrics = {"accuracy": accuracy, "random_features_accuracy": random_accuracy,
               "unsupervised_seconds": unsupervised_seconds, "head_seconds": head_seconds,
               "config": config, "versions": _versions()}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"test accuracy {accuracy:.4f} (random features: {random_accuracy:.4f}); "
          f"wrote model.keras, metrics.json, receptive_fields.png to {args.out}")


def _load_model(path):
    import keras

    import keras_hebbian  # noqa: F401  (registers the layers and rules)

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such model file: {path}")
    return keras.saving.load_model(path)


def command_evaluate(args):
    model = _load_model(args.model)
    (x_train, y_train), (x_test, y_test) = load_data(args.dataset)
    if tuple(model.input_shape[1:]) != tuple(x_train.shape[1:]):
        raise ValueError(f"the model takes inputs of shape {tuple(model.input_shape[1:])}; "
                         f"{args.dataset} images have shape {tuple(x_train.shape[1:])}")
    power = 4.5 if _hebbian_layer(model).rule.__class__.__name__ == "KrotovHopfield" else 1.0
    print(f"test accuracy {_probe(model, x_train, y_train, x_test, y_test, power):.4f}")


def command_show(args):
    model = _load_model(args.model)
    model.summary()
    out = args.out or os.path.splitext(args.model)[0] + "_receptive_fields.png"
    _draw(_hebbian_layer(model), tuple(model.input_shape[1:]), out, os.path.basename(args.model))
    print(f"wrote {out}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    _select_backend(args.backend)
    commands = {"train": command_train, "evaluate": command_evaluate, "show": command_show}
    try:
        commands[args.command](args)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"keras-hebbian: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
