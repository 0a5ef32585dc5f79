"""Autodiff (SPEC 3): grad_ys, unconnected gradients, non-float tensors, stop_gradient,
cast, provenance, second order, broadcasting with unknown dims."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.ir.graph import topo_nodes


def run(fetches, feed=None):
    return tg.Session(optimize=False).run(fetches, feed)


def numeric_grad(f, arrays, i, eps=1e-6):
    """Central differences of the scalar f(*arrays) in arrays[i], element by element."""
    out = np.zeros_like(arrays[i])
    for idx in np.ndindex(arrays[i].shape):
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[i][idx] += eps
        minus[i][idx] -= eps
        out[idx] = (f(*plus) - f(*minus)) / (2 * eps)
    return out


def test_gradient_of_simple_function(rng):
    a = rng.standard_normal((3, 4))
    x = tg.placeholder((3, 4), "float64")
    y = tg.reduce_sum(tg.tanh(x) * x)
    (g,) = tg.gradients(y, [x])
    assert g.shape == (3, 4) and g.dtype == np.float64
    np.testing.assert_allclose(run(g, {x: a}), np.tanh(a) + a * (1 - np.tanh(a) ** 2), rtol=1e-12)


def test_gradients_accepts_single_tensors_and_sums_ys(rng):
    a = rng.standard_normal(3)
    x = tg.placeholder((3,), "float64")
    g1 = tg.gradients(x * 2.0, x)
    assert isinstance(g1, list) and len(g1) == 1
    g2 = tg.gradients([x * 2.0, x * x], [x])
    np.testing.assert_allclose(run(g1[0], {x: a}), 2.0)
    np.testing.assert_allclose(run(g2[0], {x: a}), 2.0 + 2 * a)


def test_grad_ys_scales_the_cotangent(rng):
    a, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    x = tg.placeholder((2, 3), "float64")
    y = tg.exp(x)
    (g,) = tg.gradients(y, [x], grad_ys=c)
    np.testing.assert_allclose(run(g, {x: a}), c * np.exp(a), rtol=1e-12)
    # a symbolic grad_ys works too, and one per y
    gy = tg.placeholder((2, 3), "float64")
    (g2,) = tg.gradients([y, x * 3.0], [x], grad_ys=[gy, None])
    np.testing.assert_allclose(run(g2, {x: a, gy: c}), c * np.exp(a) + 3.0, rtol=1e-12)


def test_grad_ys_errors():
    x = tg.placeholder((2, 3), "float64")
    with pytest.raises(ValueError, match="grad_ys"):
        tg.gradients(x * 2.0, [x], grad_ys=np.ones((3, 2)))
    with pytest.raises(ValueError, match="grad_ys"):
        tg.gradients([x * 2.0], [x], grad_ys=[None, None])
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tg.gradients(x, [x], unconnected_gradients="zeros")
    with pytest.raises(TypeError):
        tg.gradients(x, [np.ones(3)])


def test_unconnected_none_vs_zero():
    x = tg.placeholder((2, 3), "float64")
    other = tg.placeholder((4,), "float64")
    y = tg.reduce_sum(x * 2.0)
    assert tg.gradients(y, [other]) == [None]
    g, gz = tg.gradients(y, [x, other], unconnected_gradients="zero")
    assert gz.shape == (4,) and gz.dtype == np.float64
    vals = run([g, gz], {x: np.ones((2, 3)), other: np.ones(4)})
    np.testing.assert_array_equal(vals[1], np.zeros(4))
    np.testing.assert_array_equal(vals[0], np.full((2, 3), 2.0))


def test_unconnected_zero_with_unknown_dims():
    x = tg.placeholder((None, 3), "float64")
    y = tg.reduce_sum(tg.placeholder((2,), "float64"))
    (g,) = tg.gradients(y, [x], unconnected_gradients="zero")
    got = tg.Session().run(g, {x: np.ones((5, 3)), y.node.inputs[0]: np.ones(2)})
    np.testing.assert_array_equal(got, np.zeros((5, 3)))


def test_integer_and_bool_tensors_get_no_gradient():
    x = tg.placeholder((3,), "float64")
    i = tg.placeholder((3,), "int32")
    y = tg.reduce_sum(tg.cast(i, "float64") * x)
    gi, gx = tg.gradients(y, [i, x])
    assert gi is None and gx is not None
    # a round trip through an integer cuts the path
    z = tg.reduce_sum(tg.cast(tg.cast(x, "int32"), "float64"))
    assert tg.gradients(z, [x]) == [None]
    # the bool condition of where gets nothing
    c = x > 0.0
    w = tg.reduce_sum(tg.where(c, x, 0.0))
    gc, gx2 = tg.gradients(w, [c, x])
    assert gc is None
    np.testing.assert_array_equal(run(gx2, {x: np.array([-1.0, 2.0, 3.0])}), [0, 1, 1])
    # an integer y is not differentiated at all
    assert tg.gradients(tg.cast(x, "int32"), [x]) == [None]


def test_stop_gradient_blocks():
    a = np.array([1.0, -2.0, 3.5])
    x = tg.placeholder((3,), "float64")
    y = tg.stop_gradient(x) * x
    (g,) = tg.gradients(y, [x])
    np.testing.assert_array_equal(run(g, {x: a}), a)       # exactly x, not 2x
    assert tg.gradients(tg.stop_gradient(x) * 2.0, [x]) == [None]


def test_cast_gradient_comes_back_in_input_dtype(rng):
    a = rng.standard_normal(4).astype("float32")
    x = tg.placeholder((4,), "float32")
    y = tg.reduce_sum(tg.square(tg.cast(x, "float64")))
    (g,) = tg.gradients(y, [x])
    assert g.dtype == np.float32
    got = run(g, {x: a})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 2 * a, rtol=1e-6)
    x64 = tg.placeholder((4,), "float64")
    (g64,) = tg.gradients(tg.cast(x64, "float32") * 3.0, [x64])
    assert g64.dtype == np.float64


def test_gradient_wrt_intermediate_tensor(rng):
    a = rng.standard_normal(3)
    x = tg.placeholder((3,), "float64")
    h = tg.tanh(x)
    y = tg.reduce_sum(h * h + x)
    gh, gx = tg.gradients(y, [h, x])
    vals = run([gh, gx], {x: a})
    np.testing.assert_allclose(vals[0], 2 * np.tanh(a))
    np.testing.assert_allclose(vals[1], 2 * np.tanh(a) * (1 - np.tanh(a) ** 2) + 1)


def test_gradient_of_y_wrt_itself():
    x = tg.placeholder((2,), "float64")
    (g,) = tg.gradients(x, [x])
    np.testing.assert_array_equal(run(g, {x: np.array([3.0, 4.0])}), [1.0, 1.0])


def test_multi_output_op_gradient_fills_unused_outputs(rng):
    a = rng.standard_normal((2, 6))
    x = tg.placeholder((2, 6), "float64")
    p = tg.split(x, 3, axis=1)
    (g,) = tg.gradients(tg.reduce_sum(p[1] * 5.0), [x])
    want = np.zeros((2, 6))
    want[:, 2:4] = 5.0
    np.testing.assert_array_equal(run(g, {x: a}), want)


# ----------------------------------------------------------------- provenance

def _check_provenance(ys, xs, grads):
    forward = {n.id for n in topo_nodes(list(ys) + list(xs))}
    new = [n for n in topo_nodes([g for g in grads if g is not None]) if n.id not in forward]
    assert new, "the gradient built no nodes"
    for n in new:
        assert n.grad_of is not None, f"gradient node {n.name} ({n.op.name}) has no grad_of"
        assert n.grad_of.id in forward, f"{n.name}.grad_of = {n.grad_of.name} is not a forward node"
    return new


def test_provenance_of_gradient_nodes():
    x = tg.placeholder((None, 3), "float64")
    w = tg.Variable(np.ones((3, 2)), name="w")
    b = tg.Variable(np.zeros(2), name="b")
    h = tg.tanh(x @ w + b)
    y = tg.reduce_mean(tg.square(tg.sigmoid(h) - 0.5)) + tg.reduce_sum(tg.log_softmax(h))
    ys, xs = [y], [w, b, x]
    grads = tg.gradients(ys, xs)
    new = _check_provenance(ys, xs, grads)
    by_forward = {n.grad_of.op.name for n in new}
    assert {"matmul", "tanh", "sigmoid", "add"} <= by_forward, by_forward


def test_provenance_with_zero_unconnected_and_grad_ys():
    x = tg.placeholder((3,), "float64")
    lone = tg.placeholder((2,), "float64")
    y = tg.exp(x) * x
    grads = tg.gradients([y], [x, lone], grad_ys=[np.array([1.0, 2.0, 3.0])],
                         unconnected_gradients="zero")
    _check_provenance([y], [x, lone], grads)


def test_provenance_of_second_order_gradient():
    x = tg.placeholder((3,), "float64")
    y = tg.reduce_sum(tg.tanh(x) ** 3.0)
    (g,) = tg.gradients(y, [x])
    (h,) = tg.gradients(tg.reduce_sum(g), [x])
    _check_provenance([tg.reduce_sum(g)], [x], [h])


# ----------------------------------------------------------------- second order

def test_hessian_vector_product_closed_form(rng):
    """f(x) = sum(x**3) + (a.x)**2: H = diag(6x) + 2 a a^T."""
    n = 5
    xv, av, vv = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    x = tg.placeholder((n,), "float64")
    v = tg.placeholder((n,), "float64")
    f = tg.reduce_sum(x ** 3.0) + tg.square(tg.reduce_sum(x * av))
    (g,) = tg.gradients(f, [x])
    (hv,) = tg.gradients(tg.reduce_sum(g * v), [x])
    got = run([g, hv], {x: xv, v: vv})
    np.testing.assert_allclose(got[0], 3 * xv ** 2 + 2 * av * (av @ xv), rtol=1e-10)
    np.testing.assert_allclose(got[1], 6 * xv * vv + 2 * av * (av @ vv), rtol=1e-10)


def test_third_derivative_of_tanh(rng):
    a = rng.standard_normal(4)
    x = tg.placeholder((4,), "float64")
    (d1,) = tg.gradients(tg.tanh(x), [x])
    (d2,) = tg.gradients(d1, [x])
    (d3,) = tg.gradients(d2, [x])
    t = np.tanh(a)
    got = run([d1, d2, d3], {x: a})
    np.testing.assert_allclose(got[0], 1 - t ** 2, rtol=1e-10)
    np.testing.assert_allclose(got[1], -2 * t * (1 - t ** 2), rtol=1e-10)
    np.testing.assert_allclose(got[2], -2 * (1 - t ** 2) ** 2 + 4 * t ** 2 * (1 - t ** 2),
                               rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------- broadcasting

BROADCAST_CASES = [
    # (placeholder shapes, fed shapes, function)
    (((None, 3), (3,)), ((4, 3), (3,)), lambda x, y: x + y),
    (((None, 1), (None, 3)), ((4, 1), (4, 3)), lambda x, y: x * y),
    (((None, 3), (None, 3)), ((1, 3), (4, 3)), lambda x, y: x * y),     # an unknown dim that is 1
    (((None, None), (None,)), ((4, 3), (1,)), lambda x, y: x - y),
    (((2, None, 3), (None, 1)), ((2, 4, 3), (4, 1)), lambda x, y: x / (y * y + 1.0)),
    (((None, 3), (1, 3)), ((4, 3), (1, 3)), lambda x, y: tg.maximum(x, y)),
    (((None, 1, 3), (2, 3)), ((4, 1, 3), (2, 3)), lambda x, y: tg.where(x > y, x * y, y)),
    (((None, 3), (None, 3)), ((4, 3), (4, 3)), lambda x, y: x * y),
]


@pytest.mark.parametrize("shapes,fed,fn", BROADCAST_CASES)
def test_broadcasting_gradients_with_unknown_dims(shapes, fed, fn, rng):
    xs = [tg.placeholder(s, "float64") for s in shapes]
    arrays = [rng.uniform(0.5, 1.5, f) for f in fed]
    out = fn(*xs)
    proj = rng.standard_normal(np.broadcast_shapes(*fed))
    scalar = tg.reduce_sum(out * proj)
    grads = tg.gradients(scalar, xs)
    sess = tg.Session(optimize=False)
    got = sess.run(grads, dict(zip(xs, arrays)))

    def f(*vals):
        return float(sess.run(scalar, dict(zip(xs, vals))))

    for i, (g, a) in enumerate(zip(got, arrays)):
        assert g.shape == a.shape
        np.testing.assert_allclose(g, numeric_grad(f, arrays, i), rtol=1e-6, atol=1e-8)


def test_broadcasting_gradients_optimized_agree(rng):
    x = tg.placeholder((None, 1), "float64")
    y = tg.placeholder((None, 3), "float64")
    gx, gy = tg.gradients(tg.reduce_sum(tg.tanh(x * y)), [x, y])
    feed = {x: rng.standard_normal((4, 1)), y: rng.standard_normal((4, 3))}
    a = tg.Session(optimize=False).run([gx, gy], feed)
    b = tg.Session(optimize=True).run([gx, gy], feed)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-12)
