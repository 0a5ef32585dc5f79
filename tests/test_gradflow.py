"""tg.gradflow: per-step gradient norms checked against closed forms and against
plain autodiff; unrolled vs loop and fused vs unfused agree; reports print and plot."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir.graph import topo_nodes

T, B, U = 6, 3, 2
V = np.array([1.0, -2.0])


def closed_form(a, T=T, B=B, v=V):
    """h_t = a h_{t-1} + x_t, L = sum_b <v, h_{T-1}>: dL/dh_t = a^(T-1-t) v in every
    batch row, so its Frobenius norm is ||v|| |a|^(T-1-t) sqrt(B)."""
    return np.linalg.norm(v) * abs(a) ** (T - 1 - np.arange(T)) * np.sqrt(B)


def linear_rnn(a, unroll, go_backwards=False):
    x = tg.placeholder((B, T, U), "float64", name="x")
    rnn = layers.RNN(layers.SimpleRNNCell(U, activation=None, use_bias=False, dtype="float64"),
                     unroll=unroll, go_backwards=go_backwards, dtype="float64")
    h = rnn(x)
    rnn.cell.set_weights([np.eye(U), a * np.eye(U)])
    loss = tg.reduce_sum(h @ V.reshape(U, 1))
    return rnn, loss, x


@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
@pytest.mark.parametrize("a", [0.7, -1.3])
def test_linear_recurrence_matches_closed_form(a, unroll, rng):
    rnn, loss, x = linear_rnn(a, unroll)
    report = tg.gradflow.analyze(loss, rnn, {x: rng.normal(size=(B, T, U))})
    assert report.names == ("h",)
    assert report.kind == ("unrolled" if unroll else "loop")
    np.testing.assert_allclose(report.norms("h"), closed_form(a), rtol=1e-10)
    assert report.grads["h"].shape == (T, B, U)


def test_go_backwards_reports_processing_order(rng):
    # The loss reads the final state: the last PROCESSED step has the undecayed norm.
    rnn, loss, x = linear_rnn(0.5, unroll=False, go_backwards=True)
    report = tg.gradflow.analyze(loss, rnn, {x: rng.normal(size=(B, T, U))})
    np.testing.assert_allclose(report.norms("h"), closed_form(0.5), rtol=1e-10)


def test_hand_written_recurrence_as_tensor_list_and_as_scan(rng):
    a = 0.8
    x = tg.placeholder((T, B, U), "float64")
    h, hs = tg.zeros([B, U], "float64"), []
    for t in range(T):
        h = a * h + x[t]
        hs.append(h)
    loss = tg.reduce_sum(h @ V.reshape(U, 1))
    feed = {x: rng.normal(size=(T, B, U))}
    np.testing.assert_allclose(tg.gradflow.analyze(loss, hs, feed).norms("h"), closed_form(a),
                               rtol=1e-10)

    final, _ = tg.scan(lambda c, x_t: (a * c + x_t, None), x, tg.zeros([B, U], "float64"))
    loss2 = tg.reduce_sum(final @ V.reshape(U, 1))
    report = tg.gradflow.analyze(loss2, final, feed)         # the loop node, via an output
    assert report.kind == "loop"
    np.testing.assert_allclose(report.norms("h"), closed_form(a), rtol=1e-10)

    back, _ = tg.scan(lambda c, x_t: (a * c + x_t, None), x, tg.zeros([B, U], "float64"),
                      reverse=True)                           # processes t = T-1 first
    loss3 = tg.reduce_sum(back @ V.reshape(U, 1))
    np.testing.assert_allclose(tg.gradflow.analyze(loss3, back.node, feed).norms("h"),
                               closed_form(a), rtol=1e-10)


def test_a_graph_input_among_the_states(rng):
    # [h_0 (a placeholder), h_1, ...]: the leaf is differentiated directly.
    a = -0.6
    h0 = tg.placeholder((B, U), "float64", name="h0")
    x = tg.placeholder((T, B, U), "float64")
    hs = [h0]
    for t in range(1, T):
        hs.append(a * hs[-1] + x[t])
    loss = tg.reduce_sum(hs[-1] @ V.reshape(U, 1))
    report = tg.gradflow.analyze(loss, hs, {x: rng.normal(size=(T, B, U)),
                                            h0: rng.normal(size=(B, U))})
    np.testing.assert_allclose(report.norms("h"), closed_form(a), rtol=1e-10)


def test_total_derivative_includes_the_output_path(rng):
    # L = sum_t <v, h_t>: dL/dh_t = v (1 + a + ... + a^(T-1-t)), not just the direct v.
    a = 0.5
    x = tg.placeholder((B, T, U), "float64")
    rnn = layers.RNN(layers.SimpleRNNCell(U, activation=None, use_bias=False, dtype="float64"),
                     return_sequences=True, dtype="float64")
    ys = rnn(x)
    rnn.cell.set_weights([np.eye(U), a * np.eye(U)])
    loss = tg.reduce_sum(ys @ V.reshape(U, 1))
    report = tg.gradflow.analyze(loss, rnn, {x: rng.normal(size=(B, T, U))})
    k = T - 1 - np.arange(T)
    expect = np.linalg.norm(V) * np.sqrt(B) * (1 - a ** (k + 1)) / (1 - a)
    np.testing.assert_allclose(report.norms("h"), expect, rtol=1e-10)


# --------------------------------------------------------------------------- LSTM

def lstm_model(unroll, seed=0, T=T, return_sequences=True, **kw):
    tg.initializers.reseed(seed)
    x = tg.placeholder((None, T, 3), "float64", name="x")
    lstm = layers.LSTM(4, unroll=unroll, return_sequences=return_sequences, dtype="float64", **kw)
    y = lstm(x)
    w = np.random.default_rng(seed)
    lstm.set_weights([w.normal(0, 0.5, s) for s in [(3, 16), (4, 16), (16,)]])
    loss = tg.reduce_sum(y * y) if return_sequences else tg.reduce_sum(tg.tanh(y))
    feed = {x: np.random.default_rng(seed + 1).normal(size=(B, T, 3))}
    return lstm, loss, feed


def test_lstm_gates_match_autodiff_of_the_unrolled_graph():
    lstm, loss, feed = lstm_model(unroll=True)
    report = tg.gradflow.analyze(loss, lstm, feed, session=tg.Session(optimize=False))
    assert report.names == ("h", "c", "i", "f", "g", "o")
    # The pre-activations z of each step are the outputs of its split node (i, f, c, o).
    splits = sorted((n for n in topo_nodes([loss]) if n.op.name == "split"),
                    key=lambda n: n.scope)
    assert [n.scope.split("/")[1] for n in splits] == [f"step_{t}" for t in range(T)]
    zs = [t for n in splits for t in n.outputs]
    states = tg.gradflow.find_call(loss, lstm).unrolled_states
    want = tg.Session(optimize=False).run(
        tg.gradients(loss, zs + [s[0] for s in states] + [s[1] for s in states]), feed)
    norms = np.array([[np.linalg.norm(g) for g in want[:4 * T]]]).reshape(T, 4)
    for k, gate in enumerate("ifgo"):
        np.testing.assert_allclose(report.norms(gate), norms[:, k], rtol=1e-10)
    # dL/dh_t and dL/dc_t: plain tg.gradients w.r.t. the unrolled state tensors
    np.testing.assert_allclose(report.grads["h"], np.stack(want[4 * T:5 * T]), rtol=1e-10)
    np.testing.assert_allclose(report.grads["c"], np.stack(want[5 * T:]), rtol=1e-10)
    assert report.norms("f")[0] == 0.0          # c_{-1} = 0: the first forget gate is idle


@pytest.mark.parametrize("optimize", [False, True], ids=["unfused", "fused"])
def test_unrolled_and_loop_agree_fused_or_not(optimize):
    reports = {}
    for unroll in (True, False):
        tg.reset_default_graph()
        lstm, loss, feed = lstm_model(unroll=unroll)
        reports[unroll] = tg.gradflow.analyze(loss, lstm, feed,
                                              session=tg.Session(optimize=optimize))
    tg.reset_default_graph()
    lstm, loss, feed = lstm_model(unroll=True)
    ref = tg.gradflow.analyze(loss, lstm, feed, session=tg.Session(optimize=False))
    for name in "hcifgo":
        for unroll in (True, False):
            np.testing.assert_allclose(reports[unroll].norms(name), ref.norms(name), rtol=1e-6,
                                       atol=1e-12, err_msg=f"{name} unroll={unroll}")
    assert reports[True].norms("h").min() > 0 and reports[True].norms("c")[-1] > 0


def _any_layer(make, unroll, masked=False):
    tg.reset_default_graph()
    tg.initializers.reseed(0)
    rng = np.random.default_rng(0)
    x = tg.placeholder((B, T, 3))
    layer = make(unroll)
    feed = {x: rng.normal(size=(B, T, 3))}
    if masked:
        m = tg.placeholder((B, T), "bool")
        feed[m] = np.ones((B, T), bool)
        feed[m][:, 2] = feed[m][0, T - 1] = False
        out = layer(x, mask=m)
    else:
        out = layer(x)
    return tg.gradflow.analyze(tg.reduce_sum(out), layer, feed)


@pytest.mark.parametrize("case,names", [
    ("stacked", ("h0", "c0", "h1")),
    ("tf1", ("c", "h")),
    ("masked", ("h", "c", "i", "f", "g", "o")),
])
def test_other_cells_and_masks_unrolled_and_loop_agree(case, names):
    make = {
        "stacked": lambda u: layers.RNN([layers.LSTMCell(4), layers.SimpleRNNCell(3)],
                                        unroll=u, return_sequences=True),
        "tf1": lambda u: layers.RNN(layers.rnn_cell.LSTMCell(4), unroll=u),
        "masked": lambda u: layers.LSTM(4, unroll=u, return_sequences=True),
    }[case]
    loop = _any_layer(make, False, masked=case == "masked")
    unrolled = _any_layer(make, True, masked=case == "masked")
    assert loop.names == unrolled.names == names
    for name in names:
        np.testing.assert_allclose(loop.norms(name), unrolled.norms(name), rtol=1e-5)
    assert loop.norms(names[0]).min() > 0


def test_fused_training_graph_analysed_with_default_session():
    lstm, loss, feed = lstm_model(unroll=False, return_sequences=False)
    fused = tg.gradflow.analyze(loss, lstm, feed)                  # default Session()
    plain = tg.gradflow.analyze(loss, lstm, feed, session=tg.Session(optimize=False))
    for name in fused.names:
        np.testing.assert_allclose(fused.norms(name), plain.norms(name), rtol=1e-6)
    np.testing.assert_allclose(fused.loss_value, plain.loss_value)


def _decay(kind, unit_forget_bias=True, T=40, seed=0):
    """||dL/dh_0|| / ||dL/dh_{T-1}|| for a freshly initialised layer (fixed seed) on
    inputs large enough to use tanh's range, loss on the last output."""
    tg.reset_default_graph()
    tg.initializers.reseed(seed)
    x = tg.placeholder((16, T, 4), name="x")
    layer = layers.RNN(layers.SimpleRNNCell(8)) if kind == "rnn" else \
        layers.LSTM(8, unit_forget_bias=unit_forget_bias)
    loss = tg.reduce_mean(tg.square(layer(x)))
    feed = {x: np.random.default_rng(seed).normal(size=(16, T, 4)).astype("float32")}
    n = tg.gradflow.analyze(loss, layer, feed).norms("h")
    return n[0] / n[-1]


