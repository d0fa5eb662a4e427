"""Lateral anti-Hebbian learning decorrelates a layer's units (Foldiak, 1990).

Eight units receive strongly correlated inputs through a fixed feed-forward
kernel; only their lateral connections learn, by the anti-Hebbian rule. The
script prints the mean absolute correlation between units before and after,
and saves both correlation matrices side by side as a PNG.

    KERAS_BACKEND=jax python examples/lateral_decorrelation.py --out docs/lateral_decorrelation.png
"""

import argparse

import keras
import numpy as np

from keras_hebbian.layers import HebbianDense


def off_diagonal(c):
    return np.abs(c[~np.eye(len(c), dtype=bool)]).mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default="lateral_decorrelation.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    common = rng.normal(size=(8000, 1))
    x = (rng.normal(size=(8000, args.units)) + 0.8 * common).astype("float32")

    layer = HebbianDense(
        args.units,
        learning_rate=0.0,  # keep the feed-forward kernel fixed: watch the lateral loop alone
        kernel_initializer="identity",
        lateral="anti_hebbian",
        lateral_learning_rate=keras.optimizers.schedules.ExponentialDecay(0.05, 250, 0.5),
    )
    model = keras.Sequential([keras.Input((args.units,)), layer])
    model.compile()
    before = np.corrcoef(model.predict(x, verbose=0).T)
    model.fit(x, epochs=args.epochs, batch_size=32, verbose=2)
    after = np.corrcoef(model.predict(x, verbose=0).T)
    lateral = keras.ops.convert_to_numpy(layer.lateral_kernel.value)

    print(f"mean |correlation| between units: before {off_diagonal(before):.3f}, "
          f"after {off_diagonal(after):.3f}")
    print(f"lateral diagonal: {np.diag(lateral)} (no unit connects to itself)")

    from keras_hebbian.plot import correlation_matrices

    correlation_matrices([before, after], titles=["before", "after"], path=args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
