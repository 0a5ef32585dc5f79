"""The fused GRU kernels on arrays (``xp`` is numpy or cupy): one forward step, one
backward step, and the sequence loops around them. The math is ops/gru_step.py's,
with the activations of the table (ops/activations.py); backends/cuda_gru.py is the
only other copy, generated from the same table.

A step writes the (B, 4U) gate block ``a`` = (z, r, q, hh): the activated update and
reset gates, q the factor the reset gate multiplies (r_h = h@R_h + b_h with
reset_after, else r*h, the candidate matmul's input) and the candidate hh. That is
all the backward step needs, with the state entering the step.

The sequence loops are shared by every backend, as the LSTM's are
(ops/lstm_kernels.py): the GEMMs go through ``xp.matmul``, the per-step elementwise
work is a step made by ``make_step(xp, op, B, U, dtype)``; NumPy uses the in-place
ufunc steps below, the CuPy backend steps that launch CUDA kernels.
"""
from .activations import fusable
from .gru_step import GRUMath
from .recurrent_kernels import (input_projection, recurrent_grad, recurrent_product,
                                scratch)


def math_of(op):
    """The GRUMath of a fused op (its attributes)."""
    return GRUMath(op.activation, op.recurrent_activation, op.reset_after)


def blocks(U, n):
    """Column slices of the n U-wide blocks of a (..., nU) array."""
    return [slice(k * U, (k + 1) * U) for k in range(n)]


def n_recurrent(op):
    """Blocks of the recurrent product h @ R: (z, r, h) with reset_after, else (z, r)."""
    return 3 if op.reset_after else 2


def forward_step(xp, op, B, U, dtype):
    """``step(a, p, zx, h_prev, h_new, hc=None, Rh=None)``: from the input projection zx
    (B, 3U) and the recurrent product p (B, 3U: h@R + b_rec with reset_after; (B, 2U):
    h@R[:, :2U] without), write the gates a = (z, r, q, hh) and the new state. ``hc``:
    the state the candidate's matmul reads (h_prev unless recurrent dropout masks it);
    ``Rh``: recurrent_kernel[:, 2U:] (reset_after=False)."""
    act, ra = fusable(op.activation).forward, fusable(op.recurrent_activation).forward
    zr, (_, r_, q_, hh_) = slice(0, 2 * U), blocks(U, 4)
    tmp = scratch(xp, B, U, dtype)

    def step(a, p, zx, h_prev, h_new, hc=None, Rh=None):
        xp.add(zx[..., zr], p[..., zr], out=a[..., zr])
        ra(xp, a[..., zr], a[..., zr])                 # z and r at once: one block
        z, r = a[..., :U], a[..., r_]
        if op.reset_after:
            a[..., q_] = p[..., q_]
            xp.multiply(r, a[..., q_], out=tmp)
        else:
            xp.multiply(r, h_prev if hc is None else hc, out=a[..., q_])
            xp.matmul(a[..., q_], Rh, out=tmp)
        xp.add(tmp, zx[..., q_], out=tmp)              # zx's third block is x_h
        act(xp, tmp, a[..., hh_])
        xp.subtract(h_prev, a[..., hh_], out=h_new)    # z*h + (1-z)*hh = hh + z*(h - hh)
        h_new *= z
        h_new += a[..., hh_]
    return step


