"""The NumPy backend's fused LSTM sequence ops: the shared sequence loops of
ops/lstm_kernels.py (the input projection and the weight gradients as GEMMs over all
steps, one ``h @ R`` GEMM a step) with each step's gate math one call of the CUDA
step kernels of backends/cuda_lstm.py compiled for the CPU (backends/host_kernels.py).

They run every fused LSTM sequence the layers build (Keras' implementations 1 and 2,
dropout and recurrent dropout, the TF1 cell's peepholes, cell_clip and forget_bias,
go_backwards) except masked and projected ones, float32 and float64; those run the
CUDA backend's override with its step kernels launched on the host (a few us more a
step: each array's address is read in Python). Without a C++ compiler the op's own
NumPy steps run (``LSTMSequenceOp.compute``).

Measured, one step's gate math on a 2-core AVX-512 machine, float32 (NumPy ufunc
steps -> one host kernel call): B64 U256 forward 135 -> 74 us, backward 116 -> 25 us;
B16 U64 19 -> 5 and 28 -> 3 us; B1 U32 11 -> 2 and 16 -> 2 us.
"""
import numpy as np

from tinygraph.ops.lstm_kernels import numpy_backward_step, numpy_forward_step, \
    sequence_backward as _sequence_backward, sequence_forward as _sequence_forward, split_inputs
from tinygraph.ops import lstm_numba
from tinygraph.ops.recurrent_kernels import dense, recurrent_grad, recurrent_product

from . import cuda_lstm, host_kernels
from .cuda_common import C_TYPES


def loops_for(op, x, rest):
    """The host loops for this run of a sequence op (x and its inputs after (x, h0, c0,
    W, R, b)), or None where the op's NumPy steps run (see the module's doc)."""
    _, P, mask, _, hm, _ = split_inputs(op, rest)
    if x.dtype not in C_TYPES or P is not None or mask is not None:
        return None
    lib = host_kernels.module(cuda_lstm.module_source(op, x.dtype))
    return None if lib is None else HostLoops(op, lib, hm)


class HostLoops:
    """The recurrence forward and backward: per step one GEMM (NumPy's BLAS, through
    the shared recurrent product with the recurrent dropout masks ``hm``) and one call
    of the step kernel, on arrays addressed by pointer arithmetic (a view's address
    costs more in Python than the call)."""

    def __init__(self, op, lib, hm):
        self.op, self.hm = op, hm
        n_peep = 3 if op.peepholes else 0
        self.fwd = host_kernels.function(lib, "tg_lstm_seq_fwd", 5 + n_peep)
        self.bwd = host_kernels.function(lib, "tg_lstm_seq_bwd", 7 + 2 * n_peep)

    def _order(self, T):
        return range(T - 1, -1, -1) if self.op.reverse else range(T)

    def forward(self, zx, h0, c0, R, peep, keep=True):
        """(hs, h_T, c_T, gates, cs); without ``keep`` (no backward reads them) one
        gate block and two cell states in turn stand in for gates and cs."""
        T, B, U4 = zx.shape
        U, dt = U4 // 4, zx.dtype
        zx = dense(zx, zx.shape, dt)
        gates = np.empty((T if keep else 1, B, U4), dt)
        cs = np.empty((T if keep else 2, B, U), dt)
        hs = np.empty((T, B, U), dt)
        c0 = dense(c0, (B, U), dt)
        peep = [dense(p, (U,), dt) for p in peep]
        product = recurrent_product(np, R, self.hm, 4)
        size = B * U * dt.itemsize                     # bytes of a (B, U) block
        g0, z0, c_base, h_base = (a.ctypes.data for a in (gates, zx, cs, hs))
        pp = [p.ctypes.data for p in peep]
        h, c_prev = h0, c0.ctypes.data
        for k, t in enumerate(self._order(T)):
            g = t if keep else 0
            product(h, gates[g])
            c_new = c_base + (t if keep else k % 2) * size
            self.fwd(g0 + 4 * g * size, z0 + 4 * t * size, c_prev, c_new, h_base + t * size,
                     *pp, B * U, U)
            h, c_prev = hs[t], c_new
        last = self._order(T)[-1]
        c_T = cs[last if keep else (T - 1) % 2]
        return hs, hs[last], c_T, gates if keep else None, cs if keep else None

    def backward(self, gates, cs, c0, g_hs, g_hT, g_cT, R, peep):
        """(dz, gh0, gc0, peephole gradients) of the recurrence: the step kernel adds
        g_hs[t] to the recurrent gradient and writes the pre-activation gradient."""
        T, B, U4 = gates.shape
        U, dt = U4 // 4, gates.dtype
        gates, cs = dense(gates, gates.shape, dt), dense(cs, cs.shape, dt)
        g_hs = dense(g_hs, (T, B, U), dt)
        c0 = dense(c0, (B, U), dt)
        dh, dc = (np.array(np.broadcast_to(g, (B, U)), dt) for g in (g_hT, g_cT))   # written
        peep = [dense(p, (U,), dt) for p in peep]
        dz = np.empty((T, B, U4), dt)
        products = np.empty((len(peep), T, B, U), dt)  # per step and element: summed after
        rgrad = recurrent_grad(np, R, self.hm, 4)
        size = B * U * dt.itemsize
        g0, c_base, gh0, d0, p0 = (a.ctypes.data for a in (gates, cs, g_hs, dz, products))
        pp, dh_p, dc_p = [p.ctypes.data for p in peep], dh.ctypes.data, dc.ctypes.data
        order = list(self._order(T))
        for k in range(T - 1, -1, -1):                 # the steps backwards, in processing order
            t = order[k]
            c_prev = c_base + order[k - 1] * size if k > 0 else c0.ctypes.data
            prods = [p0 + (j * T + t) * size for j in range(len(peep))]
            self.bwd(g0 + 4 * t * size, c_base + t * size, c_prev, gh0 + t * size, dh_p, dc_p,
                     d0 + 4 * t * size, *pp, *prods, B * U, U)
            r = rgrad(dz[t], dh)
            if r is not dh:                            # recurrent dropout: a new array
                dh[...] = r
        return dz, dh, dc, [p.reshape(T * B, U) for p in products]


# ------------------------------------------------------------------- kernel overrides
# The Backend.kernels signature: (op, backend, *input arrays[, needed]). Opted into, the
# numba loops run where they apply (ops/lstm_numba.py); masked and projected sequences
# run the CUDA backend's override, its step kernels launched on the host.

def sequence_forward(op, be, x, h0, c0, W, R, b, *rest, needed):
    if lstm_numba.loops_for(op, np, x, R, rest) is not None:
        return op.compute(be, x, h0, c0, W, R, b, *rest, needed=needed)
    loops = loops_for(op, x, rest)
    if loops is None:
        return cuda_lstm.sequence_forward(op, be, x, h0, c0, W, R, b, *rest, needed=needed)
    return _sequence_forward(np, op, numpy_forward_step, x, h0, c0, W, R, b, *rest,
                             needed=needed, loops=loops)


def sequence_backward(op, be, *arrays):
    if lstm_numba.loops_for(op, np, arrays[0], arrays[4], arrays[6:]) is not None:
        return op.compute(be, *arrays)
    loops = loops_for(op, arrays[0], arrays[6:])
    if loops is None:
        return cuda_lstm.sequence_backward(op, be, *arrays)
    return _sequence_backward(np, op, numpy_backward_step, *arrays, loops=loops)


KERNELS = {"lstm_sequence": sequence_forward, "lstm_sequence_grad": sequence_backward}
