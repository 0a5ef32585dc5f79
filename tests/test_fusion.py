"""LSTM fusion: fused graphs give the unfused values and gradients (first and second
order), fused kernels replace the gate math forward and backward, explain() says
what was fused and why something was not."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir.graph import topo_nodes
from tinygraph.layers import rnn_cell

B, T, D, U = 3, 4, 3, 2


def all_ops(fetches):
    """Op names in the graph of ``fetches``, loop bodies included."""
    names = []

    def walk(nodes):
        for n in nodes:
            names.append(n.op.name)
            body = getattr(n.op, "body", None)
            if body is not None and n.op.name == "scan":
                walk(topo_nodes(body.outputs))
    walk(topo_nodes(tg.nest.flatten(fetches)))
    return names


def run_both(fetches, feed):
    unfused = tg.Session(optimize=False).run(fetches, feed)
    sess = tg.Session(optimize=True)
    fused = sess.run(fetches, feed)
    return unfused, fused, sess.explain(fetches)


def assert_close(a, b, rtol=1e-9):
    for u, v in zip(tg.nest.flatten(a), tg.nest.flatten(b)):
        np.testing.assert_allclose(v, u, rtol=rtol, atol=1e-12)


def keras_model(x, unroll, mask=None, training=None, **kw):
    lstm = layers.LSTM(U, return_sequences=True, unroll=unroll, dtype="float64", **kw)
    y = lstm(x, mask=mask, training=training)
    return lstm, y


GRID = [
    dict(),
    dict(implementation=1),
    dict(activation="relu", recurrent_activation="hard_sigmoid"),
    dict(activation="linear", unit_forget_bias=False),
    dict(use_bias=False),
    dict(go_backwards=True),
    dict(recurrent_activation="hard_sigmoid_v1", implementation=1),
]


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
@pytest.mark.parametrize("kw", GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_keras_lstm_fused_equals_unfused(kw, unroll, rng):
    x = tg.placeholder((B, T, D), "float64")
    lstm, y = keras_model(x, unroll, **kw)
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal((B, T, U))))
    grads = tg.gradients(loss, [x] + lstm.weights)
    feed = {x: rng.standard_normal((B, T, D))}
    unfused, fused, why = run_both([loss, grads], feed)
    assert_close(unfused, fused)
    kernels = {op for op, _ in why.fused}
    assert kernels & {"lstm_cell", "lstm_sequence"}, str(why)
    assert kernels & {"lstm_cell_grad", "lstm_sequence_grad"}, "backward not fused:\n" + str(why)


def test_loop_lstm_becomes_one_sequence_kernel_forward_and_backward(rng):
    x = tg.placeholder((B, T, D), "float64")
    lstm, y = keras_model(x, unroll=False)
    loss = tg.reduce_sum(y)
    grads = tg.gradients(loss, [x] + lstm.weights)
    opt = tg.optimize([loss, grads])
    ops = all_ops(opt)
    assert ops.count("lstm_sequence") == 1 and ops.count("lstm_sequence_grad") == 1
    for gate_op in ("sigmoid", "tanh", "split", "scan"):
        assert gate_op not in ops, gate_op
    why = tg.Session().explain([loss, grads])
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"]
    assert "lstm_sequence" in str(why)


def test_unrolled_chain_becomes_one_sequence_kernel(rng):
    x = tg.placeholder((B, T, D), "float64")
    lstm, y = keras_model(x, unroll=True)
    loss = tg.reduce_sum(y)
    opt = tg.optimize([loss] + tg.gradients(loss, lstm.weights))
    ops = all_ops(opt)
    assert "sigmoid" not in ops and "tanh" not in ops and "stack" not in ops
    assert ops.count("lstm_sequence") == 1 and ops.count("lstm_sequence_grad") == 1


def test_unrolled_implementation_1_runs_on_the_sequence_kernel(rng):
    x = tg.placeholder((B, T, D), "float64")
    lstm, y = keras_model(x, unroll=True, implementation=1)
    loss = tg.reduce_sum(y)
    fetches = [loss] + tg.gradients(loss, lstm.weights)
    ops = all_ops(tg.optimize(fetches))
    assert "sigmoid" not in ops and "tanh" not in ops
    assert ops.count("lstm_sequence") == 1 and ops.count("lstm_sequence_grad") == 1
    assert "lstm_cell" not in ops and "lstm_cell_grad" not in ops
    assert not tg.Session().explain(fetches).unfused


def test_masks_dropout_and_stacking_keep_working_fused(rng):
    x = tg.placeholder((B, T, D), "float64")
    mask = tg.constant(np.array([[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 0]], bool))
    rnn = layers.RNN([layers.LSTMCell(U, dropout=0.3, seed=5, dtype="float64"),
                      layers.LSTMCell(U, recurrent_dropout=0.2, seed=6, dtype="float64")],
                     return_sequences=True, dtype="float64")
    y = rnn(x, mask=mask, training=True)
    loss = tg.reduce_sum(y * y)
    grads = tg.gradients(loss, [x] + rnn.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D))})
    assert_close(unfused, fused)
    assert "lstm_cell" in {op for op, _ in why.fused} or why.unfused, str(why)


def test_initial_state_and_dropout_on_the_sequence_kernel(rng):
    x = tg.placeholder((B, T, D), "float64")
    h0, c0 = tg.placeholder((B, U), "float64"), tg.placeholder((B, U), "float64")
    lstm = layers.LSTM(U, return_sequences=True, return_state=True, dropout=0.4, seed=3,
                       dtype="float64")
    y, h, c = lstm(x, initial_state=[h0, c0], training=True)
    loss = tg.reduce_sum(y) + tg.reduce_sum(h * c)
    grads = tg.gradients(loss, [x, h0, c0] + lstm.weights)
    feed = {x: rng.standard_normal((B, T, D)), h0: rng.standard_normal((B, U)),
            c0: rng.standard_normal((B, U))}
    unfused, fused, why = run_both([loss, grads], feed)
    assert_close(unfused, fused)
    assert "lstm_sequence" in {op for op, _ in why.fused}, str(why)


@pytest.mark.parametrize("kw", [dict(use_peepholes=True, cell_clip=0.4, forget_bias=2.0),
                                dict(num_proj=2, proj_clip=0.3, activation="relu"),
                                dict(forget_bias=0.0)], ids=["peep-clip", "proj-relu", "plain"])
def test_tf1_cell_fused_equals_unfused(kw, rng):
    x = tg.placeholder((B, T, D), "float64")
    cell = rnn_cell.LSTMCell(U, dtype="float64", **kw)
    out, state = rnn_cell.dynamic_rnn(cell, x, sequence_length=np.array([4, 2, 3]), dtype="float64")
    loss = tg.reduce_sum(out * out) + tg.reduce_sum(state.c)
    grads = tg.gradients(loss, [x] + cell.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D)) * 2})
    assert_close(unfused, fused)
    fused_ops = all_ops(tg.optimize([loss]))
    assert "lstm_cell" not in all_ops([loss])
    assert "lstm_cell" in fused_ops or "lstm_sequence" in fused_ops   # issue 15: the loop reaches the sequence kernel


def test_second_order_through_fused_graphs(rng):
    """A Hessian-vector product of the loss w.r.t. the kernel: same fused or not."""
    for unroll in (False, True):
        tg.reset_default_graph()
        x = tg.placeholder((B, T, D), "float64")
        lstm, y = keras_model(x, unroll)
        loss = tg.reduce_sum(y * y)
        (g,) = tg.gradients(loss, [lstm.cell.kernel])
        v = tg.constant(rng.standard_normal(g.shape))
        (hvp,) = tg.gradients(tg.reduce_sum(g * v), [lstm.cell.kernel])
        unfused, fused, _ = run_both([g, hvp], {x: rng.standard_normal((B, T, D))})
        assert_close(unfused, fused)


def test_second_order_of_the_fused_ops_themselves(rng):
    """Differentiate a graph that already holds fused ops, twice (their backward
    ops' gradients go through their decompositions)."""
    from tinygraph.ops.lstm import lstm_sequence
    from tinygraph.testing import check_grads
    args = [rng.standard_normal(s) * 0.5 for s in [(3, 2, 2), (2, 2), (2, 2), (2, 8), (2, 8), (8,)]]
    check_grads(lambda *a: lstm_sequence(*a)[:3], args, order=2)


def test_declined_match_is_explained():
    """A cell whose gate activation is also fetched cannot be fused: explain says why."""
    x = tg.placeholder((B, D), "float64")
    cell = layers.LSTMCell(U, dtype="float64")
    h0 = tg.zeros((B, U), "float64")
    h, _ = cell(x, [h0, h0])
    forget = [n for n in topo_nodes([h]) if n.op.name == "sigmoid"][1].outputs[0]
    why = tg.Session().explain([h, forget])
    assert not why.fused
    assert why.unfused and "also used outside" in why.unfused[0][2]
    assert "LSTM math NOT fused" in str(why)


def test_mixed_activations_are_declined_with_the_reason():
    z = tg.placeholder((B, 4 * U), "float64")
    c_prev = tg.placeholder((B, U), "float64")
    zi, zf, zc, zo = tg.split(z, 4, axis=1)
    c = tg.sigmoid(zf) * c_prev + tg.hard_sigmoid(zi) * tg.tanh(zc)
    h = tg.sigmoid(zo) * tg.tanh(c)
    why = tg.Session().explain([h])
    assert not why.fused
    assert any("different recurrent activations" in r for _, _, r in why.unfused), str(why)


def test_bench_runs_on_a_tiny_shape_and_reports_well_formed_figures():
    from tinygraph.tools import bench
    lines = []
    res = bench.run(workloads=["train-S"], rounds=1, peers=False, quick=True, out=lines.append)
    (w,) = res["workloads"]
    assert set(w["contenders"]) == {"tinygraph fused", "tinygraph unfused", bench.FLOOR}
    for row in w["contenders"].values():
        assert row["median_ms"] > 0 and 0 < row["share_of_matmul_peak"] < 1
    assert w["contenders"]["tinygraph fused"]["ratio_to_fused"] == 1.0
    assert {r["mode"] for r in res["compile"]} == {"loop", "unrolled"}
    assert "train-S" in "\n".join(lines)


@pytest.mark.parametrize("cell,gates", [("keras", 4), ("tf1", 4), ("gru", 3)])
@pytest.mark.parametrize("train", [True, False])
def test_the_benchs_gemm_floor_runs_the_gemms_of_the_fused_kernels(cell, gates, train, monkeypatch):
    """The floor row is only a floor if it runs what the fused step runs: the same
    GEMMs, shape for shape (and nothing else)."""
    from tinygraph.tools import bench
    step, _ = bench.tinygraph_step(2, 3, 4, 5, train, True, cell=cell)
    step()
    seen, real = [], np.matmul

    def spy(a, b, *args, **kw):
        seen.append((np.shape(a), np.shape(b)))
        return real(a, b, *args, **kw)
    monkeypatch.setattr(np, "matmul", spy)
    step()
    kernels = sorted(seen)
    seen.clear()
    bench.gemm_floor_step(2, 3, 4, 5, train, gates)()
    assert sorted(seen) == kernels and kernels


def test_gradient_wrt_an_inner_state_keeps_every_path(rng):
    """dL/dc_T of an unrolled LSTM includes c_T -> h_T inside the last step, even
    though fusion would absorb c_T into a sequence kernel."""
    x = tg.placeholder((B, T, D), "float64")
    lstm, y = keras_model(x, unroll=True)
    loss = tg.reduce_sum(y)
    c_last = tg.gradflow.find_call(loss, lstm).unrolled_states[-1][1]
    (g,) = tg.gradients(loss, [c_last])
    unfused, fused, _ = run_both(g, {x: rng.standard_normal((B, T, D))})
    assert np.abs(unfused).max() > 1e-3
    np.testing.assert_allclose(fused, unfused, rtol=1e-9)


def test_hand_unrolled_chain_over_unstack_becomes_one_sequence_kernel(rng):
    """An LSTM written by hand over tg.unstack(x) (no layers) is found too."""
    x = tg.placeholder((T, B, D), "float64")
    W, R = tg.constant(rng.standard_normal((D, 4 * U))), tg.constant(rng.standard_normal((U, 4 * U)))
    b = tg.constant(rng.standard_normal(4 * U))
    h = c = tg.zeros((B, U), "float64")
    hs = []
    for x_t in tg.unstack(x):
        i, f, g, o = tg.split(x_t @ W + h @ R + b, 4, axis=1)
        c = tg.sigmoid(f) * c + tg.sigmoid(i) * tg.tanh(g)
        h = tg.sigmoid(o) * tg.tanh(c)
        hs.append(h)
    y = tg.stack(hs)
    loss = tg.reduce_sum(y * y)
    (gx,) = tg.gradients(loss, [x])
    ops = all_ops(tg.optimize([y, gx]))
    assert ops.count("lstm_sequence") == 1 and "stack" not in ops and "sigmoid" not in ops
    unfused, fused, _ = run_both([y, gx], {x: rng.standard_normal((T, B, D))})
    assert_close(unfused, fused)


def test_recurrent_dropout_takes_the_sequence_kernel():
    """Keras users complain that recurrent_dropout silently takes a slow path: here it
    takes the sequence kernel (issue 15; it used to be fused per step, with a reason)."""
    x = tg.placeholder((B, T, D), "float64")
    lstm = layers.LSTM(U, recurrent_dropout=0.2, dtype="float64")
    loss = tg.reduce_sum(lstm(x, training=True))
    why = tg.Session().explain(tg.gradients(loss, lstm.weights))
    assert "lstm_sequence_grad" in {op for op, _ in why.fused}, str(why)
    assert not why.unfused, str(why)
