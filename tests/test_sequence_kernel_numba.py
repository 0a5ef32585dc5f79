"""The compiled sequence loops (ops/lstm_numba.py, the optional extra ``fast``) give
the NumPy loops' values and gradients: every fused activation, both gate orders,
peepholes, cell_clip, forget_bias, go_backwards, float32. Without
numba installed the same loops run as plain Python, so their logic is tested either
way; where they do not apply (masks, dropout masks, projection, big steps) the NumPy
loops run."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.ops import lstm_numba
from tinygraph.ops.lstm import lstm_sequence

T, B, D, U = 4, 3, 2, 3
VARIANTS = [
    dict(),
    dict(reverse=True, forget_bias=1.0),
    dict(peep=True, cell_clip=0.5, gate_order="ijfo", forget_bias=1.0),
    dict(peep=True, reverse=True, cell_clip=0.0),
    dict(activation="relu", recurrent_activation="hard_sigmoid"),
    dict(activation="linear", recurrent_activation="hard_sigmoid_v1", cell_clip=0.3),
    dict(activation="sigmoid", recurrent_activation="sigmoid", peep=True),
]


def ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "default"


def step_graph(rng, dtype, peep=False, **attrs):
    x = tg.constant(rng.standard_normal((T, B, D)).astype(dtype))
    h0 = tg.constant(rng.standard_normal((B, U)).astype(dtype))
    c0 = tg.constant(rng.standard_normal((B, U)).astype(dtype))
    W, R, b = (tg.constant(rng.standard_normal(s).astype(dtype) * 0.7)
               for s in [(D, 4 * U), (U, 4 * U), (4 * U,)])
    p = [tg.constant(rng.standard_normal(U).astype(dtype)) for _ in range(3)] if peep else None
    hs, hT, cT = lstm_sequence(x, h0, c0, W, R, b, peepholes=p, **attrs)[:3]
    w = tg.constant(rng.standard_normal((T, B, U)).astype(dtype))
    loss = tg.reduce_sum(hs * w) + tg.reduce_sum(hT * cT)
    grads = tg.gradients(loss, [x, h0, c0, W, R, b] + (p or []))
    return [hs, hT, cT, grads]


def both_paths(fetches, monkeypatch):
    monkeypatch.setattr(lstm_numba, "ENABLED", False)
    ref = tg.Session(optimize=False).run(fetches)
    monkeypatch.setattr(lstm_numba, "ENABLED", True)
    return ref, tg.Session(optimize=False).run(fetches)


@pytest.mark.parametrize("kw", VARIANTS, ids=ids)
def test_compiled_loops_equal_the_numpy_loops(kw, rng, monkeypatch):
    fetches = step_graph(rng, "float64", **kw)
    ref, got = both_paths(fetches, monkeypatch)
    for a, b in zip(tg.nest.flatten(ref), tg.nest.flatten(got)):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_float32(rng, monkeypatch):
    fetches = step_graph(rng, "float32", peep=True, cell_clip=1.0)
    ref, got = both_paths(fetches, monkeypatch)
    for a, b in zip(tg.nest.flatten(ref), tg.nest.flatten(got)):
        assert b.dtype == a.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)


def test_the_compiled_loops_run_only_where_they_apply(monkeypatch):
    monkeypatch.setattr(lstm_numba, "ENABLED", True)
    op = lstm_sequence(*(tg.zeros(s, "float32") for s in [(T, B, D), (B, U), (B, U), (D, 4 * U),
                                                           (U, 4 * U), (4 * U,)]))[0].node.op
    x, R = np.zeros((T, B, D), np.float32), np.zeros((U, 4 * U), np.float32)
    assert lstm_numba.loops_for(op, np, x, R, ()) is not None
    assert lstm_numba.loops_for(op, object(), x, R, ()) is None              # another backend
    big = np.zeros((T, lstm_numba.MAX_STEP_ELEMENTS // U + 1, D), np.float32)
    assert lstm_numba.loops_for(op, np, big, R, ()) is None                  # NumPy is faster
    masked = lstm_sequence(*(tg.zeros(s, "float32") for s in [(T, B, D), (B, U), (B, U),
                                                              (D, 4 * U), (U, 4 * U), (4 * U,)]),
                           mask=tg.constant(np.ones((T, B), bool)))[0].node.op
    assert lstm_numba.loops_for(masked, np, x, R, (np.ones((T, B), bool),)) is None
    monkeypatch.setattr(lstm_numba, "ENABLED", False)
    assert lstm_numba.loops_for(op, np, x, R, ()) is None
    with lstm_numba.compiled_loops():                    # opt-in for a block, then off again
        assert (lstm_numba.loops_for(op, np, x, R, ()) is None) == (not lstm_numba.AVAILABLE)
    assert lstm_numba.loops_for(op, np, x, R, ()) is None
