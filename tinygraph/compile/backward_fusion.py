"""Backward fusion: the gradients of a graph taken again, on its optimized forward.

The fusion passes rewrite forward math (LSTM gate math becomes fused ops), but a
gradient that ``tg.gradients`` built before still holds the VJPs of the primitive
ops. This stage (its report row is named ``regrad``) cuts every gradient that
records its ``tg.gradients`` call (``tensor.grad_record``) out of the graph, lets
the pipeline optimize the forward, takes the gradients again on the optimized
forward (fused ops have fused VJPs) and lets the pipeline run once more over the
whole. Hash-consing makes the new backward read the very fused forward nodes the
fetches use, so the forward is computed once.

Kept as they were built: gradients of gradients (their ys depend on another
recorded gradient) and gradients with respect to intermediate tensors (a fused op
could take such an x in as its own output and lose the paths from x inside the
op: c_t -> h_t of one LSTM step).
"""
from tinygraph.autodiff import gradients
from tinygraph.compile.rewrite import Event
from tinygraph.ir.graph import topo_nodes
from tinygraph.ir.placeholder import new_placeholder
from tinygraph.ir.rebuild import substitute, tensor_key
from tinygraph.ops.sources import zeros_like

STAGE = "regrad"


def backward_fusion(roots, run):
    """Run the pipeline ``run(roots) -> (roots, Report)`` with every gradient it can
    take again re-derived on the optimized forward; returns the same pair, the
    Report holding the first run's rows, this stage's row and the second run's."""
    groups, events = _recorded_gradients(roots)
    if not groups:
        return run(roots)
    holes = {tensor_key(g): new_placeholder(g.shape, g.dtype, "gradient")
             for _, uses in groups for g, _ in uses}
    # a constant the gradients are taken with respect to stands in as a placeholder
    # while the forward is optimized: folding would absorb it into its users, and the
    # gradient taken again would be zero
    consts = {tensor_key(x): x for rec, _ in groups for x in rec.xs if x.node.op.is_constant}
    stand_ins = {k: new_placeholder(x.shape, x.dtype, "constant") for k, x in consts.items()}
    forward = [t for rec, _ in groups for t in _forward(rec)]
    optimized, report = run(substitute(roots + forward, {**holes, **stand_ins}))
    before = len(topo_nodes(optimized))
    fill = _rederive(groups, holes, optimized[len(roots):], events)
    filled = substitute(substitute(optimized[:len(roots)], fill),
                        {tensor_key(stand_ins[k]): consts[k] for k in consts})
    report.passes.append((STAGE, before, len(topo_nodes(filled)), events))
    final, second = run(filled)
    report.passes += second.passes
    return final, report


def _forward(rec):
    """The tensors a gradient call reads: its ys, xs and given grad_ys."""
    return rec.ys + rec.xs + [g for g in rec.grad_ys if g is not None]


def _recorded_gradients(roots):
    """The gradients in the graph of ``roots`` that can be taken again, grouped by
    their call: [(GradRecord, [(tensor, index in the call's result)])] in graph
    order, and an Event for each call kept as built."""
    groups, kept, events = {}, set(), []
    for node in topo_nodes(roots):
        for g in node.outputs:
            if g.grad_record is None or g.grad_record[0] in kept:
                continue
            rec, i = g.grad_record
            if rec not in groups:
                reason = _why_kept(rec)
                if reason:
                    kept.add(rec)
                    events.append(Event(STAGE, node.name, False, reason))
                    continue
                groups[rec] = []
            groups[rec].append((g, i))
    return list(groups.items()), events


def _why_kept(rec):
    if any(o.grad_record is not None for n in topo_nodes(_forward(rec)) for o in n.outputs):
        return "a gradient of a gradient: kept as built"
    if any(x.node.inputs for x in rec.xs):
        return ("taken with respect to an intermediate tensor, which a fused op could "
                "absorb: kept as built")
    return ""


def _rederive(groups, holes, optimized_forward, events):
    """{hole key: the gradient taken again on the optimized forward}."""
    rest = iter(optimized_forward)
    fill = {}
    for rec, uses in groups:
        ys = [next(rest) for _ in rec.ys]
        xs = [next(rest) for _ in rec.xs]
        grad_ys = [next(rest) if g is not None else None for g in rec.grad_ys]
        new = gradients(ys, xs, grad_ys, rec.unconnected)
        for g, i in uses:
            fill[tensor_key(holes[tensor_key(g)])] = new[i] if new[i] is not None else zeros_like(xs[i])
            events.append(Event(STAGE, g.node.name, True))
    return fill
