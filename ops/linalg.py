"""``tg.matmul``: the batched matrix product."""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from .constant import convert_pair
from .reduce import unbroadcast
from .shape_rules import broadcast_shapes


def _mT(xp, a):
    return xp.swapaxes(a, -1, -2)


@register_op
class MatMul(Op):
    """Batched matrix product with NumPy batch broadcasting; optional transposes of
    the last two axes of either operand (so gradients need no transpose nodes)."""
    name = "matmul"
    specs = [Spec(lambda a, b: matmul(a, b), [(3, 4), (4, 2)], ref=np.matmul),
             Spec(lambda a, b: matmul(a, b), [(2, 3, 4), (4, 5)], ref=np.matmul),
             Spec(lambda a, b: matmul(a, b, transpose_a=True), [(4, 3), (4, 2)],
                  ref=lambda a, b: a.T @ b),
             Spec(lambda a, b: matmul(a, b, transpose_b=True), [(3, 4), (2, 4)],
                  ref=lambda a, b: a @ b.T),
             Spec(lambda a, b: matmul(a, b, transpose_a=True, transpose_b=True),
                  [(2, 4, 3), (2, 5, 4)], ref=lambda a, b: _mT(np, a) @ _mT(np, b))]

    def infer(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ShapeError("both operands need rank >= 2")
        m, k = (a.shape[-1], a.shape[-2]) if self.transpose_a else a.shape[-2:]
        k2, n = (b.shape[-1], b.shape[-2]) if self.transpose_b else b.shape[-2:]
        if k is not None and k2 is not None and k != k2:
            raise ShapeError(f"inner dimensions differ: {k} vs {k2}")
        if a.dtype != b.dtype:
            raise ShapeError(f"dtypes differ: {a.dtype.name} vs {b.dtype.name}")
        return broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (m, n), a.dtype

    def compute(self, be, a, b):
        xp = be.xp
        return xp.matmul(_mT(xp, a) if self.transpose_a else a,
                         _mT(xp, b) if self.transpose_b else b)

    def vjp(self, node, g):
        a, b = node.inputs
        ta, tb = self.transpose_a, self.transpose_b
        if not ta and not tb:
            ga, gb = matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)
        elif not ta and tb:
            ga, gb = matmul(g, b), matmul(g, a, transpose_a=True)
        elif ta and not tb:
            ga, gb = matmul(b, g, transpose_b=True), matmul(a, g)
        else:
            ga, gb = matmul(b, g, True, True), matmul(g, a, True, True)
        return [unbroadcast(ga, a), unbroadcast(gb, b)]

    def label(self):
        t = ("ᵀ" if self.transpose_a else "", "ᵀ" if self.transpose_b else "")
        return "matmul" if not any(t) else f"matmul(a{t[0]}, b{t[1]})"


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    a, b = convert_pair(a, b, "matmul")
    return apply1(MatMul(transpose_a=bool(transpose_a), transpose_b=bool(transpose_b)),
                  [a, b], name=name)
