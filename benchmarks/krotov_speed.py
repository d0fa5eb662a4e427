"""Speed of one unsupervised MNIST epoch of Krotov-Hopfield learning, side by side.

2000 units, batch 100, 60,000 images. For each backend, each in its own
process: keras-hebbian's epoch through `compile()` + `fit()` of a plain
`keras.Sequential`, and (JAX, TensorFlow) of `keras_hebbian.models.Sequential`,
whose `compile()` chooses 50 batches per compiled call there; the
arithmetic floor measured in the same process (one 100 x 784 by 784 x 2000
currents product per batch, now that the update touches only the winners'
columns); and the same algorithm as a plain hand-written loop in that
backend's own framework (a jitted JAX `lax.scan` over the batches, a PyTorch
loop, a `tf.function` loop), with the ratios. On JAX and PyTorch a second
plain loop updates only the changed units' weights, stored unit by unit
(`column_loop()`), and the library's epochs are also given as multiples of it.
On JAX a third loop is that one with its weights stored as a Keras kernel,
`(inputs, units)` (`column_loop(by_unit=False)`): XLA keeps a CPU array row
by row, so each changed unit's weights lie one row apart, and the two loops
of changed units differ by what that layout costs.
On TensorFlow it also times the plain `keras.Sequential` compiled by XLA
(`compile(jit_compile=True)`, which Keras' own "auto" does not choose on a
CPU; `keras_hebbian.models` do, so their row runs under XLA). Each
implementation runs in its own process, which prints its peak memory (resident
set on the CPU; device memory too on a GPU) and its device (on TensorFlow's
CPU, whether oneDNN ran: `TF_ENABLE_ONEDNN_OPTS=1` turns it on where
TensorFlow does not by itself). `--torch-compile` adds PyTorch
compiled with `compile(jit_compile=True)` (Keras then runs each step through
`torch.compile`) and prints how long compiling took. It also times the
published algorithm written as a NumPy loop (argsort ranking, dense update
matrix), the way the paper's notebook computes it.

`--check` first runs, in its own process per backend, a few batches of the
hand-written loop (on JAX and PyTorch both loops) and of keras-hebbian from
the same initial kernel on the same images, in full float32 (no TensorFloat-32
on a GPU), and compares the kernels after them: the largest difference must be
at most `CHECK_TOLERANCE` of the largest change the library made (and the
kernel must have changed); the script exits with status 1 if they differ or a
run fails. `--train N` takes the first N training images (whole batches);
`--synthetic` random images instead of MNIST. `--repeats N` runs each
backend's implementations N times, alternating them (all of them once, then
all again), and prints each one's median epoch with the range of its runs:
on a machine whose speed drifts, alternating puts every implementation in
every period, and the ratios are taken between the medians.

    python benchmarks/krotov_speed.py --data ../shared/data/mnist.npz
    python benchmarks/krotov_speed.py --backends jax --no-numpy
    python benchmarks/krotov_speed.py --backends torch --no-numpy --torch-compile
    python benchmarks/krotov_speed.py --backends jax --train 400 --check --no-numpy --synthetic
    python benchmarks/krotov_speed.py --backends jax torch --no-numpy --repeats 3
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

UNITS, FEATURES, BATCH = 2000, 784, 100
# the hand-written loops: p = 3, k = 7, delta = 0.4, a constant rate
K, DELTA, RATE = 7, 0.4, 0.02
# `--check`: batches compared, and the largest difference of the two kernels
# allowed, relative to the largest change the library made
CHECK_BATCHES = 4
CHECK_TOLERANCE = 1e-4
# the backends with a second loop, of the changed units only (`column_loop()`)
COLUMN_LOOPS = ("jax", "torch")
# and with a third, that loop on weights stored as `(inputs, units)`
KERNEL_LAYOUT_LOOPS = ("jax",)


def load(data, synthetic=False, train=60000):
    """The first `train` training images (pixels in [0, 1]), or as many random ones."""
    if synthetic:
        return np.random.default_rng(0).random((train, FEATURES), dtype="float32")
    from keras_hebbian import datasets

    (x_train, _), _ = datasets.load_mnist(data)
    return x_train[:train].reshape(-1, FEATURES).astype("float32") / 255.0


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


def keras_epoch(x, seed=0, library=False, jit_compile="auto"):
    """Seconds of the warm-up `fit` (compiling) and of one epoch, and the steps per call.

    `library`: `keras_hebbian.models.Sequential` and its `compile()`'s steps
    per call; else a plain `keras.Sequential`, one step per call.
    """
    import keras

    from keras_hebbian import models, recipes

    keras.utils.set_random_seed(seed)
    # a constant rate: the speed of an epoch does not depend on it
    layer = recipes.krotov_hopfield_dense(UNITS, None, learning_rate=0.02, seed=seed)
    if library:
        model = models.Sequential([keras.Input((FEATURES,)), layer])
    else:  # the plain Keras model, as most users build it
        model = keras.Sequential([keras.Input((FEATURES,)), layer])
    model.compile(jit_compile=jit_compile)
    steps = model.steps_per_execution
    # compile and warm up, on as many batches as one execution takes
    start = time.perf_counter()
    model.fit(x[:BATCH * max(20, steps)], batch_size=BATCH, verbose=0)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(x, batch_size=BATCH, verbose=0)
    keras.ops.convert_to_numpy(layer.kernel)  # waits for the last step on an accelerator
    return warmup, time.perf_counter() - start, steps


def numpy_epoch(x, batches=60, seed=0):
    """The published algorithm as a NumPy loop; seconds per epoch, extrapolated."""
    batches = min(batches, len(x) // BATCH)
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
    return gpus[0].name if gpus else f"CPU, oneDNN {'on' if tensorflow_onednn() else 'off'}"


def processor(cpuinfo=None):
    """The CPU's model and its widest vector extensions, e.g. "AMD EPYC 7B13 (AVX2)".

    Read from `cpuinfo`, the text of Linux's `/proc/cpuinfo` (read here when
    `None`); elsewhere, or without a model name there, Python's `platform`.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as file:
                cpuinfo = file.read()
        except OSError:
            cpuinfo = ""
    model = re.search(r"^model name\s*:\s*(.+?)\s*$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    name = model.group(1) if model else (platform.processor() or platform.machine() or "unknown")
    flags = set(flags.group(1).split()) if flags else set()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    extensions = [e for e in (vector, "AMX" if "amx_tile" in flags else None) if e]
    return f"{name} ({', '.join(extensions)})" if extensions else name


def tensorflow_onednn():
    """Whether TensorFlow runs its CPU operations through oneDNN in this process.

    On Linux, TensorFlow turns it on by itself only on CPUs with AVX-512 VNNI or
    BF16, AVX-VNNI or AMX; `TF_ENABLE_ONEDNN_OPTS=1` turns it on elsewhere (read
    when TensorFlow is imported).
    """
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def hand_written_loop():
    """The algorithm as a plain loop in the backend's own framework.

    Returns `(convert, epoch)`: `convert(array)` puts a NumPy array on the
    backend's device; `epoch(w, xb)` learns from the batches `xb` `(batches,
    BATCH, FEATURES)` from the kernel `w` `(FEATURES, UNITS)`, both converted,
    and returns the kernel after them as NumPy (waiting for the device).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        rows = jnp.arange(BATCH)

        def step(w, xs):
            currents = xs @ (w * jnp.abs(w))
            _, ranked = jax.lax.top_k(currents, K)
            # Without the barrier XLA folds the two column slices into `top_k`
            # and sorts every row instead (on a CPU 37-40 ms a step, against
            # 0.5-0.7 ms for its own TopK kernel).
            ranked = jax.lax.optimization_barrier(ranked)
            g = jnp.zeros_like(currents).at[rows, ranked[:, 0]].set(1.0)
            g = g.at[rows, ranked[:, K - 1]].set(-DELTA)
            ds = xs.T @ g - w * jnp.sum(g * currents, axis=0)
            return w + RATE * ds / jnp.maximum(jnp.max(jnp.abs(ds)), 1e-30), None

        scan = jax.jit(lambda w, xb: jax.lax.scan(step, w, xb)[0])
        return jnp.asarray, lambda w, xb: np.asarray(scan(w, xb))
    if backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        rows = torch.arange(BATCH, device=device)

        def epoch(w, xb):
            w = w.clone()
            with torch.no_grad():
                for xs in xb:
                    currents = xs @ (w * w.abs())
                    ranked = currents.topk(K, dim=1).indices
                    g = torch.zeros_like(currents)
                    g[rows, ranked[:, 0]] = 1.0
                    g[rows, ranked[:, K - 1]] = -DELTA
                    ds = xs.T @ g - w * (g * currents).sum(0)
                    w += RATE * ds / ds.abs().max().clamp_min(1e-30)
            return w.cpu().numpy()

        return lambda a: torch.as_tensor(a, device=device), epoch
    import tensorflow as tf

    # One trace serves any number of batches.
    @tf.function(input_signature=[tf.TensorSpec((FEATURES, UNITS)),
                                  tf.TensorSpec((None, BATCH, FEATURES))])
    def epoch(w, xb):
        for i in tf.range(tf.shape(xb)[0]):
            xs = xb[i]
            currents = tf.matmul(xs, w * tf.abs(w))
            ranked = tf.math.top_k(currents, K).indices
            g = tf.one_hot(ranked[:, 0], UNITS) - DELTA * tf.one_hot(ranked[:, K - 1], UNITS)
            ds = tf.matmul(xs, g, transpose_a=True) - w * tf.reduce_sum(g * currents, axis=0)
            w = w + RATE * ds / tf.maximum(tf.reduce_max(tf.abs(ds)), 1e-30)
        return w

    return tf.constant, lambda w, xb: epoch(w, xb).numpy()


def column_loop(by_unit=True):
    """The algorithm as a plain loop that updates only the changed units' weights (JAX, PyTorch).

    The fastest plain epoch found here: only the units that win a sample or
    rank `k`-th change (at most 200 of the 2000), so each step gathers those
    units' weights, changes them and writes them back, and keeps the p-power
    `w * |w|` the currents are computed with up to date for those units alone.
    Both are stored unit by unit, `(UNITS, FEATURES)`, so a unit's weights
    are contiguous. `by_unit=False` (JAX only) stores them as a Keras kernel
    is, `(FEATURES, UNITS)`: the same steps, gathering and writing columns.
    Returns `(convert, epoch)` as `hand_written_loop()` does, with the kernel
    in and out as `(FEATURES, UNITS)`.
    """
    import keras

    if keras.backend.backend() == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        rows = torch.arange(BATCH, device=device).repeat(2)
        signal = torch.cat([torch.ones(BATCH), torch.full((BATCH,), -DELTA)]).to(device)

        def epoch(w, xb):
            w = w.t().contiguous()
            power = w * w.abs()
            with torch.no_grad():
                for xs in xb:
                    currents = xs @ power.t()
                    ranked = currents.topk(K, dim=1).indices
                    units = torch.cat([ranked[:, 0], ranked[:, K - 1]])
                    changed, slot = torch.unique(units, return_inverse=True)
                    inputs = xs.new_zeros(len(changed), FEATURES).index_add_(
                        0, slot, signal[:, None] * xs[rows])
                    decay = xs.new_zeros(len(changed)).index_add_(
                        0, slot, signal * currents[rows, units])
                    old = w.index_select(0, changed)
                    ds = inputs - old * decay[:, None]
                    new = old + RATE * ds / ds.abs().max().clamp_min(1e-30)
                    w.index_copy_(0, changed, new)
                    power.index_copy_(0, changed, new * new.abs())
            return w.t().cpu().numpy()

        return lambda a: torch.as_tensor(a, device=device), epoch

    import jax
    import jax.numpy as jnp

    rows = jnp.concatenate([jnp.arange(BATCH)] * 2)
    signal = jnp.concatenate([jnp.ones(BATCH), jnp.full(BATCH, -DELTA)])

    def step(state, xs):
        w, power = state
        if by_unit:
            currents = jax.lax.dot_general(xs, power, (((1,), (1,)), ((), ())))
        else:
            currents = xs @ power
        _, ranked = jax.lax.top_k(currents, K)
        ranked = jax.lax.optimization_barrier(ranked)  # as in hand_written_loop()
        units = jnp.concatenate([ranked[:, 0], ranked[:, K - 1]])
        # each changed unit once (padded with UNITS, whose writes are dropped)
        changed = jnp.unique(units, size=2 * BATCH, fill_value=UNITS)
        slot = jnp.searchsorted(changed, units)
        inputs = jax.ops.segment_sum(signal[:, None] * xs[rows], slot, 2 * BATCH)
        decay = jax.ops.segment_sum(signal * currents[rows, units], slot, 2 * BATCH)
        if by_unit:
            old = jnp.take(w, changed, axis=0, mode="fill", fill_value=0.0)
        else:
            old = jnp.take(w, changed, axis=1, mode="fill", fill_value=0.0).T
        ds = inputs - old * decay[:, None]
        new = old + RATE * ds / jnp.maximum(jnp.max(jnp.abs(ds)), 1e-30)
        if by_unit:
            w = w.at[changed].set(new, mode="drop")
            power = power.at[changed].set(new * jnp.abs(new), mode="drop")
        else:
            w = w.at[:, changed].set(new.T, mode="drop")
            power = power.at[:, changed].set((new * jnp.abs(new)).T, mode="drop")
        return (w, power), None

    @jax.jit
    def scan(w, xb):
        w = w.T if by_unit else w
        w = jax.lax.scan(step, (w, w * jnp.abs(w)), xb)[0][0]
        return w.T if by_unit else w

    return jnp.asarray, lambda w, xb: np.asarray(scan(w, xb))


def full_float32():
    """Turn off TensorFloat-32 (a 10-bit mantissa) in the backend's GPU convolutions and products.

    On a GPU, cuDNN's convolutions under PyTorch and XLA's under JAX may round
    their float32 inputs to TF32; the two implementations then differ by that
    rounding, accumulated over the batches, not by their algorithm.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    else:
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)


