"""What gradflow knows per cell family: its states, its gates, how to recompute them.

One entry per family. A family's gates are recomputed from the recorded inputs and
the states entering each step with the cell's weights, through the ONE step
definition of that cell (an LSTM: ops/lstm_step.py), so the numbers are those of
the layer. A GRU is one more entry: states ("h",), gradient gates and saturating
gates ("z", "r"), and its ``gates`` function.
"""
from tinygraph.autodiff import gradients
from tinygraph.ir.graph import name_scope
from tinygraph.ops import matmul
from tinygraph.ops.lstm_step import LSTMMath, lstm_step


class CellParts:
    """``states``: the declared state names that identify the family; ``grad_gates``:
    the gates whose pre-activation gradients are reported; ``saturating``: the gates
    whose activations ``saturation`` reads; ``gates(cell, xs, prev, totals)`` returns
    (the gate gradients in ``grad_gates`` order, {gate: activations (T, B, U)})."""

    def __init__(self, family, states, grad_gates, saturating, gates):
        self.family, self.states = family, tuple(states)
        self.grad_gates, self.saturating, self.gates = tuple(grad_gates), tuple(saturating), gates


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


LSTM = CellParts("LSTM", ("h", "c"), ("i", "f", "g", "o"), ("i", "f", "o"), _lstm_gates)

# layers/rnn.py declares the states h, c (in this order) only for an LSTMCell.
FAMILIES = (LSTM,)


def parts_of(names):
    """The family whose declared states are ``names``, or None."""
    return next((p for p in FAMILIES if list(p.states) == list(names)), None)
