"""Session (SPEC 4): pruning, nested fetches, plan cache, liveness, feeds,
check_numerics, evaluate/eval, all-or-nothing Variable updates, seeded randomness."""
import collections

import numpy as np
import pytest

import tinygraph as tg

Pair = collections.namedtuple("Pair", "first second")


# ----------------------------------------------------------------- pruning

def test_unfed_unneeded_placeholder_is_fine():
    x = tg.placeholder((2,), "float64", name="x")
    unused = tg.placeholder((2,), "float64", name="unused")
    both = x + unused          # noqa: F841 -- built, never fetched
    y = x * 3.0
    np.testing.assert_array_equal(tg.Session().run(y, {x: [1.0, 2.0]}), [3.0, 6.0])


def test_missing_needed_placeholder_is_named():
    x = tg.placeholder((None, 3), "float64", name="inputs")
    y = tg.placeholder((3,), "float64", name="offset")
    with pytest.raises(ValueError, match="'offset'") as e:
        tg.Session().run(x + y, {x: np.ones((2, 3))})
    assert "(3,)" in str(e.value) and "inputs" not in str(e.value)


def test_feeding_an_intermediate_prunes_its_inputs():
    x = tg.placeholder((2,), "float64", name="x")
    h = tg.tanh(x)
    y = h * 2.0
    for opt in (True, False):
        got = tg.Session(optimize=opt).run(y, {h: np.array([1.0, 5.0])})
        np.testing.assert_array_equal(got, [2.0, 10.0])


def test_placeholder_names_in_error_when_fetching_a_placeholder_unfed():
    x = tg.placeholder((2,), name="lonely")
    with pytest.raises(ValueError, match="lonely"):
        tg.Session().run(x)


# ----------------------------------------------------------------- fetches

def test_nested_fetches_keep_structure():
    x = tg.placeholder((), "float64")
    a, b, c = x + 1.0, x * 2.0, x - 3.0
    fetches = {"list": [a, b], "tuple": (c, (a,)), "pair": Pair(a, [b, c]),
               "nested": {"z": a, "y": [b]}, 7: c}
    got = tg.Session().run(fetches, {x: 1.0})
    assert set(got) == set(fetches)
    assert isinstance(got["list"], list) and len(got["list"]) == 2
    assert isinstance(got["tuple"], tuple) and isinstance(got["tuple"][1], tuple)
    assert type(got["pair"]) is Pair and isinstance(got["pair"].second, list)
    assert got["list"] == [2.0, 2.0]
    assert got["tuple"] == (-2.0, (2.0,))
    assert got["pair"].first == 2.0 and got["pair"].second == [2.0, -2.0]
    assert got["nested"] == {"z": 2.0, "y": [2.0]}
    assert got[7] == -2.0
    assert list(got) == list(fetches)        # dict keeps the user's key order


def test_single_tensor_fetch_returns_array():
    x = tg.constant(np.arange(3.0))
    got = tg.Session().run(x * 2.0)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, [0.0, 2.0, 4.0])


def test_same_tensor_fetched_twice():
    x = tg.placeholder((2,), "float64")
    y = x + 1.0
    got = tg.Session().run([y, y, (y,)], {x: np.zeros(2)})
    for g in (got[0], got[1], got[2][0]):
        np.testing.assert_array_equal(g, [1.0, 1.0])


def test_fetching_an_update_op_gives_none():
    v = tg.Variable(np.zeros(2), name="v")
    up = v.assign_add(np.ones(2))
    grp = tg.group(up)
    sess = tg.Session()
    got = sess.run([up, v])
    assert got[0] is None
    np.testing.assert_array_equal(got[1], [0.0, 0.0])     # read at the start of the run
    np.testing.assert_array_equal(v.value, [1.0, 1.0])
    assert sess.run({"g": grp}) == {"g": None}
    np.testing.assert_array_equal(v.value, [2.0, 2.0])


def test_fetching_a_non_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="cannot fetch"):
        tg.Session().run([np.ones(2)])


# ----------------------------------------------------------------- plan cache

