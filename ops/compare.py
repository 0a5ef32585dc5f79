"""Comparisons (bool results, broadcasting) and the logical ops (not, and, or, xor). No gradient flows
through them, so they sit below every op whose gradient uses them."""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from .constant import convert_to_tensor
from .elementwise import BCAST, Binary, binary_function


class Compare(Binary):
    out_bool = True
    arithmetic = False
    differentiable = False


def _compare(name, fn_name):
    ref = getattr(np, fn_name)
    cls = type(name.title().replace("_", ""), (Compare,), {
        "name": name, "__doc__": f"Elementwise {name} (bool result).",
        "compute": lambda self, be, x, y: getattr(be.xp, fn_name)(x, y),
        "specs": [Spec(lambda x, y: _fns[name](x, y), BCAST, ref=ref, order=0)]})
    return binary_function(cls)


_fns = {}
for _name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
    _fns[_name] = _compare(_name, _name)
equal, not_equal, less = _fns["equal"], _fns["not_equal"], _fns["less"]
less_equal, greater, greater_equal = _fns["less_equal"], _fns["greater"], _fns["greater_equal"]


@register_op
class LogicalNot(Op):
    name = "logical_not"
    differentiable = False
    specs = [Spec(lambda x: logical_not(greater(x, 0.0)), [(4,)], order=0,
                  ref=lambda x: ~(x > 0))]
    def infer(self, x):
        if x.dtype != bool:
            raise ShapeError(f"expected a bool tensor, {x.name!r} is {x.dtype.name}")
        return x.shape, x.dtype
    def compute(self, be, x): return be.xp.logical_not(x)


def logical_not(x):
    return apply1(LogicalNot(), [convert_to_tensor(x)])


class Logical(Binary):
    """Two bool operands, broadcasting, a bool result."""
    out_bool = True
    arithmetic = False
    differentiable = False

    def infer(self, x, y):
        for t in (x, y):
            if t.dtype != bool:
                raise ShapeError(f"expected bool tensors, {t.name!r} is {t.dtype.name}")
        return super().infer(x, y)


def _logical(name, fn_name):
    cls = type(name.title().replace("_", ""), (Logical,), {
        "name": name, "__doc__": f"Elementwise {name} of two bool tensors.",
        "compute": lambda self, be, x, y: getattr(be.xp, fn_name)(x, y),
        "specs": [Spec(lambda x, y: _fns[name](greater(x, 0.0), greater(y, 0.0)), BCAST,
                       ref=lambda x, y: getattr(np, fn_name)(x > 0, y > 0), order=0)]})
    return binary_function(cls)


for _name in ("logical_and", "logical_or", "logical_xor"):
    _fns[_name] = _logical(_name, _name)
logical_and, logical_or, logical_xor = (_fns[n] for n in ("logical_and", "logical_or",
                                                          "logical_xor"))
