"""The fused LSTM kernels as CUDA kernels, for the CuPy backend.

One CUDA module per (op attributes, dtype) holds four kernels, each a grid-stride loop
with one thread per (batch, unit) element:

- ``tg_lstm_cell_fwd`` / ``tg_lstm_cell_bwd``: the whole ``lstm_cell`` /
  ``lstm_cell_grad`` op (peepholes, forget_bias, cell_clip compiled in);
- ``tg_lstm_seq_fwd`` / ``tg_lstm_seq_bwd``: one time step of ``lstm_sequence`` /
  ``lstm_sequence_grad``. The sequence loops themselves (one GEMM for every step's
  input projection, one cuBLAS GEMM per step for ``h @ R``, the weight gradients as
  GEMMs over all steps) are the backend-independent ones in ops/lstm_kernels.py; on
  the GPU each step adds one kernel launch after its GEMM.

The gate math is written in :func:`module_source` as CUDA C, the one copy besides
ops/lstm_kernels.py, with the activations (C snippets from the activation table,
ops/activations.py), gate order and options fixed at compile time; CuPy compiles it
with NVRTC at first use. The same source is what the tests compile for the CPU
(tests/cuda_emulation.py) and check against the NumPy kernels, and what they hand to
``nvcc`` and NVRTC where those exist.
"""
import functools

import numpy as np

from tinygraph.ops.activations import fusable
from tinygraph.ops.lstm_kernels import math_of, sequence_backward as _sequence_backward, \
    sequence_forward as _sequence_forward, split_inputs

from .cuda_common import C_TYPES, PRELUDE, compiled_module, contiguous, launch


_HEADER = """\
// tinygraph fused LSTM kernels: {activation} / {recurrent_activation}, gate order {order},
// forget_bias {forget_bias!r}, cell_clip {cell_clip!r}, peepholes {peepholes}, {ctype}
typedef {ctype} T;
#define GI {gi}
#define GF {gf}
#define GG {gg}
#define GO {go}
#define PEEPHOLES {peep_flag}
#define FORGET_BIAS ((T){forget_bias!r})
#define CELL_CLIP ((T){clip_value!r})
#define HAS_CELL_CLIP {clip_flag}
""" + PRELUDE

