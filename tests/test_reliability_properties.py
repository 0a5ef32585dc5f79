"""Property tests of bad input (issue 14): for random shapes, indices, axes, split
sizes and dtypes, tinygraph refuses at build time exactly what NumPy refuses (or what
would change a value), and what it accepts has NumPy's shape, value and a truthful
dtype."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinygraph as tg

SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
pytestmark = pytest.mark.single_backend

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
REFUSED = (IndexError, TypeError, ValueError)


def _numpy_or_error(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # NumPy's deprecations count as refusals
        try:
            return fn(), None
        except (IndexError, TypeError, ValueError, DeprecationWarning) as e:
            return None, e


@st.composite
def index_items(draw):
    kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis", "bool", "float"]))
    if kind == "int":
        return draw(st.integers(-6, 6))
    if kind == "slice":
        ends = st.one_of(st.none(), st.integers(-6, 6))
        step = draw(st.one_of(st.none(), st.integers(-3, 3)))
        return slice(draw(ends), draw(ends), step)
    return {"none": None, "ellipsis": Ellipsis, "bool": True, "float": 1.5}[kind]


@SETTINGS
@given(shape=shapes, index=st.lists(index_items(), min_size=1, max_size=4).map(tuple))
def test_basic_indexing_matches_numpy_or_is_refused_when_built(shape, index):
    x = np.arange(int(np.prod(shape)), dtype="float32").reshape(shape)
    want, np_error = _numpy_or_error(lambda: x[index])
    if any(isinstance(i, (bool, float)) for i in index):
        np_error = np_error or TypeError("bools and floats are not indices")
    t = tg.constant(x)
    if np_error is not None:
        with pytest.raises(REFUSED):
            t[index]
        return
    got = t[index]
    assert got.shape == want.shape
    np.testing.assert_array_equal(tg.Session().run(got), want)


@SETTINGS
@given(a=shapes, b=shapes)
def test_broadcasting_is_refused_when_built_exactly_when_numpy_refuses(a, b):
    _, np_error = _numpy_or_error(lambda: np.broadcast_shapes(a, b))
    x, y = tg.constant(np.ones(a, "float32")), tg.constant(np.ones(b, "float32"))
    if np_error is not None:
        with pytest.raises(tg.ShapeError, match="cannot be broadcast"):
            x + y
    else:
        assert (x + y).shape == np.broadcast_shapes(a, b)


@SETTINGS
@given(shape=shapes, axis=st.one_of(st.none(), st.integers(-4, 4),
                                    st.lists(st.integers(-4, 4), max_size=3).map(tuple)))
def test_reduction_axes_match_numpy_or_are_refused_when_built(shape, axis):
    assume(len(shape) > 0)             # NumPy takes axis 0 and -1 of a scalar (legacy)
    x = np.ones(shape, "float32")
    want, np_error = _numpy_or_error(lambda: np.sum(x, axis=axis))
    if np_error is not None:
        with pytest.raises(tg.ShapeError, match="axis"):
            tg.reduce_sum(tg.constant(x), axis=axis)
    else:
        got = tg.reduce_sum(tg.constant(x), axis=axis)
        assert got.shape == np.shape(want)


@SETTINGS
@given(shape=shapes, target=st.lists(st.integers(-2, 6), max_size=3).map(tuple))
def test_reshape_matches_numpy_or_is_refused_when_built(shape, target):
    x = np.ones(shape, "float32")
    want, np_error = _numpy_or_error(lambda: x.reshape(target))
    if np_error is None and any(d < -1 for d in target):
        np_error = ValueError("NumPy takes any negative as -1; tinygraph only -1")
    if np_error is not None:
        with pytest.raises(tg.ShapeError):
            tg.reshape(tg.constant(x), target)
    else:
        assert tg.reshape(tg.constant(x), target).shape == want.shape


@SETTINGS
@given(dim=st.integers(1, 6), sizes=st.lists(st.integers(-2, 6), min_size=1, max_size=4))
def test_split_sizes_add_up_or_are_refused_when_built(dim, sizes):
    rest = dim - sum(s for s in sizes if s != -1)
    ok = all(s >= -1 for s in sizes) and (
        (sizes.count(-1) == 0 and rest == 0) or (sizes.count(-1) == 1 and rest >= 0))
    x = tg.constant(np.arange(dim, dtype="float32"))
    if not ok:
        with pytest.raises(tg.ShapeError, match="do not add up"):
            tg.split(x, sizes)
        return
    parts = tg.split(x, sizes)
    filled = [rest if s == -1 else s for s in sizes]
    assert [p.shape for p in parts] == [(s,) for s in filled]
    got = tg.Session().run(parts)
    np.testing.assert_array_equal(np.concatenate(got), np.arange(dim))


INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"]


@SETTINGS
@given(value=st.integers(-2 ** 40, 2 ** 40), dtype=st.sampled_from(INTS + ["float32", "bool"]))
def test_an_int64_feed_is_taken_exactly_when_its_value_survives(value, dtype):
    p = tg.placeholder((1,), dtype, name="p")
    data = np.array([value], "int64")
    kept = data.astype(dtype).astype("int64")[0] == value
    if np.dtype(dtype).kind == "f":
        kept = True                   # ints into floats: rounding is allowed (as TF)
    if dtype == "bool":
        kept = False                  # a bool placeholder takes bools only
    if not kept:
        with pytest.raises(ValueError, match="feed for 'p"):
            tg.Session().run(p, {p: data})
    else:
        got = tg.Session().run(p, {p: data})
        assert got.dtype == np.dtype(dtype)


DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]


@SETTINGS
@given(a=st.sampled_from(DTYPES), b=st.sampled_from(DTYPES),
       op=st.sampled_from(["add", "subtract", "multiply", "divide", "maximum", "less"]))
def test_binary_ops_refuse_mixed_dtypes_and_announce_what_they_compute(a, b, op):
    x = tg.constant(np.array([1, 2], a))
    y = tg.constant(np.array([2, 1], b))
    fn = getattr(tg, op)
    if a != b:
        with pytest.raises(TypeError, match=f"{op}: dtypes differ"):
            fn(x, y)
        return
    try:
        out = fn(x, y)
    except tg.ShapeError as e:
        assert a == "bool" and "bool" in str(e)
        return
    for optimize in (True, False):
        got = tg.Session(optimize=optimize).run(out)
        assert got.dtype == out.dtype