def test_simple_rnn_gradient_vanishes_faster_than_lstm_with_forget_bias():
    rnn, lstm, lstm_nofb = _decay("rnn"), _decay("lstm"), _decay("lstm", unit_forget_bias=False)
    assert rnn < lstm / 10
    assert lstm_nofb < lstm / 10            # unit_forget_bias keeps f near 0.73, not 0.5


# --------------------------------------------------------------------------- report

def test_table_has_one_row_per_step():
    lstm, loss, feed = lstm_model(unroll=False)
    report = tg.gradflow.analyze(loss, lstm, feed)
    lines = report.table().splitlines()
    assert len(lines) == T + 1
    assert lines[0].split() == ["t", "|dL/dh|", "|dL/dc|"] + [f"|dL/dz_{n}|" for n in "ifgo"]
    assert [int(line.split()[0]) for line in lines[1:]] == list(range(T))
    assert float(lines[1].split()[1]) == pytest.approx(report.norms("h")[0], rel=1e-3)
    assert "T=6" in repr(report)


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    lstm, loss, feed = lstm_model(unroll=False)
    report = tg.gradflow.analyze(loss, lstm, feed)
    png = report.plot(tmp_path / "flow.png")
    assert (tmp_path / "flow.png").stat().st_size > 1000 and str(png).endswith("flow.png")
    rnn, loss2, x = linear_rnn(0.5, unroll=False)
    other = tg.gradflow.analyze(loss2, rnn, {x: np.ones((B, T, U))})
    tg.gradflow.plot_compare({"LSTM": report, "linear": other}, tmp_path / "cmp.svg")
    assert "<svg" in (tmp_path / "cmp.svg").read_text()


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    rnn, loss, x = linear_rnn(0.5, unroll=True)
    report = tg.gradflow.analyze(loss, rnn, {x: np.ones((B, T, U))})
    with pytest.raises(ImportError, match=r"pip install -e '\.\[plot\]'"):
        report.plot(tmp_path / "x.png")


