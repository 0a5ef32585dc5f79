"""tg.gradflow for a GRU layer: the state h and the gates z, r, hh (the candidate) at
their pre-activations, against central finite differences of a NumPy GRU; gate
saturation against its gates; state Jacobians; unrolled and loop, both reset_after
conventions and both implementations; the Monitor; a SimpleRNN (one state h too) is
not taken for a GRU."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

T, B, D, U = 5, 3, 2, 4
GATES = ("z", "r", "hh")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_step(x, h, W, R, b, reset_after, nudge=None):
    """One Keras GRU step in NumPy: (h', {gate: activation}). ``nudge``: {name: array}
    added to the pre-activations z, r, hh before their activations."""
    nudge = nudge or {}
    b_in, b_rec = (b[0], b[1]) if reset_after else (b, np.zeros(3 * U))
    xz, xr, xh = np.split(x @ W + b_in, 3, axis=-1)
    inner = h @ R + b_rec
    z = sigmoid(xz + inner[:, :U] + nudge.get("z", 0))
    r = sigmoid(xr + inner[:, U:2 * U] + nudge.get("r", 0))
    cand = r * inner[:, 2 * U:] if reset_after else (r * h) @ R[:, 2 * U:]
    hh = np.tanh(xh + cand + nudge.get("hh", 0))
    return z * h + (1 - z) * hh, {"z": z, "r": r}


def np_loss(xs, W, R, b, reset_after, t_nudge=None, nudge=None):
    """L = sum_t sum(h_t ** 2), ``nudge`` at step ``t_nudge`` ("h": added to h_t)."""
    h, loss = np.zeros((B, U)), 0.0
    for t, x in enumerate(xs):
        here = nudge if t == t_nudge else None
        h, _ = np_step(x, h, W, R, b, reset_after, here)
        if here and "h" in here:
            h = h + here["h"]
        loss += np.sum(h ** 2)
    return loss


def gru_case(unroll, reset_after=True, implementation=2, go_backwards=False, scale=0.6,
             seed=3):
    tg.reset_default_graph()
    rng = np.random.default_rng(seed)
    x = tg.placeholder((B, T, D), "float64", name="x")
    gru = layers.GRU(U, unroll=unroll, reset_after=reset_after, implementation=implementation,
                     go_backwards=go_backwards, return_sequences=True, dtype="float64")
    y = gru(x)
    bias = (2, 3 * U) if reset_after else (3 * U,)
    weights = [rng.normal(0, scale, s) for s in [(D, 3 * U), (U, 3 * U), bias]]
    gru.set_weights(weights)
    xv = rng.normal(size=(B, T, D))
    xs = np.transpose(xv, (1, 0, 2))
    return gru, tg.reduce_sum(y * y), {x: xv}, (xs[::-1] if go_backwards else xs), weights


@pytest.mark.parametrize("implementation", [1, 2])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
def test_state_and_gate_gradients_match_finite_differences(unroll, reset_after,
                                                           implementation):
    gru, loss, feed, xs, w = gru_case(unroll, reset_after, implementation)
    report = tg.gradflow.analyze(loss, gru, feed, tg.Session(optimize=False))
    assert report.names == ("h",) + GATES
    rng, eps = np.random.default_rng(0), 1e-6
    for name in ("h",) + GATES:
        assert report.grads[name].shape == (T, B, U)
        for t in range(T):
            d = rng.normal(size=(B, U))
            up = np_loss(xs, *w, reset_after, t, {name: eps * d})
            down = np_loss(xs, *w, reset_after, t, {name: -eps * d})
            np.testing.assert_allclose(np.sum(report.grads[name][t] * d),
                                       (up - down) / (2 * eps), rtol=1e-6, atol=1e-8,
                                       err_msg=f"{name} t={t}")


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "optimized"])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
def test_saturation_reads_the_update_and_reset_gates(unroll, optimize):
    gru, loss, feed, xs, w = gru_case(unroll, scale=2.5)
    report = tg.gradflow.analyze(loss, gru, feed, tg.Session(optimize=optimize), gates=True)
    assert report.saturating == ("z", "r")
    h, want = np.zeros((B, U)), {"z": [], "r": []}
    for x in xs:
        h, gates = np_step(x, h, *w, True)
        for k in want:
            want[k].append(gates[k])
    for gate in ("z", "r"):
        low, high = report.saturation(gate)
        np.testing.assert_array_equal(low, (np.stack(want[gate]) < 0.1).mean(axis=(1, 2)))
        np.testing.assert_array_equal(high, (np.stack(want[gate]) > 0.9).mean(axis=(1, 2)))
    low, high = report.saturation("z")
    assert low.sum() > 0 and high.sum() > 0          # large weights saturate both ways


def fd_jacobians(xs, W, R, b, reset_after, eps=1e-6):
    h, out = np.zeros((B, U)), np.zeros((T, B, U, U))
    for t in range(T):
        for j in range(U):
            d = np.zeros(U)
            d[j] = eps
            up, _ = np_step(xs[t], h + d, W, R, b, reset_after)
            down, _ = np_step(xs[t], h - d, W, R, b, reset_after)
            out[t, :, :, j] = (up - down) / (2 * eps)
        h, _ = np_step(xs[t], h, W, R, b, reset_after)
    return out


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
def test_jacobians_match_finite_differences(unroll, reset_after):
    gru, loss, feed, xs, w = gru_case(unroll, reset_after, go_backwards=True)
    report = tg.gradflow.analyze(loss, gru, feed, jacobians=True)
    assert report.jacobians.shape == (T, B, U, U)
    np.testing.assert_allclose(report.jacobians, fd_jacobians(xs, *w, reset_after), atol=1e-8)


def test_without_recurrent_weights_the_jacobian_is_the_update_gate():
    # R = 0: only the direct path h_{t-1} -> z_t * h_{t-1} is left, J_t = diag(z_t)
    # (the GRU's counterpart of the LSTM's cell path diag(f_t))
    gru, loss, feed, _, w = gru_case(unroll=False)
    gru.set_weights([w[0], np.zeros_like(w[1]), w[2]])
    report = tg.gradflow.analyze(loss, gru, feed, jacobians=True, gates=True)
    np.testing.assert_allclose(np.diagonal(report.jacobians, axis1=2, axis2=3),
                               report.gate_values["z"], rtol=1e-12)
    assert np.all(report.jacobians * (1 - np.eye(U)) == 0)


def test_masked_gru_unrolled_and_loop_agree():
    got = {}
    for unroll in (True, False):
        tg.reset_default_graph()
        tg.initializers.reseed(0)
        x, m = tg.placeholder((B, T, D)), tg.placeholder((B, T), "bool")
        mask = np.ones((B, T), bool)
        mask[:, 2] = mask[0, T - 1] = False
        gru = layers.GRU(U, unroll=unroll, return_sequences=True)
        loss = tg.reduce_sum(gru(x, mask=m))
        feed = {x: np.random.default_rng(0).normal(size=(B, T, D)), m: mask}
        got[unroll] = tg.gradflow.analyze(loss, gru, feed)
    for name in ("h",) + GATES:
        np.testing.assert_allclose(got[True].norms(name), got[False].norms(name), rtol=1e-5)
    assert got[False].norms("h")[2] > 0


def test_a_one_state_cell_is_a_gru_only_when_it_is_one():
    tg.reset_default_graph()
    x = tg.placeholder((B, T, D), "float64")
    feed = {x: np.ones((B, T, D))}
    rnn = layers.SimpleRNN(U, dtype="float64")
    assert tg.gradflow.analyze(tg.reduce_sum(rnn(x)), rnn, feed).names == ("h",)
    wrapped = layers.RNN(layers.GRUCell(U, dtype="float64"), dtype="float64")
    report = tg.gradflow.analyze(tg.reduce_sum(wrapped(x)), wrapped, feed)
    assert report.names == ("h",) + GATES
    assert "|dL/dz_hh|" in report.table().splitlines()[0]
    gru, loss, feed, _, _ = gru_case(unroll=False)
    renamed = tg.gradflow.analyze(loss, gru, feed, names=["state"])
    assert renamed.names == ("state",)             # gates go with the state's own name


def test_monitor_records_gru_gates_over_training():
    tg.reset_default_graph()
    tg.initializers.reseed(0)
    x = tg.placeholder((None, T, D), "float64", name="x")
    y = tg.placeholder((None, 1), "float64", name="y")
    gru = layers.GRU(U, dtype="float64")
    loss = tg.losses.mean_squared_error(y, layers.Dense(1, dtype="float64")(gru(x)))
    train_op = tg.optimizers.Adam(0.05).minimize(loss)
    rng = np.random.default_rng(0)
    feed = {x: rng.normal(size=(B, T, D)), y: rng.normal(size=(B, 1))}
    sess = tg.Session()
    monitor = tg.gradflow.Monitor(loss, gru, every=2)
    expected = {}
    for step in range(5):
        if monitor.record(sess, feed, step) is not None:
            expected[step] = tg.gradflow.analyze(loss, gru, feed, sess, gates=True)
        sess.run(train_op, feed)
    assert monitor.steps == [0, 2, 4] and set(("h",) + GATES) <= set(monitor.names)
    for k, step in enumerate(monitor.steps):
        np.testing.assert_allclose(monitor.norms("hh")[k], expected[step].norms("hh"),
                                   rtol=1e-12)
        np.testing.assert_allclose(monitor.saturation("r")[1][k],
                                   expected[step].saturation("r")[1])
    assert not np.allclose(monitor.norms("h")[0], monitor.norms("h")[-1])


def test_pictures_of_a_gru_report():
    pytest.importorskip("matplotlib")
    gru, loss, feed, _, _ = gru_case(unroll=False)
    report = tg.gradflow.analyze(loss, gru, feed, jacobians=True, gates=True)
    assert len(tg.gradflow.plot_saturation(report).axes) == 2          # z and r
    spectra = tg.gradflow.plot_spectra({"GRU": report})
    assert [t.get_text() for t in spectra.axes[0].get_legend().get_texts()] == \
        ["GRU: largest", "GRU: smallest"]
    lines = report.plot().axes[0].get_lines()
    assert len(lines) == 4                                             # h, z, r, hh
