"""Several steps per compiled call, and the effective kernel a layer keeps.

`compile(steps_per_execution=N)` on `keras_hebbian.models` runs N batches as
one program (on JAX a `lax.scan`); it must learn exactly what N separate steps
learn, keep per-epoch callbacks, and still stop on a non-finite batch.
"""

import keras
import numpy as np
import pytest

from keras_hebbian import backend, layers, models, recipes, rules


def _dense_krotov():
    return recipes.krotov_hopfield_dense(64, None, learning_rate=0.05, k=3, seed=1)


def _dense_softhebb():
    return layers.HebbianDense(12, rule=rules.SoftHebb(temperature=0.5), learning_rate=0.05,
                               kernel_initializer="random_normal", seed=1)


def _dense_oja_lateral():
    return layers.HebbianDense(6, rule="oja", lateral="anti_hebbian", learning_rate=0.02,
                               seed=1)


def _conv_softhebb():
    return layers.HebbianConv2D(4, 3, rule=rules.SoftHebb(temperature=0.5),
                                learning_rate=0.05, kernel_initializer="random_normal",
                                seed=1)


CASES = {
    "krotov_hopfield": (_dense_krotov, (16,)),
    "softhebb": (_dense_softhebb, (16,)),
    "oja_lateral": (_dense_oja_lateral, (16,)),
    "conv_softhebb": (_conv_softhebb, (8, 8, 2)),
}


def _data(shape, samples=85, seed=0):
    return np.random.default_rng(seed).random((samples, *shape)).astype("float32")


def _train(make, shape, x, steps, epochs=2, callbacks=None, jit_compile="auto"):
    if steps > 1 and keras.backend.backend() == "torch":
        pytest.skip("Keras' PyTorch trainer takes steps_per_execution=1 only")
    keras.utils.set_random_seed(0)
    model = models.Sequential([keras.Input(shape), make()])
    model.compile(steps_per_execution=steps, jit_compile=jit_compile)
    if jit_compile is True:
        assert model.jit_compile is True  # Keras did not fall back
    history = model.fit(x, epochs=epochs, batch_size=8, shuffle=False, verbose=0,
                        callbacks=callbacks)
    return model, history


