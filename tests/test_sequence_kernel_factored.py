"""The factored NumPy backward of lstm_sequence (ops/lstm_kernels.FactoredBackward:
the factors that do not depend on the flowing gradients computed for chunks of
steps) gives the per-step loop's numbers bit for bit: every activation pair, both
gate orders, peepholes, cell_clip, go_backwards, recurrent dropout masks, one chunk
or many."""
import numpy as np
import pytest

from tinygraph.ops import lstm_kernels as K
from tinygraph.ops.lstm import LSTMSequenceGradOp, LSTMSequenceOp, _attrs

T, B, D, U = 7, 3, 2, 5
VARIANTS = [
    dict(), dict(reverse=True),
    dict(peepholes=True, cell_clip=0.5, gate_order="ijfo", forget_bias=1.0),
    dict(peepholes=True, reverse=True, cell_clip=0.0),
    dict(activation="linear", recurrent_activation="hard_sigmoid_v1"),
    dict(activation="relu", recurrent_activation="hard_sigmoid", cell_clip=0.3, reverse=True),
    dict(activation="sigmoid", recurrent_activation="tanh", recurrent_masks=True),
]


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: ",".join(kw) or "default")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunk", [None, 2 * 4 * U * B], ids=["one-chunk", "chunks-of-2"])
def test_factored_backward_equals_the_step_loop_bit_for_bit(kw, dtype, chunk, rng, monkeypatch):
    kw = dict(kw)
    reverse, masks = kw.pop("reverse", False), kw.pop("recurrent_masks", False)
    if chunk is not None:
        monkeypatch.setattr(K.FactoredBackward, "CHUNK_ELEMENTS", chunk)
    shapes = [(T, B, D), (B, U), (B, U), (D, 4 * U), (U, 4 * U), (4 * U,)]
    shapes += [(U,)] * 3 if kw.get("peepholes") else []
    ins = [rng.normal(size=s).astype(dtype) for s in shapes]
    if masks:
        ins.append(((rng.random((4, B, U)) < 0.7) / 0.7).astype(dtype))
    fwd = LSTMSequenceOp(reverse=reverse, recurrent_masks=masks, **_attrs(**kw))
    bwd = LSTMSequenceGradOp(reverse=reverse, recurrent_masks=masks, **_attrs(**kw))
    hs, _, _, gates, cs = K.sequence_forward(np, fwd, K.numpy_forward_step, *ins,
                                             needed=(True,) * 5)
    cot = [rng.normal(size=s).astype(dtype) for s in [(T, B, U), (B, U), (B, U)]]
    args = ins + [hs, gates, cs] + cot
    loops = K.factored_backward(bwd, np, ins[0], ins[4], ins[6:])
    assert isinstance(loops, K.FactoredBackward)
    want = K.sequence_backward(np, bwd, K.numpy_backward_step, *args)
    got = K.sequence_backward(np, bwd, K.numpy_backward_step, *args, loops=loops)
    assert len(got) == len(want)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)


def test_masked_projected_and_big_sequences_keep_the_step_loop():
    x, R = np.zeros((T, B, D)), np.zeros((U, 4 * U))
    plain = LSTMSequenceGradOp(reverse=False, **_attrs())
    masked = LSTMSequenceGradOp(reverse=False, mask_output="carry", **_attrs())
    projected = LSTMSequenceGradOp(reverse=False, projection=True, **_attrs())
    assert isinstance(K.factored_backward(plain, np, x, R, ()), K.FactoredBackward)
    assert K.factored_backward(masked, np, x, R, (np.ones((T, B), bool),)) is None
    assert K.factored_backward(projected, np, x, R, (np.zeros((U, 2)),)) is None
    assert K.factored_backward(plain, object(), x, R, ()) is None
    big = np.zeros((T, K.FactoredBackward.MAX_STEP_ELEMENTS // U + 1, D))
    assert K.factored_backward(plain, np, big, R, ()) is None
