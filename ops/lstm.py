"""Fused LSTM kernels: ``lstm_cell`` (one step's gate math) and ``lstm_sequence``
(a whole layer over time), each with a fused backward op.

The fusion passes (tinygraph/fusion.py) put these in place of the primitive-op
graphs that the layers build; users rarely call them directly.

Gate math, for gate order "ifco" (Keras) or "ijfo" (TF1; j is the candidate):
    i = ra(z_i [+ p_i*c_prev]);  f = ra(z_f + forget_bias [+ p_f*c_prev]);  g = act(z_c)
    c = f*c_prev + i*g;  c = clip(c, -cell_clip, cell_clip) if cell_clip
    o = ra(z_o [+ p_o*c]);  h = o * act(c)
with ra the recurrent activation. Every activation the layers allow has a
derivative computable from its output, so the kernels keep activated gates only.

Derivatives: the first derivative of each fused op is a fused backward op; the
derivative of a backward op is taken through the op's decomposition (``body``: the
same math in primitive ops), so every order works.
"""
from tinygraph.ir.graph import Op, ShapeError, apply, register_op
from tinygraph.ir.spec import Spec as _Spec

from .sources import zeros_like


def Spec(build, shapes, **kw):
    """Fused-op specs: values are checked against the op's own decomposition."""
    return _Spec(build, shapes, ref_build=lambda *xs: _unfused_ref(build)(*xs), **kw)

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear", "hard_sigmoid", "hard_sigmoid_v1")


# ----------------------------------------------------------------------- activations

def act_forward(xp, name, x, out=None):
    """y = act(x), in place into ``out`` when given."""
    if out is None:
        out = xp.empty_like(x)
    if name == "tanh":
        xp.tanh(x, out=out)
    elif name == "sigmoid":
        # sigmoid(x) = (1 + tanh(x/2)) / 2: exact, overflow-free, and four in-place ufuncs
        xp.multiply(x, 0.5, out=out)
        xp.tanh(out, out=out)
        out *= 0.5
        out += 0.5
    elif name == "relu":
        xp.maximum(x, 0, out=out)
    elif name == "linear":
        out[...] = x
    elif name == "hard_sigmoid":
        xp.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0, out=out)
    elif name == "hard_sigmoid_v1":
        xp.clip(x * 0.2 + 0.5, 0.0, 1.0, out=out)
    else:
        raise ValueError(f"unknown activation {name!r}; fused kernels support {ACTIVATIONS}")
    return out


def act_grad_from_output(xp, name, y, out=None):
    """act'(x) written with y = act(x) (into ``out`` when given, for tanh and sigmoid)."""
    if out is not None and name in ("tanh", "sigmoid"):
        if name == "tanh":
            xp.multiply(y, y, out=out)
            xp.subtract(1.0, out, out=out)
        else:
            xp.subtract(1.0, y, out=out)
            out *= y
        return out
    if name == "tanh":
        return 1.0 - y * y
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "relu":
        return (y > 0).astype(y.dtype)
    if name == "linear":
        return xp.ones_like(y)
    if name == "hard_sigmoid":
        return ((y > 0) & (y < 1)).astype(y.dtype) * (1.0 / 6.0)
    if name == "hard_sigmoid_v1":
        return ((y > 0) & (y < 1)).astype(y.dtype) * 0.2
    raise ValueError(f"unknown activation {name!r}")


def tg_activation(name):
    """The same activation built from primitive ops (for decompositions)."""
    import tinygraph as tg
    return {"tanh": tg.tanh, "sigmoid": tg.sigmoid, "relu": tg.relu, "linear": lambda x: x,
            "hard_sigmoid": tg.hard_sigmoid, "hard_sigmoid_v1": tg.hard_sigmoid_v1}[name]


def _gate_slices(order, U):
    """Column slices of z for (i, f, candidate, o)."""
    pos = {"ifco": (0, 1, 2, 3), "ijfo": (0, 2, 1, 3)}[order]
    return [slice(p * U, (p + 1) * U) for p in pos]


class FusedLSTMOp(Op):
    """Shared attribute handling: activation, recurrent_activation, forget_bias,
    gate_order, cell_clip, peepholes."""

    fused = True

    def check_attrs(self):
        for a in (self.activation, self.recurrent_activation):
            if a not in ACTIVATIONS:
                raise ShapeError(f"activation {a!r} is not one the fused kernels support {ACTIVATIONS}")
        if self.gate_order not in ("ifco", "ijfo"):
            raise ShapeError(f"gate_order must be 'ifco' or 'ijfo', got {self.gate_order!r}")

    def label(self):
        extra = [f"act={self.activation}", f"ract={self.recurrent_activation}"]
        if self.forget_bias:
            extra.append(f"forget_bias={self.forget_bias:g}")
        if self.peepholes:
            extra.append("peepholes")
        if self.cell_clip:
            extra.append(f"clip={self.cell_clip:g}")
        return f"{self.name} [{', '.join(extra)}]"


