"""keras-hebbian: Hebbian (local, unsupervised) learning for Keras 3.

Layers whose weights learn by a local rule on every training batch, on JAX,
TensorFlow and PyTorch alike.
"""

from keras_hebbian import callbacks, datasets, evaluation, layers, models, rules
from keras_hebbian.layers import HebbianDense

__version__ = "0.1.0"

__all__ = ["HebbianDense", "callbacks", "datasets", "evaluation", "layers", "models", "rules", "__version__"]
