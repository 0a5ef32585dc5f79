"""The LSTM sequence loops compiled with numba: the optional extra ``fast``
(``pip install 'tinygraph[fast]'``).

For small layers a step of the NumPy loops (ops/lstm_kernels.py) is ten to twenty
ufunc calls on arrays of a few dozen numbers: Python's and NumPy's per-call cost is
most of the time (train-S: about 9 us forward and 14 us backward a step). These
loops run the whole recurrence, the h @ R products included, in one compiled call.
The input projection and the weight-gradient GEMMs around them stay NumPy's (BLAS),
shared with the NumPy path.

``loops_for`` says where they run; elsewhere the default loops run (the NumPy
backend's host kernels, backends/host_lstm.py, or the NumPy steps): without numba, for
masks, dropout masks or a projection, on another backend, and when a step has more
than ``MAX_STEP_ELEMENTS`` batch x unit elements (PyPI's llvmlite has no SVML, so
numba calls the C library's tanh one number at a time, far slower than NumPy's
vectorised one on big arrays; measured: 0.35x the NumPy time at B=1 U=32, 0.78x at
B=8, 1.02x at B=16, 1.33x at B=16 U=64). The math is the one of ops/lstm_step.py,
written per element; the activations are the fused table's (ops/activations.py), the
same formulas as its NumPy and CUDA forms.

They are opt-in: ``TINYGRAPH_NUMBA=1`` in the environment, or ``with
compiled_loops():``. Their float32 results differ from the NumPy loops' by float32
rounding (another summation order in h @ R, a rational tanh): within the parity
tolerances, not bit for bit, so they stay opt-in. Opted into, they take the steps they
cover from the host kernels too (warm train-S: numba 0.31 ms, host kernels 0.43 ms).
"""
import contextlib
import functools
import importlib.util
import math
import os

import numpy as np

from .lstm_kernels import math_of, split_inputs
from .recurrent_kernels import dense

# whether the optional extra "fast" is installed; numba itself is imported only when
# the loops are first compiled (importing it costs about half a second)
AVAILABLE = importlib.util.find_spec("numba") is not None

# the activations these loops implement, by code (a fused op naming another one runs
# on the NumPy loops)
NAMES = ("tanh", "sigmoid", "relu", "linear", "hard_sigmoid", "hard_sigmoid_v1")
# batch x units of one step above which NumPy's vectorised ufuncs are faster
MAX_STEP_ELEMENTS = 256
# opt-in (the NumPy loops stay the default, installed or not): TINYGRAPH_NUMBA=1, or
# inside ``with compiled_loops():``
ENABLED = AVAILABLE and os.environ.get("TINYGRAPH_NUMBA") == "1"


@contextlib.contextmanager
def compiled_loops(on=True):
    """Inside the block, sequence ops run the compiled loops where they apply (``on``)
    or the NumPy loops (``on=False``); a no-op without numba."""
    global ENABLED
    was, ENABLED = ENABLED, bool(on) and AVAILABLE
    try:
        yield
    finally:
        ENABLED = was


_JITTED = []          # names of this module's functions numba compiles


def _jit(fn):
    """Marks ``fn`` for numba; until ``_compile`` runs (and without numba) it is the
    plain function, which the tests run as the reference of the compiled one."""
    _JITTED.append(fn.__name__)
    return fn


@functools.cache
def _compile():
    """Rebinds every marked function to its numba-compiled form (cached on disk),
    once, before the first compiled loops run; the loops find them as globals."""
    if not AVAILABLE:
        return
    import numba                     # the optional extra "fast"
    g = globals()
    for name in _JITTED:
        g[name] = numba.njit(cache=True, nogil=True)(g[name])


# The loops compute with these constants in the data's dtype (the array ``k``): float32
# data is then computed in float32, as by the NumPy loops (numba would promote every
# float32 value multiplied by a Python float to float64). Their places in ``k``:
HALF, ONE, ZERO, SIXTH, FIFTH, CLIP, TINY, BOUND, P0, Q0 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 15
# tanh to float32 accuracy: the rational approximation XLA and Eigen use for float32,
# x * P(x^2) / Q(x^2) on [-BOUND, BOUND] (+-1 beyond), a few times faster than the C
# library's tanh, which numba calls one number at a time (no SVML); float64 data gets
# the C library's tanh
TANH_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
          5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


