"""Rebuilding a graph with some tensors replaced (graphs are immutable)."""
from tinygraph.ir.graph import Tensor, apply, topo_nodes


def tensor_key(t):
    """(node id, output index): how mappings and plans name a tensor."""
    return (t.node.id, t.index)




def substitute(roots, mapping, force=False):
    """Rebuild ``roots`` with tensors replaced per ``mapping`` ((node id, index) ->
    Tensor). Replacements may themselves read replaced tensors (rules of one round
    build them on the old graph): those are followed too. Nodes downstream of a
    replacement are rebuilt (keeping name, scope and provenance); ``force`` rebuilds
    every node, which merges identical ones (CSE)."""
    def target(t):
        hops = 0
        while tensor_key(t) in mapping:
            t = mapping[tensor_key(t)]
            hops += 1
            if hops > len(mapping):
                raise RuntimeError("substitute: the replacements form a cycle")
        return t

    def deps(n):
        return list(n.control_inputs) + [target(t).node for t in n.inputs]

    # the graph as it is after replacement, inputs first
    order = topo_nodes([target(r) if isinstance(r, Tensor) else r for r in roots], deps)

    rebuilt = {}

    def resolve(t):
        t = target(t)
        new = rebuilt.get(t.node.id)
        return t if new is None else new.outputs[t.index]

    for node in order:
        ins = [resolve(t) for t in node.inputs]
        ctrl = [rebuilt.get(c.id, c) for c in node.control_inputs]
        changed = any(a is not b for a, b in zip(ins, node.inputs)) or any(
            a is not b for a, b in zip(ctrl, node.control_inputs))
        if not (changed or (force and node.inputs)):
            continue
        rebuilt[node.id] = apply(node.op, ins, control_inputs=ctrl, unique=node.op.stateful,
                                 exact_name=node.name, scope=node.scope, grad_of=node.grad_of)
    return [resolve(r) if isinstance(r, Tensor) else rebuilt.get(r.id, r) for r in roots]
