"""Dead-code elimination inside loops.

The graph is what the fetches reach, so a node nothing reads is gone already. A
loop is different: a scan runs its whole body at every step, so a per-step output
or a carry that nothing reads still costs work at every step (the gradient of a
layer computes d/dx_t at every step even when only d/dW is fetched). DCE rebuilds
such a loop with a smaller body: it keeps the per-step outputs that are read, the
carries whose final value or history is read or that a kept output depends on,
and the sequences and captured tensors the smaller body still reads. Loops inside
loop bodies are cleaned the same way.
"""
from tinygraph.compile.rewrite import Event
from tinygraph.ir.function import Function
from tinygraph.ir.graph import Tensor, apply, topo_nodes
from tinygraph.ir.rebuild import substitute
from tinygraph.ops.scan import Scan


def dce(roots):
    """The pass: (new roots, one Event per loop made smaller)."""
    events = []
    while True:             # a smaller loop may stop reading another loop's outputs
        nodes = topo_nodes(roots)
        read = {(t.node.id, t.index) for n in nodes for t in n.inputs}
        read |= {(r.node.id, r.index) for r in roots if isinstance(r, Tensor)}
        # loops fetched as ops or run for their effect stay whole: they stay in the graph
        whole = {r.id for r in roots if not isinstance(r, Tensor)}
        whole |= {c.id for n in nodes for c in n.control_inputs}
        mapping = {}
        for node in nodes:
            if isinstance(node.op, Scan) and node.id not in whole:
                mapping.update(_smaller_loop(node, read, events))
        if not mapping:
            return roots, events
        roots = substitute(roots, mapping)


def _params_read(outputs, params):
    """Positions in ``params`` (a body's inputs) of those ``outputs`` depend on."""
    ids = {n.id for n in topo_nodes(outputs)}
    return {k for k, p in enumerate(params) if p.node.id in ids}


def _carries_needed(carries, ys, op):
    """``carries`` and every carry that a kept body output reads, transitively."""
    nc, outs, params = op.n_carry, op.body.outputs, op.body.inputs
    while True:
        wanted = [outs[i] for i in sorted(carries)] + [outs[nc + j] for j in ys]
        more = {k for k in _params_read(wanted, params) if k < nc} - carries
        if not more:
            return sorted(carries)
        carries = carries | more


def _smaller_loop(node, read, events):
    """{old output key: new output} for ``node`` rebuilt without what nothing
    reads; empty when it is as small as it gets."""
    op = node.op
    nc, ns, ny = op.n_carry, op.n_seq, op.n_ys
    params, outs = op.body.inputs, op.body.outputs
    used = [(node.id, i) in read for i in range(len(node.outputs))]
    ys = [j for j in range(ny) if used[nc + j]]
    carries = _carries_needed({i for i in range(nc) if used[i] or used[nc + ny + i]}, ys, op)
    wanted = [outs[i] for i in carries] + [outs[nc + j] for j in ys]
    body_outs, inner_events = dce(wanted)
    reads = _params_read(body_outs, params)
    # a loop without sequences takes its length from ``op.length``: keep one sequence
    seqs = [k for k in range(ns) if nc + k in reads] or list(range(min(ns, 1)))
    caps = [m for m in range(len(params) - nc - ns) if nc + ns + m in reads]
    unchanged = all(a is b for a, b in zip(body_outs, outs)) and len(body_outs) == len(outs) \
        and len(seqs) == ns and len(caps) == len(params) - nc - ns
    if unchanged or not wanted:
        return {}
    keep = carries + [nc + k for k in seqs] + [nc + ns + m for m in caps]
    body = Function([params[k] for k in keep], body_outs, op.body.name)
    smaller = Scan(**dict(op.attrs, body=body, n_carry=len(carries), n_seq=len(seqs),
                          n_ys=len(ys)))
    new = apply(smaller, [node.inputs[k] for k in keep], exact_name=node.name,
                scope=node.scope, grad_of=node.grad_of)
    old = [node.outputs[i] for i in carries] + [node.outputs[nc + j] for j in ys] + \
        [node.outputs[nc + ny + i] for i in carries]
    events += inner_events
    events.append(Event("dce", node.name, True, data={
        "carries": (nc, len(carries)), "ys": (ny, len(ys)), "sequences": (ns, len(seqs)),
        "captures": (len(params) - nc - ns, len(caps))}))
    return {(o.node.id, o.index): n for o, n in zip(old, new.outputs)}
