"""CIFAR-10 accuracy of the published SoftHebb network, by the paper's protocol.

`keras_hebbian.models.softhebb_cifar10` (three SoftHebb blocks, 96 -> 384
-> 1536 filters, the paper's preset `4SoftHebbCnnCIFAR`) learns from the
50,000 training images without labels: one epoch in batches of 10, the
blocks one after the other (`--training greedy`, the paper's code's default)
or all at once (`--training together`). Pixels are scaled to [0, 1] and
nothing else, as in the paper's code. The paper's linear readout is then
trained on the frozen, flattened features (24,576 per image, unstandardised):
dropout 0.5, one dense softmax layer, 50 epochs of Adam at 0.001 in batches
of 64, the rate halved at 20, 35, 50, 60, 70, 80 and 90% of the training
(dataset preset `CIFAR10_50`), and tested on the 10,000 test images. Prints
each seed's test accuracy, their mean and the paper's published figure.

Data: `keras.datasets.cifar10` (downloads it), `--data PATH` (a .npz with
`x_train`, `y_train`, `x_test`, `y_test`, images `(n, 32, 32, 3)`, uint8 or
floats in [0, 1]) or `--synthetic` (random images made here: runs offline).

    python benchmarks/cifar10_conv.py                        # the paper's protocol
    python benchmarks/cifar10_conv.py --data cifar10.npz --seeds 0 1 2 3 --json cifar10.json
    python benchmarks/cifar10_conv.py --synthetic --train 64 --test 32 --width 0.05 --head-epochs 2
"""

import argparse
import json
import time

import keras
import numpy as np
from krotov_speed import accelerator

from keras_hebbian import models
from keras_hebbian.evaluation import train_head

#: The paper's published test accuracy (Journe et al., ICLR 2023), printed beside ours.
PAPER_ACCURACY = 0.803


class Pixels(keras.utils.PyDataset):
    """Batches of images as float32 in [0, 1]; uint8 arrays (or memory maps) are divided by 255.

    Converting batch by batch keeps a large uint8 set (STL-10's 100,000
    unlabelled images) at one byte a pixel. `order` fixes the order of the
    images (a shuffled one for training).
    """

    def __init__(self, images, batch_size, order=None, labels=None):
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, int(batch_size)
        self.order = np.arange(len(images)) if order is None else np.asarray(order)

    def __len__(self):
        return int(np.ceil(len(self.order) / self.batch_size))

    def __getitem__(self, index):
        rows = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        x = pixels(self.images[rows])
        return x if self.labels is None else (x, np.asarray(self.labels)[rows])


def pixels(images):
    """Images as float32 in [0, 1]: uint8 divided by 255, floats kept."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    return images.astype("float32")


def synthetic_images(counts, shape, classes=10, seed=0):
    """Random uint8 images of `shape`, one labelled set per entry of `counts`.

    Each image is a noisy copy of its class's template, a random 4x4 colour
    grid enlarged to the image's size (blocks of colour, which survive
    pooling), the templates shared by all the sets. Offline stand-ins for a
    real data set: they exercise every step of a benchmark, and a head can
    tell their classes apart.

    Returns:
        A list of `(images, labels)`, one per entry of `counts`.
    """
    rng = np.random.default_rng(seed)
    height, width, channels = shape
    grid = rng.uniform(0, 255, size=(classes, 4, 4, channels))
    templates = grid[:, np.arange(height) * 4 // height][:, :, np.arange(width) * 4 // width]
    sets = []
    for n in counts:
        labels = rng.integers(0, classes, size=n)
        images = 0.6 * templates[labels] + 0.4 * rng.uniform(0, 255, size=(n, *shape))
        sets.append((images.astype("uint8"), labels.astype("int64")))
    return sets


def load_npz(path):
    """`(x_train, y_train), (x_test, y_test)` from a .npz with those four arrays."""
    with np.load(path) as data:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
        if missing:
            raise ValueError(f"`--data` must be a .npz with x_train, y_train, x_test and y_test; "
                             f"{path} lacks {missing}")
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])


def load_cifar10(args):
    if args.synthetic:
        return synthetic_images([args.train or 500, args.test or 200], (32, 32, 3),
                                seed=args.seeds[0])
    if args.data:
        return load_npz(args.data)
    return keras.datasets.cifar10.load_data()


def add_arguments(parser, batch_size, head_epochs, head_batch_size):
    """The options shared by the SoftHebb benchmarks, with this data set's defaults."""
    parser.add_argument("--data", default=None, help="local .npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--synthetic", action="store_true",
                        help="random images made here instead of the data set (runs offline)")
    parser.add_argument("--train", type=int, default=None, help="labelled training images used (default: all)")
    parser.add_argument("--test", type=int, default=None, help="test images used (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--width", type=float, default=1.0, help="multiplies every block's filters")
    parser.add_argument("--epochs", type=int, default=1, help="unsupervised epochs (of each block when greedy)")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="unsupervised batch size")
    parser.add_argument("--training", choices=["greedy", "together"], default="greedy",
                        help="greedy: one block after the other (the paper's code); together: all at once")
    parser.add_argument("--head-epochs", type=int, default=head_epochs)
    parser.add_argument("--head-batch-size", type=int, default=head_batch_size)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--head-dropout", type=float, default=0.5)
    parser.add_argument("--standardize", action="store_true",
                        help="standardise the features for the head (the paper's readout does not)")
    parser.add_argument("--json", default=None, help="write the run's results to this JSON file")


