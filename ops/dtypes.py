"""Dtypes: TF's defaults for Python values, and the float check of float-only ops."""
import numpy as np

from tinygraph.ir.graph import ShapeError


def as_dtype(dtype):
    return np.dtype(dtype)


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


def require_float(opname, *tensors):
    for t in tensors:
        if np.dtype(t.dtype).kind != "f":
            raise ShapeError(f"expected a floating-point tensor, {t.name!r} is {t.dtype.name}")
