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
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply, register_op
from tinygraph.ir.spec import Spec as _Spec

from .activations import FUSABLE
from .dtypes import require_float
from .constant import constant
from .lstm_kernels import (cell_backward, cell_forward, factored_backward, math_of,
                           numpy_backward_step, numpy_forward_step, sequence_backward,
                           sequence_forward, split_inputs)
from .lstm_numba import loops_for
from .lstm_step import GATE_BLOCKS, lstm_step
from .math import clip_by_value, where
from .scan import scan
from .fill_like import zeros_like


def Spec(build, shapes, **kw):
    """Fused-op specs: values are checked against the op's own decomposition."""
    return _Spec(build, shapes, ref_decomposed=True, **kw)


class FusedLSTMOp(Op):
    """Shared attribute handling: activation, recurrent_activation, forget_bias,
    gate_order, cell_clip, peepholes."""

    fused = True

    def check_attrs(self):
        for a in (self.activation, self.recurrent_activation):
            if a not in FUSABLE:
                raise ShapeError(f"activation {a!r} is not one the fused kernels support {FUSABLE}")
        if self.gate_order not in GATE_BLOCKS:
            raise ShapeError(f"gate_order must be 'ifco' or 'ijfo', got {self.gate_order!r}")

    def label(self):
        extra = [f"act={self.activation}", f"ract={self.recurrent_activation}"]
        if self.forget_bias:
            extra.append(f"forget_bias={self.forget_bias:g}")
        if self.peepholes:
            extra.append("peepholes")
        if self.cell_clip is not None:
            extra.append(f"clip={self.cell_clip:g}")
        return f"{self.name} [{', '.join(extra)}]"


def _attrs(activation="tanh", recurrent_activation="sigmoid", forget_bias=0.0,
           gate_order="ifco", cell_clip=None, peepholes=False):
    return dict(activation=activation, recurrent_activation=recurrent_activation,
                forget_bias=float(forget_bias), gate_order=gate_order,
                cell_clip=None if cell_clip is None else float(cell_clip), peepholes=bool(peepholes))


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
        require_float(self.name, z, c_prev, *peep)
        U = c_prev.shape[-1]
        if z.shape[-1] is not None and U is not None and z.shape[-1] != 4 * U:
            raise ShapeError(f"z has {z.shape[-1]} columns, expected 4 * {U}")
        if len(peep) != (3 if self.peepholes else 0):
            raise ShapeError("peepholes need three (U,) weights")
        return [(c_prev.shape, c_prev.dtype), (c_prev.shape, c_prev.dtype)]

    def compute(self, be, z, c_prev, *peep):
        h, c, _ = cell_forward(be.xp, self, z, c_prev, peep)
        return h, c

    def vjp(self, node, gh, gc):
        z, c_prev, *peep = node.inputs
        h, c = node.outputs
        gh = gh if gh is not None else zeros_like(h)
        gc = gc if gc is not None else zeros_like(c)
        grad = apply(LSTMCellGradOp(**self.attrs), [z, c_prev] + peep + [gh, gc])
        return list(grad.outputs)

    def decompose(self, inputs):
        return _cell_decomposition(self, *inputs)


@register_op
class LSTMCellGradOp(FusedLSTMOp):
    """Backward of lstm_cell: (z, c_prev, [peep], gh, gc) -> (gz, gc_prev, [gpeep])."""
    name = "lstm_cell_grad"
    # order 1 here is the forward op's second derivative (its order-2 spec covers more)
    specs = [Spec(lambda z, c, gh, gc: apply(LSTMCellGradOp(**_attrs()), [z, c, gh, gc]).outputs,
                  [(3, 8), (3, 2), (3, 2), (3, 2)], order=1)]

    def infer(self, z, c_prev, *rest):
        require_float(self.name, z, c_prev, *rest)
        out = [(z.shape, z.dtype), (c_prev.shape, c_prev.dtype)]
        if self.peepholes:
            out += [(p.shape, p.dtype) for p in rest[:3]]
        return out

    def compute(self, be, z, c_prev, *rest):
        return cell_backward(be.xp, self, z, c_prev, rest[:-2], *rest[-2:])

    def primal(self, inputs):
        return LSTMCellOp(**self.attrs), inputs[:-2], inputs[-2:]