def backward_step(xp, op, B, U, dtype):
    """``step(a, h_prev, dh, d, dp, hc=None, Rh=None) -> dhc``: from a step's gates ``a``,
    the state entering it and the gradient ``dh`` reaching its new state, write ``d``
    (B, 3U), the gradient of the input projection, and ``dp``, that of the recurrent
    product; ``dh`` becomes the direct part of the previous state's gradient (dh*z).
    Returns the gradient reaching hc (reset_after=False; a buffer reused next step)."""
    A, R = fusable(op.activation), fusable(op.recurrent_activation)
    zr, (_, r_, q_, hh_) = slice(0, 2 * U), blocks(U, 4)
    tmp, dq = scratch(xp, B, U, dtype), scratch(xp, B, U, dtype)
    deriv = scratch(xp, B, 2 * U, dtype)

    def step(a, h_prev, dh, d, dp, hc=None, Rh=None):
        z, r, q, hh = a[..., :U], a[..., r_], a[..., q_], a[..., hh_]
        xp.subtract(h_prev, hh, out=d[..., :U])        # at the activated gates ...
        d[..., :U] *= dh
        xp.subtract(1.0, z, out=d[..., q_])
        d[..., q_] *= dh
        d[..., q_] *= A.grad_from_output(xp, hh, tmp)  # the candidate's pre-activation
        dhc = None
        if op.reset_after:
            xp.multiply(d[..., q_], q, out=d[..., r_])
            xp.multiply(d[..., q_], r, out=dp[..., q_])
        else:
            xp.matmul(d[..., q_], Rh.T, out=dq)        # the gradient of r * hc
            xp.multiply(dq, h_prev if hc is None else hc, out=d[..., r_])
            dhc = xp.multiply(dq, r, out=dq)
        d[..., zr] *= R.grad_from_output(xp, a[..., zr], deriv)   # ... then through them
        dp[..., zr] = d[..., zr]
        dh *= z
        return dhc
    return step


# ----------------------------------------------------------------------- one cell

def _cell_arrays(op, inputs):
    """(x_proj, h_proj, h_prev, Rh or None, hc or None, the rest) of a cell op's inputs."""
    x_proj, h_proj, h_prev, *rest = inputs
    Rh = None if op.reset_after else rest.pop(0)
    hc = rest.pop(0) if op.candidate_input else None
    return x_proj, h_proj, h_prev, Rh, hc, rest


def cell_forward(xp, op, *inputs, make_step=forward_step):
    """gru_cell: (h, the gates a). ``make_step``: the backend's forward step."""
    x_proj, h_proj, h_prev, Rh, hc, _ = _cell_arrays(op, inputs)
    lead, U = h_prev.shape[:-1], h_prev.shape[-1]
    a, h = xp.empty(lead + (4 * U,), h_prev.dtype), xp.empty_like(h_prev)
    make_step(xp, op, lead, U, h_prev.dtype)(a, h_proj, x_proj, h_prev, h, hc, Rh)
    return h, a


def cell_backward(xp, op, *inputs, make_steps=(forward_step, backward_step)):
    """gru_cell_grad: (d x_proj, d h_proj, d h_prev[, d Rh][, d hc]). ``make_steps``:
    the backend's forward and backward steps."""
    x_proj, h_proj, h_prev, Rh, hc, (gh,) = _cell_arrays(op, inputs)
    _, a = cell_forward(xp, op, *inputs[:-1], make_step=make_steps[0])
    lead, U = h_prev.shape[:-1], h_prev.shape[-1]
    d, dp = xp.empty_like(x_proj), xp.empty_like(h_proj)
    dh = xp.broadcast_to(gh, h_prev.shape).astype(h_prev.dtype, copy=True)
    dhc = make_steps[1](xp, op, lead, U, h_prev.dtype)(a, h_prev, dh, d, dp, hc, Rh)
    if op.reset_after:
        return d, dp, dh
    if hc is None:
        dh += dhc
    q = a[..., 2 * U:3 * U].reshape(-1, U)
    gRh = xp.matmul(q.T, d[..., 2 * U:].reshape(-1, U))
    return (d, dp, dh, gRh) + ((dhc.copy(),) if hc is not None else ())


# ----------------------------------------------------------------------- sequence loops

def split_inputs(op, rest):
    """The optional inputs after (x, h0, W, R, b), in order: the (T, B) mask, the
    (3, B, D) input and (3, B, U) recurrent dropout masks of the three gate blocks
    (None where absent), then what follows."""
    k, found = 0, []
    for present in (op.mask_output is not None, op.input_masks, op.recurrent_masks):
        found.append(rest[k] if present else None)
        k += bool(present)
    return (*found, rest[k:])