@pytest.mark.parametrize("case", sorted(CASES))
def test_several_steps_per_call_learn_what_single_steps_learn(case):
    make, shape = CASES[case]
    # 85 samples in batches of 8: 10 full batches and a short one, so that an
    # execution of 4 steps ends the epoch with 3 batches, one of them short.
    x = _data(shape)
    single, _ = _train(make, shape, x, steps=1)
    fused, _ = _train(make, shape, x, steps=4)
    for a, b in zip(single.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    layer = fused.layers[0]
    assert int(layer.iterations.numpy()) == 2 * 11  # every batch of both epochs learned
    untrained, _ = _train(make, shape, x, steps=4, epochs=0)
    assert not np.allclose(untrained.layers[0].kernel.numpy(), layer.kernel.numpy())


@pytest.mark.parametrize("steps", [1, 4])
@pytest.mark.parametrize("case", sorted(CASES))
def test_tensorflow_steps_compiled_by_xla_learn_what_graph_steps_learn(case, steps):
    """`compile(jit_compile=True)`: XLA's step updates a few columns and ranks by groups."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("JAX compiles every step by XLA already; PyTorch's jit_compile is "
                    "torch.compile")
    make, shape = CASES[case]
    x = _data(shape)
    graph, _ = _train(make, shape, x, steps=steps, jit_compile=False)
    xla, _ = _train(make, shape, x, steps=steps, jit_compile=True)
    for a, b in zip(graph.get_weights(), xla.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(xla.layers[0].iterations.numpy()) == 2 * 11


def test_models_compile_by_xla_by_default_wherever_keras_allows_it(tmp_path):
    """On TensorFlow too, where Keras' own "auto" leaves XLA out on a CPU."""
    model = models.Sequential([keras.Input((16,)), _dense_krotov()])
    model.compile()
    xla = keras.backend.backend() != "torch"  # PyTorch's jit_compile is torch.compile
    assert model.jit_compile is xla
    model.fit(_data((16,)), batch_size=8, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # compiled as saved
    assert loaded.compiled and loaded.jit_compile is xla
    loaded.fit(_data((16,)), batch_size=8, verbose=0)
    model.compile(jit_compile=False)
    assert model.jit_compile is False
    model.compile(run_eagerly=True)
    assert model.jit_compile is False


def test_tensorflow_updates_columns_under_xla_only():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's choice between a graph with and without XLA")
    import tensorflow as tf

    chosen = []

    def probe(x):
        chosen.append(backend.column_updates_pay(16, 64))
        return x

    tf.function(probe, jit_compile=True)(tf.ones(1))
    tf.function(probe, jit_compile=False)(tf.ones(1))
    probe(tf.ones(1))
    assert chosen == [True, False, False]


@pytest.fixture
def proposals_under_xla(monkeypatch):
    """On TensorFlow, a list that gets whether XLA compiles each `propose` traced."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's graph without XLA")
    from keras_hebbian.backend import tensorflow as tf_backend
    from keras_hebbian.layers.base import HebbianLayer

    under_xla = []
    propose = HebbianLayer.propose

    def spy(self, *args, **kwargs):
        under_xla.append(tf_backend.compiled_by_xla())
        return propose(self, *args, **kwargs)

    monkeypatch.setattr(HebbianLayer, "propose", spy)
    return under_xla


@pytest.mark.parametrize("case", sorted(CASES))
def test_tensorflow_compiles_the_update_by_xla_inside_a_graph_without_it(case,
                                                                         proposals_under_xla):
    # A plain Keras model on a CPU runs its steps in a graph without XLA (Keras'
    # "auto"); each Hebbian layer's update inside it is compiled by XLA. It
    # learns what the same model learns eagerly.
    make, shape = CASES[case]
    x = _data(shape)
    kernels = []
    for run_eagerly in (False, True):
        proposals_under_xla.clear()
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(shape), make()])
        model.compile(jit_compile=False, run_eagerly=run_eagerly)
        model.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0)
        assert model.jit_compile is False
        kernels.append([keras.ops.convert_to_numpy(w) for w in model.weights])
        assert proposals_under_xla, run_eagerly
        assert all(flag is not run_eagerly for flag in proposals_under_xla), proposals_under_xla
    for graph, eager in zip(*kernels):
        np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-6)


def test_tensorflow_leaves_the_update_of_a_layer_without_jit_out_of_xla(proposals_under_xla):
    layer = _dense_softhebb()
    layer.supports_jit = False  # say, a rule that calls tf.py_function
    model = models.Sequential([keras.Input((16,)), layer])
    model.compile()
    assert model.jit_compile is False
    model.fit(_data((16,)), batch_size=8, verbose=0)
    assert proposals_under_xla and not any(proposals_under_xla)


def test_the_steps_of_one_execution_run_in_one_compiled_call():
    """JAX's scan, and TensorFlow's loop in one XLA program, replace Keras' own function."""
    if keras.backend.backend() == "torch":
        pytest.skip("Keras' PyTorch trainer takes steps_per_execution=1 only")
    model = models.Sequential([keras.Input((16,)), _dense_krotov()])
    model.compile(steps_per_execution=4)
    model.make_train_function()
    fused = backend.fused_train_function(model)
    assert fused is not None
    assert model.train_function.__qualname__ == fused.__qualname__
    model.compile(steps_per_execution=1)
    assert backend.fused_train_function(model) is None
    if keras.backend.backend() == "tensorflow":  # a graph without XLA: Keras' own loop
        model.compile(steps_per_execution=4, jit_compile=False)
        assert backend.fused_train_function(model) is None


def test_tensorflow_loop_of_steps_leaves_the_native_weight_gradient_out_on_a_cpu(monkeypatch):
    """Inside one XLA loop of steps, a convolution's update takes the shifts' method."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's native weight-gradient kernel")
    import tensorflow as tf

    from keras_hebbian.backend import tensorflow as tf_backend

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("on a CPU only")
    chosen = []
    choose = tf_backend.default_conv_method

    def spy(strides, dilation_rate):
        chosen.append((tf_backend._tracing_loop, choose(strides, dilation_rate)))
        return chosen[-1][1]

    monkeypatch.setattr(backend, "default_conv_method", spy)
    make, shape = CASES["conv_softhebb"]
    x = _data(shape)
    fused, _ = _train(make, shape, x, steps=4, jit_compile=True)
    assert (True, "shifts") in chosen  # the loop was traced, with the shifts
    assert (True, "native") not in chosen
    assert (False, "native") in chosen  # a step of its own keeps the native kernel
    assert not tf_backend._tracing_loop
    single, _ = _train(make, shape, x, steps=1, jit_compile=True)
    for a, b in zip(single.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_callbacks_see_every_epoch_with_several_steps_per_call():
    epochs = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs.append((epoch, dict(logs)))

    _, history = _train(_dense_krotov, (16,), _data((16,)), steps=4, epochs=3,
                        callbacks=[Epochs()])
    assert [epoch for epoch, _ in epochs] == [0, 1, 2]
    assert all("hebbian_dense/weight_norm" in logs for _, logs in epochs)
    assert len(history.history["hebbian_dense/weight_norm"]) == 3


def _assert_fit_stops_after_two_batches(make, x, jit_compile, match):
    """`fit()` with 4 steps per call refuses the third batch: it raises `match`, and the
    weights are those after the first two batches (the refused batch and the one after
    it in the same call changed nothing)."""
    if keras.backend.backend() == "torch":
        pytest.skip("Keras' PyTorch trainer takes steps_per_execution=1 only")
    if jit_compile is False and keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's graph without XLA")
    keras.utils.set_random_seed(0)
    before = models.Sequential([keras.Input((16,)), make()])
    before.compile(steps_per_execution=1, jit_compile=jit_compile)
    before.fit(x[:16], batch_size=8, shuffle=False, verbose=0)  # the two batches before it
    keras.utils.set_random_seed(0)
    model = models.Sequential([keras.Input((16,)), make()])
    model.compile(steps_per_execution=4, jit_compile=jit_compile)
    with pytest.raises(FloatingPointError, match=match):
        model.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert int(model.layers[0].iterations.numpy()) == 2
    for a, b in zip(before.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_a_nonfinite_batch_stops_fit_with_several_steps_per_call(jit_compile):
    x = _data((16,))
    x[20, 3] = np.nan  # in the third batch, inside the first execution
    _assert_fit_stops_after_two_batches(_dense_krotov, x, jit_compile, "NaN or Inf")


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_an_update_refused_for_its_result_stops_fit_with_several_steps_per_call(jit_compile):
    """Finite inputs whose update would overflow stop `fit()` as a NaN batch does."""
    x = _data((16,))
    x[16:24] *= 1e30  # the third batch: finite, but x y overflows float32

    def make():
        return layers.HebbianDense(4, rule="hebb", learning_rate=0.01, seed=1)

    _assert_fit_stops_after_two_batches(make, x, jit_compile, "would make the weights")


def test_jax_counts_the_learning_calls_of_each_layer_in_a_step():
    """What the scan expects each layer's `iterations` to grow by in a step it accepts."""
    if keras.backend.backend() != "jax":
        pytest.skip("the scan of JAX's several steps per call")
    from keras_hebbian.backend import jax as jax_backend

    inputs = keras.Input((16,))
    frozen = layers.HebbianDense(16, rule="oja", seed=2, name="frozen")
    frozen.trainable = False
    shared = layers.HebbianDense(16, rule="oja", seed=3, name="shared")
    outputs = _dense_krotov()(shared(shared(frozen(inputs))))
    model = models.Model(inputs, outputs)
    model.compile(steps_per_execution=4)
    model.fit(_data((16,)), epochs=1, batch_size=8, shuffle=False, verbose=0)
    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables],
             [v.value for v in model.metrics_variables])
    calls, _ = jax_backend.learning_calls(model, state, (_data((16,), samples=8),))
    assert {layer.name: count for layer, count in calls} == {"shared": 2, "hebbian_dense": 1}
    assert jax_backend._learning_calls is None  # counting ends with the trace
    assert int(frozen.iterations.numpy()) == 0
    assert int(shared.iterations.numpy()) == 2 * 11
    assert int(model.layers[-1].iterations.numpy()) == 11