def lstm_cell(z, c_prev, peepholes=None, **attrs):
    """Fused LSTM step from the pre-activations ``z = x@W + h@R + b``."""
    a = _attrs(peepholes=peepholes is not None, **attrs)
    return list(apply(LSTMCellOp(**a), [z, c_prev] + list(peepholes or ())).outputs)


# ----------------------------------------------------------------------- lstm_sequence

@register_op
class LSTMSequenceOp(FusedLSTMOp):
    """A whole LSTM layer: inputs (x (T, B, D), h0, c0 (B, U), W (D, 4U), R (U, 4U),
    b (4U,) [, p_i, p_f, p_o (U,)]) -> (hs (T, B, U), h_T, c_T, gates (T, B, 4U),
    cs (T, B, U)).

    The input projection of every step is one GEMM; the recurrence runs in the
    kernel with preallocated buffers. ``gates`` and ``cs`` are what the backward
    needs (activated gates and cell states); they are kept only when it runs."""
    name = "lstm_sequence"
    needs_output_mask = True
    mask_output = None       # masked: "carry" (Keras' output rule) or "zero" (zero_output_for_mask)
    projection = False       # an input P (U, H): the state and output are clip(h_cell @ P) (TF1 num_proj)
    proj_clip = None
    input_masks = False      # (4, B, D) dropout masks of x, one per gate block (implementation=1)
    recurrent_masks = False  # (4, B, U) dropout masks of h, one per gate block
    specs = [
        Spec(lambda x, h, c, W, R, b: lstm_sequence(x, h, c, W, R, b)[:3],
             [(4, 2, 3), (2, 2), (2, 2), (3, 8), (2, 8), (8,)], domain=(-1, 1)),
        Spec(lambda x, h, c, W, R, b: lstm_sequence(x, h, c, W, R, b, reverse=True, forget_bias=1.0,
                                                    activation="relu", recurrent_activation="hard_sigmoid")[:3],
             [(3, 2, 2), (2, 3), (2, 3), (2, 12), (3, 12), (12,)], domain=(-1, 1)),
        Spec(lambda x, h, c, W, R, b, pi, pf, po: lstm_sequence(
            x, h, c, W, R, b, peepholes=(pi, pf, po), cell_clip=0.6, forget_bias=1.0,
            gate_order="ijfo")[:3],
             [(3, 2, 2), (2, 2), (2, 2), (2, 8), (2, 8), (8,), (2,), (2,), (2,)], domain=(-1, 1)),
        Spec(lambda x, h, c, W, R, b, P, pi, pf, po: lstm_sequence(
            x, h, c, W, R, b, projection=P, proj_clip=0.3, peepholes=(pi, pf, po),
            cell_clip=0.8)[:3],
             [(3, 2, 2), (2, 2), (2, 3), (2, 12), (2, 12), (12,), (3, 2), (3,), (3,), (3,)],
             domain=(-1, 1)),
        Spec(lambda x, h, c, W, R, b: _masked_spec(x, h, c, W, R, b, "carry", False),
             [(4, 3, 2), (3, 2), (3, 2), (2, 8), (2, 8), (8,)], domain=(-1, 1)),
        Spec(lambda x, h, c, W, R, b: _masked_spec(x, h, c, W, R, b, "zero", True),
             [(4, 3, 2), (3, 2), (3, 2), (2, 8), (2, 8), (8,)], domain=(-1, 1)),
    ]

    def infer(self, x, h0, c0, W, R, b, *rest):
        self.check_attrs()
        require_float(self.name, x, h0, c0, W, R, b)
        if self.mask_output not in (None, "carry", "zero"):
            raise ShapeError(f"mask_output must be None, 'carry' or 'zero', got {self.mask_output!r}")
        if len(rest) != n_optional(self):
            raise ShapeError(f"lstm_sequence: expected {n_optional(self)} inputs after b (three "
                             f"(U,) peephole weights with peepholes={self.peepholes}, a (T, B) "
                             f"mask with mask_output={self.mask_output!r}, (4, B, D) / (4, B, U) "
                             f"dropout masks as input_masks / recurrent_masks say), got {len(rest)}")
        if x.ndim != 3 or W.ndim != 2 or R.ndim != 2 or b.ndim != 1:
            raise ShapeError("expected x (T, B, D), W (D, 4U), R (U, 4U), b (4U,)")
        _, P, mask, xm, hm, _ = split_inputs(self, rest)
        if mask is not None and (mask.ndim != 2 or mask.dtype != bool):
            raise ShapeError(f"the mask must be (T, B) bool, got {mask.dtype} {mask.shape}")
        for m, n in ((xm, x.shape[-1]), (hm, R.shape[0])):
            if m is not None and (m.ndim != 3 or m.shape[0] != 4 or m.shape[-1] != n):
                raise ShapeError(f"a dropout mask input must be (4, B, {n}), got {m.shape}")
        if P is not None and (P.ndim != 2 or P.shape[1] != R.shape[0]):
            raise ShapeError(f"the projection must be (U, {R.shape[0]}), got {P.shape}")
        T = x.shape[0]
        # the batch from whichever of x, h0, c0 knows it (a fed x, a static state)
        B = next((d for d in (x.shape[1], h0.shape[0], c0.shape[0]) if d is not None), None)
        U, H = W.shape[1] // 4, R.shape[0]
        hseq, cseq = ((T, B, H), x.dtype), ((T, B, U), x.dtype)
        out = [hseq, ((B, H), x.dtype), ((B, U), x.dtype), ((T, B, 4 * U), x.dtype), cseq]
        out += [((B, H), x.dtype), hseq, cseq] if mask is not None else []
        return out + ([cseq] if P is not None else [])

    def compute(self, be, x, h0, c0, W, R, b, *rest, needed):
        return sequence_forward(be.xp, self, numpy_forward_step, x, h0, c0, W, R, b, *rest,
                                needed=needed, loops=loops_for(self, be.xp, x, R, rest))

    def vjp(self, node, g_hs, g_h, g_c, g_gates, g_cs, *g_masked):
        saved_only = g_masked[1:] if self.mask_output else g_masked
        if g_gates is not None or g_cs is not None or any(g is not None for g in saved_only):
            raise ValueError(f"{node.name!r}: the saved gates and states of lstm_sequence feed "
                             "its own backward op only; they are not differentiable outputs")
        outs = node.outputs
        # what the backward reads: the states entering each step, the gates, the cells' c
        saved = [outs[6], outs[3], outs[4], outs[7]] if self.mask_output else list(outs[3:5])
        saved = saved if self.mask_output else [outs[0]] + saved
        saved += [outs[-1]] if self.projection else []          # the cells' own h
        cot = [(g_hs, outs[0]), (g_h, outs[1]), (g_c, outs[2])]
        cot += [(g_masked[0], outs[5])] if self.mask_output else []
        zero = [zeros_like(t) if g is None else g for g, t in cot]
        grad = apply(LSTMSequenceGradOp(**self.attrs), list(node.inputs) + saved + zero)
        # the masks (RNN and dropout) are not differentiable
        n_masks = n_optional(self) - (3 if self.peepholes else 0) - bool(self.projection)
        return list(grad.outputs) + [None] * n_masks

    def decompose(self, inputs):
        return _sequence_decomposition(self, *inputs)