def test_plan_cache_hit():
    x = tg.placeholder((None, 3), "float64")
    y = tg.reduce_sum(tg.tanh(x) * 2.0)
    sess = tg.Session()
    for n in range(1, 6):
        sess.run(y, {x: np.ones((n, 3))})
        assert len(sess._plans) == 1
    plan = next(iter(sess._plans.values()))
    sess.run(y, {x: np.zeros((2, 3))})
    assert next(iter(sess._plans.values())) is plan
    sess.run([y], {x: np.zeros((2, 3))})          # same flat fetches: same plan
    assert len(sess._plans) == 1
    sess.run([y, x * 1.0], {x: np.zeros((2, 3))})
    assert len(sess._plans) == 2


def test_plan_cache_keyed_on_fed_keys():
    x = tg.placeholder((2,), "float64")
    h = tg.exp(x)
    y = h + 1.0
    sess = tg.Session()
    a = sess.run(y, {x: np.zeros(2)})
    b = sess.run(y, {h: np.zeros(2)})
    assert len(sess._plans) == 2
    np.testing.assert_array_equal(a, [2.0, 2.0])
    np.testing.assert_array_equal(b, [1.0, 1.0])


# ----------------------------------------------------------------- liveness

def _long_chain():
    x = tg.placeholder((256, 256), "float64")
    y = x
    for _ in range(200):
        y = tg.tanh(y)
    return x, y


@pytest.mark.parametrize("optimize", [True, False])
def test_liveness_frees_intermediates(optimize):
    x, y = _long_chain()
    a = np.random.default_rng(0).standard_normal((256, 256))
    one = 256 * 256 * 8
    freed = tg.Session(optimize=optimize)
    kept = tg.Session(optimize=optimize, liveness=False)
    v1 = freed.run(y, {x: a})
    v2 = kept.run(y, {x: a})
    np.testing.assert_array_equal(v1, v2)
    s1, s2 = freed.last_run_stats, kept.last_run_stats
    assert s1["total_bytes"] == 200 * one
    assert s1["peak_bytes"] == 2 * one                   # one input and one output alive
    assert s1["peak_bytes"] * 50 < s1["total_bytes"]
    assert s2["peak_bytes"] == s2["total_bytes"] == 200 * one


def test_liveness_keeps_fetched_intermediates():
    x = tg.placeholder((3,), "float64")
    a = tg.exp(x)
    b = tg.tanh(a)
    c = tg.sigmoid(b)
    got = tg.Session().run([a, c], {x: np.zeros(3)})
    np.testing.assert_allclose(got[0], 1.0)
    np.testing.assert_allclose(got[1], 1 / (1 + np.exp(-np.tanh(1.0))))


# ----------------------------------------------------------------- feeds

def test_feed_errors_name_placeholder_expected_and_given():
    x = tg.placeholder((None, 3), "float32", name="pixels")
    i = tg.placeholder((2,), "int32", name="labels")
    y = tg.reduce_sum(x) + tg.cast(tg.reduce_sum(i), "float32")
    sess = tg.Session()
    good = {x: np.ones((2, 3), "float32"), i: np.array([1, 2], "int32")}
    assert sess.run(y, good) == 9.0
    # wrong shape
    with pytest.raises(ValueError) as e:
        sess.run(y, {**good, x: np.ones((2, 4))})
    assert "pixels" in str(e.value) and "(None, 3)" in str(e.value) and "(2, 4)" in str(e.value)
    with pytest.raises(ValueError, match="pixels"):
        sess.run(y, {**good, x: np.ones(3)})            # wrong rank
    # unsafe dtype: floats into an int32 placeholder
    with pytest.raises(ValueError) as e:
        sess.run(y, {**good, i: np.array([1.5, 2.0])})
    msg = str(e.value)
    assert "labels" in msg and "int32" in msg and "float64" in msg
    # an unknown key: a string naming no placeholder, and a non-tensor key
    with pytest.raises(ValueError, match="nonexistent"):
        sess.run(y, {**good, "nonexistent": 1.0})
    with pytest.raises(ValueError, match="42"):
        sess.run(y, {**good, 42: 1.0})
    with pytest.raises(ValueError, match="labels"):
        sess.run(y, {**good, i: "not a number"})


def test_float64_into_float32_is_quiet():
    x = tg.placeholder((2,), "float32", name="x")
    got = tg.Session().run(x * 2.0, {x: np.array([1.0, 2.0], dtype="float64")})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [2.0, 4.0])
    got = tg.Session().run(x * 2.0, {x: [1, 2]})          # Python ints, too
    assert got.dtype == np.float32


