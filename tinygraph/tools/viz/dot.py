"""``to_dot``: the picture as a ``graphviz.Digraph``; ``save_dot`` and ``render``
write it (the DOT text first, so a missing ``dot`` program still leaves it)."""
import os
import shutil

import graphviz

from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor, topo_nodes

from .bodies import Bodies, expander
from .drawing import Drawing, Frame, consumers_of
from .grouping import group_nodes, link_sources, parts, picture_scopes, step_of
from .styles import text
from .values import magnitudes

FORMATS = ("svg", "png", "pdf")
MAX_STEPS = 6           # the default size budget: more time steps than this are elided
MAX_LINKS = 40          # by default, more gradient links than this keep the states' only
FAN_OUT = 3             # a value read in this many time steps is drawn at each use
INSTALL_DOT = ("Install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), "
               "`brew install graphviz` (macOS) or `conda install -c conda-forge graphviz`")


class Picture(graphviz.Digraph):
    """A ``graphviz.Digraph`` that, displayed in a notebook without Graphviz's ``dot``
    program, shows how to install it instead of raising."""

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound:
            hint = (f"This picture needs Graphviz's `dot` program, which is not on PATH. "
                    f"{INSTALL_DOT}; `.source` is the DOT text meanwhile.")
            return {"text/plain": hint, "text/html": f"<p><b>tinygraph.viz:</b> {hint}</p>"}


def roots_of(fetches):
    """The Tensors and Nodes in the nest ``fetches``."""
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


def to_dot(fetches, *, show_shapes=True, group_scopes=True, grads=None, values=None,
           expand=(), collapse=(), max_nodes=None, max_steps=MAX_STEPS, title=None,
           rankdir=None, edge_labels=False, legend=True, value_name="|x|"):
    """A ``graphviz.Digraph`` of everything ``fetches`` (a nest of Tensors/Nodes) reach.

    show_shapes:  add ``f32[4,8]``-style dtype and shape to each label.
    group_scopes: draw name scopes as nested clusters (one per ``step_<t>``).
    grads:        "link": for each forward node that is drawn, a dashed link from its
                  gradient (the last node of its VJP) to it; None (the default): the
                  same, but past ``MAX_LINKS`` links only those of the named states
                  (dL/dh_t -> h_t); "all": from every gradient node; False: no links
                  (gradients still coloured).
    values:       dict Tensor (or Node, or tensor name) -> array, or the result of
                  ``Session.run(fetches)``: colours nodes by mean |x| on a log scale
                  and prints it (as ``value_name``) in the label.
    expand:       node names or op names (or True for all) of fused ops and loops
                  to draw as a cluster holding their body.
    collapse:     scope prefixes drawn as one box each (edges merged).
    max_steps:    per layer, keep the first and last of at most this many
                  ``step_<t>`` scopes (default 6); the middle becomes one "… N steps …"
                  box; None draws every step.
    max_nodes:    if more boxes than this remain, collapse the deepest scopes, one
                  level at a time, and say so in the title.
    rankdir:      "TB" (top to bottom) or "LR"; default LR when there are time steps.
    edge_labels:  label data edges with the tensor's dtype and shape.
    legend:       add a legend of the node kinds drawn.
    Output is deterministic: nodes and edges in node-id order.

    For a person to read: time steps follow one another along the layout (gradient
    steps in reverse); constants, the forward values a gradient reads, and values
    read in several steps (shared weights, the per-step inputs) are drawn as small
    references beside each use; a ``sum_like`` that changes no static shape is not
    drawn; the LSTM gates are named on the ``split``'s edges.
    """
    if grads not in (None, True, False, "link", "all"):
        raise ValueError(f"to_dot: grads must be None, 'link', 'all' or False, got {grads!r}")
    roots = roots_of(fetches)
    fetched = {(r if isinstance(r, Node) else r.node).id for r in roots}
    nodes, scopes, consumers, alias, by_reference = _what_to_draw(roots, fetched)
    owner, note = group_nodes(nodes, scopes, collapse, max_steps, max_nodes)
    if rankdir is None:     # unrolled time steps read best left to right
        rankdir = "LR" if any(step_of(s) for s in scopes.values()) else "TB"
    bodies = Bodies()
    draw = Drawing(show_shapes=show_shapes,
                   links="all" if grads == "all" else ("link" if grads is not False else False),
                   mags=magnitudes(values, fetches, nodes),
                   fetched=fetched, expand=expander(expand, nodes, bodies), bodies=bodies,
                   value_name=value_name, consumers=consumers, by_reference=by_reference,
                   alias=alias)
    draw.link_from = gradient_links(grads, nodes)
    top = Frame("n")
    layout = _Layout(nodes, owner, scopes, group_scopes, top,
                     skip={n.id for n in nodes if n.id in by_reference and n.id not in owner
                           and n.op.name == "constant"})
    dot = _digraph(rankdir, "\\n".join(text(t) for t in (title, note) if t))
    layout.emit(dot, "", 0, draw, top, reverse=rankdir == "LR")
    if legend:
        draw.emit_legend(dot)
    draw.emit_edges(dot, edge_labels)
    return dot


