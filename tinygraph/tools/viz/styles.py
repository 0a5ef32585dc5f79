"""How things look: node kinds and their styles, the legend, the heat scale of
values, and the label texts (dtype and shape, escaped user text)."""
import math

from tinygraph.ops.scan import Scan

GRAD_COLOR = "#cc0000"
HEAT = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c",
        "#bd0026", "#800026"]           # ColorBrewer YlOrRd: small -> large magnitude
STYLES = {
    "placeholder": dict(shape="invhouse", style="filled", fillcolor="#cfe2f3", color="#3d85c6"),
    "variable": dict(shape="cylinder", style="filled", fillcolor="#fce5cd", color="#e69138"),
    "constant": dict(shape="note", style="filled", fillcolor="#eeeeee", color="#999999",
                     fontsize="8"),
    "op": dict(shape="box", style="rounded,filled", fillcolor="#ffffff", color="#444444"),
    "fused": dict(shape="box", style="rounded,filled,bold", fillcolor="#b6d7a8",
                  color="#38761d", penwidth="2.5"),
    "loop": dict(shape="box3d", style="filled", fillcolor="#d9d2e9", color="#674ea7",
                 penwidth="1.5"),
    "gradient": dict(shape="box", style="rounded,filled", fillcolor="#f4cccc", color=GRAD_COLOR),
    "collapsed": dict(shape="folder", style="filled", fillcolor="#e8e8e8", color="#666666"),
    "steps": dict(shape="folder", style="filled,dashed", fillcolor="#f6f6f6", color="#666666"),
    # a value drawn elsewhere (a shared weight, a per-step input, a forward value the
    # backward pass reads), repeated small next to its use instead of a long edge
    "reference": dict(shape="box", style="rounded,dashed", fillcolor="#ffffff",
                      color="#8a8a8a", fontcolor="#555555", fontsize="8", height="0.2"),
}
LEGEND = {"placeholder": "placeholder", "variable": "variable", "constant": "constant",
          "op": "op", "fused": "fused op", "loop": "loop (scan)", "gradient": "gradient",
          "collapsed": "collapsed scope", "steps": "elided steps",
          "reference": "dashed: drawn elsewhere"}
EDGE_LEGEND = {
    "data": "solid arrow: data flows to the reader",
    "gate": "i, f, g, o (z, r, h) on an arrow: the LSTM gate (GRU gate) it carries",
    "grad": "dashed red arrow: from a gradient to its forward node",
    "control": "dotted arrow: runs after (control dependency)",
}
_DTYPES = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
           "int32": "i32", "int64": "i64", "uint8": "u8", "bool": "bool"}
# Drawn by their own name: sources, and identities (named handles, such as the states
# an unrolled RNN hands from step to step).
_NAMED = ("placeholder", "variable", "identity")
_STATES = ("h", "c", "output")


def kind(node):
    """The style of a node: a source kind, "loop", "fused" or "op"."""
    name = node.op.name
    if name in ("placeholder", "variable", "constant"):
        return name
    if isinstance(node.op, Scan):
        return "loop"
    return "fused" if node.op.fused else "op"


def head(node):
    """The first label line: the op's label, or the node's own name for named things;
    the last node of a named state's gradient says so (``dL/dh · add_n``)."""
    fwd = node.grad_of
    if fwd is not None and fwd.op.name == "identity" and fwd.name.rsplit("/", 1)[-1] in \
            _STATES:
        return f"dL/d{fwd.name.rsplit('/', 1)[-1]} · {node.op.label()}"
    return node.name.rsplit("/", 1)[-1] if node.op.name in _NAMED else node.op.label()


def text(s):
    """User text for a DOT label: backslashes are DOT escapes, so double them."""
    return str(s).replace("\\", "\\\\")


def aval_text(t):
    """A tensor's dtype and shape, compactly: ``f32[?,8]``."""
    dims = ",".join("?" if d is None else str(d) for d in t.shape)
    return f"{_DTYPES.get(t.dtype.name, t.dtype.name)}[{dims}]"


def outputs_text(node):
    outs = node.outputs
    if not outs:
        return ""
    texts = [aval_text(t) for t in outs]
    if len(set(texts)) == 1 and len(texts) > 1:
        return f"{len(texts)}× {texts[0]}"
    return " ".join(texts[:3]) + (" …" if len(texts) > 3 else "")


def heat(m, lo, hi):
    """(fill colour, font colour) for magnitude ``m`` on a log scale from lo to hi."""
    if not math.isfinite(m):
        return "#7030a0", "white"
    if m <= 0:
        i = 0
    else:
        f = 0.5 if hi <= lo else (math.log10(m) - lo) / (hi - lo)
        i = round(min(max(f, 0.0), 1.0) * (len(HEAT) - 1))
    return HEAT[i], ("white" if i >= 6 else "black")
