"""Keras 3's own Bidirectional test cases, ported: keras-team/keras
keras/src/layers/rnn/bidirectional_test.py (inputs, initializers and expected numbers;
the code is ours). Each test names its source case.

The numbers are float32 results of Keras, compared at Keras' own tolerance (1e-5), on
the loop op and unrolled, with the default fused compile."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

C = tg.initializers.Constant
INIT = dict(kernel_initializer=C(0.01), recurrent_initializer=C(0.02), bias_initializer=C(0.03))
TOL = dict(rtol=1e-5, atol=1e-5)
SEQ_2_3_4 = np.arange(24).reshape((2, 3, 4)).astype("float32")
SEQ_2_4_3 = np.arange(24).reshape((2, 4, 3)).astype("float32")


def run(fetches, feed=None, session=None):
    return (session or tg.Session()).run(fetches, feed)


@pytest.mark.parametrize("merge_mode,units", [("concat", 8), ("sum", 4)])
def test_basics(merge_mode, units, rng):
    # bidirectional_test.py test_basics: output shape and weight counts, with the
    # flipped copy and with a given backward layer
    x = rng.normal(size=(3, 2, 4)).astype("float32")
    backward = layers.SimpleRNN(4, go_backwards=True) if merge_mode == "sum" else None
    layer = layers.Bidirectional(layers.SimpleRNN(4), merge_mode=merge_mode,
                                 backward_layer=backward)
    assert run(layer(x)).shape == (3, units)
    assert len(layer.trainable_weights) == 6 and not layer.non_trainable_weights
    # masks are accepted (supports_masking)
    assert run(layer(x, mask=np.array([[1, 0]] * 3, bool))).shape == (3, units)


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_correctness(unroll):
    # bidirectional_test.py test_correctness (the SimpleRNN part)
    forward = layers.SimpleRNN(2, unroll=unroll, **INIT)
    out = run(layers.Bidirectional(forward)(SEQ_2_3_4))
    np.testing.assert_allclose(out, [[0.39687276, 0.39687276, 0.10004295, 0.10004295],
                                     [0.7237238, 0.7237238, 0.53391594, 0.53391594]], **TOL)
    out = run(layers.Bidirectional(forward, merge_mode="ave")(SEQ_2_3_4))
    np.testing.assert_allclose(out, [[0.24845785, 0.24845785], [0.6288199, 0.6288199]], **TOL)
    first, second = run(layers.Bidirectional(forward, merge_mode=None)(SEQ_2_3_4))
    np.testing.assert_allclose(first, [[0.39687276, 0.39687276], [0.7237238, 0.7237238]], **TOL)
    np.testing.assert_allclose(second, [[0.10004295, 0.10004295], [0.53391594, 0.53391594]],
                               **TOL)
    backward = layers.SimpleRNN(2, kernel_initializer=C(0.03), recurrent_initializer=C(0.02),
                                bias_initializer=C(0.01), go_backwards=True, unroll=unroll)
    out = run(layers.Bidirectional(forward, backward_layer=backward, merge_mode="mul")(SEQ_2_3_4))
    np.testing.assert_allclose(out, [[0.08374989, 0.08374989], [0.6740834, 0.6740834]], **TOL)


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_correctness_gru(unroll):
    # bidirectional_test.py test_correctness (the GRU part): sum of whole sequences
    forward = layers.GRU(2, return_sequences=True, unroll=unroll, **INIT)
    out = run(layers.Bidirectional(forward, merge_mode="sum")(SEQ_2_3_4))
    want = [[[0.20937867] * 2, [0.34462988] * 2, [0.40290534] * 2],
            [[0.59829646] * 2, [0.6734641] * 2, [0.6479671] * 2]]
    np.testing.assert_allclose(out, want, **TOL)


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_masking(unroll):
    # bidirectional_test.py test_masking (a GRU, a mask with gaps)
    layer = layers.Bidirectional(layers.GRU(2, unroll=unroll, **INIT))
    mask = np.array([[True, True, False, True], [True, False, False, True]])
    out = run(layer(SEQ_2_4_3, mask=mask))
    np.testing.assert_allclose(out, [[0.19393763, 0.19393763, 0.11669192, 0.11669192],
                                     [0.30818558, 0.30818558, 0.28380975, 0.28380975]], **TOL)


def test_statefulness():
    # bidirectional_test.py test_statefulness: two calls carry the states on; after
    # reset_state() the same two calls give the same numbers again
    forward = layers.LSTM(2, stateful=True, **INIT)
    layer = layers.Bidirectional(forward)
    first, second = layer(SEQ_2_4_3), layer(SEQ_2_4_3)
    want = [[0.26234663, 0.26234663, 0.16959146, 0.16959146],
            [0.6137073, 0.6137073, 0.5381646, 0.5381646]]
    sess = tg.Session()
    run(first, session=sess)
    np.testing.assert_allclose(run(second, session=sess), want, **TOL)
    layer.reset_state()
    run(first, session=sess)
    np.testing.assert_allclose(run(second, session=sess), want, **TOL)


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_pass_initial_state(unroll):
    # bidirectional_test.py test_pass_initial_state: forward states first
    init = [np.arange(4).reshape((2, 2)).astype("float32") * k for k in (1, 2, 3, 4)]
    layer = layers.Bidirectional(layers.LSTM(2, unroll=unroll, **INIT))
    out = run(layer(SEQ_2_4_3, initial_state=init))
    np.testing.assert_allclose(out, [[0.20794602, 0.4577124, 0.14046375, 0.48191673],
                                     [0.6682636, 0.6711909, 0.60943645, 0.60950446]], **TOL)


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_return_state(unroll):
    # bidirectional_test.py test_return_state: (output, h_fwd, c_fwd, h_bwd, c_bwd)
    layer = layers.Bidirectional(layers.LSTM(2, return_state=True, unroll=unroll, **INIT))
    out, h1, c1, h2, c2 = run(list(layer(SEQ_2_4_3)))
    np.testing.assert_allclose(out, [[0.1990008, 0.1990008, 0.12659755, 0.12659755],
                                     [0.52335435, 0.52335435, 0.44717982, 0.44717982]], **TOL)
    np.testing.assert_allclose(h1, [[0.1990008, 0.1990008], [0.52335435, 0.52335435]], **TOL)
    np.testing.assert_allclose(c1, [[0.35567185, 0.35567185], [1.0492687, 1.0492687]], **TOL)
    np.testing.assert_allclose(h2, [[0.12659755, 0.12659755], [0.44717982, 0.44717982]], **TOL)
    np.testing.assert_allclose(c2, [[0.2501858, 0.2501858], [0.941473, 0.941473]], **TOL)


@pytest.mark.parametrize("merge_mode", ["ave", "concat", "mul", "sum", None])
@pytest.mark.parametrize("return_state", [True, False])
def test_output_shape(merge_mode, return_state):
    # bidirectional_test.py test_output_shape: every merge mode, with and without states;
    # the graph's static shapes are what running gives
    x = np.array([[[101, 202], [303, 404]]], "float32")
    layer = layers.Bidirectional(layers.LSTM(2, return_state=return_state), merge_mode=merge_mode)
    outs = tg.nest.flatten(layer(x))
    width = 4 if merge_mode == "concat" else 2
    n_outputs = (2 if merge_mode is None else 1) + (4 if return_state else 0)
    assert len(outs) == n_outputs
    assert [o.shape for o in outs] == [(1, width)] * (n_outputs - 4 * return_state) + \
        [(1, 2)] * (4 * return_state)
    assert [v.shape for v in run(outs)] == [o.shape for o in outs]
