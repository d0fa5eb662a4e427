"""Capacity of associative memories: exact recall of random patterns from noisy cues.

For each size `N` (`--sizes`) and number `P` of stored patterns, `P`
random bipolar patterns are stored, and `min(P, --cues)` of them are
presented with `--flip` of their bits flipped (exactly that many, at random
places); a pattern counts as recalled when the settled state equals it in
every bit. Four memories:

- `hebb`: `HopfieldMemory(rule="hebb")`, asynchronous updates;
- `storkey`: `HopfieldMemory(rule="storkey")`, asynchronous updates;
- `dense-poly3`: `DenseAssociativeMemory(interaction="polynomial", degree=3)`;
- `dense-exp`: `DenseAssociativeMemory(interaction="exponential")`, `beta = 1 /
  sqrt(N)` (its default; `--beta` sets another), the sign of its output.

A memory is no longer tried at larger `P` once it recalled nothing twice in
a row. Beside the measurements, the theory: about `0.138 N` patterns for
Hebb's rule (Amit, Gutfreund & Sompolinsky, 1985; recall with a few
percent of bits wrong), `N / sqrt(2 ln N)` for Storkey's rule (Storkey,
1997), and `N^2 / (6 ln N)` for degree 3 (Krotov & Hopfield, 2016; the
stored patterns themselves stable, with no error).

    KERAS_BACKEND=jax python benchmarks/hopfield_capacity.py
"""

import argparse
import json
import math
import os
import time

import keras
import numpy as np

from keras_hebbian.layers import DenseAssociativeMemory, HopfieldMemory

DOCS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs"))
METHODS = ("hebb", "storkey", "dense-poly3", "dense-exp")
COUNTS = {
    100: [5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000],
    1000: [25, 50, 75, 100, 150, 200, 250, 300, 400, 600, 1000, 2000, 5000, 10000],
}


def theory(n):
    """Capacity estimates, in patterns, for `n` units."""
    return {
        "hebb": 0.138 * n,
        "storkey": n / math.sqrt(2 * math.log(n)),
        "dense-poly3": n**2 / (6 * math.log(n)),
    }


def flipped(rng, patterns, fraction):
    count, n = patterns.shape
    flips = np.argsort(rng.random((count, n)), axis=1)[:, : int(round(fraction * n))]
    cues = patterns.copy()
    np.put_along_axis(cues, flips, -np.take_along_axis(patterns, flips, axis=1), axis=1)
    return cues


def make_memory(method, count, beta=None):
    if method in ("hebb", "storkey"):
        return HopfieldMemory(rule=method, update="async", seed=0)
    if method == "dense-poly3":
        return DenseAssociativeMemory(capacity=count, interaction="polynomial", degree=3)
    return DenseAssociativeMemory(capacity=count, interaction="exponential", beta=beta)


def recalled(method, patterns, cues, chunk, beta=None):
    """The fraction of `cues` (the first rows of `patterns`, corrupted) recalled exactly."""
    memory = make_memory(method, len(patterns), beta)
    for start in range(0, len(patterns), chunk):
        memory.store(patterns[start:start + chunk])
    out = keras.ops.convert_to_numpy(memory.recall(cues))
    return float(np.mean(np.all(np.sign(out) == patterns[: len(cues)], axis=1)))


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(n) for n in result["sizes"]]
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.0 * len(sizes), 4.0), squeeze=False)
    colors = {"hebb": "tab:blue", "storkey": "tab:orange", "dense-poly3": "tab:green",
              "dense-exp": "tab:red"}
    labels = {"hebb": "Hopfield, Hebb", "storkey": "Hopfield, Storkey",
              "dense-poly3": "dense, polynomial degree 3", "dense-exp": "dense, exponential"}
    for ax, n in zip(axes[0], sizes):
        rows = result["sizes"][str(n)]
        for method in METHODS:
            points = [(p, f) for p, f in zip(rows["counts"], rows["recalled"][method]) if f is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, color=colors[method],
                        label=labels[method])
        for method, value in rows["theory"].items():
            if value <= rows["counts"][-1]:
                ax.axvline(value, color=colors[method], linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("patterns stored")
        ax.set_ylabel("fraction recalled exactly")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"N = {n}, {result['flip']:.0%} of the bits flipped (dashed: theory)")
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], choices=sorted(COUNTS))
    parser.add_argument("--flip", type=float, default=0.1, help="fraction of bits flipped in a cue")
    parser.add_argument("--cues", type=int, default=200, help="most cues tested per point")
    parser.add_argument("--trials", type=int, default=3, help="independent draws per point")
    parser.add_argument("--chunk", type=int, default=500, help="patterns stored per call")
    parser.add_argument("--beta", type=float, default=None,
                        help="beta of dense-exp (default: 1 / sqrt(N))")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=os.path.join(DOCS, "hopfield_capacity.json"))
    parser.add_argument("--png", default=os.path.join(DOCS, "hopfield_capacity.png"))
    args = parser.parse_args()

    result = {"backend": keras.backend.backend(), "flip": args.flip, "cues": args.cues,
              "beta": args.beta,
              "trials": args.trials, "seed": args.seed, "sizes": {}}
    start = time.time()
    for n in args.sizes:
        counts = COUNTS[n]
        rows = {"counts": counts, "recalled": {m: [] for m in METHODS}, "theory": theory(n)}
        failures = {m: 0 for m in METHODS}
        print(f"N = {n}: fraction of cues recalled exactly ({args.flip:.0%} of the bits flipped, "
              f"mean of {args.trials} draws)")
        print("  patterns  " + "  ".join(f"{m:>11}" for m in METHODS))
        for count in counts:
            row = []
            for method in METHODS:
                if failures[method] >= 2:
                    rows["recalled"][method].append(None)
                    row.append(f"{'-':>11}")
                    continue
                fractions = []
                for trial in range(args.trials):
                    rng = np.random.default_rng([args.seed, n, count, trial])
                    patterns = rng.choice([-1.0, 1.0], size=(count, n)).astype("float32")
                    cues = flipped(rng, patterns[: args.cues], args.flip)
                    fractions.append(recalled(method, patterns, cues, args.chunk, args.beta))
                fraction = float(np.mean(fractions))
                failures[method] = failures[method] + 1 if fraction == 0.0 else 0
                rows["recalled"][method].append(fraction)
                row.append(f"{fraction:11.3f}")
            print(f"  {count:8d}  " + "  ".join(row), flush=True)
        capacity = {}
        for method in METHODS:
            good = [p for p, f in zip(counts, rows["recalled"][method]) if f is not None and f >= 0.9]
            capacity[method] = max(good) if good else None
        rows["largest_count_recalled_90"] = capacity
        print(f"  largest number stored with >= 90% recalled: "
              + ", ".join(f"{m} {capacity[m]}" for m in METHODS))
        print("  theory: " + ", ".join(f"{m} {v:.1f}" for m, v in rows["theory"].items()))
        result["sizes"][str(n)] = rows
    result["seconds"] = round(time.time() - start, 1)
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=1)
    plot(result, args.png)
    print(f"{result['seconds']:.0f} s; wrote {args.json} and {args.png}")


if __name__ == "__main__":
    main()
