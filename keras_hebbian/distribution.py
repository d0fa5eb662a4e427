"""Hebbian learning on several devices: every replica learns from the global batch.

A Hebbian update is not a gradient, so no distribution engine averages it
the way it averages gradients, and most rules are not linear in the batch
(a winner-take-all signal, a step divided by its largest entry): averaging
the replicas' updates would not give the single-device update. Instead each
layer gathers the pre- and post-synaptic signals of all replicas before its
rule runs, so every replica computes the same update from the same global
batch and the weights stay identical everywhere.

- JAX (`keras.distribution.DataParallel` / `ModelParallel`): the training
  step is one program over the global batch; nothing to gather.
- TensorFlow (`tf.distribute.MirroredStrategy` and other replica-based
  strategies): an `all_gather` in the replica context.
- PyTorch (`torch.distributed`, e.g. DistributedDataParallel): an
  `all_gather` over the default process group. Every process must call the
  layer with the same local batch size.
"""

import keras
from keras import ops


def all_gather_many(tensors):
    """`all_gather` of several tensors of one batch, in a single collective.

    The tensors are packed side by side, one row per sample, gathered once
    and unpacked: one collective per layer and batch, not one per tensor.
    Each tensor's first axis is a multiple of the first tensor's (a
    convolution's responses have one row per image and position).

    Args:
        tensors: list of float32 tensors, samples first.

    Returns:
        The list of gathered tensors, or `tensors` itself on one device.
    """
    if not is_distributed():
        return list(tensors)
    batch = ops.shape(tensors[0])[0]
    flat = [ops.reshape(t, (batch, -1)) for t in tensors]
    gathered = all_gather(ops.concatenate(flat, axis=1))
    outputs, start = [], 0
    for tensor, part in zip(tensors, flat):
        size = ops.shape(part)[1]
        piece = gathered[:, start:start + size]
        outputs.append(ops.reshape(piece, (-1,) + tuple(tensor.shape[1:])))
        start = start + size
    return outputs


def is_distributed():
    """Whether this call runs on one of several replicas (TensorFlow, PyTorch)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
            context = tf.distribute.get_replica_context()
            return context is not None and context.num_replicas_in_sync > 1
    elif backend == "torch":
        import torch.distributed as dist

        return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    return False


def all_gather(tensor):
    """Concatenate `tensor` (samples first) across replicas; as is on one device.

    Args:
        tensor: a backend tensor whose first axis is samples.

    Returns:
        The tensor of the global batch, replicas in order, on every replica.
    """
    if not is_distributed():
        return tensor
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gathered = tf.distribute.get_replica_context().all_gather(tensor, axis=0)
        gathered.set_shape([None] + list(tensor.shape[1:]))
        return gathered
    import torch
    import torch.distributed as dist

    tensor = tensor.contiguous()
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor)
    return torch.cat(parts, dim=0)