def test_feed_by_placeholder_name():
    with tg.name_scope("net"):
        x = tg.placeholder((2,), "float64", name="x")
    got = tg.Session().run(x + 1.0, {"net/x": [1.0, 2.0]})
    np.testing.assert_array_equal(got, [2.0, 3.0])


def test_feed_python_scalar_to_scalar_placeholder():
    x = tg.placeholder((), "float64")
    assert tg.Session().run(x * 2.0, {x: 3.0}) == 6.0


# ----------------------------------------------------------------- check_numerics

def test_check_numerics_names_the_node():
    x = tg.placeholder((2,), "float64", name="x")
    y = tg.exp(tg.log(x, name="the_log") * 2.0)
    sess = tg.Session(check_numerics=True)
    np.testing.assert_allclose(sess.run(y, {x: [1.0, 2.0]}), [1.0, 4.0])
    with np.errstate(invalid="ignore"):
        with pytest.raises(tg.NumericsError, match="the_log") as e:
            sess.run(y, {x: [1.0, -1.0]})
    assert "NaN" in str(e.value)
    # without check_numerics the NaN comes back
    with np.errstate(invalid="ignore"):
        assert np.isnan(tg.Session().run(y, {x: [1.0, -1.0]})[1])


@pytest.mark.parametrize("optimize", [True, False])
def test_check_numerics_on_constant_input(optimize):
    y = tg.log(tg.constant(-1.0), name="bad_log") + 1.0
    with np.errstate(invalid="ignore"):
        with pytest.raises(tg.NumericsError, match="bad_log"):
            tg.Session(optimize=optimize, check_numerics=True).run(y)


def test_check_numerics_inf():
    x = tg.placeholder((), "float64")
    with np.errstate(divide="ignore"):
        with pytest.raises(tg.NumericsError, match="Inf"):
            tg.Session(check_numerics=True).run(tg.constant(1.0, "float64") / x, {x: 0.0})


# ----------------------------------------------------------------- evaluate / eval

def test_evaluate_and_eval():
    x = tg.placeholder((2,), "float64")
    y = x * 2.0
    np.testing.assert_array_equal(tg.evaluate(y, {x: [1.0, 2.0]}), [2.0, 4.0])
    np.testing.assert_array_equal(y.eval({x: [1.0, 2.0]}), [2.0, 4.0])
    assert tg.evaluate({"k": [tg.constant(3.0)]}) == {"k": [3.0]}
    np.testing.assert_array_equal(tg.evaluate(y, {x: [1.0, 1.0]}, optimize=False), [2.0, 2.0])


def test_eval_uses_the_default_session():
    x = tg.placeholder((2,), "float64")
    y = tg.tanh(x)
    with tg.Session() as sess:
        y.eval({x: [0.0, 1.0]})
        y.eval({x: [1.0, 1.0]})
        tg.evaluate(y, {x: [1.0, 1.0]})
        assert len(sess._plans) == 1          # both went through the `with` session
    other = tg.Session()
    y.eval({x: [0.0, 1.0]}, session=other)
    assert len(other._plans) == 1


def test_nested_default_sessions():
    x = tg.constant(1.0)
    with tg.Session() as outer:
        with tg.Session() as inner:
            (x + 1.0).eval()
            assert len(inner._plans) == 1 and len(outer._plans) == 0
        (x + 2.0).eval()
        assert len(outer._plans) == 1
    assert len(inner._plans) == 0 and len(outer._plans) == 0      # closed on exit
    from tinygraph.runtime.session import get_default_session
    assert get_default_session() is None


# ----------------------------------------------------------------- variables

def test_variables_read_at_start_and_assigns_committed():
    v = tg.Variable(np.array([1.0, 2.0]), name="v")
    w = tg.Variable(np.array(10.0), name="w")
    up = tg.group(v.assign(v * 3.0), w.assign_add(1.0))
    sess = tg.Session()
    before = sess.run([v * 1.0, w * 1.0, up])
    np.testing.assert_array_equal(before[0], [1.0, 2.0])
    np.testing.assert_array_equal(v.value, [3.0, 6.0])
    assert w.value == 11.0
    sess.run(up)
    np.testing.assert_array_equal(v.value, [9.0, 18.0])


