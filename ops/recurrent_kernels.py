"""What the fused LSTM and GRU kernels on arrays share (ops/lstm_kernels.py,
ops/gru_kernels.py; ``xp`` is numpy or cupy): scratch buffers, and the recurrent
product ``h @ R`` of a step with its gradient, over R's n gate blocks, with the
per-gate recurrent dropout masks of Keras' implementation=1 when there are some."""


def scratch(xp, B, n, dtype):
    """A (B, n) scratch array; ``B`` may be a tuple of leading dimensions."""
    return xp.empty((B, n) if isinstance(B, int) else tuple(B) + (n,), dtype)


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
