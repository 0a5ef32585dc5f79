"""Reverse-mode autodiff that builds gradient graphs.

``gradients`` walks the nodes between ``xs`` and ``ys`` in reverse order and calls
each op's VJP, which is written in tinygraph ops: the result is an ordinary graph,
so it can be run, optimized, pictured and differentiated again. Every node a VJP
builds records the forward node it came from (``node.grad_of``), and every result
records the call that made it (``tensor.grad_record``), so the compiler can take
the gradient again of an optimized forward graph.
"""
from tinygraph.ir.graph import Tensor, provenance, topo_nodes
from tinygraph.ops import add_n, ones_like, zeros_like
from tinygraph.ops.constant import convert_to_tensor


def gradients(ys, xs, grad_ys=None, unconnected_gradients="none"):
    """Symbolic d(sum of ys)/d(xs), like ``tf.gradients``.

    ys, xs:   a Tensor or a list of Tensors.
    grad_ys:  cotangents for ys (default ones).
    unconnected_gradients: "none" gives None where no path exists, "zero" zeros.
    Returns a list of Tensors (or None), one per x.
    """
    ys, xs, grad_ys = _arguments(ys, xs, grad_ys, unconnected_gradients)
    order = topo_nodes(ys)
    x_ids = {x.node.id for x in xs}
    between = _between(order, x_ids)
    cotangents = _Cotangents()
    seeds = [_seed(y, gy) if _differentiable(y) else None for y, gy in zip(ys, grad_ys)]
    for y, seed in zip(ys, seeds):
        if seed is not None:
            cotangents.add(y, seed)
    for node in reversed(order):
        if node.id in between and not (node.id in x_ids and not node.inputs):
            _pull_back(node, cotangents, between)
    result = []
    for x in xs:
        g = cotangents.total(x)
        if g is None and unconnected_gradients == "zero":
            with provenance(x.node):
                g = zeros_like(x)
        result.append(g)
    given = [seed if gy is not None else None for gy, seed in zip(grad_ys, seeds)]
    _record(GradRecord(ys, xs, given, unconnected_gradients), result)
    return result


def _differentiable(t):
    return t.dtype.kind == "f"


def _arguments(ys, xs, grad_ys, unconnected_gradients):
    """``ys``, ``xs`` and ``grad_ys`` as lists of one length each, checked."""
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
    return ys, xs, grad_ys


def _between(order, x_ids):
    """Ids of the nodes that depend on some x (``order`` holds only nodes some y
    depends on): the nodes whose VJPs the gradient needs."""
    reaches_x = set()
    for node in order:
        if node.id in x_ids or (node.op.differentiable and any(
                t.node.id in reaches_x and _differentiable(t) for t in node.inputs)):
            reaches_x.add(node.id)
    return reaches_x


def _seed(y, gy):
    """The cotangent a ``y`` starts with: ``gy`` as a tensor, or ones."""
    with provenance(y.node):
        if gy is None:
            return ones_like(y)
        gy = convert_to_tensor(gy, y.dtype)
    if gy.ndim != y.ndim or any(a is not None and b is not None and a != b
                                for a, b in zip(gy.shape, y.shape)):
        raise ValueError(f"gradients: grad_ys for {y.name!r} has shape {gy.shape}, "
                         f"expected {y.shape}")
    return gy


class _Cotangents:
    """The cotangents reaching each tensor, summed (one add_n) when first read."""

    def __init__(self):
        self.parts = {}      # (node id, output index) -> list of Tensors

    def add(self, t, g):
        self.parts.setdefault((t.node.id, t.index), []).append(g)

    def total(self, t):
        parts = self.parts.get((t.node.id, t.index))
        if not parts:
            return None
        if len(parts) > 1:
            with provenance(t.node):
                parts[:] = [add_n(parts)]
        return parts[0]


def _pull_back(node, cotangents, between):
    """Call ``node``'s VJP on the cotangents of its outputs and pass the results on
    to its inputs."""
    out_grads = [cotangents.total(o) for o in node.outputs]
    if all(g is None for g in out_grads) or not node.op.differentiable:
        return
    with provenance(node):
        if node.op.primal(node.inputs) is not None:
            in_grads = vjp_through_decomposition(node, out_grads)
        elif node.op.vjp_uses_autodiff:
            in_grads = node.op.vjp(node, *out_grads, gradients=gradients)
        else:
            in_grads = node.op.vjp(node, *out_grads)
    if len(in_grads) != len(node.inputs):
        raise RuntimeError(f"VJP of {node.op.name} returned {len(in_grads)} gradients "
                           f"for {len(node.inputs)} inputs")
    for t, g in zip(node.inputs, in_grads):
        if g is not None and t.node.id in between and _differentiable(t):
            cotangents.add(t, g)


# ----------------------------------------------------------------------- fused ops
# A forward fused op declares ``decompose(inputs)`` (its math in primitive ops); a
# fused backward op declares ``primal(inputs)`` (the forward op whose VJP it is): its
# decomposition is that VJP, taken here of the forward op's decomposition, so fused
# ops are differentiable to any order without a second copy of their math.

def decompose(op, inputs):
    """``op``'s outputs rebuilt from primitive ops on ``inputs``, or None."""
    parts = op.decompose(list(inputs))
    if parts is not None:
        return list(parts)
    primal = op.primal(list(inputs))
    if primal is None:
        return None
    forward, xs, cotangents = primal
    outs = decompose(forward, xs)
    keep = [k for k, g in enumerate(cotangents) if g is not None]
    return gradients([outs[k] for k in keep], list(xs), grad_ys=[cotangents[k] for k in keep],
                     unconnected_gradients="zero")


def vjp_through_decomposition(node, grads):
    """The VJP of a fused backward op: its decomposition, differentiated."""
    inputs = list(node.inputs)
    outs = decompose(node.op, inputs)
    keep = [k for k, g in enumerate(grads) if g is not None and outs[k].dtype.kind == "f"]
    if not keep:
        return [None] * len(inputs)
    return gradients([outs[k] for k in keep], inputs, grad_ys=[grads[k] for k in keep])


class GradRecord:
    """One ``gradients`` call: its ys, xs, grad_ys (Tensors, None for ones) and
    ``unconnected`` choice. The backward-fusion stage takes the same gradient again
    of an optimized forward graph (how fused forward ops get fused backward ops)."""

    def __init__(self, ys, xs, grad_ys, unconnected):
        self.ys, self.xs, self.grad_ys, self.unconnected = ys, xs, grad_ys, unconnected


def _record(rec, result):
    """Each result a VJP built (not a user tensor passed through) keeps its record:
    the record is freed with the gradient graph."""
    for i, g in enumerate(result):
        if g is not None and g.node.grad_of is not None:
            g.grad_record = (rec, i)
