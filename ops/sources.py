"""Leaves and generated values: placeholders, fills and shapes (constants: ops/constant.py)."""
import numpy as np

from tinygraph.ir.graph import Op, Tensor, apply1, get_default_graph, register_op
from tinygraph.ir.placeholder import Placeholder
from tinygraph.ir.spec import Spec

from .array import Stack, stack
from .cast import cast
from .constant import constant, constant_value
from .fill_like import FillLike, ones_like, zeros_like  # noqa: F401 -- tg.zeros_like, ...
from .dtypes import as_dtype, default_dtype
from .shape_rules import user_shape


def _is_dtype(value):
    """Whether ``value`` names a dtype (TF1 passes the dtype first)."""
    if isinstance(value, (np.dtype, type)):
        return True
    if not isinstance(value, str):
        return False
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def placeholder(shape, dtype="float32", name=None):
    """A value fed at run time. ``None`` in ``shape`` marks an unknown dimension.

    TF1's argument order, ``placeholder("float32", [None, 20, 8])``, is accepted too: a
    dtype given first is taken as the dtype (a shape is never a string or a type)."""
    if _is_dtype(shape):
        shape, dtype = (None, shape) if _is_dtype(dtype) else (dtype, shape)
        if shape is None:
            raise ValueError(f"placeholder: a shape is needed (TF1's unknown-rank "
                             f"placeholder({np.dtype(dtype).name!r}) has no equivalent): "
                             "give a list, with None for unknown dimensions")
    shape = user_shape(shape, "placeholder")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"placeholder: name must be a string, got {name!r}")
    g = get_default_graph()
    t = apply1(Placeholder(shape=shape, dtype=as_dtype(dtype, "placeholder"), ph_name=name), [],
               name=name or "placeholder")
    g.placeholders[t.name] = t
    return t


# ----------------------------------------------------------------------- shapes

@register_op
class Shape(Op):
    name = "shape"
    differentiable = False
    specs = [Spec(lambda x: apply1(Shape(), [x]), [(2, 3)], order=0,
                  ref=lambda x: np.array(x.shape))]

    def infer(self, x):
        return (len(x.shape),), np.dtype("int64")

    def compute(self, be, x):
        return be.xp.asarray(x.shape, dtype="int64")


def shape(x):
    """The run-time shape of ``x`` as an int64 vector (a constant when static)."""
    if None not in x.shape:
        return constant(np.array(x.shape, dtype="int64"))
    return apply1(Shape(), [x])


def shape_tensor(dims):
    """(static shape, tensor) for a shape given as ints, scalar int tensors or a
    1-D int tensor. The static shape has None where the value is only known later."""
    if isinstance(dims, Tensor):
        if dims.ndim != 1 or dims.dtype.kind not in "iu" or dims.shape[0] is None:
            raise ValueError(f"shape tensor {dims.name!r} must be a 1-D int vector of "
                             f"known length, got {dims.shape} {dims.dtype.name}")
        known = constant_value(dims)
        if known is not None:
            return tuple(int(d) for d in known), dims
        if isinstance(dims.node.op, Shape):
            return dims.node.inputs[0].shape, dims
        if isinstance(dims.node.op, Stack):     # [tg.shape(x)[0], 4]: keep the known entries
            known = [constant_value(t) for t in dims.node.inputs]
            return tuple(None if v is None else int(v) for v in known), dims
        return (None,) * dims.shape[0], dims
    if isinstance(dims, np.ndarray) and dims.ndim == 1:
        dims = dims.tolist()
    if isinstance(dims, (str, bytes)) or not isinstance(dims, (list, tuple)):
        raise TypeError(f"shape must be a list or tuple of ints or scalar int tensors, got {dims!r}")
    dims = list(dims)
    for d in dims:
        if not isinstance(d, Tensor) and (isinstance(d, (bool, np.bool_))
                                          or not isinstance(d, (int, np.integer))):
            raise TypeError(f"shape entries must be ints or scalar int tensors, got {d!r} "
                            f"in {tuple(dims)}")
    if all(isinstance(d, (int, np.integer)) for d in dims):
        static = tuple(int(d) for d in dims)
        if any(d < 0 for d in static):
            raise ValueError(f"negative dimension in shape {static}")
        return static, None
    parts, static = [], []
    for d in dims:
        if isinstance(d, Tensor):
            if d.ndim != 0 or d.dtype.kind not in "iu":
                raise ValueError(f"shape entry {d.name!r} must be a scalar int tensor")
            parts.append(cast(d, "int64"))
            static.append(None)
        else:
            parts.append(constant(np.int64(d)))
            static.append(int(d))
    return tuple(static), stack(parts)


# ----------------------------------------------------------------------- fills

@register_op
class Fill(Op):
    """A tensor of one value whose shape is only known at run time."""
    name = "fill"
    differentiable = False
    specs = [Spec(lambda x: fill(apply1(Shape(), [x]), 2.5, "float64") + x, [(3,)],
                  ref=lambda x: x + 2.5)]

    def infer(self, dims):
        return shape_tensor(dims)[0], self.dtype

    def compute(self, be, dims):
        return be.xp.full(tuple(int(d) for d in be.to_host(dims)), self.value, self.dtype)

    def label(self):
        return f"fill {self.value:g}"


def fill(dims, value, dtype=None):
    """A tensor of shape ``dims`` (ints and/or scalar int tensors) filled with ``value``."""
    dtype = default_dtype(value) if dtype is None else as_dtype(dtype)
    static, dyn = shape_tensor(dims)
    if dyn is None:
        return constant(np.full(static, value, dtype))
    return apply1(Fill(value=float(value) if dtype.kind == "f" else value, dtype=dtype), [dyn])


def zeros(shape, dtype="float32"):
    return fill(shape, 0, dtype)


def ones(shape, dtype="float32"):
    return fill(shape, 1, dtype)



