"""Constants, and the conversion of Python values and arrays into tensors.

The bottom of the op modules: every op's public function converts its arguments
with ``convert_to_tensor`` (tensors pass through, other values become constants).
"""
import numpy as np

from tinygraph.ir.graph import Op, Tensor, apply1, register_op

from .dtypes import to_array


@register_op
class Constant(Op):
    name = "constant"
    is_constant = True

    def infer(self):
        return self.value.shape, self.value.dtype

    def compute(self, be):
        return be.constant(self.value)

    def label(self):
        v = self.value
        return f"const {v.item():.4g}" if v.size == 1 and v.dtype.kind == "f" else \
            (f"const {v.item()}" if v.size == 1 else "const")


def constant(value, dtype=None, name=None):
    """A constant tensor. Python floats default to float32 and ints to int32, as in TF."""
    if isinstance(value, Tensor):
        raise TypeError(f"constant: {value.name!r} is already a tensor")
    arr = to_array(value, dtype, what="constant")
    arr = np.array(arr)           # own copy, frozen: the graph holds it
    arr.setflags(write=False)
    return apply1(Constant(value=arr), [], name=name)


def constant_value(t):
    """The NumPy value of ``t`` when it is a constant node, else None."""
    return t.node.op.value if isinstance(t, Tensor) and isinstance(t.node.op, Constant) else None


def convert_to_tensor(value, dtype=None, name=None):
    """``value`` as a tensor, as ``tf.convert_to_tensor``: tensors pass through (``dtype``
    and ``name`` then do not apply), arrays and Python scalars become constants."""
    if isinstance(value, Tensor):
        return value
    return constant(value, dtype=dtype, name=name)


def convert_pair(x, y, opname):
    """Two operands of one dtype: a non-tensor side adopts the tensor's dtype."""
    if isinstance(x, Tensor) and isinstance(y, Tensor):
        if x.dtype != y.dtype:
            raise TypeError(f"{opname}: dtypes differ: {x.name!r} is {x.dtype.name}, "
                            f"{y.name!r} is {y.dtype.name}; use tg.cast to convert one")
        return x, y
    if isinstance(x, Tensor):
        return x, convert_to_tensor(y, x.dtype)
    if isinstance(y, Tensor):
        return convert_to_tensor(x, y.dtype), y
    x = convert_to_tensor(x)
    return x, convert_to_tensor(y, x.dtype)
