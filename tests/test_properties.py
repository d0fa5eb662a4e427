"""Properties of every update, for random shapes, batch sizes, rules and masks.

Hypothesis runs with the fixed profile registered in conftest.py
(derandomized: the same examples on every run).
"""

import keras
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from keras_hebbian import rules
from keras_hebbian.layers import HebbianConv2D, HebbianDense

RULES = {
    "hebb": lambda: rules.Hebb(),
    "oja": lambda: rules.Oja(),
    "sanger": lambda: rules.Sanger(),
    "bcm": lambda: rules.BCM(),
    "covariance": lambda: rules.Covariance(),
    "foldiak": lambda: rules.AntiHebbian(),
    "krotov": lambda: rules.KrotovHopfield(k=2),
    "softhebb": lambda: rules.SoftHebb(),
    "wta": lambda: rules.WinnerTakeAll(),
}


@st.composite
def layers(draw):
    """`(make_layer, sample_shape)`: a seeded layer factory and one sample's shape."""
    rule = draw(st.sampled_from(sorted(RULES)))
    units = draw(st.integers(2, 6))
    random_mask = draw(st.booleans())
    connectivity = dict(connectivity="random", connectivity_prob=draw(st.floats(0.3, 0.9))) \
        if random_mask else {}
    seed = draw(st.integers(0, 1000))
    if draw(st.booleans()):
        size, channels = draw(st.integers(3, 6)), draw(st.integers(1, 3))
        kernel = draw(st.integers(1, min(size, 3)))

        def make():
            return HebbianConv2D(units, kernel, rule=RULES[rule](), learning_rate=0.05,
                                 seed=seed, **connectivity)

        return make, (size, size, channels)
    features = draw(st.integers(1, 8))
    lateral = draw(st.sampled_from([None, "foldiak"]))

    def make():
        return HebbianDense(units, rule=RULES[rule](), learning_rate=0.05, lateral=lateral,
                            lateral_learning_rate=0.05, seed=seed, **connectivity)

    return make, (features,)


def _learn(make, x):
    layer = make()
    layer(x[:1])  # build
    layer(x, training=True)
    return layer


def _state(layer):
    return {v.path.split("/")[-1]: v.numpy() for v in layer.non_trainable_variables}


@given(layers(), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_update_is_finite_and_keeps_masks_and_zero_diagonals(layer_spec, batch, data_seed):
    make, shape = layer_spec
    x = np.random.default_rng(data_seed).normal(size=(batch,) + shape).astype("float32")
    layer = _learn(make, x)
    state = _state(layer)
    assert int(layer.iterations.numpy()) == 1
    for name, value in state.items():
        assert np.isfinite(value).all(), name
    if layer.connectivity_mask is not None:
        assert np.all(layer.kernel.numpy()[layer.connectivity_mask.numpy() == 0] == 0.0)
    if getattr(layer, "lateral_plastic", None) is not None:
        assert np.all(np.diag(layer.lateral_kernel.numpy()) == 0.0)


@given(layers(), st.integers(2, 8), st.integers(0, 2**31 - 1))
def test_n_identical_samples_give_the_update_of_one(layer_spec, copies, data_seed):
    make, shape = layer_spec
    sample = np.random.default_rng(data_seed).normal(size=(1,) + shape).astype("float32")
    keras.utils.clear_session()
    one = _state(_learn(make, sample))
    keras.utils.clear_session()
    many = _state(_learn(make, np.repeat(sample, copies, axis=0)))
    assert one.keys() == many.keys()
    for name in one:
        np.testing.assert_allclose(many[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)
