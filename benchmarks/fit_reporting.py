"""What `models.Sequential`'s Hebbian figures and non-finite guard cost a training epoch.

The same Krotov-Hopfield layer (2000 units, batch 100, inputs of 784 random
values in [0, 1]) trains in a plain `keras.Sequential` (Keras' logs, with its
constant zero loss), in a `keras.Sequential` given a `NonFiniteGuard` (it
checks every batch, so Keras waits for each step), and in a
`keras_hebbian.models.Sequential` (the guard, and per-layer Hebbian figures
once per epoch, no loss), compiled with one step per call as the others, and
with its `compile()`'s own choice (on JAX and TensorFlow 50 steps per call).
They take turns over `--repeats` timed epochs in
one process, so a slow moment of the machine falls on all; the best epoch of
each counts.

    KERAS_BACKEND=jax python benchmarks/fit_reporting.py
    for b in jax tensorflow torch; do KERAS_BACKEND=$b python benchmarks/fit_reporting.py; done
"""

import argparse
import json
import time
import warnings

import keras
import numpy as np

from keras_hebbian import models, recipes
from keras_hebbian.callbacks import NonFiniteGuard


def build(cls, units, features, seed, **compile_kwargs):
    layer = recipes.krotov_hopfield_dense(units, None, learning_rate=0.02, seed=seed)
    model = cls([keras.Input((features,)), layer])
    model.compile(**compile_kwargs)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="The model does not have any trainable")

    x = np.random.default_rng(0).random((args.samples, args.features), dtype="float32")
    runs = {
        "keras.Sequential": (build(keras.Sequential, args.units, args.features, 0), list),
        "keras.Sequential + NonFiniteGuard": (build(keras.Sequential, args.units, args.features, 0),
                                              lambda: [NonFiniteGuard()]),
        "keras_hebbian.models.Sequential": (build(models.Sequential, args.units, args.features, 0,
                                                  steps_per_execution=1), list),
        "models.Sequential, compile()": (build(models.Sequential, args.units, args.features, 0),
                                         list),
    }
    for model, _ in runs.values():  # compile the steps once, outside the timing
        warmup = max(2, model.steps_per_execution) * args.batch_size
        model.fit(x[:warmup], batch_size=args.batch_size, verbose=0)
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (model, callbacks) in runs.items():
            start = time.perf_counter()
            history = model.fit(x, batch_size=args.batch_size, epochs=1, verbose=0,
                                callbacks=callbacks())
            times[name].append(time.perf_counter() - start)
    assert "loss" not in history.history and any(k.endswith("/norm_distance") for k in history.history)

    steps = -(-args.samples // args.batch_size)
    best = {name: min(values) for name, values in times.items()}
    print(f"backend {keras.backend.backend()}: {args.units} units, {args.samples} samples, "
          f"batch {args.batch_size} ({steps} steps), best of {args.repeats} epochs")
    chosen = runs["models.Sequential, compile()"][0].steps_per_execution
    for name, value in best.items():
        detail = f" ({chosen} steps/call)" if name.endswith("compile()") else ""
        print(f"  {name:34s} {value:7.3f} s/epoch  {1000 * value / steps:6.3f} ms/step{detail}")
    guard = best["keras.Sequential + NonFiniteGuard"] / best["keras.Sequential"]
    figures = best["keras_hebbian.models.Sequential"] / best["keras.Sequential + NonFiniteGuard"]
    print(f"  the guard: {guard:.3f}x a plain epoch; the figures: {figures:.3f}x the guarded one")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": keras.backend.backend(), "config": vars(args), "seconds": times,
                       "steps_per_execution": chosen,
                       "guard_ratio": guard, "figures_ratio": figures}, f, indent=2)


if __name__ == "__main__":
    main()
