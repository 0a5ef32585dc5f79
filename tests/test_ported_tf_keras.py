"""tf-keras' own RNN test cases, ported: keras-team/tf-keras tf_keras/layers/rnn/
base_rnn_test.py and simple_rnn_test.py (their cells, sizes and checks; the code is
ours). Each test names its source case; "SPEC difference" marks where tinygraph
deliberately differs. A Keras ``train_on_batch`` is one SGD step here
(``tg.optimizers.SGD(...).minimize(loss)`` run once), ``predict`` one run.

Not ported (no tinygraph counterpart by design): RaggedTensor inputs, nested
(tuple) inputs and 2-D states (SPEC 6: inputs are one (B, T, D) tensor, states (B, n)),
``constants=``, Keras 2's ``input_dim``/``input_length``, caching devices, trackable
checkpoints, ``clone_model``, ``StackedRNNCells(reverse_state_order=True)``.
"""

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers


def run(fetches, feed=None, session=None):
    return (session or tg.Session()).run(fetches, feed)


def train_on_batch(y, target, feed=None, session=None):
    """One SGD step on mean squared error; the loss before the step."""
    loss = tg.losses.mean_squared_error(tg.constant(np.asarray(target, y.dtype)), y)
    step = tg.optimizers.SGD(0.01).minimize(loss)
    value, _ = run([loss, step], feed, session)
    assert np.isfinite(value)
    return value


class MinimalRNNCell:
    """base_rnn_test.py test_minimal_rnn_cell_non_layer: not a Layer; one state."""

    def __init__(self, units, input_dim):
        self.units, self.state_size = units, units
        self.kernel = tg.Variable(np.random.default_rng(0).random((input_dim, units)),
                                  dtype="float32")
        self.weights = [self.kernel]

    def call(self, inputs, states):
        output = tg.matmul(inputs, self.kernel) + states[0]
        return output, [output]


class MinimalTwoStateCell(MinimalRNNCell):
    """base_rnn_test.py test_minimal_rnn_cell_non_layer_multiple_states."""

    def __init__(self, units, input_dim):
        super().__init__(units, input_dim)
        self.state_size = (units, units)

    def call(self, inputs, states):
        output = tg.matmul(inputs, self.kernel) + states[0] - states[1]
        return output, [output * 2.0, output * 3.0]


