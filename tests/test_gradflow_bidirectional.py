"""tg.gradflow on a layers.Bidirectional: both directions found in the wrapper's scope,
named, lined up on the INPUT's time steps; per-step dL/dh_t and dL/dc_t checked
against finite differences of a NumPy bidirectional LSTM, and against the closed form
of a linear recurrence; unrolled and loop, fused and not."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

T, B, D, U = 5, 2, 3, 2


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_bidirectional(x, weights, proj, perturb=None):
    """L = sum(proj * concat(y_forward, y_backward reversed back)) of a Keras LSTM run
    both ways; ``perturb`` = (direction 0/1, state "h"/"c", input step t, delta) adds
    delta to that state right after the direction read input t."""
    outs = []
    for k, (W, R, b) in enumerate([weights[:3], weights[3:]]):
        h, c = np.zeros((B, U)), np.zeros((B, U))
        ys = [None] * T
        for s in range(T):
            t = T - 1 - s if k else s                   # the input step read at step s
            z = x[:, t] @ W + h @ R + b
            i, f, g, o = np.split(z, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            if perturb is not None and perturb[:3] == (k, "c", t):
                c = c + perturb[3]
            h = sigmoid(o) * np.tanh(c)
            if perturb is not None and perturb[:3] == (k, "h", t):
                h = h + perturb[3]
            ys[t] = h
        outs.append(np.stack(ys, axis=1))
    return float(np.sum(proj * np.concatenate(outs, axis=-1)))


def bidirectional_lstm(unroll, seed=0):
    rng = np.random.default_rng(seed)
    x = tg.placeholder((B, T, D), "float64", name="x")
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=True, unroll=unroll,
                                          dtype="float64"))
    y = bi(x)
    bi.set_weights([rng.normal(0, 0.7, w.shape) for w in bi.weights])
    proj = rng.normal(size=(B, T, 2 * U))
    loss = tg.reduce_sum(y * proj)
    return bi, loss, x, rng.normal(size=(B, T, D)), proj


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_per_step_gradients_match_finite_differences(unroll, optimize):
    bi, loss, x, x_val, proj = bidirectional_lstm(unroll)
    report = tg.gradflow.analyze(loss, bi, {x: x_val}, session=tg.Session(optimize=optimize))
    assert report.directions == ("forward_lstm", "backward_lstm")
    assert report.reversed == {"forward_lstm": False, "backward_lstm": True}
    assert report.names == ("h", "c", "i", "f", "g", "o")
    weights = bi.get_weights()
    u = np.random.default_rng(5).normal(size=(B, U))
    eps = 1e-6
    for k, direction in enumerate(report.directions):
        for state in ("h", "c"):
            for t in range(T):
                up = numpy_bidirectional(x_val, weights, proj, (k, state, t, eps * u))
                down = numpy_bidirectional(x_val, weights, proj, (k, state, t, -eps * u))
                numeric = (up - down) / (2 * eps)
                got = float(np.sum(report.grads[direction][state][t] * u))
                assert got == pytest.approx(numeric, rel=1e-6, abs=1e-9), (direction, state, t)


def test_each_direction_keeps_its_own_report_in_processing_order():
    bi, loss, x, x_val, _ = bidirectional_lstm(unroll=False)
    report = tg.gradflow.analyze(loss, bi, {x: x_val})
    back = report["backward_lstm"]
    np.testing.assert_array_equal(back.grads["h"][::-1], report.grads["backward_lstm"]["h"])
    np.testing.assert_array_equal(report["forward_lstm"].grads["h"],
                                  report.grads["forward_lstm"]["h"])
    np.testing.assert_array_equal(report.norms("c")["backward_lstm"], back.norms("c")[::-1])
    # one direction on its own (a Monitor follows one this way): the same numbers
    alone = tg.gradflow.analyze(loss, bi.backward_layer, {x: x_val})
    np.testing.assert_allclose(alone.norms("h"), back.norms("h"), rtol=1e-12)
    with pytest.raises(KeyError, match=r"no direction 'lstm'.*forward_lstm"):
        report["lstm"]
    with pytest.raises(KeyError, match="no 'z'"):
        report.norms("z")


def linear_bidirectional(a, b, unroll):
    """h_t = a h_{t-1} + x_t forwards, b backwards; the loss reads both final states:
    ||dL/dh|| at input step t is ||v|| a^(T-1-t) sqrt(B) forwards and ||w|| b^t sqrt(B)
    backwards (its last step read input 0)."""
    x = tg.placeholder((B, T, U), "float64", name="x")
    cell = layers.SimpleRNNCell(U, activation=None, use_bias=False, dtype="float64")
    bi = layers.Bidirectional(layers.RNN(cell, unroll=unroll, dtype="float64"))
    y = bi(x)
    bi.forward_layer.cell.set_weights([np.eye(U), a * np.eye(U)])
    bi.backward_layer.cell.set_weights([np.eye(U), b * np.eye(U)])
    v, w = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    loss = tg.reduce_sum(y @ np.concatenate([v, w]).reshape(2 * U, 1))
    return bi, loss, x, v, w


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_linear_recurrence_in_input_order(unroll, rng):
    a, b = 0.6, -0.8
    bi, loss, x, v, w = linear_bidirectional(a, b, unroll)
    report = tg.gradflow.analyze(loss, bi, {x: rng.normal(size=(B, T, U))})
    t = np.arange(T)
    norms = report.norms("h")
    assert tuple(norms) == ("forward_rnn", "backward_rnn")
    np.testing.assert_allclose(norms["forward_rnn"], np.linalg.norm(v) * abs(a) ** (T - 1 - t) * np.sqrt(B), rtol=1e-10)
    np.testing.assert_allclose(norms["backward_rnn"], np.linalg.norm(w) * abs(b) ** t * np.sqrt(B), rtol=1e-10)


def test_a_bidirectional_gru_reports_h_per_direction(rng):
    x = tg.placeholder((B, T, D), "float64")
    bi = layers.Bidirectional(layers.GRU(U, return_sequences=True, dtype="float64"))
    loss = tg.reduce_sum(tg.square(bi(x)))
    feed = {x: rng.normal(size=(B, T, D))}
    report = tg.gradflow.analyze(loss, bi, feed)
    assert report.directions == ("forward_gru", "backward_gru") and "h" in report.names
    alone = tg.gradflow.analyze(loss, bi.backward_layer, feed)
    np.testing.assert_allclose(report.norms("h")["backward_gru"], alone.norms("h")[::-1],
                               rtol=1e-12)


def test_two_wrappers_of_layers_of_one_name_are_told_apart(rng):
    x = tg.placeholder((B, T, D), "float64")
    first = layers.Bidirectional(layers.LSTM(U, name="enc", dtype="float64"), name="first")
    second = layers.Bidirectional(layers.LSTM(U, name="enc", dtype="float64"), name="second")
    y1, y2 = first(x), second(x)
    loss = tg.reduce_sum(y1) + 10 * tg.reduce_sum(y2)
    feed = {x: rng.normal(size=(B, T, D))}
    r1, r2 = tg.gradflow.analyze(loss, first, feed), tg.gradflow.analyze(loss, second, feed)
    assert r1.directions == r2.directions == ("forward_enc", "backward_enc")
    ref = tg.gradients(loss, [y1, y2])
    g1, g2 = tg.Session().run(ref, feed)
    # the last output's gradient is the loss's weight on that wrapper: 1 and 10
    np.testing.assert_allclose(r1.grads["forward_enc"]["h"][-1], g1[:, :U])
    np.testing.assert_allclose(r2.grads["forward_enc"]["h"][-1], g2[:, :U])


def test_table_and_plot_say_input_order(tmp_path, rng):
    bi, loss, x, v, w = linear_bidirectional(0.5, 0.5, unroll=False)
    report = tg.gradflow.analyze(loss, bi, {x: rng.normal(size=(B, T, U))})
    lines = report.table().splitlines()
    f, b = bi.forward_layer.name, bi.backward_layer.name
    assert lines[0] == f"t = input step (0 = the first input); {f}; {b} (ran from t=4 down to 0)"
    assert lines[1].split() == ["t", "|dL/dh|", f, "|dL/dh|", b]
    assert [int(line.split()[0]) for line in lines[2:]] == list(range(T))
    assert "t = input step" in repr(report)
    pytest.importorskip("matplotlib")
    fig = report.plot()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "input step t"
    assert [line.get_label() for line in ax.get_lines()] == [f, f"{b} (ran from t=4 down to 0)"]
    report.plot(tmp_path / "bi.svg")
    assert "<svg" in (tmp_path / "bi.svg").read_text()
    assert "<pre>" in report._repr_html_()


def test_monitor_asks_for_one_direction(rng):
    bi, loss, x, _, _ = linear_bidirectional(0.5, 0.5, unroll=False)
    monitor = tg.gradflow.Monitor(loss, bi)
    with pytest.raises(TypeError, match="runs two RNN layers.*forward_layer or backward_layer"):
        monitor.record(tg.Session(), {x: rng.normal(size=(B, T, U))}, 0)
    one = tg.gradflow.Monitor(loss, bi.backward_layer)
    assert one.record(tg.Session(), {x: rng.normal(size=(B, T, U))}, 0).T == T


def test_jacobians_and_gates_per_direction():
    bi, loss, x, x_val, _ = bidirectional_lstm(unroll=False)
    report = tg.gradflow.analyze(loss, bi, {x: x_val}, jacobians=True, gates=True)
    for direction in report.directions:
        own = report[direction]
        assert own.jacobians.shape == (T, B, 2 * U, 2 * U)
        low, high = own.saturation("f")
        assert low.shape == high.shape == (T,)
    alone = tg.gradflow.analyze(loss, bi.backward_layer, {x: x_val}, jacobians=True)
    np.testing.assert_allclose(report["backward_lstm"].jacobians, alone.jacobians, rtol=1e-12)
