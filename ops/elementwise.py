"""The shape/dtype rules of elementwise ops, and the public function of each op.

``Unary``: float in, same shape and dtype out. ``Binary``: two operands of one
dtype with NumPy broadcasting. ``unary_function(cls)`` and ``binary_function(cls)``
register an op class and return the function that applies it (``tg.exp``, ``tg.add``).
"""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op

from .constant import convert_pair, convert_to_tensor
from .dtypes import require_float
from .shape_rules import broadcast_shapes

BCAST = [(3, 4), (4,)]       # a broadcasting case for every binary op's specs


class Unary(Op):
    """Float in, same shape and dtype out."""

    def infer(self, x):
        require_float(self.name, x)
        return x.shape, x.dtype


class Binary(Op):
    """Two same-dtype operands, NumPy broadcasting."""

    out_bool = False
    arithmetic = True    # False for comparisons, max/min: those take bools too

    def infer(self, x, y):
        shape = broadcast_shapes(x.shape, y.shape)
        if self.arithmetic and x.dtype == bool:
            raise ShapeError(f"{self.name} of bool tensors {x.name!r} and {y.name!r} is not "
                             "defined; use tg.cast to a number type, or logical ops")
        return shape, (np.dtype(bool) if self.out_bool else x.dtype)


def unary_function(cls):
    """Register ``cls`` and return the public function applying it."""
    register_op(cls)

    def fn(x, name=None):
        return apply1(cls(), [convert_to_tensor(x)], name=name)
    fn.__name__ = cls.name
    fn.__doc__ = cls.__doc__
    return fn


def binary_function(cls):
    """Register ``cls`` and return the public function applying it to two operands
    (a Python value adopts the other operand's dtype)."""
    register_op(cls)

    def fn(x, y, name=None):
        x, y = convert_pair(x, y, cls.name)
        return apply1(cls(), [x, y], name=name)
    fn.__name__ = cls.name
    fn.__doc__ = cls.__doc__
    return fn
