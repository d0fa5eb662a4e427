"""Speed of one unsupervised MNIST epoch of the three-block SoftHebb network, side by side.

`models.softhebb_mnist(first_rule="paper")` (96 -> 384 -> 1536 filters,
kernels 5, 3, 3, every block with the published SoftHebb rule), one epoch in
batches of `--batch-size` (10, the paper's, by default). For each
backend, each in its own process:

- keras-hebbian's epoch: `compile()` + `fit(x, batch_size=B)`, timed after a
  warm-up `fit` on a few batches, with one step per compiled call
  (`compile(steps_per_execution=1)`) and (JAX, TensorFlow) as `compile()`
  chooses there by default, 50 batches per compiled call. On
  TensorFlow `keras_hebbian.models` compile the step with XLA by default, a
  CPU included, so the script also times the graph without it
  (`compile(jit_compile=False)`, what Keras' own "auto" gives on a CPU);
- the arithmetic floor, measured in the same process: per batch, for each
  block, the forward convolution (the reflect-padded, normalised inputs with
  the block's filters) and one convolution-backward-filter of the same size
  (the padded inputs with a signal of the output's shape: the correlation
  `correlate(inputs, signal)` of SoftHebb's update), each run alone on random
  tensors of the block's shapes by the backend's own ops (JAX:
  `lax.conv_general_dilated`, and for the gradient the faster of its
  `jax.vjp` with respect to the filters and the same sum written as one
  forward convolution, `jax_correlation`; TensorFlow: `tf.nn.conv2d` and
  `Conv2DBackpropFilter`; PyTorch: `F.conv2d` and
  `torch.nn.grad.conv2d_weight`), the best of a few runs each, every
  convolution a call of its own; the floor is the sum of those six times
  over the epoch's batches, nothing else (no normalisation, padding, softmax,
  activation, pooling or weight update);
- the same algorithm as a plain hand-written loop in the backend's own
  framework (a jitted JAX `lax.scan` over the batches, a PyTorch loop under
  `no_grad`, a `tf.function` loop; the JAX loop computes the gradient by
  `jax_correlation`, since XLA's CPU convolution-backward-filter is tens of
  times slower inside a `lax.scan`): per block, non-affine batch normalisation
  with the batch's statistics, reflect padding, the convolution, SoftHebb's
  update with each block's published settings (temperature, anti-Hebbian
  losers, the step divided by its largest entry, the norm-adaptive rate), the
  Triangle activation and the pooling.

Each process prints its peak memory (resident set on the CPU; device memory
too on a GPU). `--train N` takes the first N training images, rounded down to
whole batches; the table reports the images used and extrapolates nothing.
`--check` also runs, in its own process per backend, a few batches of the
hand-written loop and of keras-hebbian from the same initial filters on the
same images, and compares every block's filters after them: the largest
difference between the two must be at most `CHECK_TOLERANCE` of the largest
change the library made to that block (and every block must have changed);
the script exits with status 1 if they differ or a run fails. The check runs in
full float32: on a GPU it turns off TensorFloat-32, which PyTorch's cuDNN
convolutions use by default (with it, the two differ by up to 2.5% of the
largest change of block 3 after 4 batches on an H200). `--repeats N` runs
each backend's implementations N times, alternated, and prints medians with
the range of the epochs, as `krotov_speed.py --repeats` does.

    python benchmarks/conv_speed.py --data ../shared/data/mnist.npz
    python benchmarks/conv_speed.py --data ../shared/data/mnist.npz --batch-size 64
    python benchmarks/conv_speed.py --data ../shared/data/mnist.npz --train 10000 --batch-size 10 --check --json docs/conv_speed_cpu_b10.json
    python benchmarks/conv_speed.py --data ../shared/data/mnist.npz --train 10000 --batch-size 64 --check --json docs/conv_speed_cpu_b64.json
    python benchmarks/conv_speed.py --backends jax --train 40 --width 0.05 --check --synthetic
    python benchmarks/conv_speed.py --backends torch --train 2000 --width 0.125 --repeats 3
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from krotov_speed import (  # noqa: E402
    accelerator,
    alternated,
    full_float32,
    peak_memory,
    processor,
)

IMAGE = (28, 28, 1)
# keras.layers.BatchNormalization's default epsilon
BN_EPSILON = 1e-3
# batches of the --check comparison, at most
CHECK_BATCHES = 4
# largest difference between the two implementations' change of a block's
# filters, relative to the largest entry of the library's change
CHECK_TOLERANCE = 1e-3
WARMUP_BATCHES = 3
FLOOR_REPEATS = 5


class Block:
    """One block's geometry and settings, for a batch of `batch` images."""

    def __init__(self, spec, width, channels, size, batch):
        self.filters = max(1, int(round(spec.filters * width)))  # as models.softhebb_mnist
        self.kernel_size = spec.kernel_size
        self.temperature = spec.temperature
        self.learning_rate = spec.learning_rate
        self.triangle_power = spec.triangle_power
        self.rate_power = spec.rate_power
        self.pool = spec.pool
        if self.pool not in ("max", "avg"):
            raise ValueError(f"pooling {self.pool!r} is not written in the hand-written loops")
        self.channels, self.size, self.pad = channels, size, spec.kernel_size // 2
        padded = size + 2 * self.pad
        k = spec.kernel_size
        self.padded_shape = (batch, padded, padded, channels)
        self.kernel_shape = (k, k, channels, self.filters)
        self.output_shape = (batch, size, size, self.filters)
        self.pooled_size = size // 2 if self.pool == "avg" else -(-size // 2)


