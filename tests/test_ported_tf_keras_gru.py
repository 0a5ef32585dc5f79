"""tf-keras' own GRU layer test cases, ported: keras-team/tf-keras
tf_keras/layers/rnn/gru_test.py (shapes, training steps, configs, constraints,
regularizers, stateful states, masking; the code is ours). Each test names its source
case; "SPEC difference" marks where tinygraph deliberately differs. A
``train_on_batch`` / ``fit`` step is one SGD step here; tf-keras' ``Masking()`` is an
explicit ``mask=`` (or an Embedding's mask inside a Sequential).

Not ported: the cuDNN / grappler runtime selection (``_could_use_gpu_kernel``,
``return_runtime``; tinygraph's fusion reports itself in ``sess.explain``), h5
save/load (SPEC 6's load_keras_model is tested with the loading code)."""
import copy

import numpy as np
import pytest
from test_ported_tf_keras_lstm import one_step, run, sgd_step

import tinygraph as tg
from tinygraph import layers


def _soft_targets(rng, shape):
    t = np.abs(rng.random(shape))
    return t / t.sum(-1, keepdims=True)


@pytest.mark.parametrize("kwargs, dtype", [
    (dict(return_sequences=True), "float32"),                 # test_return_sequences_gru
    (dict(return_sequences=True, dtype="float64"), "float64"),  # test_float64_gru
    (dict(dropout=0.1, recurrent_dropout=0.1), "float32"),    # test_dropout_gru
    (dict(implementation=1), "float32"),                      # test_implementation_mode_gru
    (dict(implementation=2), "float32"),
])
def test_gru_layer_test(kwargs, dtype, rng):
    # layer_test: the output's shape and dtype, inference and training
    layer = layers.GRU(2, **kwargs)
    x = rng.random((2, 3, 4)).astype(dtype)
    want = (2, 3, 2) if kwargs.get("return_sequences") else (2, 2)
    for training in (False, True):
        got = run(layer(x, training=training))
        assert got.shape == want and got.dtype == np.dtype(dtype)


def test_implementation_mode_0_is_refused():
    # test_implementation_mode_gru(0). SPEC difference: tf-keras' deprecated mode 0 is
    # refused (as for the LSTM).
    with pytest.raises(ValueError, match="GRUCell: implementation must be 1 or 2, got 0"):
        layers.GRU(2, implementation=0)


def test_dynamic_behavior_gru(rng):
    # test_dynamic_behavior_GRU: unknown T, one step with SGD(0.001)
    x = tg.placeholder((None, None, 4))
    y = layers.Sequential([layers.GRU(2)])(x)
    one_step(y, rng.random((2, 2)), {x: rng.random((2, 3, 4))}, lr=0.001)


def test_stacking_gru(rng):
    # test_stacking_GRU (categorical cross entropy on softmax targets)
    model = layers.Sequential([layers.GRU(10, return_sequences=True),
                               layers.GRU(5, return_sequences=True)])
    one_step(model(rng.random((2, 3, 4)).astype("float32")), _soft_targets(rng, (2, 3, 5)),
             loss="xent")


def test_masking_with_stacking_gru(rng):
    # test_masking_with_stacking_GRU and test_with_masking_layer_GRU
    ids = rng.integers(0, 4, size=(2, 3))
    model = layers.Sequential([layers.Embedding(4, 4, mask_zero=True),
                               layers.GRU(10, return_sequences=True),
                               layers.GRU(5, return_sequences=True)])
    one_step(model(ids), _soft_targets(rng, (2, 3, 5)), loss="xent")


@pytest.mark.parametrize("stateful", [False, True])
def test_from_config_gru(stateful):
    # test_from_config_GRU
    l1 = layers.GRU(units=1, stateful=stateful)
    assert layers.GRU.from_config(l1.get_config()).get_config() == l1.get_config()


def test_constraints_gru():
    # test_constraints_GRU
    k, r, b = (layers.constraints.max_norm(0.01) for _ in range(3))
    layer = layers.GRU(5, kernel_constraint=k, recurrent_constraint=r, bias_constraint=b)
    layer(np.zeros((1, 2, 4), "float32"))
    assert (layer.cell.kernel.constraint, layer.cell.recurrent_kernel.constraint,
            layer.cell.bias.constraint) == (k, r, b)


def test_regularizers_gru():
    # test_regularizers_GRU: 3 weight terms, one more per call (activity)
    layer = layers.GRU(5, kernel_regularizer=layers.regularizers.l1(0.01),
                       recurrent_regularizer=layers.regularizers.l1(0.01),
                       bias_regularizer="l2", activity_regularizer="l1")
    layer(np.ones((2, 3, 2), "float32"))
    assert len(layer.losses) == 4


