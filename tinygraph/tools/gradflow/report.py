"""The result of one analysis: per-step gradients, their norms, table, plots."""
import numpy as np

from tinygraph.autodiff import gradients
from tinygraph.ir.graph import topo_nodes
from tinygraph.runtime.session import Session
from tinygraph.tools import viz
from tinygraph.tools.gradflow.cells import GATES
from tinygraph.tools.gradflow.curves import PLOT_HINT, compare_series, plot_curves, report_html  # noqa: F401
from tinygraph.tools.gradflow.views import JacobianViews


class GradientFlowReport(JacobianViews):
    """Per-step gradients of one analysis. ``grads[name]`` is the (T, batch, units)
    array for ``name`` in ``names`` (the states: "h", "c" or the cell's state names;
    the gates at their pre-activations: "i", "f", "g", "o" for an LSTM, "z", "r", "hh"
    for a GRU); ``loss_value`` is the loss at the analysed point;
    ``jacobians`` (T, B, n, n) and ``gate_values`` ({gate: (T, B, U)}) when asked for
    (views.py)."""

    def __init__(self, grads, loss_value, *, kind, label="", loss=None, feed_dict=None,
                 session=None, jacobians=None, gate_values=None, saturating=()):
        self.grads = grads
        self.names = tuple(grads)
        self.loss_value = loss_value
        self.kind = kind                  # "unrolled", "loop" or "tensors"
        self.label = label
        self.T = len(next(iter(grads.values())))
        self._loss, self._feed, self._session = loss, feed_dict, session
        self.jacobians, self.saturating = jacobians, tuple(saturating)
        self.gate_values = None if gate_values is None else {
            k: gate_values[k] for k in self.saturating if k in gate_values}

    def __repr__(self):
        return (f"<GradientFlowReport {self.label or self.kind}: T={self.T}, "
                f"{', '.join(self.names)}>")

    def norms(self, name="h"):
        """Frobenius norm of the gradient at each step, t = 0..T-1 in processing order;
        ``"jac"``: the largest singular value of J_t (mean over the batch)."""
        if name == "jac":
            return self._jac_norms()
        if name not in self.grads:
            raise KeyError(f"gradflow: no {name!r} in this report; it has {list(self.names)}")
        g = self.grads[name]
        return np.sqrt((g.astype(np.float64) ** 2).reshape(self.T, -1).sum(axis=1))

    def table(self, names=None):
        """Text: a header, then one row per step t with the norm of each quantity."""
        names = list(self.names if names is None else names)
        cols = {n: self.norms(n) for n in names}
        heads = {n: f"|{_quantity(n)}|" for n in names}
        widths = {n: max(len(heads[n]), 9) for n in names}
        lines = ["   t  " + "  ".join(heads[n].rjust(widths[n]) for n in names)]
        for t in range(self.T):
            lines.append(f"{t:4d}  " + "  ".join(f"{cols[n][t]:.3e}".rjust(widths[n])
                                                 for n in names))
        return "\n".join(lines)

    def plot(self, path=None, names=None, title=None):
        """Curves of the per-step norms against t on a log scale, saved to ``path``
        (any format matplotlib writes: .png, .svg, .pdf; returns the path), or, without
        a path, returned as a matplotlib Figure (a notebook shows it)."""
        names = list(self.names if names is None else names)
        series = {_quantity(n): self.norms(n) for n in names}
        return plot_curves(series, path, title or f"gradient flow {self.label}".strip())

    def _repr_html_(self):
        """In a notebook: the plot and the table."""
        return report_html(self)

    def to_dot(self, **kw):
        """The loss's forward graph (``tg.viz.to_dot``) with every node coloured by
        the mean |dL/dx| of its output: where the gradient is large, where it dies.
        ``kw`` goes to ``to_dot`` (e.g. ``max_steps``, ``expand``)."""
        nodes = [n for n in topo_nodes([self._loss]) if not n.op.is_constant]
        xs = [t for n in nodes for t in n.outputs if t.dtype.kind == "f"]
        gs = gradients(self._loss, xs)
        pairs = [(x, g) for x, g in zip(xs, gs) if g is not None]
        # Unfused: these are gradients w.r.t. inner tensors, which a fused op would hide.
        backend = self._session.backend.name if self._session is not None else "numpy"
        vals = Session(backend, optimize=False).run([g for _, g in pairs], self._feed)
        kw.setdefault("value_name", "|dL/dx|")
        kw.setdefault("title", f"gradient magnitude mean |dL/dx| {self.label}".strip())
        return viz.to_dot(self._loss, values={x: v for (x, _), v in zip(pairs, vals)}, **kw)


def _quantity(name):
    """dL/dh for a state, dL/dz_i (dL/dz_hh) for a gate (its pre-activation)."""
    return f"dL/dz_{name}" if name in GATES else f"dL/d{name}"


def plot_compare(reports, path=None, name="h", title=None, relative=False):
    """One curve per report (``reports``: dict label -> GradientFlowReport) of
    ``norms(name)`` against t, log scale; e.g. LSTM vs SimpleRNN. ``relative``
    divides each curve by its last step (the share of the gradient at the output
    that reaches step t). Saved to ``path`` (returns it), else returns the Figure."""
    series = compare_series(reports, name, relative)
    ylabel = f"||dL/d{name}_t|| / ||dL/d{name}_T-1||" if relative else f"||dL/d{name}_t||"
    return plot_curves(series, path, title or f"||dL/d{name}_t|| per time step", ylabel=ylabel)
