"""The gradient flow of a ``layers.Bidirectional``: one report per direction, read side
by side in the INPUT's time order.

Each direction is an ordinary RNN call (find.py finds it in the wrapper's scope) and
gets an ordinary ``GradientFlowReport``, whose t is, as everywhere in gradflow, that
direction's processing order: for the backward direction t = 0 is the LAST input
step. This report lines the two up on the input steps instead: at input step t,
``norms(name)[direction][t]`` is the gradient at the state the direction holds right
after reading input t (the backward report's step T-1-t), so the forward curve
rises towards the end of the sequence and the backward one towards its start when the
loss reads both final states."""
import numpy as np

from tinygraph.tools.gradflow.curves import plot_curves, report_html
from tinygraph.tools.gradflow.report import _quantity


class BidirectionalReport:
    """``directions``: the direction layers' names, forward first ("forward_lstm",
    "backward_lstm"); ``reports[direction]``: its GradientFlowReport, in its own
    processing order; ``reversed[direction]``: whether it ran from the last input
    step to the first; ``grads[direction][name]``: (T, batch, units) in INPUT order;
    ``names``: the quantities both reports have ("h", "c", "i", ...)."""

    def __init__(self, reports, reversed_, label=""):
        self.reports, self.reversed = dict(reports), dict(reversed_)
        self.directions = tuple(self.reports)
        self.label = label
        first = self.reports[self.directions[0]]
        self.T = first.T
        self.names = tuple(n for n in first.names
                           if all(n in r.names for r in self.reports.values()))
        self.grads = {d: {n: self._input_order(d, r.grads[n]) for n in r.names}
                      for d, r in self.reports.items()}

    def _input_order(self, direction, values):
        return values[::-1] if self.reversed[direction] else values

    def __getitem__(self, direction):
        if direction not in self.reports:
            raise KeyError(f"gradflow: no direction {direction!r}; this report has "
                           f"{list(self.directions)}")
        return self.reports[direction]

    def __repr__(self):
        return (f"<BidirectionalReport {self.label}: T={self.T}, {', '.join(self.directions)}; "
                f"t = input step>")

    def norms(self, name="h"):
        """{direction: the per-step norms of ``name``}, t = 0..T-1 the INPUT step (the
        backward direction's report reversed)."""
        if name not in self.names:
            raise KeyError(f"gradflow: no {name!r} in this report; it has {list(self.names)}")
        return {d: self._input_order(d, r.norms(name)) for d, r in self.reports.items()}

    def _column(self, direction):
        if self.reversed[direction]:
            return f"{direction} (ran from t={self.T - 1} down to 0)"
        return direction

    def table(self, names=None):
        """Text: a header per direction and quantity, then one row per INPUT step."""
        names = list(self.names if names is None else names)
        cols = [(f"|{_quantity(n)}| {d}", self.norms(n)[d]) for d in self.directions
                for n in names]
        widths = [max(len(head), 9) for head, _ in cols]
        lines = ["t = input step (0 = the first input); "
                 + "; ".join(self._column(d) for d in self.directions)]
        lines.append("   t  " + "  ".join(h.rjust(w) for (h, _), w in zip(cols, widths)))
        for t in range(self.T):
            lines.append(f"{t:4d}  " + "  ".join(f"{v[t]:.3e}".rjust(w)
                                                 for (_, v), w in zip(cols, widths)))
        return "\n".join(lines)

    def plot(self, path=None, name="h", title=None):
        """One curve per direction of ``norms(name)`` against the INPUT step, log scale;
        saved to ``path`` (returns it), else returns the Figure."""
        series = {self._column(d): np.asarray(v) for d, v in self.norms(name).items()}
        return plot_curves(series, path, title or f"gradient flow {self.label}".strip(),
                           ylabel=f"||{_quantity(name)}_t||", xlabel="input step t")

    def _repr_html_(self):
        """In a notebook: the plot and the table."""
        return report_html(self)
