"""Pictures of graphs: Graphviz DOT (``to_dot``, ``save_dot``, ``render``) and a
networkx view (``to_networkx``).

Pictures read the graph and nothing else:

- name scopes become nested clusters: a layer holding one cluster per ``step_<t>``;
- unrolled time steps follow one another along the layout (gradient steps in
  reverse); the LSTM gates are named (i, f, g, o) on their ``split``'s edges;
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
from .dot import FORMATS, render, save_dot, to_dot, to_dot_source
from .networkx_export import to_networkx
from .styles import GRAD_COLOR, HEAT, STYLES, aval_text

__all__ = ["FORMATS", "GRAD_COLOR", "HEAT", "STYLES", "aval_text", "render", "save_dot",
           "to_dot", "to_dot_source", "to_networkx"]