def test_statefulness_gru():
    # test_statefulness_GRU (Embedding(mask_zero) + stateful GRU): the states carry
    # over, reset_states restores them, and left, right and mixed padding of the same
    # ones agree
    layer = layers.GRU(2, stateful=True)
    model = layers.Sequential([layers.Embedding(4, 4, mask_zero=True), layer])
    ids = tg.placeholder((2, 3), "int32")
    y = model(ids)
    sess = tg.Session()
    ones = {ids: np.ones((2, 3), "int32")}
    out1 = sess.run(y, ones)
    sess.run(sgd_step(y, np.ones((2, 2))), ones)
    out2 = sess.run(y, ones)
    assert out1.max() != out2.max()
    layer.reset_states()
    out3 = sess.run(y, ones)
    assert out2.max() != out3.max()
    model.reset_states()
    np.testing.assert_allclose(sess.run(y, ones), out3, atol=1e-5)
    padded = []
    for zeros in ([(0, slice(0, 1)), (1, slice(0, 2))], [(0, slice(2, 3)), (1, slice(1, 3))],
                  [(0, 1), (1, 0), (1, 2)]):
        layer.reset_states()
        a = np.ones((2, 3), "int32")
        for where in zeros:
            a[where] = 0
        padded.append(sess.run(y, {ids: a}))
    np.testing.assert_allclose(padded[1], padded[0], atol=1e-5)
    np.testing.assert_allclose(padded[2], padded[1], atol=1e-5)


def test_explicit_device_with_go_backward_and_mask(rng):
    # test_explicit_device_with_go_backward_and_mask: masking the right end of the
    # sequence, backwards, is running on the trimmed sequence
    x = rng.standard_normal((8, 7, 4)).astype("float32")
    mask = np.ones((8, 7), bool)
    mask[:, 5:] = False
    layer = layers.GRU(4, return_sequences=True, go_backwards=True)
    masked, trimmed = layer(x, mask=mask), layer(x[:, :5])
    got_masked, got_trimmed = run([masked, trimmed])
    np.testing.assert_allclose(got_masked[:, -5:], got_trimmed, rtol=1e-5, atol=1e-6)


def test_with_fully_masked_inputs(rng):
    # test_with_fully_masked_inputs: a row of padding only gives zeros, no NaN
    ids = rng.integers(1, 20, size=(8, 5))
    ids[0] = 0
    y = run(layers.Sequential([layers.Embedding(20, 4, mask_zero=True), layers.GRU(2)])(ids))
    assert np.all(np.isfinite(y)) and np.all(y[0] == 0)


def test_return_states_gru(rng):
    # test_return_states_GRU: with a mask, the output and the one state train together
    x = rng.random((2, 3, 4)).astype("float32")
    out, state = layers.GRU(5, return_state=True)(x, mask=np.any(x != 0, -1))
    loss = tg.losses.mean_squared_error(tg.constant(np.abs(rng.random((2, 5)), dtype="float32")),
                                        out + state)
    run(tg.optimizers.SGD(0.001).minimize(loss))


def test_deepcopy():
    # test_deepcopy: before a call the copy draws its own weights; after, it has the
    # original's
    x = np.random.default_rng(0).normal(size=(32, 10, 8)).astype("float32")
    assert copy.deepcopy(layers.GRU(5)).units == 5
    original = layers.GRU(4)
    copied = copy.deepcopy(original)
    a, b = run([original(x), copied(x)])
    assert not np.allclose(a, b)
    original = layers.GRU(4)
    y = original(x)
    copied = copy.deepcopy(original)
    a, b = run([y, copied(x)])
    np.testing.assert_allclose(a, b)


def test_in_tape(rng):
    # GRULayerGradientTapeTest.test_in_tape: gradients of the final state's loss reach
    # every variable
    layer = layers.GRU(12, return_sequences=True, return_state=True,
                       recurrent_initializer="glorot_uniform")
    _, state = layer(rng.random((1, 10, 11)).astype("float32"),
                     initial_state=np.zeros((1, 12), "float32"))
    loss = tg.reduce_mean(tg.square(state - rng.random((1, 12)).astype("float32")))
    grads = run(tg.gradients(loss, layer.trainable_weights))
    assert all(g is not None and np.any(g != 0) for g in grads)


@pytest.mark.parametrize("reset_after", [True, False])
def test_reset_after_gru(reset_after, rng):
    # test_reset_after_GRU: an RMSprop fit becomes one SGD step, both conventions
    y = layers.GRU(2, reset_after=reset_after)(rng.random((2, 3, 4)).astype("float32"))
    one_step(y, np.eye(2, dtype="float32"))