def _same_dtype(dtype, mask, *dropout):
    """The RNN mask and the dropout masks in the kernels' dtype (a mask may be made in
    another float type; a kernel reads one element type)."""
    return (mask,) + tuple(None if m is None else m.astype(dtype, copy=False) for m in dropout)


def _weights(xp, op, R, b, hm):
    """(the recurrent product's R and bias, the candidate's R_h or None, the state the
    candidate reads: a function of h)."""
    U = R.shape[0]
    if op.reset_after:
        return R, b[1], None, lambda h: None
    Rh = xp.ascontiguousarray(R[:, 2 * U:])
    return R[:, :2 * U], None, Rh, (lambda h: h) if hm is None else (lambda h: h * hm[2])


def sequence_forward(xp, op, make_step, x, h0, W, R, b, *rest, needed):
    """gru_sequence's outputs (hs, h_T, gates) and, masked, (y_T, states h); ``gates``
    only when ``needed`` says the backward op reads them. ``rest``: see split_inputs."""
    mask, xm, hm = _same_dtype(x.dtype, *split_inputs(op, rest)[:3])
    zx = input_projection(xp, x, W, b[0] if op.reset_after else b, xm, 3, "gru_sequence")
    Rp, b_rec, Rh, cand = _weights(xp, op, R, b, hm)
    product = recurrent_product(xp, Rp, hm, n_recurrent(op), b_rec)
    T, B, _ = x.shape
    U = R.shape[0]
    step = make_step(xp, op, B, U, x.dtype)
    keep = op.mask_output is not None or needed[2]      # the backward op reads the gates
    gates = xp.empty((T, B, 4 * U), x.dtype) if keep else None
    scratch = None if keep else xp.empty((B, 4 * U), x.dtype)
    p = xp.empty((B, Rp.shape[1]), x.dtype)
    hs = xp.empty((T, B, U), x.dtype)
    if op.mask_output:
        hst, y, h_cell = xp.empty((T, B, U), x.dtype), xp.zeros((B, U), x.dtype), \
            xp.empty((B, U), x.dtype)
    h = h0
    for t in (range(T - 1, -1, -1) if op.reverse else range(T)):
        a = gates[t] if keep else scratch
        product(h, p)
        if not op.mask_output:
            step(a, p, zx[t], h, hs[t], cand(h), Rh)
            h = hs[t]
            continue
        m = mask[t][:, None]            # a masked row keeps its state and carried output
        step(a, p, zx[t], h, h_cell, cand(h), Rh)
        hst[t] = xp.where(m, h_cell, h)
        y = xp.where(m, h_cell, y)
        hs[t] = y if op.mask_output == "carry" else xp.where(m, h_cell, 0)
        h = hst[t]
    return (hs, h, gates) + ((y, hst) if op.mask_output else ())


