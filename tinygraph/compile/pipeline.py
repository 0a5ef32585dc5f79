"""The compiler's pipeline: its passes in order, and ``optimize``.

``PIPELINE`` below is the one list of passes, in the order they run. A pass is a
list of rules for the rewrite engine (tinygraph.compile.rewrite) or a function of
the roots. When a selected pass builds fused ops (``fuses=True``), the
backward-fusion stage wraps the run: gradients are cut out, the forward is
optimized, the gradients are taken again of it and the pipeline runs once more.
``optimize(fetches)`` returns the rewritten fetches in the same structure.
"""
from dataclasses import dataclass, field

from tinygraph.compile.backward_fusion import backward_fusion
from tinygraph.compile.dce import dce
from tinygraph.compile import gru_fusion
from tinygraph.compile.lstm_fusion import CELL_RULES, SEQUENCE_RULES
from tinygraph.compile.rewrite import rewrite
from tinygraph.compile.simplify import ALGEBRAIC, FOLDING
from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor, topo_nodes
from tinygraph.ir.rebuild import substitute
from tinygraph.ops.sources import placeholder


@dataclass
class Pass:
    """A named step of the pipeline: ``rules`` for the engine, or ``run(roots)``
    returning (roots, events). ``fuses``: it builds fused ops, whose VJPs are fused
    too, so gradients are taken again after it (backward fusion)."""
    name: str
    doc: str
    rules: list = field(default_factory=list)
    run: object = None
    fuses: bool = False

    def apply(self, roots):
        if self.run is not None:
            return self.run(roots)
        return rewrite(roots, self.rules)


def cse(roots):
    """Rebuild every node through the hash-consing table: identical nodes merge."""
    return substitute(roots, {}, force=True), []


PIPELINE = [
    Pass("constant_folding", "evaluate constant subgraphs once", FOLDING),
    Pass("cse", "merge identical nodes (rebuild through the hash-consing table)", run=cse),
    # simplifications can leave constant subgraphs behind (zeros_like of a static
    # shape becomes a constant...): folding runs with them until both settle
    Pass("algebraic", "algebraic simplification", ALGEBRAIC + FOLDING),
    # the recurrent cells' fusion (its passes keep their first names): LSTM, then GRU
    Pass("lstm_cell_fusion", "LSTM and GRU gate math -> lstm_cell, gru_cell",
         CELL_RULES + gru_fusion.CELL_RULES, fuses=True),
    Pass("lstm_sequence_fusion", "loops of one LSTM or GRU cell -> lstm_sequence, gru_sequence",
         SEQUENCE_RULES + gru_fusion.SEQUENCE_RULES, fuses=True),
    Pass("dce", "drop what loops compute at every step and nothing reads", run=dce),
]
PASSES = {p.name: p for p in PIPELINE}
DEFAULT_PIPELINE = [p.name for p in PIPELINE]
FUSION_PASSES = tuple(p.name for p in PIPELINE if p.fuses)


@dataclass
class Report:
    """What the passes did: per pass, node counts and rule events."""
    passes: list = field(default_factory=list)     # (name, nodes before, nodes after, events)

    @property
    def events(self):
        return [e for _, _, _, evs in self.passes for e in evs]

    def __str__(self):
        lines = []
        for name, before, after, events in self.passes:
            fired = sum(e.fired for e in events)
            lines.append(f"{name}: {before} -> {after} nodes, {fired} rewrites")
        return "\n".join(lines)


def _selected(passes):
    names = DEFAULT_PIPELINE if passes is None else list(passes)
    for n in names:
        if n not in PASSES:
            raise ValueError(f"unknown pass {n!r}; available passes: " + ", ".join(PASSES))
    return [PASSES[n] for n in names]


def _run_passes(roots, selected):
    report = Report()
    for p in selected:
        before = len(topo_nodes(roots))
        roots, events = p.apply(roots)
        report.passes.append((p.name, before, len(topo_nodes(roots)), events))
    return roots, report


def _optimize(roots, passes):
    selected = _selected(passes)
    if any(p.fuses for p in selected):
        return backward_fusion(roots, lambda r: _run_passes(r, selected))
    return _run_passes(roots, selected)


def optimize(fetches, passes=None, return_report=False):
    """Run the passes on the graph of ``fetches``; returns the rewritten fetches in
    the same structure (and the Report with ``return_report=True``)."""
    flat = nest.flatten(fetches)
    for f in flat:
        if not isinstance(f, (Tensor, Node)):
            raise TypeError(f"optimize: cannot optimize {type(f).__name__}; pass Tensors or ops")
    roots, report = _optimize(flat, passes)
    out = nest.pack_as(fetches, roots)
    return (out, report) if return_report else out


def optimize_for_run(outputs, inputs):
    """The Session's entry: fed tensors are cut free (replaced by placeholders) so no
    pass looks through them, then the default pipeline runs."""
    cut = {}
    new_inputs = []
    for t in inputs:
        if t.node.op.is_placeholder:
            new_inputs.append(t)
        else:
            ph = placeholder(t.shape, t.dtype, name="fed")
            cut[(t.node.id, t.index)] = ph
            new_inputs.append(ph)
    roots = substitute(outputs, cut) if cut else list(outputs)
    roots, report = _optimize(roots, None)
    return roots, new_inputs, report
