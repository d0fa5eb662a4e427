"""MNIST accuracy of a convolutional SoftHebb network trained for one unsupervised epoch.

`keras_hebbian.models.softhebb_mnist` (two SoftHebb blocks, 96 -> 384
filters) learns from the 60,000 training images without labels, all layers
together in one pass; a linear softmax head is then trained on its frozen,
flattened features and tested on the 10,000 test images. The random-features
control trains the same head on the same network left untrained. Prints the
accuracy of each seed, the mean, and the whole run's time.

    python benchmarks/mnist_conv.py --data ../shared/data/mnist.npz
    python benchmarks/mnist_conv.py --seeds 0 --width 0.25 --train 10000   # quick look
"""

import argparse
import os
import time

import keras
import numpy as np

from keras_hebbian import datasets, models
from keras_hebbian.evaluation import train_head


def features(model, x, batch_size=500):
    return model.predict(x, batch_size=batch_size, verbose=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="local mnist.npz (default: $KERAS_HEBBIAN_DATA)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--width", type=float, default=1.0, help="multiplies the filters (1.0: 96, 384)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train", type=int, default=60000, help="training images used")
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument("--no-control", action="store_true", help="skip the random-features control")
    args = parser.parse_args()

    start_all = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(args.data)
    x_train = x_train[: args.train, :, :, None].astype("float32") / 255.0
    y_train = y_train[: args.train]
    x_test = x_test[:, :, :, None].astype("float32") / 255.0
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, softhebb_mnist width "
          f"{args.width}, {len(x_train)} training images, {args.epochs} unsupervised epoch(s)")
    print(f"{'features':<12}{'seed':>5}{'unsup s':>9}{'test acc':>10}")
    results = {"softhebb": [], "random": []}
    for seed in args.seeds:
        for kind in ["softhebb"] + ([] if args.no_control else ["random"]):
            keras.utils.set_random_seed(seed)
            model = models.softhebb_mnist(width=args.width, seed=seed)
            model.compile()
            start = time.perf_counter()
            if kind == "softhebb":
                model.fit(x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
            else:
                # the same network, untrained: batch-norm statistics only
                for layer in models.hebbian_layers(model):
                    layer.trainable = False
                model.compile()
                model.fit(x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
            seconds = time.perf_counter() - start
            accuracy = train_head(features(model, x_train), y_train, features(model, x_test), y_test,
                                  epochs=args.head_epochs, seed=seed)
            results[kind].append(accuracy)
            print(f"{kind:<12}{seed:>5}{seconds:>9.1f}{accuracy:>10.4f}", flush=True)
    print()
    for kind, accs in results.items():
        if accs:
            print(f"{kind:<12} mean test accuracy {np.mean(accs):.4f} (std {np.std(accs):.4f}, "
                  f"seeds {args.seeds})")
    print(f"whole run: {time.perf_counter() - start_all:.0f} s")


if __name__ == "__main__":
    main()
