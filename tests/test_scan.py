"""The loop op: tg.scan against Python loops, its gradients (first and second
order, weights read inside the body), errors, and that the graph does not grow
with T."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.ir.graph import topo_nodes
from tinygraph.testing import check_grads


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_lstm(xs, W, R, b, h, c):
    """Reference LSTM (gate order i, f, c, o) over time-major xs."""
    U = h.shape[-1]
    hs = []
    for x in xs:
        z = x @ W + h @ R + b
        i, f, g, o = (z[:, k * U:(k + 1) * U] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
    return h, c, np.stack(hs)


def tg_lstm_step(W, R, b):
    def step(carry, x):
        h, c = carry
        i, f, g, o = tg.split(x @ W + h @ R + b, 4, axis=1)
        c = tg.sigmoid(f) * c + tg.sigmoid(i) * tg.tanh(g)
        h = tg.sigmoid(o) * tg.tanh(c)
        return (h, c), h
    return step


def test_cumulative_sum_matches_numpy(rng):
    xs = rng.standard_normal((7, 3))
    x = tg.placeholder((7, 3), "float64")
    total, partial = tg.scan(lambda c, x_t: (c + x_t, c + x_t), x, tg.zeros((3,), "float64"))
    got_total, got_partial = tg.Session().run([total, partial], {x: xs})
    np.testing.assert_allclose(got_partial, np.cumsum(xs, 0), rtol=1e-12)
    np.testing.assert_allclose(got_total, xs.sum(0), rtol=1e-12)


def test_lstm_step_matches_numpy_loop(rng):
    T, B, D, U = 6, 3, 4, 5
    xs, W, R = rng.standard_normal((T, B, D)), rng.standard_normal((D, 4 * U)), rng.standard_normal((U, 4 * U))
    b, h0, c0 = rng.standard_normal(4 * U), rng.standard_normal((B, U)), rng.standard_normal((B, U))
    x = tg.placeholder((None, None, D), "float64")
    (h, c), hs = tg.scan(tg_lstm_step(tg.constant(W), tg.constant(R), tg.constant(b)), x,
                         (tg.constant(h0), tg.constant(c0)))
    got = tg.Session().run([h, c, hs], {x: xs})
    want = np_lstm(xs, W, R, b, h0, c0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_reverse_runs_last_step_first_and_keeps_ys_in_place(rng):
    xs = rng.standard_normal((5, 2))
    x = tg.placeholder((5, 2), "float64")
    # y_t = carry entering step t: in reverse that is the sum of the steps after t.
    _, ys = tg.scan(lambda c, x_t: (c + x_t, c), x, tg.zeros((2,), "float64"), reverse=True)
    got = tg.Session().run(ys, {x: xs})
    want = np.concatenate([np.cumsum(xs[::-1], 0)[::-1][1:], np.zeros((1, 2))])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_nested_carries_several_sequences_and_no_ys(rng):
    a, b = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    pa, pb = tg.placeholder((4, 2), "float64"), tg.placeholder((4, 2), "float64")
    init = {"s": tg.zeros((2,), "float64"), "p": [tg.ones((2,), "float64")]}

    def fn(carry, xs):
        x, y = xs
        return {"s": carry["s"] + x * y, "p": [carry["p"][0] * y]}, None
    final, ys = tg.scan(fn, (pa, pb), init)
    assert ys is None
    got = tg.Session().run(final, {pa: a, pb: b})
    np.testing.assert_allclose(got["s"], (a * b).sum(0), rtol=1e-12)
    np.testing.assert_allclose(got["p"][0], b.prod(0), rtol=1e-12)


def test_length_without_sequences():
    final, ys = tg.scan(lambda c, _: (c * 2.0, c), [], tg.ones((1,), "float64"), length=5)
    got_final, got_ys = tg.Session().run([final, ys])
    assert got_final[0] == 32.0
    np.testing.assert_allclose(got_ys[:, 0], [1, 2, 4, 8, 16])


# ----------------------------------------------------------------------- gradients

def test_lstm_gradients_wrt_inputs_weights_and_state_first_and_second_order(rng):
    T, B, D, U = 4, 2, 3, 2
    args = [rng.standard_normal(s) * 0.5 for s in
            [(T, B, D), (D, 4 * U), (U, 4 * U), (4 * U,), (B, U), (B, U)]]

    def build(x, W, R, b, h0, c0):
        (h, c), hs = tg.scan(tg_lstm_step(W, R, b), x, (h0, c0))
        return [h, c, hs]
    check_grads(build, args, order=2)


def test_weight_gradient_accumulates_over_steps(rng):
    """d/dw of sum_t (w * x_t) is sum_t x_t: every step adds to the weight's gradient."""
    xs = rng.standard_normal((6, 3))
    x, w = tg.placeholder((6, 3), "float64"), tg.placeholder((3,), "float64")
    _, ys = tg.scan(lambda c, x_t: (c, w * x_t), x, tg.zeros((3,), "float64"))
    (gw,) = tg.gradients(tg.reduce_sum(ys), [w])
    np.testing.assert_allclose(tg.Session().run(gw, {x: xs, w: np.ones(3)}), xs.sum(0), rtol=1e-12)