def initial_kernel(seed=0):
    return np.random.default_rng(seed).normal(size=(FEATURES, UNITS)).astype("float32")


def loop_epoch(x, seed=0, columns=False, by_unit=True):
    """Seconds of one epoch of the hand-written loop (`columns`: `column_loop(by_unit)`'s).

    Compiled or warmed up first.
    """
    import keras

    batches = len(x) // BATCH
    convert, epoch = column_loop(by_unit) if columns else hand_written_loop()
    w = convert(initial_kernel(seed))
    xb = convert(x[: batches * BATCH].reshape(batches, BATCH, FEATURES))
    # JAX compiles for the number of batches it is given; the others warm up on a few
    epoch(w, xb if keras.backend.backend() == "jax" else xb[:10])
    start = time.perf_counter()
    epoch(w, xb)
    return time.perf_counter() - start


def check(x, seed=0):
    """The loop's and the library's kernels after the same batches, from the same start."""
    import keras

    from keras_hebbian import recipes

    full_float32()
    count = min(len(x) // BATCH, CHECK_BATCHES)
    x = x[: count * BATCH]
    start = initial_kernel(seed)
    layer = recipes.krotov_hopfield_dense(UNITS, None, learning_rate=RATE, seed=seed)
    model = keras.Sequential([keras.Input((FEATURES,)), layer])
    layer.kernel.assign(start)
    layer.refresh_effective_kernels()
    model.compile()
    model.fit(x, batch_size=BATCH, shuffle=False, verbose=0)
    library = keras.ops.convert_to_numpy(layer.kernel)
    change = float(np.max(np.abs(library - start)))
    loops = [hand_written_loop()]
    if keras.backend.backend() in COLUMN_LOOPS:
        loops.append(column_loop())
    if keras.backend.backend() in KERNEL_LAYOUT_LOOPS:
        loops.append(column_loop(by_unit=False))
    error = 0.0
    for convert, epoch in loops:
        loop = epoch(convert(start), convert(x.reshape(count, BATCH, FEATURES)))
        error = max(error, float(np.max(np.abs(library - loop)) / max(change, 1e-30)))
    return {"backend": keras.backend.backend(), "kind": "check", "batches": count,
            "loops": len(loops), "largest_change": change, "relative_error": error,
            # a kernel that did not move would prove nothing
            "passed": bool(error <= CHECK_TOLERANCE and change > 0)}


def peak_memory():
    """Peak resident set of this process (MiB), and the GPU's peak if one is used."""
    import resource

    import keras

    memory = {"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            if jax.default_backend() == "gpu":
                stats = jax.devices()[0].memory_stats()
                memory["device_mib"] = stats["peak_bytes_in_use"] / 2**20
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                memory["device_mib"] = torch.cuda.max_memory_allocated() / 2**20
        else:
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                memory["device_mib"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    except (KeyError, RuntimeError, ValueError):
        pass
    return memory


def measure(args, kind):
    import keras

    x = load(args.data, args.synthetic, args.train)
    if kind == "check":
        return check(x)
    rate = matmul_rate()
    # one currents product per batch: the arithmetic that must be done
    floor = (len(x) // BATCH) * (2 * BATCH * FEATURES * UNITS) / rate
    warmup = steps = None
    if kind in ("loop", "columns", "columns_kernel"):
        seconds = loop_epoch(x, columns=kind != "loop", by_unit=kind == "columns")
    else:
        warmup, seconds, steps = keras_epoch(x, library=kind == "fused",
                                             jit_compile=True if kind == "compiled" else "auto")
    return {"backend": keras.backend.backend(), "device": accelerator(), "cpu": processor(),
            "kind": kind, "epoch_seconds": seconds, "warmup_seconds": warmup,
            "steps_per_execution": steps,
            "matmul_gflops": rate / 1e9,
            "floor_seconds": floor, "ratio": seconds / floor, **peak_memory()}


def median_run(runs):
    """One implementation's runs as one: the median epoch and floor, the range, the peak memories.

    A single run is returned as it is.
    """
    if len(runs) == 1:
        return runs[0]
    epochs = [r["epoch_seconds"] for r in runs]
    merged = dict(runs[0], epoch_seconds=float(np.median(epochs)),
                  floor_seconds=float(np.median([r["floor_seconds"] for r in runs])),
                  epoch_min_seconds=min(epochs), epoch_max_seconds=max(epochs),
                  rss_mib=max(r["rss_mib"] for r in runs))
    if all("device_mib" in r for r in runs):
        merged["device_mib"] = max(r["device_mib"] for r in runs)
    merged["ratio"] = merged["epoch_seconds"] / merged["floor_seconds"]
    return merged


def alternated(kinds, repeats, run, keep):
    """Run every kind `repeats` times in turn (each kind once, then all again); their medians.

    `run(kind)` returns a run's record, or `None` if it failed; `keep(record)` receives
    every record, with its `repeat` (from 1) when there are several. Returns
    `({kind: median_run(...)}, failed)`.
    """
    records, failed = {kind: [] for kind in kinds}, False
    for repeat in range(repeats):
        for kind in kinds:
            r = run(kind)
            failed |= r is None
            if r is not None:
                records[kind].append(r)
                keep(dict(r, repeat=repeat + 1) if repeats > 1 else r)
    return {kind: median_run(rs) for kind, rs in records.items() if rs}, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="local mnist.npz (default: $KERAS_HEBBIAN_DATA)")
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy reference loop")
    parser.add_argument("--json", default=None, help="also write every run to this file")
    parser.add_argument("--torch-compile", action="store_true",
                        help="also time PyTorch with compile(jit_compile=True) (torch.compile)")
    parser.add_argument("--train", type=int, default=60000,
                        help="training images (rounded down to whole batches of 100)")
    parser.add_argument("--synthetic", action="store_true",
                        help="random images in [0, 1] instead of MNIST")
    parser.add_argument("--check", action="store_true",
                        help="compare the hand-written loop with keras-hebbian on a few batches")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each implementation, alternated; the table gives medians")
    parser.add_argument("--worker", choices=["keras", "fused", "compiled", "loop", "columns", "columns_kernel",
                                             "check"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.train = (args.train // BATCH) * BATCH
    if args.train == 0:
        raise SystemExit(f"--train holds no whole batch of {BATCH}")
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")

    if args.worker:
        print(json.dumps(measure(args, args.worker)))
        return 0

    def worker(backend, kind):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker", kind, "--train", str(args.train)]
        command += ["--data", args.data] if args.data else []
        command += ["--synthetic"] if args.synthetic else []
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{kind} ({backend}): failed\n{out.stderr[-2000:]}")
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])

    images = "synthetic" if args.synthetic else "MNIST"
    print(f"Krotov-Hopfield, {UNITS} units, batch {BATCH}, one epoch of {args.train:,} {images} "
          f"images, {os.cpu_count()} CPUs, {processor()}; floor: one currents product per batch")
    runs, failed = [], False
    for backend in args.backends if args.check else ():
        r = worker(backend, "check")
        failed |= r is None or not r["passed"]
        if r is not None:
            runs.append(r)
            loops = {1: "the hand-written loop", 2: "both hand-written loops"}.get(
                r["loops"], f"the {r['loops']} hand-written loops")
            print(f"check ({backend}): {loops} against keras-hebbian after "
                  f"{r['batches']} batches, largest difference of the kernels over the largest "
                  f"change: {r['relative_error']:.1e} of {r['largest_change']:.2g} (tolerance "
                  f"{CHECK_TOLERANCE:.0e}): {'passed' if r['passed'] else 'FAILED'}")
    if args.repeats > 1:
        print(f"each implementation run {args.repeats} times, alternated: median epoch and floor, "
              "the range of the epochs, ratios of the medians")
    spread = f"{'range s':>13}" if args.repeats > 1 else ""
    print(f"{'implementation':<60}{'epoch s':>9}{'floor s':>9}{'x floor':>9}{'x loop':>8}"
          f"{spread}{'peak RSS MiB':>14}")
    for backend in args.backends:
        # Keras' PyTorch trainer takes steps_per_execution=1 only
        kinds = ("loop", "keras") if backend == "torch" else ("loop", "keras", "fused")
        if backend in COLUMN_LOOPS:
            kinds += ("columns",)
        if backend in KERNEL_LAYOUT_LOOPS:
            kinds += ("columns_kernel",)
        if backend == "torch" and args.torch_compile:
            kinds += ("compiled",)
        if backend == "tensorflow":  # XLA, which Keras' own "auto" does not choose on a CPU
            kinds += ("compiled",)
        results, failures = alternated(kinds, args.repeats,
                                       lambda kind: worker(backend, kind), runs.append)
        failed |= failures
        for kind, label in (("keras", "keras-hebbian"),
                            ("fused", "keras-hebbian, models.Sequential, {} steps/call"),
                            ("compiled", "keras-hebbian, jit_compile=True"),
                            ("loop", "hand-written loop"),
                            ("columns", "hand-written loop, changed units only"),
                            ("columns_kernel", "hand-written loop, changed units, (inputs, units)")):
            if kind not in results:
                continue
            r = results[kind]
            label = label.format(r.get("steps_per_execution"))
            versus = r["epoch_seconds"] / results["loop"]["epoch_seconds"] if "loop" in results else 0
            device = f"  {r['device']}" + (f", device peak {r['device_mib']:.0f} MiB"
                                          if "device_mib" in r else "")
            if kind == "compiled" and backend == "torch":
                device += f"; compiling (the warm-up fit) {r['warmup_seconds']:.0f} s"
            spread = ""
            if args.repeats > 1:
                spread = f"{r['epoch_min_seconds']:>7.2f}-{r['epoch_max_seconds']:<5.2f}"
            print(f"{label + ' (' + backend + ')':<60}{r['epoch_seconds']:>9.2f}"
                  f"{r['floor_seconds']:>9.2f}{r['ratio']:>9.2f}{versus:>8.2f}{spread}"
                  f"{r['rss_mib']:>14.0f}{device}")
        for loop, text in (("columns", "the loop of changed units only"),
                           ("columns_kernel", "that loop stored (inputs, units)")):
            if loop not in results:
                continue
            versus = ", ".join(
                f"{label} {results[kind]['epoch_seconds'] / results[loop]['epoch_seconds']:.2f}x"
                for kind, label in (("keras", "plain"), ("fused", "models.Sequential"))
                if kind in results)
            print(f"  keras-hebbian ({backend}) against {text}: {versus}")
    if not args.no_numpy:
        # loading the data imports Keras: use a backend that was measured
        os.environ.setdefault("KERAS_BACKEND", args.backends[0])
        seconds = numpy_epoch(load(args.data, args.synthetic, args.train))
        runs.append({"kind": "numpy", "epoch_seconds": seconds})
        print(f"{'NumPy loop (paper)':<60}{seconds:>9.2f}  "
              f"({min(60, args.train // BATCH)} batches, extrapolated)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
