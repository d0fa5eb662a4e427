"""The speed benchmarks, end to end, on the backend under test.

`benchmarks/conv_speed.py` times keras-hebbian's SoftHebb epoch beside a
hand-written loop of the same algorithm, `benchmarks/krotov_speed.py` its
Krotov-Hopfield epoch; `--check` compares the two on a few batches from the
same initial weights. With narrow blocks and 40 images (400 for
Krotov-Hopfield) each run takes seconds, and fails if the loop no longer
learns what the library learns.
"""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import keras

ROOT = pathlib.Path(__file__).resolve().parent.parent
MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"


def _run_checked(script, *args):
    """Run a speed benchmark with `--check` on the backend under test; its stdout.

    Asserts that it exits cleanly and that its check passed after 4 batches.
    """
    backend = keras.backend.backend()
    data = ["--data", str(MNIST)] if MNIST.is_file() else ["--synthetic"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--backends", backend,
         "--check", *args, *data],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    check = re.search(rf"^check \({backend}\): .*after (\d+) batches.*: (\w+)$", out, re.M)
    assert check, out
    assert check.group(1) == "4" and check.group(2) == "passed", check.group(0)
    return out


def _labels(backend, tensorflow_also, one_step, default_steps):
    labels = [one_step, "hand-written loop"]
    if backend != "torch":  # Keras' PyTorch trainer takes steps_per_execution=1 only
        labels.append(default_steps)
    if backend == "tensorflow":
        labels.append(tensorflow_also)
    return labels


def test_conv_speed_runs_and_its_loop_learns_what_the_library_learns():
    backend = keras.backend.backend()
    out = _run_checked("conv_speed.py", "--train", "40", "--batch-size", "10", "--width", "0.05")
    assert "(5 -> 19 -> 77 filters), batch 10, one epoch of 40 " in out
    # TensorFlow: also the graph without XLA
    for label in _labels(backend, "keras-hebbian, jit_compile=False",
                         "keras-hebbian, 1 step/call", "keras-hebbian, compile(), 50 steps/call"):
        row = re.search(rf"^{re.escape(label)} \({backend}\)\s+40(\s+[\d.]+){{4}}\s+\d+  \S", out, re.M)
        assert row, f"no table row for {label}:\n{out}"


def test_krotov_speed_runs_and_its_loop_learns_what_the_library_learns():
    backend = keras.backend.backend()
    out = _run_checked("krotov_speed.py", "--train", "400", "--no-numpy")
    assert "Krotov-Hopfield, 2000 units, batch 100, one epoch of 400 " in out
    # TensorFlow: also XLA, which Keras' "auto" does not choose on a CPU
    labels = _labels(backend, "keras-hebbian, jit_compile=True", "keras-hebbian",
                     "keras-hebbian, models.Sequential, 50 steps/call")
    if backend == "torch":  # also the loop of the changed units only, checked too
        assert f"check ({backend}): both hand-written loops against keras-hebbian" in out, out
        labels.append("hand-written loop, changed units only")
    if backend == "jax":  # and that loop on weights stored (inputs, units)
        assert f"check ({backend}): the 3 hand-written loops against keras-hebbian" in out, out
        labels += ["hand-written loop, changed units only",
                   "hand-written loop, changed units, (inputs, units)"]
    for label in labels:
        row = re.search(rf"^{re.escape(label)} \({backend}\)(\s+[\d.]+){{5}}\s+\S", out, re.M)
        assert row, f"no table row for {label}:\n{out}"


def _krotov_speed_module():
    path = ROOT / "benchmarks" / "krotov_speed.py"
    spec = importlib.util.spec_from_file_location("krotov_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_krotov_speed_repeats_give_the_median_and_the_range():
    median_run = _krotov_speed_module().median_run
    runs = [{"kind": "keras", "epoch_seconds": e, "floor_seconds": f, "ratio": e / f, "rss_mib": m}
            for e, f, m in ((6.0, 1.5, 900.0), (4.0, 2.0, 1100.0), (4.5, 1.2, 1000.0))]
    merged = median_run(runs)
    assert merged["epoch_seconds"] == 4.5 and merged["floor_seconds"] == 1.5
    assert (merged["epoch_min_seconds"], merged["epoch_max_seconds"]) == (4.0, 6.0)
    assert merged["ratio"] == 4.5 / 1.5 and merged["rss_mib"] == 1100.0
    assert "device_mib" not in merged
    on_device = median_run([dict(r, device_mib=m / 10) for r, m in zip(runs, (50, 70, 60))])
    assert on_device["device_mib"] == 7.0
    assert median_run(runs[:1]) is runs[0]


def test_krotov_speed_refuses_no_repeats():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "krotov_speed.py"), "--repeats", "0"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode != 0 and "--repeats must be at least 1" in result.stderr


def test_krotov_speed_alternates_the_implementations():
    alternated = _krotov_speed_module().alternated
    order, kept = [], []
    epochs = {"loop": iter([3.0, 1.0, 2.0]), "keras": iter([5.0, None, 4.0])}

    def run(kind):
        order.append(kind)
        epoch = next(epochs[kind])
        return None if epoch is None else {"kind": kind, "epoch_seconds": epoch,
                                           "floor_seconds": 1.0, "rss_mib": 1.0}

    results, failed = alternated(("loop", "keras"), 3, run, kept.append)
    assert order == ["loop", "keras"] * 3
    assert [(r["kind"], r["repeat"]) for r in kept] == [
        ("loop", 1), ("keras", 1), ("loop", 2), ("loop", 3), ("keras", 3)]
    assert failed and results["loop"]["epoch_seconds"] == 2.0
    assert results["keras"]["epoch_seconds"] == 4.5


def test_krotov_speed_names_tensorflows_onednn_on_the_cpu():
    # TF_ENABLE_ONEDNN_OPTS is read when TensorFlow is imported: one process each.
    import platform

    import pytest

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's oneDNN")
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        pytest.skip("TensorFlow's wheels carry oneDNN on x86-64 Linux")
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import krotov_speed; "
            "print(krotov_speed.accelerator())")
    for value, state in (("0", "off"), ("1", "on")):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
            env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": value},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        device = result.stdout.strip().splitlines()[-1]
        assert device == f"CPU, oneDNN {state}" or "GPU" in device, device


def test_speed_benchmarks_name_the_cpu_and_its_vector_extensions():
    import platform

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import krotov_speed

    amd = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n"
    intel = ("model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\n"
             "flags\t\t: avx avx2 avx512f avx512_vnni amx_bf16 amx_tile\n")
    assert krotov_speed.processor(amd) == "AMD EPYC 7B13 (AVX2)"
    assert krotov_speed.processor(intel) == (
        "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (AVX-512, AMX)")
    # no model name (another system): Python's own name for the processor
    assert krotov_speed.processor("") == (
        platform.processor() or platform.machine() or "unknown")
