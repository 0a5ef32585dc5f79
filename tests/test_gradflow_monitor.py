"""tg.gradflow.Monitor over a real training run, and the pictures of the deeper
analysis (spectra, saturation, heat map): values, shapes, errors, Figures."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

T, B, D, U = 6, 4, 2, 3


def training(unroll=False):
    tg.reset_default_graph()
    tg.initializers.reseed(0)
    x = tg.placeholder((None, T, D), "float64", name="x")
    y = tg.placeholder((None, 1), "float64", name="y")
    lstm = layers.LSTM(U, unroll=unroll, dtype="float64")
    dense = layers.Dense(1, dtype="float64")
    loss = tg.losses.mean_squared_error(y, dense(lstm(x)))
    train_op = tg.optimizers.Adam(0.05).minimize(loss)
    rng = np.random.default_rng(0)
    feed = {x: rng.normal(size=(B, T, D)), y: rng.normal(size=(B, 1))}
    return lstm, loss, train_op, feed


def test_records_every_n_steps_with_the_weights_of_that_call():
    lstm, loss, train_op, feed = training()
    sess = tg.Session()
    monitor = tg.gradflow.Monitor(loss, lstm, every=3)
    expected = {}
    for step in range(8):
        report = monitor.record(sess, feed, step)
        assert (report is None) == (step % 3 != 0)
        if report is not None:     # a fresh analysis with the same weights agrees
            expected[step] = tg.gradflow.analyze(loss, lstm, feed, sess, gates=True)
        sess.run(train_op, feed)
    assert monitor.steps == [0, 3, 6]
    h = monitor.norms("h")
    assert h.shape == (3, T)
    for k, step in enumerate(monitor.steps):
        np.testing.assert_allclose(h[k], expected[step].norms("h"), rtol=1e-12)
        low, high = monitor.saturation("f")
        np.testing.assert_allclose(low[k], expected[step].saturation("f")[0])
        np.testing.assert_allclose(high[k], expected[step].saturation("f")[1])
    assert not np.allclose(h[0], h[-1])              # training changed the flow
    assert set("hcifgo") <= set(monitor.names)
    rows = monitor.table().splitlines()[1:]
    assert [int(r.split()[0]) for r in rows] == [0, 3, 6]


def test_monitor_with_jacobians_records_their_norms():
    lstm, loss, train_op, feed = training(unroll=True)
    sess = tg.Session()
    monitor = tg.gradflow.Monitor(loss, lstm, every=1, jacobians=True)
    monitor.record(sess, feed, 0)
    want = tg.gradflow.analyze(loss, lstm, feed, sess, jacobians=True).norms("jac")
    np.testing.assert_allclose(monitor.norms("jac")[0], want, rtol=1e-12)


@pytest.mark.parametrize("every", [0, -2, 1.5])
def test_every_below_one_or_not_an_integer_is_refused(every):
    lstm, loss, _, _ = training()
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        tg.gradflow.Monitor(loss, lstm, every=every)


def test_unknown_names_say_what_was_recorded():
    lstm, loss, _, feed = training()
    monitor = tg.gradflow.Monitor(loss, lstm)
    monitor.record(tg.Session(), feed, 0)
    with pytest.raises(KeyError, match="no 'jac' recorded"):
        monitor.norms("jac")
    with pytest.raises(ValueError, match=r"gate 'g'.*\['i', 'f', 'o'\]"):
        monitor.saturation("g")


def test_pictures_return_figures_without_a_path_and_write_with_one(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    lstm, loss, train_op, feed = training()
    sess = tg.Session()
    monitor = tg.gradflow.Monitor(loss, lstm, every=2)
    for step in range(5):
        monitor.record(sess, feed, step)
        sess.run(train_op, feed)
    report = tg.gradflow.analyze(loss, lstm, feed, sess, jacobians=True, gates=True)
    heat = monitor.heatmap()
    assert isinstance(heat, Figure) and isinstance(monitor.plot(), Figure)
    assert len(heat.axes) == 2 and "log10" in heat.axes[1].get_ylabel()   # the colour bar
    image = heat.axes[0].images[0].get_array()
    np.testing.assert_allclose(image, np.log10(monitor.norms("h")))
    assert isinstance(tg.gradflow.plot_spectra({"LSTM": report}), Figure)
    assert len(tg.gradflow.plot_saturation(report).axes) == 3
    for name, draw in [("heat.png", monitor.heatmap), ("curves.svg", monitor.plot),
                       ("spectra.png", lambda p: tg.gradflow.plot_spectra({"a": report}, p)),
                       ("sat.png", lambda p: tg.gradflow.plot_saturation(report, p))]:
        path = tmp_path / name
        assert draw(str(path)) == str(path) and path.stat().st_size > 1000
