"""Tensor's Python operators: ``a + b``, ``a @ b``, ``a ** b``, ``-a``, ``abs(a)``,
comparisons, ``a[index]`` and ``a.T``, each one op.

The IR cannot import the ops (they are built on it), so the ops set these on
Tensor when tinygraph.ops is imported, as DeZero does."""
from tinygraph.ir.node import Tensor

from .array import transpose
from .compare import greater, greater_equal, less, less_equal
from .indexing import getitem
from .linalg import matmul
from .math import abs, add, divide, multiply, negative, power, subtract  # noqa: A004


def _reflected(op):
    """``other <operator> tensor`` (Python asks the right operand): the op with the
    operands in their written order."""
    def reflected(self, other):
        return op(other, self)
    reflected.__name__ = f"r{op.__name__}"
    return reflected


OPERATORS = {
    "__add__": add, "__radd__": _reflected(add),
    "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply),
    "__truediv__": divide, "__rtruediv__": _reflected(divide),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__pow__": power, "__rpow__": _reflected(power),
    "__neg__": negative,
    "__abs__": abs,
    "__lt__": less, "__le__": less_equal, "__gt__": greater, "__ge__": greater_equal,
    "__getitem__": getitem,
    "T": property(transpose),
}


def install_tensor_operators():
    for name, method in OPERATORS.items():
        setattr(Tensor, name, method)
