"""``tg.cast``: conversion to another dtype."""
from tinygraph.ir.graph import Op, apply1, register_op
from tinygraph.ir.spec import Spec

from .constant import convert_to_tensor
from .dtypes import as_dtype


@register_op
class Cast(Op):
    """Convert to another dtype; gradients flow between float dtypes only."""
    name = "cast"
    # float32 rounding defeats finite differences: the value is checked here and the
    # gradient's dtype and value in tests/test_autodiff.py.
    specs = [Spec(lambda x: cast(cast(x, "float32"), "float64"), [(3,)], order=0,
                  ref=lambda x: x.astype("float32").astype("float64")),
             Spec(lambda x: cast(x, "int32"), [(3,)], order=0,
                  ref=lambda x: x.astype("int32"))]

    def infer(self, x):
        return x.shape, self.dtype

    def compute(self, be, x):
        return x.astype(self.dtype)

    def vjp(self, node, g):
        x = node.inputs[0]
        ok = x.dtype.kind == "f" and self.dtype.kind == "f"
        return [cast(g, x.dtype) if ok else None]

    def label(self):
        return f"cast {self.dtype.name}"


def cast(x, dtype, name=None):
    x = convert_to_tensor(x)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return apply1(Cast(dtype=dtype), [x], name=name)
