"""Watch competitive units converge: HebbianMonitor's figures, plotted.

A Krotov-Hopfield layer learns digits without labels; `HebbianMonitor` logs
each epoch's mean weight norm, distance to the rule's fixed point (unit
p-norm), update magnitude and fraction of units that changed, and the script
plots them with `keras_hebbian.plot.norm_convergence`.

    KERAS_BACKEND=jax python examples/convergence.py --out docs/convergence.png
"""

import argparse

import keras

from keras_hebbian import datasets, recipes
from keras_hebbian.callbacks import HebbianMonitor
from keras_hebbian.plot import norm_convergence


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="convergence.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    (x_train, _), _ = datasets.load_digits()
    x = x_train.reshape(len(x_train), -1).astype("float32") / 16.0
    steps = args.epochs * -(-len(x) // 32)
    keras.utils.set_random_seed(args.seed)
    model = keras.Sequential([
        keras.Input((64,)),
        recipes.krotov_hopfield_dense(args.units, steps, learning_rate=0.1, k=3, seed=args.seed,
                                      name="krotov"),
    ])
    model.compile()
    history = model.fit(x, epochs=args.epochs, batch_size=32, verbose=2, callbacks=[HebbianMonitor()])
    norm_convergence(history, path=args.out, title="Krotov-Hopfield on digits")
    print(f"mean distance to unit p-norm: {history.history['krotov/norm_distance'][0]:.3f} after "
          f"epoch 1, {history.history['krotov/norm_distance'][-1]:.3f} after epoch {args.epochs}")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
