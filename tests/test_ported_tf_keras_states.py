"""tf-keras' own test cases on masks, unrolling, initial and stateful states, and its
SimpleRNN tests, ported: keras-team/tf-keras tf_keras/layers/rnn/base_rnn_test.py (second
half) and simple_rnn_test.py (the checks; the code is ours). Each test names its source
case; "SPEC difference" marks where tinygraph deliberately differs.

Graph semantics: a Keras ``predict`` is one run; each run of a stateful layer commits
its new states."""
import copy

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers


def run(fetches, feed=None, session=None):
    return (session or tg.Session()).run(fetches, feed)


def sgd_step(y, target):
    loss = tg.losses.mean_squared_error(tg.constant(np.asarray(target, y.dtype)), y)
    return tg.optimizers.SGD(0.01).minimize(loss)


# ---------------------------------------------------------------------- base_rnn_test.py

def test_masking_rnn_with_output_and_states():
    # test_masking_rnn_with_output_and_states: state_size set in build; last step masked
    class Cell(layers.Layer):
        def __init__(self):
            super().__init__()
            self.state_size = self.output_size = None

        def build(self, input_shape):
            self.state_size = self.output_size = input_shape[-1]

        def call(self, inputs, states):
            return inputs, [s + 1.0 for s in states]
    x = np.array([[[1.0], [2.0], [0.0]]], "float32")
    y, s = layers.RNN(Cell(), return_state=True)(x, initial_state=np.array([[10.0]], "float32"),
                                                 mask=np.array([[True, True, False]]))
    got_y, got_s = run([y, s])
    np.testing.assert_allclose(got_s, [[12.0]])          # 1 added twice
    np.testing.assert_allclose(got_y, x[:, 1])           # the last output before the mask


@pytest.mark.parametrize("unroll", [True, False])
def test_zero_output_for_masking(unroll):
    # test_zero_output_for_masking (Masking() is mask= here)
    x = tg.placeholder((6, 5, 5))
    mask = tg.placeholder((6, 5), "bool")
    y = layers.RNN(layers.SimpleRNNCell(5), return_sequences=True, zero_output_for_mask=True,
                   unroll=unroll)(x, mask=mask)
    np_x = np.ones((6, 5, 5))
    result_1 = run(y, {x: np_x, mask: np.ones((6, 5), bool)})
    np_x[5, 3:] = 0
    result_2 = run(y, {x: np_x, mask: np.any(np_x != 0, -1)})
    result_1[5, 3:] = 0
    np.testing.assert_allclose(result_1, result_2, rtol=1e-6)


def test_unroll_single_step():
    # test_unroll_single_step
    y = layers.RNN(layers.SimpleRNNCell(5), return_sequences=True, unroll=True)(
        np.ones((6, 1, 5), "float32"))
    assert run(y).shape == (6, 1, 5)


def test_unroll_unknown_steps():
    # test_unroll_zero_step (an unknown number of steps cannot be unrolled)
    with pytest.raises(ValueError, match="unroll=True needs a static number of time steps"):
        layers.RNN(layers.SimpleRNNCell(5), return_sequences=True, unroll=True)(
            tg.placeholder((None, None, 5)))


def test_full_input_spec():
    # test_full_input_spec (tensorflow#25985). SPEC difference: a passed initial_state
    # wins over the stored state (as Keras 3); tf-keras used the stored state from the
    # second call on, so its output2 differed from output1.
    ones = np.ones((1, 1), "float32")
    layer = layers.LSTM(1, stateful=True)
    out = layer(np.ones((1, 1, 1), "float32"), initial_state=[ones, ones])
    sess = tg.Session()
    output1, output2 = run(out, session=sess), run(out, session=sess)
    layer.reset_states()
    output3 = run(out, session=sess)
    np.testing.assert_allclose(output1, output3)
    np.testing.assert_allclose(output1, output2)


def test_reset_states_before_the_batch_is_known():
    # test_reset_states (tensorflow#25852). SPEC difference: before the first call a
    # stateful layer has no states yet; reset_states() is then a no-op, and
    # reset_states(states) says the layer must be called first.
    layer = layers.SimpleRNN(1, stateful=True)
    layer.reset_states()
    with pytest.raises(ValueError, match="call the layer once"):
        layer.reset_states([np.zeros((2, 1))])


