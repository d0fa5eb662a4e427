"""Complete corrupted MNIST digits with a Hopfield network and a dense associative memory.

Test digits are binarised (pixel > half of the maximum -> +1, else -1).
A `HopfieldMemory` (Storkey's rule) stores the first `--hopfield-stored` of
the digits 0, 1, 2, ...; a `DenseAssociativeMemory` (exponential
interaction, `--beta`) stores `--dense-stored` digits, as many of each
class. Each memory completes its first digits (up to ten) from cues with
each pixel flipped with probability `--flip`. The script prints, per
memory, how many digits it recalled exactly and the fraction of pixels
right, and saves a figure: one column per digit, rows cue, recall,
original.

Digits are strongly correlated patterns (they share most of their
background), unlike the random patterns that a Hopfield network's capacity
of about 0.14 N refers to: with Hebb's rule it mixes even three digits, and
with Storkey's rule it holds only a few, while the dense memory holds a
hundred.

    KERAS_BACKEND=jax python examples/mnist_completion.py --data path/to/mnist.npz --out docs/mnist_completion.png
    python examples/mnist_completion.py --dataset digits   # scikit-learn's 8x8 digits, offline
"""

import argparse

import keras
import numpy as np

from keras_hebbian import datasets
from keras_hebbian.layers import DenseAssociativeMemory, HopfieldMemory


def load(args):
    """Test images `(n, height, width)` scaled to [0, 1], and their labels."""
    if args.dataset == "digits":
        _, (images, labels) = datasets.load_digits()
        return images / 16.0, labels
    _, (images, labels) = datasets.load_mnist(args.data)
    return images / 255.0, labels


def corrupt(rng, patterns, flip):
    """`patterns` with each pixel flipped with probability `flip`."""
    return np.where(rng.random(patterns.shape) < flip, -patterns, patterns).astype("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    parser.add_argument("--data", default=None,
                        help="local mnist.npz (default: $KERAS_HEBBIAN_DATA, else download)")
    parser.add_argument("--hopfield-stored", type=int, default=3,
                        help="digits (0, 1, 2, ...) stored in the Hopfield network")
    parser.add_argument("--dense-stored", type=int, default=100,
                        help="digits stored in the dense memory, the same number of each class")
    parser.add_argument("--beta", type=float, default=0.5,
                        help="inverse temperature of the dense memory")
    parser.add_argument("--flip", type=float, default=0.2,
                        help="probability that a pixel of a cue is flipped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="mnist_completion.png")
    args = parser.parse_args()

    images, labels = load(args)
    height, width = images.shape[1:]
    per_class = max(1, args.dense_stored // 10)
    chosen = np.stack([np.flatnonzero(labels == digit)[:per_class] for digit in range(10)], 1)
    stored = np.where(images[chosen.ravel()] > 0.5, 1.0, -1.0).reshape(-1, height * width)
    stored = stored.astype("float32")  # its first 10 rows: one digit of each class, 0 to 9
    rng = np.random.default_rng(args.seed)

    hopfield_patterns = stored[: args.hopfield_stored]
    hopfield = HopfieldMemory(rule="storkey", seed=args.seed)
    hopfield.store(hopfield_patterns)
    hopfield_cues = corrupt(rng, hopfield_patterns, args.flip)
    dense = DenseAssociativeMemory(capacity=len(stored), interaction="exponential",
                                   beta=args.beta)
    dense.store(stored)
    dense_patterns = stored[:10]
    dense_cues = corrupt(rng, dense_patterns, args.flip)
    panels = [
        (f"HopfieldMemory (Storkey), {len(hopfield_patterns)} digits stored", hopfield_cues,
         np.sign(keras.ops.convert_to_numpy(hopfield(hopfield_cues))), hopfield_patterns),
        (f"DenseAssociativeMemory (exponential), {len(stored)} digits stored", dense_cues,
         np.sign(keras.ops.convert_to_numpy(dense(dense_cues))), dense_patterns),
    ]
    print(f"{args.dataset}: {height}x{width} binarised digits, {args.flip:.0%} of the pixels "
          "of each cue flipped")
    for title, cues, recall, original in panels:
        exact = int(np.sum(np.all(recall == original, axis=1)))
        print(f"{title}: {exact} of {len(original)} recalled exactly, "
              f"{np.mean(recall == original):.3f} of the pixels correct "
              f"(cues: {np.mean(cues == original):.3f})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = sum(len(original) for _, _, _, original in panels) + 1
    fig, axes = plt.subplots(3, columns, figsize=(0.95 * columns, 3.6))
    column = 0
    for title, cues, recall, original in panels:
        for i in range(len(original)):
            for row, states in enumerate((cues, recall, original)):
                ax = axes[row, column + i]
                ax.imshow(states[i].reshape(height, width), cmap="gray_r", vmin=-1, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, column].set_title(title, fontsize=8, loc="left")
        column += len(original)
        if column < columns:
            for row in range(3):
                axes[row, column].axis("off")
            column += 1
    for row, name in enumerate(("cue", "recall", "original")):
        axes[row, 0].set_ylabel(name, fontsize=8)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.02, top=0.88, wspace=0.08, hspace=0.08)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
