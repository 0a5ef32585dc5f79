"""The fused LSTM kernels on arrays (``xp`` is numpy or cupy): one forward step, one
backward step, and the sequence loops around them. The math is ops/lstm_step.py's,
with the activations of the table (ops/activations.py); backends/cuda_lstm.py is the
only other copy, generated from the same table.

A step works in place on the (B, 4U) gate block ``a``: it arrives holding the
pre-activations z and leaves holding the activated gates (i, f, g, o), which is all
the backward step needs, with the new cell state.

The sequence loops are shared by every backend: the GEMMs go through ``xp.matmul``,
the per-step elementwise work is a step made by ``make_step(xp, op, B, U, dtype)``.
NumPy uses the in-place ufunc steps below; the CuPy backend passes steps that launch
one CUDA kernel each.
"""
import numpy as np

from .activations import fusable
from .lstm_step import LSTMMath
from .recurrent_kernels import (input_projection, recurrent_grad, recurrent_product,
                                scratch)


def math_of(op):
    """The LSTMMath of a fused op (its attributes)."""
    return LSTMMath(op.activation, op.recurrent_activation, op.forget_bias, op.gate_order,
                    op.cell_clip, op.peepholes)


def forward_step(xp, op, B, U, dtype):
    """``step(a, c_prev, c_new, h, peep=())``: activate the gates in ``a`` in place and
    write the new cell state and output. ``a`` arrives holding z with the forget bias
    already added (the sequence loop adds it to every step's input projection once)."""
    si, sf, sg, so = math_of(op).gate_slices(U)
    act, ra = fusable(op.activation).forward, fusable(op.recurrent_activation).forward
    g_buf, tmp = scratch(xp, B, U, dtype), scratch(xp, B, U, dtype)

    def step(a, c_prev, c_new, h, peep=()):
        act(xp, a[..., sg], g_buf)                     # the candidate: cell activation
        if op.peepholes:
            a[..., si] += peep[0] * c_prev
            a[..., sf] += peep[1] * c_prev
            ra(xp, a[..., si], a[..., si])
            ra(xp, a[..., sf], a[..., sf])
        else:
            ra(xp, a, a)                               # i, f, o at once: one contiguous block
        a[..., sg] = g_buf
        xp.multiply(a[..., sf], c_prev, out=c_new)
        xp.multiply(a[..., si], a[..., sg], out=tmp)
        c_new += tmp
        if op.cell_clip is not None:
            xp.clip(c_new, -op.cell_clip, op.cell_clip, out=c_new)
        if op.peepholes:
            a[..., so] += peep[2] * c_new              # reads the new, clipped c
            ra(xp, a[..., so], a[..., so])
        act(xp, c_new, h)
        h *= a[..., so]
    return step


def backward_step(xp, op, B, U, dtype):
    """``step(a, c, c_prev, dh, dc, d, peep=())``: from a step's activated gates ``a``
    and new cell state ``c``, and the gradients reaching its output (``dh``) and cell
    (``dc``), write the pre-activation gradient ``d`` and turn ``dc`` into the previous
    cell's gradient. Returns the peephole gradients (per sample) when there are any."""
    si, sf, sg, so = math_of(op).gate_slices(U)
    A, R = fusable(op.activation), fusable(op.recurrent_activation)
    ac, dac, tmp = (scratch(xp, B, U, dtype) for _ in range(3))
    deriv = scratch(xp, B, 4 * U, dtype)

    def step(a, c, c_prev, dh, dc, d, peep=()):
        i, f, g, o = a[..., si], a[..., sf], a[..., sg], a[..., so]
        A.forward(xp, c, ac)
        xp.multiply(dh, ac, out=d[..., so])            # at the activated output gate
        xp.multiply(dh, o, out=tmp)                    # dc += dh * o * act'(c)
        xp.multiply(tmp, A.grad_from_output(xp, ac, dac), out=tmp)
        dc += tmp
        if op.peepholes:                               # the peephole reads o's pre-activation
            d[..., so] *= R.grad_from_output(xp, o)
            dc += d[..., so] * peep[2]
        if op.cell_clip is not None:
            c_raw = f * c_prev + i * g
            dc *= xp.abs(c_raw) <= op.cell_clip
        xp.multiply(dc, g, out=d[..., si])             # at the activated gates ...
        xp.multiply(dc, c_prev, out=d[..., sf])
        xp.multiply(dc, i, out=d[..., sg])
        R.grad_from_output(xp, a, deriv)               # ... then through them, in one block
        deriv[..., sg] = A.grad_from_output(xp, g)
        if op.peepholes:
            deriv[..., so] = 1
        d *= deriv
        dc *= f
        if not op.peepholes:
            return ()
        dc += d[..., si] * peep[0] + d[..., sf] * peep[1]
        return d[..., si] * c_prev, d[..., sf] * c_prev, d[..., so] * c
    return step


