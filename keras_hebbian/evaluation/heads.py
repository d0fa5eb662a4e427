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


HEADS = ("softmax", "tanh")
SCHEDULES = ("cosine", "step")
# fractions of the training at which the "step" schedule halves the rate (SoftHebb's readout)
STEP_MILESTONES = (0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9)


def train_head(train_features, y_train, test_features, y_test, power=1.0, epochs=30,
               batch_size=256, learning_rate=1e-3, seed=0, verbose=0, head="softmax",
               beta=10.0, m=6.0, dropout=0.0, standardize=True, schedule="cosine"):
    """Train a supervised head on frozen features and return its test accuracy.

    The features pass through `relu(h) ** power`; then one of two heads:

    - `"softmax"`: features standardised with the training set's statistics
      (a `keras.layers.Normalization`; `standardize=False` keeps them raw,
      as SoftHebb's readout does), one `Dense` softmax layer, cross-entropy.
    - `"tanh"`: Krotov & Hopfield's head (PNAS 2019): features divided by
      one number (the median over training samples of their largest
      feature), `c = tanh(beta * S h)` with a bias-free `S`, and the loss
      `sum_classes |c - t| ** m` with targets `t` of +1 for the class and -1
      for the others. With rectified power features it is the stronger head.

    Either head trains with Adam, its rate cosine-annealed to zero
    (`schedule="cosine"`) or halved at 20, 35, 50, 60, 70, 80 and 90% of the
    steps (`schedule="step"`, SoftHebb's readout), with optional dropout on
    its input (SoftHebb's readout uses 0.5). The features are frozen: only
    the head learns.

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
        head: `"softmax"` or `"tanh"`.
        beta: float > 0, the gain inside the tanh (`"tanh"` head).
        m: float >= 1, the exponent of the loss (`"tanh"` head).
        dropout: float in [0, 1), dropout rate on the head's input features
            during training.
        standardize: bool, standardise the features (`"softmax"` head).
        schedule: `"cosine"` or `"step"`, the learning-rate schedule.

    Returns:
        Test accuracy, a float in [0, 1].

    Example:

    >>> accuracy = train_head(h_train, y_train, h_test, y_test, power=4.5,
    ...                       head="tanh", epochs=60, batch_size=100)
    """
    import keras

    from keras_hebbian.validation import check_choice, check_fraction, check_positive

    check_choice("head", head, HEADS)
    beta = check_positive("beta", beta)
    m = check_positive("m", m)
    if m < 1.0:
        raise ValueError(f"`m` must be >= 1. Received: m={m!r}")
    dropout = check_fraction("dropout", dropout, high_open=True)
    steps = epochs * int(np.ceil(len(train_features) / batch_size))
    rate = head_schedule(schedule, learning_rate, steps)
    drop = [keras.layers.Dropout(float(dropout), seed=seed)] if dropout > 0 else []
    train = power_features(train_features, power).reshape(len(train_features), -1)
    test = power_features(test_features, power).reshape(len(test_features), -1)
    classes = int(max(np.max(y_train), np.max(y_test))) + 1
    keras.utils.set_random_seed(seed)
    if head == "softmax":
        layers = drop + [keras.layers.Dense(classes, activation="softmax")]
        if standardize:
            normalize = keras.layers.Normalization()
            normalize.adapt(train)
            layers = [normalize] + layers
        loss = "sparse_categorical_crossentropy"
    else:
        scale = float(np.median(np.max(train, axis=1)))
        scale = scale if scale > 0.0 else 1.0
        train, test = train / scale, test / scale
        layers = drop + [keras.layers.Dense(classes, use_bias=False),
                  keras.layers.Activation(lambda z: keras.ops.tanh(beta * z))]
        loss = _power_loss(classes, m)
    model = keras.Sequential([keras.Input(train.shape[1:])] + layers)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss)
    model.fit(train, np.asarray(y_train), epochs=epochs, batch_size=batch_size, verbose=verbose)
    predicted = np.argmax(model.predict(test, batch_size=1024, verbose=0), axis=1)
    return float(np.mean(predicted == np.asarray(y_test)))


def head_schedule(schedule, learning_rate, steps):
    """The head's learning-rate schedule over `steps` optimizer steps.

    Args:
        schedule: `"cosine"` (annealed to zero) or `"step"` (halved at 20,
            35, 50, 60, 70, 80 and 90% of the steps, SoftHebb's readout).
        learning_rate: float, the initial rate.
        steps: int, the steps of the whole training.

    Returns:
        A `keras.optimizers.schedules.LearningRateSchedule`.
    """
    import keras

    from keras_hebbian.validation import check_choice

    check_choice("schedule", schedule, SCHEDULES)
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    boundaries = sorted({max(1, round(f * steps)) for f in STEP_MILESTONES})
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [learning_rate * 0.5**i for i in range(len(boundaries) + 1)]
    )


def _power_loss(classes, m):
    """`sum |c - t| ** m` over classes, targets +1 for the label and -1 elsewhere."""
    from keras import ops

    def loss(labels, outputs):
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        targets = 2.0 * ops.one_hot(labels, classes) - 1.0
        return ops.sum(ops.power(ops.abs(outputs - targets), m), axis=-1)

    return loss