def test_to_dot_colours_the_graph_by_gradient_magnitude():
    rnn, loss, x = linear_rnn(0.5, unroll=True)
    report = tg.gradflow.analyze(loss, rnn, {x: np.ones((B, T, U))})
    src = report.to_dot().source
    assert "|dL/dx|" in src
    fills = set(tg.viz.HEAT) & set(__import__("re").findall(r'fillcolor="(#[0-9a-f]{6})"', src))
    assert len(fills) >= 3                   # a range of magnitudes, not one colour


# --------------------------------------------------------------------------- errors

def test_bad_wrt_gives_clear_errors():
    x = tg.placeholder((B, T, U))
    fresh = layers.LSTM(3)
    with pytest.raises(ValueError, match="has not been called"):
        tg.gradflow.analyze(tg.reduce_sum(x), fresh)
    dense = layers.Dense(2)
    loss = tg.reduce_sum(dense(x[:, 0]))
    with pytest.raises(TypeError, match="RNN layer"):
        tg.gradflow.analyze(loss, dense)
    with pytest.raises(TypeError, match="wrt must be"):
        tg.gradflow.analyze(loss, 3)
    with pytest.raises(ValueError, match="empty"):
        tg.gradflow.analyze(loss, {})
    with pytest.raises(TypeError, match="Tensors"):
        tg.gradflow.analyze(loss, [x, "h1"])
    other = tg.placeholder((B, U))
    with pytest.raises(ValueError, match="does not depend"):
        tg.gradflow.analyze(loss, [other])
    with pytest.raises(TypeError, match="loss must be a Tensor"):
        tg.gradflow.analyze(1.0, [other])
    rnn, loss, xx = linear_rnn(0.5, unroll=True)
    with pytest.raises(ValueError, match="names must be 1"):
        tg.gradflow.analyze(loss, rnn, names=["a", "b"])
    report = tg.gradflow.analyze(loss, rnn, {xx: np.ones((B, T, U))}, names="s")
    with pytest.raises(KeyError, match="has \\['s'\\]"):
        report.norms("h")
