"""scikit-learn estimators built on Hebbian rules.

`HebbianPCA` learns principal components by a Hebbian rule (Sanger's, by
default) with `fit` or streaming `partial_fit`; `HebbianFeatures` is a
competitive Hebbian layer as a transformer, for `Pipeline`s.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

#: The rules `HebbianPCA` takes by name (it also takes any `Rule` object).
PCA_RULES = ("sanger", "oja", "bcm")


def _initial_state(rule, kernel_shape):
    """The rule's state before any update, as a layer creates it: NumPy float32 arrays."""
    import keras

    return {
        key: keras.ops.convert_to_numpy(
            keras.initializers.get(initializer)(tuple(shape), dtype="float32")
        )
        for key, (shape, initializer) in rule.state_spec(tuple(kernel_shape)).items()
    }


def _update(rule, x, y, kernel, state):
    """One batch of `rule` on NumPy arrays, through the library's rule objects.

    Returns:
        `(delta, new_state)`: the float64 weight direction and the rule's
        new state (float32 arrays).
    """
    import keras

    from keras_hebbian.rules import Presynaptic

    delta, new_state = rule.compute_update(
        Presynaptic(keras.ops.convert_to_tensor(x, "float32")),
        keras.ops.convert_to_tensor(y, "float32"),
        keras.ops.convert_to_tensor(kernel, "float32"),
        {key: keras.ops.convert_to_tensor(value, "float32") for key, value in state.items()},
    )
    new_state = {key: keras.ops.convert_to_numpy(new_state[key]) for key in state}
    return keras.ops.convert_to_numpy(delta).astype("float64"), new_state


def _int_param(name, value, minimum):
    """`check_int` that also takes NumPy integers, as scikit-learn's parameters may be."""
    from keras_hebbian.validation import check_int

    return check_int(name, int(value) if isinstance(value, np.integer) else value, minimum)


