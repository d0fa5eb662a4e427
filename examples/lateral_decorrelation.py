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

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), constrained_layout=True)
    for ax, c, title in ((axes[0], before, "before"), (axes[1], after, "after")):
        image = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(f"{title}: mean |off-diagonal| = {off_diagonal(c):.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.8, label="correlation between units")
    fig.savefig(args.out, dpi=100)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
