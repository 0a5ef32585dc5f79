"""Unrolled LSTM calls on the sequence kernel, and what stays step by step says why.

Keras implementation=1 and dropout / recurrent dropout unrolled (one product per gate,
one dropout mask per gate fixed for the sequence) become one lstm_sequence: fused ==
unfused in float64. What the unrolled-chain fusion leaves step by step says why, once
per layer, in ``sess.explain``: masked unrolled calls (layers.RNN(unroll=True) with a
mask, TF1 static_rnn with sequence_length) and TF1 static_rnn with num_proj."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.layers import rnn_cell

B, T, D, U = 3, 5, 4, 3
MASK = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], bool)


def keras_stack(n_layers, mask=False, **kw):
    x = tg.placeholder((B, T, D), "float64")
    y, weights = x, []
    for _ in range(n_layers):
        lstm = layers.LSTM(U, return_sequences=True, unroll=True, dtype="float64", **kw)
        y = lstm(y, mask=tg.constant(MASK) if mask else None, training=True)
        weights += lstm.weights
    return x, y, weights


def tf1_static(**kw):
    lengths = kw.pop("sequence_length", None)
    x = tg.placeholder((B, T, D), "float64")
    cell = rnn_cell.LSTMCell(U, dtype="float64", **kw)
    with tg.variable_scope(f"r{len(kw)}{lengths is None}"):
        ys, _ = rnn_cell.static_rnn(cell, tg.unstack(x, axis=1), dtype="float64",
                                    sequence_length=lengths)
    return x, tg.stack(ys, 1), cell.weights


def explain(x, y, weights, rng):
    loss = tg.reduce_sum(y * y)
    fetches = [loss, tg.gradients(loss, [x] + weights)]
    feed = {x: rng.standard_normal(x.shape)}
    unfused = tg.Session(optimize=False).run(fetches, feed)
    sess = tg.Session(optimize=True)
    for u, f in zip(tg.nest.flatten(unfused), tg.nest.flatten(sess.run(fetches, feed))):
        np.testing.assert_allclose(f, u, rtol=1e-6, atol=1e-12)
    return sess.explain(fetches)


def unrolled_reasons(why):
    return [(node, reason) for rule, node, reason in why.unfused
            if rule == "lstm_sequence_fusion_unrolled"]


@pytest.mark.parametrize("n_layers", [1, 2])
def test_a_masked_unrolled_layer_says_why_once(n_layers, rng):
    x, y, weights = keras_stack(n_layers, mask=True)
    why = explain(x, y, weights, rng)
    reasons = unrolled_reasons(why)
    assert len(reasons) == n_layers, str(why)
    for (node, reason), k in zip(sorted(reasons), range(n_layers)):
        assert node.startswith(("lstm", "lstm_")) and f"step_{T - 1}/" in node, node
        assert "through a mask" in reason and "unroll=False" in reason
    assert [op for op, _ in why.fused].count("lstm_cell") == n_layers * T


@pytest.mark.parametrize("kw,words", [
    (dict(sequence_length=[5, 0, 2]), "through a mask"),
    (dict(num_proj=2), "project their output"),
    (dict(num_proj=2, proj_clip=0.5, sequence_length=[1, 5, 3]), "through a mask")],
    ids=["lengths", "num_proj", "num_proj-lengths"])
def test_tf1_static_rnn_variants_say_why(kw, words, rng):
    why = explain(*tf1_static(**kw), rng)
    reasons = unrolled_reasons(why)
    assert len(reasons) == 1, str(why)
    node, reason = reasons[0]
    assert f"rnn/step_{T - 1}/" in node and words in reason and "dynamic_rnn" in reason


@pytest.mark.parametrize("kw", [
    dict(implementation=1), dict(implementation=1, go_backwards=True, use_bias=False),
    dict(recurrent_dropout=0.3, seed=1), dict(recurrent_dropout=0.3, dropout=0.2, seed=2),
    dict(dropout=0.4, implementation=1, seed=3, activation="relu")],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_unrolled_per_gate_products_run_on_the_sequence_kernel(kw, rng):
    x, y, weights = keras_stack(1, **kw)
    why = explain(x, y, weights, rng)
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)
    assert not why.unfused, str(why)


def test_stacked_unrolled_implementation_1_layers_each_get_a_kernel(rng):
    x, y, weights = keras_stack(2, implementation=1, recurrent_dropout=0.2, seed=7)
    why = explain(x, y, weights, rng)
    ops = [op for op, _ in why.fused]
    assert ops.count("lstm_sequence") == 2 and ops.count("lstm_sequence_grad") == 2, str(why)