def gradient_links(grads, nodes):
    """The gradient nodes linked to their forward node (see ``grads``)."""
    found = link_sources(nodes)
    if grads is None and len(found) > MAX_LINKS:     # long edges across the picture
        found = {n.id for n in nodes if n.id in found and n.grad_of.op.name == "identity"}
    return found


def _what_to_draw(roots, fetched):
    """(nodes in id order, their picture scopes, consumers, undrawn no-ops, ids drawn
    by reference)."""
    every = sorted(topo_nodes(roots), key=lambda n: n.id)
    consumers = consumers_of(every)
    alias = _no_ops(every, fetched)
    scopes = picture_scopes(every)
    by_reference = _references(every, scopes, consumers, fetched)
    return [n for n in every if n.id not in alias], scopes, consumers, alias, by_reference


def _no_ops(nodes, fetched):
    """Id of a ``sum_like`` whose input already has the static shape it sums to -> that
    input: such a node changes nothing in the picture, so it is not drawn."""
    return {n.id: n.inputs[0] for n in nodes
            if n.op.name == "sum_like" and n.id not in fetched
            and n.inputs[0].shape == n.outputs[0].shape}


def _references(nodes, scopes, consumers, fetched):
    """Ids drawn as a reference at each use: constants, and forward values read in
    ``FAN_OUT`` or more time steps from outside them (a shared weight, the sequence
    the steps slice)."""
    refs = set()
    for n in nodes:
        if n.id in fetched:
            continue
        if n.op.name == "constant":
            refs.add(n.id)
            continue
        if n.grad_of is not None or step_of(scopes[n.id]):
            continue
        steps = {scopes[c.id] for c in consumers.get(n.id, ())
                 if c.grad_of is None and step_of(scopes[c.id])}
        if len(steps) >= FAN_OUT:
            refs.add(n.id)
    return refs


def _digraph(rankdir, label):
    graph_attr = dict(rankdir=rankdir, fontname="Helvetica", fontsize="11",
                      nodesep="0.2", ranksep="0.3")
    if label:
        graph_attr.update(label=label, labelloc="t", fontsize="14")
    return Picture("tinygraph", graph_attr=graph_attr,
                            node_attr=dict(fontname="Helvetica", fontsize="10", height="0.3",
                                           margin="0.08,0.03"),
                            edge_attr=dict(arrowsize="0.6", color="#555555",
                                           fontname="Helvetica"))


