"""Keras layers whose weights learn by local Hebbian rules."""

from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.layers.hebbian import Hebbian
from keras_hebbian.layers.hebbian_conv2d import HebbianConv2D
from keras_hebbian.layers.hebbian_dense import HebbianDense
from keras_hebbian.layers.similarity_matching import SimilarityMatching
from keras_hebbian.layers.triangle import Triangle

__all__ = [
    "Hebbian",
    "HebbianConv2D",
    "HebbianDense",
    "HebbianLayer",
    "SimilarityMatching",
    "Triangle",
]
