"""The command line: ``python -m tinygraph demo`` runs end to end (tiny setting),
``viz`` renders examples and DOT files, ``--help`` lists every command."""
import shutil
import subprocess
import sys

import pytest

from tinygraph.tools.cli import COMMANDS, build_parser, main

HAS_DOT = shutil.which("dot") is not None


def _mse(text):
    first, last = text.split("validation MSE ")[1].split(" after")[0].split(" -> ")
    return float(first), float(last)


def test_demo_trains_and_writes_everything(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quick", "--quiet"]) == 0
    text = (tmp_path / "summary.txt").read_text()
    first, last = _mse(text)
    assert last < first / 2                        # the loss goes down
    assert "fused kernels: lstm_sequence" in text  # trained with the fused kernels
    for name in ("unrolled", "fused", "gradients", "gradients_fused", "loop", "heatmap"):
        assert (tmp_path / f"graph_{name}.dot").stat().st_size > 500
        if HAS_DOT:
            assert "<svg" in (tmp_path / f"graph_{name}.svg").read_text()
    assert "lstm_sequence" in (tmp_path / "graph_fused.dot").read_text()
    assert "lstm_sequence" not in (tmp_path / "graph_unrolled.dot").read_text()
    flow = (tmp_path / "gradient_flow.txt").read_text()
    assert "SimpleRNN" in flow and "unit_forget_bias=False" in flow and "|dL/dz_f|" in flow
    try:
        import matplotlib  # noqa: F401
        assert (tmp_path / "gradient_flow.png").stat().st_size > 1000
        assert (tmp_path / "gradient_flow_trained.png").stat().st_size > 1000
    except ImportError:
        pass
    out = capsys.readouterr().out
    assert str(tmp_path / "summary.txt") in out    # prints where the files are


def test_demo_without_dot_and_matplotlib_says_how_to_get_them(tmp_path, capsys, monkeypatch):
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else
                        which(name, *a, **k))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["demo", "--out", str(tmp_path), "--quick", "--quiet", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "dot -Tsvg" in out and "apt-get install graphviz" in out
    assert "pip install -e '.[plot]'" in out
    assert (tmp_path / "graph_unrolled.dot").exists()
    assert not (tmp_path / "graph_unrolled.svg").exists()
    assert not (tmp_path / "gradient_flow.png").exists()
    assert "dot -Tsvg" in (tmp_path / "summary.txt").read_text()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_viz_renders_an_example_and_a_dot_file(tmp_path, capsys):
    svg = tmp_path / "loop.svg"
    assert main(["viz", "loop", "-o", str(svg), "--steps", "3"]) == 0
    assert "<svg" in svg.read_text() and "scan" in svg.read_text()
    png = tmp_path / "again.png"
    assert main(["viz", str(tmp_path / "loop.dot"), "-o", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert str(png) in capsys.readouterr().out


def test_viz_lists_examples_and_rejects_unknown_names(capsys):
    assert main(["viz", "--list"]) == 0
    assert "unrolled" in capsys.readouterr().out
    assert main(["viz", "nope"]) == 2
    assert "neither a file nor an example" in capsys.readouterr().err


def test_module_entry_point_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "tinygraph", "--help"], capture_output=True,
                         text=True, check=True).stdout
    names = [add.__name__[len("add_"):] for add in COMMANDS]
    assert {"demo", "viz"} <= set(names)
    for name in names:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["nope"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bench_command_runs_a_tiny_workload(capsys, tmp_path):
    import json
    out = tmp_path / "bench.json"
    assert main(["bench", "train-S", "--quick", "--rounds", "1", "--no-peers",
                 "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    (w,) = figures["workloads"]
    assert w["workload"] == "train-S" and "tinygraph fused" in w["contenders"]
    assert "train-S" in capsys.readouterr().out


def test_bench_rejects_an_unknown_workload(capsys):
    assert main(["bench", "nope"]) == 2
    assert "unknown workload 'nope'; choose from train-L" in capsys.readouterr().err


def test_backends_command_says_what_can_run_and_why_not(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.delenv("TINYGRAPH_BACKEND", raising=False)
    import tinygraph as tg
    tg.backends.set_default(None)
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "numpy (default): available" in lines
    assert any(line.startswith("cupy: unavailable: CuPy is not installed") and
               "pip install '.[cuda]'" in line for line in lines), lines
