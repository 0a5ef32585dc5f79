"""``tg.slice(x, begin, size)``, TF's slice, as basic indexing."""
import builtins

from ._util import as_tensor


def slice(x, begin, size):  # noqa: A001 -- tg.slice, as in TF
    """x[begin[i] : begin[i] + size[i]] on every axis; size -1 means to the end."""
    x = as_tensor(x)
    if len(begin) != x.ndim or len(size) != x.ndim:
        raise ValueError(f"slice: begin {begin} and size {size} need one entry per axis of "
                         f"{x.name!r} {x.shape}")
    return x[tuple(builtins.slice(int(b), None if int(s) == -1 else int(b) + int(s))
                   for b, s in zip(begin, size))]
