"""Declaring nodes, expanded bodies, group boxes, edges and the legend into a
``graphviz.Digraph``."""
import math

from .bodies import body_nodes
from .grouping import link_sources, parts, step_of
from .legend import emit_legend
from .names import gate_names, input_names, short_name
from .styles import GRAD_COLOR, STYLES, aval_text, head, heat, kind, outputs_text, text

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
    """"saved" for a forward value read by a gradient node, else "data"."""
    return "saved" if consumer.grad_of is not None and t.node.grad_of is None else "data"


def consumers_of(nodes):
    """Node id -> the nodes reading it."""
    found = {}
    for n in nodes:
        for t in n.inputs:
            found.setdefault(t.node.id, []).append(n)
    return found


class Drawing:
    """Declares nodes and clusters into a Digraph and collects the edges, which are
    emitted last (a node belongs to the cluster where it is first mentioned)."""

    def __init__(self, *, show_shapes, links, mags, fetched, expand, bodies, value_name,
                 consumers=None, by_reference=frozenset(), alias=None):
        self.show_shapes, self.mags = show_shapes, mags
        self.consumers = consumers if consumers is not None else {}
        self.by_reference = by_reference    # node ids drawn as a reference at each use
        self.alias = alias or {}            # id of an undrawn no-op -> the tensor it passes on
        self.place = {}                     # DOT id -> picture scope it is drawn in
        self.refs = set()                   # DOT ids of the references drawn
        self.gates = {}
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

    def resolve(self, t):
        """The tensor drawn for ``t``: a no-op that is not drawn passes its input on."""
        while t.node.id in self.alias:
            t = self.alias[t.node.id]
        return t

    def gate(self, t):
        """The gate name (LSTM "i", "f", "g", "o"; GRU "z", "r", "h") that tensor ``t``
        carries, or None."""
        if t.node.op.name != "split":
            return None
        if t.node.id not in self.gates:
            self.gates[t.node.id] = gate_names(t.node, self.consumers)
        names = self.gates[t.node.id]
        return names[t.index] if names else None

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

    def declare(self, g, node, frame, depth=0, scope=None):
        did = frame.ids[node.id]
        if scope is not None:
            self.place[did] = scope
        body = self.bodies.of(node)
        if body is not None and depth < MAX_DEPTH and self.expand(node):
            self.declare_expanded(g, node, body, frame, depth)
        else:
            label, attrs = self.look(node)
            g.node(did, label, **attrs)
            self.input_edges(node, did, frame, g)
        self.link(node, did, frame)

    def input_edges(self, node, did, frame, g=None):
        """The edges into ``node``; an input drawn by reference becomes a small box
        beside it in ``g`` (a group box, ``g`` None, drops them)."""
        for pos, t in enumerate(node.inputs):
            t = self.resolve(t)
            saved = _data_kind(t, node) == "saved"
            if g is None and (saved or kind(t.node) == "constant"):
                continue           # a group box does not list the values it reads
            if g is not None and (saved or t.node.id in self.by_reference):
                self.reference(g, t, f"{did}_r{pos}", did)
                continue
            self.edge(frame.find(t.node), did, _data_kind(t, node), t)
        for c in node.control_inputs:
            self.edge(frame.find(c), did, "control")

    def reference(self, g, t, rid, did):
        """A small box naming ``t`` next to its reader ``did``."""
        k = "constant" if kind(t.node) == "constant" else "reference"
        self.kinds.add(k)
        label = text(head(t.node) if k == "constant" or t.node.op.name != "split"
                     else short_name(t))
        gate = self.gate(t)
        if gate:
            label += f" ({gate})"
        attrs = dict(STYLES[k], tooltip=text(f"{t.name}, drawn elsewhere" if k != "constant"
                                             else t.name))
        if self.show_shapes and k == "reference":
            label += "\\n" + aval_text(t)
        g.node(rid, label, **attrs)
        self.refs.add(rid)
        if did in self.place:
            self.place[rid] = self.place[did]
        self.edge(rid, did, "data", t)

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
        for reader, found in consumers_of(members).items():
            self.consumers.setdefault(reader, []).extend(found)
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
                    t_in = self.resolve(node.inputs[i])
                    self.edge(frame.find(t_in.node), aid, _data_kind(t_in, node), t_in)
            for n in members:
                self.declare(c, n, inner, depth + 1)
            label, attrs = self.look(node)
            c.node(did, label, **attrs)
            for t in body.outputs:
                self.edge(inner.find(t.node), did, "data", t)
            for ctrl in node.control_inputs:
                self.edge(frame.find(ctrl), did, "control")

    def declare_group(self, g, group, frame, unit=None):
        self.kinds.add(group.kind)
        style = dict(STYLES[group.kind])
        members = sorted(group.members.values(), key=lambda n: n.id)
        if all(n.grad_of is not None for n in members):
            style.update(fillcolor=STYLES["gradient"]["fillcolor"], color=GRAD_COLOR)
        label = "\\n".join([text(h) for h in group.head] + [f"{len(members)} nodes"])
        lift = "max_steps=None draws every step: " if group.kind == "steps" else ""
        g.node(group.key, label, **style,
               tooltip=text(lift + ", ".join(n.name for n in members[:20]) +
                            (" …" if len(members) > 20 else "")))
        if unit is not None:
            self.place[group.key] = unit
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
            gate = self.gate(t) if t is not None and k == "data" else None
            if gate:
                self.kinds.add("gate")
                attrs.update(label=gate, fontsize="9", fontcolor="#1f5fa8")
            if k in ("data", "saved") and edge_labels:
                label = aval_text(t) + (f":{t.index}" if len(t.node.outputs) > 1 else "")
                attrs["label"] = (f"{gate} " if gate else "") + label + \
                    (f" ×{count}" if count > 1 else "")
                attrs["fontsize"] = "8"
            dot.edge(src, dst, **attrs)
        self.emit_time_order(dot)

    def emit_time_order(self, dot):
        """Invisible edges from the last boxes of each time step to the first boxes of
        the next (the previous, for gradient steps), two ranks long so that the
        references just before a first box fit between: step clusters follow one
        another along the layout, never overlapping."""
        members = {}
        for did, scope in self.place.items():
            unit = step_of(scope)
            if unit is not None:
                members.setdefault(unit[0], {}).setdefault(unit[1], set()).add(did)
        inside_from, inside_to = set(), set()
        for (src, dst, k), _ in self.edges.items():
            if k != "grad" and self.place.get(src) is not None and \
                    self.place.get(src) == self.place.get(dst):     # links do not rank
                inside_from.add(src)
                if src not in self.refs:
                    inside_to.add(dst)
        for parent, steps in sorted(members.items()):
            order = sorted(steps, reverse="gradients" in parts(parent))
            for a, b in zip(order, order[1:]):
                for src in sorted(steps[a] - inside_from):
                    for dst in sorted(steps[b] - inside_to - self.refs):
                        dot.edge(src, dst, style="invis", minlen="2")

    def emit_legend(self, dot):
        emit_legend(dot, self)
