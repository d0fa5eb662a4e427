"""MNIST accuracy of competitive Hebbian layers: Krotov-Hopfield, SoftHebb, hard WTA.

One Hebbian layer of `--units` units learns from the 60,000 training images
without labels; then a head is trained on its frozen features `relu(h) **
power` and tested on the 10,000 test images: by default Krotov & Hopfield's
head (`tanh(beta * S h)`, loss `sum |c - t| ** 6`), or `--head softmax`
(standardised features, cross-entropy). The random-features control trains
the same head on the same layer left at its random initialisation.
Krotov-Hopfield learns from pixels in [0, 1] as in the paper, and its
features are read as the paper's classifier reads them: each image scaled to
unit norm, times the kernel (`recipes.krotov_hopfield_features`;
`--readout layer` reads the layer's own output instead). SoftHebb and WTA
see each image scaled to unit norm (`UnitNormalization`).
Prints one row per rule and seed, then the mean over seeds.

    python benchmarks/mnist_competitive.py --data ../shared/data/mnist.npz
    python benchmarks/mnist_competitive.py --rules krotov --seeds 0 --krotov-epochs 5   # quick look
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from keras_hebbian import datasets, recipes
from keras_hebbian.evaluation import train_head
from keras_hebbian.layers import HebbianDense

STEPS_PER_EPOCH = 600  # 60,000 images, batch 100


def make_layer(name, args, seed):
    """The Hebbian layer, its unsupervised epochs, and whether inputs are L2-normalised."""
    if name == "krotov":
        # linear annealing to zero across all epochs, as in the paper
        steps = args.krotov_epochs * STEPS_PER_EPOCH
        return recipes.krotov_hopfield_dense(args.units, steps, learning_rate=args.krotov_lr,
                                             seed=seed), args.krotov_epochs, False
    if name == "softhebb":
        return recipes.softhebb_dense(args.units, learning_rate=args.softhebb_lr,
                                      temperature=args.softhebb_temperature,
                                      seed=seed), args.softhebb_epochs, True
    if name == "wta":
        return recipes.winner_take_all_dense(args.units, learning_rate=args.wta_lr,
                                             seed=seed), args.wta_epochs, True
    if name == "random":
        # Krotov-Hopfield's initial weights, left as they are
        return HebbianDense(args.units, learning_rate=0.0,
                            kernel_initializer=recipes.krotov_hopfield_initializer(seed),
                            seed=seed), 0, False
    raise ValueError(f"unknown rule {name!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="local mnist.npz (default: $KERAS_HEBBIAN_DATA, else download)")
    parser.add_argument("--rules", nargs="+", default=["krotov", "softhebb", "wta", "random"],
                        choices=["krotov", "softhebb", "wta", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--krotov-epochs", type=int, default=100)
    parser.add_argument("--krotov-lr", type=float, default=0.1)
    parser.add_argument("--softhebb-epochs", type=int, default=1)
    parser.add_argument("--softhebb-lr", type=float, default=0.05)
    parser.add_argument("--softhebb-temperature", type=float, default=0.02)
    parser.add_argument("--wta-epochs", type=int, default=1)
    parser.add_argument("--wta-lr", type=float, default=0.05)
    parser.add_argument("--readout", choices=["paper", "layer"], default="paper",
                        help="Krotov-Hopfield features: paper (unit-norm images times the kernel, "
                             "recipes.krotov_hopfield_features) or layer (the layer's own output)")
    parser.add_argument("--power", type=float, default=4.5, help="head features relu(h)**power")
    parser.add_argument("--head", choices=["tanh", "softmax"], default="tanh")
    parser.add_argument("--beta", type=float, default=10.0, help="gain of the tanh head")
    parser.add_argument("--head-epochs", type=int, default=120)
    parser.add_argument("--head-batch-size", type=int, default=100)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--figures", default=None,
                        help="folder for each rule's receptive fields (first seed), PNG")
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(args.data)
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / 255.0
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255.0
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, {os.cpu_count()} CPUs, "
          f"units {args.units}, batch {args.batch_size}, {args.readout} readout, "
          f"head relu^{args.power} + {args.head}, "
          f"{args.head_epochs} epochs")
    print(f"{'rule':<10}{'seed':>5}{'epochs':>8}{'unsup s':>9}{'test acc':>10}")
    rows = []
    for name in args.rules:
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            layer, epochs, unit_norm = make_layer(name, args, seed)
            inputs = [keras.Input((784,))] + ([keras.layers.UnitNormalization()] if unit_norm else [])
            model = keras.Sequential(inputs + [layer])
            model.compile()
            start = time.perf_counter()
            if epochs:
                model.fit(x_train, epochs=epochs, batch_size=args.batch_size, verbose=0)
            seconds = time.perf_counter() - start
            reader = model
            if name in ("krotov", "random") and args.readout == "paper":
                reader = recipes.krotov_hopfield_features(layer)
            h_train = reader.predict(x_train, batch_size=1000, verbose=0)
            h_test = reader.predict(x_test, batch_size=1000, verbose=0)
            accuracy = train_head(h_train, y_train, h_test, y_test, power=args.power,
                                  head=args.head, beta=args.beta, epochs=args.head_epochs,
                                  batch_size=args.head_batch_size,
                                  learning_rate=args.head_lr, seed=seed)
            if args.figures and seed == args.seeds[0]:
                from keras_hebbian.plot import receptive_fields

                os.makedirs(args.figures, exist_ok=True)
                # the 64 units that win the most training images
                wins = np.bincount(np.argmax(h_train, axis=1), minlength=args.units)
                receptive_fields(keras.ops.convert_to_numpy(layer.kernel.value), (28, 28),
                                 units=64, order=np.argsort(-wins),
                                 path=os.path.join(args.figures, f"{name}_receptive_fields.png"),
                                 title=f"{name}: the 64 most active of {args.units} units")
            rows.append({"rule": name, "seed": seed, "epochs": epochs,
                         "unsupervised_seconds": seconds, "test_accuracy": accuracy})
            print(f"{name:<10}{seed:>5}{epochs:>8}{seconds:>9.1f}{accuracy:>10.4f}", flush=True)
    print()
    print(f"{'rule':<10}{'epochs':>8}{'mean acc':>10}{'std':>8}  (over seeds {args.seeds})")
    for name in args.rules:
        accs = [r["test_accuracy"] for r in rows if r["rule"] == name]
        epochs = [r["epochs"] for r in rows if r["rule"] == name][0]
        print(f"{name:<10}{epochs:>8}{np.mean(accs):>10.4f}{np.std(accs):>8.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
