"""Indexing: ``x[index]`` (basic indexing: ints, slices, None, ...), ``tg.slice``
(TF's begin/size form of it) and ``tg.gather`` (integer tensor indices)."""
import builtins          # builtins.slice: this module's own ``slice`` is tg.slice

import numpy as np

from tinygraph.ir.graph import Op, ShapeError, Tensor, apply1, register_op
from tinygraph.ir.spec import Spec

from .constant import constant_value, convert_to_tensor
from .shape_rules import norm_axis, user_ints


@register_op
class Gather(Op):
    """params indexed by integer ``indices`` along ``axis``."""
    name = "gather"
    specs = [Spec(lambda p: gather(p, np.array([2, 0, 2], "int32")), [(3, 4)],
                  ref=lambda p: p[[2, 0, 2]]),
             Spec(lambda p: gather(p, np.array([[1], [0]], "int32"), axis=1), [(2, 3)],
                  ref=lambda p: np.take(p, [[1], [0]], axis=1))]

    def infer(self, params, indices):
        if indices.dtype.kind not in "iu":
            raise ShapeError(f"indices {indices.name!r} must be integers, got {indices.dtype.name}")
        a = self.axis
        return params.shape[:a] + indices.shape + params.shape[a + 1:], params.dtype

    def compute(self, be, params, indices):
        # checked here, not left to xp.take: CuPy wraps out-of-range indices silently
        _check_indices(indices, params.shape[self.axis], self.axis, self.negative)
        return be.xp.take(params, indices, axis=self.axis)

    def vjp(self, node, g):
        params, indices = node.inputs
        return [apply1(GatherGrad(axis=self.axis), [g, indices, params]), None]


@register_op
class GatherGrad(Op):
    """Scatter-add ``g`` into zeros shaped like ``params`` (gather's gradient)."""
    name = "gather_grad"
    specs = [Spec(lambda g, p: apply1(GatherGrad(axis=0), [g, convert_to_tensor(np.array([1, 1], "int32")), p]),
                  [(2, 3), (4, 3)], ref=lambda g, p: np.array([0 * g[0], g[0] + g[1], 0 * g[0], 0 * g[0]]))]

    def infer(self, g, indices, params):
        return params.shape, g.dtype

    def compute(self, be, g, indices, params):
        xp = be.xp
        out = xp.zeros(params.shape, g.dtype)
        moved = xp.moveaxis(out, self.axis, 0)
        gm = xp.moveaxis(g.reshape(params.shape[:self.axis] + (-1,) + params.shape[self.axis + 1:]),
                         self.axis, 0)
        be.scatter_add(moved, indices.reshape(-1), gm)
        return out

    def vjp(self, node, gg):
        _, indices, _ = node.inputs
        return [gather(gg, indices, axis=self.axis), None, None]


def _check_indices(indices, n, axis, negative):
    """Indices must lie in [-n, n) ([0, n) without ``negative``: ids, where -1 is a
    bug that would read the last row); CuPy would wrap out-of-range ones silently."""
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < (-n if negative else 0) or hi >= n:
            bound = "" if negative else f" [0, {n})"
            raise IndexError(f"gather: index {hi if hi >= n else lo} is out of range{bound} for "
                             f"axis {axis} of size {n}")


def gather(params, indices, axis=0, name=None, negative=True):
    """``params`` indexed along ``axis`` by integer ``indices`` in [-size, size)
    (NumPy's negative indices), or in [0, size) with ``negative=False`` (ids)."""
    params = convert_to_tensor(params)
    indices = convert_to_tensor(indices, "int32" if not isinstance(indices, Tensor) else None)
    axis = norm_axis(axis, params.ndim)
    known = constant_value(indices)
    if known is not None and known.dtype.kind in "iu" and params.shape[axis] is not None:
        _check_indices(known, params.shape[axis], axis, negative)   # at build time
    return apply1(Gather(axis=axis, negative=bool(negative)), [params, indices], name=name)


# ----------------------------------------------------------------------- slicing