# Row b of a (N, 4U) gate block holds the four gates' U columns at GX * U. Every
# kernel reads and writes only its own element's columns, so in-place updates are safe.
_BODY = r"""
#if PEEPHOLES
#define PEEP_PARAMS const T* __restrict__ p_i, const T* __restrict__ p_f, const T* __restrict__ p_o,
#else
#define PEEP_PARAMS
#endif

// The cell's forward for element (b, j); the cell before and after clipping.
__device__ __forceinline__ void cell_forward(const T* z, T cp, int j, const T* p_i, const T* p_f,
                                             const T* p_o, int U, T* i_, T* f_, T* g_, T* o_,
                                             T* c_raw, T* c_) {
    T zi = z[GI * U], zf = z[GF * U], zo = z[GO * U];
#if PEEPHOLES
    zi = zi + p_i[j] * cp;
    zf = zf + p_f[j] * cp;
#endif
    zf = zf + FORGET_BIAS;
    *i_ = act_r(zi);
    *f_ = act_r(zf);
    *g_ = act_c(z[GG * U]);
    *c_raw = *f_ * cp + *i_ * *g_;
#if HAS_CELL_CLIP
    *c_ = fmin(fmax(*c_raw, -CELL_CLIP), CELL_CLIP);
#else
    *c_ = *c_raw;
#endif
#if PEEPHOLES
    zo = zo + p_o[j] * *c_;
#endif
    *o_ = act_r(zo);
}

// lstm_cell: z (n/U, 4U), c_prev (n/U, U) -> h, c
extern "C" __global__ void tg_lstm_cell_fwd(const T* __restrict__ z, const T* __restrict__ c_prev,
                                            PEEP_PARAMS T* __restrict__ h, T* __restrict__ c,
                                            int n, int U) {
#if !PEEPHOLES
    const T *p_i = 0, *p_f = 0, *p_o = 0;
#endif
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        T i_, f_, g_, o_, c_raw, c_;
        cell_forward(z + (size_t)b * 4 * U + j, c_prev[k], j, p_i, p_f, p_o, U,
                     &i_, &f_, &g_, &o_, &c_raw, &c_);
        c[k] = c_;
        h[k] = o_ * act_c(c_);
    }
}

// lstm_cell_grad: -> dz, dc_prev and, with peepholes, the per-element products that
// sum over the batch to the peephole gradients (pc_i, pc_f, pc_o)
extern "C" __global__ void tg_lstm_cell_bwd(const T* __restrict__ z, const T* __restrict__ c_prev,
                                            PEEP_PARAMS const T* __restrict__ gh,
                                            const T* __restrict__ gc, T* __restrict__ dz,
                                            T* __restrict__ dc_prev,
#if PEEPHOLES
                                            T* __restrict__ pc_i, T* __restrict__ pc_f,
                                            T* __restrict__ pc_o,
#endif
                                            int n, int U) {
#if !PEEPHOLES
    const T *p_i = 0, *p_f = 0, *p_o = 0;
#endif
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        T i_, f_, g_, o_, c_raw, c_;
        T cp = c_prev[k];
        cell_forward(z + (size_t)b * 4 * U + j, cp, j, p_i, p_f, p_o, U,
                     &i_, &f_, &g_, &o_, &c_raw, &c_);
        T ac = act_c(c_);
        T d_o = gh[k] * ac * act_r_d(o_);
        T dc = gc[k] + gh[k] * o_ * act_c_d(ac);
#if PEEPHOLES
        dc = dc + d_o * p_o[j];
#endif
#if HAS_CELL_CLIP
        dc = dc * (T)(fabs(c_raw) <= CELL_CLIP);
#endif
        T d_i = dc * g_ * act_r_d(i_);
        T d_f = dc * cp * act_r_d(f_);
        T d_g = dc * i_ * act_c_d(g_);
        T* row = dz + (size_t)b * 4 * U + j;
        row[GI * U] = d_i;
        row[GF * U] = d_f;
        row[GG * U] = d_g;
        row[GO * U] = d_o;
        T dcp = dc * f_;
#if PEEPHOLES
        dcp = dcp + d_i * p_i[j] + d_f * p_f[j];
        pc_i[k] = d_i * cp;
        pc_f[k] = d_f * cp;
        pc_o[k] = d_o * c_;
#endif
        dc_prev[k] = dcp;
    }
}

// One lstm_sequence step. On entry a = h_prev @ R; adds zx_t (x_t @ W + b, forget_bias
// folded in), activates in place and writes the new cell and hidden state.
extern "C" __global__ void tg_lstm_seq_fwd(T* __restrict__ a, const T* __restrict__ zx_t,
                                           const T* __restrict__ c_prev, T* __restrict__ c,
                                           T* __restrict__ h, PEEP_PARAMS int n, int U) {
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        T* row = a + (size_t)b * 4 * U + j;
        const T* zrow = zx_t + (size_t)b * 4 * U + j;
        T cp = c_prev[k];
        T zi = row[GI * U] + zrow[GI * U], zf = row[GF * U] + zrow[GF * U];
        T zo = row[GO * U] + zrow[GO * U];
#if PEEPHOLES
        zi = zi + p_i[j] * cp;
        zf = zf + p_f[j] * cp;
#endif
        T i_ = act_r(zi);
        T f_ = act_r(zf);
        T g_ = act_c(row[GG * U] + zrow[GG * U]);
        T cn = f_ * cp + i_ * g_;
#if HAS_CELL_CLIP
        cn = fmin(fmax(cn, -CELL_CLIP), CELL_CLIP);
#endif
#if PEEPHOLES
        zo = zo + p_o[j] * cn;                  // reads the new, clipped c
#endif
        T o_ = act_r(zo);
        row[GI * U] = i_;
        row[GF * U] = f_;
        row[GG * U] = g_;
        row[GO * U] = o_;
        c[k] = cn;
        h[k] = o_ * act_c(cn);
    }
}

// One lstm_sequence_grad step: from the saved activated gates a and cell c, the
// gradient into h (dh, recurrent part, plus g_h from the step's output) and into c
// (dc) -> d (the gates' pre-activation gradient); dc becomes the previous cell's.
// With peepholes, also this step's per-element peephole products (pc_i, pc_f, pc_o).
extern "C" __global__ void tg_lstm_seq_bwd(const T* __restrict__ a, const T* __restrict__ c,
                                           const T* __restrict__ c_prev,
                                           const T* __restrict__ g_h, const T* __restrict__ dh,
                                           T* __restrict__ dc, T* __restrict__ d, PEEP_PARAMS
#if PEEPHOLES
                                           T* __restrict__ pc_i, T* __restrict__ pc_f,
                                           T* __restrict__ pc_o,
#endif
                                           int n, int U) {
    GRID_LOOP(k, n) {
        int b = ROW(k), j = k - b * U;
        const T* row = a + (size_t)b * 4 * U + j;
        T* drow = d + (size_t)b * 4 * U + j;
        T i_ = row[GI * U], f_ = row[GF * U], g_ = row[GG * U], o_ = row[GO * U];
        T cp = c_prev[k];
        T dhk = dh[k] + g_h[k];
        T ac = act_c(c[k]);
        T dck = dc[k] + dhk * o_ * act_c_d(ac);
        T d_o = dhk * ac * act_r_d(o_);
#if PEEPHOLES
        dck = dck + d_o * p_o[j];
#endif
#if HAS_CELL_CLIP
        dck = dck * (T)(fabs(f_ * cp + i_ * g_) <= CELL_CLIP);
#endif
        T d_i = dck * g_ * act_r_d(i_);
        T d_f = dck * cp * act_r_d(f_);
        drow[GO * U] = d_o;
        drow[GI * U] = d_i;
        drow[GF * U] = d_f;
        drow[GG * U] = dck * i_ * act_c_d(g_);
        T dcp = dck * f_;
#if PEEPHOLES
        dcp = dcp + d_i * p_i[j] + d_f * p_f[j];
        pc_i[k] = d_i * cp;
        pc_f[k] = d_f * cp;
        pc_o[k] = d_o * c[k];
#endif
        dc[k] = dcp;
    }
}
"""

