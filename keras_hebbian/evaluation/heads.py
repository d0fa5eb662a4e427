"""A supervised head trained on frozen (Hebbian) features."""

import numpy as np


def power_features(features, power=1.0):
    """`relu(h) ** power`: Krotov & Hopfield's rectified power activation.

    Args:
        features: array of responses `h`.
        power: float > 0; `1.0` is a plain ReLU, the paper uses `4.5`.
    """
    features = np.maximum(np.asarray(features, dtype="float32"), 0.0)
    return features if power == 1.0 else features**power


def train_head(train_features, y_train, test_features, y_test, power=1.0, epochs=30,
               batch_size=256, learning_rate=1e-3, seed=0, verbose=0):
    """Train a softmax head on frozen features and return its test accuracy.

    The features pass through `relu(h) ** power`, are standardised with the
    training set's statistics (a `keras.layers.Normalization`), and feed one
    `Dense` softmax layer trained with Adam, its rate cosine-annealed to zero.
    The features are frozen: only the head learns.

    Args:
        train_features: array `(n_train, ...)`, flattened after the first axis.
        y_train: int labels `(n_train,)`.
        test_features: array `(n_test, ...)`.
        y_test: int labels `(n_test,)`.
        power: exponent of the rectified power activation (`1.0`: ReLU).
        epochs: training epochs of the head.
        batch_size: batch size of the head.
        learning_rate: initial Adam learning rate.
        seed: seeds the head's initialisation and shuffling.
        verbose: Keras verbosity of the head's `fit`.

    Returns:
        Test accuracy, a float in [0, 1].
    """
    import keras

    train = power_features(train_features, power).reshape(len(train_features), -1)
    test = power_features(test_features, power).reshape(len(test_features), -1)
    classes = int(max(np.max(y_train), np.max(y_test))) + 1
    keras.utils.set_random_seed(seed)
    normalize = keras.layers.Normalization()
    normalize.adapt(train)
    head = keras.Sequential(
        [keras.Input(train.shape[1:]), normalize, keras.layers.Dense(classes, activation="softmax")]
    )
    steps = epochs * int(np.ceil(len(train) / batch_size))
    head.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    head.fit(train, np.asarray(y_train), epochs=epochs, batch_size=batch_size, verbose=verbose)
    _, accuracy = head.evaluate(test, np.asarray(y_test), batch_size=1024, verbose=0)
    return float(accuracy)
