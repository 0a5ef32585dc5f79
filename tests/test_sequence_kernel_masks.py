"""RNN masks on the sequence kernel: at a masked step the states keep their values,
the output repeats the last emitted one (zeros before the first kept step, even with
an initial state) or, with zero_output_for_mask, is zeros. The masked loops of
layers.LSTM become one lstm_sequence op, fused == unfused in float64, values and
gradients."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.ops.lstm import lstm_sequence

B, T, D, U = 3, 5, 2, 3
MASK = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], bool)


def assert_close(a, b):
    for u, v in zip(tg.nest.flatten(a), tg.nest.flatten(b)):
        np.testing.assert_allclose(v, u, rtol=1e-6, atol=1e-12)


GRID = [dict(), dict(zero_output_for_mask=True), dict(go_backwards=True),
        dict(implementation=1, zero_output_for_mask=True), dict(time_major=True),
        dict(activation="relu", go_backwards=True, zero_output_for_mask=True)]


@pytest.mark.parametrize("kw", GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_masked_lstm_runs_on_the_sequence_kernel(kw, rng):
    tm = kw.get("time_major", False)
    x = tg.placeholder((T, B, D) if tm else (B, T, D), "float64")
    mask = tg.constant(MASK.T if tm else MASK)
    h0, c0 = (tg.constant(rng.standard_normal((B, U))) for _ in range(2))
    seq = layers.LSTM(U, return_sequences=True, return_state=True, dtype="float64", **kw)
    y, h, c = seq(x, mask=mask, initial_state=[h0, c0])
    last_layer = layers.LSTM(U, dtype="float64", **kw)
    last = last_layer(x, mask=mask)
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal(y.shape))) + \
        tg.reduce_sum(h * c) + tg.reduce_sum(last * last)
    grads = tg.gradients(loss, [x, h0, c0] + seq.weights + last_layer.weights)
    feed = {x: rng.standard_normal(x.shape)}
    fetches = [loss, y, h, c, last, grads]
    unfused = tg.Session(optimize=False).run(fetches, feed)
    sess = tg.Session(optimize=True)
    assert_close(unfused, sess.run(fetches, feed))
    why = sess.explain([loss, grads])
    ops = [op for op, _ in why.fused]
    assert ops.count("lstm_sequence") == 2 and ops.count("lstm_sequence_grad") == 2, str(why)
    assert not why.unfused, str(why)


def test_masked_outputs_follow_the_rnn_rules():
    """With x = 0 and zero weights every gate is 0.5 and the candidate 0, so a kept step
    gives c = 0.5 * c_prev, h = 0.5 * tanh(c). The carried output is zeros until the
    first kept step, whatever h0 is; masked steps keep h and c."""
    x = tg.zeros((T, 1, 1), "float64")
    h0, c0 = tg.constant(np.full((1, 1), 7.0)), tg.constant(np.full((1, 1), 2.0))
    W, R, b = tg.zeros((1, 4), "float64"), tg.zeros((1, 4), "float64"), tg.zeros((4,), "float64")
    keep = tg.constant(np.array([[0], [1], [0], [0], [1]], bool))
    carry = lstm_sequence(x, h0, c0, W, R, b, mask=keep, mask_output="carry")
    zero = lstm_sequence(x, h0, c0, W, R, b, mask=keep, mask_output="zero")
    hs, hT, cT, _, _, yT, _, _ = tg.Session().run(carry)
    zs = tg.Session().run(zero[0])
    c1 = 0.5 * 2.0                               # f * c_prev + i * tanh(0)
    h1 = 0.5 * np.tanh(c1)
    c2 = 0.5 * c1
    h2 = 0.5 * np.tanh(c2)
    np.testing.assert_allclose(hs[:, 0, 0], [0, h1, h1, h1, h2])
    np.testing.assert_allclose(zs[:, 0, 0], [0, h1, 0, 0, h2])
    np.testing.assert_allclose([hT[0, 0], cT[0, 0], yT[0, 0]], [h2, c2, h2])


def test_the_mask_must_be_bool_time_by_batch():
    x, h = tg.zeros((2, 1, 2), "float64"), tg.zeros((1, 2), "float64")
    W, b = tg.zeros((2, 8), "float64"), tg.zeros((8,), "float64")
    with pytest.raises(tg.ShapeError, match="bool"):
        lstm_sequence(x, h, h, W, W, b, mask=tg.zeros((2, 1), "float64"))


@pytest.mark.parametrize("kw", [dict(), dict(use_peepholes=True, cell_clip=0.5)],
                         ids=["plain", "peepholes,clip"])
def test_tf1_sequence_length_runs_on_the_sequence_kernel(kw, rng):
    from tinygraph.layers import rnn_cell
    x = tg.placeholder((B, T, D), "float64")
    cell = rnn_cell.LSTMCell(U, dtype="float64", **kw)
    with tg.variable_scope(f"len{len(kw)}"):
        y, (c, h) = rnn_cell.dynamic_rnn(cell, x, sequence_length=[5, 0, 2], dtype="float64")
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal((B, T, U)))) + tg.reduce_sum(c * h)
    grads = tg.gradients(loss, [x] + cell.weights)
    feed = {x: rng.standard_normal((B, T, D))}
    unfused = tg.Session(optimize=False).run([loss, y, c, h, grads], feed)
    sess = tg.Session(optimize=True)
    assert_close(unfused, sess.run([loss, y, c, h, grads], feed))
    why = sess.explain([loss, grads])
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)
    assert not why.unfused, str(why)
