"""Pictures of graphs: Graphviz DOT (``to_dot``, ``save_dot``, ``render``) and a
networkx view (``to_networkx``).

Pictures read the graph and nothing else:

- name scopes become nested clusters: a layer holding one cluster per ``step_<t>``;
- gradient nodes (``node.grad_of`` set) sit under ``gradients/<forward scope>``, in
  their own colour; a dashed link runs from each forward node's gradient to it, and
  forward values read by the backward pass are drawn as lighter edges;
- an op with a ``body`` (a fused op, ``op.fused``, or the loop op ``scan``) is one box,
  opened into a cluster holding its body when named in ``expand``;
- big graphs shrink: ``collapse`` scopes into one box each, keep the first and last
  of ``max_steps`` time steps, or let ``max_nodes`` collapse the deepest scopes.

``to_dot`` needs only the ``graphviz`` Python package; ``render`` also needs the
Graphviz ``dot`` program, and writes the ``.dot`` text first so that a missing
``dot`` still leaves something to look at. ``to_dot_source`` (or ``str(digraph)``)
is the DOT text.
"""
import math
import os
import re
import shutil
import warnings

import numpy as np

from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor, topo_nodes

FORMATS = ("svg", "png", "pdf")
GRAD_COLOR = "#cc0000"
_STEP = re.compile(r"step_(\d+)")
_DTYPES = {"float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16",
           "int32": "i32", "int64": "i64", "uint8": "u8", "bool": "bool"}
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
}
_LEGEND = {"placeholder": "placeholder", "variable": "variable", "constant": "constant",
           "op": "op", "fused": "fused op", "loop": "loop (scan)", "gradient": "gradient",
           "collapsed": "collapsed scope", "steps": "elided steps"}
_MAX_DEPTH = 4            # nested expansion limit (a body inside a body inside ...)


# --------------------------------------------------------------------------- helpers

def _roots(fetches):
    roots = []
    for leaf in nest.flatten(fetches):
        if leaf is None:
            continue
        if not isinstance(leaf, (Tensor, Node)):
            raise TypeError(f"viz: fetches must be Tensors or Nodes (or nests of them), "
                            f"got {type(leaf).__name__}")
        roots.append(leaf)
    if not roots:
        raise ValueError("viz: nothing to draw (no Tensors or Nodes in fetches)")
    return roots


def _as_list(x):
    if x is None or x is False:
        return []
    return [x] if isinstance(x, (str, Tensor, Node)) else list(x)


def _text(s):
    """User text for a DOT label: backslashes are DOT escapes, so double them."""
    return str(s).replace("\\", "\\\\")


def aval_text(t):
    """A tensor's dtype and shape, compactly: ``f32[?,8]``."""
    dims = ",".join("?" if d is None else str(d) for d in t.shape)
    return f"{_DTYPES.get(t.dtype.name, t.dtype.name)}[{dims}]"


def _outputs_text(node):
    outs = node.outputs
    if not outs:
        return ""
    texts = [aval_text(t) for t in outs]
    if len(set(texts)) == 1 and len(texts) > 1:
        return f"{len(texts)}× {texts[0]}"
    return " ".join(texts[:3]) + (" …" if len(texts) > 3 else "")


def _kind(node):
    name = node.op.name
    if name in ("placeholder", "variable", "constant"):
        return name
    if name == "scan":
        return "loop"
    return "fused" if getattr(node.op, "fused", False) else "op"


_decompositions = {}


def _body(node):
    """What an expanded box shows: a loop's body, or a fused op's decomposition
    (its math in primitive ops, traced once on placeholders shaped like its inputs)."""
    body = getattr(node.op, "body", None)
    if hasattr(body, "inputs") and hasattr(body, "outputs"):
        return body
    if not node.op.fused:
        return None
    if node.id not in _decompositions:
        from tinygraph.autodiff import decompose
        from tinygraph.ir.function import trace
        from tinygraph.ir.graph import name_scope
        specs = [(t.shape, t.dtype, f"arg{i}") for i, t in enumerate(node.inputs)]
        with node.graph.as_default(), name_scope(node.op.name):
            fn, _ = trace(lambda *args: decompose(node.op, args), specs,
                          name=f"{node.op.name} decomposition")
        _decompositions[node.id] = fn
    return _decompositions[node.id]


