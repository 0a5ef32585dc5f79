"""The cell contract (SPEC 6) and issue 13's numbered cases: what a Keras or TF user's
own cell and code need of RNN, StackedRNNCells, dynamic_rnn/static_rnn and the TF1
cell. Each test is one numbered case of the issue."""
import copy

import numpy as np
import pytest
from tinygraph.layers import rnn_cell

import tinygraph as tg
from tinygraph import layers


def run(fetches, feed=None):
    return tg.Session().run(fetches, feed)


class OnesCell(layers.Layer):
    """A Keras-style custom cell with ``call(inputs, states)`` (no ``training``)."""

    def __init__(self, units, state_size=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units if state_size is None else state_size

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "ones")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "ones")

    def call(self, inputs, states):
        out = tg.matmul(inputs, self.kernel) + tg.matmul(states[0], self.recurrent_kernel)
        return out, [out]


class RunningSum:
    """Not a Layer: int state_size, reads ``states[0]`` (Keras hands it a list)."""
    state_size = 2

    def call(self, inputs, states):
        new = inputs + states[0]
        return new, [new]


X = np.arange(12, dtype="float32").reshape(3, 2, 2)


# 1 ------------------------------------------------------------------------------------

def test_1_layer_cell_without_training_argument():
    out = layers.RNN(OnesCell(2))(np.ones((1, 2, 3), "float32"), training=True)
    np.testing.assert_allclose(run(out), [[9.0, 9.0]])


# 2 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("unroll", [False, True])
def test_2_int_state_size_cell_gets_a_list_every_row_right(unroll):
    # before: states[0] was row 0 of a bare (B, 2) state, broadcast to every row
    out, state = layers.RNN(RunningSum(), return_state=True, unroll=unroll)(X)
    np.testing.assert_allclose(run(out), X.sum(1))
    np.testing.assert_allclose(run(state), X.sum(1))


def test_2_int_state_size_cells_stacked():
    out = layers.RNN([RunningSum(), RunningSum()])(X)
    want = np.cumsum(X, 1).sum(1)             # the second cell sums the first's outputs
    np.testing.assert_allclose(run(out), want)


# 3 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: layers.SimpleRNNCell(3, seed=1),
                                  lambda: layers.LSTMCell(3, seed=1)])
