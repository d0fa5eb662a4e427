"""Train Hebbian layers without labels and measure what they learned.

1. A network made only of a `HebbianDense` layer learns the principal
   components of handwritten digits by Sanger's rule, with no labels and no
   loss (`model.compile(); model.fit(x)`).
2. A linear probe on its frozen features is compared with the same probe on
   a frozen random kernel of the same size, and the learned subspace with
   scikit-learn's PCA.
3. A hybrid network (Hebbian layer -> softmax head) trains in one
   `fit(x, y)`: the head by backprop, the Hebbian kernel by its rule.

Runs offline on scikit-learn's digits by default:

    KERAS_BACKEND=jax python examples/quickstart.py
    python examples/quickstart.py --dataset mnist --data ../shared/data/mnist.npz
"""

import argparse
import time

import keras
import numpy as np
from sklearn.decomposition import PCA

from keras_hebbian import datasets
from keras_hebbian.evaluation import linear_probe
from keras_hebbian.layers import HebbianDense


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--data", default=None, help="local mnist.npz (default: $KERAS_HEBBIAN_DATA)")
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    if args.dataset == "digits":
        (x_train, y_train), (x_test, y_test) = datasets.load_digits(seed=args.seed)
    else:
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist(args.data)
    x_train = x_train.reshape(len(x_train), -1).astype("float32")
    x_test = x_test.reshape(len(x_test), -1).astype("float32")
    scale = x_train.max()
    mean = x_train.mean(axis=0) / scale
    x_train = x_train / scale - mean
    x_test = x_test / scale - mean
    n_features = x_train.shape[1]
    print(f"backend: {keras.backend.backend()}, data: {args.dataset} "
          f"{x_train.shape[0]} train / {x_test.shape[0]} test, {n_features} inputs")

    # 1. Hebbian-only network, no labels, no loss.
    hebbian = HebbianDense(args.units, rule="sanger", learning_rate=args.learning_rate, seed=args.seed)
    model = keras.Sequential([keras.Input((n_features,)), hebbian])
    model.compile()
    random_kernel = keras.ops.convert_to_numpy(hebbian.kernel.value).copy()
    start = time.perf_counter()
    model.fit(x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    seconds = time.perf_counter() - start

    # 2. What it learned.
    kernel = keras.ops.convert_to_numpy(hebbian.kernel.value)
    pca = PCA(n_components=args.units).fit(x_train)
    q_hebb, _ = np.linalg.qr(kernel)
    q_pca, _ = np.linalg.qr(pca.components_.T)
    captured = np.sum((x_train @ q_hebb) ** 2) / np.sum((x_train @ q_pca) ** 2)
    hebbian_acc = linear_probe(model.predict(x_train, verbose=0), y_train,
                               model.predict(x_test, verbose=0), y_test)
    random_acc = linear_probe(x_train @ random_kernel, y_train, x_test @ random_kernel, y_test)

    # 3. Hybrid: Hebbian features and a softmax head, one fit(x, y).
    hybrid = keras.Sequential([
        keras.Input((n_features,)),
        HebbianDense(args.units, rule="sanger", learning_rate=args.learning_rate, seed=args.seed),
        keras.layers.Dense(10, activation="softmax"),
    ])
    hybrid.compile(optimizer=keras.optimizers.Adam(0.01),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hybrid.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    _, hybrid_acc = hybrid.evaluate(x_test, y_test, verbose=0)

    print()
    print(f"unsupervised training: {args.epochs} epochs in {seconds:.1f} s")
    print(f"variance captured, relative to PCA's top-{args.units} subspace: {captured:.3f}")
    print(f"{'features':<40} test accuracy")
    print(f"{'Sanger (Hebbian, no labels) + linear probe':<40} {hebbian_acc:.4f}")
    print(f"{'random frozen kernel + linear probe':<40} {random_acc:.4f}")
    print(f"{'hybrid Hebbian -> softmax, one fit(x, y)':<40} {hybrid_acc:.4f}")


if __name__ == "__main__":
    main()