def _join(*parts):
    return "/".join(p for p in parts if p)


def _parts(scope):
    return scope.split("/") if scope else []


def _own_scope(node):
    """The node's scope; for a Variable from the store (built at top level under its
    full name, like ``lstm/kernel``), the prefix of its name."""
    return node.scope or node.name.rpartition("/")[0]


def _picture_scopes(nodes):
    """Node id -> the scope it is drawn in. A gradient node goes under
    ``<its own scope>/gradients/<picture scope of its forward node>``."""
    memo = {}
    for n in nodes:
        chain, m = [], n
        while m.grad_of is not None and m.id not in memo:
            chain.append(m)
            m = m.grad_of
        base = memo.get(m.id, _own_scope(m))
        for c in reversed(chain):
            base = memo[c.id] = _join(_own_scope(c), "gradients", base)
        memo.setdefault(n.id, base)
    return memo


def _step_of(scope):
    """(parent scope, t) for a scope inside ``.../step_<t>``, else None."""
    parts = _parts(scope)
    for i, part in enumerate(parts):
        m = _STEP.fullmatch(part)
        if m:
            return "/".join(parts[:i]), int(m.group(1))
    return None


def _link_sources(nodes):
    """The gradient nodes that stand for "the gradient of F": per forward node F, the
    last node of F's VJP that feeds no other node of that VJP."""
    inner = set()
    for n in nodes:
        for t in n.inputs:
            if n.grad_of is not None and t.node.grad_of is n.grad_of:
                inner.add(t.node.id)
    last = {}
    for n in sorted(nodes, key=lambda n: n.id):
        if n.grad_of is not None and n.id not in inner:
            last[n.grad_of.id] = n.id
    return set(last.values())


def _body_nodes(body, stop, outer):
    """The nodes of ``body`` (reached from its outputs), not crossing ``stop`` ids or
    nodes the enclosing picture already draws."""
    seen, found = set(stop), []
    stack = [t.node for t in body.outputs]
    while stack:
        n = stack.pop()
        if n.id in seen or outer.find(n) is not None:
            continue
        seen.add(n.id)
        found.append(n)
        stack.extend(t.node for t in n.inputs)
        stack.extend(n.control_inputs)
    return sorted(found, key=lambda n: n.id)


# --------------------------------------------------------------------------- grouping

class _Group:
    """Several nodes drawn as one box: a collapsed scope, or the elided middle steps."""

    def __init__(self, key, region, kind, head):
        self.key = key            # DOT id
        self.region = region      # scope parts the box stands for
        self.kind = kind          # "collapsed" or "steps"
        self.head = head          # first label lines
        self.members = {}         # node id -> Node

    @property
    def scope(self):              # the cluster the box sits in
        return "/".join(self.region[:-1])


def _group_nodes(nodes, scopes, collapse, max_steps, max_nodes):
    """Decide which nodes are drawn inside a group box. Returns (owner, note):
    owner maps node id -> _Group; note says what max_nodes did (or None)."""
    owner, groups = {}, {}

    def put(node, region, kind, head):
        key = re.sub(r'[:"\\]', "_", f"{kind} {'/'.join(region)}")
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key, region, kind, head)
        old = owner.get(node.id)
        if old is not None:
            del old.members[node.id]
        group.members[node.id] = node
        owner[node.id] = group

    for p in sorted({_text(p).strip("/") for p in _as_list(collapse)},
                    key=lambda p: (p.count("/"), p)):
        if not p:
            raise ValueError("to_dot: collapse needs scope prefixes, got an empty one")
        hits = [n for n in nodes if n.id not in owner and
                (scopes[n.id] == p or scopes[n.id].startswith(p + "/"))]
        if not hits:
            warnings.warn(f"to_dot: collapse={p!r} matches no scope in the picture", stacklevel=3)
        for n in hits:
            put(n, p.split("/"), "collapsed", [p.split("/")[-1]])

    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"to_dot: max_steps must be a positive int, got {max_steps!r}")
        found = {}
        for n in nodes:
            hit = None if n.id in owner else _step_of(scopes[n.id])
            if hit:
                found.setdefault(hit[0], set()).add(hit[1])
        hidden = {}
        for parent, ts in found.items():
            ts = sorted(ts)
            if len(ts) > max_steps:
                head, tail = (max_steps + 1) // 2, max_steps // 2
                hidden[parent] = ts[head:len(ts) - tail]
        for n in nodes:
            hit = None if n.id in owner else _step_of(scopes[n.id])
            if hit and hit[1] in hidden.get(hit[0], ()):
                mid = hidden[hit[0]]
                put(n, _parts(hit[0]) + ["step_*"], "steps",
                    [f"… {len(mid)} steps …", f"step_{mid[0]} – step_{mid[-1]}"])

    note = None
    if max_nodes is not None:
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
            raise ValueError(f"to_dot: max_nodes must be a positive int, got {max_nodes!r}")

        def region(n):
            g = owner.get(n.id)
            return (g.region, True) if g is not None else (_parts(scopes[n.id]), False)

        def count():
            return sum(n.id not in owner for n in nodes) + len({id(g) for g in owner.values()})

        d = max(len(region(n)[0]) for n in nodes)
        while count() > max_nodes and d >= 1:
            for n in nodes:
                parts, boxed = region(n)
                if len(parts) > d or (len(parts) == d and not boxed):
                    put(n, parts[:d], "collapsed", [parts[d - 1]])
            note = f"scopes at depth ≥ {d} collapsed to fit max_nodes={max_nodes}"
            d -= 1
        if note and count() > max_nodes:
            note += f" ({count()} boxes remain)"
    return owner, note


