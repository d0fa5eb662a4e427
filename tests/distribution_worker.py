"""Trains the same Hebbian models on one device and on several; saves the weights.

Run by tests/test_distribution.py in a fresh process, because each engine
needs its devices configured before the backend starts:

    python tests/distribution_worker.py ENGINE OUT.npz

ENGINE is `jax` (4 host devices: DataParallel and ModelParallel),
`tensorflow` (MirroredStrategy over 2 logical CPUs) or `torch` (2 `gloo`
processes, DistributedDataParallel). OUT.npz holds, for each model and each
engine, every weight after training, named `<model>/<engine>/<index>`; the
single-device run is engine `single`.
"""

import faulthandler
import os
import sys

if __name__ == "__main__":
    ENGINE, OUT = sys.argv[1], sys.argv[2]
    os.environ["KERAS_BACKEND"] = ENGINE
    if ENGINE == "jax":
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import keras
import numpy as np

from keras_hebbian import rules
from keras_hebbian.layers import HebbianConv2D, HebbianDense

BATCH = 16  # the global batch
STEPS = 6
RNG = np.random.default_rng(0)
DATA = {
    "dense": RNG.normal(size=(BATCH * STEPS, 12)).astype("float32"),
    "conv": RNG.normal(size=(BATCH * STEPS, 8, 8, 2)).astype("float32"),
}
TARGETS = RNG.normal(size=(BATCH * STEPS, 3)).astype("float32")


def build(kind):
    """A hybrid model: Hebbian layers learning by their rules, a Dense head by SGD."""
    keras.utils.set_random_seed(1)
    if kind == "dense":
        hebbian = [
            HebbianDense(8, rule="oja", lateral="foldiak", learning_rate=0.05,
                         lateral_learning_rate=0.02, seed=2, name="dense_plastic"),
            HebbianDense(6, rule=rules.KrotovHopfield(k=2), learning_rate=0.05,
                         kernel_initializer="random_normal", seed=3, name="dense_krotov"),
        ]
        shape = (12,)
    else:
        hebbian = [
            HebbianConv2D(4, 3, rule=rules.SoftHebb(), learning_rate=0.05, padding="same",
                          seed=2, name="conv_plastic"),
            HebbianConv2D(4, 3, strides=2, rule="sanger", learning_rate=0.02, seed=3,
                          name="conv_sanger"),
            keras.layers.Flatten(),
        ]
        shape = (8, 8, 2)
    head = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(4),
                              name="head")
    return keras.Sequential([keras.Input(shape)] + hebbian + [head])


def weights(model):
    return [np.array(v.numpy()) for v in model.weights]


def fit(model, kind):
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    model.fit(DATA[kind], TARGETS, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    return weights(model)


def run_jax(results, kind):
    import jax

    devices = jax.devices()
    assert len(devices) == 4, devices
    results[f"{kind}/single"] = fit(build(kind), kind)

    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    results[f"{kind}/data_parallel"] = fit(build(kind), kind)

    mesh = keras.distribution.DeviceMesh((2, 2), ["batch", "model"], devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*/dense_[a-z]+/kernel"] = (None, "model")  # each device: half the units
    layout_map[".*/conv_[a-z]+/kernel"] = (None, None, None, "model")
    keras.distribution.set_distribution(
        keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    )
    model = build(kind)
    kernel = model.layers[0].kernel.value
    shard = kernel.addressable_shards[0].data.shape
    assert shard[-1] == kernel.shape[-1] // 2, ("kernel not sharded", shard)
    results[f"{kind}/model_parallel"] = fit(model, kind)
    keras.distribution.set_distribution(None)


STRATEGY = None


def run_tensorflow(results, kind):
    import tensorflow as tf

    results[f"{kind}/single"] = fit(build(kind), kind)
    # One strategy per process: a second one's collectives collide with the first's.
    global STRATEGY
    if STRATEGY is None:
        STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    strategy = STRATEGY
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = build(kind)
        results[f"{kind}/mirrored"] = fit(model, kind)


def torch_replica(rank, kind, world, store, out):
    import datetime

    import torch
    import torch.distributed as dist

    faulthandler.dump_traceback_later(240, exit=True)  # a hang prints every stack
    # A file store: no TCP port to race for; a timeout turns a hang into an error.
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=120))
    torch.set_num_threads(1)
    try:
        model = build(kind)
        model(DATA[kind][:1])  # build the variables
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        train(ddp, model, kind, lambda x: x[rank * (BATCH // world): (rank + 1) * (BATCH // world)])
        np.savez(out.format(rank=rank), *weights(model))
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    # Destroying DDP's process group can deadlock: the destructor, holding
    # the GIL, joins gloo's threads while one waits for the GIL to free a
    # finished collective. The results are saved: leave without destructors.
    sys.stdout.flush()
    os._exit(0)


def train(module, model, kind, local):
    """The loop of Keras' PyTorch guide: forward with training=True, SGD on the head."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.05)
    for _ in range(2):
        for step in range(STEPS):
            x = torch.tensor(local(DATA[kind][step * BATCH: (step + 1) * BATCH]))
            t = torch.tensor(local(TARGETS[step * BATCH: (step + 1) * BATCH]))
            loss = torch.mean((module(x, training=True) - t) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def run_torch(results, kind):
    import tempfile

    import torch

    model = build(kind)
    model(DATA[kind][:1])
    train(model, model, kind, lambda x: x)
    results[f"{kind}/single"] = weights(model)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rank{rank}.npz")
        store = os.path.join(tmp, "store")
        torch.multiprocessing.spawn(torch_replica, args=(kind, 2, store, out), nprocs=2)
        for rank in range(2):
            with np.load(out.format(rank=rank)) as f:
                results[f"{kind}/ddp_rank{rank}"] = [f[f"arr_{i}"] for i in range(len(f.files))]


if __name__ == "__main__":
    faulthandler.dump_traceback_later(480, exit=True)  # a hang prints every stack
    if ENGINE == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    results = {}
    for kind in os.environ.get("KINDS", "dense conv").split():
        {"jax": run_jax, "tensorflow": run_tensorflow, "torch": run_torch}[ENGINE](results, kind)
    np.savez(OUT, **{f"{key}/{i}": w for key, ws in results.items() for i, w in enumerate(ws)})
