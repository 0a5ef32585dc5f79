"""The command line: python -m tinygraph demo runs end to end."""
import subprocess
import sys

from tinygraph.cli import build_parser, main


def test_demo_trains_and_writes_its_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "150", "--quiet"]) == 0
    text = (tmp_path / "summary.txt").read_text()
    first, last = [float(v) for v in text.split("validation MSE ")[1].split(" after")[0].split(" -> ")]
    assert last < first / 3
    assert "kernels in order" in text
    assert str(tmp_path) in capsys.readouterr().out


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "tinygraph", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "demo" in out


def test_unknown_command_is_an_error(capsys):
    try:
        build_parser().parse_args(["nope"])
    except SystemExit as e:
        assert e.code == 2
    assert "invalid choice" in capsys.readouterr().err