def sequence_backward(xp, op, make_step, x, h0, W, R, b, *rest):
    """gru_sequence_grad's outputs (gx, gh0, gW, gR, gb). ``rest``: the optional inputs
    (split_inputs), then the states (hs unmasked, states h masked), the gates, g_hs,
    g_hT and, masked, g_y."""
    mask, xm, hm, saved = split_inputs(op, rest)
    xm, hm = _same_dtype(x.dtype, None, xm, hm)[1:]
    hst, gates, g_hs, g_hT, *g_y = saved
    T, B, D = x.shape
    U = R.shape[0]
    Rp, _, Rh, cand = _weights(xp, op, R, b, hm)
    d, dp, dh = _backward_loop(xp, op, make_step(xp, op, B, U, x.dtype), recurrent_grad(xp, Rp, hm, n_recurrent(op)),
                               h0, hst, gates, g_hs, g_hT, mask, g_y[0] if g_y else None,
                               cand, Rh, hm)
    # the state entering step t is the previous step's (h0 for the first)
    first, later, prev = (T - 1, slice(0, T - 1), slice(1, T)) if op.reverse else \
        (0, slice(1, T), slice(0, T - 1))
    gx, gW = _input_grads(xp, x, W, d, xm), _input_grads(xp, x, W, d, xm, weights=True)
    gR = xp.empty_like(R)
    n = n_recurrent(op)
    per_block = [(slice(0, n * U), None)] if hm is None else \
        [(s, hm[k]) for k, s in enumerate(blocks(U, n))]
    for cols, hk in per_block:                  # one GEMM each over all steps
        h_prev, h_first = (hst[prev], h0) if hk is None else (hst[prev] * hk, h0 * hk)
        dk = dp[..., cols]
        gR[:, cols] = xp.matmul(h_prev.reshape(-1, U).T, dk[later].reshape(-1, dk.shape[-1])) \
            + xp.matmul(h_first.T, dk[first])
    if not op.reset_after:                      # R_h reads q = r * hc at every step
        gR[:, 2 * U:] = xp.matmul(gates[..., 2 * U:3 * U].reshape(-1, U).T,
                                  d[..., 2 * U:].reshape(-1, U))
    gb_in = d.reshape(T * B, 3 * U).sum(0)
    gb = xp.stack([gb_in, dp.reshape(T * B, 3 * U).sum(0)]) if op.reset_after else gb_in
    return gx, dh, gW, gR, gb


def _input_grads(xp, x, W, d, xm, weights=False):
    """The gradient of x (``weights=False``) or of W from the input projection's
    gradient d (T, B, 3U): one GEMM over all steps, or one per gate block with masks."""
    T, B, D = x.shape
    parts = [(slice(None), None)] if xm is None else \
        [(s, xm[k]) for k, s in enumerate(blocks(W.shape[1] // 3, 3))]
    out = xp.empty_like(W) if weights else None
    for cols, xk in parts:
        dk = d[..., cols].reshape(T * B, -1)
        if weights:
            out[:, cols] = xp.matmul((x if xk is None else x * xk).reshape(T * B, D).T, dk)
            continue
        gk = xp.matmul(dk, W[:, cols].T).reshape(T, B, D)
        gk = gk if xk is None else gk * xk
        out = gk if out is None else out + gk
    return out


def _backward_loop(xp, op, step, rgrad, h0, hst, gates, g_hs, g_hT, mask, g_y, cand, Rh, hm):
    """The recurrence backwards: (d, dp, gh0). With a mask, a step's cell gets the
    gradients only where the row is kept; elsewhere they pass to the carried state
    (and the carried output, ``dy``)."""
    T, B, U = hst.shape
    d = xp.empty((T, B, 3 * U), hst.dtype)
    dp = xp.empty((T, B, n_recurrent(op) * U), hst.dtype)
    dh = g_hT.copy()
    dy = None if mask is None else g_y.copy()
    order = list(range(T - 1, -1, -1)) if op.reverse else list(range(T))
    for k in range(T - 1, -1, -1):                 # the steps backwards, in processing order
        t = order[k]
        h_prev = hst[order[k - 1]] if k > 0 else h0
        if mask is None:
            dh += g_hs[t]
        else:
            m = mask[t][:, None]
            g_cell = xp.where(m, dy + g_hs[t], 0)
            dy = xp.where(m, 0, dy + g_hs[t] if op.mask_output == "carry" else dy)
            dh_pass = xp.where(m, 0, dh)
            dh = xp.where(m, dh, 0) + g_cell
        dhc = step(gates[t], h_prev, dh, d[t], dp[t], cand(h_prev), Rh)
        dh += rgrad(dp[t])
        if dhc is not None:
            dh += dhc if hm is None else dhc * hm[2]
        if mask is not None:
            dh += dh_pass
    return d, dp, dh
