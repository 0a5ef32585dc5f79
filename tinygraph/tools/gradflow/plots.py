"""The pictures of the deeper analysis: Jacobian spectra over t, gate saturation over
t, and a monitor's heat map over (training step, time step). Each returns a
matplotlib Figure without ``path``, or writes ``path`` and returns it."""
import numpy as np

from tinygraph.tools.gradflow.curves import figure as _figure, finish as _finish


def _time_axis(ax, T):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_xlabel("time step t (processing order)")
    ax.grid(True, which="both", alpha=0.3)


def plot_spectra(reports, path=None, title="state Jacobian spectrum per step"):
    """Per report (``reports``: label -> report made with ``jacobians=True``): the
    largest (solid) and smallest (dashed) singular value of J_t against t, mean over
    the batch, log scale; the line at 1 separates shrinking from growing."""
    fig, (ax,) = _figure()
    for k, (label, report) in enumerate(reports.items()):
        s = report.spectra()                           # (T, B, n), descending
        colour = f"C{k}"
        t = np.arange(report.T)
        ax.plot(t, s[:, :, 0].mean(axis=1), color=colour, label=f"{label}: largest")
        ax.plot(t, np.maximum(s[:, :, -1].mean(axis=1), 1e-300), color=colour, ls="--",
                label=f"{label}: smallest")
        _time_axis(ax, report.T)
    ax.axhline(1.0, color="0.4", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("singular value of J_t")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _finish(fig, path)


def plot_saturation(report, path=None, title=None):
    """One panel per gate of a report made with ``gates=True``: the fraction of gate
    values below 0.1 (left-saturated) and above 0.9 (right-saturated) against t."""
    gates = list(report.saturating)
    fig, axes = _figure(len(gates), size=(7.2, 1.9 * len(gates) + 0.6))
    for ax, gate in zip(axes, gates):
        low, high = report.saturation(gate)
        t = np.arange(report.T)
        ax.plot(t, low, color="C0", label="< 0.1 (closed)")
        ax.plot(t, high, color="C3", label="> 0.9 (open)")
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel(f"gate {gate}\nfraction")
        _time_axis(ax, report.T)
    for ax in axes[:-1]:                 # one time axis label, under the last panel
        ax.set_xlabel("")
    axes[0].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[0].set_title(title or f"gate saturation {report.label}".strip())
    return _finish(fig, path)


def plot_heatmap(steps, norms, path=None, name="h", title=None):
    """log10 of ``norms`` (recorded training steps x time steps) as an image with a
    colour bar in its units; zeros are drawn blank."""
    fig, (ax,) = _figure(size=(7.2, 4.0))
    with np.errstate(divide="ignore"):
        logs = np.where(norms > 0, np.log10(np.where(norms > 0, norms, 1.0)), np.nan)
    T = norms.shape[1]
    im = ax.imshow(logs, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                   extent=(-0.5, T - 0.5, -0.5, len(steps) - 0.5))
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int))
    ax.set_yticks(ticks, [str(steps[i]) for i in ticks])
    ax.set_ylabel("training step")
    ax.set_xlabel("time step t (processing order)")
    quantity = "largest singular value of J_t" if name == "jac" else f"||dL/d{name}_t||"
    fig.colorbar(im, ax=ax, label=f"log10 {quantity}")
    ax.set_title(title or f"gradient flow over training: log10 {quantity}")
    return _finish(fig, path)
