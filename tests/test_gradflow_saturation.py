"""report.saturation(gate): the fractions of gate values below 0.1 and above 0.9 per
step, against the gates of a NumPy LSTM; clear errors."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

T, B, D, U = 6, 5, 3, 4


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_gates(xs, W, R, b):
    """{gate: (T, B, U)} activations i, f, o of a Keras-order LSTM (i, f, c, o)."""
    h, c = np.zeros((B, U)), np.zeros((B, U))
    out = {"i": [], "f": [], "o": []}
    for x in xs:
        zi, zf, zg, zo = np.split(x @ W + h @ R + b, 4, axis=-1)
        i, f, o = sigmoid(zi), sigmoid(zf), sigmoid(zo)
        c = f * c + i * np.tanh(zg)
        h = o * np.tanh(c)
        for k, v in zip("ifo", (i, f, o)):
            out[k].append(v)
    return {k: np.stack(v) for k, v in out.items()}


def model(unroll, scale=2.5):
    tg.reset_default_graph()
    rng = np.random.default_rng(7)
    x = tg.placeholder((B, T, D), "float64", name="x")
    lstm = layers.LSTM(U, unroll=unroll, dtype="float64")
    loss = tg.reduce_sum(lstm(x))
    weights = [rng.normal(0, scale, s) for s in [(D, 4 * U), (U, 4 * U), (4 * U,)]]
    lstm.set_weights(weights)
    xv = rng.normal(size=(B, T, D))
    return lstm, loss, {x: xv}, np_gates(np.transpose(xv, (1, 0, 2)), *weights)


@pytest.mark.parametrize("optimize", [False, True], ids=["unfused", "fused"])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
def test_saturation_counts_gate_values_beyond_the_thresholds(unroll, optimize):
    lstm, loss, feed, want = model(unroll)
    report = tg.gradflow.analyze(loss, lstm, feed, tg.Session(optimize=optimize), gates=True)
    assert report.saturating == ("i", "f", "o")
    for gate in "ifo":
        low, high = report.saturation(gate)
        assert low.shape == high.shape == (T,)
        np.testing.assert_array_equal(low, (want[gate] < 0.1).mean(axis=(1, 2)))
        np.testing.assert_array_equal(high, (want[gate] > 0.9).mean(axis=(1, 2)))
    # large weights saturate: some of both kinds, and never more than all
    low, high = report.saturation("f")
    assert 0 < low.sum() and 0 < high.sum() and np.all(low + high <= 1)


def test_thresholds_are_strict():
    report = tg.gradflow.GradientFlowReport(
        {"h": np.zeros((2, 1, 3))}, np.float64(0), kind="tensors", saturating=("i",),
        gate_values={"i": np.array([[[0.1, 0.9, 0.05]], [[0.95, 0.5, 0.9]]])})
    low, high = report.saturation("i")
    np.testing.assert_array_equal(low, [1 / 3, 0])
    np.testing.assert_array_equal(high, [0, 1 / 3])


def test_saturation_errors_say_what_is_missing():
    lstm, loss, feed, _ = model(unroll=False)
    plain = tg.gradflow.analyze(loss, lstm, feed)
    with pytest.raises(ValueError, match="without gates=True"):
        plain.saturation("f")
    report = tg.gradflow.analyze(loss, lstm, feed, gates=True)
    with pytest.raises(ValueError, match=r"no gate 'g'.*\['i', 'f', 'o'\]"):
        report.saturation("g")


def test_gates_on_a_cell_without_gates_is_refused_at_build():
    tg.reset_default_graph()
    x = tg.placeholder((B, T, D), "float64", name="x")
    rnn = layers.RNN(layers.SimpleRNNCell(U, dtype="float64"), dtype="float64")
    loss = tg.reduce_sum(rnn(x))
    with pytest.raises(ValueError, match="gates=True needs an LSTM layer"):
        tg.gradflow.analyze(loss, rnn, {x: np.ones((B, T, D))}, gates=True)