class MinimalLayerCell(layers.Layer):
    """base_rnn_test.py test_minimal_rnn_cell_layer: a Layer cell with a config."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size = units, units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "uniform")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "uniform")

    def call(self, inputs, states):
        out = tg.matmul(inputs, self.kernel) + tg.matmul(states[0], self.recurrent_kernel)
        return out, [out]

    def get_config(self):
        return dict(super().get_config(), units=self.units)


class AbstractStyleCell(MinimalLayerCell):
    """base_rnn_test.py test_minimal_rnn_cell_abstract_rnn_cell: state_size and
    output_size as properties, the new state returned as one tensor. SPEC difference:
    no AbstractRNNCell base; a Layer with these properties is the same contract."""

    def __init__(self, units, **kwargs):
        layers.Layer.__init__(self, **kwargs)
        self.units = units

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def call(self, inputs, states):
        out, _ = super().call(inputs, states)
        return out, out


ZEROS = np.zeros((6, 5, 5), "float32")


@pytest.mark.parametrize("cells,units", [
    (lambda: MinimalRNNCell(32, 5), 32),
    (lambda: [MinimalRNNCell(8, 5), MinimalRNNCell(32, 8), MinimalRNNCell(32, 32)], 32),
    (lambda: MinimalTwoStateCell(32, 5), 32),
    (lambda: [MinimalTwoStateCell(8, 5), MinimalTwoStateCell(16, 8),
              MinimalTwoStateCell(32, 16)], 32),
    (lambda: AbstractStyleCell(32), 32),
    (lambda: [AbstractStyleCell(8), AbstractStyleCell(16), AbstractStyleCell(32)], 32)])
def test_minimal_cells_train(cells, units):
    # test_minimal_rnn_cell_non_layer, _non_layer_multiple_states, _abstract_rnn_cell
    # (basic case and stacking): a train step runs
    layer = layers.RNN(cells())
    y = layer(ZEROS)
    assert y.shape == (6, units)
    train_on_batch(y, np.zeros((6, units)))


def test_minimal_two_state_stack_sizes():
    # test_minimal_rnn_cell_non_layer_multiple_states: state_size and output_size of a stack
    layer = layers.RNN([MinimalTwoStateCell(8, 5), MinimalTwoStateCell(16, 8),
                        MinimalTwoStateCell(32, 16)])
    assert layer.cell.state_size == [(8, 8), (16, 16), (32, 32)] and layer.cell.output_size == 32


@pytest.mark.parametrize("cells", [lambda: MinimalLayerCell(32),
                                   lambda: [MinimalLayerCell(8), MinimalLayerCell(12),
                                            MinimalLayerCell(32)]])
def test_minimal_layer_cell_serialization(cells, rng):
    # test_minimal_rnn_cell_layer: train, then a layer from the config with the same
    # weights predicts the same
    layer = layers.RNN(cells())
    train_on_batch(layer(ZEROS), np.zeros((6, 32)))
    x = rng.random((6, 5, 5)).astype("float32")
    want = run(layer(x))
    again = layers.RNN.from_config(layer.get_config())
    y = again(x)
    again.set_weights(layer.get_weights())
    np.testing.assert_allclose(run(y), want, atol=1e-4)


@pytest.mark.parametrize("make", [lambda u: layers.SimpleRNNCell(u), lambda u: layers.LSTMCell(u),
                                  lambda u: MinimalLayerCell(u)])
def test_builtin_and_custom_rnn_cell_serialization(make, rng):
    # test_builtin_and_custom_rnn_cell_serialization (GRUCell: not in this build)
    x = rng.random((6, 5, 5)).astype("float32")
    for cells in (make(32), [make(8), make(12), make(32)]):
        layer = layers.RNN(cells)
        want = run(layer(x))
        again = layers.RNN.from_config(layer.get_config())
        y = again(x)
        again.set_weights(layer.get_weights())
        np.testing.assert_allclose(run(y), want, atol=1e-4)


def test_rnn_with_time_major(rng):
    # test_rnn_with_time_major: output shapes, stacking, and equal to batch-major
    x = rng.random((10, 5, 4)).astype("float32")
    tm = np.transpose(x, (1, 0, 2))
    rnn_1 = layers.SimpleRNN(3, return_sequences=True)
    rnn_2 = layers.SimpleRNN(3, time_major=True, return_sequences=True)
    y1, y2 = rnn_1(x), rnn_2(tm)
    assert y2.shape == (5, 10, 3)
    rnn_2.set_weights(rnn_1.get_weights())
    np.testing.assert_allclose(np.transpose(run(y2), (1, 0, 2)), run(y1), atol=1e-4)
    stack = layers.RNN([layers.SimpleRNNCell(u) for u in (10, 8, 6)], time_major=True,
                       return_sequences=True)
    assert stack(tm).shape == (5, 10, 6)


def test_rnn_cell_with_constants_is_refused():
    # test_rnn_cell_with_constants_layer and the other constants cases. SPEC
    # difference: RNN.call has no ``constants`` (feed them as inputs or close over them)
    with pytest.raises(TypeError, match="constants"):
        layers.RNN(MinimalLayerCell(4))(ZEROS, constants=np.zeros((6, 3), "float32"))


def test_stacked_rnn_attributes():
    # test_stacked_rnn_attributes (weights part; add_loss/updates are Keras-eager APIs)
    cells = [layers.LSTMCell(1), layers.LSTMCell(1)]
    layer = layers.RNN(cells)
    layer(np.zeros((1, 2, 1), "float32"))
    assert len(layer.trainable_weights) == 6
    cells[0].trainable = False
    assert len(layer.trainable_weights) == 3 and len(layer.non_trainable_weights) == 3


def test_rnn_dynamic_trainability():
    # test_rnn_dynamic_trainability
    layer = layers.SimpleRNN(3)
    layer(np.zeros((1, 2, 4), "float32"))
    assert (len(layer.weights), len(layer.trainable_weights)) == (3, 3)
    layer.trainable = False
    assert (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights)) \
        == (3, 0, 3)
    layer.trainable = True
    assert (len(layer.trainable_weights), len(layer.non_trainable_weights)) == (3, 0)


@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM])
def test_rnn_cell_trainability(cls):
    # test_rnn_cell_trainability (tensorflow#32369)
    layer = cls(3, trainable=False)
    assert not layer.cell.trainable
    layer.trainable = True
    assert layer.cell.trainable


def test_state_reuse_with_dropout(rng):
    # test_state_reuse_with_dropout
    x1, x2 = rng.random((2, 2, 4)).astype("float32"), rng.random((2, 2, 4)).astype("float32")
    states = layers.SimpleRNN(3, return_state=True, return_sequences=True, dropout=0.2)(x1)[1:]
    assert run(layers.SimpleRNN(3)(x2, initial_state=states)).shape == (2, 3)


@pytest.mark.parametrize("unroll", [True, False])
@pytest.mark.parametrize("make", [lambda: layers.SimpleRNN(3, dropout=0.1, recurrent_dropout=0.1),
                                  lambda: layers.LSTM(3, dropout=0.1, recurrent_dropout=0.1),
                                  lambda: [layers.SimpleRNNCell(3, dropout=0.1,
                                                                recurrent_dropout=0.1)] * 1
                                  + [layers.LSTMCell(3, dropout=0.1, recurrent_dropout=0.1)]])
def test_rnn_dropout_and_stacked_rnn_dropout(make, unroll, rng):
    # test_rnn_dropout, test_stacked_rnn_dropout: a training step runs
    made = make()
    layer = layers.RNN(made, unroll=unroll) if isinstance(made, list) else made
    layer.unroll = unroll
    y = layer(rng.random((6, 5, 5)).astype("float32"), training=True)
    train_on_batch(y, rng.random((6, 3)))


def test_dropout_mask_reuse():
    # test_dropout_mask_reuse: recurrent kernel zero, so each step shows its input mask
    def cell():
        return layers.SimpleRNNCell(3, dropout=0.5, kernel_initializer="ones",
                                    recurrent_initializer="zeros")
    for layer in (layers.SimpleRNN(3, dropout=0.5, kernel_initializer="ones",
                                   recurrent_initializer="zeros", return_sequences=True,
                                   unroll=True),
                  layers.RNN(cell(), return_sequences=True, unroll=True),
                  layers.RNN([cell(), cell()], return_sequences=True, unroll=True)):
        x = np.ones((6, 2, 5), "float32")
        b1, b2 = run([layer(x, training=True), layer(x, training=True)])
        np.testing.assert_allclose(b1[:, 0], b1[:, 1])       # one mask for both steps
        np.testing.assert_allclose(b2[:, 0], b2[:, 1])
        assert not np.allclose(b1[:, 0], b2[:, 0])           # a new mask per call


def test_stacked_rnn_output_shapes():
    # test_stacked_rnn_compute_output_shape (static shapes of a call, see test_ported_keras_rnn)
    out = layers.RNN([layers.LSTMCell(3), layers.LSTMCell(6)], return_state=True,
                     return_sequences=True)(tg.placeholder((None, 2, 4)))
    assert out[0].shape == (None, 2, 6)
    assert [s.shape for s in out[1]] == [(None, 3)] * 2 and [s.shape for s in out[2]] == [(None, 6)] * 2


def test_stacked_rnn_with_training_param():
    # test_stacked_rnn_with_training_param (tensorflow#32586): a wrapped cell sees training
    class CellWrapper(layers.Layer):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell
            self._track(cell)

        state_size = property(lambda self: self.cell.state_size)
        output_size = property(lambda self: self.cell.output_size)

        def build(self, input_shape):
            self.cell._maybe_build(input_shape)

        def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
            return self.cell.get_initial_state(inputs=inputs, batch_size=batch_size, dtype=dtype)

        def call(self, inputs, states, training=None, **kwargs):
            assert training is not None
            return self.cell(inputs, states, training=training)
    rnn = layers.RNN(layers.StackedRNNCells([CellWrapper(layers.LSTMCell(32))]))
    assert run(rnn(np.ones((8, 4, 16), "float32"), training=True)).shape == (8, 32)


def test_inconsistent_output_state_size():
    # test_inconsistent_output_state_size: output_size set in build, state_size apart
    class PlusOneRNNCell(layers.Layer):
        def __init__(self, num_unit, **kwargs):
            super().__init__(**kwargs)
            self.state_size = num_unit

        def build(self, input_shape):
            self.output_size = input_shape[-1]

        def call(self, inputs, states):
            return inputs + 1.0, [states[0] + 1.0]
    x = tg.placeholder((None, None, 6))
    y = layers.RNN(PlusOneRNNCell(5))(x)
    assert y.shape == (None, 6)
    np.testing.assert_array_equal(run(y, {x: np.zeros((3, 4, 6))}), np.ones((3, 6)))