def test_jax_runs_a_nonfinite_batch_that_no_layer_learns_from_step_by_step():
    """A NaN that never reaches a learning layer refuses nothing: every batch learns."""
    if keras.backend.backend() != "jax":
        pytest.skip("the scan of JAX's several steps per call")
    x = _data((16,))
    x[20, 3] = np.nan
    kernels = []
    for steps in (4, 1):
        keras.utils.set_random_seed(0)
        model = models.Sequential([keras.Input((16,)),
                                   keras.layers.Lambda(keras.ops.nan_to_num),
                                   _dense_krotov()])
        model.compile(steps_per_execution=steps)
        model.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0)
        assert int(model.layers[-1].iterations.numpy()) == 2 * 11
        kernels.append(model.get_weights())
    for a, b in zip(*kernels):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["krotov_hopfield", "conv_softhebb"])
def test_the_effective_kernel_kept_follows_the_kernel(case, tmp_path):
    make, shape = CASES[case]
    if case == "conv_softhebb":  # a convolution through the p-power of Krotov & Hopfield
        def make():
            return layers.HebbianConv2D(4, 3, rule=rules.KrotovHopfield(k=2),
                                        learning_rate=0.05,
                                        kernel_initializer="random_normal", seed=1)
    model, _ = _train(make, shape, _data(shape), steps=1)
    layer = model.layers[0]
    kernel = layer.kernel.numpy()
    kept = layer.kernel_plastic.effective.numpy()
    np.testing.assert_allclose(kept, kernel * np.abs(kernel), rtol=1e-6, atol=1e-7)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.layers[0].kernel_plastic.effective.numpy(), kept)