# ----------------------------------------------------------------------- one cell

def cell_forward(xp, op, z, c_prev, peep):
    """lstm_cell: (h, c) and the activated gates."""
    U = c_prev.shape[-1]
    shape = np.broadcast_shapes(z.shape[:-1] + (U,), c_prev.shape)
    a = z.astype(z.dtype, copy=True)
    if op.forget_bias:
        a[..., math_of(op).gate_slices(U)[1]] += op.forget_bias
    c, h = xp.empty(shape, z.dtype), xp.empty(shape, z.dtype)
    forward_step(xp, op, shape[:-1], U, z.dtype)(a, c_prev, c, h, peep)
    return h, c, a


def cell_backward(xp, op, z, c_prev, peep, gh, gc):
    """lstm_cell_grad: (dz, dc_prev[, dp_i, dp_f, dp_o])."""
    h, c, a = cell_forward(xp, op, z, c_prev, peep)
    U = c_prev.shape[-1]
    dz = xp.empty_like(z)
    dh = xp.broadcast_to(gh, h.shape).astype(h.dtype, copy=True)
    dc = xp.broadcast_to(gc, c.shape).astype(c.dtype, copy=True)
    dp = backward_step(xp, op, h.shape[:-1], U, z.dtype)(a, c, c_prev, dh, dc, dz, peep)
    if not op.peepholes:
        return dz, _sum_to(xp, dc, c_prev.shape)
    grads = [_sum_to(xp, g, p.shape) for g, p in zip(dp, peep)]
    return (dz, _sum_to(xp, dc, c_prev.shape), *grads)


def _sum_to(xp, g, shape):
    """``g`` summed over the leading axes it has beyond ``shape`` (and broadcast ones)."""
    while g.ndim > len(shape):
        g = g.sum(0)
    for ax, n in enumerate(shape):
        if n == 1 and g.shape[ax] != 1:
            g = g.sum(ax, keepdims=True)
    return g


# ----------------------------------------------------------------------- sequence loops
# A make_step(xp, op, B, U, dtype) returns the per-step elementwise work of a backend:
#   forward  step(a, zx_t, c_prev, c_new, h, *peep)
#   backward step(a, c, c_prev, g_h, dh, dc, d, *peep) -> () or the peephole products
#            (p_i, p_f, p_o gradients per sample, (B, U) each)

def split_inputs(op, rest):
    """The optional inputs after (x, h0, c0, W, R, b), in order: (peepholes (p_i, p_f,
    p_o) or (), the (U, P) projection, the (T, B) mask, the (4, B, D) input and (4, B, H)
    recurrent dropout masks of the four gate blocks (None where absent), then what
    follows)."""
    peep = tuple(rest[:3]) if op.peepholes else ()
    k, found = len(peep), []
    for present in (op.projection, op.mask_output is not None, op.input_masks,
                    op.recurrent_masks):
        found.append(rest[k] if present else None)
        k += bool(present)
    return (peep, *found, rest[k:])


def projector(xp, op, P):
    """``project(h_cell, out)``: the projected output h_cell @ P, clipped to +-proj_clip
    if set (the TF1 cell's num_proj and proj_clip); None without a projection."""
    if P is None:
        return None

    def project(h_cell, out):
        xp.matmul(h_cell, P, out=out)
        if op.proj_clip:
            xp.clip(out, -op.proj_clip, op.proj_clip, out=out)
    return project


