"""scikit-learn estimators built on Hebbian rules.

`HebbianPCA` learns principal components by a Hebbian rule (Sanger's, by
default) with `fit` or streaming `partial_fit`; `HebbianFeatures` is a
competitive Hebbian layer as a transformer, for `Pipeline`s.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data


def _update(rule, x, y, kernel):
    """One batch of `rule` on NumPy arrays, through the library's rule objects."""
    import keras

    from keras_hebbian.rules import Presynaptic

    delta, _ = rule.compute_update(
        Presynaptic(keras.ops.convert_to_tensor(x, "float32")),
        keras.ops.convert_to_tensor(y, "float32"),
        keras.ops.convert_to_tensor(kernel, "float32"),
        {},
    )
    return keras.ops.convert_to_numpy(delta).astype("float64")


def _batches(n, batch_size, rng):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


class HebbianPCA(TransformerMixin, BaseEstimator):
    """Principal component analysis learned by a Hebbian rule.

    The inputs are centred with their running mean and scaled by one global
    factor (the running root mean square of the centred inputs), so the
    learning rate means the same for any data scale. A linear layer of
    `n_components` units then learns by `rule` (Sanger's generalized
    Hebbian algorithm: the leading components, in order) over `max_iter`
    passes of mini-batches, the rate decaying as `learning_rate / (1 + t /
    decay_steps)`.

    Args:
        n_components: int >= 1, the number of components.
        rule: `"sanger"` (ordered components) or `"oja"` (one component).
        learning_rate: float > 0, the initial rate.
        max_iter: passes over the data in `fit`.
        batch_size: mini-batch size.
        decay_steps: updates over which the rate halves.
        random_state: seed of the initial weights and of the batch order.

    Attributes:
        components_: array `(n_components, n_features)`, unit-norm rows.
        explained_variance_: variance of the data along each component.
        explained_variance_ratio_: that variance over the total variance.
        mean_: the running mean of the inputs.
        n_features_in_: the number of features seen in `fit`.
        n_samples_seen_: samples seen so far.
        n_iter_: passes over data made so far.

    Example:

    >>> from sklearn.datasets import load_digits
    >>> pca = HebbianPCA(n_components=3, random_state=0).fit(load_digits().data)
    >>> pca.transform(load_digits().data[:2]).shape
    (2, 3)
    """

    def __init__(self, n_components=2, rule="sanger", learning_rate=0.05, max_iter=30,
                 batch_size=32, decay_steps=100, random_state=None):
        self.n_components = n_components
        self.rule = rule
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.decay_steps = decay_steps
        self.random_state = random_state

    def _check_params(self, n_features):
        if not isinstance(self.n_components, (int, np.integer)) or not (
            1 <= self.n_components <= n_features
        ):
            raise ValueError(
                f"n_components must be an int in [1, n_features={n_features}]. "
                f"Received: n_components={self.n_components!r}"
            )
        if self.rule not in ("sanger", "oja"):
            raise ValueError(f"rule must be 'sanger' or 'oja'. Received: rule={self.rule!r}")
        if self.rule == "oja" and self.n_components != 1:
            raise ValueError("rule='oja' learns one component: set n_components=1 or use 'sanger'.")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(
                f"learning_rate must be a finite number > 0. Received: {self.learning_rate!r}"
            )
        for name in ("max_iter", "batch_size", "decay_steps"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an int >= 1. Received: {name}={value!r}")

    def _initialize(self, n_features):
        from keras_hebbian import rules

        self._check_params(n_features)
        self._rng = check_random_state(self.random_state)
        self._kernel = self._rng.normal(scale=1.0 / np.sqrt(n_features),
                                        size=(n_features, self.n_components))
        self._rule = rules.get(self.rule)
        self.mean_ = np.zeros(n_features)
        self._square = 0.0
        self.n_samples_seen_ = 0
        self._steps = 0

    def _learn(self, x):
        rule = self._rule
        for index in _batches(len(x), self.batch_size, self._rng):
            batch = x[index]
            count = self.n_samples_seen_ + len(batch)
            self.mean_ += (batch.sum(axis=0) - len(batch) * self.mean_) / count
            centred = batch - self.mean_
            self._square += (np.sum(centred**2) / batch.shape[1] - len(batch) * self._square) / count
            self.n_samples_seen_ = count
            scaled = centred / np.sqrt(self._square + 1e-12)
            y = scaled @ self._kernel
            rate = self.learning_rate / (1.0 + self._steps / self.decay_steps)
            self._kernel += rate * _update(rule, scaled, y, self._kernel)
            self._steps += 1
        self._finish()

    def _finish(self):
        kernel = self._kernel
        self.components_ = (kernel / np.linalg.norm(kernel, axis=0, keepdims=True)).T
        self.n_components_ = self.n_components

    def _set_variance(self, x):
        projected = (x - self.mean_) @ self.components_.T
        self.explained_variance_ = projected.var(axis=0, ddof=1) if len(x) > 1 else np.zeros(
            self.n_components
        )
        total = np.var(x, axis=0, ddof=1).sum() if len(x) > 1 else 0.0
        self.explained_variance_ratio_ = (
            self.explained_variance_ / total if total > 0 else np.zeros(self.n_components)
        )

    def fit(self, X, y=None):
        """Learn the components from `X` `(n_samples, n_features)`, `max_iter` passes."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        x = np.asarray(X, dtype="float64")
        self._initialize(x.shape[1])
        for _ in range(self.max_iter):
            self._learn(x)
        self.n_iter_ = self.max_iter
        self._set_variance(x)
        return self

    def partial_fit(self, X, y=None):
        """Learn from one more batch of samples (streaming): one pass over `X`."""
        first = not hasattr(self, "components_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first)
        x = np.asarray(X, dtype="float64")
        if first:
            self._initialize(x.shape[1])
            self.n_iter_ = 0
        self._learn(x)
        self.n_iter_ += 1
        self._set_variance(x)
        return self

    def transform(self, X):
        """Project `X` on the components: `(n_samples, n_components)`."""
        check_is_fitted(self, "components_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, X):
        """Map projections back to the input space."""
        check_is_fitted(self, "components_")
        return np.asarray(X) @ self.components_ + self.mean_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class HebbianFeatures(TransformerMixin, BaseEstimator):
    """A competitive Hebbian layer as a scikit-learn transformer.

    `fit` trains a `HebbianDense` layer of `n_units` units without labels
    (`rule`: `"softhebb"`, `"wta"` or `"krotov"`) on the rows of `X`, each
    scaled to unit norm; `transform` returns `relu(responses) ** power`.

    Args:
        n_units: int >= 1.
        rule: `"softhebb"`, `"wta"` or `"krotov"`.
        learning_rate: float > 0.
        epochs: int >= 1, passes over the data.
        batch_size: int >= 1.
        power: float > 0, the exponent of the features.
        random_state: int or `None`.

    Example:

    >>> pipeline = Pipeline([("hebb", HebbianFeatures(64)), ("clf", LogisticRegression())])
    """

    def __init__(self, n_units=100, rule="softhebb", learning_rate=0.05, epochs=5,
                 batch_size=32, power=1.0, random_state=None):
        self.n_units = n_units
        self.rule = rule
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.power = power
        self.random_state = random_state

    def _make_rule(self):
        from keras_hebbian import rules

        if self.rule == "softhebb":
            return rules.SoftHebb(temperature=0.02)
        if self.rule == "wta":
            return rules.WinnerTakeAll(max_normalize=True)
        if self.rule == "krotov":
            return rules.KrotovHopfield(k=min(7, self.n_units)) if self.n_units >= 2 else None
        raise ValueError(f"rule must be 'softhebb', 'wta' or 'krotov'. Received: rule={self.rule!r}")

    def fit(self, X, y=None):
        """Train the layer on `X` without labels."""
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if not isinstance(self.n_units, (int, np.integer)) or self.n_units < 1:
            raise ValueError(f"n_units must be an int >= 1. Received: n_units={self.n_units!r}")
        rule = self._make_rule()
        if rule is None:
            raise ValueError("rule='krotov' needs n_units >= 2.")
        rng = check_random_state(self.random_state)
        x = _unit_rows(X)
        kernel = rng.normal(scale=0.7, size=(x.shape[1], self.n_units))
        for _ in range(self.epochs):
            for index in _batches(len(x), self.batch_size, rng):
                batch = x[index]
                post = batch @ _effective(rule, kernel)
                kernel = kernel + self.learning_rate * _update(rule, batch, post, kernel)
        self.kernel_ = kernel
        return self

    def transform(self, X):
        """`relu(responses) ** power`, `(n_samples, n_units)`."""
        check_is_fitted(self, "kernel_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        responses = _unit_rows(X) @ _effective(self._make_rule(), self.kernel_)
        return np.maximum(responses, 0.0) ** self.power


def _unit_rows(X):
    x = np.asarray(X, dtype="float64")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _effective(rule, kernel):
    import keras

    return keras.ops.convert_to_numpy(
        rule.effective_kernel(keras.ops.convert_to_tensor(kernel, "float32"))
    ).astype("float64")
