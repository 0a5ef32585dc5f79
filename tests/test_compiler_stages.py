"""The compiler's stages: the pipeline as one list, op capabilities declared on the
Op base, gradient records that die with their gradient graphs, the backward-fusion
stage's report row, and DCE inside loops."""
import gc
import weakref

import numpy as np

import tinygraph as tg
from tinygraph.compile import pipeline
from tinygraph.compile.backward_fusion import STAGE
from tinygraph.ir.graph import topo_nodes
from tinygraph.ir.op import Op
from tinygraph.ops.lstm import LSTMCellOp
from tinygraph.ops.scan import Scan
from tinygraph.ops.state import Assign


def test_the_pipeline_is_one_list_in_order():
    assert [p.name for p in pipeline.PIPELINE] == [
        "constant_folding", "cse", "algebraic", "lstm_cell_fusion", "lstm_sequence_fusion", "dce"]
    assert pipeline.FUSION_PASSES == ("lstm_cell_fusion", "lstm_sequence_fusion")


def test_capabilities_have_defaults_on_the_op_base():
    base = Op()
    assert (base.fused, base.needs_output_mask, base.body, base.assigns) == (False, False, None, None)
    assert not base.is_placeholder and not base.is_constant and base.decompose([]) is None
    x = tg.placeholder((4, 2), "float64")
    _, ys = tg.scan(lambda c, x_t: (c + x_t, c), x, tg.zeros((2,), "float64"))
    loop = ys.node.op
    assert isinstance(loop, Scan) and loop.body is not None and loop.needs_output_mask
    assert LSTMCellOp.fused and x.node.op.is_placeholder and tg.constant(1.0).node.op.is_constant
    v = tg.Variable(np.zeros(2))
    update = v.assign(np.ones(2))
    assert isinstance(update.op, Assign) and update.op.assigns is v


def _build_and_drop_gradients(n):
    """Weak references to the forward nodes, gradient nodes and records of ``n``
    gradient graphs, all dropped again."""
    refs = []
    for _ in range(n):
        x = tg.placeholder((3,), "float64")
        y = tg.reduce_sum(tg.tanh(x) * x)
        (gx,) = tg.gradients(y, [x])
        refs += [weakref.ref(y.node), weakref.ref(gx.node), weakref.ref(gx.grad_record[0])]
    return refs


def test_dropped_gradient_graphs_are_freed():
    """The graph that built them stays; the gradient graphs and their records go."""
    graph = tg.Graph()
    with graph.as_default():
        refs = _build_and_drop_gradients(50)
    gc.collect()
    alive = [r for r in refs if r() is not None]
    assert not alive, f"{len(alive)} of {len(refs)} nodes and records outlive their graphs"
    assert not [name for name in vars(graph) if "record" in name]


def test_backward_fusion_reports_its_row_with_true_node_counts(rng):
    x = tg.placeholder((None, 3), "float64")
    w = tg.Variable(rng.standard_normal((3, 2)), name="w")
    y = tg.reduce_sum(tg.tanh(x @ w) * 1.0)
    grads = tg.gradients(y, [w])
    out, report = tg.optimize([y] + grads, return_report=True)
    names = [row[0] for row in report.passes]
    k = names.index(STAGE)
    assert names == pipeline.DEFAULT_PIPELINE + [STAGE] + pipeline.DEFAULT_PIPELINE
    _, before, after, events = report.passes[k]
    assert before == report.passes[k - 1][2] and after == report.passes[k + 1][1]
    assert before > 0 and after > before            # the gradient is back in the graph
    assert [e.fired for e in events] == [True]
    assert f"{STAGE}: {before} -> {after} nodes, 1 rewrites" in str(report)


def test_numpy_grad_ys_are_kept_when_gradients_are_taken_again():
    x = tg.placeholder((3,), "float64")
    (g,) = tg.gradients(tg.tanh(x) * 2.0, [x], grad_ys=np.array([1.0, 10.0, 100.0]))
    feed = {x: np.array([0.1, 0.2, 0.3])}
    np.testing.assert_allclose(tg.Session(optimize=True).run(g, feed),
                               tg.Session(optimize=False).run(g, feed), rtol=1e-12)


def _loops(fetches):
    return [n for n in topo_nodes(fetches) if isinstance(n.op, Scan)]


def test_dce_drops_per_step_outputs_and_carries_nothing_reads(rng):
    x, w = tg.placeholder((5, 3), "float64"), tg.placeholder((3,), "float64")

    def step(carry, x_t):
        h, count = carry
        h = tg.tanh(h * w + x_t)
        return (h, count + 1.0), (h * 2.0, tg.exp(x_t))

    (_, _), (doubled, _) = tg.scan(step, x, (tg.zeros((3,), "float64"), tg.zeros((), "float64")))
    y = tg.reduce_sum(doubled)          # the final carries and exp(x_t) are read by nobody
    (after,), report = tg.optimize([y], passes=["dce"], return_report=True)
    (loop,) = _loops([after])
    # h stays (the kept output reads it), the counter goes, exp(x_t) goes
    assert (loop.op.n_carry, loop.op.n_ys) == (1, 1)
    assert "exp" not in {n.op.name for n in topo_nodes(loop.op.body.outputs)}
    assert [e.rule for e in report.events] == ["dce"]
    feed = {x: rng.standard_normal((5, 3)), w: rng.standard_normal(3)}
    np.testing.assert_array_equal(tg.Session(optimize=False).run(after, feed),
                                  tg.Session(optimize=False).run(y, feed))


def test_dce_drops_the_per_step_input_gradient_nobody_fetched(rng):
    """d/dw of a loop: its reverse loop no longer computes d/dx_t at every step."""
    x, w = tg.placeholder((5, 3), "float64"), tg.placeholder((3,), "float64")
    final, _ = tg.scan(lambda h, x_t: (tg.tanh(h * w + x_t), None), x, tg.zeros((3,), "float64"))
    (gw,) = tg.gradients(tg.reduce_sum(final), [w])
    (after,) = tg.optimize([gw], passes=["dce"])
    ys_before = {n.name: n.op.n_ys for n in _loops([gw])}
    ys_after = {n.name: n.op.n_ys for n in _loops([after])}
    assert ys_after.keys() == ys_before.keys()
    assert sum(ys_after.values()) < sum(ys_before.values())
    feed = {x: rng.standard_normal((5, 3)), w: rng.standard_normal(3)}
    np.testing.assert_array_equal(tg.Session(optimize=False).run(after, feed),
                                  tg.Session(optimize=False).run(gw, feed))
