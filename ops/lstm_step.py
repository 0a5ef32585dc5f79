"""The LSTM step, once, in primitive ops: every LSTM in tinygraph is this function.

The Keras ``LSTMCell`` (implementation 1 and 2), the TF1 ``rnn_cell.LSTMCell``, the
decomposition of the fused ``lstm_cell``/``lstm_sequence`` ops and the gradient-flow
tools all build their step here; the fusion rules recognize exactly this graph, and
the fused kernels (ops/lstm_kernels.py, backends/cuda_lstm.py) compute the same math.

With the gate pre-activations z_i, z_f, z_g (the candidate: Keras "c", TF1 "j"), z_o,
ra the recurrent activation and act the activation::

    i = ra(z_i [+ p_i * c_prev])
    f = ra(z_f [+ forget_bias] [+ p_f * c_prev])
    c = f * c_prev + i * act(z_g)          clipped to +-cell_clip if set
    o = ra(z_o [+ p_o * c])                the peephole reads the new, clipped c
    h = o * act(c)
"""
from collections import namedtuple
from dataclasses import dataclass

from . import activations as _act
from . import math as m
from .array import split

# column blocks of z holding (i, f, candidate, o), by gate order
GATE_BLOCKS = {"ifco": (0, 1, 2, 3), "ijfo": (0, 2, 1, 3)}
GATE_NAMES = ("i", "f", "g", "o")

LSTMStepResult = namedtuple("LSTMStepResult", "h c gates pre")
LSTMStepResult.__doc__ = """The step's new ``h`` and ``c``, the activated gates (i, f, g, o)
and their pre-activations (peephole and forget-bias terms included)."""


@dataclass(frozen=True)
class LSTMMath:
    """The options of an LSTM step, Keras' and TF1's. Activations are table names
    (ops/activations.py) or, for layers given a callable, the callable itself."""
    activation: object = "tanh"
    recurrent_activation: object = "sigmoid"
    forget_bias: float = 0.0
    gate_order: str = "ifco"
    cell_clip: float = None
    peepholes: bool = False

    def __post_init__(self):
        if self.gate_order not in GATE_BLOCKS:
            raise ValueError(f"gate_order must be 'ifco' or 'ijfo', got {self.gate_order!r}")

    @property
    def fusable(self):
        """Whether the fused kernels implement these options (named table activations)."""
        return all(isinstance(a, str) and _act.ACTIVATIONS[a].fusable
                   for a in (self.activation, self.recurrent_activation))

    def gate_slices(self, units):
        """Column slices of z for (i, f, candidate, o)."""
        return [slice(p * units, (p + 1) * units) for p in GATE_BLOCKS[self.gate_order]]


def _graph(activation):
    return _act.get(activation).graph if isinstance(activation, str) else activation


def split_gates(z, math):
    """The four pre-activations (i, f, candidate, o) of ``z`` (B, 4U), in ``math``'s order."""
    parts = split(z, 4, axis=-1)
    return [parts[p] for p in GATE_BLOCKS[math.gate_order]]


def lstm_step(z, c_prev, math=LSTMMath(), peepholes=None):
    """One LSTM step. ``z``: the (B, 4U) pre-activations ``x@W + h@R + b`` (split in
    ``math.gate_order``), or a list of the four (i, f, candidate, o) pre-activations
    (Keras implementation=1). ``peepholes``: (p_i, p_f, p_o) when ``math.peepholes``.
    Returns an ``LSTMStepResult``."""
    zi, zf, zg, zo = split_gates(z, math) if not isinstance(z, (list, tuple)) else z
    ra, act = _graph(math.recurrent_activation), _graph(math.activation)
    if math.peepholes:
        if peepholes is None or len(peepholes) != 3:
            raise ValueError("lstm_step: peepholes=True needs three (U,) weights (p_i, p_f, p_o)")
        p_i, p_f, p_o = peepholes
    if math.peepholes:
        zi = zi + p_i * c_prev
    if math.forget_bias:
        zf = zf + math.forget_bias
    if math.peepholes:
        zf = zf + p_f * c_prev
    i, f, g = ra(zi), ra(zf), act(zg)
    c = f * c_prev + i * g
    if math.cell_clip is not None:
        c = m.clip_by_value(c, -math.cell_clip, math.cell_clip)
    if math.peepholes:
        zo = zo + p_o * c
    o = ra(zo)
    h = o * act(c)
    return LSTMStepResult(h, c, (i, f, g, o), (zi, zf, zg, zo))