@register_op
class LSTMSequenceGradOp(FusedLSTMOp):
    """Backward of lstm_sequence: (x, h0, c0, W, R, b, [p_i, p_f, p_o,] hs, gates, cs,
    g_hs, g_hT, g_cT) -> (gx, gh0, gc0, gW, gR, gb[, gp_i, gp_f, gp_o]). The recurrence
    runs backwards in the kernel; the input, kernel and bias gradients are one GEMM /
    one sum over all steps."""
    name = "lstm_sequence_grad"
    mask_output = None
    input_masks = recurrent_masks = projection = False
    proj_clip = None
    specs = [Spec(lambda x, h, c, W, R, b, gy: _sequence_grad_spec(x, h, c, W, R, b, gy),
                  [(3, 2, 2), (2, 2), (2, 2), (2, 8), (2, 8), (8,), (3, 2, 2)], domain=(-1, 1),
                  order=1)]

    def infer(self, x, h0, c0, W, R, *rest):
        require_float(self.name, x, h0, c0, W, R)
        b_shape = (W.shape[1],)
        out = [(x.shape, x.dtype), (h0.shape, x.dtype), (c0.shape, x.dtype),
               (W.shape, x.dtype), (R.shape, x.dtype), (b_shape, x.dtype)]
        if self.peepholes:
            out += [(p.shape, x.dtype) for p in rest[1:4]]
        if self.projection:
            out.append((rest[4 if self.peepholes else 1].shape, x.dtype))
        return out

    def compute(self, be, *arrays):
        rest = arrays[6:]
        loops = loops_for(self, be.xp, arrays[0], arrays[4], rest) \
            or factored_backward(self, be.xp, arrays[0], arrays[4], rest)
        return sequence_backward(be.xp, self, numpy_backward_step, *arrays, loops=loops)

    def primal(self, inputs):
        # (x, h0, c0, W, R, b, [peepholes,] [mask,] saved arrays, cotangents): the saved
        # arrays are what the kernel reads; the math needs only the inputs
        n = 6 + n_optional(self)
        n_saved = (4 if self.mask_output else 3) + bool(self.projection)
        if not self.mask_output:
            return LSTMSequenceOp(**self.attrs), inputs[:n], inputs[n + n_saved:]
        g_hs, g_hT, g_cT, g_y = inputs[n + n_saved:]      # the cotangents of outputs 0, 1, 2 and 5
        return LSTMSequenceOp(**self.attrs), inputs[:n], [g_hs, g_hT, g_cT, None, None, g_y]