def test_failed_run_changes_no_variable():
    v = tg.Variable(np.array([1.0, 2.0]), name="v")
    w = tg.Variable(np.array(5.0), name="w")
    idx = tg.placeholder((1,), "int32", name="idx")
    up = tg.group(v.assign(v + 1.0), w.assign_add(1.0))
    later = tg.gather(v + 0.0, idx)                       # fails for a bad index
    sess = tg.Session()
    sess.run([up, later], {idx: [1]})
    np.testing.assert_array_equal(v.value, [2.0, 3.0])
    with pytest.raises(Exception):
        sess.run([up, later], {idx: [7]})
    np.testing.assert_array_equal(v.value, [2.0, 3.0])
    assert w.value == 6.0


def test_failed_run_by_check_numerics_changes_no_variable():
    v = tg.Variable(np.array([1.0, 2.0]), name="v")
    x = tg.placeholder((2,), "float64")
    up = v.assign(v * 2.0)
    sess = tg.Session(check_numerics=True)
    with np.errstate(invalid="ignore"):
        with pytest.raises(tg.NumericsError):
            sess.run([up, tg.log(x)], {x: [1.0, -1.0]})
    np.testing.assert_array_equal(v.value, [1.0, 2.0])


def test_update_of_wrong_run_time_shape_changes_no_variable():
    a = tg.Variable(np.zeros(2), name="a")
    v = tg.Variable(np.zeros((2, 3)), name="v")
    x = tg.placeholder((None, 3), "float64")
    up = tg.group(a.assign(np.ones(2)), v.assign(x))
    with pytest.raises(ValueError, match=r"'v'.*\(4, 3\)"):
        tg.Session().run(up, {x: np.ones((4, 3))})
    np.testing.assert_array_equal(a.value, [0.0, 0.0])
    np.testing.assert_array_equal(v.value, np.zeros((2, 3)))
    tg.Session().run(up, {x: np.ones((2, 3))})
    np.testing.assert_array_equal(a.value, [1.0, 1.0])


def test_same_variable_assigned_twice_is_an_error():
    v = tg.Variable(np.zeros(2), name="twice")
    a, b = v.assign(np.ones(2)), v.assign_add(np.ones(2))
    with pytest.raises(ValueError, match="twice"):
        tg.Session().run([a, b])
    with pytest.raises(ValueError, match="twice"):
        tg.Session().run(tg.group(a, b))
    np.testing.assert_array_equal(v.value, [0.0, 0.0])


# ----------------------------------------------------------------- randomness

@pytest.mark.parametrize("make", [
    lambda: tg.random_uniform((5,), seed=7),
    lambda: tg.random_normal((5,), seed=7),
    lambda: tg.dropout_mask((50,), 0.5, seed=7),
])
def test_seeded_random_reproduces_across_sessions(make):
    r = make()
    s1 = tg.Session()
    a1, a2 = s1.run(r), s1.run(r)
    assert not np.array_equal(a1, a2)                    # a new draw each run
    s2 = tg.Session()
    b1, b2 = s2.run(r), s2.run(r)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)


def test_seeded_random_in_a_new_graph_reproduces():
    a = tg.Session().run(tg.random_normal((4,), seed=3))
    tg.reset_default_graph()
    b = tg.Session().run(tg.random_normal((4,), seed=3))
    np.testing.assert_array_equal(a, b)


def test_random_value_shared_within_one_run():
    r = tg.random_uniform((4,), seed=1)
    a, b = tg.Session().run([r * 1.0, r + 0.0])
    np.testing.assert_array_equal(a, b)


def test_unseeded_random_differs_between_sessions():
    r = tg.random_uniform((8,))
    assert not np.array_equal(tg.Session().run(r), tg.Session().run(r))


def _seeded_graph():
    tg.reset_default_graph()
    tg.set_random_seed(123)
    a, b = tg.random_uniform((4,)), tg.random_uniform((4,))
    w = tg.get_variable("w", (3, 2))               # an unseeded initializer
    return tg.Session().run([a, b]) + [w.value]


def test_graph_level_seed_reproduces_and_is_per_graph():
    first, again = _seeded_graph(), _seeded_graph()
    for u, v in zip(first, again):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(first[0], first[1])          # ops get different seeds
    tg.reset_default_graph()                               # a new graph has no seed
    r = tg.random_uniform((8,))
    assert not np.array_equal(tg.Session().run(r), tg.Session().run(r))
    assert not np.array_equal(tg.get_variable("w", (3, 2)).value, first[2])
