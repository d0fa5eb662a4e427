"""Hybrid networks on MNIST: does a Hebbian layer between backprop layers help?

Two networks, each trained on labelled MNIST images with one loss:

- conv: `Conv2D(16, 3, relu) -> MaxPool(2) -> HebbianConv2D(32, 3) -> ReLU ->
  MaxPool(2) -> Flatten -> Dense(10)`;
- dense: `Flatten -> Dense(128, relu) -> HebbianDense(64) -> ReLU -> Dense(10)`.

Each choice says how the Hebbian layer learns (its rule, learning rate,
constraint), what surrounds it (a normalisation after it) and in which order
the network learns (all together in one `fit(x, y)`, or the Hebbian layer
first without labels and then backprop with it frozen). Every choice is
scored against the frozen-random control of the same network: the same
layers and the same seed, the Hebbian layer left at its random start
(`trainable=False`). Adam (Keras defaults), batches of 32, softmax
cross-entropy; test accuracy on MNIST's 10,000 test images. The table gives
each seed's accuracy, the mean, the control's mean, and the root mean square
of the Hebbian layer's outputs on 2,000 test images (its output scale) after
training, against the control's.

    python benchmarks/hybrid.py --data ../shared/data/mnist.npz
    python benchmarks/hybrid.py --data ../shared/data/mnist.npz --seeds 0 --choices all --json seed0.json
    python benchmarks/hybrid.py --data ../shared/data/mnist.npz --seeds 0 --choices oja sanger_decay_bn
    python benchmarks/hybrid.py --list

The first runs the default choices (the naive ones, the best ones and the
recipe) on seeds 0, 1 and 2; the second every choice on seed 0.

Writes `docs/hybrid.json` (change with `--json`).
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from keras_hebbian import datasets, models, recipes, rules
from keras_hebbian.layers import HebbianConv2D, HebbianDense

NETWORKS = ("conv", "dense")
BATCH_SIZE = 32
HEBBIAN_NAME = "hebbian"


class Choice:
    """How the Hebbian layer learns, what surrounds it, and the order of learning.

    Args:
        description: str, one line for the table.
        rule: the Hebbian layer's rule (a name or a `keras_hebbian.rules.Rule`).
        learning_rate: float, the initial rate.
        decay: bool, the rate decays linearly to zero over the training.
        norm: `None`, `"batch"` or `"layer"`: a normalisation after the
            Hebbian layer (before its ReLU).
        unit_norm: bool, a `UnitNorm` constraint on each unit's weights.
        hebbian_first: bool, the Hebbian layer learns first, without labels
            (`models.fit_greedy`, one epoch), then backprop trains the rest
            with it frozen.
        recipe: bool, the layers come from `recipes.hybrid_hebbian_block`
            (its defaults).
    """

    def __init__(self, description, rule="oja", learning_rate=0.01, decay=False, norm=None,
                 unit_norm=False, hebbian_first=False, recipe=False):
        self.description = description
        self.rule = rule
        self.learning_rate = learning_rate
        self.decay = decay
        self.norm = norm
        self.unit_norm = unit_norm
        self.hebbian_first = hebbian_first
        self.recipe = recipe


CHOICES = {
    "softhebb": Choice("SoftHebb, rate 0.01", rule="softhebb"),
    "oja": Choice("Oja, rate 0.01"),
    "oja_decay": Choice("Oja, rate 0.01 decaying to 0", decay=True),
    "oja_bn": Choice("Oja, rate 0.01, BatchNorm after", norm="batch"),
    "oja_ln": Choice("Oja, rate 0.01, LayerNorm after", norm="layer"),
    "oja_unitnorm": Choice("Oja, rate 0.01, UnitNorm kernel", unit_norm=True),
    "oja_decay_bn": Choice("Oja, rate 0.01 decaying to 0, BatchNorm after", decay=True,
                           norm="batch"),
    "softhebb_bn": Choice("SoftHebb, rate 0.01, BatchNorm after", rule="softhebb",
                          norm="batch"),
    "softhebb_decay_bn": Choice("SoftHebb, rate 0.01 decaying to 0, BatchNorm after",
                                rule="softhebb", decay=True, norm="batch"),
    "oja_first": Choice("Oja first without labels, then frozen", hebbian_first=True),
    "oja_first_bn": Choice("Oja first without labels, then frozen, BatchNorm after",
                           hebbian_first=True, norm="batch"),
    "softhebb_first": Choice("SoftHebb first without labels, then frozen", rule="softhebb",
                             hebbian_first=True),
    "softhebb_first_bn": Choice("SoftHebb first without labels, then frozen, BatchNorm after",
                                rule="softhebb", hebbian_first=True, norm="batch"),
    "sanger": Choice("Sanger, rate 0.01", rule="sanger"),
    "sanger_decay_bn": Choice("Sanger, rate 0.01 decaying to 0, BatchNorm after",
                              rule="sanger", decay=True, norm="batch"),
    "sanger_first_bn": Choice("Sanger first without labels, then frozen, BatchNorm after",
                              rule="sanger", hebbian_first=True, norm="batch"),
    "oja_slow_bn": Choice("Oja, rate 0.001, BatchNorm after", learning_rate=0.001,
                          norm="batch"),
    "oja_first_ln": Choice("Oja first without labels, then frozen, LayerNorm after",
                           hebbian_first=True, norm="layer"),
    "wta_first_bn": Choice("winner-take-all first without labels, then frozen, BatchNorm after",
                           rule="winner_take_all", hebbian_first=True, norm="batch"),
    "softhebb_unit_first_bn": Choice(
        "SoftHebb (temperature 0.1, per-unit steps) first without labels, then frozen, "
        "BatchNorm after", rule="softhebb_unit", hebbian_first=True, norm="batch"),
    "sanger_slow_decay_bn": Choice("Sanger, rate 0.001 decaying to 0, BatchNorm after",
                                   rule="sanger", learning_rate=0.001, decay=True,
                                   norm="batch"),
    "sanger_bounded_decay_bn": Choice(
        "Sanger, steps scaled to a largest entry of the rate 0.01 decaying to 0, "
        "BatchNorm after", rule="sanger_bounded", decay=True, norm="batch"),
    "recipe": Choice("recipes.hybrid_hebbian_block: Sanger, rate 0.001 decaying to 0, "
                     "BatchNorm after", recipe=True),
}


def make_rule(name):
    if name == "softhebb":
        return rules.SoftHebb()
    if name == "softhebb_unit":
        return rules.SoftHebb(temperature=0.1, max_normalize="unit")
    if name == "sanger_bounded":
        return rules.chain(rules.Sanger(), rules.scale_by_max())
    if name == "winner_take_all":
        return rules.WinnerTakeAll(max_normalize=True)
    return rules.get(name)


def hebbian_block(network, choice, steps, seed):
    """The Hebbian layer and what follows it up to (and with) its ReLU."""
    if choice.recipe:
        if network == "conv":
            return recipes.hybrid_hebbian_block(32, steps, kernel_size=3, seed=seed,
                                                name=HEBBIAN_NAME)
        return recipes.hybrid_hebbian_block(64, steps, seed=seed, name=HEBBIAN_NAME)
    rate = choice.learning_rate
    if choice.decay:
        rate = keras.optimizers.schedules.PolynomialDecay(rate, max(1, steps), 0.0)
    kwargs = dict(rule=make_rule(choice.rule), learning_rate=rate, seed=seed, name=HEBBIAN_NAME)
    if network == "conv":
        if choice.unit_norm:
            kwargs["kernel_constraint"] = keras.constraints.UnitNorm(axis=(0, 1, 2))
        layer = HebbianConv2D(32, 3, **kwargs)
    else:
        if choice.unit_norm:
            kwargs["kernel_constraint"] = keras.constraints.UnitNorm(axis=0)
        layer = HebbianDense(64, **kwargs)
    block = [layer]
    if choice.norm == "batch":
        block.append(keras.layers.BatchNormalization())
    elif choice.norm == "layer":
        block.append(keras.layers.LayerNormalization())
    block.append(keras.layers.ReLU())
    return block


def build(network, choice, steps, seed):
    """The network with `choice`'s Hebbian block; `steps` updates in the whole training."""
    keras.utils.set_random_seed(seed)
    if network == "conv":
        front = [keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                 keras.layers.MaxPooling2D(2)]
        back = [keras.layers.MaxPooling2D(2), keras.layers.Flatten()]
    else:
        front = [keras.Input((28, 28, 1)), keras.layers.Flatten(),
                 keras.layers.Dense(128, activation="relu")]
        back = []
    head = [keras.layers.Dense(10, activation="softmax")]
    return models.Sequential(front + hebbian_block(network, choice, steps, seed) + back + head)


