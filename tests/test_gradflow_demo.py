"""The demo's "why" part: Jacobian spectra, gate saturation and the heat map of its
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
