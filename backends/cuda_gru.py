"""The fused GRU kernels as CUDA kernels, for the CuPy backend (as backends/cuda_lstm.py
is for the LSTM, with its launch helpers).

One CUDA module per (op attributes, dtype) holds four elementwise kernels, each a
grid-stride loop with one thread per (batch, unit) element. A GRU step is one or two
launches around cuBLAS: with reset_after the whole step's gate math is one kernel
(``tg_gru_fwd_gates``; ``tg_gru_bwd_gates`` backwards); without, the reset gate acts
before the candidate's matmul ``(r*h) @ R_h``, so the step is a kernel, the GEMM and a
second kernel (``tg_gru_fwd_candidate``; backwards ``tg_gru_bwd_reset``). The cell op
and the sequence loops (one GEMM for every step's input projection, one per step for
``h @ R``, the weight gradients as GEMMs over all steps) are the backend-independent
ones of ops/gru_kernels.py, given these steps.

The gate math is written here as CUDA C, the one copy besides ops/gru_kernels.py,
with the activations' C snippets from the activation table (ops/activations.py); the
tests compile the same source for the CPU (tests/cuda_emulation.py).
"""
import functools

import numpy as np

from tinygraph.ops.activations import fusable
from tinygraph.ops.gru_kernels import cell_backward as _cell_backward, \
    cell_forward as _cell_forward, sequence_backward as _sequence_backward, \
    sequence_forward as _sequence_forward

from .cuda_common import C_TYPES, PRELUDE, compiled_module, contiguous, launch

_HEADER = """\
// tinygraph fused GRU kernels: {activation} / {recurrent_activation}, reset_after {reset_after}, {ctype}
typedef {ctype} T;
#define RESET_AFTER {reset_flag}
""" + PRELUDE

# Row b of the gate block a (N, 4U) holds z, r, q, hh at 0, U, 2U, 3U: q is what the
# reset gate multiplies (r_h with reset_after, else r*hc, the candidate matmul's input).
# The input projection zx and the gradient d are (N, 3U), the recurrent product p and
# its gradient dp (N, 3U) with reset_after, else (N, 2U). Every kernel reads and
# writes only its own element's columns.
_BODY = r"""
#if RESET_AFTER
#define NP 3
#else
#define NP 2
#endif

// The step's gates from zx and p = h@R (+ b); with reset_after also the candidate and
// the new state, else q = r*hc for the candidate's matmul.
extern "C" __global__ void tg_gru_fwd_gates(T* __restrict__ a, const T* __restrict__ p,
                                            const T* __restrict__ zx, const T* __restrict__ h_prev,
                                            const T* __restrict__ hc, T* __restrict__ h_new,
                                            int n, int U) {
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        T* row = a + (size_t)b * 4 * U + j;
        const T* prow = p + (size_t)b * NP * U + j;
        const T* xrow = zx + (size_t)b * 3 * U + j;
        T z = act_r(xrow[0] + prow[0]);
        T r = act_r(xrow[U] + prow[U]);
        row[0] = z;
        row[U] = r;
#if RESET_AFTER
        T q = prow[2 * U];
        T hh = act_c(xrow[2 * U] + r * q);
        row[2 * U] = q;
        row[3 * U] = hh;
        h_new[k] = hh + z * (h_prev[k] - hh);
#else
        row[2 * U] = r * hc[k];
#endif
    }
}

// reset_after=False, after the GEMM qR = q @ R_h: the candidate and the new state.
extern "C" __global__ void tg_gru_fwd_candidate(T* __restrict__ a, const T* __restrict__ qR,
                                                const T* __restrict__ zx,
                                                const T* __restrict__ h_prev,
                                                T* __restrict__ h_new, int n, int U) {
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        T* row = a + (size_t)b * 4 * U + j;
        T hh = act_c(zx[(size_t)b * 3 * U + j + 2 * U] + qR[k]);
        row[3 * U] = hh;
        h_new[k] = hh + row[0] * (h_prev[k] - hh);
    }
}

// Backwards from the gradient dh reaching the new state: d (the input projection's
// pre-activation gradient) and dp (the recurrent product's) for z, the candidate and,
// with reset_after, r; dh becomes its direct part of the previous state's, dh * z.
extern "C" __global__ void tg_gru_bwd_gates(const T* __restrict__ a, const T* __restrict__ h_prev,
                                            T* __restrict__ dh, T* __restrict__ d,
                                            T* __restrict__ dp, int n, int U) {
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        const T* row = a + (size_t)b * 4 * U + j;
        T* drow = d + (size_t)b * 3 * U + j;
        T* prow = dp + (size_t)b * NP * U + j;
        T z = row[0], hh = row[3 * U], g = dh[k];
        T dz = g * (h_prev[k] - hh) * act_r_d(z);
        T dhp = g * ((T)1 - z) * act_c_d(hh);
        drow[0] = dz;
        prow[0] = dz;
        drow[2 * U] = dhp;
#if RESET_AFTER
        T r = row[U];
        T dr = dhp * row[2 * U] * act_r_d(r);
        drow[U] = dr;
        prow[U] = dr;
        prow[2 * U] = dhp * r;
#endif
        dh[k] = g * z;
    }
}

// reset_after=False, after the GEMM dq = d_h @ R_h.T (the gradient of q = r*hc): r's
// gradient into d and dp, and dhc, the gradient reaching hc.
extern "C" __global__ void tg_gru_bwd_reset(const T* __restrict__ a, const T* __restrict__ dq,
                                            const T* __restrict__ hc, T* __restrict__ d,
                                            T* __restrict__ dp, T* __restrict__ dhc, int n, int U) {
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        T r = a[(size_t)b * 4 * U + j + U];
        T dr = dq[k] * hc[k] * act_r_d(r);
        d[(size_t)b * 3 * U + j + U] = dr;
        dp[(size_t)b * NP * U + j + U] = dr;
        dhc[k] = dq[k] * r;
    }
}
"""