KERNEL_NAMES = ("tg_lstm_cell_fwd", "tg_lstm_cell_bwd", "tg_lstm_seq_fwd", "tg_lstm_seq_bwd")


@functools.lru_cache(maxsize=256)   # one string per (op, dtype): a run asks for it per op
def module_source(op, dtype):
    """The CUDA source of the four kernels for ``op``'s attributes and ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype not in C_TYPES:
        raise TypeError(f"the CUDA LSTM kernels run float32 or float64, not {dtype.name}")
    gi, gf, gg, go = (s.start for s in math_of(op).gate_slices(1))
    # each activation's C forward and derivative-from-output come from the table
    act_c, act_c_d = fusable(op.activation).cuda
    act_r, act_r_d = fusable(op.recurrent_activation).cuda
    clip = 0.0 if op.cell_clip is None else op.cell_clip
    return _HEADER.format(
        activation=op.activation, recurrent_activation=op.recurrent_activation,
        order=op.gate_order, forget_bias=float(op.forget_bias), cell_clip=op.cell_clip,
        peepholes=bool(op.peepholes), ctype=C_TYPES[dtype], gi=gi, gf=gf, gg=gg, go=go,
        peep_flag=int(bool(op.peepholes)), clip_value=float(clip), clip_flag=int(op.cell_clip is not None),
        act_c=act_c, act_c_d=act_c_d, act_r=act_r, act_r_d=act_r_d) + _BODY


def _kernel(be, op, dtype, name):
    """Kernel ``name`` of ``op``'s module, compiled once per backend instance."""
    return compiled_module(be, module_source(op, dtype)).get_function(name)


def _supported(z, c_prev):
    """Whether the kernels take these (else the op's generic xp code runs): float32 or
    float64, and one c_prev row per z row (lstm_cell also broadcasts)."""
    return z.dtype in C_TYPES and z.shape[:-1] == c_prev.shape[:-1]


