"""Helpers shared by the op modules: conversion to tensors and shape rules."""
import numpy as np

from tinygraph.ir.graph import ShapeError, Tensor, fmt_shape


def as_dtype(dtype):
    return np.dtype(dtype)


def is_float(dtype):
    return np.dtype(dtype).kind == "f"


def default_dtype(value):
    """TF's conventions: Python floats become float32, Python ints int32."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, float):
        return np.dtype("float32")
    if isinstance(value, int):
        return np.dtype("int32")
    arr = np.asarray(value)
    if isinstance(value, (list, tuple)):
        if arr.dtype.kind == "f":
            return np.dtype("float32")
        if arr.dtype.kind in "iu":
            return np.dtype("int32")
    return arr.dtype


def to_array(value, dtype=None, what="value"):
    """A NumPy array of ``dtype``; refuses lossy float->int or non-numeric casts."""
    dtype = default_dtype(value) if dtype is None else np.dtype(dtype)
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"{what}: cannot convert {type(value).__name__} to a tensor")
    if arr.dtype != dtype:
        if dtype.kind in "iub" and arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0):
            raise TypeError(f"{what}: {value!r} is not representable as {dtype.name}")
        arr = arr.astype(dtype)
    return arr


def as_tensor(x, dtype=None, name=None):
    """Tensors pass through; arrays and Python scalars become constants."""
    if isinstance(x, Tensor):
        return x
    from tinygraph.ops.sources import constant
    return constant(x, dtype=dtype, name=name)


def convert_pair(x, y, opname):
    """Two operands of one dtype: a non-tensor side adopts the tensor's dtype."""
    if isinstance(x, Tensor) and isinstance(y, Tensor):
        if x.dtype != y.dtype:
            raise TypeError(f"{opname}: dtypes differ: {x.name!r} is {x.dtype.name}, "
                            f"{y.name!r} is {y.dtype.name}; use tg.cast to convert one")
        return x, y
    if isinstance(x, Tensor):
        return x, as_tensor(y, x.dtype)
    if isinstance(y, Tensor):
        return as_tensor(x, y.dtype), y
    x = as_tensor(x)
    return x, as_tensor(y, x.dtype)


def require_float(opname, *tensors):
    for t in tensors:
        if not is_float(t.dtype):
            raise ShapeError(f"expected a floating-point tensor, {t.name!r} is {t.dtype.name}")


def broadcast_shapes(*shapes):
    """NumPy broadcasting on static shapes; None (unknown) matches anything."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        dims = [s[i - ndim + len(s)] for s in shapes if i - ndim + len(s) >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError("shapes " + ", ".join(fmt_shape(s) for s in shapes) +
                             " cannot be broadcast together")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def norm_axis(axis, ndim, what="axis"):
    """A non-negative axis, with a ShapeError when it is out of range."""
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < max(ndim, 1):
        raise ShapeError(f"{what} {axis!r} is out of range for rank {ndim}")
    return int(axis) % max(ndim, 1)


def norm_axes(axis, ndim):
    """None -> all axes; int or sequence -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(sorted({norm_axis(a, ndim) for a in axes}))
    return axes


def same_shape(a, b):
    """Static shapes equal, treating None as matching anything."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