KERNEL_NAMES = ("tg_gru_fwd_gates", "tg_gru_fwd_candidate", "tg_gru_bwd_gates", "tg_gru_bwd_reset")


@functools.lru_cache(maxsize=256)   # one string per (op, dtype): a run asks for it per op
def module_source(op, dtype):
    """The CUDA source of the four kernels for ``op``'s attributes and ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype not in C_TYPES:
        raise TypeError(f"the CUDA GRU kernels run float32 or float64, not {dtype.name}")
    act_c, act_c_d = fusable(op.activation).cuda      # from the activation table
    act_r, act_r_d = fusable(op.recurrent_activation).cuda
    return _HEADER.format(activation=op.activation, recurrent_activation=op.recurrent_activation,
                          reset_after=bool(op.reset_after), ctype=C_TYPES[dtype],
                          reset_flag=int(bool(op.reset_after)), act_c=act_c, act_c_d=act_c_d,
                          act_r=act_r, act_r_d=act_r_d) + _BODY


def _module(be, op, dtype):
    """``op``'s module, compiled once per backend instance."""
    return compiled_module(be, module_source(op, dtype))


def _steps(be):
    """(make_forward_step, make_backward_step) for ops/gru_kernels.py's loops, with the
    NumPy steps' signatures; each step launches one kernel (two around the candidate's
    GEMM without reset_after). ``B`` may be a tuple of leading dimensions."""
    def kernels(op, dtype, *names):
        module = _module(be, op, dtype)
        return [module.get_function(name) for name in names]

    def make_forward(xp, op, B, U, dtype):
        gates, candidate = kernels(op, dtype, "tg_gru_fwd_gates", "tg_gru_fwd_candidate")
        n = int(np.prod(B)) * U

        def step(a, p, zx, h_prev, h_new, hc=None, Rh=None):
            launch(gates, n, U, a, p, zx, h_prev, h_prev if hc is None else hc, h_new)
            if not op.reset_after:
                launch(candidate, n, U, a, xp.matmul(a[..., 2 * U:3 * U], Rh), zx, h_prev, h_new)
        return step

    def make_backward(xp, op, B, U, dtype):
        gates, reset = kernels(op, dtype, "tg_gru_bwd_gates", "tg_gru_bwd_reset")
        n = int(np.prod(B)) * U
        dhc = xp.empty(tuple(np.atleast_1d(B)) + (U,), dtype)

        def step(a, h_prev, dh, d, dp, hc=None, Rh=None):
            launch(gates, n, U, a, h_prev, dh, d, dp)
            if op.reset_after:
                return None
            dq = xp.matmul(d[..., 2 * U:], Rh.T)
            launch(reset, n, U, a, dq, h_prev if hc is None else hc, d, dp, dhc)
            return dhc
        return step
    return make_forward, make_backward


def _dtype_ok(x):
    return x.dtype in C_TYPES


# ------------------------------------------------------------------- kernel overrides
# Each has the Backend.kernels signature: (op, backend, *input arrays[, needed]).

def cell_forward(op, be, *inputs):
    if not _dtype_ok(inputs[0]):
        return op.compute(be, *inputs)
    arrays = contiguous(be.xp, inputs[0].dtype, *inputs)
    return _cell_forward(be.xp, op, *arrays, make_step=_steps(be)[0])[0]


def cell_backward(op, be, *inputs):
    if not _dtype_ok(inputs[0]):
        return op.compute(be, *inputs)
    arrays = contiguous(be.xp, inputs[0].dtype, *inputs)
    fwd, bwd = _steps(be)
    return _cell_backward(be.xp, op, *arrays, make_steps=(fwd, bwd))


def sequence_forward(op, be, x, h0, W, R, b, *rest, needed):
    if not _dtype_ok(x):
        return op.compute(be, x, h0, W, R, b, *rest, needed=needed)
    h0, = contiguous(be.xp, x.dtype, h0)
    return _sequence_forward(be.xp, op, _steps(be)[0], x, h0, W, R, b, *rest, needed=needed)


def sequence_backward(op, be, x, h0, W, R, b, *rest):
    if not _dtype_ok(x):
        return op.compute(be, x, h0, W, R, b, *rest)
    h0, = contiguous(be.xp, x.dtype, h0)
    n = len(rest)
    # the saved states and gates, the cotangents g_hs, g_hT (, g_y): C-contiguous for the kernels
    k = n - (5 if op.mask_output else 4)
    tail = contiguous(be.xp, x.dtype, *rest[k:])
    return _sequence_backward(be.xp, op, _steps(be)[1], x, h0, W, R, b, *rest[:k], *tail)


KERNELS = {"gru_cell": cell_forward, "gru_cell_grad": cell_backward,
           "gru_sequence": sequence_forward, "gru_sequence_grad": sequence_backward}