def _positive_param(name, value):
    from keras_hebbian.validation import check_positive

    return check_positive(name, value)


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

    A rule that keeps state between batches (`"bcm"`'s threshold, the
    running means of `keras_hebbian.rules.Covariance`) keeps it in
    `rule_state_` from one `partial_fit` call to the next, as a layer keeps
    it from batch to batch; `fit` starts it afresh.

    `explained_variance_` and `explained_variance_ratio_` describe all the
    samples given so far (to `fit` once, then to every `partial_fit`): the
    estimator keeps their count, mean and scatter matrix (`n_features ** 2`
    numbers) and projects the scatter on the current components.

    Args:
        n_components: int >= 1, the number of components.
        rule: `"sanger"` (ordered components), `"oja"` (one component),
            `"bcm"` (each unit learns by BCM on its own: directions of
            skewed projections, neither ordered nor orthogonal), or a
            `keras_hebbian.rules.Rule` object.
        learning_rate: float > 0, the initial rate.
        max_iter: passes over the data in `fit`.
        batch_size: mini-batch size.
        decay_steps: updates over which the rate halves.
        random_state: seed of the initial weights and of the batch order.

    Attributes:
        components_: array `(n_components, n_features)`, unit-norm rows.
        explained_variance_: variance along each component of all the
            samples seen.
        explained_variance_ratio_: that variance over their total variance.
        rule_state_: dict, the rule's state after the last update (empty
            for a rule without state), float32 arrays.
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
        from keras_hebbian.rules import Rule

        if not isinstance(self.rule, Rule) and self.rule not in PCA_RULES:
            raise ValueError(
                "rule must be 'sanger', 'oja', 'bcm' or a keras_hebbian.rules.Rule. "
                f"Received: rule={self.rule!r}"
            )
        if self.rule == "oja" and self.n_components != 1:
            raise ValueError("rule='oja' learns one component: set n_components=1 or use 'sanger'.")
        _positive_param("learning_rate", self.learning_rate)
        for name in ("max_iter", "batch_size", "decay_steps"):
            _int_param(name, getattr(self, name), 1)

    def _initialize(self, n_features):
        from keras_hebbian import rules

        self._check_params(n_features)
        self._rng = check_random_state(self.random_state)
        self._kernel = self._rng.normal(scale=1.0 / np.sqrt(n_features),
                                        size=(n_features, self.n_components))
        self._rule = rules.get(self.rule)
        self.rule_state_ = _initial_state(self._rule, self._kernel.shape)
        self.mean_ = np.zeros(n_features)
        self._square = 0.0
        self.n_samples_seen_ = 0
        self._steps = 0
        # count, mean and scatter matrix of the distinct samples given
        self._count = 0
        self._data_mean = np.zeros(n_features)
        self._scatter = np.zeros((n_features, n_features))

    def _learn(self, x):
        from keras_hebbian.rules import Rule

        rule = self._rule
        linear = type(rule).effective_kernel is Rule.effective_kernel
        for index in _batches(len(x), self.batch_size, self._rng):
            batch = x[index]
            count = self.n_samples_seen_ + len(batch)
            self.mean_ += (batch.sum(axis=0) - len(batch) * self.mean_) / count
            centred = batch - self.mean_
            self._square += (np.sum(centred**2) / batch.shape[1] - len(batch) * self._square) / count
            self.n_samples_seen_ = count
            scaled = centred / np.sqrt(self._square + 1e-12)
            y = scaled @ (self._kernel if linear else _effective(rule, self._kernel))
            rate = self.learning_rate / (1.0 + self._steps / self.decay_steps)
            delta, self.rule_state_ = _update(rule, scaled, y, self._kernel, self.rule_state_)
            self._kernel += rate * delta
            self._steps += 1
        self._finish()

    def _finish(self):
        kernel = self._kernel
        self.components_ = (kernel / np.linalg.norm(kernel, axis=0, keepdims=True)).T
        self.n_components_ = self.n_components

    def _accumulate(self, x):
        """Add the samples `x` to the count, mean and scatter matrix (Chan et al.'s update)."""
        count = self._count + len(x)
        mean = x.mean(axis=0)
        centred = x - mean
        shift = mean - self._data_mean
        self._scatter += centred.T @ centred + np.outer(shift, shift) * (
            self._count * len(x) / count
        )
        self._data_mean = self._data_mean + shift * (len(x) / count)
        self._count = count

    def _set_variance(self):
        """The variance along each component, and its ratio, of all the samples given."""
        if self._count < 2:
            self.explained_variance_ = np.zeros(self.n_components)
            self.explained_variance_ratio_ = np.zeros(self.n_components)
            return
        covariance = self._scatter / (self._count - 1)
        components = self.components_
        self.explained_variance_ = np.einsum("ij,jk,ik->i", components, covariance, components)
        total = np.trace(covariance)
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
        self._accumulate(x)
        self._set_variance()
        return self

    def partial_fit(self, X, y=None):
        """Learn from one more batch of samples (streaming): one pass over `X`.

        The rule's state (`rule_state_`) carries on from the previous call,
        and `explained_variance_` describes every sample given so far.
        """
        first = not hasattr(self, "components_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first)
        x = np.asarray(X, dtype="float64")
        if first:
            self._initialize(x.shape[1])
            self.n_iter_ = 0
        self._learn(x)
        self.n_iter_ += 1
        self._accumulate(x)
        self._set_variance()
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
    (`rule`: `"softhebb"`, `"wta"` or `"krotov"`, the rules of
    `keras_hebbian.recipes.softhebb_dense`, `winner_take_all_dense` and
    `krotov_hopfield_dense`, every one from the initial weight scale of
    `softhebb_dense`) on the rows of `X`, each scaled to unit norm;
    `transform` returns `relu(responses) ** power`.

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
        from keras_hebbian import recipes

        if self.rule == "softhebb":
            return recipes.softhebb_dense_rule()
        if self.rule == "wta":
            return recipes.winner_take_all_rule()
        if self.rule == "krotov":
            return recipes.krotov_hopfield_rule(self.n_units) if self.n_units >= 2 else None
        raise ValueError(f"rule must be 'softhebb', 'wta' or 'krotov'. Received: rule={self.rule!r}")

    def fit(self, X, y=None):
        """Train the layer on `X` without labels."""
        from keras_hebbian import recipes

        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_units = _int_param("n_units", self.n_units, 1)
        _positive_param("learning_rate", self.learning_rate)
        _int_param("epochs", self.epochs, 1)
        _int_param("batch_size", self.batch_size, 1)
        _positive_param("power", self.power)
        rule = self._make_rule()
        if rule is None:
            raise ValueError("rule='krotov' needs n_units >= 2.")
        rng = check_random_state(self.random_state)
        x = _unit_rows(X)
        # the initial scale of the SoftHebb recipe, for every rule
        kernel = rng.normal(scale=recipes.SOFTHEBB_DENSE_STDDEV, size=(x.shape[1], n_units))
        state = _initial_state(rule, kernel.shape)
        for _ in range(self.epochs):
            for index in _batches(len(x), self.batch_size, rng):
                batch = x[index]
                post = batch @ _effective(rule, kernel)
                delta, state = _update(rule, batch, post, kernel, state)
                kernel = kernel + self.learning_rate * delta
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
