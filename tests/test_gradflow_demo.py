"""The demo's gradient-flow comparison (SimpleRNN, GRU, LSTM) and its "why" part:
Jacobian spectra, gate saturation and the heat map of its
own training run are written, and summary.txt says what they show."""
import sys

import pytest

from tinygraph.tools import demo

pytestmark = pytest.mark.single_backend


def test_demo_writes_spectra_saturation_and_training_heatmap(tmp_path):
    pytest.importorskip("matplotlib")
    demo.run(str(tmp_path), quick=True, quiet=True)
    for name in ("jacobian_spectra", "gate_saturation", "gradient_flow_training"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
    summary = (tmp_path / "summary.txt").read_text()
    assert "largest singular value of the state Jacobian" in summary
    assert "span(0, 11)" in summary and "gate saturation of the trained LSTM" in summary
    assert "over training (20 records, steps 0..19)" in summary
    for name in ("jacobian_spectra:", "gate_saturation:", "gradient_flow_training:"):
        assert name in summary
    why = (tmp_path / "gradient_flow_why.txt").read_text()
    assert "SimpleRNN (tanh):" in why and "f: " in why
    assert why.split("tg.gradflow.Monitor):\n")[1].splitlines()[1].split()[0] == "0"


def test_demo_without_matplotlib_keeps_the_numbers_in_text(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    demo.run(str(tmp_path), quick=True, quiet=True, steps=3)
    assert not (tmp_path / "jacobian_spectra.png").exists()
    assert "gradient_flow_why.txt" in capsys.readouterr().out
    assert "largest singular value" in (tmp_path / "summary.txt").read_text()


def test_demo_compares_simple_rnn_gru_and_lstm(tmp_path):
    demo.run(str(tmp_path), quick=True, quiet=True, steps=3)
    flow = (tmp_path / "gradient_flow.txt").read_text()
    gru_table = flow.split("GRU:\n")[1].split("\n\n")[0]
    assert gru_table.splitlines()[0].split() == ["t", "|dL/dh|", "|dL/dz_z|", "|dL/dz_r|",
                                                 "|dL/dz_hh|"]
    assert len(gru_table.splitlines()) == 1 + 12               # one row per step, T=12
    summary = (tmp_path / "summary.txt").read_text()
    labels = [line.strip()[:30].strip() for line in
              summary.split("||dL/dh_last|| (fresh")[1].splitlines()[1:5]]
    assert labels == ["SimpleRNN (tanh)", "GRU", "LSTM, unit_forget_bias=True",
                      "LSTM, unit_forget_bias=False"]
    assert "Per step the share kept is" in summary and "update gate" in summary
    why = (tmp_path / "gradient_flow_why.txt").read_text()
    assert "SimpleRNN (tanh):" in why and "GRU:" in why and "LSTM:" in why


def test_fresh_gru_keeps_less_than_the_lstm_with_its_forget_bias():
    # at initialisation z is sigmoid of zero-mean pre-activations (about 0.5), so the
    # GRU's gradient decays like the LSTM's without unit_forget_bias, far below the
    # LSTM's with it (f near 0.73)
    reports = demo.flow_reports(T=40)
    share = {k: r.norms("h")[0] / r.norms("h")[-1] for k, r in reports.items()}
    assert share["GRU"] < share["LSTM, unit_forget_bias=True"] / 100
    assert reports["GRU"].names == ("h", "z", "r", "hh")
