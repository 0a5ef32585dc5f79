"""Closed subgraphs: the body of a loop (and, later, of a fused op).

``trace(fn, specs)`` calls ``fn`` once on fresh placeholders and closes the result
over whatever outer tensors it read (weights, masks): those become extra inputs
("captures"). Nodes of ``fn`` that do not depend on the per-call placeholders are
left outside, so a loop computes them once instead of at every step.
"""
from tinygraph.ir.graph import Tensor, topo_nodes
from tinygraph.ir.placeholder import new_placeholder
from tinygraph.ir.rebuild import substitute


class Function:
    """``outputs`` as a function of ``inputs`` (placeholder Tensors) only."""

    def __init__(self, inputs, outputs, name="function"):
        self.inputs, self.outputs, self.name = list(inputs), list(outputs), name

    def __repr__(self):
        return f"<Function {self.name}: {len(self.inputs)} inputs, {len(self.outputs)} outputs>"

    def inline(self, args):
        """The outputs rebuilt on ``args`` in place of the inputs (graph copy)."""
        if len(args) != len(self.inputs):
            raise ValueError(f"{self.name}: expected {len(self.inputs)} arguments, got {len(args)}")
        mapping = {(p.node.id, p.index): a for p, a in zip(self.inputs, args)}
        return substitute(self.outputs, mapping)


def trace(fn, arg_specs, name="body"):
    """Trace ``fn(*placeholders)`` into a Function.

    arg_specs: list of (shape, dtype, name) for the placeholders. ``fn`` returns a flat
    list of Tensors. Returns (Function, captures): the Function's inputs are the
    placeholders followed by one placeholder per captured outer tensor, in the order
    of ``captures``."""
    params = [new_placeholder(s, d, n) for s, d, n in arg_specs]
    outs = fn(*params)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"{name}: the traced function must return Tensors, got {type(o).__name__}")
    param_ids = {p.node.id for p in params}
    inner = set(param_ids)
    nodes = topo_nodes(outs)
    for n in nodes:
        if any(t.node.id in inner for t in n.inputs):
            inner.add(n.id)
    captures, seen = [], set()

    def capture(t):
        key = (t.node.id, t.index)
        if key not in seen and not t.node.op.is_constant:
            seen.add(key)
            captures.append(t)

    for n in nodes:
        if n.id in inner:
            for t in n.inputs:
                if t.node.id not in inner:
                    capture(t)
            if n.control_inputs:
                raise ValueError(f"{name}: control dependencies are not allowed inside a loop body "
                                 f"({n.name!r})")
            if n.op.assigns is not None:
                raise ValueError(f"{name}: Variable updates are not allowed inside a loop body "
                                 f"({n.name!r})")
    for o in outs:                       # an output that does not depend on the step
        if o.node.id not in inner:
            capture(o)
    cap_params = [new_placeholder(t.shape, t.dtype, f"{name}_capture") for t in captures]
    mapping = {(t.node.id, t.index): p for t, p in zip(captures, cap_params)}
    closed = substitute(outs, mapping)
    return Function(params + cap_params, closed, name), captures