@pytest.mark.parametrize("cell", [layers.SimpleRNNCell, layers.LSTMCell])
def test_stateful_rnn_with_stacking(cell):
    # test_stateful_rnn_with_stacking (tensorflow#28614; GRUCell: not in this build)
    batch, steps, dim = 12, 10, 8
    layer = layers.RNN([cell(32), cell(64)], stateful=True)
    x = tg.placeholder((batch, None, dim))
    y = layer(x)
    sess = tg.Session()
    sess.run(sgd_step(y, np.zeros((batch, 64))), {x: np.zeros((batch, steps, dim))})
    ones = {x: np.ones((batch, steps, dim))}
    first = sess.run(y, ones)
    layer.reset_states()
    np.testing.assert_allclose(sess.run(y, ones), first, rtol=1e-5)
    layer.reset_states([[np.ones((batch, s)) for s in np.atleast_1d(size)]
                        for size in layer.cell.state_size])
    assert not np.allclose(sess.run(y, ones), first)


def test_stateful_rnn_with_initial_state():
    # test_stateful_rnn_with_initial_state (tensorflow#32299; a SimpleRNN for its GRU).
    # SPEC difference: the passed initial_state wins at every run (Keras 3), so a
    # stateful layer with an initial state repeats itself; tf-keras continued from the
    # stored state (its predict_1 != predict_2).
    x = np.full((12, 1, 8), 0.5, "float32")
    layer = layers.SimpleRNN(16, return_sequences=True, stateful=True)
    y = layer(x, initial_state=np.ones((12, 16), "float32"))
    sess = tg.Session()
    p1, p2 = run(y, session=sess), run(y, session=sess)
    np.testing.assert_allclose(p1, p2)
    free = layers.SimpleRNN(16, return_sequences=True, stateful=True)
    y_free = free(x)
    free.set_weights(layer.get_weights())
    p4, p5 = run(y_free, session=sess), run(y_free, session=sess)
    assert not np.allclose(p1, p4) and not np.allclose(p4, p5)
    plain = layers.SimpleRNN(16, return_sequences=True)
    y_plain = plain(x, initial_state=np.ones((12, 16), "float32"))
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(run(y_plain), p1, rtol=1e-6)


class OnesInitialStateCell(layers.Layer):
    """test_stateful_rnn_with_customized_get_initial_state's TestCell."""
    state_size = 1
    output_size = 2

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        return [tg.ones([batch_size, 1], dtype or "float32")]

    def call(self, inputs, states):
        return inputs, states


def test_stateful_rnn_with_customized_get_initial_state():
    # test_stateful_rnn_with_customized_get_initial_state (and _with_customized_dtype,
    # whose float16 numbers are the same ones)
    output, state = run(layers.RNN(OnesInitialStateCell(), stateful=True, return_state=True)(
        np.ones((4, 10, 2), "float32")))
    np.testing.assert_allclose(output, np.ones((4, 2)))
    np.testing.assert_allclose(state, np.ones((4, 1)))


def test_customized_get_initial_state_without_stateful():
    # the same TestCell, stateless: RNN starts at the cell's get_initial_state
    output, state = run(layers.RNN(OnesInitialStateCell(), return_state=True)(
        np.ones((4, 10, 2), "float32")))
    np.testing.assert_allclose(output, np.ones((4, 2)))
    np.testing.assert_allclose(state, np.ones((4, 1)))


@pytest.mark.parametrize("cell", [layers.SimpleRNNCell, layers.LSTMCell])
def test_state_spec_with_stack_cell(cell, rng):
    # test_state_spec_with_stack_cell (tensorflow#27817): encoder states into a decoder
    x = tg.placeholder((12, 10, 8))
    states = layers.RNN([cell(8) for _ in range(3)], return_state=True)(x)[1:]
    y = layers.RNN([cell(8) for _ in range(3)])(x, initial_state=states)
    sess = tg.Session()
    sess.run(sgd_step(y, np.zeros((12, 8))), {x: np.zeros((12, 10, 8))})
    assert np.isfinite(sess.run(y, {x: np.ones((12, 10, 8))})).all()


def test_get_initial_state():
    # test_get_initial_state. SPEC difference: the state comes back as a list (Keras 3
    # hands every cell a list), not tf-keras' bare tensor for an int state_size.
    cell = layers.SimpleRNNCell(5)
    with pytest.raises(ValueError, match="give batch_size or inputs"):
        cell.get_initial_state(None, None, None)
    inputs = tg.placeholder((None, 10))
    (state,) = cell.get_initial_state(inputs, None, None)
    assert state.shape == (None, 5) and state.dtype == inputs.dtype
    (state,) = cell.get_initial_state(None, 8, "float32")
    assert state.shape == (8, 5)


# ---------------------------------------------------------------------- simple_rnn_test.py

@pytest.mark.parametrize("kwargs,dtype", [(dict(return_sequences=True), "float32"),
                                          (dict(return_sequences=True, dtype="float64"), "float64"),
                                          (dict(dropout=0.1, recurrent_dropout=0.1), "float32")])
