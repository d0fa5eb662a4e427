"""Keras layers whose weights learn by local Hebbian rules."""

from keras_hebbian.layers.associative import DenseAssociativeMemory, HopfieldMemory
from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.layers.hebbian import Hebbian
from keras_hebbian.layers.hebbian_conv2d import HebbianConv2D
from keras_hebbian.layers.hebbian_dense import HebbianDense
from keras_hebbian.layers.plasticity import PlasticDense, PlasticRNNCell
from keras_hebbian.layers.similarity_matching import SimilarityMatching
from keras_hebbian.layers.triangle import Triangle

__all__ = [
    "DenseAssociativeMemory",
    "Hebbian",
    "HebbianConv2D",
    "HebbianDense",
    "HebbianLayer",
    "HopfieldMemory",
    "PlasticDense",
    "PlasticRNNCell",
    "SimilarityMatching",
    "Triangle",
]