def blocks(width, batch):
    from keras_hebbian import recipes

    found, channels, size = [], IMAGE[-1], IMAGE[0]
    for spec in recipes.SOFTHEBB_MNIST_BLOCKS:
        block = Block(spec, width, channels, size, batch)
        found.append(block)
        channels, size = block.filters, block.pooled_size
    return found


def load(data, synthetic, count):
    """The first `count` training images, `(count, 28, 28, 1)` float32 in [0, 1]."""
    if synthetic:
        return np.random.default_rng(0).random((count,) + IMAGE).astype("float32")
    from keras_hebbian import datasets

    (x_train, _), _ = datasets.load_mnist(data)
    return x_train[:count, :, :, None].astype("float32") / 255.0


def best_of(function, repeats=FLOOR_REPEATS):
    """Smallest wall time of `repeats` calls of `function` (which waits for its result)."""
    function()  # compile, warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


# -- the arithmetic floor -----------------------------------------------------------


def floor_per_batch(geometry):
    """Seconds per batch of each block's forward and weight-gradient convolutions.

    Returns a list with, per block, `(forward seconds, weight-gradient seconds)`.
    """
    import keras

    rng = np.random.default_rng(0)
    backend = keras.backend.backend()
    times = []
    for block in geometry:
        x = rng.normal(size=block.padded_shape).astype("float32")
        w = rng.normal(size=block.kernel_shape).astype("float32")
        y = rng.normal(size=block.output_shape).astype("float32")
        if backend == "jax":
            import jax
            from jax import lax

            def conv(x, w):
                return lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))

            forward = jax.jit(conv)
            backward = jax.jit(lambda x, w, y: jax.vjp(lambda w: conv(x, w), w)[1](y)[0])
            transposed = jax.jit(lambda x, y: jax_correlation(x, y))
            x, w, y = jax.device_put(x), jax.device_put(w), jax.device_put(y)
            times.append((best_of(lambda: forward(x, w).block_until_ready()),
                          min(best_of(lambda: backward(x, w, y).block_until_ready()),
                              best_of(lambda: transposed(x, y).block_until_ready()))))
        elif backend == "torch":
            import torch
            import torch.nn.functional as F

            device = "cuda" if torch.cuda.is_available() else "cpu"
            x = torch.as_tensor(x.transpose(0, 3, 1, 2).copy(), device=device)
            w = torch.as_tensor(w.transpose(3, 2, 0, 1).copy(), device=device)
            y = torch.as_tensor(y.transpose(0, 3, 1, 2).copy(), device=device)

            def wait(result):
                if device == "cuda":
                    torch.cuda.synchronize()
                return result

            with torch.no_grad():
                times.append((
                    best_of(lambda: wait(F.conv2d(x, w))),
                    best_of(lambda: wait(torch.nn.grad.conv2d_weight(x, w.shape, y))),
                ))
        else:
            import tensorflow as tf

            x, w, y = tf.constant(x), tf.constant(w), tf.constant(y)
            shape = tf.constant(block.kernel_shape, dtype="int32")
            times.append((
                best_of(lambda: tf.nn.conv2d(x, w, 1, "VALID").numpy()),
                best_of(lambda: tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=shape, out_backprop=y, strides=[1, 1, 1, 1],
                    padding="VALID").numpy()),
            ))
    return times