# --------------------------------------------------------------------------- values

def _magnitudes(values, fetches, nodes):
    """Node id -> mean |x| of the given values."""
    if values is None:
        return {}
    if isinstance(values, dict) and not (isinstance(fetches, dict) and set(values) == set(fetches)):
        by_name = {t.name: t for n in nodes for t in n.outputs}
        pairs = []
        for k, v in values.items():
            if isinstance(k, str):
                if k not in by_name:
                    raise ValueError(f"to_dot: values names {k!r}, which is not in the picture")
                k = by_name[k]
            elif not isinstance(k, (Tensor, Node)):
                raise TypeError(f"to_dot: values keys must be Tensors, Nodes or tensor names, "
                                f"got {type(k).__name__}")
            pairs.append((k, v))
    else:
        keys, vals = nest.flatten(fetches), nest.flatten(values)
        if len(keys) != len(vals):
            raise ValueError(f"to_dot: values must be a dict Tensor -> array or the result of "
                             f"running the fetches ({len(keys)} leaves), got {len(vals)} leaves")
        pairs = list(zip(keys, vals))
    mags = {}
    for k, v in pairs:
        if k is None or v is None:
            continue
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        m = float(np.mean(np.abs(a))) if a.size else 0.0
        nid = k.id if isinstance(k, Node) else k.node.id
        mags[nid] = m if nid not in mags or not m <= mags[nid] else mags[nid]
    return mags


def _heat(m, lo, hi):
    """(fill colour, font colour) for magnitude ``m`` on a log scale from lo to hi."""
    if not math.isfinite(m):
        return "#7030a0", "white"
    if m <= 0:
        i = 0
    else:
        f = 0.5 if hi <= lo else (math.log10(m) - lo) / (hi - lo)
        i = round(min(max(f, 0.0), 1.0) * (len(HEAT) - 1))
    return HEAT[i], ("white" if i >= 6 else "black")


# --------------------------------------------------------------------------- drawing

class _Frame:
    """Node id -> DOT id, for the top picture or one expanded body (which also sees
    the frames around it)."""

    def __init__(self, prefix, parent=None):
        self.prefix, self.parent, self.ids = prefix, parent, {}

    def find(self, node):
        frame = self
        while frame is not None:
            if node.id in frame.ids:
                return frame.ids[node.id]
            frame = frame.parent
        return None


def _data_kind(t, consumer):
    """"saved" for a forward value read by a gradient node (drawn lighter), else "data"."""
    return "saved" if consumer.grad_of is not None and t.node.grad_of is None else "data"


