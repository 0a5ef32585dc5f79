"""The graph IR (SPEC 2): shape/dtype inference, build-time errors, names and
scopes, hash-consing, conversion of NumPy values, operators and shape ops."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.ir.graph import topo_nodes


def run(fetches, feed=None):
    return tg.Session(optimize=False).run(fetches, feed)


# ----------------------------------------------------------------- inference

def test_placeholder_shape_and_dtype():
    x = tg.placeholder((None, 3), "float64", name="x")
    assert x.shape == (None, 3)
    assert x.dtype == np.float64
    assert x.name == "x"
    assert x.node.op.name == "placeholder"


@pytest.mark.parametrize("build,shape,dtype", [
    (lambda x, v: x + v, (None, 3), np.float32),
    (lambda x, v: x * 2.0, (None, 3), np.float32),
    (lambda x, v: tg.expand_dims(x, 0), (1, None, 3), np.float32),
    (lambda x, v: tg.reshape(x, (-1, 1)), (None, 1), np.float32),
    (lambda x, v: tg.reduce_sum(x, axis=0), (3,), np.float32),
    (lambda x, v: tg.reduce_sum(x, axis=1, keepdims=True), (None, 1), np.float32),
    (lambda x, v: tg.reduce_max(x), (), np.float32),
    (lambda x, v: x @ tg.placeholder((3, 7)), (None, 7), np.float32),
    (lambda x, v: tg.transpose(x), (3, None), np.float32),
    (lambda x, v: x > v, (None, 3), np.bool_),
    (lambda x, v: tg.cast(x, "int32"), (None, 3), np.int32),
    (lambda x, v: tg.tanh(x), (None, 3), np.float32),
    (lambda x, v: tg.where(x > 0, x, v), (None, 3), np.float32),
    (lambda x, v: tg.one_hot(tg.placeholder((None,), "int32"), 5), (None, 5), np.float32),
    (lambda x, v: tg.gather(x, np.array([0, 1, 1, 0])), (4, 3), np.float32),
    (lambda x, v: tg.concat([x, x], axis=0), (None, 3), np.float32),
    (lambda x, v: tg.concat([x, tg.placeholder((None, 2))], axis=1), (None, 5), np.float32),
])
def test_static_inference_with_unknown_dims(build, shape, dtype):
    x = tg.placeholder((None, 3))
    v = tg.placeholder((3,))
    y = build(x, v)
    assert y.shape == shape
    assert y.dtype == dtype


def test_inferred_shapes_match_run_shapes(rng):
    x = tg.placeholder((None, 3), "float64")
    outs = [x + 1.0, tg.reduce_sum(x, 0), tg.reshape(x, (-1,)), x[:, 1:], tg.stack([x, x], 2),
            tg.concat([x, x], 1), tg.expand_dims(x, 1), tg.transpose(x)]
    vals = run(outs, {x: rng.standard_normal((4, 3))})
    for t, v in zip(outs, vals):
        assert len(t.shape) == v.ndim
        assert all(s is None or s == d for s, d in zip(t.shape, v.shape)), (t, v.shape)
        assert v.dtype == t.dtype


def test_dtype_mismatch_is_refused():
    a = tg.placeholder((3,), "float32", name="a32")
    b = tg.placeholder((3,), "float64", name="b64")
    with pytest.raises(TypeError, match="a32.*b64|float32.*float64"):
        a + b


def test_python_scalar_adopts_tensor_dtype():
    x = tg.placeholder((2,), "float64")
    assert (x + 1).dtype == np.float64
    i = tg.placeholder((2,), "int32")
    assert (i * 2).dtype == np.int32


# ----------------------------------------------------------------- build-time errors

def test_matmul_shape_error_names_op_inputs_and_shapes():
    a = tg.placeholder((3, 4), name="lhs")
    b = tg.placeholder((5, 2), name="rhs")
    with pytest.raises(ValueError) as e:
        tg.matmul(a, b)
    msg = str(e.value)
    assert isinstance(e.value, tg.ShapeError)
    for part in ("matmul", "'lhs'", "'rhs'", "(3, 4)", "(5, 2)"):
        assert part in msg, (part, msg)


@pytest.mark.parametrize("build,op", [
    (lambda a, b: a + b, "add"),
    (lambda a, b: tg.concat([a, b], axis=0), "concat"),
    (lambda a, b: tg.stack([a, b]), "stack"),
    (lambda a, b: tg.where(a > 0, a, b), "where"),
])
def test_binary_shape_errors_name_everything(build, op):
    a = tg.placeholder((3, 4), name="first")
    b = tg.placeholder((2, 5), name="second")
    with pytest.raises(tg.ShapeError) as e:
        build(a, b)
    msg = str(e.value)
    assert op in msg and "(3, 4)" in msg and "(2, 5)" in msg, msg
    assert "'second'" in msg, msg


def test_reshape_error_at_build_time():
    x = tg.placeholder((2, 3), name="x")
    with pytest.raises(tg.ShapeError, match=r"reshape.*'x' \(2, 3\)"):
        tg.reshape(x, (4, 2))
    with pytest.raises(tg.ShapeError):
        tg.reshape(x, (-1, -1))
    with pytest.raises(tg.ShapeError):
        tg.reshape(x, (4, -1))


def test_reduce_axis_out_of_range_names_tensor():
    x = tg.placeholder((2, 3), name="inp")
    with pytest.raises(tg.ShapeError, match="inp"):
        tg.reduce_sum(x, axis=2)


def test_error_message_includes_scope():
    with tg.name_scope("block"):
        with pytest.raises(tg.ShapeError, match="block/matmul"):
            tg.placeholder((2, 3)) @ tg.placeholder((2, 3))


def test_indexing_errors():
    x = tg.placeholder((2, 3))
    with pytest.raises(IndexError):
        x[2]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(TypeError):
        x[tg.placeholder((), "int32")]


def test_symbolic_tensor_has_no_truth_value():
    x = tg.placeholder((2,))
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)
    with pytest.raises(TypeError):
        iter(x)


# ----------------------------------------------------------------- names

def test_name_scopes_prefix_names():
    with tg.name_scope("outer"):
        a = tg.placeholder((2,), name="a")
        with tg.name_scope("inner"):
            b = tg.tanh(a)
        c = tg.exp(a)
    d = tg.sigmoid(a)
    assert a.name == "outer/a"
    assert b.name == "outer/inner/tanh" and b.node.scope == "outer/inner"
    assert c.name == "outer/exp" and c.node.scope == "outer"
    assert d.name == "sigmoid" and d.node.scope == ""


def test_names_are_unique():
    x = tg.placeholder((2,), name="x")
    names = [tg.tanh(x + float(i)).name for i in range(5)]
    names += [tg.placeholder((2,), name="x").name for _ in range(3)]
    assert len(set(names)) == len(names)
    assert "x_1" in names


def test_user_name_collision_with_generated_name():
    a = tg.placeholder((1,), name="add_1")
    x = tg.placeholder((1,))
    sums = [x + float(i) for i in range(3)]
    names = [a.name] + [s.name for s in sums]
    assert len(set(names)) == len(names), names


def test_bad_scope_name():
    with pytest.raises(ValueError):
        with tg.name_scope("a/b"):
            pass
    with pytest.raises(ValueError):
        with tg.name_scope(""):
            pass


# ----------------------------------------------------------------- hash-consing

def test_same_op_twice_is_same_tensor():
    x = tg.placeholder((3,))
    assert tg.tanh(x) is tg.tanh(x)
    assert (x + 1.0) is (x + 1.0)
    assert tg.reduce_sum(x, 0) is tg.reduce_sum(x, 0)
    assert tg.tanh(x) is not tg.sigmoid(x)
    assert tg.reduce_sum(x, 0) is not tg.reduce_sum(x, 0, keepdims=True)


def test_constants_with_equal_values_are_shared_and_different_not():
    a = tg.constant(np.arange(3.0))
    assert tg.constant(np.arange(3.0)) is a
    assert tg.constant(np.arange(3.0) + 1) is not a
    assert tg.constant(np.arange(3.0), dtype="float32") is not a


def test_stateful_ops_are_never_shared():
    assert tg.placeholder((2,)) is not tg.placeholder((2,))
    assert tg.random_uniform((2,), seed=1) is not tg.random_uniform((2,), seed=1)


# ----------------------------------------------------------------- constants

def test_numpy_and_python_values_become_constants():
    x = tg.placeholder((3,), "float64")
    y = x + np.array([1.0, 2.0, 3.0])
    other = y.node.inputs[1]
    assert other.node.op.name == "constant" and other.dtype == np.float64
    z = 2.0 * x
    assert z.node.inputs[0].node.op.name == "constant"
    np.testing.assert_allclose(run(y, {x: np.zeros(3)}), [1, 2, 3])
    w = np.ones(3) + x         # numpy on the left defers to the tensor
    assert isinstance(w, tg.Tensor)


def test_constant_default_dtypes():
    assert tg.constant(1.5).dtype == np.float32
    assert tg.constant(2).dtype == np.int32
    assert tg.constant(True).dtype == np.bool_
    assert tg.constant([1.0, 2.0]).dtype == np.float32
    assert tg.constant(np.zeros(2)).dtype == np.float64
    assert tg.constant(1, dtype="float64").dtype == np.float64
    with pytest.raises(TypeError):
        tg.constant(1.5, dtype="int32")


def test_constant_value_is_frozen():
    arr = np.zeros(3)
    c = tg.constant(arr)
    arr[0] = 7.0                          # the graph holds its own copy
    np.testing.assert_array_equal(run(c), np.zeros(3))


# ----------------------------------------------------------------- operators

def test_operators_against_numpy(rng):
    a, b = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0.5, 2.0, (2, 3))
    m = rng.standard_normal((3, 4))
    x, y = tg.placeholder((2, 3), "float64"), tg.placeholder((2, 3), "float64")
    w = tg.placeholder((3, 4), "float64")
    outs = {"add": x + y, "sub": x - y, "mul": x * y, "div": x / y, "matmul": x @ w,
            "pow": x ** y, "neg": -x, "radd": 1.0 + x, "rsub": 1.0 - x, "rdiv": 1.0 / x,
            "rpow": 2.0 ** x, "abs": abs(x - 1.0), "T": x.T}
    got = run(outs, {x: a, y: b, w: m})
    want = {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b, "matmul": a @ m,
            "pow": a ** b, "neg": -a, "radd": 1 + a, "rsub": 1 - a, "rdiv": 1 / a,
            "rpow": 2 ** a, "abs": np.abs(a - 1), "T": a.T}
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)


def test_comparisons_give_bool(rng):
    a, b = rng.standard_normal((4,)), rng.standard_normal((4,))
    x, y = tg.placeholder((4,), "float64"), tg.placeholder((4,), "float64")
    outs = [x < y, x <= y, x > y, x >= y, tg.equal(x, x), tg.not_equal(x, y)]
    for t in outs:
        assert t.dtype == np.bool_
    got = run(outs, {x: a, y: b})
    for g, w in zip(got, [a < b, a <= b, a > b, a >= b, a == a, a != b]):
        assert g.dtype == np.bool_
        np.testing.assert_array_equal(g, w)


def test_tensor_equality_is_identity():
    """``==`` keeps identity meaning: tensors are dict keys in feeds."""
    x, y = tg.placeholder((2,)), tg.placeholder((2,))
    assert x == x and not (x == y)
    assert len({x: 1, y: 2}) == 2


@pytest.mark.parametrize("index", [
    0, -1, (slice(1, None),), (slice(None), 1), (Ellipsis, None), (slice(None, None, -1),),
    (1, slice(0, 3, 2)), (None, Ellipsis, 2), (slice(-2, None), slice(None, 1)),
])
def test_slicing_matches_numpy(index, rng):
    a = rng.standard_normal((3, 4))
    x = tg.placeholder((3, 4), "float64")
    y = x[index]
    want = a[index]
    assert y.shape == want.shape
    np.testing.assert_array_equal(run(y, {x: a}), want)


def test_slicing_with_unknown_dim(rng):
    x = tg.placeholder((None, 4), "float64")
    y = x[:, 1:3]
    assert y.shape == (None, 2)
    a = rng.standard_normal((5, 4))
    np.testing.assert_array_equal(run(y, {x: a}), a[:, 1:3])
    np.testing.assert_array_equal(run(x[2], {x: a}), a[2])


def test_tg_slice_like_tf(rng):
    a = rng.standard_normal((4, 5))
    x = tg.placeholder((4, 5), "float64")
    np.testing.assert_array_equal(run(tg.slice(x, [1, 2], [2, -1]), {x: a}), a[1:3, 2:])


# ----------------------------------------------------------------- shape ops

def test_reshape_with_minus_one_and_unknown_dims(rng):
    x = tg.placeholder((None, 2, 3), "float64")
    y = tg.reshape(x, (-1, 6))
    assert y.shape == (None, 6)
    z = tg.reshape(x, (-1,))
    assert z.shape == (None,)
    k = tg.reshape(tg.placeholder((4, 6)), (2, -1, 3))
    assert k.shape == (2, 4, 3)
    a = rng.standard_normal((5, 2, 3))
    got = run([y, z], {x: a})
    np.testing.assert_array_equal(got[0], a.reshape(-1, 6))
    np.testing.assert_array_equal(got[1], a.reshape(-1))
    with pytest.raises(ValueError):
        run(y, {x: rng.standard_normal((5, 2, 4))})    # wrong feed shape


def test_reshape_accepts_none_as_minus_one(rng):
    """A static shape with None (x.shape) reads as -1 (decision: TF refuses None)."""
    x = tg.placeholder((None, 6), "float64")
    y = tg.reshape(x, (x.shape[0], 2, 3))
    assert y.shape == (None, 2, 3)
    a = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(run(y, {x: a}), a.reshape(4, 2, 3))
    with pytest.raises(tg.ShapeError, match="-1"):
        tg.reshape(x, (None, None))


def test_reshape_gradient_with_unknown_batch(rng):
    x = tg.placeholder((None, 2, 3), "float64")
    y = tg.reshape(x, (-1, 6)) * np.arange(6.0)
    (g,) = tg.gradients(y, [x])
    got = run(g, {x: rng.standard_normal((4, 2, 3))})
    np.testing.assert_array_equal(got, np.broadcast_to(np.arange(6.0).reshape(2, 3), (4, 2, 3)))


def test_concat_split_stack_unstack_round_trip(rng):
    a = rng.standard_normal((4, 6))
    x = tg.placeholder((4, 6), "float64")
    parts = tg.split(x, 3, axis=1)
    assert [p.shape for p in parts] == [(4, 2)] * 3
    uneven = tg.split(x, [1, 2, 3], axis=1)
    assert [p.shape for p in uneven] == [(4, 1), (4, 2), (4, 3)]
    back = tg.concat(parts, axis=1)
    rows = tg.unstack(x, axis=0)
    assert len(rows) == 4 and rows[0].shape == (6,)
    restacked = tg.stack(rows, axis=1)
    assert restacked.shape == (6, 4)
    got = run([back, restacked, uneven[2], rows[3]], {x: a})
    np.testing.assert_array_equal(got[0], a)
    np.testing.assert_array_equal(got[1], a.T)
    np.testing.assert_array_equal(got[2], a[:, 3:])
    np.testing.assert_array_equal(got[3], a[3])


def test_split_errors():
    x = tg.placeholder((4, 6))
    with pytest.raises(tg.ShapeError):
        tg.split(x, 4, axis=1)
    with pytest.raises(tg.ShapeError):
        tg.split(x, [1, 2], axis=1)
    with pytest.raises(tg.ShapeError):
        tg.unstack(tg.placeholder((None, 3)), axis=0)


def test_ops_on_dynamic_batch(rng):
    x = tg.placeholder((None, 3), "float64")
    w = np.arange(6.0).reshape(3, 2)
    y = tg.concat([tg.tanh(x @ w), x[:, :1]], axis=1)
    parts = tg.split(y, [2, 1], axis=1)
    mean = tg.reduce_mean(x, axis=0)
    st = tg.stack([x, 2.0 * x], axis=0)
    for batch in (1, 4, 7):
        a = rng.standard_normal((batch, 3))
        got = run([y, parts[1], mean, st], {x: a})
        np.testing.assert_allclose(got[0], np.concatenate([np.tanh(a @ w), a[:, :1]], 1))
        np.testing.assert_allclose(got[1], a[:, :1])
        np.testing.assert_allclose(got[2], a.mean(0))
        np.testing.assert_allclose(got[3], np.stack([a, 2 * a]))


def test_concat_of_unknown_sizes_and_its_gradient(rng):
    a = tg.placeholder((None, 2), "float64")
    b = tg.placeholder((None, 2), "float64")
    c = tg.concat([a, b], axis=0)
    assert c.shape == (None, 2)
    w = tg.placeholder((None, 2), "float64")
    ga, gb = tg.gradients(tg.reduce_sum(c * w), [a, b])
    av, bv = rng.standard_normal((3, 2)), rng.standard_normal((2, 2))
    wv = rng.standard_normal((5, 2))
    got = run([c, ga, gb], {a: av, b: bv, w: wv})
    np.testing.assert_array_equal(got[0], np.concatenate([av, bv]))
    np.testing.assert_array_equal(got[1], wv[:3])
    np.testing.assert_array_equal(got[2], wv[3:])


def test_topo_nodes_puts_inputs_first():
    x = tg.placeholder((2,))
    y = tg.tanh(x) + tg.exp(x)
    order = topo_nodes([y])
    pos = {n.id: i for i, n in enumerate(order)}
    for n in order:
        for t in n.inputs:
            assert pos[t.node.id] < pos[n.id]
    assert order[-1] is y.node
