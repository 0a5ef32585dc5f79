"""Fused GRU kernels: ``gru_cell`` (one step's gate math) and ``gru_sequence`` (a
whole layer over time), each with a fused backward op, as ops/lstm.py has for the
LSTM.

The fusion passes (tinygraph/compile/gru_fusion.py) put these in place of the
primitive-op graphs ``gru_step`` (ops/gru_step.py) builds; users rarely call them
directly. Both of Keras' variants: reset_after=True (the default, cuDNN's), where the
reset gate multiplies the recurrent projection ``h@R_h + b_h``, and reset_after=False,
where it multiplies h before the candidate's matmul.

Derivatives: the first derivative of each fused op is a fused backward op; the
derivative of a backward op is taken through the forward op's decomposition into
``gru_step`` (``primal``), so every order works.
"""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply, register_op

from .constant import constant
from .dtypes import require_float
from .fill_like import zeros_like
from .gru_kernels import cell_backward, cell_forward, math_of, sequence_backward, \
    sequence_forward, split_inputs, backward_step, forward_step
from .gru_step import gru_step
from .lstm import Spec
from .activations import FUSABLE
from .math import where
from .scan import scan


class FusedGRUOp(Op):
    """Shared attribute handling: activation, recurrent_activation, reset_after."""

    fused = True

    def check_attrs(self):
        for a in (self.activation, self.recurrent_activation):
            if a not in FUSABLE:
                raise ShapeError(f"activation {a!r} is not one the fused kernels support {FUSABLE}")

    def label(self):
        extra = [f"act={self.activation}", f"ract={self.recurrent_activation}",
                 f"reset_after={self.reset_after}"]
        return f"{self.name} [{', '.join(extra)}]"


def _attrs(activation="tanh", recurrent_activation="sigmoid", reset_after=True):
    return dict(activation=activation, recurrent_activation=recurrent_activation,
                reset_after=bool(reset_after))


# ----------------------------------------------------------------------- gru_cell

@register_op
class GRUCellOp(FusedGRUOp):
    """One step: inputs (x_proj (B, 3U), h_proj (B, 3U | 2U), h_prev (B, U) [, R_h (U, U)
    when not reset_after] [, hc (B, U) with candidate_input]) -> h. ``hc`` is the state
    the candidate's matmul reads when it is not h_prev (recurrent dropout)."""
    name = "gru_cell"
    candidate_input = False
    specs = [
        Spec(lambda x, p, h: gru_cell(x, p, h), [(3, 6), (3, 6), (3, 2)]),
        Spec(lambda x, p, h, Rh: gru_cell(x, p, h, Rh, reset_after=False),
             [(3, 6), (3, 4), (3, 2), (2, 2)]),
        Spec(lambda x, p, h, Rh, hc: gru_cell(x, p, h, Rh, h_candidate=hc, reset_after=False,
                                              activation="relu", recurrent_activation="hard_sigmoid"),
             [(2, 9), (2, 6), (2, 3), (3, 3), (2, 3)], domain=(-1.2, 1.2)),
        Spec(lambda x, p, h: gru_cell(x, p, h, activation="linear", recurrent_activation="hard_sigmoid_v1"),
             [(2, 9), (2, 9), (2, 3)]),
    ]

    def infer(self, x_proj, h_proj, h_prev, *rest):
        self.check_attrs()
        require_float(self.name, x_proj, h_proj, h_prev, *rest)
        U = h_prev.shape[-1]
        n = 3 if self.reset_after else 2
        extra = (0 if self.reset_after else 1) + bool(self.candidate_input)
        if len(rest) != extra:
            raise ShapeError(f"gru_cell: expected {extra} inputs after h_prev (R_h (U, U) with "
                             f"reset_after=False, hc with candidate_input), got {len(rest)}")
        for t, k, what in ((x_proj, 3, "x_proj"), (h_proj, n, "h_proj")):
            if U is not None and t.shape[-1] is not None and t.shape[-1] != k * U:
                raise ShapeError(f"gru_cell: {what} has {t.shape[-1]} columns, expected {k} * {U}")
        for t in (x_proj, h_proj) + tuple(rest[1:] if not self.reset_after else rest):
            if len(t.shape) != len(h_prev.shape) or any(
                    a is not None and b is not None and a != b for a, b in zip(t.shape[:-1], h_prev.shape[:-1])):
                raise ShapeError(f"gru_cell: the inputs' leading dimensions differ: {t.shape} "
                                 f"and h_prev {h_prev.shape}")
        return [(h_prev.shape, h_prev.dtype)]

    def compute(self, be, *arrays):
        return cell_forward(be.xp, self, *arrays)[0]

    def vjp(self, node, gh):
        grad = apply(GRUCellGradOp(**self.attrs), list(node.inputs) + [gh])
        return list(grad.outputs)

    def decompose(self, inputs):
        x_proj, h_proj, h_prev, *rest = inputs
        Rh = None if self.reset_after else rest[0]
        hc = rest[-1] if self.candidate_input else None
        return [gru_step(x_proj, h_proj, h_prev, math_of(self), Rh, hc).h]