class _Drawing:
    """Declares nodes and clusters into a Digraph and collects the edges, which are
    emitted last (a node belongs to the cluster where it is first mentioned)."""

    def __init__(self, *, show_shapes, links, mags, fetched, expand, value_name):
        self.show_shapes, self.mags = show_shapes, mags
        self.links = links        # False, "link" (from _link_sources) or "all"
        self.link_from = set()
        self.fetched, self.expand, self.value_name = fetched, expand, value_name
        self.edges = {}           # (src, dst, kind) -> [count, text], in first-seen order
        self.kinds = set()
        logs = [math.log10(m) for m in mags.values() if m > 0 and math.isfinite(m)]
        self.lo, self.hi = (min(logs), max(logs)) if logs else (0.0, 0.0)

    def edge(self, src, dst, kind, tensor=None):
        if src is None or dst is None or src == dst:
            return
        entry = self.edges.setdefault((src, dst, kind), [0, tensor])
        entry[0] += 1

    def look(self, node):
        """(label, attrs) of one node."""
        kind = _kind(node)
        grad = node.grad_of is not None
        self.kinds.add(kind)
        style = dict(STYLES[kind])
        if grad:
            self.kinds.add("gradient")
            if kind == "op":
                style = dict(STYLES["gradient"])
            elif kind in ("fused", "loop"):
                style.update(fillcolor="#ea9999", color="#990000")
            else:
                style["color"] = GRAD_COLOR
        if kind in ("placeholder", "variable"):
            head = node.name.rsplit("/", 1)[-1]
        else:
            head = node.op.label()
        lines = [_text(head)]
        if self.show_shapes and node.outputs:
            lines.append(_outputs_text(node))
        m = self.mags.get(node.id)
        if m is not None:
            style["fillcolor"], style["fontcolor"] = _heat(m, self.lo, self.hi)
            lines.append(f"{_text(self.value_name)} {m:.2g}")
        if node.id in self.fetched:
            style["peripheries"] = "2"
        tip = node.name + (f" (gradient of {node.grad_of.name})" if grad else "")
        if _body(node) is not None:
            tip += f"; expand=[{node.name!r}] opens its body"
        style["tooltip"] = _text(tip)
        return "\\n".join(lines), style

    def declare(self, g, node, frame, depth=0):
        did = frame.ids[node.id]
        body = _body(node)
        if body is not None and depth < _MAX_DEPTH and self.expand(node):
            self.declare_expanded(g, node, body, frame, depth)
        else:
            label, attrs = self.look(node)
            g.node(did, label, **attrs)
            self.input_edges(node, did, frame)
        self.link(node, did, frame)

    def input_edges(self, node, did, frame):
        for t in node.inputs:
            self.edge(frame.find(t.node), did, _data_kind(t, node), t)
        for c in node.control_inputs:
            self.edge(frame.find(c), did, "control")

    def link(self, node, did, frame):
        if node.grad_of is not None and (self.links == "all" or
                                          self.links and node.id in self.link_from):
            self.edge(did, frame.find(node.grad_of), "grad")

    def declare_expanded(self, g, node, body, frame, depth):
        """A cluster: the body's inputs (``arg i``, fed by the node's inputs in order),
        the body's nodes, and the node itself collecting the body's outputs."""
        did = frame.ids[node.id]
        inner = _Frame(did + "_", frame)
        stop = {t.node.id for t in body.inputs}
        for t in body.inputs:
            inner.ids[t.node.id] = f"{inner.prefix}{t.node.id}"
        members = _body_nodes(body, stop, frame)
        for n in members:
            inner.ids[n.id] = f"{inner.prefix}{n.id}"
        self.link_from |= _link_sources(members)
        kind = _kind(node)
        with g.subgraph(name=f"cluster_{did}") as c:
            title = node.op.label()
            name = getattr(body, "name", None)
            if name and name not in title:
                title += f" · {name}"
            c.attr(label=_text(title), style="rounded,filled,bold",
                   fillcolor="#f3f0fa" if kind == "loop" else "#eef6ea",
                   color=STYLES[kind]["color"], fontcolor=STYLES[kind]["color"])
            for i, t in enumerate(body.inputs):
                aid = inner.ids[t.node.id]
                lines = [f"arg {i}"] + ([aval_text(t)] if self.show_shapes else [])
                c.node(aid, "\\n".join(lines), **STYLES["placeholder"],
                       tooltip=_text(t.node.name))
                if i < len(node.inputs):
                    t_in = node.inputs[i]
                    self.edge(frame.find(t_in.node), aid, _data_kind(t_in, node), t_in)
            for n in members:
                self.declare(c, n, inner, depth + 1)
            label, attrs = self.look(node)
            c.node(did, label, **attrs)
            for t in body.outputs:
                self.edge(inner.find(t.node), did, "data", t)
            for ctrl in node.control_inputs:
                self.edge(frame.find(ctrl), did, "control")

    def declare_group(self, g, group, frame):
        self.kinds.add(group.kind)
        style = dict(STYLES[group.kind])
        members = sorted(group.members.values(), key=lambda n: n.id)
        if all(n.grad_of is not None for n in members):
            style.update(fillcolor=STYLES["gradient"]["fillcolor"], color=GRAD_COLOR)
        label = "\\n".join([_text(h) for h in group.head] + [f"{len(members)} nodes"])
        g.node(group.key, label, **style,
               tooltip=_text(", ".join(n.name for n in members[:20]) +
                             (" …" if len(members) > 20 else "")))
        for n in members:
            self.input_edges(n, group.key, frame)
            self.link(n, group.key, frame)

    def emit_edges(self, dot, edge_labels):
        for (src, dst, kind), (count, t) in self.edges.items():
            attrs = {}
            if kind == "control":
                attrs = dict(style="dotted", arrowhead="odot", color="#888888")
            elif kind == "grad":
                attrs = dict(style="dashed", color=GRAD_COLOR + "66", constraint="false",
                             arrowhead="empty", penwidth="0.7")
            elif kind == "saved":
                attrs = dict(color="#99999980")
            if kind in ("data", "saved") and edge_labels:
                text = aval_text(t) + (f":{t.index}" if len(t.node.outputs) > 1 else "")
                attrs["label"] = text + (f" ×{count}" if count > 1 else "")
                attrs["fontsize"] = "8"
            dot.edge(src, dst, **attrs)

    def emit_legend(self, dot):
        order = [k for k in _LEGEND if k in self.kinds]
        if len(order) < 2 and not self.mags:
            return
        with dot.subgraph(name="cluster_legend") as c:
            c.attr(label="legend", style="rounded,dashed", color="#bbbbbb", fontcolor="#777777")
            for k in order:
                style = dict(STYLES[k], fontsize="8")
                c.node(f"legend_{k}", _LEGEND[k], **style)
            if self.mags:
                for name, m in (("low", 10 ** self.lo), ("high", 10 ** self.hi)):
                    fill, font = _heat(m, self.lo, self.hi)
                    c.node(f"legend_{name}", f"{_text(self.value_name)} {m:.2g}", shape="box",
                           style="filled", fillcolor=fill, fontcolor=font, fontsize="8")