def test_refresh_after_assigning_a_kernel_by_hand():
    layer = _dense_krotov()
    layer.build((None, 16))
    kernel = np.random.default_rng(3).normal(size=(16, 64)).astype("float32")
    layer.kernel.assign(kernel)
    layer.refresh_effective_kernels()
    np.testing.assert_allclose(layer.kernel_plastic.effective.numpy(), kernel * np.abs(kernel),
                               rtol=1e-6)


def test_rules_with_an_identity_effective_kernel_keep_no_copy():
    layer = layers.HebbianDense(4, rule="oja")
    layer.build((None, 3))
    assert layer.kernel_plastic.effective is None
    assert rules.chain("oja", rules.scale_by_max()).identity_kernel
    assert not rules.chain(rules.KrotovHopfield(k=2), rules.scale_by_max()).identity_kernel
    assert len(layer.weights) == 2  # kernel, iterations


def test_compile_chooses_the_steps_per_call_by_default(tmp_path):
    model = models.Sequential([keras.Input((16,)), _dense_krotov()])
    model.compile()
    several = 1 if keras.backend.backend() == "torch" else 50
    assert model.steps_per_execution == several
    assert model.get_compile_config()["steps_per_execution"] == "auto"
    model.fit(_data((16,), samples=800), batch_size=8, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # chosen again where it is loaded
    assert loaded.steps_per_execution == several
    assert loaded.get_compile_config()["steps_per_execution"] == "auto"
    np.testing.assert_array_equal(loaded.predict(_data((16,)), verbose=0),
                                  model.predict(_data((16,)), verbose=0))
    model.compile(run_eagerly=True)  # nothing to compile the steps into
    assert model.steps_per_execution == 1
    model.compile(steps_per_execution=3)
    assert model.steps_per_execution == 3
    assert model.get_compile_config()["steps_per_execution"] == 3
    for wrong in (0, -2, 2.5, True, "all"):
        with pytest.raises(ValueError, match="`steps_per_execution` must be an integer >= 1"):
            model.compile(steps_per_execution=wrong)


def test_the_steps_chosen_by_default_learn_what_single_steps_learn():
    x = _data((16,), samples=809)  # 101 batches of 8 and a short one
    kernels = []
    for steps in ("auto", 1):
        keras.utils.set_random_seed(0)
        model = models.Sequential([keras.Input((16,)), _dense_krotov()])
        model.compile(steps_per_execution=steps)
        model.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0)
        assert int(model.layers[0].iterations.numpy()) == 2 * 102
        kernels.append(model.get_weights())
    for a, b in zip(*kernels):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_callback_with_a_batch_hook_sees_every_batch_by_default():
    seen = []

    class EveryBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    class EveryEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch))

    assert models.asks_for_every_batch(EveryBatch())
    assert not models.asks_for_every_batch(EveryEpoch())
    assert not models.asks_for_every_batch(keras.callbacks.History())
    assert not models.asks_for_every_batch(keras.callbacks.ModelCheckpoint("m.keras"))
    assert models.asks_for_every_batch(keras.callbacks.ModelCheckpoint("m.keras", save_freq=10))
    assert models.asks_for_every_batch(keras.callbacks.TerminateOnNaN())
    model = models.Sequential([keras.Input((16,)), _dense_krotov()])
    model.compile()
    chosen = model.steps_per_execution
    model.fit(_data((16,), samples=800), batch_size=8, verbose=0, callbacks=[EveryBatch()])
    assert seen == list(range(100))
    assert model.steps_per_execution == 1
    seen.clear()
    model.fit(_data((16,), samples=800), batch_size=8, verbose=0, callbacks=[EveryEpoch()])
    assert seen == [("epoch", 0)]
    assert model.steps_per_execution == chosen
    model.compile(steps_per_execution=4)  # set by the user: kept
    seen.clear()
    if keras.backend.backend() != "torch":
        model.fit(_data((16,), samples=800), batch_size=8, verbose=0, callbacks=[EveryBatch()])
        assert model.steps_per_execution == 4 and len(seen) == 25


