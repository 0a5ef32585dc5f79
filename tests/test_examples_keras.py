"""Smoke test: examples/study_a_keras_model.py loads a Keras file, checks it against
Keras' predictions, draws the unrolled graph and runs the gradient-flow analysis."""
import re
import runpy
import shutil
from pathlib import Path

import pytest

pytest.importorskip("h5py")
pytestmark = pytest.mark.single_backend

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "study_a_keras_model.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras_models"


@pytest.mark.parametrize("args", [[], [str(FIXTURES / "k3_bidi_lstm_gru_dense.keras")],
                                  [str(FIXTURES / "tfk_lstm.h5")]])
def test_study_a_keras_model(tmp_path, capsys, args):
    main = runpy.run_path(str(EXAMPLE), run_name="example")["main"]
    model, report = main(args + ["--out", str(tmp_path)])
    out = capsys.readouterr().out
    diff = float(re.search(r"\|tinygraph - Keras predict\| on the stored batch: (\S+)", out)[1])
    assert diff < 1e-5
    assert report.T == 6 and report.norms("jac").shape == (6,)
    assert "largest sv(J_t)" in out and "J_5 ... J_1" in out
    dot = (tmp_path / "unrolled.dot").read_text()
    assert "step_5" in dot                                  # the recurrent layer unrolled
    if shutil.which("dot"):
        assert "<svg" in (tmp_path / "unrolled.svg").read_text()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "pip install" in out
    else:
        assert (tmp_path / "spectra.png").stat().st_size > 1000


def test_study_a_keras_model_of_a_file_without_stored_predictions(tmp_path, capsys):
    """Any model file: made-up inputs of the model's input shape (Masking -> LSTM here)."""
    path = tmp_path / "mine.keras"
    shutil.copyfile(FIXTURES / "k3_masking_sequential.keras", path)
    main = runpy.run_path(str(EXAMPLE), run_name="example")["main"]
    model, report = main([str(path), "--out", str(tmp_path / "out"), "--batch", "4"])
    out = capsys.readouterr().out
    assert "Keras predict" not in out and "gradient flow through" in out
    assert report.T == 6 and report.spectrum(0).shape == (4, 6)      # LSTM(3): n = 2U