def _expander(expand, nodes):
    """A predicate Node -> bool from the ``expand`` argument."""
    if expand is True:
        return lambda n: True
    names = {x.name if isinstance(x, Node) else x.node.name if isinstance(x, Tensor) else str(x)
             for x in _as_list(expand)}
    if names:
        known = set()
        for n in nodes:
            known.update((n.name, n.op.name))
            body = _body(n)
            if body is not None:
                for m in topo_nodes(body.outputs):
                    known.update((m.name, m.op.name))
        missing = sorted(names - known)
        if missing:
            warnings.warn(f"to_dot: expand={missing} matches no node or op in the picture",
                          stacklevel=3)
    return lambda n: n.name in names or n.op.name in names


def to_dot(fetches, *, show_shapes=True, group_scopes=True, grads=None, values=None,
           expand=(), collapse=(), max_nodes=None, max_steps=None, title=None,
           rankdir=None, edge_labels=False, legend=True, value_name="|x|"):
    """A ``graphviz.Digraph`` of everything ``fetches`` (a nest of Tensors/Nodes) reach.

    show_shapes:  add ``f32[4,8]``-style dtype and shape to each label.
    group_scopes: draw name scopes as nested clusters (one per ``step_<t>``).
    grads:        None or "link": for each forward node that is drawn, a dashed link
                  from its gradient (the last node of its VJP) to it; "all": from
                  every gradient node; False: no links (gradients still coloured).
    values:       dict Tensor (or Node, or tensor name) -> array, or the result of
                  ``Session.run(fetches)``: colours nodes by mean |x| on a log scale
                  and prints it (as ``value_name``) in the label.
    expand:       node names or op names (or True for all) of fused ops and loops
                  to draw as a cluster holding their body.
    collapse:     scope prefixes drawn as one box each (edges merged).
    max_steps:    per layer, keep the first and last of at most this many
                  ``step_<t>`` scopes; the middle becomes one "… N steps …" box.
    max_nodes:    if more boxes than this remain, collapse the deepest scopes, one
                  level at a time, and say so in the title.
    rankdir:      "TB" (top to bottom) or "LR"; default LR when there are time steps.
    edge_labels:  label data edges with the tensor's dtype and shape.
    legend:       add a legend of the node kinds drawn.
    Output is deterministic: nodes and edges in node-id order.
    """
    import graphviz
    if grads not in (None, True, False, "link", "all"):
        raise ValueError(f"to_dot: grads must be None, 'link', 'all' or False, got {grads!r}")
    roots = _roots(fetches)
    nodes = sorted(topo_nodes(roots), key=lambda n: n.id)
    scopes = _picture_scopes(nodes)
    owner, note = _group_nodes(nodes, scopes, collapse, max_steps, max_nodes)
    if rankdir is None:     # unrolled time steps read best left to right
        rankdir = "LR" if any(_step_of(s) for s in scopes.values()) else "TB"
    draw = _Drawing(show_shapes=show_shapes,
                    links="all" if grads == "all" else ("link" if grads is not False else False),
                    mags=_magnitudes(values, fetches, nodes),
                    fetched={(r if isinstance(r, Node) else r.node).id for r in roots},
                    expand=_expander(expand, nodes), value_name=value_name)

    draw.link_from = _link_sources(nodes)
    top = _Frame("n")
    items = {}                         # cluster scope -> [(sort id, node or group)]
    groups = {}
    for n in nodes:
        g = owner.get(n.id)
        top.ids[n.id] = g.key if g is not None else f"n{n.id}"
        if g is None:
            items.setdefault(scopes[n.id] if group_scopes else "", []).append((n.id, n))
        elif g.key not in groups:
            groups[g.key] = g
            items.setdefault(g.scope if group_scopes else "", []).append((n.id, g))
    first, children = {}, {}           # scope -> smallest id inside; scope -> child scopes
    for scope, entries in items.items():
        parts = _parts(scope)
        for i in range(len(parts) + 1):
            s = "/".join(parts[:i])
            first[s] = min(first.get(s, entries[0][0]), entries[0][0])
            if i:
                children.setdefault("/".join(parts[:i - 1]), set()).add(s)

    graph_attr = dict(rankdir=rankdir, newrank="true", fontname="Helvetica", fontsize="11",
                      nodesep="0.2", ranksep="0.3")
    label = "\\n".join(_text(t) for t in (title, note) if t)
    if label:
        graph_attr.update(label=label, labelloc="t", fontsize="14")
    dot = graphviz.Digraph("tinygraph", graph_attr=graph_attr,
                           node_attr=dict(fontname="Helvetica", fontsize="10", height="0.3",
                                          margin="0.08,0.03"),
                           edge_attr=dict(arrowsize="0.6", color="#555555", fontname="Helvetica"))

    def emit(g, scope, depth):
        entries = [(i, 0, x) for i, x in items.get(scope, ())]
        entries += [(first[c], 1, c) for c in children.get(scope, ())]
        # Declared in id order (reversed for LR, which then draws step_0 on top).
        entries.sort(key=lambda e: (e[0], e[1]), reverse=rankdir == "LR")
        for _, is_cluster, x in entries:
            if is_cluster:
                grad = "gradients" in _parts(x)
                fill = ("#fdf3f3" if grad else "#f5f5f5") if depth % 2 == 0 else "#ffffff"
                with g.subgraph(name=f"cluster_{x}") as c:
                    c.attr(label=_text(x.rsplit("/", 1)[-1]), style="rounded,filled",
                           fillcolor=fill, color="#e0a0a0" if grad else "#b0b0b0",
                           fontcolor="#555555", labeljust="l", fontsize="10")
                    emit(c, x, depth + 1)
            elif isinstance(x, Node):
                draw.declare(g, x, top)
            else:
                draw.declare_group(g, x, top)

    emit(dot, "", 0)
    if legend:
        draw.emit_legend(dot)
    draw.emit_edges(dot, edge_labels)
    return dot


