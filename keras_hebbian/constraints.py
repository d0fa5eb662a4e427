"""Constraints applied to plastic matrices after each update."""

import keras
from keras import ops

from keras_hebbian.validation import check_int, check_positive


@keras.saving.register_keras_serializable(package="keras_hebbian")
class MaxSpectralNorm(keras.constraints.Constraint):
    """Scale a square matrix down so its spectral norm is at most `max_norm`.

    The guard of lateral connections: the spectral norm bounds the spectral
    radius, so with `max_norm < 1` the lateral loop `y = f(W x + L y)` is a
    contraction for any 1-Lipschitz activation (it settles, and iterating it
    converges), and `I - L` is invertible with a condition number of at most
    `(1 + max_norm) / (1 - max_norm)`. The norm is estimated by `iterations`
    steps of power iteration from a fixed start vector, so the result is
    deterministic.

    Args:
        max_norm: float > 0, the largest spectral norm allowed.
        iterations: int >= 1, power-iteration steps.
    """

    def __init__(self, max_norm=0.95, iterations=20):
        self.max_norm = check_positive("max_norm", max_norm)
        self.iterations = check_int("iterations", iterations, minimum=1)

    def __call__(self, w):
        n = w.shape[-1]
        v = ops.linspace(1.0, 2.0, n)
        v = v / ops.norm(v)
        for _ in range(self.iterations):
            u = ops.matmul(w, v)
            u = u / (ops.norm(u) + 1e-12)
            v = ops.matmul(ops.transpose(w), u)
            v = v / (ops.norm(v) + 1e-12)
        sigma = ops.sum(u * ops.matmul(w, v))
        scale = ops.minimum(1.0, self.max_norm / (ops.abs(sigma) + 1e-12))
        return w * scale

    def get_config(self):
        return {"max_norm": self.max_norm, "iterations": self.iterations}
