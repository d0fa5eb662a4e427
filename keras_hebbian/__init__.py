"""keras-hebbian: Hebbian (local, unsupervised) learning for Keras 3.

Layers whose weights learn by a local rule on every training batch, on JAX,
TensorFlow and PyTorch alike.

`import keras_hebbian` does not import Keras: Keras fixes its backend when it
is first imported, so the submodules (`layers`, `rules`, `models`, ...) load
on first use, after the backend has been chosen. When Keras is already
imported, they load at once, so that `keras.saving.load_model` finds the
library's layers and rules.
"""

import importlib
import sys

__version__ = "0.1.0"

_SUBMODULES = (
    "backend",
    "callbacks",
    "constraints",
    "datasets",
    "distribution",
    "evaluation",
    "layers",
    "models",
    "plot",
    "recipes",
    "rules",
    "sklearn",
    "testing",
    "validation",
)
_ATTRIBUTES = {"HebbianDense": "layers"}

__all__ = ["HebbianDense", *_SUBMODULES, "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(f"{__name__}.{_ATTRIBUTES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:
    # The backend is already fixed: register the layers and rules for
    # `keras.saving.load_model`.
    importlib.import_module(f"{__name__}.layers")
