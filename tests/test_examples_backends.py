"""Smoke test: examples/train_on_every_backend.py trains on every available backend,
and where there are several their loss curves agree."""
import runpy
from pathlib import Path

import numpy as np

import tinygraph as tg

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_on_every_backend.py"


def test_train_on_every_backend(capsys):
    main = runpy.run_path(str(EXAMPLE), run_name="example")["main"]
    results = main(["--steps", "25", "--units", "8"])
    assert list(results) == tg.backends.available()
    first = next(iter(results.values()))
    assert len(first) == 25 and first[-5:].mean() < 0.7 * first[:5].mean()
    for losses in results.values():
        np.testing.assert_allclose(losses, first, rtol=1e-4)
    out = capsys.readouterr().out
    assert "backend numpy: available" in out and "ms per training step" in out
