"""Dtypes: the dtypes a tensor may have, TF's defaults for Python values, the float
check of float-only ops, and value-preserving casts of user data."""
import numpy as np

from tinygraph.ir.graph import ShapeError

# bool, signed and unsigned integers, floats: what every op and backend computes with
# (strings, objects, dates and complex numbers are refused where a dtype comes in)
NUMERIC_KINDS = "biuf"


def as_dtype(dtype, what="dtype"):
    """``dtype`` as a NumPy dtype a tensor may have; TypeError naming ``what`` else."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in NUMERIC_KINDS or isinstance(dtype, (int, float)):
        raise TypeError(f"{what}: {dtype!r} is not a tensor dtype; expected bool, an integer "
                        "or a float dtype such as 'float32', 'int32' or 'bool'")
    return dt


def default_dtype(value, arr=None):
    """TF's conventions: Python floats become float32, Python ints int32 (``arr``:
    ``value`` as an array, if the caller has it already)."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, float):
        return np.dtype("float32")
    if isinstance(value, int):
        return np.dtype("int32")
    arr = user_array(value, "value") if arr is None else arr
    if isinstance(value, (list, tuple)):
        if arr.dtype.kind == "f":
            return np.dtype("float32")
        if arr.dtype.kind in "iu":
            return np.dtype("int32")
    return arr.dtype


def user_array(value, what):
    """``np.asarray(value)`` with a clear error for ragged lists and non-numbers."""
    try:
        arr = np.asarray(value)
    except ValueError:
        raise ValueError(f"{what}: {_short(value)} is ragged (its rows differ in length); "
                         "expected a rectangular array") from None
    except TypeError:           # a list holding tensors (which refuse iteration)
        arr = np.empty(0, object)
    if arr.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(f"{what}: cannot convert {type(value).__name__} {_short(value)} "
                        f"(dtype {arr.dtype}) to a tensor; expected numbers or bools"
                        f"{' (tg.stack makes one tensor of several)' if isinstance(value, (list, tuple)) else ''}")
    return arr


def lossless_cast(arr, dtype, what):
    """``arr`` as ``dtype`` when that keeps every value (into a float, rounding is
    allowed, as in TF); ValueError naming ``what`` when a value would change."""
    dtype = np.dtype(dtype)
    if arr.dtype == dtype:
        return arr
    if np.can_cast(arr.dtype, dtype, casting="safe") or (arr.dtype.kind in "biuf" and dtype.kind == "f"):
        return arr.astype(dtype)       # into a float: rounding only, as TF does
    # array methods only: ``arr`` may be a device array (a CuPy one stays on the device)
    with np.errstate(invalid="ignore", over="ignore"):     # NaN or 1e300 into an int
        out = arr.astype(dtype)
    kept = bool((out.astype(arr.dtype) == arr).all())
    if arr.dtype.kind in "biu" and dtype.kind in "iuf":
        if kept:
            return out
        raise ValueError(f"{what}: the {arr.dtype.name} values do not fit in {dtype.name} "
                         f"(for example {_first_changed(arr, out)}); "
                         "cast them first")
    if arr.dtype.kind == "f" and dtype.kind in "iu" and kept:
        return out
    raise ValueError(f"{what}: expected {dtype.name}, got {arr.dtype.name}, which cannot be "
                     "converted without changing values")


def _first_changed(arr, out):
    if not isinstance(arr, np.ndarray):     # a device array: no element-wise example
        return "some values"
    a, b = np.ravel(arr), np.ravel(out)
    i = int(np.argmax(b.astype(a.dtype) != a))
    return f"{a[i].item()!r} becomes {b[i].item()!r}"


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def to_array(value, dtype=None, what="value"):
    """A NumPy array of ``dtype``; refuses lossy float->int or non-numeric casts."""
    arr = user_array(value, what)
    dtype = default_dtype(value, arr) if dtype is None else as_dtype(dtype, what)
    if arr.dtype != dtype:
        with np.errstate(invalid="ignore", over="ignore"):    # checked just below
            out = arr.astype(dtype)
        # float -> float rounds (as TF); anything else must keep every value
        if not (arr.dtype.kind == "f" and dtype.kind == "f") and not np.array_equal(
                out.astype(arr.dtype), arr):
            raise TypeError(f"{what}: {_short(value)} is not representable as {dtype.name}")
        arr = out
    return arr


def require_float(opname, *tensors):
    for t in tensors:
        if np.dtype(t.dtype).kind != "f":
            raise ShapeError(f"expected a floating-point tensor, {t.name!r} is {t.dtype.name}")
