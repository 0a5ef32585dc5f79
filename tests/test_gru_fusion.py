"""GRU fusion (issue 18, point 4): fused graphs give the unfused values and gradients
(first and second order) for every variant of the Keras GRU, the fused kernels replace
the gate math forward and backward, and explain() says what was fused and why
something was not."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir.graph import topo_nodes
from tinygraph.ops.gru import gru_cell, gru_sequence
from tinygraph.ops.gru_step import GRUMath, gru_step
from tinygraph.testing import check_grads

from test_fusion import all_ops, assert_close, run_both

B, T, D, U = 3, 4, 3, 2


def gru_model(x, unroll, mask=None, training=None, **kw):
    gru = layers.GRU(U, return_sequences=True, unroll=unroll, dtype="float64", **kw)
    return gru, gru(x, mask=mask, training=training)


GRID = [
    dict(),
    dict(reset_after=False),
    dict(implementation=1),
    dict(implementation=1, reset_after=False),
    dict(activation="relu", recurrent_activation="hard_sigmoid"),
    dict(activation="linear", recurrent_activation="hard_sigmoid_v1", reset_after=False),
    dict(use_bias=False),
    dict(use_bias=False, reset_after=False, implementation=1),
    dict(go_backwards=True),
]


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "default"


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
@pytest.mark.parametrize("kw", GRID, ids=_ids)
def test_keras_gru_fused_equals_unfused_on_the_sequence_kernel(kw, unroll, rng):
    x = tg.placeholder((B, T, D), "float64")
    gru, y = gru_model(x, unroll, **kw)
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal((B, T, U))))
    grads = tg.gradients(loss, [x] + gru.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D))})
    assert_close(unfused, fused)
    assert [op for op, _ in why.fused] == ["gru_sequence", "gru_sequence_grad"], str(why)
    assert not why.unfused, str(why)


def test_the_loop_leaves_no_gate_math(rng):
    x = tg.placeholder((B, T, D), "float64")
    gru, y = gru_model(x, unroll=False)
    loss = tg.reduce_sum(y)
    ops = all_ops(tg.optimize([loss, tg.gradients(loss, [x] + gru.weights)]))
    assert ops.count("gru_sequence") == 1 and ops.count("gru_sequence_grad") == 1
    for gate_op in ("sigmoid", "tanh", "split", "scan", "stack"):
        assert gate_op not in ops, gate_op


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
@pytest.mark.parametrize("kw", [dict(dropout=0.3, recurrent_dropout=0.2),
                                dict(dropout=0.4, reset_after=False),
                                dict(recurrent_dropout=0.3, reset_after=False)], ids=_ids)
def test_dropout_masks_are_fixed_for_the_sequence(kw, unroll, rng):
    x = tg.placeholder((B, T, D), "float64")
    gru, y = gru_model(x, unroll, training=True, seed=4, **kw)
    loss = tg.reduce_sum(y * y)
    grads = tg.gradients(loss, [x] + gru.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D))})
    assert_close(unfused, fused)
    assert "gru_sequence_grad" in {op for op, _ in why.fused}, str(why)


@pytest.mark.parametrize("zero_output", [False, True], ids=["carry", "zero"])
@pytest.mark.parametrize("kw", [dict(), dict(reset_after=False, go_backwards=True)], ids=_ids)
def test_masked_loops_take_the_sequence_kernel(kw, zero_output, rng):
    x = tg.placeholder((B, T, D), "float64")
    mask = tg.constant(np.array([[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 0]], bool))
    gru, y = gru_model(x, False, mask=mask, zero_output_for_mask=zero_output, **kw)
    loss = tg.reduce_sum(y * y)
    grads = tg.gradients(loss, [x] + gru.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D))})
    assert_close(unfused, fused)
    assert "gru_sequence" in {op for op, _ in why.fused}, str(why)


def test_initial_state_return_state_and_stacking(rng):
    x = tg.placeholder((B, T, D), "float64")
    h0 = tg.placeholder((B, U), "float64")
    first = layers.GRU(U, return_sequences=True, return_state=True, dtype="float64")
    second = layers.GRU(U, reset_after=False, dtype="float64")
    y1, h1 = first(x, initial_state=[h0])
    y2 = second(y1)
    loss = tg.reduce_sum(y2 * h1) + tg.reduce_sum(y1)
    grads = tg.gradients(loss, [x, h0] + first.weights + second.weights)
    feed = {x: rng.standard_normal((B, T, D)), h0: rng.standard_normal((B, U))}
    unfused, fused, why = run_both([loss, grads], feed)
    assert_close(unfused, fused)
    kernels = [op for op, _ in why.fused]
    assert kernels.count("gru_sequence") == 2 and kernels.count("gru_sequence_grad") == 2, str(why)


def _step_graph(reset_after, act="tanh", ract="sigmoid"):
    """One gru_step on placeholders, with its inputs."""
    x = tg.placeholder((B, 3 * U), "float64")
    p = tg.placeholder((B, (3 if reset_after else 2) * U), "float64")
    h = tg.placeholder((B, U), "float64")
    Rh = None if reset_after else tg.placeholder((U, U), "float64")
    out = gru_step(x, p, h, GRUMath(act, ract, reset_after), Rh).h
    return out, [t for t in (x, p, h, Rh) if t is not None]


@pytest.mark.parametrize("reset_after", [True, False])
def test_one_step_becomes_one_gru_cell_forward_and_backward(reset_after, rng):
    out, ins = _step_graph(reset_after, "relu", "hard_sigmoid")
    loss = tg.reduce_sum(out * out)
    grads = tg.gradients(loss, ins)
    feed = {t: rng.standard_normal(t.shape) for t in ins}
    unfused, fused, why = run_both([loss, grads], feed)
    assert_close(unfused, fused)
    assert [op for op, _ in why.fused] == ["gru_cell", "gru_cell_grad"], str(why)


def test_unfusable_activation_is_declined_with_the_reason():
    x = tg.placeholder((B, T, D), "float64")
    gru, y = gru_model(x, unroll=False, activation="softplus")
    why = tg.Session().explain([y])
    assert not why.fused
    reasons = [r for _, _, r in why.unfused]
    assert any("softplus" in r and "no fused kernel" in r for r in reasons), str(why)
    assert "GRU math NOT fused" in str(why)


def test_mixed_gate_activations_are_declined_with_the_reason():
    x, p = tg.placeholder((B, 3 * U), "float64"), tg.placeholder((B, 3 * U), "float64")
    h = tg.placeholder((B, U), "float64")
    xz, xr, xh = tg.split(x, 3, axis=1)
    pz, pr, ph = tg.split(p, 3, axis=1)
    z, r = tg.sigmoid(xz + pz), tg.hard_sigmoid(xr + pr)
    out = z * h + (1.0 - z) * tg.tanh(xh + r * ph)
    why = tg.Session().explain([out])
    assert not why.fused
    assert any("different recurrent activations" in r for _, _, r in why.unfused), str(why)


def test_a_gate_read_outside_is_declined_with_the_reason():
    out, ins = _step_graph(True)
    gate = [n for n in topo_nodes([out]) if n.op.name == "sigmoid"][0].outputs[0]
    why = tg.Session().explain([out, gate])
    assert not why.fused
    assert why.unfused and "also used outside" in why.unfused[0][2], str(why)


def test_second_order_through_fused_graphs(rng):
    """A Hessian-vector product of the loss w.r.t. the kernel: the same fused or not."""
    for unroll, kw in ((False, {}), (True, dict(reset_after=False))):
        tg.reset_default_graph()
        x = tg.placeholder((B, T, D), "float64")
        gru, y = gru_model(x, unroll, **kw)
        loss = tg.reduce_sum(y * y)
        (g,) = tg.gradients(loss, [gru.cell.kernel])
        v = tg.constant(rng.standard_normal(g.shape))
        (hvp,) = tg.gradients(tg.reduce_sum(g * v), [gru.cell.kernel])
        unfused, fused, _ = run_both([g, hvp], {x: rng.standard_normal((B, T, D))})
        assert_close(unfused, fused)


@pytest.mark.parametrize("reset_after", [True, False])
def test_fused_ops_against_finite_differences_to_second_order(reset_after, rng):
    b = (2, 6) if reset_after else (6,)
    args = [rng.standard_normal(s) * 0.5 for s in [(3, 2, 2), (2, 2), (2, 6), (2, 6), b]]
    check_grads(lambda *a: gru_sequence(*a, reset_after=reset_after)[:2], args, order=2)
    cell = [rng.standard_normal(s) for s in [(2, 6), (2, 6 if reset_after else 4), (2, 2)]]
    cell += [] if reset_after else [rng.standard_normal((2, 2))]
    check_grads(lambda *a: gru_cell(*a, reset_after=reset_after), cell, order=2)


def test_fused_ops_refuse_bad_inputs_when_built():
    x, h = tg.placeholder((T, B, D), "float64"), tg.placeholder((B, U), "float64")
    W, R = tg.placeholder((D, 3 * U), "float64"), tg.placeholder((U, 3 * U), "float64")
    with pytest.raises(tg.ShapeError, match=r"b \(2, 6\)"):
        gru_sequence(x, h, W, R, tg.placeholder((3 * U,), "float64"))
    with pytest.raises(tg.ShapeError, match="not one the fused kernels support"):
        gru_sequence(x, h, W, R, tg.placeholder((2, 3 * U), "float64"), activation="softplus")
    with pytest.raises(ValueError, match="candidate_kernel"):
        gru_cell(tg.placeholder((B, 3 * U), "float64"), tg.placeholder((B, 2 * U), "float64"), h,
                 reset_after=False)


def test_bench_has_a_gru_workload_with_its_target():
    from tinygraph.tools import bench
    lines = []
    res = bench.run(workloads=["gru-train-L"], rounds=1, peers=False, quick=True, out=lines.append)
    (w,) = res["workloads"]
    assert w["cell"] == "gru" and set(w["contenders"]) == {"tinygraph fused", "tinygraph unfused",
                                                          bench.FLOOR}
    for row in w["contenders"].values():
        assert row["median_ms"] > 0 and 0 < row["share_of_matmul_peak"] < 1
    (target,) = [t for t in res["targets"] if t["figure"].startswith("gru-train-L")]
    assert target["target"] == "<= 1.0x" and target["met"] is None     # no peer ran
    assert bench.flops(64, 100, 128, 256, True, gates=3) == 18 * 100 * 64 * 256 * (128 + 256)
    assert "gru-train-L" in "\n".join(lines)


def test_stacked_cells_in_one_loop_are_fused_per_step_and_say_why(rng):
    x = tg.placeholder((B, T, D), "float64")
    mask = tg.constant(np.array([[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 0]], bool))
    rnn = layers.RNN([layers.GRUCell(U, dropout=0.3, seed=5, dtype="float64"),
                      layers.GRUCell(U, recurrent_dropout=0.2, reset_after=False, seed=6,
                                     dtype="float64")], return_sequences=True, dtype="float64")
    y = rnn(x, mask=mask, training=True)
    loss = tg.reduce_sum(y * y)
    grads = tg.gradients(loss, [x] + rnn.weights)
    unfused, fused, why = run_both([loss, grads], {x: rng.standard_normal((B, T, D))})
    assert_close(unfused, fused)
    kernels = {op for op, _ in why.fused}
    assert {"gru_cell", "gru_cell_grad"} <= kernels, str(why)
    assert any(rule == "gru_sequence_fusion" and node.startswith("rnn/")
               for rule, node, _ in why.unfused), str(why)
