"""Keras 3's own RNN test cases, ported: keras-team/keras keras/src/layers/rnn/rnn_test.py,
stacked_rnn_cells_test.py and dropout_rnn_cell_test.py (their inputs, cells and expected
numbers; the code is ours). Each test names its source case. Where tinygraph differs by
a SPEC choice, the test says so ("SPEC difference").

Graph semantics: a Keras eager call ``layer(x)`` is here a node built once and run;
"call twice" on a stateful layer is two runs, each committing the new state."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers


def run(fetches, feed=None, session=None):
    return (session or tg.Session()).run(fetches, feed)


class OneStateRNNCell(layers.Layer):
    """keras rnn_test.py OneStateRNNCell: ones kernels, one state."""

    def __init__(self, units, state_size=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = state_size if state_size else units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "ones")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "ones")

    def call(self, inputs, states):
        out = tg.matmul(inputs, self.kernel) + tg.matmul(states[0], self.recurrent_kernel)
        return out, [out]

    def get_config(self):
        return dict(super().get_config(), units=self.units, state_size=self.state_size)


class TwoStatesRNNCell(layers.Layer):
    """keras rnn_test.py TwoStatesRNNCell (its second state also reads states[0], as
    the original does; the expected numbers depend on it)."""

    def __init__(self, units, state_size=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = state_size if state_size else [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "ones")
        self.recurrent_kernel_1 = self.add_weight("recurrent_kernel_1",
                                                  (self.units, self.units), "ones")
        self.recurrent_kernel_2 = self.add_weight("recurrent_kernel_2",
                                                  (self.units, self.units), "ones")

    def call(self, inputs, states):
        prev_1, prev_2 = states[0], states[0]
        h = tg.matmul(inputs, self.kernel)
        out_1 = h + tg.matmul(prev_1, self.recurrent_kernel_1)
        out_2 = h + tg.matmul(prev_2, self.recurrent_kernel_2)
        return out_1 + out_2, [out_1, out_2]

    def get_config(self):
        return dict(super().get_config(), units=self.units, state_size=self.state_size)


SEQ24 = np.arange(24).reshape((2, 3, 4)).astype("float32")


# ---------------------------------------------------------------------- rnn_test.py

@pytest.mark.parametrize("cell,ret_seq,n_weights,shape", [
    (lambda: OneStateRNNCell(5, state_size=5), False, 2, (3, 5)),
    (lambda: OneStateRNNCell(5, state_size=[5]), False, 2, (3, 5)),
    (lambda: OneStateRNNCell(5, state_size=(5,)), False, 2, (3, 5)),
    (lambda: OneStateRNNCell(5), True, 2, (3, 2, 5)),
    (lambda: TwoStatesRNNCell(5, state_size=[5, 5]), False, 3, (3, 5)),
    (lambda: TwoStatesRNNCell(5, state_size=(5, 5)), False, 3, (3, 5)),
    (lambda: TwoStatesRNNCell(5), True, 3, (3, 2, 5))])
def test_basics(cell, ret_seq, n_weights, shape, rng):
    # rnn_test.py test_basics (run_layer_test: output shape, weight counts)
    layer = layers.RNN(cell(), return_sequences=ret_seq)
    y = layer(rng.normal(size=(3, 2, 4)).astype("float32"))
    assert y.shape == shape and run(y).shape == shape
    assert len(layer.trainable_weights) == n_weights and not layer.non_trainable_weights


def test_basics_go_backwards_unroll(rng):
    # rnn_test.py test_basics: go_backwards=True, unroll=True
    y = layers.RNN(OneStateRNNCell(5), go_backwards=True, unroll=True)(
        rng.normal(size=(3, 2, 4)).astype("float32"))
    assert run(y).shape == (3, 5)


@pytest.mark.parametrize("cell,n_states", [(OneStateRNNCell, 1), (TwoStatesRNNCell, 2)])
def test_output_shapes_single_and_two_states(cell, n_states):
    # rnn_test.py test_compute_output_shape_single_state / _two_states / test_dynamic_shapes.
    # SPEC difference: no compute_output_shape; the static shapes of the outputs of a
    # call carry the same facts (None where unknown).
    for shape in ((3, 4, 5), (None, None, 3)):
        x = tg.placeholder(shape)
        assert layers.RNN(cell(8))(x).shape == (shape[0], 8)
        assert layers.RNN(cell(8), return_sequences=True)(x).shape == (shape[0], shape[1], 8)
        out = layers.RNN(cell(8), return_sequences=True, return_state=True)(x)
        assert len(out) == 1 + n_states and out[0].shape == (shape[0], shape[1], 8)
        assert all(s.shape == (shape[0], 8) for s in out[1:])


def test_forward_pass_single_state():
    # rnn_test.py test_forward_pass_single_state
    seq = np.ones((1, 2, 3))
    np.testing.assert_allclose(run(layers.RNN(OneStateRNNCell(2))(seq)), [[9.0, 9.0]])
    np.testing.assert_allclose(run(layers.RNN(OneStateRNNCell(2), return_sequences=True)(seq)),
                               [[[3.0, 3.0], [9.0, 9.0]]])
    out, state = run(layers.RNN(OneStateRNNCell(2), return_state=True)(seq))
    np.testing.assert_allclose(out, [[9.0, 9.0]])
    np.testing.assert_allclose(state, [[9.0, 9.0]])
    out, state = run(layers.RNN(OneStateRNNCell(2), return_sequences=True, return_state=True)(seq))
    np.testing.assert_allclose(out, [[[3.0, 3.0], [9.0, 9.0]]])
    np.testing.assert_allclose(state, [[9.0, 9.0]])


def test_forward_pass_two_states():
    # rnn_test.py test_forward_pass_two_states
    seq = np.ones((1, 2, 3))
    np.testing.assert_allclose(run(layers.RNN(TwoStatesRNNCell(2))(seq)), [[18.0, 18.0]])
    np.testing.assert_allclose(run(layers.RNN(TwoStatesRNNCell(2), return_sequences=True)(seq)),
                               [[[6.0, 6.0], [18.0, 18.0]]])
    out, s1, s2 = run(layers.RNN(TwoStatesRNNCell(2), return_state=True)(seq))
    np.testing.assert_allclose(out, [[18.0, 18.0]])
    np.testing.assert_allclose(s1, [[9.0, 9.0]])
    np.testing.assert_allclose(s2, [[9.0, 9.0]])
    out, s1, s2 = run(layers.RNN(TwoStatesRNNCell(2), return_sequences=True,
                                 return_state=True)(seq))
    np.testing.assert_allclose(out, [[[6.0, 6.0], [18.0, 18.0]]])
    np.testing.assert_allclose([s1, s2], [[[9.0, 9.0]], [[9.0, 9.0]]])


def test_passing_initial_state_single_state():
    # rnn_test.py test_passing_initial_state_single_state
    seq, state = np.ones((2, 3, 2)), np.ones((2, 2))
    np.testing.assert_allclose(run(layers.RNN(OneStateRNNCell(2))(seq, initial_state=state)),
                               np.full((2, 2), 22.0))
    out, final = run(layers.RNN(OneStateRNNCell(2), return_state=True)(seq, initial_state=state))
    np.testing.assert_allclose(out, np.full((2, 2), 22.0))
    np.testing.assert_allclose(final, np.full((2, 2), 22.0))


def test_passing_initial_state_two_states():
    # rnn_test.py test_passing_initial_state_two_states
    seq, state = np.ones((2, 3, 2)), [np.ones((2, 2)), np.ones((2, 2))]
    np.testing.assert_allclose(run(layers.RNN(TwoStatesRNNCell(2))(seq, initial_state=state)),
                               np.full((2, 2), 44.0))
    out, s1, s2 = run(layers.RNN(TwoStatesRNNCell(2), return_state=True)(seq,
                                                                          initial_state=state))
    np.testing.assert_allclose(out, np.full((2, 2), 44.0))
    np.testing.assert_allclose([s1, s2], np.full((2, 2, 2), 22.0))


def _twice(layer, seq):
    """A Keras eager ``layer(seq); out = layer(seq)`` on a stateful layer: two runs."""
    first, second = layer(seq), layer(seq)
    sess = tg.Session()
    run(first, session=sess)
    return run(second, session=sess)


def test_statefulness_single_state():
    # rnn_test.py test_statefulness_single_state
    seq = np.ones((1, 2, 3))
    np.testing.assert_allclose(_twice(layers.RNN(OneStateRNNCell(2), stateful=True), seq),
                               [[45.0, 45.0]])
    out, state = _twice(layers.RNN(OneStateRNNCell(2), stateful=True, return_state=True), seq)
    np.testing.assert_allclose(out, [[45.0, 45.0]])
    np.testing.assert_allclose(state, [[45.0, 45.0]])


def test_statefulness_two_states():
    # rnn_test.py test_statefulness_two_states
    seq = np.ones((1, 2, 3))
    np.testing.assert_allclose(_twice(layers.RNN(TwoStatesRNNCell(2), stateful=True), seq),
                               [[90.0, 90.0]])
    out, s1, s2 = _twice(layers.RNN(TwoStatesRNNCell(2), stateful=True, return_state=True), seq)
    np.testing.assert_allclose(out, [[90.0, 90.0]])
    np.testing.assert_allclose([s1, s2], [[[45.0, 45.0]], [[45.0, 45.0]]])


def test_go_backwards():
    # rnn_test.py test_go_backwards (the second half is a stateful forward layer)
    np.testing.assert_allclose(
        run(layers.RNN(OneStateRNNCell(2), go_backwards=True)(SEQ24)),
        [[202.0, 202.0], [538.0, 538.0]])
    out, state = _twice(layers.RNN(OneStateRNNCell(2), stateful=True, return_state=True), SEQ24)
    np.testing.assert_allclose(out, [[954.0, 954.0], [3978.0, 3978.0]])
    np.testing.assert_allclose(state, [[954.0, 954.0], [3978.0, 3978.0]])


@pytest.mark.parametrize("cell", [TwoStatesRNNCell, OneStateRNNCell])
def test_serialization(cell):
    # rnn_test.py test_serialization (run_class_serialization_test: config round trip)
    layer = layers.RNN(cell(2), return_sequences=False)
    again = layers.RNN.from_config(layer.get_config())
    assert type(again.cell) is cell and again.get_config()["cell"] == layer.get_config()["cell"]
    assert run(again(np.ones((1, 2, 3)))).shape == (1, 2)


def test_stateful_batch_size_mismatch_raises():
    # rnn_test.py test_stateful_batch_size_mismatch_raises
    layer = layers.RNN(TwoStatesRNNCell(2), stateful=True)
    layer(np.zeros((4, 5, 3), "float32"))
    with pytest.raises(ValueError, match="batch size"):
        layer(np.zeros((1, 5, 3), "float32"))


# ---------------------------------------------------------------------- stacked_rnn_cells_test.py

@pytest.mark.parametrize("cells,n_weights", [
    (lambda: [OneStateRNNCell(3), OneStateRNNCell(4), OneStateRNNCell(5)], 6),
    (lambda: [TwoStatesRNNCell(3), TwoStatesRNNCell(4), TwoStatesRNNCell(5)], 9),
    (lambda: [layers.SimpleRNNCell(u, dropout=0.1, recurrent_dropout=0.1) for u in (3, 4, 5)], 9),
    (lambda: [layers.LSTMCell(u, dropout=0.1, recurrent_dropout=0.1) for u in (3, 4, 5)], 9)])
@pytest.mark.parametrize("ret_seq", [False, True])
def test_stacked_basics(cells, n_weights, ret_seq, rng):
    # stacked_rnn_cells_test.py test_basics (the GRUCell stack: tests of layers.GRU's own)
    layer = layers.RNN(cells(), return_sequences=ret_seq)
    y = layer(rng.normal(size=(2, 3, 4)).astype("float32"), training=True)
    assert run(y).shape == ((2, 3, 5) if ret_seq else (2, 5))
    assert len(layer.trainable_weights) == n_weights and not layer.non_trainable_weights


def test_correctness_single_state_stack():
    # stacked_rnn_cells_test.py test_correctness_single_state_stack
    stack = lambda **kw: layers.RNN([OneStateRNNCell(3), OneStateRNNCell(2)], **kw)
    seq_want = [[[18.0, 18.0], [156.0, 156.0], [786.0, 786.0]],
                [[162.0, 162.0], [1020.0, 1020.0], [4386.0, 4386.0]]]
    np.testing.assert_allclose(run(stack()(SEQ24)), [[786.0, 786.0], [4386.0, 4386.0]])
    np.testing.assert_allclose(run(stack(return_sequences=True)(SEQ24)), seq_want)
    for ret_seq in (False, True):
        out, s1, s2 = run(stack(return_sequences=ret_seq, return_state=True)(SEQ24))
        np.testing.assert_allclose(out, seq_want if ret_seq else
                                   [[786.0, 786.0], [4386.0, 4386.0]])
        np.testing.assert_allclose(s1, [[158.0] * 3, [782.0] * 3])
        np.testing.assert_allclose(s2, [[786.0, 786.0], [4386.0, 4386.0]])


def test_correctness_two_states_stack():
    # stacked_rnn_cells_test.py test_correctness_two_states_stack
    stack = lambda **kw: layers.RNN([TwoStatesRNNCell(3), TwoStatesRNNCell(2)], **kw)
    np.testing.assert_allclose(run(stack()(SEQ24)), [[3144.0, 3144.0], [17544.0, 17544.0]])
    np.testing.assert_allclose(run(stack(return_sequences=True)(SEQ24)),
                               [[[72.0, 72.0], [624.0, 624.0], [3144.0, 3144.0]],
                                [[648.0, 648.0], [4080.0, 4080.0], [17544.0, 17544.0]]])
    out, s1, s2 = run(stack(return_state=True)(SEQ24))
    np.testing.assert_allclose(out, [[3144.0, 3144.0], [17544.0, 17544.0]])
    np.testing.assert_allclose(s1, [[[158.0] * 3, [782.0] * 3]] * 2)
    np.testing.assert_allclose(s2, [[[1572.0, 1572.0], [8772.0, 8772.0]]] * 2)


def test_statefulness_stacks():
    # stacked_rnn_cells_test.py test_statefullness_single_state_stack / _two_states_stack
    one = layers.RNN([OneStateRNNCell(3), OneStateRNNCell(2)], stateful=True)
    np.testing.assert_allclose(_twice(one, SEQ24), [[34092.0, 34092.0], [173196.0, 173196.0]])
    two = layers.RNN([TwoStatesRNNCell(3), TwoStatesRNNCell(2)], stateful=True)
    np.testing.assert_allclose(_twice(two, SEQ24), [[136368.0, 136368.0],
                                                    [692784.0, 692784.0]])


def test_return_state_stacked_lstm_cell():
    # stacked_rnn_cells_test.py test_return_state_stacked_lstm_cell
    out = layers.RNN([layers.LSTMCell(10), layers.LSTMCell(10)], return_state=True)(
        np.zeros((2, 3, 5), "float32"))
    assert len(out) == 3 and out[0].shape == (2, 10)
    assert [s.shape for s in out[1]] == [(2, 10)] * 2 and [s.shape for s in out[2]] == [(2, 10)] * 2


# ---------------------------------------------------------------------- dropout_rnn_cell_test.py

class RNNCellWithDropout(layers.Layer, layers.DropoutRNNCellMixin):
    """dropout_rnn_cell_test.py RNNCellWithDropout, with Keras 3's mask names."""

    def __init__(self, units, dropout=0.5, recurrent_dropout=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.units, self.state_size = seed, units, units
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "ones")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "ones")

    def call(self, inputs, states, training=False):
        if training:
            inputs = inputs * self.get_dropout_mask(inputs)
        prev = states[0]
        h = tg.matmul(inputs, self.kernel)
        if training:
            prev = prev * self.get_recurrent_dropout_mask(prev)
        out = h + tg.matmul(prev, self.recurrent_kernel)
        return out, [out]


def test_dropout_cell_basics(rng):
    # dropout_rnn_cell_test.py test_basics (training=True, output shape, 2 weights)
    layer = layers.RNN(RNNCellWithDropout(5, seed=1337))
    x = rng.normal(size=(3, 2, 4)).astype("float32")
    y_train, y_test = layer(x, training=True), layer(x)
    got_train, got_test = run([y_train, y_test])
    assert got_train.shape == (3, 5) and len(layer.trainable_weights) == 2
    assert not np.allclose(got_train, got_test)


def test_dropout_cell_seed_tracking():
    # dropout_rnn_cell_test.py test_seed_tracking. SPEC difference: Keras 3 keeps a
    # SeedGenerator variable per cell (1 non-trainable variable); tinygraph derives each
    # mask's seed from ``seed`` and the draw count, so a cell holds no variable, and
    # two layers with the same seed draw the same masks.
    cell = RNNCellWithDropout(3, seed=1337)
    layer = layers.RNN(cell)
    x = np.ones((2, 4, 5), "float32")
    y = layer(x, training=True)
    assert layer.non_trainable_weights == []
    twin = layers.RNN(RNNCellWithDropout(3, seed=1337))
    np.testing.assert_array_equal(run(y), run(twin(x, training=True)))
