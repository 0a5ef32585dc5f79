"""Variables and the TF1 variable store (SPEC 2): get_variable / variable_scope reuse
semantics, assign / assign_add, assign_value."""
import numpy as np
import pytest

import tinygraph as tg


# ----------------------------------------------------------------- Variable

def test_variable_basics():
    v = tg.Variable(np.arange(3.0), name="v")
    assert isinstance(v, tg.Tensor)
    assert v.shape == (3,) and v.dtype == np.float64 and v.name == "v"
    assert v.trainable
    assert v.node.op.name == "variable"
    np.testing.assert_array_equal(v.value, [0.0, 1.0, 2.0])
    assert tg.Variable(1.5).dtype == np.float32          # Python float -> float32
    assert tg.Variable([1, 2], dtype="float64").dtype == np.float64
    assert not tg.Variable(0.0, trainable=False).trainable


def test_variable_from_callable_and_refuses_tensor():
    v = tg.Variable(lambda: np.ones((2, 2)), name="lazy")
    assert v.shape == (2, 2)
    with pytest.raises(TypeError, match="Tensor"):
        tg.Variable(tg.constant(1.0))


def test_variable_read_sees_value_current_at_each_run():
    v = tg.Variable(np.array([1.0, 2.0]), name="v")
    y = v * 2.0
    sess = tg.Session()
    np.testing.assert_array_equal(sess.run(y), [2.0, 4.0])
    v.assign_value(np.array([5.0, 6.0]))
    np.testing.assert_array_equal(sess.run(y), [10.0, 12.0])       # the cached plan re-reads


def test_fetched_arrays_do_not_alias_the_variable():
    v = tg.Variable(np.zeros(3), name="v")
    sess = tg.Session()
    for fetch in (v, tg.identity(v), tg.reshape(v, (3, 1)), tg.stop_gradient(v), v[1:]):
        got = sess.run(fetch)
        got[...] = 100.0                 # the caller owns what it fetched
        np.testing.assert_array_equal(v.value, np.zeros(3))
    c = sess.run(tg.constant(np.ones(2)))
    c[0] = 5.0                           # a fetched constant is writable too
    np.testing.assert_array_equal(sess.run(tg.constant(np.ones(2))), [1.0, 1.0])


def test_variable_is_never_folded():
    v = tg.Variable(np.array(2.0), name="v")
    y = v * tg.constant(3.0, "float64")
    out = tg.optimize(y)
    assert "variable" in [n.op.name for n in tg.ir.topo_nodes([out])]
    sess = tg.Session()
    assert sess.run(y) == 6.0
    v.assign_value(4.0)
    assert sess.run(y) == 12.0


def test_assign_value_errors_leave_value():
    v = tg.Variable(np.zeros((2, 3)), name="weights")
    with pytest.raises(ValueError, match=r"weights.*\(2, 3\).*\(3, 2\)"):
        v.assign_value(np.ones((3, 2)))
    with pytest.raises(ValueError, match="weights"):
        v.assign_value(np.ones(6))
    i = tg.Variable(np.zeros(2, "int32"), name="counts")
    with pytest.raises(ValueError, match="counts"):
        i.assign_value(np.array([1.5, 2.5]))
    np.testing.assert_array_equal(v.value, np.zeros((2, 3)))
    np.testing.assert_array_equal(i.value, [0, 0])
    v.assign_value(np.ones((2, 3), "float32"))              # a safe cast is fine
    assert v.value.dtype == np.float64


def test_assign_value_copies():
    v = tg.Variable(np.zeros(2), name="v")
    arr = np.ones(2)
    v.assign_value(arr)
    arr[0] = 9.0
    np.testing.assert_array_equal(v.value, [1.0, 1.0])


def test_assign_and_assign_add():
    v = tg.Variable(np.array([1.0, 2.0]), name="v")
    x = tg.placeholder((2,), "float64")
    a = v.assign(x * 2.0)
    b = v.assign_add(x)
    assert isinstance(a, tg.Node) and a.outputs == ()
    sess = tg.Session()
    assert sess.run(a, {x: [3.0, 4.0]}) is None
    np.testing.assert_array_equal(v.value, [6.0, 8.0])
    sess.run(b, {x: [1.0, -1.0]})
    np.testing.assert_array_equal(v.value, [7.0, 7.0])
    sess.run(b, {x: [1.0, 1.0]})
    np.testing.assert_array_equal(v.value, [8.0, 8.0])


def test_assign_errors_at_build_time():
    v = tg.Variable(np.zeros((2, 3)), name="v")
    with pytest.raises(tg.ShapeError, match="'v'"):
        v.assign(np.ones((3, 2)))
    with pytest.raises(tg.ShapeError):
        v.assign(tg.placeholder((2, 3), "float32"))
    with pytest.raises(tg.ShapeError):
        v.assign_add(tg.placeholder((None, 4), "float64"))
    v.assign(tg.placeholder((None, 3), "float64"))       # an unknown dim is checked at run time