def constants(dtype, clip):
    """The array ``k`` for data of ``dtype`` and a cell_clip (negative: none)."""
    return np.array((0.5, 1.0, 0.0, 1.0 / 6.0, 0.2, clip, 4e-4, 7.90531110763549805)
                    + TANH_P + TANH_Q, dtype)


@_jit
def _tanh(x, k, f32):
    if not f32:
        return math.tanh(x)
    if abs(x) < k[TINY]:
        return x
    x = min(max(x, -k[BOUND]), k[BOUND])
    x2 = x * x
    p, q = k[P0], k[Q0]
    for n in range(1, 7):
        p = x2 * p + k[P0 + n]
    for n in range(1, 4):
        q = x2 * q + k[Q0 + n]
    return x * p / q


@_jit
def _act(code, x, k, f32):
    if code == 0:
        return _tanh(x, k, f32)
    if code == 1:
        return k[HALF] * _tanh(k[HALF] * x, k, f32) + k[HALF]
    if code == 2:
        return x if x > k[ZERO] else k[ZERO] * x
    if code == 3:
        return x
    slope = k[SIXTH] if code == 4 else k[FIFTH]
    return min(max(x * slope + k[HALF], k[ZERO]), k[ONE])


@_jit
def _grad(code, y, k):
    """act'(x) from the output y = act(x)."""
    if code == 0:
        return k[ONE] - y * y
    if code == 1:
        return y * (k[ONE] - y)
    if code == 2:
        return k[ONE] if y > k[ZERO] else k[ZERO]
    if code == 3:
        return k[ONE]
    slope = k[SIXTH] if code == 4 else k[FIFTH]
    return slope if k[ZERO] < y < k[ONE] else k[ZERO]


@_jit
def _forward(zx, R, h0, c0, peep, k, act, ract, offs, reverse, f32, hs, gates, cs):
    """The recurrence over zx (T, B, 4U: every step's x_t @ W + b, forget bias in):
    writes hs, the activated gates and the cell states; returns (h_T, c_T)."""
    T, B, U4 = zx.shape
    U, H = U4 // 4, R.shape[0]
    oi, of, og, oo = offs[0], offs[1], offs[2], offs[3]
    h, c = h0.copy(), c0.copy()
    a = np.empty(U4, zx.dtype)
    for n in range(T):
        t = T - 1 - n if reverse else n
        for b in range(B):
            a[:] = zx[t, b]
            for j in range(H):                      # a += h_b @ R
                hj = h[b, j]
                for q in range(U4):
                    a[q] += hj * R[j, q]
            for u in range(U):
                cp, zi, zf, zo = c[b, u], a[oi + u], a[of + u], a[oo + u]
                if peep.shape[0]:
                    zi += peep[0, u] * cp
                    zf += peep[1, u] * cp
                i, f = _act(ract, zi, k, f32), _act(ract, zf, k, f32)
                g = _act(act, a[og + u], k, f32)
                cn = f * cp + i * g
                if k[CLIP] >= k[ZERO]:
                    cn = min(max(cn, -k[CLIP]), k[CLIP])
                if peep.shape[0]:
                    zo += peep[2, u] * cn               # reads the new, clipped c
                o = _act(ract, zo, k, f32)
                gates[t, b, oi + u], gates[t, b, of + u] = i, f
                gates[t, b, og + u], gates[t, b, oo + u] = g, o
                cs[t, b, u] = c[b, u] = cn
                hs[t, b, u] = o * _act(act, cn, k, f32)
            h[b] = hs[t, b]
    return h, c