def cell_math_np(xp, attrs, z, c_prev, peep):
    """The cell's forward in NumPy/CuPy: returns (h, c, gates (i, f, g, o), c_raw)."""
    U = c_prev.shape[-1]
    si, sf, sg, so = _gate_slices(attrs.gate_order, U)
    ra, act = attrs.recurrent_activation, attrs.activation
    zi, zf, zo = z[..., si], z[..., sf], z[..., so]
    if attrs.peepholes:
        p_i, p_f, p_o = peep
        zi, zf = zi + p_i * c_prev, zf + p_f * c_prev
    if attrs.forget_bias:
        zf = zf + attrs.forget_bias
    i, f, g = act_forward(xp, ra, zi), act_forward(xp, ra, zf), act_forward(xp, act, z[..., sg])
    c_raw = f * c_prev + i * g
    c = xp.clip(c_raw, -attrs.cell_clip, attrs.cell_clip) if attrs.cell_clip else c_raw
    if attrs.peepholes:
        zo = zo + p_o * c
    o = act_forward(xp, ra, zo)
    h = o * act_forward(xp, act, c)
    return h, c, (i, f, g, o), c_raw


def cell_math_tg(attrs, z, c_prev, peep):
    """The same math in primitive tinygraph ops (the decomposition)."""
    import tinygraph as tg
    U = c_prev.shape[-1]
    ra, act = tg_activation(attrs.recurrent_activation), tg_activation(attrs.activation)
    si, sf, sg, so = _gate_slices(attrs.gate_order, U)
    zi, zf, zg, zo = z[:, si], z[:, sf], z[:, sg], z[:, so]
    if attrs.peepholes:
        p_i, p_f, p_o = peep
        zi, zf = zi + p_i * c_prev, zf + p_f * c_prev
    if attrs.forget_bias:
        zf = zf + attrs.forget_bias
    c = ra(zf) * c_prev + ra(zi) * act(zg)
    if attrs.cell_clip:
        c = tg.clip_by_value(c, -attrs.cell_clip, attrs.cell_clip)
    if attrs.peepholes:
        zo = zo + p_o * c
    return [ra(zo) * act(c), c]


def _attrs(activation="tanh", recurrent_activation="sigmoid", forget_bias=0.0,
           gate_order="ifco", cell_clip=None, peepholes=False):
    return dict(activation=activation, recurrent_activation=recurrent_activation,
                forget_bias=float(forget_bias), gate_order=gate_order,
                cell_clip=None if not cell_clip else float(cell_clip), peepholes=bool(peepholes))


# ----------------------------------------------------------------------- lstm_cell

@register_op
class LSTMCellOp(FusedLSTMOp):
    """One step: inputs (z (B, 4U), c_prev (B, U) [, p_i, p_f, p_o (U,)]) -> (h, c)."""
    name = "lstm_cell"
    specs = [
        Spec(lambda z, c: lstm_cell(z, c), [(3, 8), (3, 2)]),
        Spec(lambda z, c, pi, pf, po: lstm_cell(z, c, (pi, pf, po), gate_order="ijfo", forget_bias=1.0,
                                                cell_clip=1.5, activation="relu"),
             [(3, 8), (3, 2), (2,), (2,), (2,)], domain=(-1.2, 1.2)),
        Spec(lambda z, c: lstm_cell(z, c, recurrent_activation="hard_sigmoid", activation="linear"),
             [(2, 12), (2, 3)]),
    ]

    def infer(self, z, c_prev, *peep):
        self.check_attrs()
        U = c_prev.shape[-1]
        if z.shape[-1] is not None and U is not None and z.shape[-1] != 4 * U:
            raise ShapeError(f"z has {z.shape[-1]} columns, expected 4 * {U}")
        if len(peep) != (3 if self.peepholes else 0):
            raise ShapeError("peepholes need three (U,) weights")
        return [(c_prev.shape, c_prev.dtype), (c_prev.shape, c_prev.dtype)]

    def compute(self, be, z, c_prev, *peep):
        h, c, _, _ = cell_math_np(be.xp, self, z, c_prev, peep)
        return h, c

    def vjp(self, node, gh, gc):
        z, c_prev, *peep = node.inputs
        h, c = node.outputs
        gh = gh if gh is not None else zeros_like(h)
        gc = gc if gc is not None else zeros_like(c)
        grad = apply(LSTMCellGradOp(**self.attrs), [z, c_prev] + peep + [gh, gc])
        return list(grad.outputs)

    def decompose(self, inputs):
        """This op's outputs rebuilt from primitive ops on ``inputs`` (for pictures)."""
        return _decompose(self, "cell", inputs)


