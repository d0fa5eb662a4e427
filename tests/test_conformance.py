"""keras_hebbian.testing: every built-in rule and layer passes, broken ones fail."""

import keras
import pytest
from keras import ops

from keras_hebbian import rules
from keras_hebbian.layers import Hebbian, HebbianConv2D, HebbianDense, SimilarityMatching
from keras_hebbian.testing import (
    ConformanceReport,
    LayerConformanceError,
    RuleConformanceError,
    check_layer,
    check_rule,
)


@pytest.fixture(autouse=True)
def _clean_keras_state():
    # conftest's fixture, less its garbage collection: half a second a test,
    # most of this file's time, and nothing here needs the memory back.
    keras.utils.clear_session(free_memory=False)
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


# -- rules ------------------------------------------------------------------------


# The built-in rule classes, once each (ALL_RULES also holds aliases).
BUILT_IN = sorted(set(rules.ALL_RULES.values()), key=lambda cls: cls.__name__)


@pytest.mark.parametrize("rule_class", BUILT_IN, ids=lambda cls: cls.__name__)
def test_every_built_in_rule_passes(rule_class):
    report = check_rule(rule_class())
    assert isinstance(report, ConformanceReport)
    assert {"state_spec", "compute_update", "effective_kernel", "batch_size_invariance",
            "identical_samples", "config_round_trip",
            "serialize_round_trip"} <= set(report.passed), str(report)
    if getattr(rule_class, "sparse_units_per_sample", None) is not None:
        # compute_column_update must equal compute_update at the units it lists.
        assert "column_update" in report.passed, str(report)


def test_non_default_rules_pass():
    for rule in [
        rules.BCM(normalize=True),
        rules.Covariance(momentum=0.5, decay=0.1),
        rules.SoftHebb(max_normalize="unit"),
        rules.SoftHebb(temperature=0.5, anti_hebbian=False, adaptive=False, max_normalize=False),
        rules.WinnerTakeAll(k=2),
        rules.WinnerTakeAll(max_normalize=True),
        rules.KrotovHopfield(k=3),
        rules.KrotovHopfield(p=4.5, delta=0.0),
    ]:
        check_rule(rule)


def test_chains_pass():
    chain = getattr(rules, "chain", None)
    if chain is None:
        pytest.skip("keras_hebbian.rules.chain does not exist in this version")
    for rule in [
        chain(rules.Oja(), rules.add_decay(0.1)),
        chain(rules.Hebb(), rules.scale_by_max()),
        chain(rules.Sanger(), rules.scale_by_max(per_unit=True)),
        chain(rules.SoftHebb(adaptive=False), rules.scale_by_norm_distance(0.5)),
        chain(rules.BCM(), rules.add_decay(0.01), rules.scale_by_max()),
        chain(rules.WinnerTakeAll(k=2), rules.scale_by_max()),
        chain(rules.KrotovHopfield(k=3), rules.add_decay(0.05)),
    ]:
        check_rule(rule)


def test_kernel_shapes():
    report = check_rule(rules.Sanger(), kernel_shapes=[(5, 3), (2, 2, 3, 4)])
    assert "compute_update" in report.passed
    with pytest.raises(ValueError, match="2D .* or 4D"):
        check_rule(rules.Oja(), kernel_shapes=[(2, 3, 4)])
    with pytest.raises(TypeError, match="Rule instance"):
        check_rule("oja")


class _ThresholdTypo(rules.Rule):
    def state_spec(self, kernel_shape):
        return {"threshold": ((kernel_shape[-1],), "zeros")}

    def compute_update(self, pre, post, kernel, state):
        theta = ops.mean(ops.square(post), axis=0)
        return pre.correlate(post * (post - theta)), {"treshold": theta}


class _Transposed(rules.Rule):
    def compute_update(self, pre, post, kernel, state):
        return ops.transpose(ops.reshape(pre.correlate(post), (-1, kernel.shape[-1]))), state


class _Sum(rules.Rule):
    def compute_update(self, pre, post, kernel, state):
        # The correlation summed over samples instead of averaged.
        return pre.correlate(post) * pre.num_samples, state


class _Exploding(rules.Rule):
    def compute_update(self, pre, post, kernel, state):
        return pre.correlate(post) / 0.0, state


class _WrongStateShape(rules.Rule):
    def state_spec(self, kernel_shape):
        return {"mean": ((kernel_shape[-1],), "zeros")}

    def compute_update(self, pre, post, kernel, state):
        return pre.correlate(post), {"mean": ops.mean(post)}


class _BadSpec(rules.Rule):
    def state_spec(self, kernel_shape):
        return {"mean": ((kernel_shape[-1],), "no_such_initializer")}

    def compute_update(self, pre, post, kernel, state):
        return pre.correlate(post), state


class _NoConfig(rules.Rule):
    # Forgets to return its argument from `get_config`.
    def __init__(self, rate=0.5):
        self.rate = rate

    def compute_update(self, pre, post, kernel, state):
        return self.rate * pre.correlate(post), state


class _WrongConfig(_NoConfig):
    def get_config(self):
        return {"learning_rate": self.rate}