def test_3_dynamic_rnn_and_static_rnn_run_keras_cells(make, rng):
    x = rng.normal(size=(2, 4, 5)).astype("float32")
    cell = make()
    outputs, final = rnn_cell.dynamic_rnn(cell, x, dtype="float32")
    steps, static_final = rnn_cell.static_rnn(cell, [x[:, t] for t in range(4)], dtype="float32")
    want, *want_states = layers.RNN(cell, return_sequences=True, return_state=True)(x)
    got = run([outputs, final, steps, static_final, want, want_states])
    np.testing.assert_allclose(got[0], got[4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.stack(got[2], 1), got[4], rtol=1e-5, atol=1e-6)
    # the final state in the cell's state_size structure: a tensor for an int size
    flat_final = got[1] if isinstance(got[1], list) else [got[1]]
    for a, b in zip(flat_final, got[5]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert len(cell.weights) == 3                # one set of weights, shared by all three


def test_3_dynamic_rnn_keras_cell_uses_its_get_initial_state():
    class StartsAtOne(OnesCell):
        def get_initial_state(self, batch_size=None):
            return [tg.ones([batch_size, self.units])]
    outputs, _ = rnn_cell.dynamic_rnn(StartsAtOne(2), np.ones((1, 2, 3), "float32"),
                                      dtype="float32")
    np.testing.assert_allclose(run(outputs), [[[5.0, 5.0], [13.0, 13.0]]])


# 4 ------------------------------------------------------------------------------------

def test_4_fused_lstm_unknown_batch_with_static_initial_state():
    x = tg.placeholder((None, 3, 2))
    zeros = np.zeros((2, 3), "float32")
    y = layers.LSTM(3, return_sequences=True)(x, initial_state=[zeros, zeros])
    assert tg.Session().run(y, {x: np.ones((2, 3, 2), "float32")}).shape == (2, 3, 3)


# 5 ------------------------------------------------------------------------------------

class StartsAtOneCell(OnesCell):
    def get_initial_state(self, batch_size=None):
        return [tg.ones([batch_size, self.units])]


def test_5_rnn_uses_the_cells_get_initial_state():
    out = layers.RNN(StartsAtOneCell(2))(np.ones((1, 2, 3), "float32"))
    np.testing.assert_allclose(run(out), [[13.0, 13.0]])


def test_5_stateful_rnn_starts_at_the_cells_get_initial_state():
    rnn = layers.RNN(StartsAtOneCell(2), stateful=True)
    np.testing.assert_allclose(run(rnn(np.ones((1, 2, 3), "float32"))), [[13.0, 13.0]])


# 6 ------------------------------------------------------------------------------------

class UserDropoutCell(layers.Layer, layers.DropoutRNNCellMixin):
    """As a Keras 3 user writes it: sets its rates itself, calls no private set-up."""

    def __init__(self, units, dropout=0.5, recurrent_dropout=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size = units, units
        self.dropout, self.recurrent_dropout, self.seed = dropout, recurrent_dropout, seed

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "ones")

    def call(self, inputs, states, training=False):
        if training:
            inputs = inputs * self.get_dropout_mask(inputs)
        return tg.matmul(inputs, self.kernel) + states[0], None


def test_6_dropout_mixin_in_a_users_cell():
    class Cell(UserDropoutCell):
        def call(self, inputs, states, training=False):
            out, _ = super().call(inputs, states, training)
            return out, [out]
    x = np.ones((4, 3, 5), "float32")
    rnn = layers.RNN(Cell(2, seed=7), return_sequences=True)
    y_train, y_test = run([rnn(x, training=True), rnn(x, training=False)])
    np.testing.assert_allclose(y_test[:, -1], 15.0)
    steps = np.diff(y_train, axis=1, prepend=0.0)          # one step's x @ kernel
    np.testing.assert_allclose(steps, steps[:, :1].repeat(3, 1))     # one mask per call
    assert set(np.unique(steps % 2.0)) == {0.0} and not np.allclose(steps, 5.0)


# 7 ------------------------------------------------------------------------------------

def test_7_cell_clip_zero_is_accepted():
    cell = rnn_cell.LSTMCell(3, cell_clip=0.0)
    assert cell.get_config()["cell_clip"] == 0.0
    with pytest.raises(ValueError, match="cell_clip must be a positive number or None"):
        rnn_cell.LSTMCell(3, cell_clip=-0.5)


def test_7_cell_clip_zero_clips_the_state_to_zero(rng):
    cell = rnn_cell.LSTMCell(3, cell_clip=0.0, use_peepholes=True)
    x = rng.normal(size=(2, 4)).astype("float32")
    m, state = cell(x, cell.zero_state(2, "float32"))
    got_m, got_c = run([m, state.c])
    np.testing.assert_array_equal(got_c, 0.0)
    np.testing.assert_array_equal(got_m, 0.0)       # tanh(0) = 0


# 8 ------------------------------------------------------------------------------------

def test_8_tf1_cell_config():
    cell = rnn_cell.LSTMCell(4, use_peepholes=True, num_proj=2, forget_bias=0.5,
                             activation="relu", name="my_cell")
    cfg = layers.RNN(cell).get_config()["cell"]["config"]
    assert cfg["num_units"] == 4 and cfg["num_proj"] == 2 and cfg["activation"] == "relu"
    again = rnn_cell.LSTMCell.from_config(cfg)
    assert again.get_config() == cfg


def test_8_rnn_with_tf1_cell_round_trips():
    rnn = layers.RNN(rnn_cell.LSTMCell(4, name="my_cell"))
    again = layers.RNN.from_config(rnn.get_config())
    assert isinstance(again.cell, rnn_cell.LSTMCell)


# 9 ------------------------------------------------------------------------------------

def test_9_lower_case_aliases_as_keras():
    c, i, r = layers.constraints, layers.initializers, layers.regularizers
    assert (c.max_norm, c.non_neg, c.unit_norm, c.min_max_norm) == \
        (c.MaxNorm, c.NonNeg, c.UnitNorm, c.MinMaxNorm)
    assert (i.glorot_uniform, i.glorot_normal, i.orthogonal, i.zeros, i.ones, i.constant,
            i.random_normal, i.random_uniform, i.he_normal, i.he_uniform, i.identity,
            i.variance_scaling) == \
        (i.GlorotUniform, i.GlorotNormal, i.Orthogonal, i.Zeros, i.Ones, i.Constant,
         i.RandomNormal, i.RandomUniform, i.HeNormal, i.HeUniform, i.Identity,
         i.VarianceScaling)
    assert isinstance(r.l1(0.1), r.L1) and isinstance(r.l2(), r.L2) and isinstance(r.l1_l2(), r.L1L2)
    d = layers.Dense(2, kernel_constraint=c.max_norm(1.0), kernel_initializer=i.constant(0.5))
    d(np.ones((1, 3), "float32"))
    np.testing.assert_array_equal(d.kernel.value, 0.5)
    assert isinstance(d.kernel_constraint, c.MaxNorm)


# 10 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: layers.Dense(3, kernel_regularizer="l2"),
                                  lambda: layers.LSTM(3, return_sequences=True)])
def test_10_deepcopy_of_a_built_layer(make, rng):
    x = rng.normal(size=(2, 4, 5)).astype("float32")
    layer = make()
    y = layer(x)
    twin = copy.deepcopy(layer)
    y_twin = twin(x)
    np.testing.assert_allclose(run(y_twin), run(y), rtol=1e-6)
    assert not any(a is b for a, b in zip(twin.weights, layer.weights))
    twin.set_weights([w + 1.0 for w in twin.get_weights()])        # independent weights
    assert not np.allclose(run(twin(x)), run(y))
    for w, v in zip(layer.get_weights(), layer.weights):
        np.testing.assert_array_equal(w, v.value)
    if layer.losses:            # the copy's regularization term reads the copy's kernel
        assert run(twin.losses[0]) > run(layer.losses[0])


# 11 -----------------------------------------------------------------------------------

def test_11_state_size_set_in_build():
    class LateCell(OnesCell):
        def __init__(self, units, **kwargs):
            layers.Layer.__init__(self, **kwargs)
            self.units = units

        def build(self, input_shape):
            self.state_size = self.units
            super().build(input_shape)
    np.testing.assert_allclose(run(layers.RNN(LateCell(2))(np.ones((1, 2, 3), "float32"))),
                               [[9.0, 9.0]])