def output_rms(model, x):
    """The root mean square of the Hebbian layer's outputs on `x`."""
    layer = model.get_layer(HEBBIAN_NAME)
    probe = keras.Model(model.inputs, layer.output)
    outputs = probe.predict(x, batch_size=500, verbose=0)
    return float(np.sqrt(np.mean(np.square(outputs))))


def run(network, choice, frozen, seed, data, epochs):
    (x, y), (x_test, y_test) = data
    batches = -(-len(x) // BATCH_SIZE)
    steps = (1 if choice.hebbian_first else epochs) * batches
    model = build(network, choice, steps, seed)
    hebbian = model.get_layer(HEBBIAN_NAME)
    try:
        if choice.hebbian_first and not frozen:
            models.fit_greedy(model, x, epochs=1, batch_size=BATCH_SIZE, verbose=0)
        if frozen or choice.hebbian_first:
            hebbian.trainable = False
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
    except FloatingPointError:  # the rule's weights diverged: no accuracy
        return None, None
    accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)[1]
    return float(accuracy), output_rms(model, x_test[:2000])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get(datasets.DATA_ENV),
                        help="MNIST .npz (default: $KERAS_HEBBIAN_DATA, else keras' download)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train", type=int, default=6000, help="training images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--choices", nargs="+", choices=sorted(CHOICES) + ["all"],
                        default=["softhebb", "oja", "softhebb_bn", "oja_bn", "sanger_decay_bn",
                                 "sanger_first_bn", "recipe"])
    parser.add_argument("--json", default=os.path.join("docs", "hybrid.json"))
    parser.add_argument("--list", action="store_true", help="list the choices and exit")
    return parser.parse_args(argv)


