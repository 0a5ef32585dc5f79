"""Truthful dtypes (issue 14, item 2): every op's static dtype is its run-time dtype on
every backend and for every input dtype it accepts, and constant folding never changes
a value. Value-changing casts of user data are refused (item 3)."""
import warnings

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.ir.graph import OP_REGISTRY

DTYPES = ["float64", "float32", "float16", "int64", "int32", "int8", "uint8", "bool"]
STATE = {"placeholder", "constant", "variable", "assign", "assign_add", "no_op"}
CASES = [(name, i, spec) for name, cls in sorted(OP_REGISTRY.items()) if name not in STATE
         for i, spec in enumerate(cls.specs)]
REFUSED = (tg.ShapeError, TypeError, ValueError)
# ops that accept integer inputs when built and fail inside their kernel when run
def _inputs(spec, dtype):
    args = spec.inputs(np.random.default_rng(7))
    if dtype == "bool":
        return [a > 0 for a in args]
    if np.dtype(dtype).kind in "iu":
        return [np.round(np.abs(a) * 3).astype(dtype) + 1 for a in args]
    return [a.astype(dtype) for a in args]


def _flat(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _build(spec, make):
    try:
        return _flat(spec.build(*make()))
    except REFUSED:
        return None          # refused at build time: that is the truthful answer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,i,spec", CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
def test_static_dtype_is_run_time_dtype(name, i, spec, dtype, backend):
    args = _inputs(spec, dtype)
    xs = []

    def placeholders():
        xs[:] = [tg.placeholder(a.shape, a.dtype) for a in args]
        return xs
    outs = _build(spec, placeholders)
    if outs is None:
        return
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            got = tg.Session(optimize=False).run(outs, dict(zip(xs, args)))
        except (ValueError, FloatingPointError, IndexError):
            return               # a run-time refusal (an integer to a negative power)
    for t, v in zip(outs, got):
        assert v.dtype == t.dtype, f"{name} on {dtype}: announces {t.dtype}, computes {v.dtype}"
        assert len(v.shape) == len(t.shape) and all(
            s is None or s == d for s, d in zip(t.shape, v.shape)), (t.shape, v.shape)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int8", "bool"])
@pytest.mark.parametrize("name,i,spec", CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
def test_folding_never_changes_a_value(name, i, spec, dtype, backend):
    args = _inputs(spec, dtype)
    outs = _build(spec, lambda: [tg.constant(a) for a in args])
    if outs is None or any(not isinstance(t, tg.Tensor) for t in outs):
        return
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            plain = tg.Session(optimize=False).run(outs)
        except (ValueError, FloatingPointError, IndexError, RuntimeError):
            return
        folded = tg.Session(optimize=True).run(outs)
    if OP_REGISTRY[name].stateful:
        return                   # random ops: a fresh stream per Session
    for p, f in zip(plain, folded):
        assert p.dtype == f.dtype
        if backend == "numpy":          # folding computes with the numpy kernels
            np.testing.assert_array_equal(p, f)
        else:                           # another backend's kernels round differently
            np.testing.assert_allclose(p, f, rtol=100 * np.finfo(p.dtype).eps if p.dtype.kind == "f" else 0)


@pytest.mark.parametrize("build,want", [
    (lambda: tg.constant([5, 7]) / 2, [2.5, 3.5]),
    (lambda: tg.reduce_sum(tg.constant([True, True, False])), 2),
    (lambda: tg.reduce_sum(tg.constant(np.array([100, 100], "int8"))), 200),
])
def test_issue_examples_fold_to_the_run_value(build, want):
    t = build()
    for optimize in (True, False):
        got = tg.Session(optimize=optimize).run(t)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == t.dtype


def test_integer_divide_announces_a_float():
    t = tg.constant([5, 7]) / 2
    assert t.dtype == np.float64
    assert (tg.constant(np.array([1], "int8")) / 2).dtype == np.float32


# ----------------------------------------------------------------------- casts (item 3)

def test_feed_that_would_change_value_is_refused():
    p = tg.placeholder((1,), "int32", name="ids")
    with pytest.raises(ValueError, match=r"ids.*int64.*int32"):
        tg.Session().run(p, {p: np.array([2 ** 40])})


def test_feed_of_small_int64_into_int32_is_fine():
    p = tg.placeholder((2,), "int32")
    got = tg.Session().run(p, {p: np.array([1, -5], "int64")})
    assert got.dtype == np.int32 and got.tolist() == [1, -5]


def test_float64_feed_into_float32_stays_allowed():
    p = tg.placeholder((1,), "float32")
    assert tg.Session().run(p, {p: np.array([0.1])}).dtype == np.float32


def test_float_feed_into_int_is_refused():
    p = tg.placeholder((1,), "int32", name="k")
    with pytest.raises(ValueError, match=r"k.*int32"):
        tg.Session().run(p, {p: np.array([1.5])})


def test_load_weights_refuses_int64_values_that_do_not_fit(tmp_path):
    src = tg.Variable(np.array([2 ** 40, 1], "int64"), name="big")
    dst = tg.Variable(np.zeros(2, "int32"), name="small")
    tg.save_weights(str(tmp_path / "w.npz"), [src])
    with pytest.raises(ValueError, match=r"small.*int32"):
        tg.load_weights(str(tmp_path / "w.npz"), [dst])
    assert dst.value.tolist() == [0, 0]


def test_assign_value_refuses_value_changing_cast():
    v = tg.Variable(np.zeros(1, "int32"), name="count")
    with pytest.raises(ValueError, match=r"count.*int32"):
        v.assign_value(np.array([2 ** 40]))
    assert v.value.tolist() == [0]


def test_constant_refuses_out_of_range_int():
    with pytest.raises(TypeError, match="not representable as int8"):
        tg.constant(300, dtype="int8")