@register_op
class LSTMCellGradOp(FusedLSTMOp):
    """Backward of lstm_cell: (z, c_prev, [peep], gh, gc) -> (gz, gc_prev, [gpeep])."""
    name = "lstm_cell_grad"
    # order 1 here is the forward op's second derivative (its order-2 spec covers more)
    specs = [Spec(lambda z, c, gh, gc: apply(LSTMCellGradOp(**_attrs()), [z, c, gh, gc]).outputs,
                  [(3, 8), (3, 2), (3, 2), (3, 2)], order=1)]

    def infer(self, z, c_prev, *rest):
        out = [(z.shape, z.dtype), (c_prev.shape, c_prev.dtype)]
        if self.peepholes:
            out += [(p.shape, p.dtype) for p in rest[:3]]
        return out

    def compute(self, be, z, c_prev, *rest):
        xp = be.xp
        peep, (gh, gc) = rest[:-2], rest[-2:]
        h, c, (i, f, g, o), c_raw = cell_math_np(xp, self, z, c_prev, peep)
        ra, act = self.recurrent_activation, self.activation
        ac = act_forward(xp, act, c)
        do = gh * ac * act_grad_from_output(xp, ra, o)
        dc = gc + gh * o * act_grad_from_output(xp, act, ac)
        if self.peepholes:
            dc = dc + do * peep[2]
        if self.cell_clip:
            dc = dc * (xp.abs(c_raw) <= self.cell_clip)
        di = dc * g * act_grad_from_output(xp, ra, i)
        df = dc * c_prev * act_grad_from_output(xp, ra, f)
        dg = dc * i * act_grad_from_output(xp, act, g)
        dc_prev = dc * f
        U = c_prev.shape[-1]
        si, sf, sg, so = _gate_slices(self.gate_order, U)
        dz = xp.empty_like(z)
        dz[..., si], dz[..., sf], dz[..., sg], dz[..., so] = di, df, dg, do
        if not self.peepholes:
            return dz, dc_prev
        dc_prev = dc_prev + di * peep[0] + df * peep[1]
        return (dz, dc_prev, (di * c_prev).sum(0), (df * c_prev).sum(0), (do * c).sum(0))

    def vjp(self, node, *grads):
        return _vjp_through_decomposition(node, grads, "cell_grad")

    def decompose(self, inputs):
        """This op's outputs rebuilt from primitive ops on ``inputs`` (for pictures)."""
        return _decompose(self, "cell_grad", inputs)


def lstm_cell(z, c_prev, peepholes=None, **attrs):
    """Fused LSTM step from the pre-activations ``z = x@W + h@R + b``."""
    a = _attrs(peepholes=peepholes is not None, **attrs)
    return list(apply(LSTMCellOp(**a), [z, c_prev] + list(peepholes or ())).outputs)


# ----------------------------------------------------------------------- lstm_sequence