@register_op
class GRUCellGradOp(FusedGRUOp):
    """Backward of gru_cell: (its inputs, gh) -> the gradient of each input."""
    name = "gru_cell_grad"
    candidate_input = False
    # order 1 here is the forward op's second derivative (its order-2 specs cover more)
    specs = [Spec(lambda x, p, h, Rh, g: apply(GRUCellGradOp(**_attrs(reset_after=False)),
                                               [x, p, h, Rh, g]).outputs,
                  [(3, 6), (3, 4), (3, 2), (2, 2), (3, 2)], order=1)]

    def infer(self, *inputs):
        require_float(self.name, *inputs)
        return [(t.shape, t.dtype) for t in inputs[:-1]]

    def compute(self, be, *arrays):
        return cell_backward(be.xp, self, *arrays)

    def primal(self, inputs):
        return GRUCellOp(**self.attrs), inputs[:-1], inputs[-1:]


def gru_cell(x_proj, h_proj, h_prev, candidate_kernel=None, h_candidate=None, **attrs):
    """Fused GRU step (gru_step's math) from the input projection ``x_proj`` and the
    recurrent projection ``h_proj`` (see ops/gru_step.py)."""
    a = _attrs(**attrs)
    extra = [] if a["reset_after"] else [candidate_kernel]
    if not a["reset_after"] and candidate_kernel is None:
        raise ValueError("gru_cell: reset_after=False needs candidate_kernel (U, U)")
    if h_candidate is not None:
        a["candidate_input"] = True
        extra.append(h_candidate)
    return apply(GRUCellOp(**a), [x_proj, h_proj, h_prev] + extra).outputs[0]


# ----------------------------------------------------------------------- gru_sequence

