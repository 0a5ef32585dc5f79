"""Shape ops: reshape, transpose, expand_dims/squeeze, concat/split, stack/unstack,
reverse, and one_hot. Indexing (getitem, gather, slice) is in ops/indexing.py."""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply, apply1, register_op
from tinygraph.ir.spec import Spec

from .constant import convert_to_tensor
from .dtypes import as_dtype
from .shape_rules import norm_axis, norm_axes, user_ints
from .fill_like import zeros_like


def _fill_none(grads, node):
    """Zeros for the outputs of a multi-output node that received no gradient."""
    return [zeros_like(o) if g is None else g for g, o in zip(grads, node.outputs)]


# ----------------------------------------------------------------------- reshape

@register_op
class Reshape(Op):
    name = "reshape"
    specs = [Spec(lambda x: reshape(x, (3, 4)), [(2, 6)], ref=lambda x: x.reshape(3, 4)),
             Spec(lambda x: reshape(x, (-1,)), [(2, 3)], ref=lambda x: x.reshape(-1))]

    def infer(self, x):
        target = list(self.shape)
        if target.count(-1) > 1 or any(d < -1 for d in target):
            raise ShapeError(f"target shape {self.shape} may hold at most one -1 and no other negative")
        known = None not in x.shape
        if -1 in target:
            rest = int(np.prod([d for d in target if d != -1]))
            i = target.index(-1)
            if known:
                if rest == 0 or int(np.prod(x.shape)) % rest:
                    raise ShapeError(f"cannot reshape {x.shape} into {self.shape}")
                target[i] = int(np.prod(x.shape)) // rest
            else:
                target[i] = None
        elif known and int(np.prod(x.shape)) != int(np.prod(target)):
            raise ShapeError(f"cannot reshape {x.shape} ({int(np.prod(x.shape))} elements) "
                             f"into {self.shape}")
        return tuple(target), x.dtype

    def compute(self, be, x):
        return x.reshape(self.shape)

    def vjp(self, node, g):
        return [reshape_like(g, node.inputs[0])]


@register_op
class ReshapeLike(Op):
    """Reshape ``x`` to the run-time shape of ``like``."""
    name = "reshape_like"
    specs = [Spec(lambda x, y: reshape_like(x, y), [(2, 6), (3, 4)],
                  ref=lambda x, y: x.reshape(3, 4))]

    def infer(self, x, like):
        return like.shape, x.dtype

    def compute(self, be, x, like):
        return x.reshape(like.shape)

    def vjp(self, node, g):
        return [reshape_like(g, node.inputs[0]), None]


def reshape(x, shape, name=None):
    """Reshape to ``shape`` (ints, at most one -1; None, as in a static shape, means -1)."""
    x = convert_to_tensor(x)
    if isinstance(shape, (list, tuple)):
        shape = [-1 if d is None else d for d in shape]
    shape = user_ints(shape, "reshape: shape")
    return apply1(Reshape(shape=shape), [x], name=name)


def reshape_like(x, like):
    if x.shape == like.shape and None not in x.shape:
        return x
    if None not in like.shape:
        return reshape(x, like.shape)
    return apply1(ReshapeLike(), [x, like])


# ----------------------------------------------------------------------- transpose / dims

@register_op
class Transpose(Op):
    name = "transpose"
    specs = [Spec(lambda x: transpose(x, (1, 2, 0)), [(2, 3, 4)],
                  ref=lambda x: x.transpose(1, 2, 0))]

    def infer(self, x):
        if sorted(self.perm) != list(range(x.ndim)):
            raise ShapeError(f"perm {self.perm} is not a permutation of {x.ndim} axes")
        return tuple(x.shape[p] for p in self.perm), x.dtype

    def compute(self, be, x):
        return be.xp.transpose(x, self.perm)

    def vjp(self, node, g):
        return [transpose(g, tuple(int(i) for i in np.argsort(self.perm)))]


def transpose(x, perm=None, name=None):
    x = convert_to_tensor(x)
    perm = tuple(reversed(range(x.ndim))) if perm is None else user_ints(perm, "transpose: perm")
    perm = tuple(p + x.ndim if -x.ndim <= p < 0 else p for p in perm)
    if perm == tuple(range(x.ndim)):
        return x
    return apply1(Transpose(perm=perm), [x], name=name)


@register_op
class ExpandDims(Op):
    name = "expand_dims"
    specs = [Spec(lambda x: expand_dims(x, 1), [(3, 4)], ref=lambda x: x[:, None])]

    def infer(self, x):
        shape = list(x.shape)
        shape.insert(self.axis, 1)
        return tuple(shape), x.dtype

    def compute(self, be, x):
        return be.xp.expand_dims(x, self.axis)

    def vjp(self, node, g):
        return [squeeze(g, self.axis)]


def expand_dims(x, axis, name=None):
    x = convert_to_tensor(x)
    axis = norm_axis(axis, x.ndim + 1)
    return apply1(ExpandDims(axis=axis), [x], name=name)