@register_op
class LSTMSequenceOp(FusedLSTMOp):
    """A whole LSTM layer: inputs (x (T, B, D), h0, c0 (B, U), W (D, 4U), R (U, 4U),
    b (4U,)) -> (hs (T, B, U), h_T, c_T, gates (T, B, 4U), cs (T, B, U)).

    The input projection of every step is one GEMM; the recurrence runs in the
    kernel with preallocated buffers. ``gates`` and ``cs`` are what the backward
    needs (activated gates and cell states); they are kept only when it runs."""
    name = "lstm_sequence"
    needs_output_mask = True
    specs = [
        Spec(lambda x, h, c, W, R, b: lstm_sequence(x, h, c, W, R, b)[:3],
             [(4, 2, 3), (2, 2), (2, 2), (3, 8), (2, 8), (8,)], domain=(-1, 1)),
        Spec(lambda x, h, c, W, R, b: lstm_sequence(x, h, c, W, R, b, reverse=True, forget_bias=1.0,
                                                    activation="relu", recurrent_activation="hard_sigmoid")[:3],
             [(3, 2, 2), (2, 3), (2, 3), (2, 12), (3, 12), (12,)], domain=(-1, 1)),
    ]

    def infer(self, x, h0, c0, W, R, b):
        self.check_attrs()
        if self.peepholes or self.cell_clip:
            raise ShapeError("lstm_sequence has no peepholes or cell clipping; use lstm_cell per step")
        if x.ndim != 3 or W.ndim != 2 or R.ndim != 2 or b.ndim != 1:
            raise ShapeError("expected x (T, B, D), W (D, 4U), R (U, 4U), b (4U,)")
        T, B = x.shape[0], x.shape[1]
        U = R.shape[0]
        return [((T, B, U), x.dtype), (h0.shape, x.dtype), (c0.shape, x.dtype),
                ((T, B, 4 * U), x.dtype), ((T, B, U), x.dtype)]

    def compute(self, be, x, h0, c0, W, R, b, needed):
        return sequence_forward(be.xp, self, numpy_forward_step, x, h0, c0, W, R, b, needed)

    def vjp(self, node, g_hs, g_h, g_c, g_gates, g_cs):
        if g_gates is not None or g_cs is not None:
            raise ValueError(f"{node.name!r}: the saved gates and cell states of lstm_sequence "
                             "feed its own backward op only; they are not differentiable outputs")
        x, h0, c0, W, R, b = node.inputs
        hs, _, _, gates, cs = node.outputs
        zero = [zeros_like(t) if g is None else g for g, t in zip((g_hs, g_h, g_c), node.outputs[:3])]
        grad = apply(LSTMSequenceGradOp(**self.attrs), [x, h0, c0, W, R, b, hs, gates, cs] + zero)
        return list(grad.outputs)

    def decompose(self, inputs):
        """This op's outputs rebuilt from primitive ops on ``inputs`` (for pictures)."""
        return _decompose(self, "sequence", inputs)


@register_op
class LSTMSequenceGradOp(FusedLSTMOp):
    """Backward of lstm_sequence: (x, h0, c0, W, R, b, hs, gates, cs, g_hs, g_hT, g_cT)
    -> (gx, gh0, gc0, gW, gR, gb). The recurrence runs backwards in the kernel; the
    input, kernel and bias gradients are one GEMM / one sum over all steps."""
    name = "lstm_sequence_grad"
    specs = [Spec(lambda x, h, c, W, R, b, gy: _sequence_grad_spec(x, h, c, W, R, b, gy),
                  [(3, 2, 2), (2, 2), (2, 2), (2, 8), (2, 8), (8,), (3, 2, 2)], domain=(-1, 1),
                  order=1)]

    def infer(self, x, h0, c0, W, R, *rest):
        b_shape = (W.shape[1],)
        return [(x.shape, x.dtype), (h0.shape, x.dtype), (c0.shape, x.dtype),
                (W.shape, x.dtype), (R.shape, x.dtype), (b_shape, x.dtype)]

    def compute(self, be, *arrays):
        return sequence_backward(be.xp, self, numpy_backward_step, *arrays)

    def vjp(self, node, *grads):
        return _vjp_through_decomposition(node, grads, "sequence_grad")

    def decompose(self, inputs):
        """This op's outputs rebuilt from primitive ops on ``inputs`` (for pictures)."""
        return _decompose(self, "sequence_grad", inputs)


def _sequence_grad_spec(x, h0, c0, W, R, b, g_hs):
    hs, _, _, gates, cs = lstm_sequence(x, h0, c0, W, R, b)
    zero = zeros_like(h0)
    return apply(LSTMSequenceGradOp(**_attrs(), reverse=False),
                 [x, h0, c0, W, R, b, hs, gates, cs, g_hs, zero, zero]).outputs


def lstm_sequence(x, h0, c0, W, R, b, reverse=False, **attrs):
    """Fused LSTM over time-major ``x``; returns (hs, h_T, c_T, gates, cs)."""
    a = _attrs(**attrs)
    return list(apply(LSTMSequenceOp(reverse=bool(reverse), **a), [x, h0, c0, W, R, b]).outputs)


# ----------------------------------------------------------------------- sequence loops
# The loops below are shared by every backend: the GEMMs go through ``xp.matmul``, the
# per-step elementwise work is a ``step`` function made by ``make_step(xp, op, B, U,
# dtype)``. NumPy uses the in-place ufunc steps below; the CuPy backend passes steps
# that launch one CUDA kernel each (backends/cuda_lstm.py).

