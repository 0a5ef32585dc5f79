"""``to_networkx``: the graph that fetches reach as a ``networkx.DiGraph``."""
import networkx as nx

from tinygraph.ir.graph import Node, topo_nodes

from .dot import roots_of


def to_networkx(fetches):
    """A ``networkx.DiGraph`` with one node per graph Node that ``fetches`` reach.

    Node key: the node's name. Attributes: op (registered lower-case op name),
    shape (first output's shape, or None), dtype (str or None), name, scope, label,
    grad_of (forward node's name or None), fused (bool), id. Edges run input ->
    consumer with kind ("data" or "control"), index (first input position, None for
    control), indices (all positions, when a tensor is used twice) and output (the
    producer's output index). ``G.graph["fetches"]`` lists the fetched node keys.
    """
    roots = roots_of(fetches)
    nodes = topo_nodes(roots)
    g = nx.DiGraph()
    key = {}
    for n in nodes:
        k = n.name if n.name not in g else f"{n.name}#{n.id}"
        key[n.id] = k
        out = n.outputs[0] if n.outputs else None
        g.add_node(k, op=n.op.name, shape=out.shape if out is not None else None,
                   dtype=out.dtype.name if out is not None else None, name=n.name,
                   scope=n.scope, label=n.op.label(),
                   grad_of=n.grad_of.name if n.grad_of is not None else None,
                   fused=bool(n.op.fused), id=n.id)
    for n in nodes:
        v = key[n.id]
        for pos, t in enumerate(n.inputs):
            u = key[t.node.id]
            if g.has_edge(u, v) and g[u][v]["kind"] == "data":
                g[u][v]["indices"] += (pos,)
            else:
                g.add_edge(u, v, kind="data", index=pos, indices=(pos,), output=t.index)
        for c in n.control_inputs:
            if not g.has_edge(key[c.id], v):
                g.add_edge(key[c.id], v, kind="control", index=None, indices=(), output=None)
    g.graph["fetches"] = [key[(r if isinstance(r, Node) else r.node).id] for r in roots]
    return g
