"""The reductions a TF user reaches for besides sum, max and mean (ops/reduce.py):
reduce_min, reduce_prod, reduce_any, reduce_all, argmax, argmin and cumsum.

They live above ops/math.py because their gradients are written with its ops
(where, division); reduce_min shares reduce_max's rule for ties.
"""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from .cast import cast
from .compare import equal, greater
from .constant import convert_to_tensor
from .math import where
from .reduce import BroadcastLike, Reduce, ReduceMax, _reduce, _restore_dims, reduce_sum
from .shape_rules import norm_axes, norm_axis


@register_op
class ReduceMin(ReduceMax):
    """Min over axes; the gradient is shared equally among tied minima (as TF)."""
    name = "reduce_min"
    specs = [Spec(lambda x: reduce_min(x, axis=1), [(3, 5)], ref=lambda x: x.min(1)),
             Spec(lambda x: reduce_min(x, axis=(0, 1), keepdims=True), [(3, 5)],
                  ref=lambda x: x.min((0, 1), keepdims=True))]

    def compute(self, be, x):
        return be.xp.min(x, axis=self.axis, keepdims=self.keepdims)


@register_op
class ReduceProd(Reduce):
    """Product over axes. Its gradient is the product of the OTHER elements, computed
    without dividing by zero: a slice with one zero passes the gradient to that zero
    only, a slice with two or more zeros passes none."""
    name = "reduce_prod"
    specs = [Spec(lambda x: reduce_prod(x, axis=1), [(3, 4)], ref=lambda x: x.prod(1)),
             Spec(lambda x: reduce_prod(x), [(2, 3)], ref=np.prod),
             Spec(lambda x: reduce_prod(where(greater(x, 0.5), x, 0.0), axis=0), [(3, 4)],
                  ref=lambda x: np.where(x > 0.5, x, 0.0).prod(0), order=0)]

    def compute(self, be, x):
        return be.xp.prod(x, axis=self.axis, keepdims=self.keepdims, dtype=self.out_dtype(x.dtype))

    def vjp(self, node, g):
        x = node.inputs[0]
        axes = norm_axes(self.axis, x.ndim)
        zero = equal(x, 0.0)
        safe = where(zero, 1.0, x)
        others = BroadcastLike.make(reduce_prod(safe, axis=axes, keepdims=True), x)
        zeros = BroadcastLike.make(reduce_sum(cast(zero, x.dtype), axis=axes, keepdims=True), x)
        one_zero = where(zero, where(equal(zeros, 1.0), others, 0.0), 0.0)
        local = where(equal(zeros, 0.0), others / safe, one_zero)
        return [BroadcastLike.make(_restore_dims(g, axes, self.keepdims), x) * local]


class BoolReduce(Reduce):
    differentiable = False

    def infer(self, x):
        if x.dtype != bool:
            raise ShapeError(f"expected a bool tensor, {x.name!r} is {x.dtype.name}")
        return super().infer(x)


@register_op
class ReduceAny(BoolReduce):
    """Logical or over axes."""
    name = "reduce_any"
    specs = [Spec(lambda x: reduce_any(greater(x, 1.5), axis=1), [(3, 4)], order=0,
                  ref=lambda x: (x > 1.5).any(1))]

    def compute(self, be, x):
        return be.xp.any(x, axis=self.axis, keepdims=self.keepdims)


@register_op
class ReduceAll(BoolReduce):
    """Logical and over axes."""
    name = "reduce_all"
    specs = [Spec(lambda x: reduce_all(greater(x, -1.5), axis=0), [(3, 4)], order=0,
                  ref=lambda x: (x > -1.5).all(0))]

    def compute(self, be, x):
        return be.xp.all(x, axis=self.axis, keepdims=self.keepdims)


def reduce_min(x, axis=None, keepdims=False, name=None):
    return _reduce(ReduceMin, x, axis, keepdims, name)


def reduce_prod(x, axis=None, keepdims=False, name=None):
    return _reduce(ReduceProd, x, axis, keepdims, name)


def reduce_any(x, axis=None, keepdims=False, name=None):
    return _reduce(ReduceAny, x, axis, keepdims, name)


def reduce_all(x, axis=None, keepdims=False, name=None):
    return _reduce(ReduceAll, x, axis, keepdims, name)


