"""Examples run as written (on small settings)."""
import pathlib
import runpy
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_loop_vs_unrolled(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["loop_vs_unrolled.py", "--T", "5", "20"])
    runpy.run_path(str(EXAMPLES / "loop_vs_unrolled.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:]]
    nodes = {(r[0], int(r[1])): int(r[2]) for r in rows}
    assert nodes[("loop", 5)] == nodes[("loop", 20)]          # the loop graph does not grow
    assert nodes[("unrolled", 20)] > 3 * nodes[("unrolled", 5)]
