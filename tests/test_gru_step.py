"""The one GRU step (ops/gru_step.py) against a NumPy transcription of Keras 3's GRUCell
formulas, both reset_after variants, split and whole projections, and its gradients."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.ops.gru_step import GRUMath, gru_step
from tinygraph.testing import check_grads

B, D, U = 3, 4, 5


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gru(x, h, kernel, rec, bias, reset_after):
    """Keras 3 GRUCell implementation=2, written from its formulas."""
    if reset_after:
        b_in, b_rec = bias
    else:
        b_in, b_rec = bias, np.zeros(3 * U)
    xz, xr, xh = np.split(x @ kernel + b_in, 3, axis=-1)
    inner = h @ rec + b_rec
    z = sigmoid(xz + inner[:, :U])
    r = sigmoid(xr + inner[:, U:2 * U])
    if reset_after:
        hh = np.tanh(xh + r * inner[:, 2 * U:])
    else:
        hh = np.tanh(xh + (r * h) @ rec[:, 2 * U:])
    return z * h + (1 - z) * hh


def _data(reset_after, seed=0):
    rng = np.random.default_rng(seed)
    bias = rng.standard_normal((2, 3 * U) if reset_after else (3 * U,))
    return (rng.standard_normal((B, D)), rng.standard_normal((B, U)),
            rng.standard_normal((D, 3 * U)), rng.standard_normal((U, 3 * U)), bias)


def _build(x, h, kernel, rec, bias, reset_after, split_parts=False):
    math = GRUMath(reset_after=reset_after)
    if reset_after:
        x_proj = tg.matmul(x, kernel) + bias[0]
        h_proj = tg.matmul(h, rec) + bias[1]
        cand = None
    else:
        x_proj = tg.matmul(x, kernel) + bias
        h_proj = tg.matmul(h, rec[:, :2 * U])
        cand = rec[:, 2 * U:]
    if split_parts:
        x_proj = tg.split(x_proj, 3, axis=-1)
        h_proj = tg.split(h_proj, math.recurrent_blocks, axis=-1)
    return gru_step(x_proj, h_proj, h, math, candidate_kernel=cand)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("split_parts", [False, True])
def test_gru_step_matches_keras_formulas(reset_after, split_parts):
    args = _data(reset_after)
    out = _build(*[tg.constant(a) for a in args], reset_after, split_parts)
    got = tg.Session().run(out.h)
    np.testing.assert_allclose(got, np_gru(*args, reset_after), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_step_gradients_first_and_second_order(reset_after):
    check_grads(lambda *a: _build(*a, reset_after).h, _data(reset_after, seed=1))


def test_gru_step_reports_gates_and_pre_activations():
    args = _data(True, seed=2)
    out = _build(*[tg.constant(a) for a in args], True)
    z, r, hh = tg.Session().run(list(out.gates))
    zp, rp, hp = tg.Session().run(list(out.pre))
    np.testing.assert_allclose(z, sigmoid(zp), rtol=1e-12)
    np.testing.assert_allclose(r, sigmoid(rp), rtol=1e-12)
    np.testing.assert_allclose(hh, np.tanh(hp), rtol=1e-12)


def test_gru_step_reset_before_needs_the_candidate_kernel():
    x, h = tg.zeros((B, 3 * U)), tg.zeros((B, U))
    with pytest.raises(ValueError, match="reset_after=False needs candidate_kernel"):
        gru_step(x, tg.zeros((B, 2 * U)), h, GRUMath(reset_after=False))


def test_gru_step_counts_the_parts_it_is_given():
    x, h = tg.zeros((B, U)), tg.zeros((B, U))
    with pytest.raises(ValueError, match="x_proj needs 3 parts, got 2"):
        gru_step([x, x], [x, x, x], h)