@register_op
class Squeeze(Op):
    name = "squeeze"
    specs = [Spec(lambda x: squeeze(x, 1), [(3, 1, 2)], ref=lambda x: x[:, 0])]

    def infer(self, x):
        for a in self.axis:
            if x.shape[a] not in (1, None):
                raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]}")
        return tuple(d for i, d in enumerate(x.shape) if i not in self.axis), x.dtype

    def compute(self, be, x):
        return x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in self.axis))

    def vjp(self, node, g):
        x = node.inputs[0]
        if None not in x.shape:
            return [reshape(g, x.shape)]
        for a in self.axis:
            g = expand_dims(g, a)
        return [g]


def squeeze(x, axis=None, name=None):
    """Remove size-1 axes (all known ones when ``axis`` is None)."""
    x = convert_to_tensor(x)
    axes = tuple(i for i, d in enumerate(x.shape) if d == 1) if axis is None else norm_axes(axis, x.ndim)
    if not axes:
        return x
    return apply1(Squeeze(axis=axes), [x], name=name)


# ----------------------------------------------------------------------- concat / split

@register_op
class Concat(Op):
    name = "concat"
    specs = [Spec(lambda a, b: concat([a, b], axis=1), [(2, 3), (2, 4)],
                  ref=lambda a, b: np.concatenate([a, b], 1))]

    def infer(self, *xs):
        ax = self.axis
        first = xs[0]
        for t in xs:
            if t.ndim != first.ndim or t.dtype != first.dtype:
                raise ShapeError("inputs need one rank and dtype")
            for i, (a, b) in enumerate(zip(t.shape, first.shape)):
                if i != ax and a is not None and b is not None and a != b:
                    raise ShapeError(f"dimension {i} differs: {a} vs {b}")
        sizes = [t.shape[ax] for t in xs]
        shape = list(first.shape)
        for i in range(first.ndim):
            if i != ax and shape[i] is None:
                shape[i] = next((t.shape[i] for t in xs if t.shape[i] is not None), None)
        shape[ax] = None if None in sizes else sum(sizes)
        return tuple(shape), first.dtype

    def compute(self, be, *xs):
        return be.xp.concatenate(xs, axis=self.axis)

    def vjp(self, node, g):
        sizes = [t.shape[self.axis] for t in node.inputs]
        if None in sizes:
            return [_slice_axis(g, self.axis, node.inputs, i) for i in range(len(sizes))]
        return list(split(g, sizes, axis=self.axis))


def _slice_axis(g, axis, parts, i):
    """Part ``i`` of ``g`` along ``axis`` when part sizes are only known at run time."""
    return apply1(SliceLike(axis=axis, index=i), [g] + list(parts))


@register_op
class SliceLike(Op):
    """Piece ``index`` of ``x`` along ``axis``, sized like the pieces given."""
    name = "slice_like"
    specs = [Spec(lambda g, a, b: apply1(SliceLike(axis=1, index=1), [g, a, b]),
                  [(2, 5), (2, 2), (2, 3)], ref=lambda g, a, b: g[:, 2:])]

    def infer(self, x, *parts):
        return parts[self.index].shape, x.dtype

    def compute(self, be, x, *parts):
        start = sum(p.shape[self.axis] for p in parts[:self.index])
        idx = [slice(None)] * x.ndim
        idx[self.axis] = slice(start, start + parts[self.index].shape[self.axis])
        return x[tuple(idx)]

    def vjp(self, node, g):
        parts = node.inputs[1:]
        pieces = [g if i == self.index else zeros_like(p) for i, p in enumerate(parts)]
        return [concat(pieces, axis=self.axis)] + [None] * len(parts)


def concat(values, axis, name=None):
    values = [convert_to_tensor(v) for v in values]
    if not values:
        raise ValueError("concat: needs at least one tensor")
    if len(values) == 1:
        return values[0]
    axis = norm_axis(axis, values[0].ndim)
    return apply1(Concat(axis=axis), values, name=name)


@register_op
class Split(Op):
    name = "split"
    specs = [Spec(lambda x: split(x, 3, axis=1), [(2, 6)], ref=lambda x: np.split(x, 3, 1)),
             Spec(lambda x: split(x, [1, 3], axis=0), [(4, 2)], ref=lambda x: np.split(x, [1], 0))]

    def infer(self, x):
        dim = x.shape[self.axis]
        if dim is not None and sum(self.sizes) != dim:
            raise ShapeError(f"sizes {self.sizes} do not add up to dimension {self.axis} = {dim}")
        out = []
        for s in self.sizes:
            shape = list(x.shape)
            shape[self.axis] = s
            out.append((tuple(shape), x.dtype))
        return out

    def compute(self, be, x):
        return tuple(be.xp.split(x, np.cumsum(self.sizes)[:-1].tolist(), axis=self.axis))

    def vjp(self, node, *gs):
        return [concat(_fill_none(gs, node), axis=self.axis)]


