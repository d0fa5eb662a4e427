"""Keras layers whose weights learn by local Hebbian rules."""

from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.layers.hebbian_dense import HebbianDense

__all__ = ["HebbianDense", "HebbianLayer"]
