"""Update throughput of one HebbianConv2D layer against a Conv2D training step.

Both see the same input batch shape and produce the same output shape; the
Hebbian layer runs its forward pass and its SoftHebb weight update, the plain
`keras.layers.Conv2D` its forward pass, backward pass and SGD step (on a
mean-squared loss). Images per second, in the same process and backend: the
best of `--repeats` epochs of each, the two models taking turns.

    KERAS_BACKEND=jax python benchmarks/conv_speed.py
    KERAS_BACKEND=jax python benchmarks/conv_speed.py --size 16 --channels 96 --filters 384 --kernel 3
"""

import argparse
import time

import keras
import numpy as np

from keras_hebbian import rules
from keras_hebbian.layers import HebbianConv2D
from keras_hebbian.layers.conv_correlation import default_method


def images_per_second(models, x, targets, steps, repeats):
    """Best images/s of each model's `fit` epoch over `repeats` rounds.

    The models take turns within each round, so a slower moment of the
    machine falls on both and the ratio stays fair.
    """
    batch_size = len(x) // steps
    for model, y in zip(models, targets):
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # compile, warm up
    best = [float("inf")] * len(models)
    for _ in range(repeats):
        for i, (model, y) in enumerate(zip(models, targets)):
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
            best[i] = min(best[i], time.perf_counter() - start)
    return [len(x) / seconds for seconds in best]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--filters", type=int, default=96)
    parser.add_argument("--kernel", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs of each model")
    parser.add_argument("--rule", default="softhebb",
                        help="the Hebbian layer's rule (e.g. 'hebb': the update without a competition)")
    args = parser.parse_args()

    shape = (args.size, args.size, args.channels)
    x = np.random.default_rng(0).normal(size=(args.batch * args.steps,) + shape).astype("float32")

    hebbian = keras.Sequential([
        keras.Input(shape),
        HebbianConv2D(args.filters, args.kernel, padding="same", rule=rules.get(args.rule),
                      learning_rate=0.01, seed=0),
    ])
    hebbian.compile()
    plain = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(args.filters, args.kernel,
                                                                       padding="same", use_bias=False)])
    plain.compile(optimizer="sgd", loss="mse")
    target = np.zeros((len(x), args.size, args.size, args.filters), "float32")

    hebbian_rate, plain_rate = images_per_second([hebbian, plain], x, [None, target], args.steps,
                                                 args.repeats)
    print(f"backend {keras.backend.backend()}: batch {args.batch} of {shape}, "
          f"{args.filters} filters {args.kernel}x{args.kernel}, padding same; "
          f"weight-gradient method {default_method()!r}")
    print(f"{'HebbianConv2D forward + ' + args.rule + ' update':<44}{hebbian_rate:>10.0f} images/s")
    print(f"{'Conv2D forward + backward + SGD step':<44}{plain_rate:>10.0f} images/s")
    print(f"{'Hebbian update cost / training step cost':<44}{plain_rate / hebbian_rate:>10.2f}")


if __name__ == "__main__":
    main()
