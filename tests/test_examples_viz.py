"""Smoke tests: the gradient-flow study and the unrolled-graph tour run as written
(on small settings) and write what they say."""
import runpy
import shutil
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HAS_DOT = shutil.which("dot") is not None


def test_gradient_flow_study(tmp_path, capsys):
    main = runpy.run_path(str(EXAMPLES / "gradient_flow_study.py"), run_name="example")["main"]
    reports = main(["--T", "30", "--units", "8", "--batch", "8", "--out", str(tmp_path)])
    ratio = {k: r.norms("h")[0] / r.norms("h")[-1] for k, r in reports.items()}
    assert ratio["SimpleRNN"] < ratio["LSTM, unit_forget_bias=True"]
    assert ratio["LSTM, unit_forget_bias=False"] < ratio["LSTM, unit_forget_bias=True"]
    assert ratio["GRU"] < ratio["LSTM, unit_forget_bias=True"]     # z starts near 0.5
    assert reports["GRU"].names == ("h", "z", "r", "hh")
    out = capsys.readouterr().out
    assert "factor/step" in out and "t=29" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "pip install" in out
    else:
        for name in ("h.png", "c.png", "lstm_gates.png"):
            assert (tmp_path / name).stat().st_size > 1000


def test_unrolled_graph_tour(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["unrolled_graph_tour.py", "--T", "3", "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLES / "unrolled_graph_tour.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "fused ops: {'lstm_sequence': 1}" in out
    assert "lstm_sequence_grad" in out
    names = ["1_unrolled", "2_fused", "3_gradients", "3_gradients_fused", "5_loop", "6_heatmap"]
    for name in names:
        assert (tmp_path / f"{name}.dot").exists()
        if HAS_DOT:
            assert "<svg" in (tmp_path / f"{name}.svg").read_text()
    assert "step_2" in (tmp_path / "1_unrolled.dot").read_text()
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()
                and "e-" in line]) == 3                      # the table: one row per step


def test_unrolled_graph_tour_without_dot(tmp_path, capsys, monkeypatch):
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else
                        which(name, *a, **k))
    monkeypatch.setattr(sys, "argv", ["unrolled_graph_tour.py", "--T", "2", "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLES / "unrolled_graph_tour.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "(no SVG: Graphviz's `dot` program is missing" in out
    assert (tmp_path / "2_fused.dot").exists() and not (tmp_path / "2_fused.svg").exists()