def _masked_spec(x, h0, c0, W, R, b, mask_output, reverse):
    keep = constant(np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]], bool))
    out = lstm_sequence(x, h0, c0, W, R, b, reverse=reverse, mask=keep, mask_output=mask_output)
    return [out[0], out[1], out[2], out[5]]


def _sequence_grad_spec(x, h0, c0, W, R, b, g_hs):
    hs, _, _, gates, cs = lstm_sequence(x, h0, c0, W, R, b)
    zero = zeros_like(h0)
    return apply(LSTMSequenceGradOp(**_attrs(), reverse=False),
                 [x, h0, c0, W, R, b, hs, gates, cs, g_hs, zero, zero]).outputs


def n_optional(op):
    """How many inputs a sequence op has after (x, h0, c0, W, R, b)."""
    return (3 if op.peepholes else 0) + bool(op.projection) + (op.mask_output is not None) \
        + bool(op.input_masks) + bool(op.recurrent_masks)


def lstm_sequence(x, h0, c0, W, R, b, reverse=False, peepholes=None, mask=None,
                  mask_output="carry", input_masks=None, recurrent_masks=None,
                  projection=None, proj_clip=None, **attrs):
    """Fused LSTM over time-major ``x``; returns (hs, h_T, c_T, gates, cs) and, with a
    (T, B) bool ``mask`` (True = keep the step), also (y_T, states h, states c): at a
    masked step the states keep their values; the output is the carried one
    (``mask_output="carry"``, zeros before the first kept step) or zeros ("zero"),
    y_T the carried output after the last step. ``peepholes``: (p_i, p_f, p_o) or None.
    ``input_masks`` (4, B, D), ``recurrent_masks`` (4, B, U): dropout masks of x and h,
    one per gate block (Keras implementation=1), the same at every step. ``projection``
    P (U, H), ``proj_clip``: the TF1 cell's num_proj: h = clip(o * act(c) @ P), R is
    (H, 4U), and the outputs gain the cells' own outputs (T, B, U) last."""
    a = _attrs(peepholes=peepholes is not None, **attrs)
    if mask is not None:
        a["mask_output"] = mask_output
    for key, m in (("input_masks", input_masks), ("recurrent_masks", recurrent_masks),
                   ("projection", projection)):
        if m is not None:
            a[key] = True
    if projection is not None and proj_clip:
        a["proj_clip"] = float(proj_clip)
    extra = list(peepholes or ()) + [m for m in (projection, mask, input_masks, recurrent_masks)
                                     if m is not None]
    return list(apply(LSTMSequenceOp(reverse=bool(reverse), **a),
                      [x, h0, c0, W, R, b] + extra).outputs)


