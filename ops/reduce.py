"""Reductions (reduce_sum, reduce_max, reduce_mean) and broadcasting, which is the
gradient of a sum: ``broadcast_like``, ``sum_like`` and ``unbroadcast``, the one
place where broadcasting is undone."""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from .array import expand_dims
from .cast import cast
from .compare import equal
from .constant import convert_to_tensor
from .dtypes import require_float
from .shape_rules import broadcast_shapes, norm_axes


# ----------------------------------------------------------------------- broadcasting

@register_op
class SumLike(Op):
    """Sum ``x`` down to the run-time shape of ``like`` (undoes a broadcast)."""
    name = "sum_like"
    specs = [Spec(lambda x, y: SumLike.make(x, y), [(4, 3), (1, 3)], order=2,
                  ref=lambda x, y: x.sum(0, keepdims=True))]

    @staticmethod
    def make(x, like):
        return apply1(SumLike(), [x, like])

    def infer(self, x, like):
        broadcast_shapes(x.shape, like.shape)
        return like.shape, x.dtype

    def compute(self, be, x, like):
        return _sum_to(be.xp, x, like.shape)

    def vjp(self, node, g):
        return [BroadcastLike.make(g, node.inputs[0]), None]


@register_op
class BroadcastLike(Op):
    """Broadcast ``x`` to the run-time shape of ``like``."""
    name = "broadcast_like"
    specs = [Spec(lambda x, y: BroadcastLike.make(x, y), [(1, 3), (4, 3)], order=2,
                  ref=lambda x, y: np.broadcast_to(x, y.shape))]

    @staticmethod
    def make(x, like):
        return apply1(BroadcastLike(), [x, like])

    def infer(self, x, like):
        return broadcast_shapes(x.shape, like.shape), x.dtype

    def compute(self, be, x, like):
        return be.xp.broadcast_to(x, be.xp.broadcast_shapes(x.shape, like.shape))

    def vjp(self, node, g):
        return [SumLike.make(g, node.inputs[0]), None]


def _sum_to(xp, x, shape):
    if x.shape == tuple(shape):
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and x.shape[lead + i] != 1)
    return xp.sum(x, axis=axes, keepdims=True, dtype=x.dtype).reshape(shape)


def unbroadcast(g, x):
    """The gradient ``g`` of a broadcast result, summed back to the shape of ``x``.

    This is the one place where broadcasting is undone. Static shapes decide the
    axes when they can; where ``x`` has an unknown dimension that might have been
    broadcast (it could be 1 at run time), a ``sum_like`` node decides at run time."""
    if g.shape == x.shape and None not in x.shape:
        return g
    lead = g.ndim - x.ndim
    tail = list(zip(g.shape[lead:], x.shape))
    if any(xd is None and gd != 1 for gd, xd in tail):
        return SumLike.make(g, x)
    summed = [lead + i for i, (gd, xd) in enumerate(tail) if xd == 1 and gd != 1]
    if summed:
        g = reduce_sum(g, axis=summed, keepdims=True)
    if lead:
        g = reduce_sum(g, axis=list(range(lead)))
    return g


# ----------------------------------------------------------------------- reductions

def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _restore_dims(g, axes, keepdims):
    """Give a reduced gradient back the reduced axes (as size 1)."""
    if not keepdims:
        for a in axes:
            g = expand_dims(g, a)
    return g


class Reduce(Op):
    def infer(self, x):
        axes = norm_axes(self.axis, x.ndim)
        return _reduced_shape(x.shape, axes, self.keepdims), self.out_dtype(x.dtype)

    def out_dtype(self, dtype):
        return dtype


@register_op
class ReduceSum(Reduce):
    name = "reduce_sum"
    specs = [Spec(lambda x: reduce_sum(x), [(3, 4)], ref=np.sum),
             Spec(lambda x: reduce_sum(x, axis=1), [(3, 4, 2)], ref=lambda x: x.sum(1)),
             Spec(lambda x: reduce_sum(x, axis=(0, 2), keepdims=True), [(3, 4, 2)],
                  ref=lambda x: x.sum((0, 2), keepdims=True))]

    def out_dtype(self, dtype):
        # bools and narrow integers count in int32 (TF's int), not in the input dtype
        # (True + True is 2, int8 100 + 100 is 200) nor NumPy's platform int
        if dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize < 4):
            return np.dtype("int32")
        return dtype

    def compute(self, be, x):
        return be.xp.sum(x, axis=self.axis, keepdims=self.keepdims,
                         dtype=self.out_dtype(x.dtype))

    def vjp(self, node, g):
        x = node.inputs[0]
        axes = norm_axes(self.axis, x.ndim)
        return [BroadcastLike.make(_restore_dims(g, axes, self.keepdims), x)]


@register_op
class ReduceMax(Reduce):
    """Max over axes; the gradient is shared equally among tied maxima (as TF)."""
    name = "reduce_max"

    def infer(self, x):
        axes = norm_axes(self.axis, x.ndim)
        empty = [a for a in axes if x.shape[a] == 0]
        if empty:
            raise ShapeError(f"cannot take the max over axis {empty[0]} of size 0 (a max of "
                             "nothing has no value)")
        return Reduce.infer(self, x)
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
    x = convert_to_tensor(x)
    if isinstance(axis, list):
        axis = tuple(axis)
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
    x = convert_to_tensor(x)
    require_float("reduce_mean", x)
    total = reduce_sum(x, axis, keepdims)
    axes = norm_axes(axis if axis is None or isinstance(axis, (int, np.integer)) else tuple(axis), x.ndim)
    dims = [x.shape[a] for a in axes]
    n = float(np.prod(dims)) if None not in dims else Count.make(x, axes)
    return total / n
