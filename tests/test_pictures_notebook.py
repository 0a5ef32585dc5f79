"""SPEC 9, notebooks and the demo's words: a picture displays inline (or says how to
get ``dot``), a gradient-flow report displays as its plot and table, plots without a
path are Figures, plot_compare names a report that lacks the quantity; the demo's
help, argument errors, piped progress and story notes."""
import shutil
import sys

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.tools import demo
from tinygraph.tools.cli import build_parser, main

HAS_DOT = shutil.which("dot") is not None


def _report(cell, T=5):
    tg.initializers.reseed(0)
    x = tg.placeholder((2, T, 3), name="x")
    layer = layers.RNN(cell)
    loss = tg.reduce_mean(tg.square(layer(x)))
    data = np.random.default_rng(0).normal(size=(2, T, 3)).astype("float32")
    return tg.gradflow.analyze(loss, layer, {x: data})


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_a_picture_displays_inline_as_svg():
    x = tg.placeholder((2,), name="x")
    bundle = tg.viz.to_dot(tg.tanh(x))._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_without_dot_a_displayed_picture_says_how_to_install_it(tmp_path, monkeypatch):
    x = tg.placeholder((2,), name="x")
    picture = tg.viz.to_dot(tg.tanh(x))
    monkeypatch.setenv("PATH", str(tmp_path))
    bundle = picture._repr_mimebundle_()
    assert "apt-get install graphviz" in bundle["text/plain"]
    assert "brew install graphviz" in bundle["text/html"]


def test_a_report_displays_as_its_plot_and_table():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    report = _report(layers.LSTMCell(4))
    page = report._repr_html_()
    assert "<svg" in page and "|dL/dh|" in page
    assert "\n   4  " in page                  # the table's last row, t=4
    assert isinstance(report.plot(), Figure)
    assert isinstance(tg.gradflow.plot_compare({"a": report}), Figure)


def test_a_report_without_matplotlib_still_displays_its_table(monkeypatch):
    report = _report(layers.SimpleRNNCell(3))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    page = report._repr_html_()
    assert "pip install matplotlib" in page and "|dL/dh|" in page and "<svg" not in page


def test_plot_compare_names_the_report_that_lacks_the_quantity():
    lstm, rnn = _report(layers.LSTMCell(4)), _report(layers.SimpleRNNCell(4))
    with pytest.raises(ValueError, match=r"'c' is not in the report\(s\) \['SimpleRNN'\]"):
        tg.gradflow.plot_compare({"LSTM": lstm, "SimpleRNN": rnn}, name="c")


def test_zeros_on_a_log_plot_are_named_in_the_legend():
    pytest.importorskip("matplotlib")
    from tinygraph.tools.gradflow.curves import plot_curves
    fig = plot_curves({"dL/dz_f": np.array([0.0, 1e-3, 1e-2])}, None, "t")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["dL/dz_f (0 at t=0: not drawn on a log scale)"]


def test_demo_help_gives_the_real_defaults_and_rejects_a_zero_length(capsys):
    text = build_parser()._subparsers._group_actions[0].choices["demo"].format_help()
    assert f"default {demo.STEPS}" in text and "default 300" not in text
    assert str(demo.SEQ_LEN) in text and f"{demo.QUICK['steps']} with --quick" in text
    with pytest.raises(SystemExit):
        main(["demo", "--seq-len", "0"])
    assert "--seq-len: must be at least 2, got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="seq-len"):
        demo.run(T=0, quiet=True)


def test_demo_progress_is_plain_lines_when_piped(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    steps, bar = demo._progress(5, quiet=False)
    assert bar is None and list(steps) == list(range(5))


def test_demo_story_notes_say_what_the_plots_show():
    reports = demo.flow_reports(T=12, batch=4, units=4)
    trained = reports["LSTM, unit_forget_bias=True"]
    notes = " ".join(demo._story_notes(True, reports, trained))
    assert "divided by its value at the last step t=11" in notes
    assert "--quick is too short" in notes