class _Layout:
    """Which boxes (nodes and groups) sit in which cluster, and the clusters' nesting."""

    def __init__(self, nodes, owner, scopes, group_scopes, top, skip):
        self.items = {}                    # cluster scope -> [(sort id, node or group)]
        self.scopes = scopes               # node id -> picture scope (time order uses it)
        seen = set()
        for n in nodes:
            g = owner.get(n.id)
            if n.id in skip:               # drawn at each use instead
                continue
            top.ids[n.id] = g.key if g is not None else f"n{n.id}"
            if g is None:
                self.items.setdefault(scopes[n.id] if group_scopes else "", []).append((n.id, n))
            elif g.key not in seen:
                seen.add(g.key)
                self.items.setdefault(g.scope if group_scopes else "", []).append((n.id, g))
        self.first, self.children = {}, {}   # scope -> smallest id inside; -> child scopes
        for scope, entries in self.items.items():
            ps = parts(scope)
            for i in range(len(ps) + 1):
                s = "/".join(ps[:i])
                self.first[s] = min(self.first.get(s, entries[0][0]), entries[0][0])
                if i:
                    self.children.setdefault("/".join(ps[:i - 1]), set()).add(s)

    def emit(self, g, scope, depth, draw, top, reverse):
        """Declare the boxes and sub-clusters of ``scope``, in id order (reversed for
        LR, which then draws step_0 on top)."""
        entries = [(i, 0, x) for i, x in self.items.get(scope, ())]
        entries += [(self.first[c], 1, c) for c in self.children.get(scope, ())]
        entries.sort(key=lambda e: (e[0], e[1]), reverse=reverse)
        for _, is_cluster, x in entries:
            if is_cluster:
                grad = "gradients" in parts(x)
                fill = ("#fdf3f3" if grad else "#f5f5f5") if depth % 2 == 0 else "#ffffff"
                with g.subgraph(name=f"cluster_{x}") as c:
                    c.attr(label=text(x.rsplit("/", 1)[-1]), style="rounded,filled",
                           fillcolor=fill, color="#e0a0a0" if grad else "#b0b0b0",
                           fontcolor="#555555", labeljust="l", fontsize="10")
                    self.emit(c, x, depth + 1, draw, top, reverse)
            elif isinstance(x, Node):
                draw.declare(g, x, top, scope=self.scopes[x.id])
            else:
                draw.declare_group(g, x, top, unit=x.step or "/".join(x.region))


def to_dot_source(fetches, **kw):
    """The DOT text of ``to_dot(fetches, **kw)``."""
    return to_dot(fetches, **kw).source


def _as_digraph(fetches, kw):
    return fetches if isinstance(fetches, graphviz.Digraph) else to_dot(fetches, **kw)


def save_dot(fetches, path, **kw):
    """Write the DOT text (no ``dot`` program needed). ``fetches`` may also be a
    ``graphviz.Digraph``. Returns the path."""
    path = os.fspath(path)
    source = _as_digraph(fetches, kw).source
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return path


def _missing_dot(path, dot_path):
    return RuntimeError(
        f"Graphviz's `dot` program is missing (not found on PATH), so {path} was not "
        f"written; the DOT source is in {dot_path}. {INSTALL_DOT}; then run "
        f"`dot -T{os.path.splitext(path)[1][1:]} {dot_path} -o {path}` or render again.")


def render(fetches, path, format=None, keep_dot=False, **kw):
    """Draw ``fetches`` (or a ``graphviz.Digraph``) to ``path`` as SVG, PNG or PDF.

    The format comes from ``format``, else from the path's suffix, else SVG (the
    suffix is added when missing). The DOT text is written next to it as
    ``<stem>.dot`` when ``keep_dot`` is true, or when Graphviz's ``dot`` is missing
    or fails (a RuntimeError then says how to install it, or what ``dot`` said).
    ``kw`` goes to ``to_dot``. Returns the written path."""
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
    digraph = _as_digraph(fetches, kw)
    if keep_dot:
        save_dot(digraph, stem + ".dot")
    if shutil.which("dot") is None:
        raise _missing_dot(path, save_dot(digraph, stem + ".dot"))
    try:
        data = digraph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise _missing_dot(path, save_dot(digraph, stem + ".dot")) from None
    except graphviz.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip()
        dot_path = save_dot(digraph, stem + ".dot")
        raise RuntimeError(f"render: `dot` failed on {dot_path}: {err}") from None
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path