def to_dot_source(fetches, **kw):
    """The DOT text of ``to_dot(fetches, **kw)``."""
    return to_dot(fetches, **kw).source


def _digraph(fetches, kw):
    import graphviz
    return fetches if isinstance(fetches, graphviz.Digraph) else to_dot(fetches, **kw)


def save_dot(fetches, path, **kw):
    """Write the DOT text (no ``dot`` program needed). ``fetches`` may also be a
    ``graphviz.Digraph``. Returns the path."""
    path = os.fspath(path)
    text = _digraph(fetches, kw).source
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _missing_dot(path, dot_path):
    return RuntimeError(
        f"Graphviz's `dot` program is missing (not found on PATH), so {path} was not "
        f"written; the DOT source is in {dot_path}. Install Graphviz: "
        "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
        "`conda install -c conda-forge graphviz`; then run "
        f"`dot -T{os.path.splitext(path)[1][1:]} {dot_path} -o {path}` or render again.")


def render(fetches, path, format=None, **kw):
    """Draw ``fetches`` (or a ``graphviz.Digraph``) to ``path`` as SVG, PNG or PDF.

    The format comes from ``format``, else from the path's suffix, else SVG (the
    suffix is added when missing). The DOT text is written first, next to it as
    ``<stem>.dot``; without Graphviz's ``dot`` a RuntimeError says how to install
    it. ``kw`` goes to ``to_dot``. Returns the written path."""
    import graphviz
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    ext = ext[1:].lower()
    if ext in FORMATS:
        if format is not None and format != ext:
            raise ValueError(f"render: path {path!r} ends in .{ext} but format={format!r}")
        fmt = ext
    else:
        fmt = format or "svg"
        stem, path = path, f"{path}.{fmt}"
    if fmt not in FORMATS:
        raise ValueError(f"render: format must be one of {FORMATS}, got {fmt!r}")
    digraph = _digraph(fetches, kw)
    dot_path = save_dot(digraph, stem + ".dot")
    if shutil.which("dot") is None:
        raise _missing_dot(path, dot_path)
    try:
        data = digraph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise _missing_dot(path, dot_path) from None
    except graphviz.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip()
        raise RuntimeError(f"render: `dot` failed on {dot_path}: {err}") from None
    with open(path, "wb") as f:
        f.write(data)
    return path


