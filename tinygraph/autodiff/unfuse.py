"""``unfuse``: a graph with every fused op replaced by its primitive-op decomposition."""
from tinygraph.ir.graph import topo_nodes
from tinygraph.ir.rebuild import substitute

from .gradients import decompose


def unfuse(outputs):
    """``outputs`` with every fused op replaced by its primitive-op decomposition
    (recursively): the graph the fusion passes started from, up to rewriting."""
    outputs = list(outputs)
    while True:
        # consumers first: a backward op's decomposition no longer reads the saved
        # gates of its forward op, whose decomposition does not produce them
        fused = next((n for n in reversed(topo_nodes(outputs)) if n.op.fused), None)
        if fused is None:
            return outputs
        parts = decompose(fused.op, fused.inputs)
        mapping = {(o.node.id, o.index): p for o, p in zip(fused.outputs, parts)}
        outputs = substitute(outputs, mapping)
