"""Keras 3's own LSTM and SimpleRNN test cases, ported: keras-team/keras
keras/src/layers/rnn/lstm_test.py and simple_rnn_test.py (inputs, initializers and
expected numbers; the code is ours). Each test names its source case; "SPEC
difference" marks where tinygraph deliberately differs.

The numbers are float32 results of Keras, compared at Keras' own tolerance (1e-5), on
both the loop op and the default fused compile."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

C = tg.initializers.Constant
INIT = dict(kernel_initializer=C(0.01), recurrent_initializer=C(0.02), bias_initializer=C(0.03))
TOL = dict(rtol=1e-5, atol=1e-5)


def run(fetches, feed=None, session=None):
    return (session or tg.Session()).run(fetches, feed)


def rows(*values, units):
    """Keras' expected outputs: every unit of a row holds the same number."""
    return np.array([[v] * units for v in values])


def _twice(layer, seq):
    """A Keras eager ``layer(seq); out = layer(seq)`` on a stateful layer: two runs."""
    first, second = layer(seq), layer(seq)
    sess = tg.Session()
    run(first, session=sess)
    return run(second, session=sess)


SEQ_2_3_4 = np.arange(24).reshape((2, 3, 4)).astype("float32")
SEQ_2_4_3 = np.arange(24).reshape((2, 4, 3)).astype("float32")
SEQ_3_6_4 = np.arange(72).reshape((3, 6, 4)).astype("float32")


# ---------------------------------------------------------------------- simple_rnn_test.py

def test_simple_rnn_basics(rng):
    # simple_rnn_test.py test_basics. SPEC difference: Keras counts a SeedGenerator as
    # 1 non-trainable variable; tinygraph's seeded masks need no variable.
    x = rng.normal(size=(3, 2, 4)).astype("float32")
    layer = layers.SimpleRNN(3, dropout=0.5, recurrent_dropout=0.5)
    assert run(layer(x, training=True)).shape == (3, 3)
    assert len(layer.trainable_weights) == 3 and not layer.non_trainable_weights
    layer = layers.SimpleRNN(3, return_sequences=True, bias_regularizer="l1",
                             kernel_regularizer="l2", recurrent_regularizer="l2")
    assert run(layer(x)).shape == (3, 2, 3) and len(layer.losses) == 3


@pytest.mark.parametrize("unroll", [False, True])
def test_simple_rnn_correctness(unroll):
    # simple_rnn_test.py test_correctness (forward and go_backwards, loop and unrolled)
    y = layers.SimpleRNN(4, unroll=unroll, **INIT)(SEQ_2_3_4)
    np.testing.assert_allclose(run(y), rows(0.405432, 0.73605347, units=4), **TOL)
    y = layers.SimpleRNN(4, go_backwards=True, unroll=unroll, **INIT)(SEQ_2_3_4)
    np.testing.assert_allclose(run(y), rows(0.11144729, 0.5528889, units=4), **TOL)


def test_simple_rnn_statefulness():
    # simple_rnn_test.py test_statefulness. SPEC difference: Keras 3's reset_state() is
    # tf.keras' reset_states() here (which also takes the states to set).
    layer = layers.SimpleRNN(4, stateful=True, **INIT)
    want = rows(0.40559256, 0.7361247, units=4)
    np.testing.assert_allclose(_twice(layer, SEQ_2_3_4), want, **TOL)
    layer.reset_states()
    np.testing.assert_allclose(_twice(layer, SEQ_2_3_4), want, **TOL)


def test_simple_rnn_pass_initial_state():
    # simple_rnn_test.py test_pass_initial_state
    h0 = np.arange(8).reshape((2, 4)).astype("float32")
    y = layers.SimpleRNN(4, **INIT)(SEQ_2_4_3, initial_state=h0)
    np.testing.assert_allclose(run(y), rows(0.33621645, 0.6262637, units=4), **TOL)
    y = layers.SimpleRNN(4, go_backwards=True, **INIT)(SEQ_2_4_3, initial_state=h0)
    np.testing.assert_allclose(run(y), rows(0.07344437, 0.43043602, units=4), **TOL)


SR_MASK = np.array([[True, True, False, True], [True, False, False, True]])


def test_simple_rnn_masking():
    # simple_rnn_test.py test_masking (four layers)
    y = layers.SimpleRNN(4, unroll=True, **INIT)(SEQ_2_4_3, mask=SR_MASK)
    np.testing.assert_allclose(run(y), rows(0.32951632, 0.61799484, units=4), **TOL)
    seq = run(layers.SimpleRNN(2, return_sequences=True, **INIT)(SEQ_2_4_3, mask=SR_MASK))
    np.testing.assert_allclose(seq[0], rows(0.0599281, 0.15122814, 0.15122814, 0.32394567,
                                            units=2), **TOL)
    np.testing.assert_allclose(seq[1], rows(0.3969304, 0.3969304, 0.3969304, 0.608085,
                                            units=2), **TOL)
    seq = run(layers.SimpleRNN(2, return_sequences=True, zero_output_for_mask=True, **INIT)(
        SEQ_2_4_3, mask=SR_MASK))
    np.testing.assert_allclose(seq[0], rows(0.0599281, 0.15122814, 0.0, 0.32394567, units=2),
                               **TOL)
    np.testing.assert_allclose(seq[1], rows(0.3969304, 0.0, 0.0, 0.608085, units=2), **TOL)
    y = layers.SimpleRNN(4, go_backwards=True, **INIT)(SEQ_2_4_3, mask=SR_MASK)
    np.testing.assert_allclose(run(y), rows(0.07376196, 0.43645123, units=4), **TOL)


