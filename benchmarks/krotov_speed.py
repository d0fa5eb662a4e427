"""Speed of one unsupervised MNIST epoch of Krotov-Hopfield learning.

2000 units, batch 100, 60,000 images, on each backend in its own process.
The same run measures the backend's float32 matrix-product rate and prints
the epoch time as a multiple of the arithmetic floor: two 784 x 2000 matrix
products per sample (the currents and the weight update), at that rate. It
also times the published algorithm written as a NumPy loop (argsort ranking,
dense update matrix), the way the paper's notebook computes it.

    python benchmarks/krotov_speed.py --data ../shared/data/mnist.npz
    python benchmarks/krotov_speed.py --backends jax --no-numpy
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

UNITS, FEATURES, BATCH = 2000, 784, 100


def load(data):
    from keras_hebbian import datasets

    (x_train, _), _ = datasets.load_mnist(data)
    return x_train.reshape(len(x_train), -1).astype("float32") / 255.0


def matmul_rate(repeats=200):
    """float32 FLOP/s of a (100 x 784) @ (784 x 2000) product on this backend."""
    import keras

    a = keras.ops.convert_to_tensor(np.random.rand(BATCH, FEATURES).astype("float32"))
    b = keras.ops.convert_to_tensor(np.random.rand(FEATURES, UNITS).astype("float32"))
    for _ in range(10):
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats // 5):
            c = keras.ops.matmul(a, b)
        keras.ops.convert_to_numpy(c)
        best = min(best, (time.perf_counter() - start) / (repeats // 5))
    return 2 * BATCH * FEATURES * UNITS / best


def keras_epoch(x, seed=0):
    import keras

    from keras_hebbian import recipes

    keras.utils.set_random_seed(seed)
    # a constant rate: the speed of an epoch does not depend on it
    layer = recipes.krotov_hopfield_dense(UNITS, None, learning_rate=0.02, seed=seed)
    model = keras.Sequential([keras.Input((FEATURES,)), layer])
    model.compile()
    model.fit(x[:2000], batch_size=BATCH, verbose=0)  # compile and warm up
    start = time.perf_counter()
    model.fit(x, batch_size=BATCH, verbose=0)
    return time.perf_counter() - start


def numpy_epoch(x, batches=60, seed=0):
    """The published algorithm as a NumPy loop; seconds per epoch, extrapolated."""
    rng = np.random.default_rng(seed)
    synapses = rng.normal(size=(UNITS, FEATURES)).astype("float32")
    p, k, delta, eps = 3.0, 7, 0.4, 0.02
    order = rng.permutation(len(x))
    start = time.perf_counter()
    for i in range(batches):
        inputs = x[order[i * BATCH:(i + 1) * BATCH]].T
        sig = np.sign(synapses)
        currents = np.dot(sig * np.absolute(synapses) ** (p - 1), inputs)
        ranks = np.argsort(currents, axis=0)
        g = np.zeros((UNITS, BATCH), dtype="float32")
        g[ranks[UNITS - 1, :], np.arange(BATCH)] = 1.0
        g[ranks[UNITS - k], np.arange(BATCH)] = -delta
        xx = np.sum(g * currents, 1)
        ds = np.dot(g, inputs.T) - xx[:, None] * synapses
        synapses += eps * ds / max(np.amax(np.absolute(ds)), 1e-30)
    return (time.perf_counter() - start) / batches * (len(x) // BATCH)


def accelerator():
    """The accelerator the backend computes on, or "CPU"."""
    import keras

    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].device_kind if jax.default_backend() == "gpu" else "CPU"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else "CPU"


def measure(data):
    import keras

    x = load(data)
    rate = matmul_rate()
    floor = len(x) * 2 * (2 * FEATURES * UNITS) / rate
    seconds = keras_epoch(x)
    return {"backend": keras.backend.backend(), "device": accelerator(),
            "epoch_seconds": seconds,
            "matmul_gflops": rate / 1e9, "floor_seconds": floor, "ratio": seconds / floor}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="local mnist.npz (default: $KERAS_HEBBIAN_DATA)")
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy reference loop")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(measure(args.data)))
        return
    print(f"Krotov-Hopfield, {UNITS} units, batch {BATCH}, one epoch of 60,000 MNIST images, "
          f"{os.cpu_count()} CPUs")
    print(f"{'implementation':<28}{'epoch s':>9}{'matmul GFLOP/s':>16}{'floor s':>9}{'x floor':>9}")
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker"] + (["--data", args.data] if args.data else [])
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"keras-hebbian ({backend}): failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{'keras-hebbian (' + backend + ')':<28}{r['epoch_seconds']:>9.2f}"
              f"{r['matmul_gflops']:>16.1f}{r['floor_seconds']:>9.2f}{r['ratio']:>9.2f}  {r['device']}")
    if not args.no_numpy:
        # loading the data imports Keras: use a backend that was measured
        os.environ.setdefault("KERAS_BACKEND", args.backends[0])
        seconds = numpy_epoch(load(args.data))
        print(f"{'NumPy loop (paper)':<28}{seconds:>9.2f}{'':>16}{'':>9}{'':>9}  (60 batches, extrapolated)")


if __name__ == "__main__":
    main()
