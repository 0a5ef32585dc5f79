"""Static shape rules shared by the ops: broadcasting, axis arguments, shape equality.
A static shape is a tuple of ints with None where a dimension is only known at run time."""
import numpy as np

from tinygraph.ir.graph import ShapeError, fmt_shape


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
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) \
            or not -ndim <= axis < max(ndim, 1):
        raise ShapeError(f"{what} {axis!r} is out of range for rank {ndim}")
    return int(axis) % max(ndim, 1)


def norm_axes(axis, ndim):
    """None -> all axes; int or sequence -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (str, bytes)) or not isinstance(axis, (int, np.integer, list, tuple)):
        raise ShapeError(f"axis must be an int, a list or tuple of ints, or None; got {axis!r}")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normed = [norm_axis(a, ndim) for a in axes]
    if len(set(normed)) != len(normed):
        raise ShapeError(f"axis {axis!r} names an axis twice (rank {ndim})")
    return tuple(sorted(normed))


def same_shape(a, b):
    """Static shapes equal, treating None as matching anything."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def user_shape(shape, what, allow_unknown=True):
    """A shape a user gave (a list or tuple of ints, ``None`` for an unknown dimension
    when ``allow_unknown``) as a tuple; TypeError / ValueError naming ``what`` else.
    Floats such as 2.5 and bools are refused, not truncated."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (list, tuple)):
        raise TypeError(f"{what}: shape must be a list or tuple of ints"
                        f"{' or None' if allow_unknown else ''}, got {shape!r}")
    out = []
    for d in shape:
        if d is None and allow_unknown:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)):
            if d < 0:
                raise ValueError(f"{what}: negative dimension {int(d)} in shape {tuple(shape)}")
            out.append(int(d))
        else:
            raise TypeError(f"{what}: shape entries must be non-negative ints"
                            f"{' or None' if allow_unknown else ''}, got {d!r} in {tuple(shape)}")
    return tuple(out)


def user_ints(values, what):
    """A list of ints a user gave (axes, a permutation, slice bounds) as a tuple;
    TypeError naming ``what`` for floats, bools, strings or a non-sequence."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, np.ndarray)):
        raise TypeError(f"{what}: expected a list or tuple of ints, got {values!r}")
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{what}: expected ints, got {v!r} in {list(values)}")
    return tuple(int(v) for v in values)
