"""What the fused LSTM and GRU kernels on arrays share (ops/lstm_kernels.py,
ops/gru_kernels.py; ``xp`` is numpy or cupy): scratch buffers, dense NumPy arrays for
the compiled loops, every step's input projection, and the recurrent
product ``h @ R`` of a step with its gradient, over R's n gate blocks, with the
per-gate recurrent dropout masks of Keras' implementation=1 when there are some."""
import numpy as np


def scratch(xp, B, n, dtype):
    """A (B, n) scratch array; ``B`` may be a tuple of leading dimensions."""
    return xp.empty((B, n) if isinstance(B, int) else tuple(B) + (n,), dtype)


def dense(a, shape, dtype):
    """``a`` (a NumPy array) as a C-contiguous array of ``shape`` (broadcast) and
    ``dtype``, itself when it is one already: for kernels that index raw memory (the
    host kernels, the numba loops)."""
    if a.shape == shape and a.dtype == dtype and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(np.broadcast_to(a, shape), dtype)


def input_projection(xp, x, W, b, xm, n, what):
    """Every step's ``x_t @ W + b`` as one GEMM, (T, B, nU), for the sequence op named
    ``what``; with per-gate input masks xm (n, B, D), block k is ``(x_t * xm[k]) @ W_k``:
    n GEMMs."""
    T, B, D = x.shape
    if T == 0:
        raise ValueError(f"{what}: zero time steps")
    if xm is None:
        zx = xp.matmul(x.reshape(T * B, D), W).reshape(T, B, W.shape[1])
    else:
        U = W.shape[1] // n
        zx = xp.empty((T, B, n * U), x.dtype)
        for k in range(n):
            s = slice(k * U, (k + 1) * U)
            zx[..., s] = xp.matmul((x * xm[k]).reshape(T * B, D), W[:, s]).reshape(T, B, U)
    zx += b
    return zx


def recurrent_product(xp, R, hm, n, bias=None):
    """``product(h, out)``: out = h @ R (+ bias) for R (H, nU); with per-gate recurrent
    masks hm (n or more, B, H), block k of out = (h * hm[k]) @ R_k (one batched GEMM)."""
    H, U = R.shape[0], R.shape[1] // n
    if hm is not None:
        Rn = xp.ascontiguousarray(R.reshape(H, n, U).transpose(1, 0, 2))     # Rn[k] = R_k
        hm = hm[:n]

    def product(h, out):
        if hm is None:
            xp.matmul(h, R, out=out)
        else:
            out.reshape(out.shape[:-1] + (n, U))[...] = xp.moveaxis(xp.matmul(h * hm, Rn), 0, -2)
        if bias is not None:
            out += bias
        return out
    return product


def recurrent_grad(xp, R, hm, n):
    """``grad(d, out=None)``: the gradient reaching h from the product's gradient d
    (B, nU): d @ R.T (into ``out`` when given), or with recurrent masks the sum over k
    of (d_k @ R_k.T) * hm[k] (a new array)."""
    H, U = R.shape[0], R.shape[1] // n
    if hm is None:
        RT = R.T
        return lambda d, out=None: xp.matmul(d, RT, out=out)
    RnT = xp.ascontiguousarray(R.reshape(H, n, U).transpose(1, 2, 0))        # RnT[k] = R_k.T
    hm = hm[:n]

    def grad(d, out=None):
        dn = xp.moveaxis(d.reshape(d.shape[:-1] + (n, U)), -2, 0)
        return (xp.matmul(dn, RnT) * hm).sum(0)
    return grad
