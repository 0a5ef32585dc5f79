"""What gradflow knows per cell family: its states, its gates, how to recompute them.

One entry per family. A family's gates are recomputed from the recorded inputs and
the states entering each step with the cell's weights, through the ONE step
definition of that cell (an LSTM: ops/lstm_step.py), so the numbers are those of
the layer. An LSTM is known by its declared states (h, c). A GRU has one state h,
as a SimpleRNN does, so its family is the one its cell declares (``family = "GRU"``,
layers/gru.py); its gradient gates are z, r and the candidate, reported as "hh"
(Keras' name for it: "h" is the state).
"""
from tinygraph.autodiff import gradients
from tinygraph.ir.graph import name_scope
from tinygraph.ops import matmul
from tinygraph.ops.gru_step import gru_step
from tinygraph.ops.lstm_step import LSTMMath, lstm_step


class CellParts:
    """``states``: the declared state names that identify the family; ``grad_gates``:
    the gates whose pre-activation gradients are reported; ``saturating``: the gates
    whose activations ``saturation`` reads; ``gates(cell, xs, prev, totals)`` returns
    (the gate gradients in ``grad_gates`` order, {gate: activations (T, B, U)});
    ``by_states``: whether the states alone identify the family (else the cell must
    declare it as its ``family``)."""

    def __init__(self, family, states, grad_gates, saturating, gates, by_states=True):
        self.family, self.states = family, tuple(states)
        self.grad_gates, self.saturating, self.gates = tuple(grad_gates), tuple(saturating), gates
        self.by_states = by_states


def _lstm_gates(cell, xs, prev, totals):
    """dL/dz of the pre-activations (i, f, g, o), all steps at once, and the gate
    activations i, f, o: i, f and g reach the loss through c, o through h."""
    with name_scope("gradflow_gates"):
        z = matmul(xs, cell.kernel) + matmul(prev["h"], cell.recurrent_kernel)
        if cell.use_bias:
            z = z + cell.bias
        step = lstm_step(z, prev["c"], LSTMMath(cell.activation, cell.recurrent_activation))
        through_c = gradients(step.c, list(step.pre[:3]), grad_ys=totals["c"],
                              unconnected_gradients="zero")
        through_h = gradients(step.h, [step.pre[3]], grad_ys=totals["h"],
                              unconnected_gradients="zero")
        i, f, _, o = step.gates
        return through_c + through_h, {"i": i, "f": f, "o": o}


def _gru_gates(cell, xs, prev, totals):
    """dL/d of the pre-activations (z, r, candidate), all steps at once, and the gate
    activations z, r: all three reach the loss through h."""
    with name_scope("gradflow_gates"):
        x_proj, h_proj, _ = cell.projections(xs, prev["h"])
        step = gru_step(x_proj, h_proj, prev["h"], cell.step_math,
                        candidate_kernel=cell.candidate_kernel)
        grads = gradients(step.h, list(step.pre), grad_ys=totals["h"],
                          unconnected_gradients="zero")
        z, r, _ = step.gates
        return grads, {"z": z, "r": r}


LSTM = CellParts("LSTM", ("h", "c"), ("i", "f", "g", "o"), ("i", "f", "o"), _lstm_gates)
GRU = CellParts("GRU", ("h",), ("z", "r", "hh"), ("z", "r"), _gru_gates, by_states=False)

# layers/rnn.py declares the states h, c (in this order) only for an LSTMCell.
FAMILIES = (LSTM, GRU)
GATES = tuple(g for p in FAMILIES for g in p.grad_gates)     # every family's gate names


def parts_of(names, family=None):
    """The family whose states are ``names`` (and, for one not known by its states
    alone, whose name is the cell's declared ``family``), or None."""
    return next((p for p in FAMILIES if list(p.states) == list(names)
                 and (p.by_states or p.family == family)), None)
