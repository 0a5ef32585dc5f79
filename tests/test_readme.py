"""The README's quickstart runs as written."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python block"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "(4, 2)" in out and "kernels in order" in out


def test_readme_shows_the_two_commands():
    text = README.read_text()
    assert "pip install -e '.[plot]' && python -m tinygraph demo" in text
    assert "pip install -e '.[test]' && pytest" in text