def split(x, num_or_size_splits, axis=0, name=None):
    """Split into equal parts (an int) or parts of the given sizes; returns a list."""
    x = convert_to_tensor(x)
    axis = norm_axis(axis, x.ndim)
    dim = x.shape[axis]
    if isinstance(num_or_size_splits, (int, np.integer)):
        n = int(num_or_size_splits)
        if dim is None or n <= 0 or dim % n:
            raise ShapeError(f"split: cannot split dimension {axis} of {x.name!r} "
                             f"{x.shape} into {n} equal parts")
        sizes = (dim // n,) * n
    else:
        sizes = [int(s) for s in num_or_size_splits]
        if sizes.count(-1) == 1 and dim is not None:    # -1: what the others leave (TF)
            sizes[sizes.index(-1)] = dim - sum(s for s in sizes if s != -1)
        if any(s < 0 for s in sizes) or (dim is not None and sum(sizes) != dim):
            raise ShapeError(f"split: sizes {list(num_or_size_splits)} do not add up to "
                             f"dimension {axis} of {x.name!r} {x.shape} (one -1 may stand for "
                             "the rest)")
        sizes = tuple(sizes)
    return list(apply(Split(axis=axis, sizes=sizes), [x], name=name).outputs)


# ----------------------------------------------------------------------- stack / unstack

@register_op
class Stack(Op):
    name = "stack"
    specs = [Spec(lambda a, b: stack([a, b], axis=1), [(2, 3), (2, 3)],
                  ref=lambda a, b: np.stack([a, b], 1))]

    def infer(self, *xs):
        for t in xs:
            if t.dtype != xs[0].dtype or t.ndim != xs[0].ndim or any(
                    a is not None and b is not None and a != b for a, b in zip(t.shape, xs[0].shape)):
                raise ShapeError("all inputs need one shape and dtype")
        shape = [next((t.shape[i] for t in xs if t.shape[i] is not None), None)
                 for i in range(xs[0].ndim)]
        shape.insert(self.axis, len(xs))
        return tuple(shape), xs[0].dtype

    def compute(self, be, *xs):
        return be.xp.stack(xs, axis=self.axis)

    def vjp(self, node, g):
        return unstack(g, axis=self.axis)


def stack(values, axis=0, name=None):
    values = [convert_to_tensor(v) for v in values]
    if not values:
        raise ValueError("stack: needs at least one tensor")
    axis = norm_axis(axis, values[0].ndim + 1)
    return apply1(Stack(axis=axis), values, name=name)


@register_op
class Unstack(Op):
    name = "unstack"
    specs = [Spec(lambda x: unstack(x, axis=1), [(2, 3)], ref=lambda x: [x[:, i] for i in range(3)])]

    def infer(self, x):
        shape = tuple(d for i, d in enumerate(x.shape) if i != self.axis)
        return [(shape, x.dtype)] * x.shape[self.axis]

    def compute(self, be, x):
        return tuple(be.xp.moveaxis(x, self.axis, 0))

    def vjp(self, node, *gs):
        return [stack(_fill_none(gs, node), axis=self.axis)]


def unstack(x, axis=0, name=None):
    x = convert_to_tensor(x)
    axis = norm_axis(axis, x.ndim)
    if x.shape[axis] is None:
        raise ShapeError(f"unstack: dimension {axis} of {x.name!r} {x.shape} must be known")
    return list(apply(Unstack(axis=axis), [x], name=name).outputs)


# ----------------------------------------------------------------------- reverse

@register_op
class Reverse(Op):
    name = "reverse"
    specs = [Spec(lambda x: reverse(x, 1), [(2, 3, 2)], ref=lambda x: x[:, ::-1])]

    def infer(self, x):
        return x.shape, x.dtype

    def compute(self, be, x):
        return be.xp.flip(x, axis=self.axis)

    def vjp(self, node, g):
        return [reverse(g, self.axis)]


def reverse(x, axis, name=None):
    """Reverse the order of elements along ``axis`` (int or tuple)."""
    x = convert_to_tensor(x)
    return apply1(Reverse(axis=norm_axes(axis, x.ndim)), [x], name=name)


# ----------------------------------------------------------------------- one_hot

@register_op
class OneHot(Op):
    name = "one_hot"
    differentiable = False
    specs = [Spec(lambda x: one_hot(convert_to_tensor(np.array([0, 2, 1], "int32")), 3, dtype="float64") * x,
                  [(3, 3)], ref=lambda x: np.eye(3)[[0, 2, 1]] * x)]

    def infer(self, indices):
        if indices.dtype.kind not in "iu":
            raise ShapeError(f"indices {indices.name!r} must be integers")
        return indices.shape + (self.depth,), self.dtype

    def compute(self, be, indices):
        xp = be.xp
        return (indices[..., None] == xp.arange(self.depth)).astype(self.dtype)


def one_hot(indices, depth, dtype="float32"):
    if isinstance(depth, (bool, np.bool_)) or not isinstance(depth, (int, np.integer)) or depth <= 0:
        raise ValueError(f"one_hot: depth must be a positive int, got {depth!r}")
    return apply1(OneHot(depth=int(depth), dtype=as_dtype(dtype, "one_hot")),
                  [convert_to_tensor(indices)])
