"""Nothing half-done (issue 14): a failed run or a refused assignment changes no
Variable and no random stream (item 1), check_numerics sees what updates write and
names the op inside a loop (item 4), updating runs are safe under threads (item 7),
and dropped graphs are freed (item 8)."""
import gc
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.layers import rnn_cell
from tinygraph.runtime import session as session_module


# ----------------------------------------------------------------------- item 1

def test_failed_update_leaves_every_variable_unchanged():
    a = tg.Variable(np.zeros(2, "float32"), name="a")
    n = tg.Variable(np.array([4, 6], "int32"), name="n")
    with pytest.raises(tg.ShapeError, match=r"assign.*'n' is int32, the value is float64"):
        tg.group(a.assign(a + 1.0), n.assign(n / 2))        # refused when built
    assert a.value.tolist() == [0, 0]


def test_a_run_failing_after_an_update_commits_nothing():
    a = tg.Variable(np.zeros(2, "float32"), name="a")
    idx = tg.placeholder((1,), "int32", name="idx")
    bad = tg.gather(tg.constant(np.ones(3, "float32")), idx)
    step = tg.group(a.assign(a + 1.0), tg.identity(bad))
    with pytest.raises(IndexError, match="out of range"):
        tg.Session().run(step, {idx: [7]})
    assert a.value.tolist() == [0, 0]


def test_bool_variable_cannot_take_a_count():
    flag = tg.Variable(np.array(False), name="flag")
    with pytest.raises(tg.ShapeError, match="'flag' is bool, the value is int32"):
        flag.assign(tg.reduce_sum(tg.constant([True, True])))


def test_tf1_set_weights_checks_every_array_before_writing():
    cell = rnn_cell.LSTMCell(3)
    cell.build((None, 2))
    kernel = cell.weights[0].value.copy()
    with pytest.raises(TypeError, match=r"LSTMCell.*bias.*expected numbers"):
        cell.set_weights([np.ones(cell.weights[0].shape), np.array(["a"] * 12)])
    np.testing.assert_array_equal(cell.weights[0].value, kernel)


def test_reset_states_is_all_or_nothing():
    r = layers.LSTM(5, stateful=True)
    r(tg.placeholder((2, 3, 4)))
    with pytest.raises((TypeError, ValueError)):
        r.reset_states([np.ones((2, 5)), np.array([["a"] * 5] * 2)])
    assert r.states[0].value.sum() == 0


def test_failed_run_does_not_advance_a_seeded_random_stream():
    u = tg.random_uniform((3,), seed=5)
    idx = tg.placeholder((1,), "int32")
    bad = tg.gather(tg.constant(np.ones(3, "float32")), idx)
    sess = tg.Session()
    with pytest.raises(IndexError):
        sess.run([u, bad], {idx: [9]})
    first = sess.run(u)
    np.testing.assert_array_equal(first, tg.Session().run(u))


def test_load_weights_of_more_than_ten_thousand_weights_keeps_their_order(tmp_path):
    values = [tg.Variable(np.array(float(i), "float32")) for i in range(10_005)]
    tg.save_weights(str(tmp_path / "w.npz"), values)
    targets = [tg.Variable(np.array(0.0, "float32")) for _ in range(10_005)]
    tg.load_weights(str(tmp_path / "w.npz"), targets)
    assert [float(t.value) for t in targets] == [float(i) for i in range(10_005)]


# ----------------------------------------------------------------------- item 4

def test_check_numerics_sees_what_assign_add_writes():
    v = tg.Variable(np.array([np.finfo("float32").max], "float32"), name="big")
    sess = tg.Session(check_numerics=True)
    with np.errstate(over="ignore"), \
            pytest.raises(tg.NumericsError, match=r"would store in Variable 'big' Inf"):
        sess.run(v.assign_add(v))
    assert np.isfinite(v.value).all()


def test_check_numerics_sees_an_assigned_feed():
    v = tg.Variable(np.zeros(1, "float32"), name="w")
    p = tg.placeholder((1,), name="p")
    with pytest.raises(tg.NumericsError, match="Variable 'w' NaN"):
        tg.Session(check_numerics=True).run(v.assign(p), {p: [np.nan]})
    assert v.value.tolist() == [0]


