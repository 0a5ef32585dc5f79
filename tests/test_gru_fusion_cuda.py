"""The CUDA GRU kernels (backends/cuda_gru.py) against the NumPy ones, on the emulated
CuPy (tests/cuda_emulation.py): the cell and sequence ops forward and backward, both
reset_after variants, every fusable activation, masks and dropout masks; a Keras GRU
training step on the CuPy backend; the source compiles with nvcc where it exists."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.backends import NumpyBackend, cuda_gru
from tinygraph.backends.cupy_backend import CupyBackend
from tinygraph.ops.activations import FUSABLE
from tinygraph.ops.gru import GRUCellGradOp, GRUCellOp, GRUSequenceGradOp, GRUSequenceOp, _attrs

import cuda_emulation

pytestmark = [pytest.mark.single_backend,
              pytest.mark.skipif(cuda_emulation.CXX is None, reason=cuda_emulation.SKIP_REASON)]
NUMPY = NumpyBackend()
TOL = {"float64": dict(rtol=1e-12, atol=1e-13), "float32": dict(rtol=2e-5, atol=2e-6)}
T, B, D, U = 4, 3, 2, 5
# every fusable activation appears as the candidate's and as the gates'
ATTRS = [dict(activation=a, recurrent_activation=r, reset_after=ra)
         for a, r, ra in zip(FUSABLE, FUSABLE[1:] + FUSABLE[:1], [True, False] * len(FUSABLE))]
# over a sequence, gates that stay in [0, 1] (a relu gate grows h beyond float32's digits)
SEQ_ATTRS = [dict(activation=a, recurrent_activation=r, reset_after=ra) for a, r, ra in
             [("tanh", "sigmoid", True), ("relu", "hard_sigmoid", False),
              ("linear", "hard_sigmoid_v1", True), ("hard_sigmoid", "sigmoid", False)]]


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", cuda_emulation.fake_cupy())
    monkeypatch.setitem(sys.modules, "cupyx", cuda_emulation.fake_cupyx())
    return CupyBackend()


def on(be, arrays):
    return [be.asarray(a) for a in arrays]


def close(want, got, be, dtype):
    assert len(want) == len(got)
    for w, g in zip(want, got):
        if w is not None:
            np.testing.assert_allclose(be.to_host(g), w, **TOL[dtype])


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", ATTRS, ids=_ids)
def test_cell_kernels_match_numpy(gpu, kw, dtype):
    rng = np.random.default_rng(1)
    n = 3 if kw["reset_after"] else 2
    shapes = [(B, 3 * U), (B, n * U), (B, U)] + ([] if kw["reset_after"] else [(U, U), (B, U)])
    ins = [rng.normal(size=s).astype(dtype) for s in shapes]
    a = dict(_attrs(**kw), candidate_input=not kw["reset_after"])
    fwd, bwd = GRUCellOp(**a), GRUCellGradOp(**a)
    close([fwd.compute(NUMPY, *ins)], [cuda_gru.cell_forward(fwd, gpu, *on(gpu, ins))], gpu, dtype)
    gh = rng.normal(size=(B, U)).astype(dtype)
    close(bwd.compute(NUMPY, *ins, gh), cuda_gru.cell_backward(bwd, gpu, *on(gpu, ins + [gh])),
          gpu, dtype)


def _sequence_inputs(rng, kw, dtype, mask=False, dropout=False):
    b = (2, 3 * U) if kw.get("reset_after", True) else (3 * U,)
    ins = [rng.normal(size=s).astype(dtype) for s in [(T, B, D), (B, U), (D, 3 * U), (U, 3 * U), b]]
    extra = [rng.random((T, B)) < 0.6] if mask else []
    if dropout:
        extra += [rng.choice([0.0, 2.0], size=(3, B, D)).astype(dtype),
                  rng.choice([0.0, 1.5], size=(3, B, U)).astype(dtype)]
    return ins, extra


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kw", SEQ_ATTRS, ids=_ids)
def test_sequence_kernels_match_numpy(gpu, kw, reverse, dtype):
    rng = np.random.default_rng(2)
    ins, _ = _sequence_inputs(rng, kw, dtype)
    fwd = GRUSequenceOp(reverse=reverse, **_attrs(**kw))
    bwd = GRUSequenceGradOp(reverse=reverse, **_attrs(**kw))
    want = fwd.compute(NUMPY, *ins, needed=(True,) * 3)
    close(want, cuda_gru.sequence_forward(fwd, gpu, *on(gpu, ins), needed=(True,) * 3), gpu, dtype)
    hs, _, gates = want
    cot = [rng.normal(size=s).astype(dtype) for s in [(T, B, U), (B, U)]]
    want_g = bwd.compute(NUMPY, *ins, hs, gates, *cot)
    close(want_g, cuda_gru.sequence_backward(bwd, gpu, *on(gpu, ins + [hs, gates] + cot)), gpu, dtype)


@pytest.mark.parametrize("mask_output", ["carry", "zero"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_masked_sequences_with_dropout_masks_match_numpy(gpu, reset_after, mask_output):
    rng = np.random.default_rng(3)
    ins, extra = _sequence_inputs(rng, dict(reset_after=reset_after), "float64", True, True)
    attrs = dict(_attrs(reset_after=reset_after), mask_output=mask_output, input_masks=True,
                 recurrent_masks=True, reverse=False)
    fwd, bwd = GRUSequenceOp(**attrs), GRUSequenceGradOp(**attrs)
    want = fwd.compute(NUMPY, *ins, *extra, needed=(True,) * 5)
    close(want, cuda_gru.sequence_forward(fwd, gpu, *on(gpu, ins + extra), needed=(True,) * 5),
          gpu, "float64")
    hst, gates = want[4], want[2]
    cot = [rng.normal(size=s) for s in [(T, B, U), (B, U), (B, U)]]
    want_g = bwd.compute(NUMPY, *ins, *extra, hst, gates, *cot)
    got_g = cuda_gru.sequence_backward(bwd, gpu, *on(gpu, ins + extra + [hst, gates] + cot))
    close(want_g, got_g, gpu, "float64")


def launches(be):
    counts = {}
    for module in be.__dict__.get("_cuda_modules", {}).values():
        for name, k in module.kernels.items():
            counts[name] = counts.get(name, 0) + k.launches
    return counts


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_gru_training_step_runs_the_cuda_kernels(gpu, reset_after, rng):
    x = tg.placeholder((None, 6, 3), "float32", name="x")
    gru = layers.GRU(4, return_sequences=True, reset_after=reset_after)
    loss = tg.reduce_mean(tg.square(gru(x)))
    grads = tg.gradients(loss, gru.weights)
    feed = {x: rng.normal(size=(5, 6, 3)).astype("float32")}
    want = tg.Session(backend="numpy").run([loss, grads], feed)
    got = tg.Session(backend=gpu).run([loss, grads], feed)
    for w, g in zip(tg.nest.flatten(want), tg.nest.flatten(got)):
        assert type(g) is np.ndarray
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
    counts = launches(gpu)
    assert counts["tg_gru_fwd_gates"] == 6 and counts["tg_gru_bwd_gates"] == 6
    assert counts.get("tg_gru_fwd_candidate", 0) == counts.get("tg_gru_bwd_reset", 0) == \
        (0 if reset_after else 6)


NVCC = shutil.which("nvcc")


@pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernels_compile_with_nvcc(tmp_path, dtype):
    for k, kw in enumerate(SEQ_ATTRS):
        src = tmp_path / f"gru{k}.cu"
        src.write_text(cuda_gru.module_source(GRUSequenceOp(**_attrs(**kw)), dtype))
        out = subprocess.run([NVCC, "--ptx", "-o", str(tmp_path / f"gru{k}.ptx"), str(src)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        ptx = (tmp_path / f"gru{k}.ptx").read_text()
        assert all(f".entry {name}(" in ptx for name in cuda_gru.KERNEL_NAMES), kw
