"""``to_page`` and ``save_html``: the interactive page, ONE self-contained HTML file.

The page embeds a JSON description of the graph (nodes, edges, and the groups viz
files them in: scopes, time steps, gradients, the bodies of fused ops and loops) and
a small hand-written script (``page/page.js``) that lays out the visible boxes in
layers, pans, zooms, collapses and expands groups, searches and shows details.

Why hand-written rather than a vendored layout library: the page must work offline
from one file, and what it lays out is only the visible boxes (collapsed groups are
one box), a few hundred at a time even for a T=100 unrolled LSTM with its gradients;
a longest-path layering with grouped ordering does that in milliseconds in ~300
lines, where dagre/ELK would add 100 kB-1 MB of vendored code, a licence to carry,
and still know nothing of our groups' nesting. A Content-Security-Policy meta tag
forbids every network and file request, so the page cannot reach out by accident.
"""
import json
import math
import os

import graphviz
import numpy as np

from tinygraph.ir.graph import topo_nodes

from .bodies import Bodies, expander
from .dot import MAX_STEPS, gradient_links, roots_of
from .grouping import as_list, parts, picture_scopes, step_of
from .styles import EDGE_LEGEND, HEAT, LEGEND, STYLES, aval_text, head, heat, kind
from .values import magnitudes, node_arrays

_PAGE = os.path.join(os.path.dirname(__file__), "page")
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:; connect-src 'none'; form-action 'none'")


class _Page:
    """The JSON description being built: nodes, edges, groups (by scope path)."""

    def __init__(self):
        self.nodes, self.edges, self.groups = [], [], []
        self.index = {}             # Node -> index in nodes
        self.by_path = {}           # group path -> index in groups

    def group(self, path):
        """Index of the group for scope ``path`` (and its parents), or -1 for the top."""
        if not path:
            return -1
        if path in self.by_path:
            return self.by_path[path]
        parent = self.group(path.rpartition("/")[0])
        name = path.rsplit("/", 1)[-1]
        step = step_of(path)
        gkind = "step" if step and parts(path)[-1] == f"step_{step[1]}" else \
            "grad" if "gradients" in parts(path) else "scope"
        self.groups.append(dict(path=path, name=name, kind=gkind, parent=parent, rep=-1,
                                t=step[1] if gkind == "step" else None))
        self.by_path[path] = len(self.groups) - 1
        return self.by_path[path]

    def add_node(self, node, g):
        outs = node.outputs
        self.index[node] = len(self.nodes)
        self.nodes.append(dict(
            name=node.name, op=node.op.name, kind=kind(node), label=head(node), g=g,
            shapes=[aval_text(t) for t in outs],
            dtypes=[t.dtype.name for t in outs],
            dims=[["?" if d is None else d for d in t.shape] for t in outs],
            fwd=-1, link=False))
        return self.index[node]

    def add_edges(self, node, edge_labels):
        dst = self.index[node]
        for t in node.inputs:
            if t.node in self.index:
                label = aval_text(t) if edge_labels else ""
                self.edges.append([self.index[t.node], dst, "data", label])
        for c in node.control_inputs:
            if c in self.index:
                self.edges.append([self.index[c], dst, "control", ""])


def _stats(a):
    """Statistics of one array, for the details panel."""
    finite = a[np.isfinite(a)]
    out = dict(shape=list(a.shape), size=int(a.size),
               nonfinite=int(a.size - finite.size))
    if finite.size:
        out.update(mean_abs=float(np.mean(np.abs(finite))), mean=float(np.mean(finite)),
                   std=float(np.std(finite)), min=float(np.min(finite)),
                   max=float(np.max(finite)))
    return out


def _node_stats(values, fetches, nodes):
    """Node -> statistics of its given array (first output given)."""
    found = {}
    for node, a in node_arrays(values, fetches, nodes):
        found.setdefault(node, _stats(a))
    return found


def _add_body(page, node, bodies, edge_labels):
    """File a fused op's decomposition or a loop's body in a group of its own, whose
    collapsed box is the op itself."""
    body = bodies.of(node)
    g = page.group(page.nodes[page.index[node]]["_scope"] + "/" + node.name.rsplit("/", 1)[-1]
                   + "·body")
    page.groups[g].update(kind="loop" if kind(node) == "loop" else "fused",
                          rep=page.index[node])
    page.nodes[page.index[node]]["g"] = g
    if body is None:
        return g
    inner = sorted(topo_nodes(body.outputs), key=lambda n: n.id)
    for m in inner:
        if m not in page.index:
            page.add_node(m, g)
    for m in inner:
        page.add_edges(m, edge_labels)
    for t in body.outputs:        # the body's results flow into the op's box
        page.edges.append([page.index[t.node], page.index[node], "data", ""])
    return g


def _initial_collapse(page, collapse, max_steps, expand_fn, bodies_of):
    """The groups collapsed when the page opens: ``collapse`` prefixes, the middle
    time steps past ``max_steps``, and the fused ops and loops not in ``expand``."""
    shut = set()
    prefixes = {str(p).strip("/") for p in as_list(collapse)}
    if "" in prefixes:
        raise ValueError("to_page: collapse needs scope prefixes, got an empty one")
    steps = {}
    for i, g in enumerate(page.groups):
        if g["path"] in prefixes:
            shut.add(i)
        if g["kind"] == "step":
            steps.setdefault(g["parent"], []).append((g["t"], i))
        if g["kind"] in ("fused", "loop") and not expand_fn(bodies_of[i]):
            shut.add(i)
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"to_page: max_steps must be a positive int, got {max_steps!r}")
        for ts in steps.values():
            ts.sort()
            if len(ts) > max_steps:
                first, last = (max_steps + 1) // 2, max_steps // 2
                shut.update(i for _, i in ts[first:len(ts) - last])
    return sorted(shut)