def test_simple_rnn_layer_test(kwargs, dtype, rng):
    # test_return_sequences_SimpleRNN, test_float64_SimpleRNN, test_dropout_SimpleRNN
    y = layers.SimpleRNN(2, **kwargs)(rng.random((2, 3, 4)).astype(dtype), training=True)
    got = run(y)
    assert got.dtype == np.dtype(dtype)
    assert got.shape == ((2, 3, 2) if kwargs.get("return_sequences") else (2, 2))


def test_dynamic_behavior_simple_rnn(rng):
    # test_dynamic_behavior_SimpleRNN: unknown T in a Sequential, a train step
    x = tg.placeholder((2, None, 4))
    y = layers.Sequential([layers.SimpleRNN(2)])(x)
    run(sgd_step(y, rng.random((2, 2))), {x: rng.random((2, 3, 4))})


def test_implementation_mode_simple_rnn():
    # test_implementation_mode_SimpleRNN. SPEC difference: SimpleRNN has one
    # implementation; tf-keras accepted (and ignored) implementation=0/1/2.
    with pytest.raises(TypeError, match="unknown keyword argument.*'implementation'"):
        layers.SimpleRNN(2, implementation=1)


def test_constraints_simple_rnn():
    # test_constraints_SimpleRNN
    k, r, b = (layers.constraints.max_norm(0.01) for _ in range(3))
    layer = layers.SimpleRNN(5, kernel_constraint=k, recurrent_constraint=r, bias_constraint=b)
    layer(np.zeros((1, 2, 4), "float32"))
    assert (layer.cell.kernel.constraint, layer.cell.recurrent_kernel.constraint,
            layer.cell.bias.constraint) == (k, r, b)


@pytest.mark.parametrize("stateful", [False, True])
def test_from_config_simple_rnn(stateful):
    # test_from_config_SimpleRNN
    l1 = layers.SimpleRNN(units=1, stateful=stateful)
    assert layers.SimpleRNN.from_config(l1.get_config()).get_config() == l1.get_config()


def test_deep_copy_simple_rnn():
    # test_deep_copy_SimpleRNN
    cell = layers.SimpleRNNCell(5)
    copied = copy.deepcopy(cell)
    assert copied.units == 5 and copied.get_config() == cell.get_config()


def test_regularizers_simple_rnn():
    # test_regularizers_SimpleRNN: 3 weight terms, one more per call (activity)
    layer = layers.SimpleRNN(5, kernel_regularizer=layers.regularizers.l1(0.01),
                             recurrent_regularizer=layers.regularizers.l1(0.01),
                             bias_regularizer="l2", activity_regularizer="l1")
    layer(np.ones((2, 3, 2), "float32"))
    assert len(layer.losses) == 4


def test_statefulness_simple_rnn():
    # test_statefulness_SimpleRNN (Embedding(mask_zero) + stateful SimpleRNN)
    emb = layers.Embedding(4, 4, mask_zero=True)
    layer = layers.SimpleRNN(2, stateful=True)
    model = layers.Sequential([emb, layer])
    ids = tg.placeholder((2, 3), "int32")
    y = model(ids)
    sess = tg.Session()
    ones = {ids: np.ones((2, 3), "int32")}
    out1 = sess.run(y, ones)
    sess.run(sgd_step(y, np.ones((2, 2))), ones)          # the states change
    out2 = sess.run(y, ones)
    assert out1.max() != out2.max()
    layer.reset_states()
    out3 = sess.run(y, ones)
    assert out2.max() != out3.max()
    model.reset_states()
    out4 = sess.run(y, ones)
    np.testing.assert_allclose(out3, out4, atol=1e-5)
    out5 = sess.run(y, ones)
    assert out4.max() != out5.max()
    layer.reset_states()
    left = np.ones((2, 3), "int32")
    left[0, :1], left[1, :2] = 0, 0
    out6 = sess.run(y, {ids: left})
    layer.reset_states()
    right = np.ones((2, 3), "int32")
    right[0, -1:], right[1, -2:] = 0, 0
    out7 = sess.run(y, {ids: right})
    np.testing.assert_allclose(out7, out6, atol=1e-5)


def test_get_initial_states_simple_rnn_cell():
    # test_get_initial_states (a list of one state here, see test_get_initial_state)
    cell = layers.SimpleRNNCell(20)
    initial = cell.get_initial_state(batch_size=4, dtype="float32")
    _, state = cell(np.ones((4, 20), "float32"), initial)
    assert [s.shape for s in state] == [s.shape for s in initial]