# --------------------------------------------------------------------------- networkx

def to_networkx(fetches):
    """A ``networkx.DiGraph`` with one node per graph Node that ``fetches`` reach.

    Node key: the node's name. Attributes: op (registered lower-case op name),
    shape (first output's shape, or None), dtype (str or None), name, scope, label,
    grad_of (forward node's name or None), fused (bool), id. Edges run input ->
    consumer with kind ("data" or "control"), index (first input position, None for
    control), indices (all positions, when a tensor is used twice) and output (the
    producer's output index). ``G.graph["fetches"]`` lists the fetched node keys.
    """
    import networkx as nx
    roots = _roots(fetches)
    nodes = topo_nodes(roots)
    g = nx.DiGraph()
    key = {}
    for n in nodes:
        k = n.name if n.name not in g else f"{n.name}#{n.id}"
        key[n.id] = k
        out = n.outputs[0] if n.outputs else None
        g.add_node(k, op=n.op.name, shape=out.shape if out is not None else None,
                   dtype=out.dtype.name if out is not None else None, name=n.name,
                   scope=n.scope, label=n.op.label(),
                   grad_of=n.grad_of.name if n.grad_of is not None else None,
                   fused=bool(getattr(n.op, "fused", False)), id=n.id)
    for n in nodes:
        v = key[n.id]
        for pos, t in enumerate(n.inputs):
            u = key[t.node.id]
            if g.has_edge(u, v) and g[u][v]["kind"] == "data":
                g[u][v]["indices"] += (pos,)
            else:
                g.add_edge(u, v, kind="data", index=pos, indices=(pos,), output=t.index)
        for c in n.control_inputs:
            if not g.has_edge(key[c.id], v):
                g.add_edge(key[c.id], v, kind="control", index=None, indices=(), output=None)
    g.graph["fetches"] = [key[(r if isinstance(r, Node) else r.node).id] for r in roots]
    return g