@register_op
class GRUSequenceOp(FusedGRUOp):
    """A whole GRU layer: inputs (x (T, B, D), h0 (B, U), W (D, 3U), R (U, 3U), b ((2, 3U)
    with reset_after: input and recurrent bias; else (3U,)) [, mask (T, B)] [, (3, B, D)
    input dropout masks] [, (3, B, U) recurrent dropout masks]) -> (hs (T, B, U), h_T,
    gates (T, B, 4U)) and, masked, (y_T, states h (T, B, U)).

    The input projection of every step is one GEMM; the recurrence runs in the kernel.
    ``gates`` (and the masked states) are what the backward needs, kept only when it runs."""
    name = "gru_sequence"
    needs_output_mask = True
    mask_output = None       # masked: "carry" (Keras' output rule) or "zero" (zero_output_for_mask)
    input_masks = False      # (3, B, D) dropout masks of x, one per gate block (implementation=1)
    recurrent_masks = False  # (3, B, U) dropout masks of h, one per gate block
    specs = [
        Spec(lambda x, h, W, R, b: gru_sequence(x, h, W, R, b)[:2],
             [(4, 2, 3), (2, 2), (3, 6), (2, 6), (2, 6)], domain=(-1, 1)),
        Spec(lambda x, h, W, R, b: gru_sequence(x, h, W, R, b, reverse=True, reset_after=False,
                                                activation="relu", recurrent_activation="hard_sigmoid")[:2],
             [(3, 2, 2), (2, 3), (2, 9), (3, 9), (9,)], domain=(-1, 1)),
        Spec(lambda x, h, W, R, b: _masked_spec(x, h, W, R, b, "carry", False, True),
             [(4, 3, 2), (3, 2), (2, 6), (2, 6), (2, 6)], domain=(-1, 1)),
        Spec(lambda x, h, W, R, b: _masked_spec(x, h, W, R, b, "zero", True, False),
             [(4, 3, 2), (3, 2), (2, 6), (2, 6), (6,)], domain=(-1, 1)),
        Spec(lambda x, h, W, R, b: _dropout_spec(x, h, W, R, b, False),
             [(3, 2, 2), (2, 2), (2, 6), (2, 6), (6,)], domain=(-1, 1)),
        Spec(lambda x, h, W, R, b: _dropout_spec(x, h, W, R, b, True),
             [(3, 2, 2), (2, 2), (2, 6), (2, 6), (2, 6)], domain=(-1, 1)),
    ]

    def infer(self, x, h0, W, R, b, *rest):
        self.check_attrs()
        require_float(self.name, x, h0, W, R, b)
        if self.mask_output not in (None, "carry", "zero"):
            raise ShapeError(f"mask_output must be None, 'carry' or 'zero', got {self.mask_output!r}")
        if len(rest) != n_optional(self):
            raise ShapeError(f"gru_sequence: expected {n_optional(self)} inputs after b (a (T, B) "
                             f"mask with mask_output={self.mask_output!r}, (3, B, D) / (3, B, U) "
                             f"dropout masks as input_masks / recurrent_masks say), got {len(rest)}")
        U = R.shape[0]
        want_b = (2, W.shape[1]) if self.reset_after else (W.shape[1],)
        if x.ndim != 3 or W.ndim != 2 or R.ndim != 2 or b.shape != want_b \
                or None not in (U, W.shape[1]) and W.shape[1] != 3 * U:
            raise ShapeError(f"gru_sequence: expected x (T, B, D), W (D, 3U), R (U, 3U), b "
                             f"{want_b} (reset_after={self.reset_after}), got {x.shape}, {W.shape}, "
                             f"{R.shape}, {b.shape}")
        mask, xm, hm, _ = split_inputs(self, rest)
        if mask is not None and (mask.ndim != 2 or mask.dtype != bool):
            raise ShapeError(f"the mask must be (T, B) bool, got {mask.dtype} {mask.shape}")
        for m, n in ((xm, x.shape[-1]), (hm, U)):
            if m is not None and (m.ndim != 3 or m.shape[0] != 3 or m.shape[-1] != n):
                raise ShapeError(f"a dropout mask input must be (3, B, {n}), got {m.shape}")
        T = x.shape[0]
        B = next((d for d in (x.shape[1], h0.shape[0]) if d is not None), None)
        seq = ((T, B, U), x.dtype)
        out = [seq, ((B, U), x.dtype), ((T, B, 4 * U), x.dtype)]
        return out + ([((B, U), x.dtype), seq] if mask is not None else [])

    def compute(self, be, *arrays, needed):
        return sequence_forward(be.xp, self, forward_step, *arrays, needed=needed)

    def vjp(self, node, g_hs, g_h, g_gates, *g_masked):
        if g_gates is not None or (self.mask_output and g_masked[1] is not None):
            raise ValueError(f"{node.name!r}: the saved gates and states of gru_sequence feed "
                             "its own backward op only; they are not differentiable outputs")
        outs = node.outputs
        saved = [outs[4] if self.mask_output else outs[0], outs[2]]
        cot = [(g_hs, outs[0]), (g_h, outs[1])] + ([(g_masked[0], outs[3])] if self.mask_output else [])
        zero = [zeros_like(t) if g is None else g for g, t in cot]
        grad = apply(GRUSequenceGradOp(**self.attrs), list(node.inputs) + saved + zero)
        return list(grad.outputs) + [None] * n_optional(self)      # masks: not differentiable

    def decompose(self, inputs):
        return _sequence_decomposition(self, *inputs)


@register_op
class GRUSequenceGradOp(FusedGRUOp):
    """Backward of gru_sequence: (x, h0, W, R, b, [masks,] states, gates, g_hs, g_hT[, g_y])
    -> (gx, gh0, gW, gR, gb). The recurrence runs backwards in the kernel; the input,
    kernel and bias gradients are one GEMM / one sum over all steps."""
    name = "gru_sequence_grad"
    mask_output = None
    input_masks = recurrent_masks = False
    specs = [Spec(lambda x, h, W, R, b, gy: _sequence_grad_spec(x, h, W, R, b, gy),
                  [(3, 2, 2), (2, 2), (2, 6), (2, 6), (2, 6), (3, 2, 2)], domain=(-1, 1), order=1)]

    def infer(self, x, h0, W, R, b, *rest):
        require_float(self.name, x, h0, W, R, b)
        return [(t.shape, x.dtype) for t in (x, h0, W, R, b)]

    def compute(self, be, *arrays):
        return sequence_backward(be.xp, self, backward_step, *arrays)

    def primal(self, inputs):
        # (x, h0, W, R, b, [masks,] saved states and gates, cotangents): the saved
        # arrays are what the kernel reads; the math needs only the inputs
        n = 5 + n_optional(self)
        cot = inputs[n + 2:]
        if self.mask_output:
            cot = [cot[0], cot[1], None, cot[2], None]
        return GRUSequenceOp(**self.attrs), inputs[:n], list(cot)


def _masked_spec(x, h0, W, R, b, mask_output, reverse, reset_after):
    keep = constant(np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]], bool))
    out = gru_sequence(x, h0, W, R, b, reverse=reverse, mask=keep, mask_output=mask_output,
                       reset_after=reset_after)
    return [out[0], out[1], out[3]]


