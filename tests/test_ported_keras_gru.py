"""Keras 3's own GRU test cases, ported: keras-team/keras keras/src/layers/rnn/gru_test.py
(inputs, initializers and expected numbers; the code is ours). Each test names its
source case; "SPEC difference" marks where tinygraph deliberately differs.

The numbers are float32 results of Keras, compared at Keras' own tolerance (1e-5), on
the graph as built and under the default optimizing compile."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

C = tg.initializers.Constant
INIT = dict(kernel_initializer=C(0.01), recurrent_initializer=C(0.02), bias_initializer=C(0.03))
TOL = dict(rtol=1e-5, atol=1e-5)

SEQ_2_3_4 = np.arange(24).reshape((2, 3, 4)).astype("float32")
SEQ_2_4_3 = np.arange(24).reshape((2, 4, 3)).astype("float32")
SEQ_3_6_4 = np.arange(72).reshape((3, 6, 4)).astype("float32")
H0 = np.arange(4).reshape((2, 2)).astype("float32")


def run(fetches, feed=None, session=None):
    return (session or tg.Session()).run(fetches, feed)


def rows(*values, units):
    """Keras' expected outputs: every unit of a row holds the same number."""
    return np.array([[v] * units for v in values])


def test_gru_basics(rng):
    # gru_test.py test_basics (dropout; dropout + recurrent_dropout; regularizers).
    # SPEC difference: Keras counts no SeedGenerator variable for the GRU either.
    x = rng.normal(size=(3, 2, 4)).astype("float32")
    for kw in (dict(dropout=0.5), dict(dropout=0.5, recurrent_dropout=0.5)):
        layer = layers.GRU(3, **kw)
        assert run(layer(x, training=True)).shape == (3, 3)
        assert len(layer.trainable_weights) == 3 and not layer.non_trainable_weights
    layer = layers.GRU(3, return_sequences=True, bias_regularizer="l1",
                       kernel_regularizer="l2", recurrent_regularizer="l2")
    assert run(layer(x)).shape == (3, 2, 3) and len(layer.losses) == 3


CORRECTNESS = [(dict(), (0.5217289, 0.6371659, 0.39384964)),
               (dict(go_backwards=True), (0.24406259, 0.611516, 0.3928808)),
               (dict(unroll=True), (0.5217289, 0.6371659, 0.39384964)),
               (dict(reset_after=False), (0.51447755, 0.6426879, 0.40208298)),
               (dict(use_bias=False), (0.49988455, 0.64701194, 0.4103359))]


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("implementation", [1, 2])
def test_gru_correctness(implementation, optimize):
    # gru_test.py test_correctness, implementation 1 and 2 (Keras passes the
    # implementation to none of its layers; here each runs with it)
    ys = [layers.GRU(3, implementation=implementation, **kw, **INIT)(SEQ_3_6_4)
          for kw, _ in CORRECTNESS]
    got = tg.Session(optimize=optimize).run(ys)
    for g, (_, want) in zip(got, CORRECTNESS):
        np.testing.assert_allclose(g, rows(*want, units=3), **TOL)


def test_gru_statefulness():
    # gru_test.py test_statefulness. SPEC difference: Keras 3's reset_state() is also
    # tf.keras' reset_states() here.
    layer = layers.GRU(4, stateful=True, **INIT)
    want = rows(0.29542392, 0.5885018, units=4)
    for _ in range(2):
        first, second = layer(SEQ_2_3_4), layer(SEQ_2_3_4)
        sess = tg.Session()
        run(first, session=sess)
        np.testing.assert_allclose(run(second, session=sess), want, **TOL)
        layer.reset_state()


@pytest.mark.parametrize("return_state", [False, True])
def test_gru_pass_initial_state_and_return_state(return_state):
    # gru_test.py test_pass_initial_state and test_pass_return_state: the returned
    # state is the output (one state)
    for kw, want in [(dict(), [[0.23774096, 0.33508456], [0.83659905, 1.0227708]]),
                     (dict(go_backwards=True), [[0.13486053, 0.23261218],
                                                [0.78257304, 0.9691353]])]:
        result = layers.GRU(2, return_state=return_state, **kw, **INIT)(
            SEQ_2_4_3, initial_state=H0)
        if return_state:
            output, state = result
            got_out, got_state = run([output, state])
            np.testing.assert_allclose(got_state, got_out, **TOL)
        else:
            got_out = run(result)
        np.testing.assert_allclose(got_out, want, **TOL)


MASK = np.array([[True, True, False, True], [True, False, False, True]])


def test_gru_masking():
    # gru_test.py test_masking (four layers)
    y = layers.GRU(2, unroll=True, **INIT)(SEQ_2_4_3, mask=MASK)
    np.testing.assert_allclose(run(y), rows(0.19393763, 0.30818558, units=2), **TOL)
    seq = run(layers.GRU(2, return_sequences=True, **INIT)(SEQ_2_4_3, mask=MASK))
    np.testing.assert_allclose(seq[0], rows(0.03606692, 0.09497581, 0.09497581, 0.19393763,
                                            units=2), **TOL)
    np.testing.assert_allclose(seq[1], rows(0.16051409, 0.16051409, 0.16051409, 0.30818558,
                                            units=2), **TOL)
    seq = run(layers.GRU(2, return_sequences=True, zero_output_for_mask=True, **INIT)(
        SEQ_2_4_3, mask=MASK))
    np.testing.assert_allclose(seq[0], rows(0.03606692, 0.09497581, 0.0, 0.19393763, units=2),
                               **TOL)
    np.testing.assert_allclose(seq[1], rows(0.16051409, 0.0, 0.0, 0.30818558, units=2), **TOL)
    y = layers.GRU(2, go_backwards=True, **INIT)(SEQ_2_4_3, mask=MASK)
    np.testing.assert_allclose(run(y), rows(0.11669192, 0.28380975, units=2), **TOL)


def test_gru_legacy_implementation_argument():
    # gru_test.py test_legacy_implementation_argument. SPEC difference: Keras 3 takes
    # the legacy implementation=0 (and runs implementation 2); tinygraph refuses it, as
    # for the LSTM, naming the argument. The config round trip keeps the numbers.
    config = layers.GRU(3, **INIT).get_config()
    with pytest.raises(ValueError, match="implementation must be 1 or 2, got 0"):
        layers.GRU.from_config(dict(config, implementation=0))
    y = layers.GRU.from_config(config)(SEQ_3_6_4)
    np.testing.assert_allclose(run(y), rows(0.5217289, 0.6371659, 0.39384964, units=3), **TOL)