def control_key(choice):
    """Choices with the same surroundings share one frozen-random control."""
    if choice.recipe:  # the recipe's block is followed by BatchNormalization
        return "norm=batch,unit_norm=False"
    return f"norm={choice.norm},unit_norm={choice.unit_norm}"


def main(argv=None):
    args = parse_args(argv)
    if "all" in args.choices:
        args.choices = list(CHOICES)
    if args.list:
        for name, choice in CHOICES.items():
            print(f"{name:20s} {choice.description}")
        return
    (x, y), (x_test, y_test) = datasets.load_mnist(args.data)
    x = (x[: args.train, ..., None] / 255.0).astype("float32")
    y = y[: args.train]
    x_test = (x_test[..., None] / 255.0).astype("float32")
    data = (x, y), (x_test, y_test)
    results = {"backend": keras.backend.backend(), "train": args.train, "epochs": args.epochs,
               "batch_size": BATCH_SIZE, "seeds": args.seeds, "networks": {}}
    start = time.perf_counter()
    for network in args.networks:
        controls = {}
        rows = {}
        for name in args.choices:
            choice = CHOICES[name]
            key = control_key(choice)
            if key not in controls:
                controls[key] = [run(network, choice, True, seed, data, args.epochs)
                                 for seed in args.seeds]
            learned = [run(network, choice, False, seed, data, args.epochs)
                       for seed in args.seeds]
            rows[name] = {
                "description": choice.description,
                "accuracy": [a for a, _ in learned],
                "output_rms": [r for _, r in learned],
                "control_accuracy": [a for a, _ in controls[key]],
                "control_output_rms": [r for _, r in controls[key]],
            }
            print_row(network, name, rows[name], flush=True)
        results["networks"][network] = rows
    results["seconds"] = round(time.perf_counter() - start, 1)
    print_table(results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
        print(f"wrote {args.json}")


def mean(values):
    """The mean of `values`, or `None` if any run diverged."""
    return None if any(v is None for v in values) else float(np.mean(values))


def percent(value):
    return "diverged" if value is None else f"{100 * value:.2f}"


def figure(value):
    return "-" if value is None else f"{value:.2f}"


def print_row(network, name, row, flush=False):
    seeds = " ".join(percent(a) for a in row["accuracy"])
    print(f"{network:6s} {name:22s} {seeds}  mean {percent(mean(row['accuracy']))}  "
          f"control {percent(mean(row['control_accuracy']))}  "
          f"rms {figure(mean(row['output_rms']))} "
          f"(control {figure(mean(row['control_output_rms']))})", flush=flush)


def print_table(results):
    print()
    print("| network | choice | accuracy per seed (%) | mean | frozen-random control: per seed, "
          "mean | output rms (control) |")
    print("|---|---|---|---|---|---|")
    for network, rows in results["networks"].items():
        for row in rows.values():
            seeds = ", ".join(percent(a) for a in row["accuracy"])
            controls = ", ".join(percent(a) for a in row["control_accuracy"])
            print(f"| {network} | {row['description']} | {seeds} | "
                  f"{percent(mean(row['accuracy']))}% | "
                  f"{controls}; {percent(mean(row['control_accuracy']))}% | "
                  f"{figure(mean(row['output_rms']))} "
                  f"({figure(mean(row['control_output_rms']))}) |")


if __name__ == "__main__":
    main()