class _NotReallySparse(rules.Oja):
    # Declares a winner-take-all signal, but its update moves every unit.
    sparse_units_per_sample = 1

    def sparse_signal(self, post):
        winner = ops.expand_dims(ops.argmax(post, axis=-1), -1)
        return winner, ops.ones_like(winner, dtype="float32")


class _ShrinkingKernel(rules.Rule):
    def effective_kernel(self, kernel):
        return kernel[..., :1]

    def compute_update(self, pre, post, kernel, state):
        return kernel * 0.0, state


class _MixedColumns(rules.Rule):
    # Divides by the whole kernel's largest entry: each column depends on the others.
    def effective_kernel(self, kernel):
        return kernel / ops.max(ops.abs(kernel))

    def compute_update(self, pre, post, kernel, state):
        return pre.correlate(post), state


@pytest.mark.parametrize(
    "rule, match",
    [
        (_ThresholdTypo(), r"_ThresholdTypo\(\).*missing keys \['threshold'\], "
                           r"extra keys \['treshold'\]"),
        (_Transposed(), r"_Transposed\(\).*delta of shape \(12, 8\).*kernel's shape \(8, 12\)"),
        (_Sum(), r"_Sum\(\).*depends on the batch size"),
        (_Exploding(), r"_Exploding\(\).*non-finite delta"),
        (_WrongStateShape(), r"state\['mean'\] of shape \(\).*declares \(12,\)"),
        (_BadSpec(), r"initializer 'no_such_initializer'"),
        (_NoConfig(rate=0.1), r"_NoConfig\(\).*does not round-trip.*`rate` is 0.5"),
        (_WrongConfig(), r"from_config\(rule.get_config\(\)\)` raised TypeError"),
        (_ShrinkingKernel(), r"effective_kernel.*must keep the kernel's shape"),
        (_MixedColumns(), r"effective_kernel.*must act on each unit's weights alone"),
        (_NotReallySparse(), r"_NotReallySparse\(\).*`compute_column_update`"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, rules.Rule) else "",
)
def test_broken_rules_fail_naming_the_problem(rule, match):
    with pytest.raises(RuleConformanceError, match=match):
        check_rule(rule)


def test_unregistered_rule_skips_the_serialize_round_trip():
    class Plain(rules.Rule):
        def compute_update(self, pre, post, kernel, state):
            return pre.correlate(post), state

    report = check_rule(Plain())
    assert issubclass(RuleConformanceError, AssertionError)
    assert "config_round_trip" in report.passed
    assert "serialize_round_trip" in report.skipped
    assert "skipped serialize_round_trip" in str(report)


# -- layers -----------------------------------------------------------------------


# Keras' mixed-precision call runs where it exercises its own float16 path: the
# lateral loop's solve and the convolution (the others share the dense path).
@pytest.mark.parametrize(
    "layer_class, init_kwargs, input_shape, mixed_precision",
    [
        (HebbianDense, {"units": 4, "rule": "sanger", "learning_rate": 0.05}, (8, 6), False),
        (HebbianDense, {"units": 4, "lateral": "anti_hebbian", "learning_rate": 0.05}, (8, 6),
         True),
        (HebbianConv2D, {"filters": 3, "kernel_size": 3, "learning_rate": 0.05}, (4, 6, 6, 2),
         True),
        (Hebbian, {"output_dim": 4, "eta": 0.05, "seed": 1}, (8, 3, 2), False),
        (SimilarityMatching, {"units": 3, "learning_rate": 0.05}, (8, 6), False),
    ],
    ids=["dense", "dense_lateral", "conv2d", "hebbian", "similarity_matching"],
)
def test_built_in_layers_pass(layer_class, init_kwargs, input_shape, mixed_precision):
    report = check_layer(layer_class, init_kwargs, input_shape,
                         run_mixed_precision_check=mixed_precision)
    assert report.passed == ["fit_changes_plastic_weights", "predict_changes_nothing",
                             "save_load_round_trip", "run_layer_test"]


class NeverLearns(HebbianDense):
    """Ignores `training`: its learning never runs, so nothing is assigned."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=False)


class LearnsInPredict(HebbianDense):
    """Learns on every call, `predict()` included."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def test_a_layer_that_never_learns_fails():
    with pytest.raises(LayerConformanceError, match=r"NeverLearns fails the `fit` check.*kernel"):
        check_layer(NeverLearns, {"units": 3}, (8, 5))


def test_a_layer_that_learns_in_predict_fails():
    with pytest.raises(LayerConformanceError,
                       match=r"LearnsInPredict fails the `predict` check.*kernel"):
        check_layer(LearnsInPredict, {"units": 3}, (8, 5))


def test_a_wrong_output_shape_fails():
    with pytest.raises(LayerConformanceError,
                       match=r"HebbianDense fails the `predict` check.*shape \(16, 3\)"):
        check_layer(HebbianDense, {"units": 3}, (8, 5), expected_output_shape=(8, 4))


def test_a_failure_of_keras_layer_test_is_reported():
    assert issubclass(LayerConformanceError, AssertionError)
    with pytest.raises(LayerConformanceError,
                       match=r"HebbianDense fails the `run_layer_test` check.*trainable_weights"):
        check_layer(HebbianDense, {"units": 3}, (8, 5), expected_num_trainable_weights=1,
                    run_mixed_precision_check=False)