def train_unsupervised(model, images, args, seed):
    """One unsupervised pass (per block when greedy) over `images`, shuffled by `seed`."""
    order = np.random.default_rng(seed).permutation(len(images))
    batches = Pixels(images, args.batch_size, order)
    model.compile()
    if args.training == "greedy":
        models.fit_greedy(model, batches, epochs=args.epochs, batch_size=None, verbose=0, shuffle=False)
    else:
        model.fit(batches, epochs=args.epochs, verbose=0, shuffle=False)


def features(model, images, batch_size=250):
    """The model's flattened features of `images`, computed batch by batch."""
    return model.predict(Pixels(images, batch_size), verbose=0)


def frozen_feature_head(model, data, args, seed):
    """The paper's readout on precomputed features: test accuracy."""
    (x_train, y_train), (x_test, y_test) = data
    return train_head(features(model, x_train), y_train, features(model, x_test), y_test,
                      epochs=args.head_epochs, batch_size=args.head_batch_size,
                      learning_rate=args.head_lr, dropout=args.head_dropout, seed=seed,
                      schedule="step", standardize=args.standardize)


def run(args, name, build, labelled, unlabelled, paper_accuracy, readout=frozen_feature_head):
    """Train and test one network per seed; print and return the results.

    Args:
        args: the parsed options of `add_arguments`.
        name: the data set's name, for the printed lines.
        build: `build(width=..., seed=...)`, a `keras_hebbian.models` builder.
        labelled: `((x_train, y_train), (x_test, y_test))`.
        unlabelled: the images the blocks learn from.
        paper_accuracy: the paper's published test accuracy.
        readout: `readout(model, labelled, args, seed)`, the head's test accuracy.

    Returns:
        A dict of the run, as written to `--json`.
    """
    start_all = time.perf_counter()
    (x_train, _), (x_test, _) = labelled
    print(f"{name}: backend {keras.backend.backend()}, {accelerator()}, width {args.width}, "
          f"{len(unlabelled)} unlabelled / {len(x_train)} labelled training images, "
          f"{len(x_test)} test images{' (synthetic)' if args.synthetic else ''}; "
          f"{args.epochs} unsupervised epoch(s), {args.training}, batch {args.batch_size}; "
          f"head: {args.head_epochs} epochs, batch {args.head_batch_size}")
    rows = []
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        model = build(width=args.width, seed=seed)
        start = time.perf_counter()
        train_unsupervised(model, unlabelled, args, seed)
        unsupervised_seconds = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = readout(model, labelled, args, seed)
        rows.append({"seed": seed, "test_accuracy": accuracy, "features": model.output_shape[-1],
                     "unsupervised_seconds": unsupervised_seconds,
                     "head_seconds": time.perf_counter() - start})
        print(f"seed {seed}: test accuracy {accuracy:.4f} ({model.output_shape[-1]} features; "
              f"unsupervised {unsupervised_seconds:.0f} s, head {rows[-1]['head_seconds']:.0f} s)",
              flush=True)
    accuracies = [row["test_accuracy"] for row in rows]
    mean = float(np.mean(accuracies))
    print(f"{name} test accuracy {mean:.4f} (mean of seeds {args.seeds}, std "
          f"{np.std(accuracies):.4f}); the paper's: {paper_accuracy:.3f}"
          + (" (synthetic images: not comparable)" if args.synthetic else ""))
    result = {"dataset": name, "synthetic": args.synthetic, "args": vars(args),
              "backend": keras.backend.backend(), "device": accelerator(), "rows": rows,
              "mean_test_accuracy": mean, "paper_test_accuracy": paper_accuracy,
              "seconds": time.perf_counter() - start_all}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, batch_size=10, head_epochs=50, head_batch_size=64)
    args = parser.parse_args()
    (x_train, y_train), (x_test, y_test) = load_cifar10(args)
    x_train, y_train = x_train[: args.train], np.ravel(y_train)[: args.train]
    x_test, y_test = x_test[: args.test], np.ravel(y_test)[: args.test]
    run(args, "CIFAR-10", models.softhebb_cifar10, ((x_train, y_train), (x_test, y_test)),
        x_train, PAPER_ACCURACY)


if __name__ == "__main__":
    main()
