"""Pictures of graphs: Graphviz DOT (``to_dot``, ``save_dot``, ``render``) and a
networkx view (``to_networkx``).

Pictures read the graph and nothing else:

- name scopes become nested clusters: a layer holding one cluster per ``step_<t>``;
- gradient nodes (``node.grad_of`` set) sit under ``gradients/<forward scope>``, in
  their own colour; a dashed link runs from each forward node's gradient to it, and
  forward values read by the backward pass are drawn as lighter edges;
- an op with a ``body`` (a fused op, ``op.fused``, or the loop op ``scan``) is one box,
  opened into a cluster holding its body when named in ``expand`` (a fused op's body
  is its ``decompose``, traced apart from the user's graph; a loop's inputs carry the
  names it declares);
- big graphs shrink: ``collapse`` scopes into one box each, keep the first and last
  of ``max_steps`` time steps, or let ``max_nodes`` collapse the deepest scopes.

``to_dot`` needs only the ``graphviz`` Python package; ``render`` also needs the
Graphviz ``dot`` program, and writes the ``.dot`` text first so that a missing
``dot`` still leaves something to look at. ``to_dot_source`` (or ``str(digraph)``)
is the DOT text.

The package, one idea per module: ``styles`` (node kinds, styles, legend, heat
scale, label texts), ``grouping`` (picture scopes, time steps, group boxes),
``bodies`` (what an expanded loop or fused op shows), ``values`` (magnitudes of
given arrays), ``drawing`` (declaring into a Digraph), ``dot`` (``to_dot``,
``save_dot``, ``render``), ``networkx_export`` (``to_networkx``).
"""
from .dot import FORMATS, render, save_dot, to_dot, to_dot_source
from .networkx_export import to_networkx
from .styles import GRAD_COLOR, HEAT, STYLES, aval_text

__all__ = ["FORMATS", "GRAD_COLOR", "HEAT", "STYLES", "aval_text", "render", "save_dot",
           "to_dot", "to_dot_source", "to_networkx"]
