"""``Monitor``: gradient flow over training, one analysis every N training steps."""
import numpy as np

from tinygraph.tools.gradflow.analysis import Analysis
from tinygraph.tools.gradflow.curves import figure as _figure, finish as _finish
from tinygraph.tools.gradflow.plots import plot_heatmap
from tinygraph.tools.gradflow.report import _quantity


class Monitor:
    """Records ``analyze(loss, wrt)`` every ``every`` training steps.

    ``record(session, feed_dict, step)`` analyses with the weights as they are at
    that call when ``step % every == 0`` (and returns the report; None otherwise).
    The analysis graph is built at the first record and rerun after, so a record
    costs one analysis run and nothing else; feed every record the same shapes (a
    fixed probe batch). ``gates``: fetch the gate saturation
    (None: when the cell has gates); ``jacobians`` adds ``norms("jac")``."""

    def __init__(self, loss, wrt, every=1, *, gates=None, jacobians=False, names=None):
        if not isinstance(every, (int, np.integer)) or isinstance(every, bool) or every < 1:
            raise ValueError(f"gradflow.Monitor: every must be an integer >= 1, got {every!r}")
        self.loss, self.wrt, self.every = loss, wrt, int(every)
        self._options = dict(gates=gates, jacobians=jacobians, names=names)
        self._analysis = None
        self.steps, self.losses = [], []
        self._norms, self._saturation = {}, {}
        self._states = ()

    def __repr__(self):
        return f"<gradflow.Monitor every={self.every}: {len(self.steps)} records>"

    def record(self, session, feed_dict, step):
        if step % self.every:
            return None
        if self._analysis is None:
            self._analysis = Analysis(self.loss, self.wrt, feed_dict, session, **self._options)
        report = self._analysis.run(session, feed_dict)
        names = list(report.names) + (["jac"] if report.jacobians is not None else [])
        norms = {n: report.norms(n) for n in names}
        saturation = {g: report.saturation(g) for g in report.saturating} \
            if report.gate_values is not None else {}
        # all computed before anything is stored: a failing record leaves no half row
        self._states = tuple(self._analysis.target.names)
        self.steps.append(int(step))
        self.losses.append(float(report.loss_value))
        for n, v in norms.items():
            self._norms.setdefault(n, []).append(v)
        for g, v in saturation.items():
            self._saturation.setdefault(g, []).append(v)
        return report

    @property
    def names(self):
        return tuple(self._norms)

    def norms(self, name="h"):
        """(recorded steps, T): the per-time-step norms of ``name`` at each record."""
        if name not in self._norms:
            raise KeyError(f"gradflow.Monitor: no {name!r} recorded; it has "
                           f"{list(self._norms)} ({len(self.steps)} records)")
        return np.stack(self._norms[name])

    def saturation(self, gate):
        """(low, high), each (recorded steps, T)."""
        if gate not in self._saturation:
            raise ValueError(f"gradflow.Monitor: no saturation of gate {gate!r} recorded; the "
                             f"recorded gates are {list(self._saturation)}")
        rows = self._saturation[gate]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    def table(self, names=None):
        """Text: one row per record, starting with its step, then the loss and for each
        name the norm at the first (@0) and at the last time step (@T-1)."""
        names = list(self._norms if names is None else names)
        heads = [f"|{_label(n)}|@0".rjust(14) + f"|{_label(n)}|@T-1".rjust(16)
                 for n in names]
        lines = ["   step        loss" + "".join(heads)]
        for k, step in enumerate(self.steps):
            cols = "".join(f"{self._norms[n][k][0]:14.3e}{self._norms[n][k][-1]:16.3e}"
                           for n in names)
            lines.append(f"{step:7d}  {self.losses[k]:10.4g}" + cols)
        return "\n".join(lines)

    def heatmap(self, path=None, name="h", title=None):
        """log10 of ``norms(name)`` over (training step, time step), with a colour bar."""
        return plot_heatmap(self.steps, self.norms(name), path, name=name, title=title)

    def plot(self, path=None, names=None, title="gradient flow over training"):
        """Against the training step: the loss, and per name (default: the states)
        the norm at the first time step (what reaches the start of the sequence,
        solid) and at the last (dashed)."""
        names = list(self._states if names is None else names)
        fig, (top, bottom) = _figure(2, size=(7.2, 5.2))
        top.plot(self.steps, self.losses, color="k")
        top.set_ylabel("loss")
        top.set_title(title)
        for k, n in enumerate(names):
            v = np.where(self.norms(n) > 0, self.norms(n), np.nan)   # log scale: no zeros
            q = _label(n)
            bottom.plot(self.steps, v[:, 0], color=f"C{k}", label=f"||{q}|| at t=0")
            bottom.plot(self.steps, v[:, -1], color=f"C{k}", ls="--", label=f"||{q}|| at t=T-1")
        bottom.set_yscale("log")
        bottom.set_xlabel("training step")
        bottom.set_ylabel("gradient norm")
        bottom.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      frameon=False)
        for ax in (top, bottom):
            ax.grid(True, which="both", alpha=0.3)
        return _finish(fig, path)


def _label(name):
    """What a recorded name measures: dL/dh, dL/dz_f, or the Jacobian's sigma_max."""
    return "sigma_max(J)" if name == "jac" else _quantity(name)
