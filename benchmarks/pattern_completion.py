"""Pattern completion within an episode: a plastic RNN against an LSTM (Miconi et al., 2018).

Each episode shows a few random bipolar patterns (`--patterns`, of `--bits`
bits), each for `--presentation-steps` steps followed by `--gap-steps` steps
of zero input, in a shuffled order, `--cycles` times; then one of them with
each bit zeroed with probability one half, for `--test-steps` steps. The
network must output the whole pattern at the last step: every episode has
new patterns, so what it must recall is learned within the episode, in its
activity or its Hebbian traces, and only how to learn is trained.

Two networks, both trained by `model.fit()` with Adam, one episode per
update, mean squared error at the last step:

- plastic: `keras.layers.RNN(PlasticRNNCell(bits, use_input_kernel=False))`,
  one unit per bit, the input added to its unit (times `--input-gain`, 20
  as in Miconi et al.), `W` and `alpha` drawn from N(0, 0.01^2), `eta`
  learned from 0.01; its output is the units' activity.
- LSTM: `keras.layers.LSTM(h)` and a `Dense(bits, "tanh")` readout, with
  the smallest `h` that gives it at least as many parameters as the plastic
  network; it learns its own input weights, and sees the patterns at gain
  `--lstm-input-gain`.

The error is the fraction of the output's bits whose sign is wrong (a
network that copies the cue and guesses the zeroed bits scores 0.25). Each
episode is new, so the error measured on an episode before the update it
causes is a held-out error; the script reports its mean over each block of
`--block` episodes, per seed, and at the end the error of each network on
`--eval-episodes` further episodes.

The default command (about 15 minutes on an idle 2-core CPU with TensorFlow:
0.65 s per plastic episode, 0.2 s per LSTM episode; JAX's CPU scan over the
1,000 x 1,000 trace takes about six times longer, PyTorch about twice):

    KERAS_BACKEND=tensorflow python benchmarks/pattern_completion.py

Miconi et al.'s sizes (5 patterns of 1,000 bits, 2 cycles, 6 + 4 steps, 6
test steps) are the defaults except the number of episodes; their plastic
network trained for thousands of episodes (`--episodes 2000`).
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from keras_hebbian.layers import PlasticRNNCell

DOCS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs"))


def episode_length(args):
    return args.cycles * args.patterns * (args.presentation_steps + args.gap_steps) + args.test_steps


def make_episodes(rng, count, args):
    """`count` episodes: inputs `(count, steps, bits)` in {-1, 0, 1} and targets `(count, bits)`."""
    steps = episode_length(args)
    inputs = np.zeros((count, steps, args.bits), dtype="float32")
    targets = np.zeros((count, args.bits), dtype="float32")
    block = args.presentation_steps + args.gap_steps
    for episode in range(count):
        patterns = rng.choice([-1.0, 1.0], size=(args.patterns, args.bits))
        target = patterns[rng.integers(args.patterns)]
        for cycle in range(args.cycles):
            for slot, index in enumerate(rng.permutation(args.patterns)):
                start = (cycle * args.patterns + slot) * block
                inputs[episode, start:start + args.presentation_steps] = patterns[index]
        kept = rng.random(args.bits) >= args.zeroed_fraction
        inputs[episode, -args.test_steps:] = target * kept
        targets[episode] = target
    return inputs, targets


def bit_error(y_true, y_pred):
    """The fraction of bits whose sign is wrong."""
    return keras.ops.mean(keras.ops.cast(
        keras.ops.not_equal(keras.ops.sign(y_true), keras.ops.sign(y_pred)), "float32"), axis=-1)


def plastic_model(args, seed):
    cell = PlasticRNNCell(
        args.bits, rule=args.rule, use_input_kernel=False, use_bias=False, eta=0.01,
        recurrent_initializer=keras.initializers.RandomNormal(stddev=0.01), seed=seed,
    )
    model = keras.Sequential([keras.Input((episode_length(args), args.bits)),
                              keras.layers.Rescaling(args.input_gain),
                              keras.layers.RNN(cell)], name="plastic")
    model.compile(optimizer=keras.optimizers.Adam(args.plastic_lr), loss="mse",
                  metrics=[bit_error])
    return model


def lstm_units(bits, parameters):
    """The smallest LSTM width whose network (LSTM + Dense readout) has >= `parameters`."""
    units = 1
    while 4 * units * (bits + units + 1) + units * bits + bits < parameters:
        units += 1
    return units


def lstm_model(args, units, seed):
    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([
        keras.Input((episode_length(args), args.bits)),
        keras.layers.Rescaling(args.lstm_input_gain),
        keras.layers.LSTM(units, kernel_initializer=init,
                          recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 1)),
        keras.layers.Dense(args.bits, activation="tanh",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2)),
    ], name="lstm")
    model.compile(optimizer=keras.optimizers.Adam(args.lstm_lr), loss="mse", metrics=[bit_error])
    return model


def train(model, args, seed):
    """Train on fresh episodes; return the mean error of each block and the final error."""
    rng = np.random.default_rng(seed)
    curve, start = [], time.time()
    for done in range(0, args.episodes, args.block):
        count = min(args.block, args.episodes - done)
        x, y = make_episodes(rng, count, args)
        history = model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
        curve.append(float(history.history["bit_error"][-1]))
        print(f"  {model.name} seed {seed}: episodes {done + count:5d}  error {curve[-1]:.4f}",
              flush=True)
    seconds = time.time() - start
    x, y = make_episodes(np.random.default_rng(10_000 + seed), args.eval_episodes, args)
    final = float(np.mean(keras.ops.convert_to_numpy(bit_error(y, model.predict(x, verbose=0)))))
    return curve, final, seconds


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colors = {"plastic": "tab:blue", "lstm": "tab:orange"}
    labels = {"plastic": f"plastic RNN ({result['parameters']['plastic']:,} parameters)",
              "lstm": f"LSTM, {result['lstm_units']} units "
                      f"({result['parameters']['lstm']:,} parameters)"}
    episodes = np.asarray(result["episodes"])
    for name in ("plastic", "lstm"):
        curves = np.asarray([run["curve"] for run in result["runs"][name]])
        for curve in curves:
            ax.plot(episodes, curve, color=colors[name], alpha=0.3, linewidth=0.8)
        ax.plot(episodes, curves.mean(0), color=colors[name], linewidth=2, label=labels[name])
    ax.axhline(0.25, color="gray", linestyle=":", linewidth=1, label="copy the cue, guess the rest")
    ax.set_xlabel("training episodes")
    ax.set_ylabel("fraction of bits wrong")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Pattern completion: {result['config']['patterns']} patterns of "
                 f"{result['config']['bits']} bits per episode ({len(result['seeds'])} seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bits", type=int, default=1000, help="pattern size (paper: 1000)")
    parser.add_argument("--patterns", type=int, default=5, help="patterns per episode (paper: 5)")
    parser.add_argument("--cycles", type=int, default=2, help="presentations of each (paper: 2)")
    parser.add_argument("--presentation-steps", type=int, default=6, help="(paper: 6)")
    parser.add_argument("--gap-steps", type=int, default=4, help="zero input after each (paper: 4)")
    parser.add_argument("--test-steps", type=int, default=6, help="steps of the cue (paper: 6)")
    parser.add_argument("--zeroed-fraction", type=float, default=0.5,
                        help="probability that a bit of the cue is zeroed (paper: 0.5)")
    parser.add_argument("--episodes", type=int, default=300,
                        help="training episodes per network and seed")
    parser.add_argument("--block", type=int, default=20, help="episodes per point of the curve")
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rule", choices=["hebb", "oja"], default="hebb")
    parser.add_argument("--input-gain", type=float, default=20.0)
    parser.add_argument("--lstm-input-gain", type=float, default=1.0)
    parser.add_argument("--plastic-lr", type=float, default=3e-4, help="Adam (paper: 3e-4)")
    parser.add_argument("--lstm-lr", type=float, default=1e-3, help="Adam")
    parser.add_argument("--json", default=os.path.join(DOCS, "pattern_completion.json"))
    parser.add_argument("--png", default=os.path.join(DOCS, "pattern_completion.png"))
    args = parser.parse_args()

    plastic_parameters = plastic_model(args, 0).count_params()
    units = lstm_units(args.bits, plastic_parameters)
    lstm_parameters = lstm_model(args, units, 0).count_params()
    print(f"backend {keras.backend.backend()}; episodes of {episode_length(args)} steps; "
          f"plastic RNN {plastic_parameters:,} parameters, LSTM {units} units "
          f"{lstm_parameters:,} parameters")
    episodes = [min(done + args.block, args.episodes) for done in range(0, args.episodes, args.block)]
    runs = {"plastic": [], "lstm": []}
    for seed in args.seeds:
        for name in ("plastic", "lstm"):
            keras.utils.clear_session()
            keras.utils.set_random_seed(seed)
            model = plastic_model(args, seed) if name == "plastic" else lstm_model(args, units, seed)
            curve, final, seconds = train(model, args, seed)
            runs[name].append({"seed": seed, "curve": curve, "final_error": final,
                               "seconds": round(seconds, 1)})
            print(f"{name} seed {seed}: error on {args.eval_episodes} new episodes {final:.4f} "
                  f"({seconds:.0f} s)", flush=True)

    summary = {}
    for name, label in (("plastic", "plastic RNN"), ("lstm", "LSTM")):
        finals = [run["final_error"] for run in runs[name]]
        last = [run["curve"][-1] for run in runs[name]]
        summary[name] = {"final_error_mean": float(np.mean(finals)),
                         "last_block_error_mean": float(np.mean(last))}
        print(f"{label}: error after {args.episodes} episodes, mean of {len(finals)} seeds "
              f"{np.mean(finals):.4f} (per seed {', '.join(f'{v:.4f}' for v in finals)}); "
              f"last block of training {np.mean(last):.4f}")
    result = {
        "backend": keras.backend.backend(),
        "config": {key: value for key, value in vars(args).items() if key not in ("json", "png")},
        "episode_steps": episode_length(args),
        "parameters": {"plastic": plastic_parameters, "lstm": lstm_parameters},
        "lstm_units": units,
        "seeds": args.seeds,
        "episodes": episodes,
        "runs": runs,
        "summary": summary,
    }
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=1)
    plot(result, args.png)
    print(f"wrote {args.json} and {args.png}")


if __name__ == "__main__":
    main()
