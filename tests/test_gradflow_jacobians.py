"""tg.gradflow's state Jacobians: against finite differences of a NumPy LSTM step in
float64 and against the closed form of a linear RNN; identical unrolled / loop,
fused / unfused; clear errors."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

T, B, D, U = 5, 2, 3, 4


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_lstm_step(x, h, c, W, R, b):
    z = x @ W + h @ R + b
    i, f, g, o = np.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def fd_jacobians(xs, W, R, b, eps=1e-6):
    """(T, B, 2U, 2U) by central differences of the NumPy step, state = concat(h, c)."""
    h, c = np.zeros((B, U)), np.zeros((B, U))
    out = np.zeros((T, B, 2 * U, 2 * U))
    for t in range(T):
        s = np.concatenate([h, c], axis=1)
        for j in range(2 * U):
            d = np.zeros(2 * U)
            d[j] = eps
            up = np.concatenate(np_lstm_step(xs[t], *np.split(s + d, 2, axis=1), W, R, b), 1)
            dn = np.concatenate(np_lstm_step(xs[t], *np.split(s - d, 2, axis=1), W, R, b), 1)
            out[t, :, :, j] = (up - dn) / (2 * eps)
        h, c = np_lstm_step(xs[t], h, c, W, R, b)
    return out


def lstm_case(unroll, go_backwards=False):
    tg.reset_default_graph()
    rng = np.random.default_rng(3)
    x = tg.placeholder((B, T, D), "float64", name="x")
    lstm = layers.LSTM(U, unroll=unroll, go_backwards=go_backwards, return_sequences=True,
                       dtype="float64")
    y = lstm(x)
    weights = [rng.normal(0, 0.6, s) for s in [(D, 4 * U), (U, 4 * U), (4 * U,)]]
    lstm.set_weights(weights)
    xv = rng.normal(size=(B, T, D))
    xs = np.transpose(xv, (1, 0, 2))
    if go_backwards:
        xs = xs[::-1]
    return lstm, tg.reduce_sum(y * y), {x: xv}, fd_jacobians(xs, *weights)


@pytest.mark.parametrize("optimize", [False, True], ids=["unfused", "fused"])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
def test_lstm_jacobians_match_finite_differences(unroll, optimize):
    lstm, loss, feed, want = lstm_case(unroll)
    report = tg.gradflow.analyze(loss, lstm, feed, tg.Session(optimize=optimize),
                                 jacobians=True)
    assert report.jacobians.shape == (T, B, 2 * U, 2 * U)
    for t in range(T):
        np.testing.assert_allclose(report.jacobian(t), want[t], atol=1e-8, err_msg=f"t={t}")
    # the cell path: d c_t / d c_{t-1} = diag(f_t), the forget gate of the same step
    both = tg.gradflow.analyze(loss, lstm, feed, tg.Session(optimize=optimize),
                               jacobians=True, gates=True)
    cc = both.jacobians[:, :, U:, U:]
    np.testing.assert_allclose(np.diagonal(cc, axis1=2, axis2=3), both.gate_values["f"],
                               rtol=1e-12)
    assert np.all(cc * (1 - np.eye(U)) == 0)


def test_go_backwards_jacobians_are_in_processing_order():
    lstm, loss, feed, want = lstm_case(unroll=False, go_backwards=True)
    report = tg.gradflow.analyze(loss, lstm, feed, jacobians=True)
    np.testing.assert_allclose(report.jacobians, want, atol=1e-8)


def test_fused_and_unfused_give_identical_numbers():
    got = {}
    for unroll in (True, False):
        for optimize in (False, True):
            lstm, loss, feed, _ = lstm_case(unroll)
            got[unroll, optimize] = tg.gradflow.analyze(
                loss, lstm, feed, tg.Session(optimize=optimize), jacobians=True).jacobians
    ref = got[True, False]
    for key, value in got.items():
        np.testing.assert_allclose(value, ref, rtol=1e-12, atol=1e-14, err_msg=str(key))


def orthogonal(n, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q


@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
@pytest.mark.parametrize("a", [0.8, -1.25])
def test_linear_rnn_with_scaled_orthogonal_recurrence_has_every_singular_value_a(a, unroll):
    tg.reset_default_graph()
    x = tg.placeholder((B, T, U), "float64", name="x")
    rnn = layers.RNN(layers.SimpleRNNCell(U, activation=None, use_bias=False, dtype="float64"),
                     unroll=unroll, return_sequences=True, dtype="float64")
    loss = tg.reduce_sum(tg.tanh(rnn(x)))
    R = a * orthogonal(U, 1)
    rnn.set_weights([np.eye(U), R])
    feed = {x: np.random.default_rng(2).normal(size=(B, T, U))}
    report = tg.gradflow.analyze(loss, rnn, feed, jacobians=True)
    np.testing.assert_allclose(report.jacobian(3), np.broadcast_to(R.T, (B, U, U)), atol=1e-12)
    np.testing.assert_allclose(report.spectrum(0), np.full((B, U), abs(a)), rtol=1e-10)
    np.testing.assert_allclose(report.norms("jac"), np.full(T, abs(a)), rtol=1e-10)
    np.testing.assert_allclose(report.span(1, 4), np.full((B, U), abs(a) ** 3), rtol=1e-10)
    np.testing.assert_allclose(report.span(2, 2), np.ones((B, U)), rtol=1e-12)


def test_span_is_the_product_of_the_step_jacobians():
    lstm, loss, feed, want = lstm_case(unroll=False)
    report = tg.gradflow.analyze(loss, lstm, feed, jacobians=True)
    prod = want[3] @ want[2]
    s = report.span(1, 3)
    np.testing.assert_allclose(s, np.linalg.svd(prod, compute_uv=False), atol=1e-7)
    assert s.shape == (B, 2 * U) and np.all(np.diff(s, axis=1) <= 0)
    assert np.all(np.diff(report.spectrum(1), axis=1) <= 0)
    # the all-steps views (from eigenvalues) agree with the per-step SVD
    np.testing.assert_allclose(report.spectra()[1], report.spectrum(1), atol=1e-8)
    np.testing.assert_allclose(report.norms("jac"),
                               [report.spectrum(t)[:, 0].mean() for t in range(T)], rtol=1e-10)


def test_jacobian_errors_name_what_is_wrong():
    lstm, loss, feed, _ = lstm_case(unroll=False)
    plain = tg.gradflow.analyze(loss, lstm, feed)
    with pytest.raises(ValueError, match="jacobians=True"):
        plain.jacobian(0)
    with pytest.raises(ValueError, match="jacobians=True"):
        plain.norms("jac")
    report = tg.gradflow.analyze(loss, lstm, feed, jacobians=True)
    with pytest.raises(IndexError, match=rf"t={T}.*T={T}"):
        report.jacobian(T)
    with pytest.raises(IndexError, match=r"t=-1.*T=5"):
        report.spectrum(-1)
    with pytest.raises(IndexError, match=r"t1=9.*T=5"):
        report.span(0, 9)
    with pytest.raises(ValueError, match="t0 <= t1"):
        report.span(3, 1)


def test_jacobians_of_per_step_tensors_are_refused_at_build():
    tg.reset_default_graph()
    x = tg.placeholder((T, B, U), "float64")
    h, hs = tg.zeros([B, U], "float64"), []
    for t in range(T):
        h = 0.5 * h + x[t]
        hs.append(h)
    with pytest.raises(ValueError, match="jacobians=True needs a layer or a loop node"):
        tg.gradflow.analyze(tg.reduce_sum(h), hs, {x: np.ones((T, B, U))}, jacobians=True)


def _other(case, unroll):
    tg.reset_default_graph()
    tg.initializers.reseed(0)
    rng = np.random.default_rng(0)
    x = tg.placeholder((B, T, D), "float64")
    layer = {
        "stacked": lambda: layers.RNN([layers.LSTMCell(3, dtype="float64"),
                                       layers.SimpleRNNCell(2, dtype="float64")],
                                      unroll=unroll, return_sequences=True, dtype="float64"),
        "tf1": lambda: layers.RNN(layers.rnn_cell.LSTMCell(3, dtype="float64"), unroll=unroll,
                                  dtype="float64"),
        "masked": lambda: layers.LSTM(3, unroll=unroll, return_sequences=True, dtype="float64"),
    }[case]()
    feed = {x: rng.normal(size=(B, T, D))}
    if case == "masked":
        m = tg.placeholder((B, T), "bool")
        feed[m] = np.ones((B, T), bool)
        feed[m][:, 2] = False
        out = layer(x, mask=m)
    else:
        out = layer(x)
    return tg.gradflow.analyze(tg.reduce_sum(tg.tanh(out)), layer, feed, jacobians=True)


@pytest.mark.parametrize("case,n", [("stacked", 3 + 3 + 2), ("tf1", 6), ("masked", 6)])
def test_any_cell_loop_and_unrolled_jacobians_agree(case, n):
    loop = _other(case, False)
    assert loop.jacobians.shape == (T, B, n, n)
    assert np.abs(loop.jacobians).max() > 0.01
    if case == "masked":          # a masked step keeps the state: J_2 is the identity
        np.testing.assert_allclose(loop.jacobian(2), np.broadcast_to(np.eye(n), (B, n, n)))
        with pytest.raises(ValueError, match="use unroll=False"):
            _other(case, True)    # the mask is per sample, not a state: not rebuilt at n * B
        return
    np.testing.assert_allclose(loop.jacobians, _other(case, True).jacobians, atol=1e-12)