# -- the hand-written loops ----------------------------------------------------------


def jax_correlation(x, y):
    """The sum over images and positions of `patch ⊗ y`, as one forward convolution.

    The padded inputs `x` `(batch, H, W, C)` (channels as images) convolved
    with the signal `y` `(batch, h, w, F)` (images as input channels): the
    filters' gradient `(H - h + 1, W - w + 1, C, F)`. XLA's own
    convolution-backward-filter (`jax.vjp` of the convolution) computes the
    same at about the same speed alone, but on the CPU it runs tens of times
    slower inside a `lax.scan`; this form does not.
    """
    from jax import lax
    import jax.numpy as jnp

    out = lax.conv_general_dilated(jnp.transpose(x, (3, 1, 2, 0)), jnp.transpose(y, (1, 2, 0, 3)),
                                   (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.transpose(out, (1, 2, 0, 3))


def jax_loop(geometry, batches, weights):
    """A jitted `lax.scan` over the batches; returns `epoch()`, which gives the filters."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def block(h, w, b):
        mean, variance = jnp.mean(h, axis=(0, 1, 2)), jnp.var(h, axis=(0, 1, 2))
        h = (h - mean) * lax.rsqrt(variance + BN_EPSILON)
        h = jnp.pad(h, ((0, 0), (b.pad, b.pad), (b.pad, b.pad), (0, 0)), mode="reflect")
        u = conv(h, w)
        scaled = u / b.temperature
        y = jax.nn.softmax(scaled, axis=-1)
        y = jnp.where(scaled >= jnp.max(scaled, axis=-1, keepdims=True), y, -y)
        samples = u.shape[0] * u.shape[1] * u.shape[2]
        step = jax_correlation(h, y) / samples - w * jnp.sum(y * u, axis=(0, 1, 2)) / samples
        step = step / jnp.maximum(jnp.max(jnp.abs(step)), 1e-30)
        norms = jnp.sqrt(jnp.sum(w * w, axis=(0, 1, 2)))
        step = step * (jnp.abs(norms - 1.0) + 1e-10) ** b.rate_power
        out = jax.nn.relu(u - jnp.mean(u, axis=-1, keepdims=True))
        if b.triangle_power != 1.0:
            out = out ** b.triangle_power
        if b.pool == "max":
            out = lax.reduce_window(out, -jnp.inf, lax.max, (1, 4, 4, 1), (1, 2, 2, 1), "SAME")
        else:
            out = lax.reduce_window(out, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4.0
        return out, w + b.learning_rate * step

    def step(ws, x):
        new = []
        for w, b in zip(ws, geometry):
            x, w = block(x, w, b)
            new.append(w)
        return new, None

    ws, xb = [jnp.asarray(w) for w in weights], jnp.asarray(batches)
    compiled = jax.jit(lambda ws, xb: lax.scan(step, ws, xb)[0]).lower(ws, xb).compile()

    def epoch():
        return [np.asarray(w) for w in jax.block_until_ready(compiled(ws, xb))]

    return epoch


def torch_loop(geometry, batches, weights):
    """A PyTorch loop under `no_grad`; returns `epoch()`, which gives the filters."""
    import torch
    import torch.nn.functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    xb = torch.as_tensor(batches.transpose(0, 1, 4, 2, 3).copy(), device=device)  # NCHW
    initial = [torch.as_tensor(w.transpose(3, 2, 0, 1).copy(), device=device) for w in weights]

    def block(h, w, b):
        mean = h.mean(dim=(0, 2, 3), keepdim=True)
        variance = h.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        h = (h - mean) * torch.rsqrt(variance + BN_EPSILON)
        h = F.pad(h, (b.pad,) * 4, mode="reflect")
        u = F.conv2d(h, w)
        scaled = u / b.temperature
        y = torch.softmax(scaled, dim=1)
        y = torch.where(scaled >= scaled.amax(dim=1, keepdim=True), y, -y)
        samples = u.shape[0] * u.shape[2] * u.shape[3]
        step = torch.nn.grad.conv2d_weight(h, w.shape, y) / samples
        step -= w * ((y * u).sum(dim=(0, 2, 3)) / samples).view(-1, 1, 1, 1)
        step /= step.abs().max().clamp_min(1e-30)
        norms = w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        step *= ((norms - 1.0).abs() + 1e-10) ** b.rate_power
        w += b.learning_rate * step
        out = torch.relu(u - u.mean(dim=1, keepdim=True))
        if b.triangle_power != 1.0:
            out = out ** b.triangle_power
        if b.pool == "max":
            return F.max_pool2d(out, 4, 2, padding=1)  # keras' "same": one pixel each side
        return F.avg_pool2d(out, 2, 2)

    def run(xs):
        ws = [w.clone() for w in initial]
        with torch.no_grad():
            for x in xs:
                for w, b in zip(ws, geometry):
                    x = block(x, w, b)
        if device == "cuda":
            torch.cuda.synchronize()
        return [w.cpu().numpy().transpose(2, 3, 1, 0) for w in ws]

    run(xb[:WARMUP_BATCHES])
    return lambda: run(xb)


def tensorflow_loop(geometry, batches, weights):
    """A `tf.function` loop over the batches; returns `epoch()`, which gives the filters."""
    import tensorflow as tf

    def block(h, w, b):
        mean, variance = tf.nn.moments(h, axes=[0, 1, 2])
        h = (h - mean) * tf.math.rsqrt(variance + BN_EPSILON)
        h = tf.pad(h, [[0, 0], [b.pad, b.pad], [b.pad, b.pad], [0, 0]], mode="REFLECT")
        u = tf.nn.conv2d(h, w, 1, "VALID")
        scaled = u / b.temperature
        y = tf.nn.softmax(scaled, axis=-1)
        y = tf.where(scaled >= tf.reduce_max(scaled, axis=-1, keepdims=True), y, -y)
        samples = tf.cast(tf.reduce_prod(tf.shape(u)[:3]), "float32")
        correlation = tf.raw_ops.Conv2DBackpropFilter(
            input=h, filter_sizes=tf.shape(w), out_backprop=y, strides=[1, 1, 1, 1],
            padding="VALID")
        step = (correlation - w * tf.reduce_sum(y * u, axis=[0, 1, 2])) / samples
        step = step / tf.maximum(tf.reduce_max(tf.abs(step)), 1e-30)
        norms = tf.sqrt(tf.reduce_sum(w * w, axis=[0, 1, 2]))
        step = step * (tf.abs(norms - 1.0) + 1e-10) ** b.rate_power
        out = tf.nn.relu(u - tf.reduce_mean(u, axis=-1, keepdims=True))
        if b.triangle_power != 1.0:
            out = out ** b.triangle_power
        if b.pool == "max":
            out = tf.nn.max_pool2d(out, 4, 2, "SAME")
        else:
            out = tf.nn.avg_pool2d(out, 2, 2, "VALID")
        return out, w + b.learning_rate * step

    signature = [tf.TensorSpec((None,) + batches.shape[1:], "float32")]
    signature += [tf.TensorSpec(b.kernel_shape, "float32") for b in geometry]

    @tf.function(input_signature=signature)
    def run(xb, *ws):
        def body(i, *ws):
            x, new = xb[i], []
            for w, b in zip(ws, geometry):
                x, w = block(x, w, b)
                new.append(w)
            return (i + 1, *new)

        return tf.while_loop(lambda i, *ws: i < tf.shape(xb)[0], body, (tf.constant(0), *ws))[1:]

    xb, ws = tf.constant(batches), [tf.constant(w) for w in weights]
    run(xb[:WARMUP_BATCHES], *ws)  # trace
    return lambda: [w.numpy() for w in run(xb, *ws)]


LOOPS = {"jax": jax_loop, "torch": torch_loop, "tensorflow": tensorflow_loop}


def initial_filters(geometry, seed=0):
    """Initial filters of the loop's timed epoch: the scale of `softhebb_conv_initializer`."""
    from keras_hebbian import recipes

    rng = np.random.default_rng(seed)
    return [(rng.normal(size=b.kernel_shape) * recipes.SOFTHEBB_CONV_SCALE
             / np.sqrt(np.prod(b.kernel_shape[:3]))).astype("float32") for b in geometry]


# -- the workers -----------------------------------------------------------------------


def keras_model(width, seed=0, steps_per_execution="auto", jit_compile="auto"):
    import keras

    from keras_hebbian import models

    keras.utils.set_random_seed(seed)
    model = models.softhebb_mnist(width=width, seed=seed, first_rule="paper")
    model.compile(steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return model


def keras_epoch(x, batch, width, steps_per_execution="auto", jit_compile="auto"):
    """Seconds of one epoch, and the steps per compiled call it ran."""
    import keras

    from keras_hebbian import models

    model = keras_model(width, steps_per_execution=steps_per_execution,
                        jit_compile=jit_compile)
    steps = model.steps_per_execution
    # compile and warm up, on as many batches as one execution takes
    warmup = max(WARMUP_BATCHES, steps)
    model.fit(x[: warmup * batch], batch_size=batch, verbose=0)
    start = time.perf_counter()
    model.fit(x, batch_size=batch, verbose=0)
    for layer in models.hebbian_layers(model):  # waits for the last step on an accelerator
        keras.ops.convert_to_numpy(layer.kernel)
    return time.perf_counter() - start, steps


def loop_epoch(x, batch, width):
    import keras

    geometry = blocks(width, batch)
    batches = x.reshape((len(x) // batch, batch) + IMAGE)
    epoch = LOOPS[keras.backend.backend()](geometry, batches, initial_filters(geometry))
    start = time.perf_counter()
    epoch()
    return time.perf_counter() - start


def check(x, batch, width):
    """The loop's and the library's filters after the same batches, from the same start."""
    import keras

    from keras_hebbian import models

    full_float32()
    count = min(len(x) // batch, CHECK_BATCHES)
    x = x[: count * batch]
    model = keras_model(width)
    convs = models.hebbian_layers(model)
    initial = [keras.ops.convert_to_numpy(layer.kernel) for layer in convs]
    model.fit(x, batch_size=batch, shuffle=False, verbose=0)
    library = [keras.ops.convert_to_numpy(layer.kernel) for layer in convs]
    epoch = LOOPS[keras.backend.backend()](blocks(width, batch),
                                           x.reshape((count, batch) + IMAGE), initial)
    loop = epoch()
    errors, changes = [], []
    for start, ours, theirs in zip(initial, library, loop):
        changes.append(float(np.max(np.abs(ours - start))))
        errors.append(float(np.max(np.abs(ours - theirs)) / max(changes[-1], 1e-30)))
    # filters that did not move would prove nothing
    passed = all(e <= CHECK_TOLERANCE for e in errors) and all(c > 0 for c in changes)
    return {"batches": count, "largest_changes": changes, "relative_errors": errors,
            "passed": bool(passed)}


def measure(args, kind):
    import keras

    batch = args.batch_size
    count = (args.train // batch) * batch
    if count == 0:
        raise SystemExit(f"--train {args.train} holds no whole batch of {batch}")
    x = load(args.data, args.synthetic, count)
    geometry = blocks(args.width, batch)
    if kind == "check":
        return {"backend": keras.backend.backend(), "kind": kind,
                "filters": [b.filters for b in geometry], **check(x, batch, args.width)}
    per_batch = floor_per_batch(geometry)
    batches = count // batch
    floor = batches * sum(f + g for f, g in per_batch)
    if kind == "loop":
        seconds = loop_epoch(x, batch, args.width)
    else:
        seconds, steps = keras_epoch(x, batch, args.width,
                                     steps_per_execution="auto" if kind == "fused" else 1,
                                     jit_compile=False if kind == "graph" else "auto")
    return {"backend": keras.backend.backend(), "device": accelerator(), "cpu": processor(),
            "kind": kind, "images": count, "batch_size": batch, "width": args.width,
            "steps_per_execution": steps if kind != "loop" else None,
            "filters": [b.filters for b in geometry], "epoch_seconds": seconds,
            "floor_seconds": floor,
            "floor_forward_seconds": [batches * f for f, _ in per_batch],
            "floor_weight_gradient_seconds": [batches * g for _, g in per_batch],
            "ratio": seconds / floor, **peak_memory()}


def run_worker(args, backend, kind):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind,
               "--batch-size", str(args.batch_size), "--train", str(args.train),
               "--width", str(args.width)]
    command += ["--data", args.data] if args.data else []
    command += ["--synthetic"] if args.synthetic else []
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{kind} ({backend}): failed\n{out.stderr[-2000:]}", flush=True)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="local mnist.npz (default: $KERAS_HEBBIAN_DATA)")
    parser.add_argument("--synthetic", action="store_true",
                        help="random images in [0, 1] instead of MNIST")
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--train", type=int, default=60000,
                        help="training images (rounded down to whole batches)")
    parser.add_argument("--width", type=float, default=1.0,
                        help="multiplies every block's filters (1.0: the published network)")
    parser.add_argument("--check", action="store_true",
                        help="compare the hand-written loop with keras-hebbian on a few batches")
    parser.add_argument("--json", default=None, help="also write every run to this file")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each implementation, alternated; the table gives medians")
    parser.add_argument("--worker", choices=["keras", "fused", "graph", "loop", "check"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
    if args.worker:
        print(json.dumps(measure(args, args.worker)))
        return 0
    count = (args.train // args.batch_size) * args.batch_size
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    runs, failed, printed = [], False, []

    def report(r):
        """Keep a worker's result; before the first, print what is measured."""
        runs.append(r)
        if not printed:
            printed.append(True)
            filters = " -> ".join(str(f) for f in r["filters"])
            print(f"SoftHebb, three blocks ({filters} filters), batch {args.batch_size}, one "
                  f"epoch of {count} {'synthetic' if args.synthetic else 'MNIST'} images, "
                  f"{cpus} CPU(s), {processor()}; floor: each block's forward and weight-gradient "
                  f"convolutions, per batch", flush=True)

    for backend in args.backends:
        if args.check:
            r = run_worker(args, backend, "check")
            failed |= r is None or not r["passed"]
            if r is not None:
                report(r)
                errors = ", ".join(f"block{i} {e:.1e} of {c:.2g}" for i, (e, c) in
                                   enumerate(zip(r["relative_errors"], r["largest_changes"]), 1))
                print(f"check ({backend}): the hand-written loop against keras-hebbian after "
                      f"{r['batches']} batches, largest difference of the filters over the largest "
                      f"change: {errors} (tolerance {CHECK_TOLERANCE:.0e}): "
                      f"{'passed' if r['passed'] else 'FAILED'}", flush=True)
    table = False
    for backend in args.backends:
        # Keras' PyTorch trainer takes steps_per_execution=1 only
        kinds = ("loop", "keras") if backend == "torch" else ("loop", "keras", "fused")
        if backend == "tensorflow":  # the graph without XLA, Keras' own "auto" on a CPU
            kinds += ("graph",)
        results, failures = alternated(kinds, args.repeats,
                                       lambda kind: run_worker(args, backend, kind), report)
        failed |= failures
        if results and not table:
            table = True
            spread = f"{'range s':>15}" if args.repeats > 1 else ""
            if args.repeats > 1:
                print(f"each implementation run {args.repeats} times, alternated: median epoch "
                      "and floor, the range of the epochs, ratios of the medians")
            print(f"{'implementation':<56}{'images':>8}{'epoch s':>10}{'floor s':>10}"
                  f"{'x floor':>9}{'x loop':>8}{spread}{'peak RSS MiB':>14}", flush=True)
        for kind, label in (("keras", "keras-hebbian, 1 step/call"),
                            ("fused", "keras-hebbian, compile(), {} steps/call"),
                            ("graph", "keras-hebbian, jit_compile=False"),
                            ("loop", "hand-written loop")):
            if kind not in results:
                failed |= kind in kinds
                continue
            r = results[kind]
            label = label.format(r.get("steps_per_execution"))
            versus = r["epoch_seconds"] / results["loop"]["epoch_seconds"] if "loop" in results else 0
            device = f"  {r['device']}" + (f", device peak {r['device_mib']:.0f} MiB"
                                          if "device_mib" in r else "")
            spread = ""
            if args.repeats > 1:
                spread = f"{r['epoch_min_seconds']:>8.2f}-{r['epoch_max_seconds']:<6.2f}"
            print(f"{label + ' (' + backend + ')':<56}{r['images']:>8}{r['epoch_seconds']:>10.2f}"
                  f"{r['floor_seconds']:>10.2f}{r['ratio']:>9.2f}{versus:>8.2f}{spread}"
                  f"{r['rss_mib']:>14.0f}{device}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