# ----------------------------------------------------------------------- arg-extremes

class ArgExtreme(Op):
    """The index of the largest (smallest) element along ``axis``; the first one on
    ties, as TF and NumPy. No gradient: the result is an integer."""
    differentiable = False

    def infer(self, x):
        axis = norm_axis(self.axis, x.ndim)
        return tuple(d for i, d in enumerate(x.shape) if i != axis), np.dtype(self.output_type)


@register_op
class ArgMax(ArgExtreme):
    name = "argmax"
    specs = [Spec(lambda x: argmax(x, axis=1), [(3, 5)], order=0, ref=lambda x: x.argmax(1))]

    def compute(self, be, x):
        return be.xp.argmax(x, axis=self.axis).astype(self.output_type)


@register_op
class ArgMin(ArgExtreme):
    name = "argmin"
    specs = [Spec(lambda x: argmin(x, axis=0), [(3, 5)], order=0, ref=lambda x: x.argmin(0))]

    def compute(self, be, x):
        return be.xp.argmin(x, axis=self.axis).astype(self.output_type)


def _arg(cls, x, axis, output_type, name):
    x = convert_to_tensor(x)
    if x.ndim == 0:
        raise ShapeError(f"{cls.name}: {x.name!r} is a scalar; it needs an axis to search")
    dt = np.dtype(output_type)
    if dt not in (np.dtype("int32"), np.dtype("int64")):
        raise ValueError(f"{cls.name}: output_type must be int32 or int64, got {dt.name}")
    axis = 0 if axis is None else axis          # TF: axis=None means axis 0
    try:
        axis = norm_axis(axis, x.ndim)
    except ShapeError as e:
        raise ShapeError(f"{cls.name}: {e} (tensor {x.name!r} {x.shape})") from None
    return apply1(cls(axis=axis, output_type=dt.name), [x], name=name)


def argmax(x, axis=None, output_type="int64", name=None):
    """``tf.argmax``: the index of the largest value along ``axis`` (None: axis 0, as
    TF), as int64 (or ``output_type="int32"``)."""
    return _arg(ArgMax, x, axis, output_type, name)


def argmin(x, axis=None, output_type="int64", name=None):
    """``tf.argmin``: the index of the smallest value along ``axis`` (None: axis 0)."""
    return _arg(ArgMin, x, axis, output_type, name)


# ----------------------------------------------------------------------- cumulative sum

@register_op
class Cumsum(Op):
    """``tf.cumsum``: running sums along ``axis``; ``exclusive`` leaves the current
    element out, ``reverse`` sums from the end. The gradient is the cumsum of the
    gradient in the other direction."""
    name = "cumsum"
    specs = [Spec(lambda x: cumsum(x, axis=1), [(3, 4)], ref=lambda x: np.cumsum(x, 1)),
             Spec(lambda x: cumsum(x, axis=0, exclusive=True, reverse=True), [(4, 2)],
                  ref=lambda x: np.flip(np.cumsum(np.flip(x, 0), 0), 0) - x)]

    def infer(self, x):
        return x.shape, x.dtype

    def compute(self, be, x):
        xp = be.xp
        y = xp.flip(x, self.axis) if self.reverse else x
        y = xp.cumsum(y, axis=self.axis, dtype=x.dtype)
        if self.exclusive:                     # shift by one along the axis: 0, s0, s0+s1, ...
            head = (slice(None),) * self.axis
            first = y[head + (slice(0, 1),)]
            y = xp.concatenate([xp.zeros(first.shape, dtype=y.dtype),
                                y[head + (slice(None, -1),)]], axis=self.axis)
        return xp.flip(y, self.axis) if self.reverse else y

    def vjp(self, node, g):
        return [cumsum(g, self.axis, self.exclusive, not self.reverse)]


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    x = convert_to_tensor(x)
    if x.dtype == bool:
        raise ShapeError(f"cumsum: {x.name!r} is bool; cast it to a number first")
    try:
        axis = norm_axis(axis, x.ndim)
    except ShapeError as e:
        raise ShapeError(f"cumsum: {e} (tensor {x.name!r} {x.shape})") from None
    return apply1(Cumsum(axis=axis, exclusive=bool(exclusive), reverse=bool(reverse)), [x],
                  name=name)
