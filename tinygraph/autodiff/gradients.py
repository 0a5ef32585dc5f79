"""Reverse-mode autodiff that builds gradient graphs.

``gradients`` walks the nodes between ``xs`` and ``ys`` in reverse order and calls
each op's VJP, which is written in tinygraph ops: the result is an ordinary graph,
so it can be run, optimized, pictured and differentiated again. Every node a VJP
builds records the forward node it came from (``node.grad_of``).
"""
from tinygraph.ir.graph import Tensor, provenance, topo_nodes


def _differentiable(t):
    return t.dtype.kind == "f"


def gradients(ys, xs, grad_ys=None, unconnected_gradients="none"):
    """Symbolic d(sum of ys)/d(xs), like ``tf.gradients``.

    ys, xs:   a Tensor or a list of Tensors.
    grad_ys:  cotangents for ys (default ones).
    unconnected_gradients: "none" gives None where no path exists, "zero" zeros.
    Returns a list of Tensors (or None), one per x.
    """
    from tinygraph.ops import add_n, ones_like, zeros_like
    from tinygraph.ops.constant import convert_to_tensor
    if unconnected_gradients not in ("none", "zero"):
        raise ValueError("gradients: unconnected_gradients must be 'none' or 'zero', "
                         f"got {unconnected_gradients!r}")
    ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    xs = list(xs) if isinstance(xs, (list, tuple)) else [xs]
    for t in ys + xs:
        if not isinstance(t, Tensor):
            raise TypeError(f"gradients: expected Tensors, got {type(t).__name__}")
    if grad_ys is None:
        grad_ys = [None] * len(ys)
    grad_ys = list(grad_ys) if isinstance(grad_ys, (list, tuple)) else [grad_ys]
    if len(grad_ys) != len(ys):
        raise ValueError(f"gradients: {len(ys)} ys but {len(grad_ys)} grad_ys")

    order = topo_nodes(ys)
    x_ids = {x.node.id for x in xs}
    # Nodes that depend on some x (forward reachable) and on which some y depends.
    reaches_x = set()
    for node in order:
        if node.id in x_ids or (node.op.differentiable and any(
                t.node.id in reaches_x and _differentiable(t) for t in node.inputs)):
            reaches_x.add(node.id)

    cotangents = {}        # (node id, output index) -> list of Tensors

    def add(t, g):
        cotangents.setdefault((t.node.id, t.index), []).append(g)

    for y, gy in zip(ys, grad_ys):
        if not _differentiable(y):
            continue
        if gy is None:
            with provenance(y.node):
                gy = ones_like(y)
        else:
            with provenance(y.node):
                gy = convert_to_tensor(gy, y.dtype)
            if gy.ndim != y.ndim or any(a is not None and b is not None and a != b
                                        for a, b in zip(gy.shape, y.shape)):
                raise ValueError(f"gradients: grad_ys for {y.name!r} has shape {gy.shape}, "
                                 f"expected {y.shape}")
        add(y, gy)

    def total(t):
        parts = cotangents.get((t.node.id, t.index))
        if not parts:
            return None
        if len(parts) > 1:
            with provenance(t.node):
                parts[:] = [add_n(parts)]
        return parts[0]

    for node in reversed(order):
        if node.id not in reaches_x or node.id in x_ids and not node.inputs:
            continue
        out_grads = [total(o) for o in node.outputs]
        if all(g is None for g in out_grads) or not node.op.differentiable:
            continue
        with provenance(node):
            in_grads = node.op.vjp(node, *out_grads) if len(out_grads) > 1 else \
                node.op.vjp(node, out_grads[0])
        if len(in_grads) != len(node.inputs):
            raise RuntimeError(f"VJP of {node.op.name} returned {len(in_grads)} gradients "
                               f"for {len(node.inputs)} inputs")
        for t, g in zip(node.inputs, in_grads):
            if g is not None and t.node.id in reaches_x and _differentiable(t):
                add(t, g)

    result = []
    for x in xs:
        g = total(x)
        if g is None and unconnected_gradients == "zero":
            with provenance(x.node):
                g = zeros_like(x)
        result.append(g)
    _record(ys, xs, grad_ys, unconnected_gradients, result)
    return result


class GradRecord:
    """One ``gradients`` call, kept so passes can re-derive its result from an
    optimized forward graph (how fused forward ops get fused backward ops)."""

    def __init__(self, ys, xs, grad_ys, unconnected):
        self.ys, self.xs, self.grad_ys, self.unconnected = ys, xs, grad_ys, unconnected


def _record(ys, xs, grad_ys, unconnected, result):
    from tinygraph.ir.graph import get_default_graph
    given = [g if isinstance(g, Tensor) else None for g in grad_ys]
    rec = GradRecord(list(ys), list(xs), given, unconnected)
    records = get_default_graph().grad_records
    for i, g in enumerate(result):
        if g is not None and g.node.grad_of is not None:     # built here, not a user tensor
            records[(g.node.id, g.index)] = (rec, i)
