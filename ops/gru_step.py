"""The GRU step, once, in primitive ops: every GRU in tinygraph is this function.

The Keras ``GRUCell`` (implementation 1 and 2, reset_after True and False), the
decompositions of the fused GRU ops and the gradient-flow tools build their step here;
the fusion rules recognize exactly this graph.

With the input projections x_z, x_r, x_h (``x@kernel`` + input bias, split in the gate
order z, r, h), the recurrent projections r_z, r_r (and r_h) of the previous state, ra
the recurrent activation and act the activation::

    z  = ra(x_z + r_z)                 update gate
    r  = ra(x_r + r_r)                 reset gate
    hh = act(x_h + r * r_h)            reset_after=True:  r_h = h@R_h + b_h (recurrent bias)
    hh = act(x_h + (r * h) @ R_h)      reset_after=False: the reset gate before the matmul
    h' = z * h + (1 - z) * hh

All matrix products but the one that depends on r stay with the caller (the cell), as
for the LSTM step, so implementation 1 (one small matmul per gate) and 2 (one matmul for
all gates) share this function.
"""
from collections import namedtuple
from dataclasses import dataclass

from . import activations as _act
from .array import split
from .linalg import matmul

GATE_NAMES = ("z", "r", "h")

GRUStepResult = namedtuple("GRUStepResult", "h gates pre")
GRUStepResult.__doc__ = """The step's new ``h``, the activated gates (z, r, hh) and their
pre-activations (x_z + r_z, x_r + r_r, x_h + r * r_h or x_h + (r*h) @ R_h)."""


@dataclass(frozen=True)
class GRUMath:
    """The options of a GRU step, as Keras' GRUCell has them. Activations are table
    names (ops/activations.py) or, for layers given a callable, the callable itself."""
    activation: object = "tanh"
    recurrent_activation: object = "sigmoid"
    reset_after: bool = True

    @property
    def fusable(self):
        """Whether the fused kernels implement these options (named table activations)."""
        return all(isinstance(a, str) and _act.ACTIVATIONS[a].fusable
                   for a in (self.activation, self.recurrent_activation))

    @property
    def recurrent_blocks(self):
        """How many U-wide blocks the caller's recurrent projection holds: (r_z, r_r, r_h)
        with reset_after, (r_z, r_r) without (r_h then needs r)."""
        return 3 if self.reset_after else 2


def _graph(activation):
    return _act.get(activation).graph if isinstance(activation, str) else activation


def _parts(t, n, what):
    if isinstance(t, (list, tuple)):
        if len(t) != n:
            raise ValueError(f"gru_step: {what} needs {n} parts, got {len(t)}")
        return list(t)
    return split(t, n, axis=-1)


def gru_step(x_proj, h_proj, h_prev, math=GRUMath(), candidate_kernel=None, h_candidate=None):
    """One GRU step.

    ``x_proj``: the (B, 3U) input projection ``x@kernel + input_bias`` or the list
    (x_z, x_r, x_h) (implementation 1). ``h_proj``: the recurrent projection of
    ``h_prev`` — (B, 3U) ``h@recurrent_kernel + recurrent_bias`` or (r_z, r_r, r_h) with
    ``math.reset_after``; else (B, 2U) ``h@recurrent_kernel[:, :2U]`` or (r_z, r_r), and
    ``candidate_kernel`` (U, U), ``recurrent_kernel[:, 2U:]``, is needed.
    ``h_candidate``: the state the candidate's matmul reads when it differs from
    ``h_prev`` (recurrent dropout in implementation 1). Returns a ``GRUStepResult``.
    """
    x_z, x_r, x_h = _parts(x_proj, 3, "x_proj")
    rec = _parts(h_proj, math.recurrent_blocks, "h_proj")
    ra, act = _graph(math.recurrent_activation), _graph(math.activation)
    zp, rp = x_z + rec[0], x_r + rec[1]
    z, r = ra(zp), ra(rp)
    if math.reset_after:
        hp = x_h + r * rec[2]
    else:
        if candidate_kernel is None:
            raise ValueError("gru_step: reset_after=False needs candidate_kernel, "
                             "the (U, U) block recurrent_kernel[:, 2U:]")
        hp = x_h + matmul(r * (h_prev if h_candidate is None else h_candidate),
                          candidate_kernel)
    hh = act(hp)
    h = z * h_prev + (1.0 - z) * hh
    return GRUStepResult(h, (z, r, hh), (zp, rp, hp))