def test_check_numerics_names_the_op_inside_a_loop_and_its_iteration():
    x = tg.placeholder((4, 2), name="x")
    c, _ = tg.scan(lambda c, xt: (c + tg.log(xt), xt), x, tg.zeros((2,)))
    data = np.array([[1, 1], [2, 2], [-1, 3], [4, 4]], "float32")
    with np.errstate(invalid="ignore"), \
            pytest.raises(tg.NumericsError, match=r"log node .* produced NaN.*iteration 2"):
        tg.Session(check_numerics=True).run(c, {x: data})


# ----------------------------------------------------------------------- item 7

def _threads(n, fn):
    """Run ``fn`` in ``n`` threads that switch as often as CPython allows, so a race
    between reading a Variable and committing its update shows up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        ts = [threading.Thread(target=fn) for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)


def test_concurrent_updating_runs_lose_no_update():
    v = tg.Variable(np.zeros((), "float32"))
    op = v.assign(v + 1.0)
    sess = tg.Session()
    _threads(8, lambda: [sess.run(op) for _ in range(200)])
    assert float(v.value) == 1600


def test_concurrent_adam_steps_each_advance_the_counter():
    w = tg.Variable(np.ones(3, "float32"))
    opt = tg.optimizers.Adam(0.01)
    step = opt.minimize(tg.reduce_sum(tg.square(w)))
    sess = tg.Session()
    _threads(4, lambda: [sess.run(step) for _ in range(25)])
    assert float(opt.iterations.value) == 100


def test_updating_runs_of_two_sessions_are_serialized_too():
    v = tg.Variable(np.zeros((), "float32"))
    op = v.assign_add(tg.constant(1.0))
    a, b = tg.Session(), tg.Session()
    _threads(2, lambda: [a.run(op) for _ in range(100)] + [b.run(op) for _ in range(100)])
    assert float(v.value) == 400


def test_pure_runs_do_not_wait_for_the_update_lock():
    x = tg.constant(2.0) * 3.0
    sess = tg.Session()
    got = []
    with session_module._UPDATE_LOCK:            # an updating run in progress elsewhere
        t = threading.Thread(target=lambda: got.append(sess.run(x)))
        t.start()
        t.join(timeout=60)
    assert got == [6.0]


# ----------------------------------------------------------------------- item 8

def _train_graph():
    x = tg.placeholder((2, 3, 4))
    loss = tg.reduce_mean(tg.square(layers.LSTM(3)(x)))
    return tg.optimizers.SGD(0.1).minimize(loss), x


def _live_nodes():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, tg.Node))


def test_dropped_training_graphs_leave_no_nodes_in_the_default_graph():
    data = np.ones((2, 3, 4), "float32")

    def one():
        step, x = _train_graph()
        tg.Session().run(step, {x: data})
    for _ in range(10):
        one()
    before = _live_nodes()
    for _ in range(200):
        one()
    assert _live_nodes() <= before


def test_a_long_lived_session_keeps_a_bounded_number_of_plans(backend):
    sess = tg.Session()
    data = np.ones((2, 3), "float32")

    def graphs(n):
        for _ in range(n):
            with tg.Graph().as_default():          # built, run once, dropped
                x = tg.placeholder((2, 3))
                sess.run(tg.reduce_sum(tg.tanh(x) * 2.0), {x: data})
        gc.collect()
    graphs(100)                                    # fills the plan cache
    tracemalloc.start()
    try:
        graphs(100)
        start = tracemalloc.get_traced_memory()[0]
        graphs(200)
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert grown < 200 * 500, f"{grown / 200:.0f} bytes kept per dropped graph"
    assert len(sess._plans) <= session_module.MAX_PLANS


def test_plans_of_a_reset_default_graph_are_dropped():
    sess = tg.Session()
    sess.run(tg.constant(1.0) + 1.0)
    tg.reset_default_graph()
    sess.run(tg.constant(2.0) + 1.0)
    assert len(sess._plans) == 1


def test_an_empty_fetch_and_a_reset_graph_share_a_session():
    sess = tg.Session()
    assert sess.run([]) == []
    tg.reset_default_graph()
    assert sess.run(tg.constant(1.0)) == 1.0 and sess.run([]) == []
