"""Declaring nodes, expanded bodies, group boxes, edges and the legend into a
``graphviz.Digraph``."""
import math

from .bodies import body_nodes, input_names
from .grouping import link_sources
from .styles import GRAD_COLOR, LEGEND, STYLES, aval_text, head, heat, kind, outputs_text, text

MAX_DEPTH = 4            # nested expansion limit (a body inside a body inside ...)


class Frame:
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


class Drawing:
    """Declares nodes and clusters into a Digraph and collects the edges, which are
    emitted last (a node belongs to the cluster where it is first mentioned)."""

    def __init__(self, *, show_shapes, links, mags, fetched, expand, bodies, value_name):
        self.show_shapes, self.mags = show_shapes, mags
        self.links = links        # False, "link" (from link_sources) or "all"
        self.link_from = set()
        self.fetched, self.expand, self.value_name = fetched, expand, value_name
        self.bodies = bodies
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
        k = kind(node)
        grad = node.grad_of is not None
        self.kinds.add(k)
        style = dict(STYLES[k])
        if grad:
            self.kinds.add("gradient")
            if k == "op":
                style = dict(STYLES["gradient"])
            elif k in ("fused", "loop"):
                style.update(fillcolor="#ea9999", color="#990000")
            else:
                style["color"] = GRAD_COLOR
        lines = [text(head(node))]
        if self.show_shapes and node.outputs:
            lines.append(outputs_text(node))
        m = self.mags.get(node.id)
        if m is not None:
            style["fillcolor"], style["fontcolor"] = heat(m, self.lo, self.hi)
            lines.append(f"{text(self.value_name)} {m:.2g}")
        if node.id in self.fetched:
            style["peripheries"] = "2"
        tip = node.name + (f" (gradient of {node.grad_of.name})" if grad else "")
        if self.bodies.of(node) is not None:
            tip += f"; expand=[{node.name!r}] opens its body"
        style["tooltip"] = text(tip)
        return "\\n".join(lines), style

    def declare(self, g, node, frame, depth=0):
        did = frame.ids[node.id]
        body = self.bodies.of(node)
        if body is not None and depth < MAX_DEPTH and self.expand(node):
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
        """A cluster: the body's inputs (``arg i`` or a loop's carry names, fed by the
        node's inputs in order), the body's nodes, and the node itself collecting the
        body's outputs."""
        did = frame.ids[node.id]
        inner = Frame(did + "_", frame)
        for t in body.inputs:
            inner.ids[t.node.id] = f"{inner.prefix}{t.node.id}"
        members = body_nodes(body, {t.node.id for t in body.inputs}, frame)
        for n in members:
            inner.ids[n.id] = f"{inner.prefix}{n.id}"
        self.link_from |= link_sources(members)
        k = kind(node)
        with g.subgraph(name=f"cluster_{did}") as c:
            title = node.op.label()
            if body.name and body.name not in title:
                title += f" · {body.name}"
            c.attr(label=text(title), style="rounded,filled,bold",
                   fillcolor="#f3f0fa" if k == "loop" else "#eef6ea",
                   color=STYLES[k]["color"], fontcolor=STYLES[k]["color"])
            for i, (t, name) in enumerate(zip(body.inputs, input_names(node, body))):
                aid = inner.ids[t.node.id]
                lines = [text(name)] + ([aval_text(t)] if self.show_shapes else [])
                c.node(aid, "\\n".join(lines), **STYLES["placeholder"],
                       tooltip=text(t.node.name))
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
        label = "\\n".join([text(h) for h in group.head] + [f"{len(members)} nodes"])
        g.node(group.key, label, **style,
               tooltip=text(", ".join(n.name for n in members[:20]) +
                            (" …" if len(members) > 20 else "")))
        for n in members:
            self.input_edges(n, group.key, frame)
            self.link(n, group.key, frame)

    def emit_edges(self, dot, edge_labels):
        for (src, dst, k), (count, t) in self.edges.items():
            attrs = {}
            if k == "control":
                attrs = dict(style="dotted", arrowhead="odot", color="#888888")
            elif k == "grad":
                attrs = dict(style="dashed", color=GRAD_COLOR + "66", constraint="false",
                             arrowhead="empty", penwidth="0.7")
            elif k == "saved":
                attrs = dict(color="#99999980")
            if k in ("data", "saved") and edge_labels:
                label = aval_text(t) + (f":{t.index}" if len(t.node.outputs) > 1 else "")
                attrs["label"] = label + (f" ×{count}" if count > 1 else "")
                attrs["fontsize"] = "8"
            dot.edge(src, dst, **attrs)

    def emit_legend(self, dot):
        order = [k for k in LEGEND if k in self.kinds]
        if len(order) < 2 and not self.mags:
            return
        with dot.subgraph(name="cluster_legend") as c:
            c.attr(label="legend", style="rounded,dashed", color="#bbbbbb", fontcolor="#777777")
            for k in order:
                c.node(f"legend_{k}", LEGEND[k], **dict(STYLES[k], fontsize="8"))
            if self.mags:
                for name, m in (("low", 10 ** self.lo), ("high", 10 ** self.hi)):
                    fill, font = heat(m, self.lo, self.hi)
                    c.node(f"legend_{name}", f"{text(self.value_name)} {m:.2g}", shape="box",
                           style="filled", fillcolor=fill, fontcolor=font, fontsize="8")