def _legend(page, mags, value_name):
    kinds = {n["kind"] for n in page.nodes} | {"collapsed"} | \
        ({"steps"} if any(g["kind"] == "step" for g in page.groups) else set())
    if any(n["fwd"] >= 0 for n in page.nodes):
        kinds.add("gradient")
    rows = [dict(kind=k, label=LEGEND[k]) for k in LEGEND if k in kinds]
    edges = ["data"] + [k for k in ("grad", "control")
                        if any(e[2] == k for e in page.edges) or
                        (k == "grad" and any(n["link"] for n in page.nodes))]
    logs = [math.log10(m) for m in mags.values() if m > 0 and math.isfinite(m)]
    lo, hi = (min(logs), max(logs)) if logs else (0.0, 0.0)
    return dict(kinds=rows, edges=[EDGE_LEGEND[k] for k in edges], heat=HEAT if mags else [],
                lo=10 ** lo, hi=10 ** hi, value_name=value_name), lo, hi


def to_page(fetches, *, show_shapes=True, group_scopes=True, grads=None, values=None,
            expand=(), collapse=(), max_nodes=None, max_steps=MAX_STEPS, title=None,
            rankdir=None, edge_labels=False, legend=True, value_name="|x|"):
    """The page's JSON description (a dict) of everything ``fetches`` reach; the
    options are ``to_dot``'s: ``collapse``, ``max_steps`` and ``expand`` say what is
    collapsed when the page opens (a click changes it), ``max_nodes`` collapses the
    deepest groups until that many boxes remain, ``values`` colours nodes and gives
    the details panel its statistics, ``grads`` which gradients link to their
    forward node."""
    if grads not in (None, True, False, "link", "all"):
        raise ValueError(f"to_page: grads must be None, 'link', 'all' or False, got {grads!r}")
    if rankdir not in (None, "LR", "TB"):
        raise ValueError(f"to_page: rankdir must be 'LR' or 'TB', got {rankdir!r}")
    if isinstance(fetches, graphviz.Digraph):
        raise TypeError("to_page: the interactive page needs the graph (Tensors or Nodes), "
                        "not a graphviz.Digraph; pass what the picture was drawn from")
    roots = roots_of(fetches)
    every = sorted(topo_nodes(roots), key=lambda n: n.id)
    scopes = picture_scopes(every)
    page, bodies, owners = _Page(), Bodies(), {}
    for n in every:
        i = page.add_node(n, page.group(scopes[n.id]) if group_scopes else -1)
        page.nodes[i]["_scope"] = scopes[n.id] if group_scopes else ""
    for n in every:
        page.add_edges(n, edge_labels)
    for n in every:
        if kind(n) in ("fused", "loop"):
            owners[_add_body(page, n, bodies, edge_labels)] = n
    links = gradient_links(grads, every) if grads is not False else set()
    for n in every:
        if n.grad_of is not None and n.grad_of in page.index:
            page.nodes[page.index[n]].update(fwd=page.index[n.grad_of], link=n.id in links)
    mags = magnitudes(values, fetches, every)
    stats = _node_stats(values, fetches, every)
    legend_data, lo, hi = _legend(page, mags, value_name)
    for n in every:
        entry = page.nodes[page.index[n]]
        del entry["_scope"]
        if n.id in mags:
            entry["fill"], entry["font"] = heat(mags[n.id], lo, hi)
        if n in stats:
            entry["stats"] = stats[n]
    if rankdir is None:
        rankdir = "LR" if any(g["kind"] == "step" for g in page.groups) else "TB"
    shut = _initial_collapse(page, collapse, max_steps, expander(expand, every, bodies), owners)
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int)
                                  or max_nodes < 1):
        raise ValueError(f"to_page: max_nodes must be a positive int, got {max_nodes!r}")
    return dict(title=str(title or ""), nodes=page.nodes, edges=page.edges, groups=page.groups,
                collapsed=shut, max_nodes=max_nodes, rankdir=rankdir, show_shapes=show_shapes,
                legend=legend_data if legend else None,
                styles={k: _style(s) for k, s in STYLES.items()})


def _style(s):
    """A DOT style as the page draws it."""
    style = s.get("style", "")
    return dict(fill=s.get("fillcolor", "#ffffff"), stroke=s.get("color", "#444444"),
                dashed="dashed" in style, bold="bold" in style,
                width=float(s.get("penwidth", 1)), font=s.get("fontcolor", "#000000"))


def _asset(name):
    with open(os.path.join(_PAGE, name), encoding="utf-8") as f:
        return f.read()


def to_html(fetches, **kw):
    """The page's HTML text: one file, no request to any network or other file."""
    data = to_page(fetches, **kw)
    # "</" inside the embedded JSON would end its <script> element
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    title = data["title"] or "tinygraph graph"
    esc = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            f'<title>{esc}</title>\n<style>{_asset("page.css")}</style></head>\n'
            f'<body>\n{_asset("page.html")}\n'
            f'<script type="application/json" id="tg-data">{blob}</script>\n'
            f'<script>{_asset("page.js")}</script>\n</body></html>\n')


def save_html(fetches, path, **kw):
    """Write the interactive page of ``fetches`` to ``path``; returns the path."""
    path = os.fspath(path)
    text = to_html(fetches, **kw)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
