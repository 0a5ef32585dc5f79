"""Dropout on the sequence kernel: Keras implementation=1 draws one input mask and one
recurrent mask per gate, fixed for the whole sequence; the fused lstm_sequence takes
them as (4, B, D) and (4, B, U) inputs. Fused == unfused in float64, values and
gradients (first and second order), with and without RNN masks; on the emulated CuPy
the CUDA step kernels give the NumPy numbers."""
import sys

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.backends import NumpyBackend, cuda_lstm
from tinygraph.backends.cupy_backend import CupyBackend
from tinygraph.ops.lstm import LSTMSequenceGradOp, LSTMSequenceOp, _attrs, lstm_sequence
from tinygraph.testing import check_grads

import cuda_emulation

B, T, D, U = 3, 5, 2, 3
MASK = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], bool)
GRID = [dict(recurrent_dropout=0.3, seed=1), dict(recurrent_dropout=0.3, dropout=0.2, seed=2),
        dict(dropout=0.4, implementation=1, seed=3), dict(dropout=0.3, seed=5),
        dict(recurrent_dropout=0.4, dropout=0.2, seed=4, go_backwards=True, masked=True),
        dict(recurrent_dropout=0.2, seed=6, zero_output_for_mask=True, masked=True)]


def ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("kw", GRID, ids=ids)
def test_dropout_lstm_runs_on_the_sequence_kernel(kw, rng):
    kw = dict(kw)
    masked = kw.pop("masked", False)
    x = tg.placeholder((B, T, D), "float64")
    lstm = layers.LSTM(U, return_sequences=True, dtype="float64", **kw)
    y = lstm(x, training=True, mask=tg.constant(MASK) if masked else None)
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal((B, T, U))))
    grads = tg.gradients(loss, [x] + lstm.weights)
    feed = {x: rng.standard_normal((B, T, D))}
    unfused = tg.Session(optimize=False).run([loss, y, grads], feed)
    sess = tg.Session(optimize=True)
    for u, v in zip(tg.nest.flatten(unfused), tg.nest.flatten(sess.run([loss, y, grads], feed))):
        np.testing.assert_allclose(v, u, rtol=1e-6, atol=1e-12)
    why = sess.explain([loss, grads])
    assert [op for op, _ in why.fused] == ["lstm_sequence", "lstm_sequence_grad"], str(why)
    assert not why.unfused, str(why)


def _masks(rng, shape):
    return (rng.random(shape) < 0.7) / 0.7


def test_the_dropout_sequence_op_has_second_order_gradients(rng):
    xm, hm = tg.constant(_masks(rng, (4, 2, 2))), tg.constant(_masks(rng, (4, 2, 2)))
    keep = tg.constant(np.array([[1, 0], [1, 1], [0, 1]], bool))
    shapes = [(3, 2, 2), (2, 2), (2, 2), (2, 8), (2, 8), (8,)]
    args = [rng.standard_normal(s) * 0.5 for s in shapes]

    def f(*a):
        out = lstm_sequence(*a, input_masks=xm, recurrent_masks=hm, mask=keep)
        return [out[0], out[1], out[2], out[5]]
    check_grads(f, args, order=2)


@pytest.mark.single_backend
@pytest.mark.skipif(cuda_emulation.CXX is None, reason=cuda_emulation.SKIP_REASON)
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_dropout_sequences_on_the_emulated_cupy_match_numpy(monkeypatch, masked, rng):
    monkeypatch.setitem(sys.modules, "cupy", cuda_emulation.fake_cupy())
    monkeypatch.setitem(sys.modules, "cupyx", cuda_emulation.fake_cupyx())
    gpu = CupyBackend()
    shapes = [(T, B, D), (B, U), (B, U), (D, 4 * U), (U, 4 * U), (4 * U,)]
    ins = [rng.normal(size=s) for s in shapes] + ([MASK.T.copy()] if masked else [])
    ins += [_masks(rng, (4, B, D)), _masks(rng, (4, B, U))]
    attrs = dict(_attrs(), reverse=False, input_masks=True, recurrent_masks=True,
                 **({"mask_output": "carry"} if masked else {}))
    fwd, bwd = LSTMSequenceOp(**attrs), LSTMSequenceGradOp(**attrs)
    n = 8 if masked else 5
    want = fwd.compute(NumpyBackend(), *ins, needed=(True,) * n)
    got = cuda_lstm.sequence_forward(fwd, gpu, *[gpu.asarray(a) for a in ins], needed=(True,) * n)
    for w, g in zip(want, got):
        np.testing.assert_allclose(gpu.to_host(g), w, rtol=1e-12, atol=1e-13)
    saved = [want[6], want[3], want[4], want[7]] if masked else [want[0], want[3], want[4]]
    cot = [rng.normal(size=s) for s in [(T, B, U), (B, U), (B, U)] + ([(B, U)] if masked else [])]
    want_g = bwd.compute(NumpyBackend(), *ins, *saved, *cot)
    got_g = cuda_lstm.sequence_backward(bwd, gpu, *[gpu.asarray(a) for a in ins + saved + cot])
    for w, g in zip(want_g, got_g):
        np.testing.assert_allclose(gpu.to_host(g), w, rtol=1e-12, atol=1e-13)
