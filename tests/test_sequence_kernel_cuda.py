"""The CUDA sequence kernels with peepholes and cell clipping (backends/cuda_lstm.py)
against the NumPy ones, on the emulated CuPy (tests/cuda_emulation.py)."""
import sys

import numpy as np
import pytest

from tinygraph.backends import NumpyBackend, cuda_lstm
from tinygraph.backends.cupy_backend import CupyBackend
from tinygraph.ops.lstm import LSTMSequenceGradOp, LSTMSequenceOp, _attrs

import cuda_emulation

pytestmark = [pytest.mark.single_backend,
              pytest.mark.skipif(cuda_emulation.CXX is None, reason=cuda_emulation.SKIP_REASON)]
NUMPY = NumpyBackend()
TOL = {"float64": dict(rtol=1e-12, atol=1e-13), "float32": dict(rtol=1e-5, atol=1e-6)}
GRID = [dict(peepholes=True), dict(cell_clip=0.3),
        dict(peepholes=True, cell_clip=0.5, forget_bias=1.0, gate_order="ijfo"),
        dict(peepholes=True, activation="relu", recurrent_activation="hard_sigmoid")]


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", cuda_emulation.fake_cupy())
    monkeypatch.setitem(sys.modules, "cupyx", cuda_emulation.fake_cupyx())
    return CupyBackend()


def on(be, arrays):
    return [be.asarray(a) for a in arrays]


def close(want, got, be, dtype):
    for w, g in zip(want, got):
        if w is not None:
            np.testing.assert_allclose(be.to_host(g), w, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kw", GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_peephole_and_clip_sequence_kernels_match_numpy(gpu, kw, reverse, dtype):
    rng = np.random.default_rng(7)
    T, B, D, U = 4, 3, 2, 5
    shapes = [(T, B, D), (B, U), (B, U), (D, 4 * U), (U, 4 * U), (4 * U,)]
    shapes += [(U,)] * (3 if kw.get("peepholes") else 0)
    ins = [rng.normal(size=s).astype(dtype) for s in shapes]
    fwd = LSTMSequenceOp(reverse=reverse, **_attrs(**kw))
    bwd = LSTMSequenceGradOp(reverse=reverse, **_attrs(**kw))
    want = fwd.compute(NUMPY, *ins, needed=(True,) * 5)
    got = cuda_lstm.sequence_forward(fwd, gpu, *on(gpu, ins), needed=(True,) * 5)
    close(want, got, gpu, dtype)
    hs, _, _, gates, cs = want
    cot = [rng.normal(size=s).astype(dtype) for s in [(T, B, U), (B, U), (B, U)]]
    want_g = bwd.compute(NUMPY, *ins, hs, gates, cs, *cot)
    got_g = cuda_lstm.sequence_backward(bwd, gpu, *on(gpu, ins + [hs, gates, cs] + cot))
    assert len(got_g) == len(want_g) == 6 + (3 if kw.get("peepholes") else 0)
    close(want_g, got_g, gpu, dtype)


@pytest.mark.parametrize("mask_output", ["carry", "zero"])
@pytest.mark.parametrize("kw", [dict(), dict(peepholes=True, cell_clip=0.5)],
                         ids=["plain", "peepholes,clip"])
def test_masked_sequences_match_numpy(gpu, kw, mask_output):
    rng = np.random.default_rng(8)
    T, B, D, U = 4, 3, 2, 5
    shapes = [(T, B, D), (B, U), (B, U), (D, 4 * U), (U, 4 * U), (4 * U,)]
    shapes += [(U,)] * (3 if kw.get("peepholes") else 0)
    ins = [rng.normal(size=s) for s in shapes] + [rng.random((T, B)) < 0.6]
    attrs = dict(_attrs(**kw), mask_output=mask_output, reverse=False)
    fwd, bwd = LSTMSequenceOp(**attrs), LSTMSequenceGradOp(**attrs)
    want = fwd.compute(NUMPY, *ins, needed=(True,) * 8)
    got = cuda_lstm.sequence_forward(fwd, gpu, *on(gpu, ins), needed=(True,) * 8)
    close(want, got, gpu, "float64")
    hs, _, _, gates, cs, _, hst, cst = want
    cot = [rng.normal(size=s) for s in [(T, B, U), (B, U), (B, U), (B, U)]]
    want_g = bwd.compute(NUMPY, *ins, hst, gates, cs, cst, *cot)
    got_g = cuda_lstm.sequence_backward(bwd, gpu, *on(gpu, ins + [hst, gates, cs, cst] + cot))
    close(want_g, got_g, gpu, "float64")


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_projected_sequences_match_numpy(gpu, masked):
    rng = np.random.default_rng(9)
    T, B, D, U, H = 4, 3, 2, 5, 2
    shapes = [(T, B, D), (B, H), (B, U), (D, 4 * U), (H, 4 * U), (4 * U,), (U, H)]
    ins = [rng.normal(size=s) for s in shapes] + ([rng.random((T, B)) < 0.6] if masked else [])
    attrs = dict(_attrs(), reverse=False, projection=True, proj_clip=0.4,
                 **({"mask_output": "zero"} if masked else {}))
    fwd, bwd = LSTMSequenceOp(**attrs), LSTMSequenceGradOp(**attrs)
    n = 9 if masked else 6
    want = fwd.compute(NUMPY, *ins, needed=(True,) * n)
    close(want, cuda_lstm.sequence_forward(fwd, gpu, *on(gpu, ins), needed=(True,) * n), gpu,
          "float64")
    saved = [want[6], want[3], want[4], want[7], want[8]] if masked else \
        [want[0], want[3], want[4], want[5]]
    cot = [rng.normal(size=s) for s in [(T, B, H), (B, H), (B, U)] + ([(B, H)] if masked else [])]
    want_g = bwd.compute(NUMPY, *ins, *saved, *cot)
    close(want_g, cuda_lstm.sequence_backward(bwd, gpu, *on(gpu, ins + saved + cot)), gpu,
          "float64")
