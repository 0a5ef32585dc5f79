"""What an expanded box shows: a loop's body, or a fused op's decomposition (its
math in primitive ops), and which boxes ``expand`` opens.

A decomposition is traced in a scratch graph, on placeholders shaped like the
node's inputs, once per picture: drawing never adds nodes to the user's graph."""
import warnings

from tinygraph.autodiff import decompose
from tinygraph.ir.function import trace
from tinygraph.ir.graph import Graph, Node, Tensor, name_scope, topo_nodes

from .grouping import as_list


class Bodies:
    """Node -> its body (a Function) or None, for one picture."""

    def __init__(self):
        self._found = {}

    def of(self, node):
        if node not in self._found:
            self._found[node] = node.op.body if node.op.body is not None else \
                _decomposition(node) if node.op.fused else None
        return self._found[node]


def _decomposition(node):
    op = node.op
    specs = [(t.shape, t.dtype, f"arg{i}") for i, t in enumerate(node.inputs)]
    with Graph().as_default(), name_scope(op.name):
        fn, _ = trace(lambda *args: decompose(op, args) or [], specs,
                      name=f"{op.name} decomposition")
    return fn if fn.outputs else None


def body_nodes(body, stop, outer):
    """The nodes of ``body`` (reached from its outputs), not crossing ``stop`` ids or
    nodes the enclosing picture already draws."""
    seen, found = set(stop), []
    stack = [t.node for t in body.outputs]
    while stack:
        n = stack.pop()
        if n.id in seen or outer.find(n) is not None:
            continue
        seen.add(n.id)
        found.append(n)
        stack.extend(t.node for t in n.inputs)
        stack.extend(n.control_inputs)
    return sorted(found, key=lambda n: n.id)


def expander(expand, nodes, bodies):
    """A predicate Node -> bool from the ``expand`` argument."""
    if expand is True:
        return lambda n: True
    names = {x.name if isinstance(x, Node) else x.node.name if isinstance(x, Tensor) else str(x)
             for x in as_list(expand)}
    if names:
        known = set()
        for n in nodes:
            known.update((n.name, n.op.name))
            body = bodies.of(n)
            if body is not None:
                for m in topo_nodes(body.outputs):
                    known.update((m.name, m.op.name))
        missing = sorted(names - known)
        if missing:
            warnings.warn(f"to_dot: expand={missing} matches no node or op in the picture",
                          stacklevel=3)
    return lambda n: n.name in names or n.op.name in names
