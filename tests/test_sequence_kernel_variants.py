"""Every LSTM the layers build in a loop reaches the sequence kernel: the TF1 cell
(peepholes, cell_clip, forget_bias) under dynamic_rnn, Keras implementation=1. Fused
values and gradients (first and second order) equal the unfused ones in float64, and
explain names the fused kernels and declines nothing; what still runs step by step
says why."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.layers import rnn_cell
from tinygraph.ops.lstm import lstm_sequence
from tinygraph.testing import check_grads

B, T, D, U = 3, 5, 4, 3
RTOL = 1e-6


def run_both(fetches, feed):
    unfused = tg.Session(optimize=False).run(fetches, feed)
    sess = tg.Session(optimize=True)
    fused = sess.run(fetches, feed)
    return unfused, fused, sess.explain(fetches)


def assert_close(a, b):
    for u, v in zip(tg.nest.flatten(a), tg.nest.flatten(b)):
        np.testing.assert_allclose(v, u, rtol=RTOL, atol=1e-12)


def tf1_loop(x, time_major=False, **kw):
    cell = rnn_cell.LSTMCell(U, dtype="float64", **kw)
    with tg.variable_scope(f"v{id(cell)}"):
        y, state = rnn_cell.dynamic_rnn(cell, x, dtype="float64", time_major=time_major)
    return y, state, cell.weights


TF1_GRID = [
    dict(use_peepholes=True),
    dict(cell_clip=0.4),
    dict(use_peepholes=True, cell_clip=0.4, forget_bias=0.5),
    dict(use_peepholes=True, cell_clip=3.0, forget_bias=0.0, activation="relu"),
]


def ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("kw", TF1_GRID, ids=ids)
def test_tf1_dynamic_rnn_runs_on_the_sequence_kernel(kw, rng):
    x = tg.placeholder((B, T, D), "float64")
    y, (c, h), weights = tf1_loop(x, **kw)
    w = tg.constant(rng.standard_normal((B, T, U)))
    loss = tg.reduce_sum(y * w) + tg.reduce_sum(c * c) + tg.reduce_sum(h)
    grads = tg.gradients(loss, [x] + weights)
    feed = {x: rng.standard_normal((B, T, D)) * 2}
    unfused, fused, why = run_both([loss, y, c, grads], feed)
    assert_close(unfused, fused)
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)
    assert not why.unfused, str(why)


def test_tf1_time_major_and_second_order(rng):
    x = tg.placeholder((T, B, D), "float64")
    y, _, weights = tf1_loop(x, time_major=True, use_peepholes=True, cell_clip=0.5)
    loss = tg.reduce_sum(y * y)
    kernel, peep = weights[0], weights[2]
    g_k, g_p = tg.gradients(loss, [kernel, peep])
    v = tg.constant(rng.standard_normal(kernel.shape))
    hvp = tg.gradients(tg.reduce_sum(g_k * v) + tg.reduce_sum(g_p), [kernel, peep])
    unfused, fused, _ = run_both([g_k, g_p, hvp], {x: rng.standard_normal((T, B, D))})
    assert_close(unfused, fused)


@pytest.mark.parametrize("kw", [dict(), dict(use_bias=False), dict(go_backwards=True),
                                dict(activation="relu", recurrent_activation="hard_sigmoid")],
                         ids=lambda kw: ids(kw) or "default")
def test_keras_implementation_1_loop_runs_on_the_sequence_kernel(kw, rng):
    x = tg.placeholder((B, T, D), "float64")
    lstm = layers.LSTM(U, implementation=1, return_sequences=True, dtype="float64", **kw)
    y = lstm(x)
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal((B, T, U))))
    grads = tg.gradients(loss, [x] + lstm.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D))})
    assert_close(unfused, fused)
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)
    assert not why.unfused, str(why)


def test_stacked_tf1_and_keras_layers_each_get_their_own_kernel(rng):
    x = tg.placeholder((B, T, D), "float64")
    y1, _, w1 = tf1_loop(x, use_peepholes=True, cell_clip=1.0)
    lstm = layers.LSTM(U, implementation=1, return_sequences=True, dtype="float64")
    y2 = lstm(y1)
    loss = tg.reduce_sum(y2)
    grads = tg.gradients(loss, [x] + w1 + lstm.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D))})
    assert_close(unfused, fused)
    ops = [op for op, _ in why.fused]
    assert ops.count("lstm_sequence") == 2 and ops.count("lstm_sequence_grad") == 2, str(why)


@pytest.mark.parametrize("kw,lengths", [
    (dict(num_proj=2), None),
    (dict(num_proj=2, proj_clip=0.3, use_peepholes=True, cell_clip=1.0), None),
    (dict(num_proj=2, proj_clip=0.2), [5, 0, 2])], ids=["proj", "proj-clip-peep", "proj-lengths"])
def test_tf1_projection_runs_on_the_sequence_kernel(kw, lengths, rng):
    x = tg.placeholder((B, T, D), "float64")
    cell = rnn_cell.LSTMCell(U, dtype="float64", **kw)
    with tg.variable_scope(f"p{len(kw)}{lengths is None}"):
        y, (c, h) = rnn_cell.dynamic_rnn(cell, x, sequence_length=lengths, dtype="float64")
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal((B, T, 2)))) + \
        tg.reduce_sum(c) + tg.reduce_sum(h * h)
    grads = tg.gradients(loss, [x] + cell.weights)
    unfused, fused, why = run_both([loss, y, c, h, grads], {x: rng.standard_normal((B, T, D)) * 2})
    assert_close(unfused, fused)
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)
    assert not why.unfused, str(why)


def test_the_peephole_sequence_op_has_second_order_gradients(rng):
    shapes = [(3, 2, 2), (2, 2), (2, 2), (2, 8), (2, 8), (8,), (2,), (2,), (2,)]
    args = [rng.standard_normal(s) * 0.5 for s in shapes]

    def f(x, h, c, W, R, b, pi, pf, po):
        return lstm_sequence(x, h, c, W, R, b, peepholes=(pi, pf, po), cell_clip=0.7,
                             forget_bias=1.0, gate_order="ijfo")[:3]
    check_grads(f, args, order=2)


def test_peepholes_need_three_weights():
    x, h, W, R, b = (tg.zeros(s, "float64") for s in [(2, 1, 2), (1, 2), (2, 8), (2, 8), (8,)])
    with pytest.raises(tg.ShapeError, match="three"):
        lstm_sequence(x, h, h, W, R, b, peepholes=(b,))


def test_first_order_tf1_training_step_is_fused_forward_and_backward(rng):
    x = tg.placeholder((T, B, D), "float64")
    y, _, weights = tf1_loop(x, time_major=True, use_peepholes=True, cell_clip=0.5)
    grads = tg.gradients(tg.reduce_sum(y * y), weights)
    unfused, fused, why = run_both(grads, {x: rng.standard_normal((T, B, D))})
    assert_close(unfused, fused)
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)


@pytest.mark.parametrize("kw,axis", [(dict(), 1), (dict(use_peepholes=True, cell_clip=0.5,
                                                        forget_bias=0.5), 1),
                                     (dict(use_peepholes=True), 0)],
                         ids=["plain-batch-major", "peep-clip-batch-major", "peep-time-major"])
def test_tf1_static_rnn_chain_runs_on_the_sequence_kernel(kw, axis, rng):
    shape = (B, T, D) if axis == 1 else (T, B, D)
    x = tg.placeholder(shape, "float64")
    cell = rnn_cell.LSTMCell(U, dtype="float64", **kw)
    with tg.variable_scope(f"s{len(kw)}{axis}"):
        ys, (c, h) = rnn_cell.static_rnn(cell, tg.unstack(x, axis=axis), dtype="float64")
    y = tg.stack(ys, 1)
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal((B, T, U)))) + tg.reduce_sum(c * h)
    grads = tg.gradients(loss, [x] + cell.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal(shape) * 2})
    assert_close(unfused, fused)
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)
    assert not why.unfused, str(why)
