"""Smoke test: examples/train_lstm_classifier.py runs and its loss goes down."""
import runpy
from pathlib import Path

import numpy as np

import tinygraph as tg

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_lstm_classifier.py"


def test_train_lstm_classifier_loss_goes_down(capsys):
    main = runpy.run_path(str(EXAMPLE), run_name="example")["main"]
    try:
        losses = main(["--steps", "60", "--batch", "32"])
    finally:
        tg.set_random_seed(None)      # the example seeds globally; later tests must not see it
    assert len(losses) == 60 and np.all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10])
    assert "held-out accuracy" in capsys.readouterr().out