def test_gradient_is_itself_a_loop_and_loops_compose(rng):
    x, w = tg.placeholder((5, 2), "float64"), tg.placeholder((2,), "float64")
    final, _ = tg.scan(lambda h, x_t: (tg.tanh(h * w + x_t), None), x, tg.zeros((2,), "float64"))
    (gw,) = tg.gradients(tg.reduce_sum(final), [w])
    ops = [n.op.name for n in topo_nodes([gw])]
    assert ops.count("scan") == 2          # the forward loop and its reverse loop
    # nested loops: a scan inside a scan body
    check_grads(lambda x, w: tg.scan(
        lambda h, row: (tg.scan(lambda a, v: (tg.tanh(a * w + v), None), row, h)[0], None),
        x, tg.zeros((2,), "float64"))[0], [rng.standard_normal((3, 4, 2)), rng.standard_normal(2)],
        order=1)


def test_integer_sequences_get_no_gradient(rng):
    x = tg.placeholder((4, 2), "float64")
    keep = tg.constant(np.array([[1, 0], [1, 1], [0, 1], [1, 1]], "int32"))

    def fn(h, xs):
        x_t, k_t = xs
        return tg.where(tg.greater(k_t, 0), h + x_t, h), None
    final, _ = tg.scan(fn, (x, keep), tg.zeros((2,), "float64"))
    gx, gk = tg.gradients(tg.reduce_sum(final), [x, keep])
    assert gk is None
    np.testing.assert_allclose(tg.Session().run(gx, {x: np.ones((4, 2))}), [[1, 0], [1, 1], [0, 1], [1, 1]])


# ----------------------------------------------------------------------- errors

def test_zero_length_static_raises_at_build():
    x = tg.placeholder((0, 3))
    with pytest.raises(ValueError, match="zero time steps"):
        tg.scan(lambda c, x_t: (c + x_t, None), x, tg.zeros((3,)))


def test_zero_length_dynamic_raises_at_run():
    x = tg.placeholder((None, 3))
    final, _ = tg.scan(lambda c, x_t: (c + x_t, None), x, tg.zeros((3,)))
    with pytest.raises(ValueError, match="zero time steps"):
        tg.Session().run(final, {x: np.zeros((0, 3), "float32")})


def test_carry_shape_or_dtype_change_is_a_build_error():
    x = tg.placeholder((4, 3))
    with pytest.raises(tg.ShapeError, match="comes back from fn as"):
        tg.scan(lambda c, x_t: (tg.concat([c, x_t], 0), None), x, tg.zeros((3,)))
    with pytest.raises(tg.ShapeError, match="float64"):
        tg.scan(lambda c, x_t: (tg.cast(c, "float64"), None), x, tg.zeros((3,)))


def test_sequences_of_different_lengths_are_rejected():
    with pytest.raises(tg.ShapeError, match="differ in length"):
        tg.scan(lambda c, xs: (c, None), [tg.placeholder((4, 2)), tg.placeholder((5, 2))], tg.zeros((2,)))


def test_fn_must_return_a_pair():
    with pytest.raises(TypeError, match="pair"):
        tg.scan(lambda c, x: c + x, tg.placeholder((3, 2)), tg.zeros((2,)))


# ----------------------------------------------------------------------- size and memory

def _lstm_training_graph(T, B=2, D=3, U=4):
    x = tg.placeholder((T, B, D))
    W, R = tg.Variable(np.zeros((D, 4 * U), "float32")), tg.Variable(np.zeros((U, 4 * U), "float32"))
    b = tg.Variable(np.zeros(4 * U, "float32"))
    h0 = tg.zeros((B, U))
    (h, c), hs = tg.scan(tg_lstm_step(W, R, b), x, (h0, h0))
    loss = tg.reduce_sum(hs)
    return topo_nodes([loss] + tg.gradients(loss, [x, W, R, b]))


def _count_with_bodies(nodes):
    total = 0
    for n in nodes:
        total += 1
        body = getattr(n.op, "body", None)
        if body is not None:
            total += _count_with_bodies(topo_nodes(body.outputs))
    return total


def test_graph_size_does_not_grow_with_T():
    assert _count_with_bodies(_lstm_training_graph(10)) == _count_with_bodies(_lstm_training_graph(1000))


def test_body_is_compiled_once_and_history_only_kept_for_gradients(rng):
    T, B, U = 50, 16, 32
    x = tg.placeholder((T, B, U), "float64")
    W = tg.constant(rng.standard_normal((U, U)) * 0.1)
    final, _ = tg.scan(lambda h, x_t: (tg.tanh(h @ W + x_t), None), x, tg.zeros((B, U), "float64"))
    sess = tg.Session()
    xs = rng.standard_normal((T, B, U))
    sess.run(final, {x: xs})
    forward_peak = sess.last_run_stats["peak_bytes"]
    history_bytes = T * B * U * 8
    assert forward_peak < history_bytes / 4        # inference keeps no per-step history
    assert len(sess.backend._function_plans) == 1   # one compiled body, not one per step
    (gx,) = tg.gradients(tg.reduce_sum(final), [x])
    sess.run(gx, {x: xs})
    assert sess.last_run_stats["peak_bytes"] >= history_bytes   # training keeps it


def test_loop_invariant_work_is_hoisted_out_of_the_body(rng):
    x = tg.placeholder((4, 2), "float64")
    w = tg.placeholder((2,), "float64")
    final, _ = tg.scan(lambda h, x_t: (h + tg.exp(w) * x_t, None), x, tg.zeros((2,), "float64"))
    body_ops = [n.op.name for n in topo_nodes(final.node.op.body.outputs)]
    assert "exp" not in body_ops          # computed once, outside the loop
    got = tg.Session().run(final, {x: np.ones((4, 2)), w: np.zeros(2)})
    np.testing.assert_allclose(got, [4.0, 4.0])