def _norm_index(index, shape):
    """Check a basic index (ints, slices, None, Ellipsis) against a static shape and
    give back an explicit tuple plus the result's static shape."""
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"index {item!r}: a bool is not an index (x[True] is not x[1]); "
                            "use ints, slices, None or ...")
        if isinstance(item, Tensor) or (not isinstance(item, (int, np.integer, builtins.slice))
                                        and item is not None and item is not Ellipsis):
            raise TypeError(f"index {item!r}: only ints, slices, None and ... are supported; "
                            "use tg.gather for tensor indices")
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis)
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis")
    if n_real > len(shape):
        raise IndexError(f"too many indices ({n_real}) for rank {len(shape)}")
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (builtins.slice(None),) * (len(shape) - n_real) + index[k + 1:]
    else:
        index = index + (builtins.slice(None),) * (len(shape) - n_real)
    out, dim = [], 0
    norm = []
    for item in index:
        if item is None:
            out.append(1)
            norm.append(None)
            continue
        d = shape[dim]
        if isinstance(item, builtins.slice):
            if item.step == 0:
                raise ValueError(f"index {item!r} on axis {dim}: the step of a slice cannot be 0")
            if d is None:
                out.append(None)
            else:
                out.append(len(range(*item.indices(d))))
            norm.append(builtins.slice(item.start, item.stop, item.step))
        else:
            if d is not None and not -d <= item < d:
                raise IndexError(f"index {item} is out of bounds for axis {dim} with size {d}")
            norm.append(int(item))
        dim += 1
    return tuple(norm), tuple(out)


@register_op
class GetItem(Op):
    name = "getitem"
    specs = [Spec(lambda x: x[1:, ::2], [(3, 4)], ref=lambda x: x[1:, ::2]),
             Spec(lambda x: x[..., 1, None], [(2, 3, 4)], ref=lambda x: x[..., 1, None]),
             Spec(lambda x: x[-1], [(3, 2)], ref=lambda x: x[-1])]

    def infer(self, x):
        return _norm_index(self.index, x.shape)[1], x.dtype

    def compute(self, be, x):
        return x[self.index]

    def vjp(self, node, g):
        return [apply1(GetItemGrad(index=self.index), [g, node.inputs[0]])]

    def label(self):
        parts = []
        for i in self.index:
            if isinstance(i, builtins.slice):
                parts.append(":".join("" if v is None else str(v) for v in (i.start, i.stop))
                             + ("" if i.step is None else f":{i.step}"))
            else:
                parts.append("None" if i is None else str(i))
        return f"[{', '.join(parts)}]"


@register_op
class GetItemGrad(Op):
    """Zeros shaped like ``like`` with ``g`` written at ``index`` (getitem's gradient)."""
    name = "getitem_grad"
    specs = [Spec(lambda g, x: apply1(GetItemGrad(index=(builtins.slice(1, None),)), [g, x]),
                  [(2, 4), (3, 4)], ref=lambda g, x: np.concatenate([0 * x[:1], g]))]

    def infer(self, g, like):
        return like.shape, g.dtype

    def compute(self, be, g, like):
        out = be.xp.zeros(like.shape, g.dtype)
        out[self.index] = g
        return out

    def vjp(self, node, gg):
        return [gg[self.index], None]


def getitem(x, index):
    x = convert_to_tensor(x)
    norm, _ = _norm_index(index, x.shape)
    if all(isinstance(i, builtins.slice) and i == builtins.slice(None) for i in norm):
        return x
    return apply1(GetItem(index=norm), [x])


def slice(x, begin, size):  # noqa: A001 -- tg.slice, as in TF
    """x[begin[i] : begin[i] + size[i]] on every axis; size -1 means to the end."""
    x = convert_to_tensor(x)
    begin, size = user_ints(begin, "slice: begin"), user_ints(size, "slice: size")
    if len(begin) != x.ndim or len(size) != x.ndim:
        raise ValueError(f"slice: begin {begin} and size {size} need one entry per axis of "
                         f"{x.name!r} {x.shape}")
    for axis, (b, n, d) in enumerate(zip(begin, size, x.shape)):
        b, n = int(b), int(n)
        if b < 0 or n < -1 or (d is not None and (b > d or (n != -1 and b + n > d))):
            raise IndexError(f"slice: begin {b} and size {n} reach outside axis {axis} of "
                             f"{x.name!r} {x.shape} (begin >= 0, begin + size <= dimension, "
                             "size -1 for the rest)")
    return x[tuple(builtins.slice(int(b), None if int(s) == -1 else int(b) + int(s))
                   for b, s in zip(begin, size))]
