"""Hebbian layers learn the same weights on several devices as on one.

Each backend's engine runs in a fresh process (tests/distribution_worker.py):
JAX DataParallel and ModelParallel on 4 host devices, TensorFlow
MirroredStrategy on 2 logical CPUs, PyTorch DistributedDataParallel with 2
`gloo` processes. Models: dense (Oja with a Foldiak lateral layer, then
Krotov-Hopfield) and conv (SoftHebb, then Sanger with stride 2), each with a
Dense head trained by SGD at the same time.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

ENGINES = {"jax": ["data_parallel", "model_parallel"], "tensorflow": ["mirrored"],
           "torch": ["ddp_rank0", "ddp_rank1"]}
WORKER = os.path.join(os.path.dirname(__file__), "distribution_worker.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    backend = keras.backend.backend()
    out = tmp_path_factory.mktemp("distribution") / "weights.npz"
    env = dict(os.environ, KERAS_BACKEND=backend)
    try:
        result = subprocess.run([sys.executable, WORKER, backend, str(out)], env=env,
                                capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the {backend} worker timed out; its output:\n{error.stderr!s:.4000}")
    assert result.returncode == 0, result.stderr[-4000:]
    with np.load(out) as f:
        return {key: f[key] for key in f.files}


def _weights(trained, kind, engine):
    count = len([k for k in trained if k.startswith(f"{kind}/single/")])
    return [trained[f"{kind}/{engine}/{i}"] for i in range(count)]


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_several_devices_learn_the_single_device_weights(trained, kind):
    single = _weights(trained, kind, "single")
    start = _initial(kind)
    # Training moved every Hebbian kernel, so equality below is not trivial.
    assert len(single) == len(start)
    assert any(not np.allclose(a, b) for a, b in zip(single, start))
    for engine in ENGINES[keras.backend.backend()]:
        distributed = _weights(trained, kind, engine)
        assert len(distributed) == len(single)
        for a, b in zip(single, distributed):
            assert a.shape == b.shape
            assert np.isfinite(b).all()
            assert np.max(np.abs(a.astype("float64") - b)) < 1e-5, engine


def _initial(kind):
    sys.path.insert(0, os.path.dirname(__file__))
    try:
        import distribution_worker as worker
    finally:
        sys.path.pop(0)
    model = worker.build(kind)
    return [np.array(v.numpy()) for v in model.weights]
