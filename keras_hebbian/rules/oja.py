"""Oja's rule and Sanger's generalized Hebbian algorithm: Hebbian PCA."""

import keras
from keras import ops

from keras_hebbian.rules.base import Rule


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Oja(Rule):
    """Oja's rule (1982): `dw_ij = <y_j (x_i - y_j w_ij)>`.

    Hebb's rule with a forgetting term that keeps each unit's weight vector at
    unit norm. A linear unit trained with it converges to the first principal
    component of its (zero-mean) inputs. With several units and no
    competition, every unit converges to that same component: use `Sanger`
    for the leading subspace in order.

    Example:

    >>> layer = keras_hebbian.layers.HebbianDense(1, rule="oja")
    """

    fixed_point_norm = 1.0

    def core_update(self, pre, post, kernel, state):
        delta = pre.correlate(post) - kernel * ops.mean(ops.square(post), axis=0)
        return delta, state


@keras.saving.register_keras_serializable(package="keras_hebbian")
class Sanger(Rule):
    """Sanger's rule, the generalized Hebbian algorithm (1989).

    `dw_ij = <y_j (x_i - sum_{k <= j} y_k w_ik)>`: unit `j` learns Oja's rule on
    the input left after removing what units `1..j-1` explain. Linear units
    converge to the leading principal components, in order of decreasing
    eigenvalue (unit 0 the largest).

    Example:

    >>> layer = keras_hebbian.layers.HebbianDense(8, rule="sanger")
    """

    fixed_point_norm = 1.0

    def core_update(self, pre, post, kernel, state):
        outer = ops.matmul(ops.transpose(post), post) / pre.num_samples
        delta = pre.correlate(post) - ops.matmul(kernel, ops.triu(outer))
        return delta, state
