"""Reductions, matmul, and the softmax family."""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from ._util import as_tensor, convert_pair, norm_axes, require_float
from .math import BroadcastLike, cast, equal, exp, log, stop_gradient


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _restore_dims(g, axes, keepdims):
    """Give a reduced gradient back the reduced axes (as size 1)."""
    from tinygraph.ops.array import expand_dims
    if not keepdims:
        for a in axes:
            g = expand_dims(g, a)
    return g


class Reduce(Op):
    def infer(self, x):
        axes = norm_axes(self.axis, x.ndim)
        return _reduced_shape(x.shape, axes, self.keepdims), x.dtype


@register_op
class ReduceSum(Reduce):
    name = "reduce_sum"
    specs = [Spec(lambda x: reduce_sum(x), [(3, 4)], ref=np.sum),
             Spec(lambda x: reduce_sum(x, axis=1), [(3, 4, 2)], ref=lambda x: x.sum(1)),
             Spec(lambda x: reduce_sum(x, axis=(0, 2), keepdims=True), [(3, 4, 2)],
                  ref=lambda x: x.sum((0, 2), keepdims=True))]

    def compute(self, be, x):
        return be.xp.sum(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, node, g):
        x = node.inputs[0]
        axes = norm_axes(self.axis, x.ndim)
        return [BroadcastLike.make(_restore_dims(g, axes, self.keepdims), x)]


@register_op
class ReduceMax(Reduce):
    """Max over axes; the gradient is shared equally among tied maxima (as TF)."""
    name = "reduce_max"
    specs = [Spec(lambda x: reduce_max(x, axis=1), [(3, 5)], ref=lambda x: x.max(1)),
             Spec(lambda x: reduce_max(x), [(3, 5)], ref=np.max)]

    def compute(self, be, x):
        return be.xp.max(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, node, g):
        x = node.inputs[0]
        axes = norm_axes(self.axis, x.ndim)
        y = _restore_dims(node.out, axes, self.keepdims)
        hit = cast(equal(x, BroadcastLike.make(y, x)), x.dtype)
        count = reduce_sum(hit, axis=axes, keepdims=True)
        return [hit * BroadcastLike.make(_restore_dims(g, axes, self.keepdims) / count, x)]


def _reduce(cls, x, axis, keepdims, name):
    x = as_tensor(x)
    if axis is not None and not isinstance(axis, (int, np.integer)):
        axis = tuple(int(a) for a in axis)
    try:
        norm_axes(axis, x.ndim)
    except ShapeError as e:
        raise ShapeError(f"{cls.name}: {e} (tensor {x.name!r} {x.shape})") from None
    return apply1(cls(axis=axis, keepdims=bool(keepdims)), [x], name=name)


def reduce_sum(x, axis=None, keepdims=False, name=None):
    return _reduce(ReduceSum, x, axis, keepdims, name)


def reduce_max(x, axis=None, keepdims=False, name=None):
    return _reduce(ReduceMax, x, axis, keepdims, name)


@register_op
class Count(Op):
    """How many elements ``reduce_*`` over ``axis`` combines, as a scalar of x's dtype."""
    name = "count"
    differentiable = False
    specs = [Spec(lambda x: Count.make(x, (0,)) * x, [(3, 2)], ref=lambda x: 3 * x)]

    @staticmethod
    def make(x, axes):
        return apply1(Count(axes=tuple(axes)), [x])

    def infer(self, x):
        return (), x.dtype

    def compute(self, be, x):
        return be.xp.asarray(np.prod([x.shape[a] for a in self.axes]), dtype=x.dtype)


def reduce_mean(x, axis=None, keepdims=False, name=None):
    """Mean over axes: a sum divided by the element count (a composite)."""
    x = as_tensor(x)
    require_float("reduce_mean", x)
    total = reduce_sum(x, axis, keepdims)
    axes = norm_axes(axis if axis is None or isinstance(axis, (int, np.integer)) else tuple(axis), x.ndim)
    dims = [x.shape[a] for a in axes]
    n = float(np.prod(dims)) if None not in dims else Count.make(x, axes)
    return total / n


# ----------------------------------------------------------------------- matmul

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
        from ._util import broadcast_shapes
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
        from .math import unbroadcast
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


# ----------------------------------------------------------------------- softmax family

def log_softmax(x, axis=-1):
    """x - logsumexp(x), stable: the max is subtracted first (a composite)."""
    x = as_tensor(x)
    shifted = x - stop_gradient(reduce_max(x, axis=axis, keepdims=True))
    return shifted - log(reduce_sum(exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)), stable (a composite)."""
    x = as_tensor(x)
    e = exp(x - stop_gradient(reduce_max(x, axis=axis, keepdims=True)))
    return e / reduce_sum(e, axis=axis, keepdims=True)


def logsumexp(x, axis=None, keepdims=False):
    x = as_tensor(x)
    m = stop_gradient(reduce_max(x, axis=axis, keepdims=True))
    out = log(reduce_sum(exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        from tinygraph.ops.array import squeeze
        out = squeeze(out, norm_axes(axis, x.ndim))
    return out
