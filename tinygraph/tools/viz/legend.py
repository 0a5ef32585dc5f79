"""The legend: every node kind and edge style drawn, and, when values colour the
nodes, a colour bar with its units."""
import html

from .styles import EDGE_LEGEND, HEAT, LEGEND, STYLES, heat, text


def emit_legend(dot, drawing):
    """Declare the legend cluster for what ``drawing`` drew."""
    order = [k for k in LEGEND if k in drawing.kinds]
    edges = ["data"] + [k for k in ("gate", "grad", "control") if _drew(drawing, k)]
    if len(order) < 2 and not drawing.mags:
        return
    with dot.subgraph(name="cluster_legend") as c:
        c.attr(label="legend", style="rounded,dashed", color="#bbbbbb", fontcolor="#777777")
        for k in order:
            c.node(f"legend_{k}", LEGEND[k], **dict(STYLES[k], fontsize="8"))
        rows = "".join(f'<TR><TD ALIGN="LEFT">{html.escape(EDGE_LEGEND[k])}</TD></TR>'
                       for k in edges)
        c.node("legend_edges", f'<<TABLE BORDER="0" CELLSPACING="0">{rows}</TABLE>>',
               shape="plaintext", fontsize="8")
        if drawing.mags:
            _colour_bar(c, drawing)


def _drew(drawing, k):
    if k == "gate":
        return any(drawing.gate(t) for (_, _, kind), (_, t) in drawing.edges.items()
                   if kind == "data" and t is not None)
    return any(kind == k for (_, _, kind) in drawing.edges)


def _colour_bar(c, drawing):
    """The heat scale: its two ends as boxes (``legend_low``, ``legend_high``) and a
    bar of every colour between, on a log scale, named by the quantity shown."""
    lo, hi, name = drawing.lo, drawing.hi, drawing.value_name
    for key, m in (("low", 10 ** lo), ("high", 10 ** hi)):
        fill, font = heat(m, lo, hi)
        c.node(f"legend_{key}", f"{text(name)} {m:.2g}", shape="box", style="filled",
               fillcolor=fill, fontcolor=font, fontsize="8")
    cells = "".join(f'<TD BGCOLOR="{colour}" WIDTH="14" HEIGHT="10"></TD>' for colour in HEAT)
    label = (f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">'
             f'<TR><TD COLSPAN="{len(HEAT)}">{html.escape(str(name))}, log scale</TD></TR>'
             f'<TR>{cells}</TR><TR><TD COLSPAN="3" ALIGN="LEFT">{10 ** lo:.2g}</TD>'
             f'<TD COLSPAN="{len(HEAT) - 6}"></TD>'
             f'<TD COLSPAN="3" ALIGN="RIGHT">{10 ** hi:.2g}</TD></TR></TABLE>>')
    c.node("legend_colour_bar", label, shape="plaintext", fontsize="8")
    c.edge("legend_low", "legend_colour_bar", style="invis")
    c.edge("legend_colour_bar", "legend_high", style="invis")