# ---------------------------------------------------------------------- lstm_test.py

def test_lstm_basics(rng):
    # lstm_test.py test_basics (dropout; dropout + recurrent_dropout; regularizers)
    x = rng.normal(size=(3, 2, 4)).astype("float32")
    for kw in (dict(dropout=0.5), dict(dropout=0.5, recurrent_dropout=0.5)):
        layer = layers.LSTM(3, **kw)
        assert run(layer(x, training=True)).shape == (3, 3)
        assert len(layer.trainable_weights) == 3 and not layer.non_trainable_weights
    layer = layers.LSTM(3, return_sequences=True, bias_regularizer="l1",
                        kernel_regularizer="l2", recurrent_regularizer="l2")
    assert run(layer(x)).shape == (3, 2, 3) and len(layer.losses) == 3


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("implementation", [1, 2])
def test_lstm_correctness(implementation, optimize):
    # lstm_test.py test_correctness, implementation 1 and 2 (unfused and fused compile)
    cases = [(dict(), (0.6288687, 0.86899155, 0.9460773)),
             (dict(go_backwards=True), (0.35622165, 0.74789524, 0.8872726)),
             (dict(unroll=True), (0.6288687, 0.86899155, 0.9460773)),
             (dict(unit_forget_bias=False), (0.57019705, 0.8661914, 0.9459622)),
             (dict(use_bias=False), (0.54986924, 0.86226785, 0.9443936))]
    ys = [layers.LSTM(3, implementation=implementation, **kw, **INIT)(SEQ_3_6_4)
          for kw, _ in cases]
    got = tg.Session(optimize=optimize).run(ys)
    for g, (_, want) in zip(got, cases):
        np.testing.assert_allclose(g, rows(*want, units=3), **TOL)


def test_lstm_statefulness():
    # lstm_test.py test_statefulness (reset_state() is reset_states() here, as above)
    layer = layers.LSTM(4, stateful=True, **INIT)
    want = rows(0.3124785, 0.6863672, units=4)
    np.testing.assert_allclose(_twice(layer, SEQ_2_3_4), want, **TOL)
    layer.reset_states()
    np.testing.assert_allclose(_twice(layer, SEQ_2_3_4), want, **TOL)


def test_lstm_pass_initial_state():
    # lstm_test.py test_pass_initial_state
    state = [np.arange(4).reshape((2, 2)).astype("float32")] * 2
    y = layers.LSTM(2, **INIT)(SEQ_2_4_3, initial_state=state)
    np.testing.assert_allclose(run(y), [[0.20574439, 0.3558822], [0.64930826, 0.66276]], **TOL)
    y = layers.LSTM(2, go_backwards=True, **INIT)(SEQ_2_4_3, initial_state=state)
    np.testing.assert_allclose(run(y), [[0.13281618, 0.2790356], [0.5839337, 0.5992567]], **TOL)


LSTM_MASK = np.array([[True, True, True, False], [True, True, False, False]])


def test_lstm_masking():
    # lstm_test.py test_masking (four layers; the last one go_backwards with its own mask)
    y = layers.LSTM(2, unroll=True, **INIT)(SEQ_2_4_3, mask=LSTM_MASK)
    np.testing.assert_allclose(run(y), rows(0.11755939, 0.28556206, units=2), **TOL)
    seq = run(layers.LSTM(2, return_sequences=True, **INIT)(SEQ_2_4_3, mask=LSTM_MASK))
    np.testing.assert_allclose(seq[0], rows(0.0158891, 0.05552048, 0.11755939, 0.11755939,
                                            units=2), **TOL)
    np.testing.assert_allclose(seq[1], rows(0.14185596, 0.28556206, 0.28556206, 0.28556206,
                                            units=2), **TOL)
    seq = run(layers.LSTM(2, return_sequences=True, zero_output_for_mask=True, **INIT)(
        SEQ_2_4_3, mask=LSTM_MASK))
    np.testing.assert_allclose(seq[0], rows(0.0158891, 0.05552048, 0.11755939, 0.0, units=2),
                               **TOL)
    np.testing.assert_allclose(seq[1], rows(0.14185596, 0.28556206, 0.0, 0.0, units=2), **TOL)
    backwards_mask = np.array([[False, True, True, True], [False, False, True, True]])
    y = layers.LSTM(2, go_backwards=True, **INIT)(SEQ_2_4_3, mask=backwards_mask)
    np.testing.assert_allclose(run(y), rows(0.15341201, 0.3844719, units=2), **TOL)


def test_lstm_masking_fused_agrees():
    # lstm_test.py test_masking, second layer, under the default (fused) compile too
    y = layers.LSTM(2, return_sequences=True, **INIT)(SEQ_2_4_3, mask=LSTM_MASK)
    np.testing.assert_allclose(tg.Session(optimize=True).run(y),
                               tg.Session(optimize=False).run(y), rtol=1e-6, atol=1e-7)