def _dropout_spec(x, h0, W, R, b, reset_after):
    rng = np.random.default_rng(3)
    xm = constant(rng.choice([0.0, 2.0], size=(3,) + tuple(x.shape[1:])))
    hm = constant(rng.choice([0.0, 1.5], size=(3,) + tuple(h0.shape)))
    return gru_sequence(x, h0, W, R, b, input_masks=xm, recurrent_masks=hm,
                        reset_after=reset_after)[:2]


def _sequence_grad_spec(x, h0, W, R, b, g_hs):
    hs, _, gates = gru_sequence(x, h0, W, R, b)
    return apply(GRUSequenceGradOp(**_attrs(), reverse=False),
                 [x, h0, W, R, b, hs, gates, g_hs, zeros_like(h0)]).outputs


def n_optional(op):
    """How many inputs a sequence op has after (x, h0, W, R, b)."""
    return (op.mask_output is not None) + bool(op.input_masks) + bool(op.recurrent_masks)


def gru_sequence(x, h0, W, R, b, reverse=False, mask=None, mask_output="carry",
                 input_masks=None, recurrent_masks=None, **attrs):
    """Fused GRU over time-major ``x``; returns (hs, h_T, gates) and, with a (T, B) bool
    ``mask`` (True = keep the step), also (y_T, states h): at a masked step the state
    keeps its value; the output is the carried one (``mask_output="carry"``, zeros
    before the first kept step) or zeros ("zero"), y_T the carried output after the
    last step. ``b``: (2, 3U) (input and recurrent bias) with reset_after, else (3U,).
    ``input_masks`` (3, B, D), ``recurrent_masks`` (3, B, U): dropout masks of x and h,
    one per gate block (Keras implementation=1), the same at every step."""
    a = _attrs(**attrs)
    if mask is not None:
        a["mask_output"] = mask_output
    for key, m in (("input_masks", input_masks), ("recurrent_masks", recurrent_masks)):
        if m is not None:
            a[key] = True
    extra = [m for m in (mask, input_masks, recurrent_masks) if m is not None]
    return list(apply(GRUSequenceOp(reverse=bool(reverse), **a), [x, h0, W, R, b] + extra).outputs)


# ----------------------------------------------------------------------- decompositions
# The fused forward ops decompose into the one GRU step (ops/gru_step.py); the
# backward ops declare the forward op they differentiate (``primal``).

def _step(op, x_t, h, W, R, b, xm, hm):
    """One step of the sequence in primitive ops, as the GRU cell builds it: one
    projection per gate block with dropout masks (implementation=1), else whole."""
    U = R.shape[0]
    b_in, b_rec = (b[0], b[1]) if op.reset_after else (b, None)
    n = 3 if op.reset_after else 2
    Rh = None if op.reset_after else R[:, 2 * U:]
    if xm is None and hm is None:
        x_proj = x_t @ W + b_in
        h_proj = h @ R + b_rec if op.reset_after else h @ R[:, :2 * U]
        return gru_step(x_proj, h_proj, h, math_of(op), Rh).h
    cols = [slice(k * U, (k + 1) * U) for k in range(3)]
    x_proj = [(x_t if xm is None else x_t * xm[k]) @ W[:, s] + b_in[s] for k, s in enumerate(cols)]
    hk = [h if hm is None else h * hm[k] for k in range(3)]
    h_proj = [hk[k] @ R[:, s] + b_rec[s] if op.reset_after else hk[k] @ R[:, s]
              for k, s in enumerate(cols[:n])]
    return gru_step(x_proj, h_proj, h, math_of(op), Rh, None if op.reset_after else hk[2]).h


def _sequence_decomposition(op, x, h0, W, R, b, *rest):
    mask, xm, hm, _ = split_inputs(op, rest)
    if op.mask_output is None:
        def step(h, x_t):
            h2 = _step(op, x_t, h, W, R, b, xm, hm)
            return h2, h2
        hT, hs = scan(step, x, h0, reverse=op.reverse)
        return [hs, hT]

    def masked_step(carry, seq):
        (h, y), (x_t, m_t) = carry, seq
        h2 = _step(op, x_t, h, W, R, b, xm, hm)
        keep = m_t[:, None]
        y2 = where(keep, h2, y)
        out = y2 if op.mask_output == "carry" else where(keep, h2, zeros_like(h2))
        return (where(keep, h2, h), y2), out
    (hT, yT), hs = scan(masked_step, [x, mask], (h0, zeros_like(h0)), reverse=op.reverse)
    return [hs, hT, None, yT, None]

