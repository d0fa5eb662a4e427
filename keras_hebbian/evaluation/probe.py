"""Linear probe: how linearly separable the learned features make the classes."""

import numpy as np


def linear_probe(train_features, y_train, test_features, y_test, C=1.0, max_iter=2000):
    """Train a logistic-regression head on frozen features; return test accuracy.

    The features are standardised with the training set's statistics first.

    Args:
        train_features: array `(n_train, ...)`, flattened after the first axis.
        y_train: int labels `(n_train,)`.
        test_features: array `(n_test, ...)`.
        y_test: int labels `(n_test,)`.
        C: inverse L2 regularisation strength of the logistic regression.
        max_iter: iteration limit of the solver.

    Returns:
        Test accuracy, a float in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = np.asarray(train_features, dtype="float64").reshape(len(train_features), -1)
    test = np.asarray(test_features, dtype="float64").reshape(len(test_features), -1)
    head = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    head.fit(train, y_train)
    return float(head.score(test, y_test))
