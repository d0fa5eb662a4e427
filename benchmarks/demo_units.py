"""How many units of the command line's demo learn, against the MNIST benchmark's recipe.

`keras-hebbian train` (the demo: 64 SoftHebb units, 10 epochs on scikit-learn's
digits) uses `recipes.softhebb_dense_demo`: each unit's step divided by its own
largest entry, no anti-Hebbian push on the units that lose, initial weights
of standard deviation 1. The MNIST benchmark's recipe, `recipes.softhebb_dense`
(the whole step divided by its largest entry, losers pushed away, standard
deviation 0.7), leaves many units at their random start on the digits. For
each recipe and seed this prints the units that win at least one training
image and the accuracy of the command line's logistic-regression probe.

    KERAS_BACKEND=jax python benchmarks/demo_units.py
"""

import argparse
import time

import keras
import numpy as np

from keras_hebbian import recipes
from keras_hebbian.cli import _probe, load_data, unit_wins
from keras_hebbian.models import Sequential

RECIPES = {"demo": recipes.softhebb_dense_demo, "mnist benchmark": recipes.softhebb_dense}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = load_data("digits")
    print(f"backend {keras.backend.backend()}: {args.units} units, {args.epochs} epochs, "
          f"batch 64, digits ({len(x_train)} training images)")
    print(f"{'recipe':16s} {'seed':>4s} {'units won':>10s} {'accuracy':>9s} {'seconds':>8s}")
    for name, recipe in RECIPES.items():
        won_all, accuracies = [], []
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            layer = recipe(args.units, seed=seed)
            model = Sequential([keras.Input(x_train.shape[1:]), keras.layers.Flatten(),
                                keras.layers.UnitNormalization(), layer])
            model.compile()
            start = time.perf_counter()
            model.fit(x_train, epochs=args.epochs, batch_size=64, verbose=0)
            won = int(np.count_nonzero(unit_wins(model, layer, x_train)))
            accuracy = _probe(model, x_train, y_train, x_test, y_test)
            seconds = time.perf_counter() - start
            won_all.append(won)
            accuracies.append(accuracy)
            print(f"{name:16s} {seed:4d} {won:7d}/{args.units} {accuracy:9.4f} {seconds:8.1f}")
        print(f"{name:16s} mean {np.mean(won_all):7.1f}/{args.units} {np.mean(accuracies):9.4f}")


if __name__ == "__main__":
    main()
