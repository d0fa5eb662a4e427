"""Measuring what a Hebbian network learned."""

from keras_hebbian.evaluation.heads import power_features, train_head
from keras_hebbian.evaluation.probe import linear_probe

__all__ = ["linear_probe", "power_features", "train_head"]
