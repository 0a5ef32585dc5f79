"""Pictures of graphs: Graphviz DOT (``to_dot``, ``save_dot``, ``render``) and a
networkx view (``to_networkx``).

Pictures read the graph and nothing else:

- name scopes become nested clusters: a layer holding one cluster per ``step_<t>``;
- unrolled time steps follow one another along the layout (gradient steps in
  reverse); the LSTM gates are named (i, f, g, o) on their ``split``'s edges, a
  GRU's (z, r, h) on its two splits' (implementation 2: implementation 1 has none);
- gradient nodes (``node.grad_of`` set) sit under ``gradients/<forward scope>``, in
  their own colour; a dashed link runs from each forward node's gradient to it;
- constants, forward values read by the backward pass, and values read in many
  steps (shared weights, the sequence) are small references beside each use;
- an op with a ``body`` (a fused op, ``op.fused``, or the loop op ``scan``) is one box,
  opened into a cluster holding its body when named in ``expand`` (a fused op's body
  is its ``decompose``, traced apart from the user's graph; a loop's inputs carry the
  names it declares);
- big graphs shrink: ``collapse`` scopes into one box each, keep the first and last
  of ``max_steps`` time steps, or let ``max_nodes`` collapse the deepest scopes.

``render(fetches, "graph.html")`` (or ``save_html``) writes instead the interactive
page (module ``html``): one offline HTML file where groups collapse and expand, with
pan, zoom, search and a node's details; it takes the same options.

``to_dot`` needs only the ``graphviz`` Python package; ``render`` also needs the
Graphviz ``dot`` program; without it (or with ``keep_dot=True``) it writes the
``.dot`` text beside the output, so there is still something to look at. In a
notebook a picture displays inline; without ``dot`` it says how to install it. ``to_dot_source`` (or ``str(digraph)``)
is the DOT text.

The package, one idea per module: ``styles`` (node kinds, styles, legend, heat
scale, label texts), ``grouping`` (picture scopes, time steps, group boxes),
``bodies`` (what an expanded loop or fused op shows), ``names`` (gate and body
input names), ``legend`` (node kinds, edge styles, colour bar), ``values`` (magnitudes of
given arrays), ``drawing`` (declaring into a Digraph), ``dot`` (``to_dot``,
``save_dot``, ``render``), ``networkx_export`` (``to_networkx``).
"""
import os

from . import dot
from .dot import FORMATS, save_dot, to_dot, to_dot_source
from .html import save_html, to_html, to_page
from .networkx_export import to_networkx
from .styles import GRAD_COLOR, HEAT, STYLES, aval_text

__all__ = ["FORMATS", "GRAD_COLOR", "HEAT", "STYLES", "aval_text", "render", "save_dot",
           "save_html", "to_dot", "to_dot_source", "to_html", "to_networkx", "to_page"]


def render(fetches, path, format=None, keep_dot=False, **kw):
    """Draw ``fetches`` to ``path``: the interactive page when the path ends in
    ``.html`` (or ``format="html"``), else a picture (``dot.render``: SVG, PNG, PDF).
    Returns the written path."""
    ext = os.path.splitext(os.fspath(path))[1][1:].lower()
    if format == "html" or (format is None and ext == "html"):
        if ext != "html":
            path = f"{os.fspath(path)}.html"
        if keep_dot:
            save_dot(fetches, os.path.splitext(path)[0] + ".dot", **kw)
        return save_html(fetches, path, **kw)
    return dot.render(fetches, path, format=format, keep_dot=keep_dot, **kw)