def test_an_execution_of_large_batches_runs_in_parts(monkeypatch):
    """The batches stacked for one compiled loop hold at most `STACKED_BYTES`."""
    if keras.backend.backend() == "torch":
        pytest.skip("the batches one compiled loop stacks (JAX, TensorFlow)")
    if keras.backend.backend() == "jax":
        import jax.numpy as framework

        from keras_hebbian.backend import jax as backend_module
    else:
        import tensorflow as framework

        from keras_hebbian.backend import tensorflow as backend_module

    stacked = []
    stack = framework.stack

    def spy(arrays, *args, **kwargs):
        if all(tuple(np.shape(batch)) == (8, 16) for batch in arrays):  # batches
            stacked.append(len(arrays))
        return stack(arrays, *args, **kwargs)

    monkeypatch.setattr(framework, "stack", spy)
    monkeypatch.setattr(backend_module, "STACKED_BYTES", 3 * 8 * 16 * 4)  # three batches
    x = _data((16,))
    fused, _ = _train(_dense_krotov, (16,), x, steps=8)
    # 11 batches of 8 an epoch, the last of 5: an execution of 8 batches in parts of
    # 3, 3 and 2 (padded to 3), then 2 batches of 8 (padded) and the short one
    assert stacked == [3, 3, 3, 3] * 2
    single, _ = _train(_dense_krotov, (16,), x, steps=1)
    for a, b in zip(single.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