# ------------------------------------------------------------------- kernel overrides
# Each has the Backend.kernels signature: (op, backend, *input arrays[, needed]).

def _run_cell(be, op, name, inputs, out_like):
    """Launch cell kernel ``name`` on ``inputs`` (z, c_prev, ...), made contiguous, into
    new outputs shaped like z or c_prev (``out_like``: "z" or "c" each); returns them."""
    z, c_prev, *rest = contiguous(be.xp, inputs[0].dtype, *inputs)
    outputs = [be.xp.empty_like(z if like == "z" else c_prev) for like in out_like]
    launch(_kernel(be, op, z.dtype, name), c_prev.size, c_prev.shape[-1],
            z, c_prev, *rest, *outputs)
    return outputs


def cell_forward(op, be, z, c_prev, *peep):
    if not _supported(z, c_prev):
        return op.compute(be, z, c_prev, *peep)
    h, c = _run_cell(be, op, "tg_lstm_cell_fwd", [z, c_prev, *peep], "cc")
    return h, c


def cell_backward(op, be, z, c_prev, *rest):
    if not _supported(z, c_prev):
        return op.compute(be, z, c_prev, *rest)
    # with peepholes, three more outputs: per-element products summed over rows below
    dz, dc_prev, *products = _run_cell(be, op, "tg_lstm_cell_bwd", [z, c_prev, *rest],
                                       "zc" + ("ccc" if op.peepholes else ""))
    U = c_prev.shape[-1]
    return (dz, dc_prev) + tuple(p.reshape(-1, U).sum(0) for p in products)


def _steps(be, name):
    """A ``make_step`` for the shared sequence loops of ops/lstm_kernels.py: each step is one
    launch of kernel ``name`` over the (B, U) elements, its arguments in the order of
    the NumPy step's (see tg_lstm_seq_fwd / tg_lstm_seq_bwd). The backward step with
    peepholes writes its per-element peephole products into three buffers it returns."""
    def make_step(xp, op, B, U, dtype):
        kernel = _kernel(be, op, dtype, name)
        products = [xp.empty((B, U), dtype) for _ in range(3)] \
            if op.peepholes and name == "tg_lstm_seq_bwd" else []

        def step(*arrays):
            launch(kernel, B * U, U, *arrays, *products)
            return products
        return step
    return make_step


def sequence_forward(op, be, x, h0, c0, W, R, b, *rest, needed):
    if x.dtype not in C_TYPES:
        return op.compute(be, x, h0, c0, W, R, b, *rest, needed=needed)
    peep, *masks, _ = split_inputs(op, rest)
    c0, *peep = contiguous(be.xp, x.dtype, c0, *peep)
    return _sequence_forward(be.xp, op, _steps(be, "tg_lstm_seq_fwd"), x, h0, c0, W, R, b,
                             *peep, *[m for m in masks if m is not None], needed=needed)


def sequence_backward(op, be, x, h0, c0, W, R, b, *rest):
    """``rest``: the optional inputs (ops/lstm_kernels.split_inputs), the saved arrays
    (3 unmasked, 4 masked) and the cotangents, g_hs first."""
    xp = be.xp
    if x.dtype not in C_TYPES:
        return op.compute(be, x, h0, c0, W, R, b, *rest)
    peep, *masks, saved = split_inputs(op, rest)
    c0, *peep = contiguous(xp, x.dtype, c0, *peep)
    saved = list(saved)
    g_hs = (4 if op.mask_output else 3) + bool(op.projection)
    saved[g_hs], = contiguous(xp, x.dtype, saved[g_hs])
    return _sequence_backward(xp, op, _steps(be, "tg_lstm_seq_bwd"), x, h0, c0, W, R, b,
                              *peep, *[m for m in masks if m is not None], *saved)


KERNELS = {"lstm_cell": cell_forward, "lstm_cell_grad": cell_backward,
           "lstm_sequence": sequence_forward, "lstm_sequence_grad": sequence_backward}
