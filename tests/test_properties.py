"""Property tests (hypothesis): broadcasting, reductions and reshapes against NumPy,
with static and unknown (None) dims."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygraph as tg

SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

dims = st.integers(1, 4)
shapes = st.lists(dims, min_size=0, max_size=4).map(tuple)


@st.composite
def broadcast_pair(draw):
    """Two shapes NumPy can broadcast: start from one and knock dims down to 1 or
    drop leading ones."""
    base = draw(st.lists(dims, min_size=0, max_size=4))

    def variant():
        lead = draw(st.integers(0, len(base)))
        return tuple(1 if draw(st.booleans()) else d for d in base[lead:])
    return variant(), variant()


def _placeholder(shape, hide):
    """A placeholder for ``shape``; with ``hide`` some dims are unknown (None)."""
    return tg.placeholder(tuple(None if h else d for d, h in zip(shape, hide)), "float64")


def _fresh():
    tg.reset_default_graph()


BINARY = {"add": (lambda a, b: a + b, np.add), "subtract": (lambda a, b: a - b, np.subtract),
          "multiply": (lambda a, b: a * b, np.multiply),
          "divide": (lambda a, b: a / b, np.divide),
          "maximum": (tg.maximum, np.maximum), "minimum": (tg.minimum, np.minimum),
          "less": (lambda a, b: a < b, np.less)}


@SETTINGS
@given(pair=broadcast_pair(), op=st.sampled_from(sorted(BINARY)), data=st.data())
def test_broadcasting_binary_ops_match_numpy(pair, op, data):
    _fresh()
    sa, sb = pair
    hide_a = data.draw(st.lists(st.booleans(), min_size=len(sa), max_size=len(sa)))
    hide_b = data.draw(st.lists(st.booleans(), min_size=len(sb), max_size=len(sb)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    a, b = rng.uniform(0.5, 2.0, sa), rng.uniform(0.5, 2.0, sb)
    x, y = _placeholder(sa, hide_a), _placeholder(sb, hide_b)
    fn, ref = BINARY[op]
    out = fn(x, y)
    want = ref(a, b)
    assert len(out.shape) == want.ndim
    assert all(s is None or s == w for s, w in zip(out.shape, want.shape))
    got = tg.Session().run(out, {x: a, y: b})
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-14)


@SETTINGS
@given(shape=shapes.filter(lambda s: len(s) >= 1), data=st.data(),
       op=st.sampled_from(["reduce_sum", "reduce_mean", "reduce_max"]), keepdims=st.booleans())
def test_reductions_match_numpy(shape, data, op, keepdims):
    _fresh()
    nd = len(shape)
    axis = data.draw(st.one_of(
        st.none(), st.integers(-nd, nd - 1),
        st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    hide = data.draw(st.lists(st.booleans(), min_size=nd, max_size=nd))
    a = np.random.default_rng(data.draw(st.integers(0, 2 ** 16))).standard_normal(shape)
    x = _placeholder(shape, hide)
    out = getattr(tg, op)(x, axis=axis, keepdims=keepdims)
    ref = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max}[op]
    want = ref(a, axis=axis, keepdims=keepdims)
    assert len(out.shape) == np.ndim(want)
    got = tg.Session().run(out, {x: a})
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # and the gradient of the sum of the reduction (ones spread back / picked)
    (g,) = tg.gradients(out, [x])
    gv = tg.Session().run(g, {x: a})
    assert gv.shape == a.shape
    axes = tuple(range(nd)) if axis is None else tuple(
        sorted({ax % nd for ax in ((axis,) if isinstance(axis, int) else axis)}))
    n = int(np.prod([shape[i] for i in axes]))
    if op == "reduce_sum":
        np.testing.assert_array_equal(gv, np.ones(shape))
    elif op == "reduce_mean":
        np.testing.assert_allclose(gv, np.full(shape, 1.0 / n))
    else:
        hit = a == np.max(a, axis=axes, keepdims=True)
        np.testing.assert_allclose(gv, hit / hit.sum(axis=axes, keepdims=True))


@SETTINGS
@given(shape=shapes.filter(lambda s: len(s) >= 1), data=st.data())
def test_reshape_and_transpose_round_trips(shape, data):
    _fresh()
    nd = len(shape)
    size = int(np.prod(shape))
    a = np.random.default_rng(0).standard_normal(shape)
    hide = data.draw(st.lists(st.booleans(), min_size=nd, max_size=nd))
    x = _placeholder(shape, hide)
    # a random factorization of size as the intermediate shape, one dim as -1
    factors = []
    rest = size
    for p in (2, 3, 2, 2):
        if rest % p == 0 and data.draw(st.booleans()):
            factors.append(p)
            rest //= p
    factors.append(rest)
    minus = data.draw(st.integers(0, len(factors) - 1))
    target = [-1 if i == minus else f for i, f in enumerate(factors)]
    mid = tg.reshape(x, target)
    back = tg.reshape(mid, shape)
    perm = tuple(data.draw(st.permutations(range(nd))))
    tt = tg.transpose(tg.transpose(x, perm), tuple(int(i) for i in np.argsort(perm)))
    got_mid, got_back, got_tt = tg.Session().run([mid, back, tt], {x: a})
    np.testing.assert_array_equal(got_mid, a.reshape(factors))
    np.testing.assert_array_equal(got_back, a)
    np.testing.assert_array_equal(got_tt, a)
    assert back.shape == shape
    assert tg.transpose(x, perm).shape == tuple(x.shape[p] for p in perm)
    # gradients go back through both
    (g,) = tg.gradients(tg.reduce_sum(mid * 2.0) + tg.reduce_sum(tg.transpose(x, perm)), [x])
    np.testing.assert_array_equal(tg.Session().run(g, {x: a}), np.full(shape, 3.0))


@SETTINGS
@given(pair=broadcast_pair(), data=st.data())
def test_gradient_of_sum_of_product_with_broadcasting(pair, data):
    """d/dx sum(x*y) = y summed over x's broadcast axes (and symmetrically)."""
    _fresh()
    sa, sb = pair
    hide_a = data.draw(st.lists(st.booleans(), min_size=len(sa), max_size=len(sa)))
    hide_b = data.draw(st.lists(st.booleans(), min_size=len(sb), max_size=len(sb)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    x, y = _placeholder(sa, hide_a), _placeholder(sb, hide_b)
    gx, gy = tg.gradients(tg.reduce_sum(x * y), [x, y])
    optimize = data.draw(st.booleans())
    vx, vy = tg.Session(optimize=optimize).run([gx, gy], {x: a, y: b})
    out = np.broadcast_shapes(sa, sb)

    def sum_to(g, shape):
        lead = g.ndim - len(shape)
        g = g.sum(axis=tuple(range(lead)))
        axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
        return g.sum(axis=axes, keepdims=True)

    np.testing.assert_allclose(vx, sum_to(np.broadcast_to(b, out), sa), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vy, sum_to(np.broadcast_to(a, out), sb), rtol=1e-12, atol=1e-12)
    assert vx.shape == sa and vy.shape == sb


@pytest.mark.parametrize("sa,sb", [((None, 3), (3, None)), ((2, None), (None, 4))])
def test_incompatible_static_dims_raise(sa, sb):
    x, y = tg.placeholder((4, 3)), tg.placeholder((2, 3))
    with pytest.raises(tg.ShapeError):
        x + y
    # unknown dims defer the check to run time
    u, v = tg.placeholder(sa), tg.placeholder(sb)
    u + v
