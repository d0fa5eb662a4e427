"""Keras layers whose weights learn by local Hebbian rules."""

from keras_hebbian.layers.base import HebbianLayer
from keras_hebbian.layers.hebbian import Hebbian
from keras_hebbian.layers.hebbian_dense import HebbianDense
from keras_hebbian.layers.similarity_matching import SimilarityMatching

__all__ = ["Hebbian", "HebbianDense", "HebbianLayer", "SimilarityMatching"]