def sequence_forward(xp, op, make_step, x, h0, c0, W, R, b, needed):
    """lstm_sequence's outputs (hs, h_T, c_T, gates, cs); ``gates`` and ``cs`` only
    when ``needed`` says the backward op reads them."""
    T, B, D = x.shape
    U = R.shape[0]
    if T == 0:
        raise ValueError("lstm_sequence: zero time steps")
    zx = xp.matmul(x.reshape(T * B, D), W).reshape(T, B, 4 * U)   # every step's x @ W
    zx += b
    if op.forget_bias:
        zx[..., _gate_slices(op.gate_order, U)[1]] += op.forget_bias
    keep = needed[3] or needed[4]             # the backward op reads gates and cs
    gates = xp.empty((T, B, 4 * U), x.dtype) if keep else None
    cs = xp.empty((T, B, U), x.dtype) if keep else None
    hs = xp.empty((T, B, U), x.dtype)
    scratch_a = None if keep else xp.empty((B, 4 * U), x.dtype)
    scratch_c = None if keep else [xp.empty((B, U), x.dtype) for _ in range(2)]
    step = make_step(xp, op, B, U, x.dtype)
    h, c = h0, c0
    steps = range(T - 1, -1, -1) if op.reverse else range(T)
    for k, t in enumerate(steps):
        a = gates[t] if keep else scratch_a
        xp.matmul(h, R, out=a)                # a = h @ R; the step adds zx[t] and activates
        c_new = cs[t] if keep else scratch_c[k % 2]
        step(a, zx[t], c, c_new, hs[t])
        h, c = hs[t], c_new
    return hs, h, c, gates, cs


def numpy_forward_step(xp, op, B, U, dtype):
    """One forward step with in-place ufuncs on the contiguous (B, 4U) gate block."""
    si, sf, sg, so = _gate_slices(op.gate_order, U)
    g_buf, tmp = xp.empty((B, U), dtype), xp.empty((B, U), dtype)

    def step(a, zx_t, c_prev, c_new, h):
        a += zx_t
        act_forward(xp, op.activation, a[:, sg], out=g_buf)   # candidate: cell activation
        act_forward(xp, op.recurrent_activation, a, out=a)    # the rest: recurrent one
        a[:, sg] = g_buf
        xp.multiply(a[:, sf], c_prev, out=c_new)
        xp.multiply(a[:, si], a[:, sg], out=tmp)
        c_new += tmp
        act_forward(xp, op.activation, c_new, out=h)
        h *= a[:, so]
    return step


def sequence_backward(xp, op, make_step, x, h0, c0, W, R, b, hs, gates, cs, g_hs, g_hT, g_cT):
    """lstm_sequence_grad's outputs (gx, gh0, gc0, gW, gR, gb)."""
    T, B, D = x.shape
    U = R.shape[0]
    dz = xp.empty((T, B, 4 * U), x.dtype)
    dh, dc = g_hT.copy(), g_cT.copy()
    step = make_step(xp, op, B, U, x.dtype)
    RT = R.T
    order = list(range(T - 1, -1, -1)) if op.reverse else list(range(T))
    for k in range(T - 1, -1, -1):                 # the steps backwards, in processing order
        t = order[k]
        c_prev = cs[order[k - 1]] if k > 0 else c0
        step(gates[t], cs[t], c_prev, g_hs[t], dh, dc, dz[t])
        xp.matmul(dz[t], RT, out=dh)
    dz2 = dz.reshape(T * B, 4 * U)
    gx = xp.matmul(dz2, W.T).reshape(T, B, D)
    gW = xp.matmul(x.reshape(T * B, D).T, dz2)
    # the hidden state entering step t is the previous step's output (h0 for the first)
    first, rest, prev = (T - 1, slice(0, T - 1), slice(1, T)) if op.reverse else \
        (0, slice(1, T), slice(0, T - 1))
    gR = xp.matmul(hs[prev].reshape(-1, U).T, dz[rest].reshape(-1, 4 * U))
    gR += xp.matmul(h0.T, dz[first])
    gb = dz2.sum(0)
    return gx, dh, dc, gW, gR, gb