# ----------------------------------------------------------------------- decompositions
# The fused forward ops decompose into the one LSTM step (ops/lstm_step.py); the
# backward ops declare the forward op they differentiate (``primal``), and autodiff
# decomposes and differentiates them through it.

def _cell_decomposition(op, z, c, *peep):
    return list(lstm_step(z, c, math_of(op), peep if op.peepholes else None)[:2])


def _sequence_decomposition(op, x, h0, c0, W, R, b, *rest):
    peep, P, mask, xm, hm, _ = split_inputs(op, rest)
    peep = peep or None
    if op.mask_output:
        return _masked_decomposition(op, x, h0, c0, W, R, b, peep, P, mask, xm, hm)

    def step(carry, x_t):
        h, c = carry
        h2, c2 = _step(op, x_t, h, c, W, R, b, peep, P, xm, hm)
        return (h2, c2), h2
    (hT, cT), hs = scan(step, x, (h0, c0), reverse=op.reverse)
    return [hs, hT, cT]


def _step(op, x_t, h, c, W, R, b, peep, P, xm, hm):
    """One step of the sequence in primitive ops: (new h, new c)."""
    h2, c2 = lstm_step(_z(x_t, h, W, R, b, xm, hm), c, math_of(op), peep)[:2]
    if P is not None:
        h2 = h2 @ P
        if op.proj_clip:
            h2 = clip_by_value(h2, -op.proj_clip, op.proj_clip)
    return h2, c2


def _z(x_t, h, W, R, b, xm, hm):
    """The step's pre-activations: x_t @ W + h @ R + b or, with per-gate dropout masks,
    the four blocks (x_t * xm[k]) @ W_k + b_k + (h * hm[k]) @ R_k (implementation=1)."""
    if xm is None and hm is None:
        return x_t @ W + h @ R + b
    U = R.shape[1] // 4
    blocks = [slice(k * U, (k + 1) * U) for k in range(4)]
    return [(x_t if xm is None else x_t * xm[k]) @ W[:, s] + b[s]
            + (h if hm is None else h * hm[k]) @ R[:, s] for k, s in enumerate(blocks)]


def _masked_decomposition(op, x, h0, c0, W, R, b, peep, P, mask, xm, hm):
    """The masked sequence as the RNN layer builds it: states kept at masked steps, the
    carried output zeros until the first kept step."""
    def step(carry, seq):
        (h, c, y), (x_t, m_t) = carry, seq
        h2, c2 = _step(op, x_t, h, c, W, R, b, peep, P, xm, hm)
        keep = m_t[:, None]
        y2 = where(keep, h2, y)
        out = y2 if op.mask_output == "carry" else where(keep, h2, zeros_like(h2))
        return (where(keep, h2, h), where(keep, c2, c), y2), out
    (hT, cT, yT), hs = scan(step, [x, mask], (h0, c0, zeros_like(h0)), reverse=op.reverse)
    return [hs, hT, cT, None, None, yT]
