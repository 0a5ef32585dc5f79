"""Ops that grow an array: ``tg.tile`` (repeat it along each axis) and ``tg.pad``
(surround it with a constant), as TF's. Their gradients shrink the gradient back:
tile's sums the repeats (``tile_grad``, whose own gradient is a tile), pad's slices
the padding off."""
import builtins  # builtins.slice, beside tg.slice

import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from .constant import convert_to_tensor
from .indexing import getitem


def _int_list(values, n, what, opname, x):
    try:
        values = [int(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{opname}: {what} must be a list of ints, got {values!r}") from None
    if len(values) != n:
        raise ShapeError(f"{opname}: {what} needs {n} entries (input {x.name!r} {x.shape}), "
                         f"got {values}")
    return values


@register_op
class Tile(Op):
    """``x`` repeated ``multiples[i]`` times along axis i."""
    name = "tile"
    specs = [Spec(lambda x: tile(x, [2, 3]), [(2, 3)], ref=lambda x: np.tile(x, (2, 3))),
             Spec(lambda x: tile(x, [1, 2, 1]), [(2, 1, 3)], ref=lambda x: np.tile(x, (1, 2, 1)))]

    def infer(self, x):
        return tuple(None if d is None else d * m for d, m in zip(x.shape, self.multiples)), x.dtype

    def compute(self, be, x):
        return be.xp.tile(x, self.multiples)

    def vjp(self, node, g):
        return [apply1(TileGrad(multiples=self.multiples), [g])]


@register_op
class TileGrad(Op):
    """The gradient of ``tile``: the sum of the repeats, back to the tiled input's shape."""
    name = "tile_grad"
    specs = [Spec(lambda g: apply1(TileGrad(multiples=(2, 3)), [g]), [(4, 6)],
                  ref=lambda g: g.reshape(2, 2, 3, 2).sum((0, 2)))]

    def infer(self, g):
        for d, m in zip(g.shape, self.multiples):
            if d is not None and d % m:
                raise ShapeError(f"dimension {d} is not a multiple of {m}")
        return tuple(None if d is None else d // m for d, m in zip(g.shape, self.multiples)), g.dtype

    def compute(self, be, g):
        split = []
        for d, m in zip(g.shape, self.multiples):
            split += [m, d // m]
        return g.reshape(split).sum(axis=tuple(range(0, 2 * g.ndim, 2)), dtype=g.dtype)

    def vjp(self, node, gg):
        return [tile(gg, self.multiples)]


def tile(x, multiples, name=None):
    """``tf.tile``: ``x`` repeated ``multiples[i]`` (>= 1) times along each axis i."""
    x = convert_to_tensor(x)
    multiples = _int_list(multiples, x.ndim, "multiples", "tile", x)
    if any(m < 1 for m in multiples):
        raise ValueError(f"tile: multiples must be >= 1, got {multiples}")
    return apply1(Tile(multiples=tuple(multiples)), [x], name=name)


@register_op
class Pad(Op):
    """``x`` with ``paddings[i] = (before, after)`` entries of ``constant_values``
    added on axis i (TF's mode "CONSTANT")."""
    name = "pad"
    specs = [Spec(lambda x: pad(x, [[1, 0], [2, 1]]), [(2, 3)],
                  ref=lambda x: np.pad(x, [(1, 0), (2, 1)])),
             Spec(lambda x: pad(x, [[0, 1]], constant_values=0.5), [(3,)],
                  ref=lambda x: np.pad(x, [(0, 1)], constant_values=0.5))]

    def infer(self, x):
        return tuple(None if d is None else d + a + b
                     for d, (a, b) in zip(x.shape, self.paddings)), x.dtype

    def compute(self, be, x):
        return be.xp.pad(x, self.paddings, constant_values=np.asarray(self.constant_values,
                                                                      x.dtype))

    def vjp(self, node, g):
        return [getitem(g, tuple(builtins.slice(a, -b if b else None) for a, b in self.paddings))]


def pad(x, paddings, mode="CONSTANT", constant_values=0, name=None):
    """``tf.pad``: ``paddings`` is one ``[before, after]`` pair per axis (non-negative).
    Only mode "CONSTANT" is supported (REFLECT and SYMMETRIC are not)."""
    x = convert_to_tensor(x)
    if str(mode).upper() != "CONSTANT":
        raise ValueError(f"pad: mode {mode!r} is not supported; tinygraph pads with a constant "
                         "(mode='CONSTANT')")
    pairs = [tuple(p) for p in np.asarray(paddings, dtype=object).reshape(-1, 2).tolist()] \
        if np.size(paddings) else []
    if len(pairs) != x.ndim:
        raise ShapeError(f"pad: paddings needs one [before, after] pair per axis of {x.name!r} "
                         f"{x.shape}, got {paddings!r}")
    pairs = tuple(tuple(_int_list(p, 2, "each paddings entry", "pad", x)) for p in pairs)
    if any(v < 0 for p in pairs for v in p):
        raise ValueError(f"pad: paddings must be non-negative, got {paddings!r}")
    value = float(constant_values) if x.dtype.kind == "f" else int(constant_values)
    return apply1(Pad(paddings=pairs, constant_values=value), [x], name=name)
