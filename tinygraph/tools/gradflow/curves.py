"""How gradient-flow reports look: matplotlib curves (``plot_curves``), the series
of several reports side by side (``compare_series``), and a report as HTML for a
notebook (``report_html``). The rest of the package measures; this draws.

matplotlib is optional: it is imported when a plot is drawn."""
import html
import io

import numpy as np

PLOT_HINT = "pip install matplotlib  (in a checkout of tinygraph: pip install -e '.[plot]')"


def figure(rows=1, size=(7.2, 3.8)):
    """A matplotlib Figure and its ``rows`` axes (ImportError saying how to get matplotlib)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"gradflow plots need matplotlib, which is not installed: "
                          f"{PLOT_HINT}") from None
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(rows, 1, squeeze=False)[:, 0]


def finish(fig, path):
    """``fig`` saved to ``path`` (returns the path), or the Figure itself without one."""
    if path is None:
        return fig
    import matplotlib
    svg = str(path).lower().endswith(".svg")
    with matplotlib.rc_context({"svg.fonttype": "none"}):     # SVG text as text: small files
        fig.savefig(path, metadata={"Date": None} if svg else None)   # reproducible SVGs
    return path


def plot_curves(series, path, title, ylabel="gradient norm",
                xlabel="time step t (processing order)"):
    """Curves of ``series`` (label -> values over t) on a log scale. Values that are
    zero cannot be drawn on a log scale: the legend says which steps were left out.
    Saved to ``path`` (returns the path), or, without a path, returns the Figure."""
    fig, (ax,) = figure()
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for label, ys in series.items():
        ys = np.asarray(ys, dtype=np.float64)
        zero = [t for t in range(len(ys)) if not ys[t] > 0]
        if zero:
            label += f" (0 at t={_steps_text(zero)}: not drawn on a log scale)"
        ys = np.where(ys > 0, ys, np.nan)
        ax.plot(np.arange(len(ys)), ys, marker="." if len(ys) <= 60 else None, label=label)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return finish(fig, path)


def _steps_text(ts):
    return ", ".join(map(str, ts[:4])) + (" …" if len(ts) > 4 else "")


def compare_series(reports, name, relative=False):
    """label -> ``norms(name)`` of each report (divided by its last step's value when
    ``relative``: what share of the gradient reaching the output gets back to t).
    A report without ``name`` is named in the error, with what it has."""
    if not reports:
        raise ValueError("plot_compare: no reports to compare")
    missing = [label for label, r in reports.items() if name not in r.names]
    if missing:
        has = {label: list(reports[label].names) for label in missing}
        raise ValueError(f"plot_compare: {name!r} is not in the report(s) {missing} "
                         f"(they have {has}); pick a name every report has")
    series = {}
    for label, r in reports.items():
        ys = r.norms(name)
        series[label] = ys / ys[-1] if relative and ys[-1] > 0 else ys
    return series


def report_html(report):
    """A report for a notebook: its summary line, its ``plot()`` (inline SVG, when
    matplotlib is there) and its table."""
    try:
        figure = report.plot()
    except ImportError:
        figure = None
    parts = [f"<p><b>{html.escape(repr(report))}</b></p>"]
    if figure is not None:
        buf = io.StringIO()
        figure.savefig(buf, format="svg")
        svg = buf.getvalue()
        parts.append(svg[svg.index("<svg"):])
    else:
        parts.append(f"<p>(no plot: matplotlib is not installed; {html.escape(PLOT_HINT)})</p>")
    parts.append(f"<pre>{html.escape(report.table())}</pre>")
    return "\n".join(parts)