def numpy_backward_step(xp, op, B, U, dtype):
    """One backward step: from the step's saved gates and cell states, the gradient
    flowing into its output (dh: recurrent part, g_h: from hs[t]) and cell (dc),
    write dz (the pre-activation gradient) and turn dc into the previous cell's."""
    si, sf, sg, so = _gate_slices(op.gate_order, U)
    ra, act = op.recurrent_activation, op.activation
    ac, tmp = xp.empty((B, U), dtype), xp.empty((B, U), dtype)
    deriv = xp.empty((B, 4 * U), dtype)

    def step(a, c, c_prev, g_h, dh, dc, d):
        i, f, g, o = a[:, si], a[:, sf], a[:, sg], a[:, so]
        dh += g_h
        act_forward(xp, act, c, out=ac)
        xp.multiply(dh, o, out=tmp)                 # dc += dh * o * act'(c)
        xp.multiply(tmp, act_grad_from_output(xp, act, ac), out=tmp)
        dc += tmp
        xp.multiply(dh, ac, out=d[:, so])           # gradients at the activated gates ...
        xp.multiply(dc, g, out=d[:, si])
        xp.multiply(dc, c_prev, out=d[:, sf])
        xp.multiply(dc, i, out=d[:, sg])
        deriv[...] = act_grad_from_output(xp, ra, a, out=deriv)   # ... then through them
        deriv[:, sg] = act_grad_from_output(xp, act, g)
        d *= deriv
        dc *= f
    return step


# ----------------------------------------------------------------------- decompositions

_decompositions = {}


def _decomposition(op, kind):
    """The primitive-op Function equal to ``op`` (cached per op)."""
    key = (op._key, kind)
    hit = _decompositions.get(key)
    if hit is None:
        hit = _decompositions[key] = _build_decomposition(op, kind)
    return hit


def _build_decomposition(op, kind):
    import tinygraph as tg
    a = op
    if kind in ("cell", "cell_grad"):
        def cell(z, c, *rest):
            peep = rest[:3] if a.peepholes else ()
            outs = cell_math_tg(a, z, c, peep)
            if kind == "cell":
                return outs
            gh, gc = rest[-2:]
            return [g for g in tg.gradients(outs, [z, c] + list(peep), grad_ys=[gh, gc],
                                            unconnected_gradients="zero")]
        return cell
    if kind in ("sequence", "sequence_grad"):
        def seq(x, h0, c0, W, R, b, *cot):
            def step(carry, x_t):
                h, c = carry
                h2, c2 = cell_math_tg(a, x_t @ W + h @ R + b, c, ())
                return (h2, c2), h2
            (hT, cT), hs = tg.scan(step, x, (h0, c0), reverse=a.reverse)
            if kind == "sequence":
                return [hs, hT, cT]
            return tg.gradients([hs, hT, cT], [x, h0, c0, W, R, b], grad_ys=list(cot),
                                unconnected_gradients="zero")
        return seq
    raise ValueError(kind)


def _vjp_through_decomposition(node, grads, kind):
    """Differentiate a fused op by rebuilding its math from primitive ops."""
    from tinygraph.autodiff import gradients
    inputs = list(node.inputs)
    outs = _decompose(node.op, kind, inputs)
    keep = [k for k, g in enumerate(grads) if g is not None and outs[k].dtype.kind == "f"]
    if not keep:
        return [None] * len(inputs)
    return gradients([outs[k] for k in keep], inputs, grad_ys=[grads[k] for k in keep])


def _decompose(op, kind, inputs):
    fn = _decomposition(op, kind)
    if kind == "sequence_grad":       # (x, h0, c0, W, R, b, hs, gates, cs, cotangents...):
        return fn(*inputs[:6], *inputs[9:])     # the saved hs, gates, cs are not needed
    return fn(*inputs)


def unfuse(outputs):
    """``outputs`` with every fused op replaced by its primitive-op decomposition
    (recursively): the graph the fusion passes started from, up to rewriting."""
    from tinygraph.ir.graph import topo_nodes
    from tinygraph.compile.rewrite import substitute
    outputs = list(outputs)
    while True:
        # consumers first: a backward op's decomposition no longer reads the saved
        # gates of its forward op, whose decomposition does not produce them
        fused = next((n for n in reversed(topo_nodes(outputs)) if hasattr(n.op, "decompose")), None)
        if fused is None:
            return outputs
        parts = fused.op.decompose(list(fused.inputs))
        mapping = {(o.node.id, o.index): p for o, p in zip(fused.outputs, parts)}
        outputs = substitute(outputs, mapping)


def _unfused_ref(build):
    """A spec's reference: the same build with fused ops decomposed."""
    def ref(*xs):
        out = build(*xs)
        many = isinstance(out, (list, tuple))
        res = unfuse(list(out) if many else [out])
        return res if many else res[0]
    return ref