@_jit
def _backward(gates, cs, c0, g_hs, g_hT, g_cT, RT, peep, k, act, ract, offs, reverse, f32,
              dz, gp):
    """The recurrence backwards (RT: R transposed, (4U, H)): writes dz (T, B, 4U), adds
    the peephole gradients to gp (3, U); returns the gradients of h0 and c0."""
    T, B, U4 = gates.shape
    U, H = U4 // 4, RT.shape[1]
    oi, of, og, oo = offs[0], offs[1], offs[2], offs[3]
    dh, dc = g_hT.copy(), g_cT.copy()
    for n in range(T - 1, -1, -1):
        t = T - 1 - n if reverse else n
        tp = T - n if reverse else n - 1           # the step before, in processing order
        for b in range(B):
            for u in range(U):
                i, f, g, o = gates[t, b, oi + u], gates[t, b, of + u], gates[t, b, og + u], \
                    gates[t, b, oo + u]
                c = cs[t, b, u]
                cp = cs[tp, b, u] if n > 0 else c0[b, u]
                dhu = dh[b, u] + g_hs[t, b, u]
                ac = _act(act, c, k, f32)
                do = dhu * ac * _grad(ract, o, k)
                dcu = dc[b, u] + dhu * o * _grad(act, ac, k)
                if peep.shape[0]:
                    dcu += do * peep[2, u]
                    gp[2, u] += do * c
                if k[CLIP] >= k[ZERO] and abs(f * cp + i * g) > k[CLIP]:
                    dcu = k[ZERO] * dcu
                di, df = dcu * g * _grad(ract, i, k), dcu * cp * _grad(ract, f, k)
                dz[t, b, oi + u], dz[t, b, of + u] = di, df
                dz[t, b, og + u], dz[t, b, oo + u] = dcu * i * _grad(act, g, k), do
                dcu *= f
                if peep.shape[0]:
                    dcu += di * peep[0, u] + df * peep[1, u]
                    gp[0, u] += di * cp
                    gp[1, u] += df * cp
                dc[b, u] = dcu
            dh[b] = k[ZERO]                            # dh_b = dz_b @ R.T, row by row of RT
            for q in range(U4):
                dq = dz[t, b, q]
                for j in range(H):
                    dh[b, j] += dq * RT[q, j]
    return dh, dc


class Loops:
    """The compiled loops for one fused op's attributes (see ``loops_for``)."""

    def __init__(self, op, U):
        _compile()
        self.op = op
        self.codes = NAMES.index(op.activation), NAMES.index(op.recurrent_activation)
        slices = math_of(op).gate_slices(U)
        self.offs = np.array([s.start for s in slices], np.int64)
        clip = -1.0 if op.cell_clip is None else float(op.cell_clip)
        self.k = {np.dtype(t): constants(t, clip) for t in (np.float32, np.float64)}

    def _peep(self, peep, U, dtype):
        return np.stack(peep) if peep else np.empty((0, U), dtype)

    def forward(self, zx, h0, c0, R, peep, keep=True):
        """(hs, h_T, c_T, gates, cs) from every step's input projection zx (gates and cs
        whatever ``keep`` says)."""
        T, B, U4 = zx.shape
        U = U4 // 4
        h0, c0 = dense(h0, (B, U), zx.dtype), dense(c0, (B, U), zx.dtype)
        hs, cs = np.empty((T, B, U), zx.dtype), np.empty((T, B, U), zx.dtype)
        gates = np.empty((T, B, U4), zx.dtype)
        h, c = _forward(zx, np.ascontiguousarray(R), h0, c0, self._peep(peep, U, zx.dtype),
                        self.k[zx.dtype], *self.codes, self.offs, self.op.reverse,
                        zx.dtype == np.float32,
                        hs, gates, cs)
        return hs, h, c, gates, cs

    def backward(self, gates, cs, c0, g_hs, g_hT, g_cT, R, peep):
        """(dz, gh0, gc0, peephole gradients as (1, U) rows) of the recurrence."""
        T, B, U4 = gates.shape
        U, dtype = U4 // 4, gates.dtype
        dz, gp = np.empty_like(gates), np.zeros((3 if peep else 0, 1, U), dtype)
        dh, dc = _backward(gates, cs, dense(c0, (B, U), dtype), dense(g_hs, (T, B, U), dtype),
                           dense(g_hT, (B, U), dtype), dense(g_cT, (B, U), dtype),
                           np.ascontiguousarray(R.T), self._peep(peep, U, dtype),
                           self.k[dtype], *self.codes, self.offs, self.op.reverse,
                           dtype == np.float32, dz, gp[:, 0])
        return dz, dh, dc, list(gp)


@functools.lru_cache(maxsize=256)
def _loops(op, U):
    return Loops(op, U)


def loops_for(op, xp, x, R, rest):
    """The compiled loops for this run of a sequence op (x, R and its inputs after
    (x, h0, c0, W, R, b)), or None where the NumPy loops run (see the module's doc)."""
    _, P, mask, xm, hm, _ = split_inputs(op, rest)
    if not ENABLED or xp is not np or P is not None or mask is not None or xm is not None \
            or hm is not None or op.activation not in NAMES \
            or op.recurrent_activation not in NAMES or x.dtype not in (np.float32, np.float64):
        return None
    U = R.shape[1] // 4
    if x.shape[1] * U > MAX_STEP_ELEMENTS:
        return None
    return _loops(op, U)