def test_assign_with_unknown_dim_checked_at_run_time():
    v = tg.Variable(np.zeros((2, 3)), name="v")
    x = tg.placeholder((None, 3), "float64")
    up = v.assign(x)
    with pytest.raises(Exception):
        tg.Session().run(up, {x: np.ones((4, 3))})
    np.testing.assert_array_equal(v.value, np.zeros((2, 3)))


def test_assign_add_gradient_free():
    v = tg.Variable(np.ones(2), name="v")
    up = v.assign_add(v * 2.0)
    tg.Session().run(up)
    np.testing.assert_array_equal(v.value, [3.0, 3.0])


# ----------------------------------------------------------------- variable store

def test_get_variable_creates_under_scope():
    with tg.variable_scope("layer"):
        w = tg.get_variable("kernel", (3, 4))
        b = tg.get_variable("bias", (4,), initializer="zeros", dtype="float64")
    assert w.name == "layer/kernel" and w.shape == (3, 4) and w.dtype == np.float32
    assert b.name == "layer/bias" and b.dtype == np.float64
    np.testing.assert_array_equal(b.value, np.zeros(4))
    limit = np.sqrt(6 / 7)                                  # glorot_uniform by default
    assert np.all(np.abs(w.value) <= limit) and np.std(w.value) > 0
    with tg.variable_scope("outer"):
        with tg.variable_scope("inner"):
            n = tg.get_variable("v", (1,), initializer=np.array([7.0]))
    assert n.name == "outer/inner/v"
    np.testing.assert_array_equal(n.value, [7.0])


def test_existing_name_without_reuse_raises():
    with tg.variable_scope("s"):
        tg.get_variable("w", (2,))
    with pytest.raises(ValueError, match="s/w.*reuse"):
        with tg.variable_scope("s"):
            tg.get_variable("w", (2,))
    with pytest.raises(ValueError, match="s/w"):
        with tg.variable_scope("s", reuse=False):
            tg.get_variable("w", (2,))


def test_reuse_true_returns_same_object():
    with tg.variable_scope("s"):
        w = tg.get_variable("w", (2, 2))
    with tg.variable_scope("s", reuse=True):
        assert tg.get_variable("w") is w
        assert tg.get_variable("w", (2, 2)) is w
        with pytest.raises(ValueError, match=r"\(3, 2\)"):
            tg.get_variable("w", (3, 2))


def test_reuse_true_on_missing_name_raises():
    with pytest.raises(ValueError, match="missing.*does not exist"):
        with tg.variable_scope("s", reuse=True):
            tg.get_variable("missing", (2,))
    assert "s/missing" not in tg.get_default_graph().variable_store


def test_reuse_is_inherited_by_inner_scopes():
    with tg.variable_scope("a"):
        with tg.variable_scope("b"):
            v = tg.get_variable("v", (1,))
    with tg.variable_scope("a", reuse=True):
        with tg.variable_scope("b"):
            assert tg.get_variable("v") is v
            with pytest.raises(ValueError):
                tg.get_variable("new", (1,))


def test_auto_reuse():
    with tg.variable_scope("auto", reuse=tg.AUTO_REUSE):
        a = tg.get_variable("w", (2,))
    with tg.variable_scope("auto", reuse=tg.AUTO_REUSE):
        b = tg.get_variable("w", (2,))
        c = tg.get_variable("other", (3,))
    assert a is b
    assert c.name == "auto/other"


def test_bad_reuse_value_and_missing_shape():
    with pytest.raises(ValueError, match="reuse"):
        with tg.variable_scope("x", reuse="yes"):
            pass
    with pytest.raises(ValueError, match="shape"):
        tg.get_variable("noshape")
    with pytest.raises(ValueError, match="initializer"):
        tg.get_variable("badinit", (2,), initializer="not_an_initializer")


def test_store_is_per_graph():
    with tg.variable_scope("s"):
        tg.get_variable("w", (1,))
    tg.reset_default_graph()
    with tg.variable_scope("s"):
        fresh = tg.get_variable("w", (1,))             # no clash in a new graph
    assert fresh.name == "s/w"


def test_trainable_flag_and_trainable_variables():
    from tinygraph.ops.variables import trainable_variables
    with tg.variable_scope("m"):
        w = tg.get_variable("w", (2,))
        s = tg.get_variable("steps", (), initializer="zeros", trainable=False)
    loss = tg.reduce_sum(w) * s
    assert trainable_variables(loss) == [w]