def _block(U, k):
    return slice(k * U, (k + 1) * U)


def _input_projection(xp, op, x, W, b, xm=None):
    """Every step's ``x_t @ W + b`` with the forget bias folded in, (T, B, 4U)."""
    zx = input_projection(xp, x, W, b, xm, 4, "lstm_sequence")
    if op.forget_bias:
        zx[..., math_of(op).gate_slices(W.shape[1] // 4)[1]] += op.forget_bias
    return zx


def sequence_forward(xp, op, make_step, x, h0, c0, W, R, b, *rest, needed, loops=None):
    """lstm_sequence's outputs (hs, h_T, c_T, gates, cs[, h_cells]); ``gates`` and ``cs``
    only when ``needed`` says the backward op reads them; with a projection, the
    cells' own outputs h_cells (T, B, U) too. ``rest``: see split_inputs. ``loops``:
    loops that run the recurrence instead of the steps (backends/host_lstm.py's host
    kernels, ops/lstm_numba.py's compiled loops)."""
    peep, P, mask, xm, hm, _ = split_inputs(op, rest)
    zx = _input_projection(xp, op, x, W, b, xm)
    keep = needed[3] or needed[4]             # the backward op reads gates and cs
    if loops is not None:
        hs, h, c, gates, cs = loops.forward(zx, h0, c0, R, peep, keep)
        return hs, h, c, gates if keep else None, cs if keep else None
    product, project = recurrent_product(xp, R, hm, 4), projector(xp, op, P)
    T, B, D = x.shape
    U, H = W.shape[1] // 4, R.shape[0]
    step = make_step(xp, op, B, U, x.dtype)
    if op.mask_output:
        return masked_forward(xp, op, step, zx, h0, c0, product, project, H, peep, mask)
    gates = xp.empty((T, B, 4 * U), x.dtype) if keep else None
    cs = xp.empty((T, B, U), x.dtype) if keep else None
    hs = xp.empty((T, B, H), x.dtype)
    hc = None if P is None else xp.empty((T, B, U) if keep else (B, U), x.dtype)
    scratch_a = None if keep else xp.empty((B, 4 * U), x.dtype)
    scratch_c = None if keep else [xp.empty((B, U), x.dtype) for _ in range(2)]
    h, c = h0, c0
    steps = range(T - 1, -1, -1) if op.reverse else range(T)
    for k, t in enumerate(steps):
        a = gates[t] if keep else scratch_a
        product(h, a)                         # a = h @ R; the step adds zx[t] and activates
        c_new = cs[t] if keep else scratch_c[k % 2]
        h_cell = hs[t] if P is None else hc[t] if keep else hc
        step(a, zx[t], c, c_new, h_cell, *peep)
        if project is not None:
            project(h_cell, hs[t])
        h, c = hs[t], c_new
    return (hs, h, c, gates, cs) + (() if P is None else (hc if keep else None,))


def numpy_forward_step(xp, op, B, U, dtype):
    """A sequence step: ``a = h @ R`` plus the step's input projection, then the cell."""
    cell = forward_step(xp, op, B, U, dtype)

    def step(a, zx_t, c_prev, c_new, h, *peep):
        a += zx_t
        cell(a, c_prev, c_new, h, peep)
    return step


def sequence_backward(xp, op, make_step, x, h0, c0, W, R, b, *rest, loops=None):
    """lstm_sequence_grad's outputs (gx, gh0, gc0, gW, gR, gb[, gp_i, gp_f, gp_o][, gP]).
    ``rest``: the optional inputs (split_inputs), then hs, gates, cs[, h_cells], g_hs,
    g_hT, g_cT; masked: states h, gates, cs, states c[, h_cells], g_hs, g_hT, g_cT, g_y.
    ``loops``: as for sequence_forward."""
    peep, P, mask, xm, hm, saved = split_inputs(op, rest)
    saved = list(saved)
    hc = saved.pop(4 if op.mask_output else 3) if P is not None else None
    if op.mask_output:
        hs, gates, cs, cst, g_hs, g_hT, g_cT, g_y = saved
    else:
        (hs, gates, cs, g_hs, g_hT, g_cT), g_y = saved, None
        cst = cs              # unmasked, the c entering a step is the previous cell's
    T, B, D = x.shape
    U, H = W.shape[1] // 4, R.shape[0]
    proj = None if P is None else (P, hs, xp.empty((T, B, H), x.dtype))
    if loops is not None:
        dz, dh, dc, gp = loops.backward(gates, cs, c0, g_hs, g_hT, g_cT, R, peep)
    else:
        dz, dh, dc, gp = _backward_loop(xp, op, make_step(xp, op, B, U, x.dtype),
                                        recurrent_grad(xp, R, hm, 4), c0, gates, cs, cst, g_hs,
                                        g_hT, g_cT, peep, mask, g_y, proj)
    # the hidden state entering step t is the previous step's (h0 for the first)
    first, later, prev = (T - 1, slice(0, T - 1), slice(1, T)) if op.reverse else \
        (0, slice(1, T), slice(0, T - 1))
    blocks = [(slice(None), None, None)] if xm is None and hm is None else \
        [(_block(U, k), None if xm is None else xm[k], None if hm is None else hm[k])
         for k in range(4)]
    gx, gW, gR = None, xp.empty_like(W), xp.empty_like(R)
    for cols, xk, hk in blocks:                  # one GEMM each over all steps, in place
        dzk = dz[..., cols]
        d2 = dzk.reshape(T * B, -1)
        gxk = xp.matmul(d2, W[:, cols].T).reshape(T, B, D)
        gxk = gxk if xk is None else gxk * xk
        gx = gxk if gx is None else gx + gxk
        xp.matmul((x if xk is None else x * xk).reshape(T * B, D).T, d2, out=gW[:, cols])
        h_prev, h_first = (hs[prev], h0) if hk is None else (hs[prev] * hk, h0 * hk)
        xp.matmul(h_prev.reshape(-1, H).T, dzk[later].reshape(-1, d2.shape[1]), out=gR[:, cols])
        gR[:, cols] += xp.matmul(h_first.T, dzk[first])
    gb = dz.reshape(T * B, 4 * U).sum(0)
    gP = () if P is None else (xp.matmul(hc.reshape(-1, U).T, proj[2].reshape(-1, H)),)
    return (gx, dh, dc, gW, gR, gb) + tuple(g.sum(0) for g in gp) + gP


def _backward_loop(xp, op, step, rgrad, c0, gates, cs, cst, g_hs, g_hT, g_cT, peep, mask, g_y,
                   proj=None):
    """The recurrence backwards: (dz, gh0, gc0, per-sample peephole gradients). With a
    mask, a step's cell gets the gradients only where the row is kept; elsewhere they
    pass to the carried states (and the carried output, ``dy``). ``proj``: (P, the
    projected outputs, where to keep their gradients) with a projection."""
    T, B, U = cs.shape
    cell_step = step
    if proj is not None:
        P, ms, dms = proj
        zero, PT = xp.zeros((B, U), cs.dtype), P.T

        def step(a, c, c_prev, g_h, dh, dc, d, *peep):     # through m = clip(h_cell @ P)
            dm = dms[t]
            xp.add(g_h, dh, out=dm)
            if op.proj_clip:
                dm *= xp.abs(ms[t]) < op.proj_clip
            return cell_step(a, c, c_prev, zero, xp.matmul(dm, PT), dc, d, *peep)
    dz = xp.empty((T, B, 4 * U), cs.dtype)
    dh, dc = g_hT.copy(), g_cT.copy()
    dy = None if mask is None else g_y.copy()
    gp = [xp.zeros((B, U), cs.dtype) for _ in peep]
    order = list(range(T - 1, -1, -1)) if op.reverse else list(range(T))
    for k in range(T - 1, -1, -1):                 # the steps backwards, in processing order
        t = order[k]
        c_prev = cst[order[k - 1]] if k > 0 else c0
        if mask is None:
            products = step(gates[t], cs[t], c_prev, g_hs[t], dh, dc, dz[t], *peep)
        else:
            m = mask[t][:, None]
            g_y_cell = xp.where(m, dy + g_hs[t], 0)
            dy = xp.where(m, 0, dy + g_hs[t] if op.mask_output == "carry" else dy)
            dh_pass, dc_pass = xp.where(m, 0, dh), xp.where(m, 0, dc)
            dh, dc = xp.where(m, dh, 0), xp.where(m, dc, 0)
            products = step(gates[t], cs[t], c_prev, g_y_cell, dh, dc, dz[t], *peep)
            dc += dc_pass
        for acc, p in zip(gp, products or ()):
            acc += p
        dh = rgrad(dz[t], dh if mask is None else None)
        if mask is not None:
            dh += dh_pass
    return dz, dh, dc, gp


class FactoredBackward:
    """The NumPy recurrence backwards, factored: what a step's gradient needs that does
    not depend on the gradients flowing back (act(c) and its derivative, the gates'
    derivatives, the clip masks) is computed for a chunk of steps at once, so a step
    is ten array calls on (B, U) blocks instead of about twenty. Every number is
    computed as ``backward_step`` computes it, in the same order (same results, bit
    for bit); only the calls are fewer."""

    CHUNK_ELEMENTS = 1 << 18       # gate elements per chunk of precomputed factors
    MAX_STEP_ELEMENTS = 256        # batch x units of a step beyond which it does not pay

    def __init__(self, op, hm):
        self.op, self.hm = op, hm

    def backward(self, gates, cs, c0, g_hs, g_hT, g_cT, R, peep):
        """(dz, gh0, gc0, per-sample peephole gradients), as ``_backward_loop``."""
        xp, op, (T, B, U4) = np, self.op, gates.shape
        U, dtype = U4 // 4, gates.dtype
        si, sf, _, so = math_of(op).gate_slices(U)
        rgrad = recurrent_grad(xp, R, self.hm, 4)
        dz = xp.empty_like(gates)
        d3 = dz[..., :3 * U].reshape(T, B, 3, U)      # the blocks of i, f and g: o is last
        dh, dc = (xp.array(xp.broadcast_to(g, (B, U)), dtype) for g in (g_hT, g_cT))
        tmp = xp.empty((B, U), dtype)
        gp = [xp.zeros((B, U), dtype) for _ in peep]
        C = max(1, min(T, self.CHUNK_ELEMENTS // (B * U4)))
        starts = range(0, T, C)
        for t0 in (starts if op.reverse else reversed(starts)):
            t1 = min(T, t0 + C)
            cp = _c_prev(xp, op, cs, c0, t0, t1)
            ac, dac, Ro, keep, S3, D3 = self._factors(gates[t0:t1], cs[t0:t1], cp)
            for t in (range(t0, t1) if op.reverse else range(t1 - 1, t0 - 1, -1)):
                k, d, d_o = t - t0, dz[t], dz[t, :, so]
                dh += g_hs[t]
                xp.multiply(dh, ac[k], out=d_o)            # at the activated output gate
                d_o *= Ro[k]
                xp.multiply(dh, gates[t, :, so], out=tmp)  # dc += dh * o * act'(c)
                tmp *= dac[k]
                dc += tmp
                if peep:
                    dc += d_o * peep[2]
                if keep is not None:
                    dc *= keep[k]
                xp.multiply(dc[:, None, :], S3[k], out=d3[t])   # dc * (g, c_prev, i) ...
                d3[t] *= D3[k]                             # ... through the gates
                dc *= gates[t, :, sf]
                if peep:
                    dc += d[:, si] * peep[0] + d[:, sf] * peep[1]
                    for acc, v in zip(gp, (d[:, si] * cp[k], d[:, sf] * cp[k], d_o * cs[t])):
                        acc += v
                dh = rgrad(d, dh)
        return dz, dh, dc, gp

    def _factors(self, a, c, cp):
        """Of a chunk: act(c), act'(act(c)), ra'(o), the clip's keep mask (None without
        clip), (g, c_prev, i) and their gates' derivatives, (T, B, 3, U) in d's order."""
        xp, op, U = np, self.op, c.shape[-1]
        si, sf, sg, so = math_of(op).gate_slices(U)
        A, Ra = fusable(op.activation), fusable(op.recurrent_activation)
        ac = A.forward(xp, c, xp.empty_like(c))
        keep = None if op.cell_clip is None else \
            xp.abs(a[..., sf] * cp + a[..., si] * a[..., sg]) <= op.cell_clip
        S3, D3 = (xp.empty(c.shape[:-1] + (3, U), c.dtype) for _ in range(2))
        for s, value, act in ((si, a[..., sg], Ra), (sf, cp, Ra), (sg, a[..., si], A)):
            S3[..., s.start // U, :] = value
            D3[..., s.start // U, :] = act.grad_from_output(xp, a[..., s])
        return ac, A.grad_from_output(xp, ac), Ra.grad_from_output(xp, a[..., so]), keep, S3, D3


def _c_prev(xp, op, cs, c0, t0, t1):
    """The cell states entering steps t0 .. t1 - 1 (c0 for the first processed)."""
    T = cs.shape[0]
    first = xp.broadcast_to(c0, cs.shape[1:])[None]
    if not op.reverse:
        return cs[t0 - 1:t1 - 1] if t0 > 0 else xp.concatenate([first, cs[:t1 - 1]])
    return cs[t0 + 1:t1 + 1] if t1 < T else xp.concatenate([cs[t0 + 1:T], first])


def factored_backward(op, xp, x, R, rest):
    """The factored NumPy backward for this run of a sequence op (x, R and its inputs
    after (x, h0, c0, W, R, b)), or None where the per-step loop runs: masked and
    projected sequences, other backends, and steps of more than ``MAX_STEP_ELEMENTS``
    batch x units, where the chunk's extra memory traffic costs more than the calls
    it saves (measured: backward op 0.75x at B=1..4, U=32; 1.03-1.1x from B x U = 512)."""
    _, P, mask, _, hm, _ = split_inputs(op, rest)
    if xp is not np or P is not None or mask is not None \
            or x.shape[1] * (R.shape[1] // 4) > FactoredBackward.MAX_STEP_ELEMENTS:
        return None
    return FactoredBackward(op, hm)


def masked_forward(xp, op, step, zx, h0, c0, product, project, H, peep, mask):
    """The masked sequence: at a step whose row is masked, h and c keep their values and
    the carried output its own (zeros before the first kept step); the emitted output
    is the carried one (``mask_output="carry"``) or zeros (``"zero"``). Returns (hs,
    h_T, c_T, gates, cs, y_T, states h, states c[, h_cells]): cs are the cells' own c."""
    T, B, U4 = zx.shape
    U = U4 // 4
    gates = xp.empty((T, B, U4), zx.dtype)
    cs, cst = (xp.empty((T, B, U), zx.dtype) for _ in range(2))
    hs, hst = (xp.empty((T, B, H), zx.dtype) for _ in range(2))
    hc = xp.empty((T, B, U), zx.dtype) if project else None
    h_cell = xp.empty((B, H), zx.dtype)
    y = xp.zeros((B, H), zx.dtype)
    h, c = h0, c0
    for t in (range(T - 1, -1, -1) if op.reverse else range(T)):
        m = mask[t][:, None]
        product(h, gates[t])
        step(gates[t], zx[t], c, cs[t], h_cell if hc is None else hc[t], *peep)
        if project is not None:
            project(hc[t], h_cell)
        hst[t], cst[t] = xp.where(m, h_cell, h), xp.where(m, cs[t], c)
        y = xp.where(m, h_cell, y)
        hs[t] = y if op.mask_output == "carry" else xp.where(m, h_cell, 0)
        h, c = hst[t], cst[t]
    return (hs, h, c, gates, cs, y, hst, cst) + (() if hc is None else (hc,))


def numpy_backward_step(xp, op, B, U, dtype):
    """A sequence step backwards: the gradient from hs[t] joins the recurrent one."""
    cell = backward_step(xp, op, B, U, dtype)

    def step(a, c, c_prev, g_h, dh, dc, d, *peep):
        dh += g_h
        return cell(a, c, c_prev, dh, dc, d, peep)
    return step
