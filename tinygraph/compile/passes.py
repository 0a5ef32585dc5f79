"""Graph passes: constant folding, CSE, algebraic simplification, dead-code
elimination, and (registered by tinygraph.compile.lstm_fusion) the LSTM fusions.

Each pass is a list of rules for the one rewrite engine (tinygraph.compile.rewrite), or a
rebuild. ``optimize(fetches)`` returns the rewritten fetches in the same structure.
"""
from dataclasses import dataclass, field

import numpy as np

from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor, topo_nodes
from tinygraph.compile.rewrite import Pat, Rule, V, rewrite, substitute

FOLD_LIMIT = 1 << 20      # don't fold results larger than this many elements


# ----------------------------------------------------------------------- rules

def _const(t):
    return t.node.op.name == "constant"


def _const_equal(value):
    """A predicate: ``t`` is a constant every element of which equals ``value``."""
    def pred(t):
        return _const(t) and t.node.op.value.size > 0 and bool(np.all(t.node.op.value == value))
    return pred


def _static(t):
    return None not in t.shape


def _foldable(t):
    node = t.node
    op = node.op
    return (node.inputs and not op.stateful and not node.control_inputs
            and all(_const(i) for i in node.inputs) and op.name != "constant")


def fold_constant(b, t):
    from tinygraph.backends.numpy_backend import NumpyBackend
    from tinygraph.ops.sources import constant
    node = t.node
    if any(None in o.shape for o in node.outputs) or \
            sum(int(np.prod(o.shape)) for o in node.outputs) > FOLD_LIMIT:
        return None
    with np.errstate(all="ignore"):
        kw = {"needed": (True,) * len(node.outputs)} if getattr(node.op, "needs_output_mask", False) else {}
        values = node.op.compute(NumpyBackend(), *[i.node.op.value for i in node.inputs], **kw)
    values = values if isinstance(values, tuple) else (values,)
    value = np.asarray(values[t.index], dtype=t.dtype)
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        return None     # keep the node: check_numerics must name where a NaN/Inf arises
    return constant(value)


def _broadcasts_into(small, big):
    """Broadcasting shape ``small`` against ``big`` gives ``big`` whatever the
    run-time values of its unknown dims."""
    return len(small) <= len(big) and all(
        s == 1 or (s is not None and s == b) for s, b in zip(small[::-1], big[::-1]))


def _same_shape_operand(b, t):
    """``x`` when the other operand cannot change the result's shape (a static
    match, or it broadcasts into ``x``, or it is zeros_like(x))."""
    x = b["x"]
    other = t.node.inputs[1] if t.node.inputs[0] is x else t.node.inputs[0]
    if (x.shape == t.shape and _static(t)) or _broadcasts_into(other.shape, x.shape) \
            or b.get("y") is x:
        return x
    return None


def fill_static(b, t):
    from tinygraph.ops.sources import constant
    x = b["x"]
    if not _static(x) or int(np.prod(x.shape)) > FOLD_LIMIT:
        return None
    return constant(np.full(x.shape, t.node.op.value, x.dtype))


def merge_reshapes(b, t):
    from tinygraph.ops.array import reshape
    return reshape(b["x"], t.node.op.shape)


def merge_transposes(b, t):
    from tinygraph.ops.array import transpose
    inner, outer = b["inner"].node.op.perm, t.node.op.perm
    return transpose(b["x"], tuple(inner[p] for p in outer))


def drop_static_sum_like(b, t):
    return b["g"] if b["g"].shape == t.shape and _static(t) else None


def drop_identity(b, t):
    return b["x"] if not t.node.control_inputs else None


def cancel_negations(b, t):
    return b["x"]


FOLDING = [
    # op(constants...) -> constant: evaluate once at compile time
    Rule(Pat(where=_foldable), fold_constant, "evaluate ops whose inputs are all constants",
         exclusive=False),
]

ALGEBRAIC = [
    # x + 0 -> x  (only when x already has the result's shape)
    Rule(Pat("add", V("x"), Pat(where=_const_equal(0)), commutative=True),
         _same_shape_operand, "x + 0 -> x", exclusive=False, name="add_zero"),
    # x - 0 -> x
    Rule(Pat("subtract", V("x"), Pat(where=_const_equal(0))), _same_shape_operand,
         "x - 0 -> x", exclusive=False, name="subtract_zero"),
    # x * 1 -> x
    Rule(Pat("multiply", V("x"), Pat(where=_const_equal(1)), commutative=True),
         _same_shape_operand, "x * 1 -> x", exclusive=False, name="multiply_one"),
    # x / 1 -> x
    Rule(Pat("divide", V("x"), Pat(where=_const_equal(1))), _same_shape_operand,
         "x / 1 -> x", exclusive=False, name="divide_one"),
    # x + zeros_like(y) -> x  (gradient accumulation with an unused branch)
    Rule(Pat("add", V("x"), Pat("fill_like", V("y"), where=lambda t: t.node.op.value == 0),
             commutative=True), _same_shape_operand, "x + zeros_like(y) -> x",
         exclusive=False, name="add_zeros_like"),
    # -(-x) -> x
    Rule(Pat("negative", Pat("negative", V("x"))), cancel_negations, "-(-x) -> x",
         exclusive=False, name="double_negation"),
    # reshape(reshape(x)) -> reshape(x)
    Rule(Pat("reshape", Pat("reshape", V("x"))), merge_reshapes,
         "reshape(reshape(x, a), b) -> reshape(x, b)", exclusive=False, name="merge_reshapes"),
    # transpose(transpose(x)) -> one transpose
    Rule(Pat("transpose", Pat("transpose", V("x"), bind="inner")), merge_transposes,
         "transpose(transpose(x, p), q) -> transpose(x, p[q])", exclusive=False,
         name="merge_transposes"),
    # sum_like(g, x) -> g when both shapes are fully known and equal
    Rule(Pat("sum_like", V("g"), V("x")), drop_static_sum_like,
         "sum_like(g, x) -> g when nothing was broadcast", exclusive=False, name="drop_sum_like"),
    # identity(x) -> x (unless it carries control dependencies)
    Rule(Pat("identity", V("x")), drop_identity, "identity(x) -> x", exclusive=False,
         name="drop_identity"),
    # zeros_like(x) / ones_like(x) of a static shape -> a constant (x is no longer needed)
    Rule(Pat("fill_like", V("x")), fill_static, "fill_like(x) -> constant when x's shape is static",
         exclusive=False, name="static_fill"),
]


# ----------------------------------------------------------------------- passes

@dataclass
class Pass:
    """A named step of the pipeline: ``rules`` for the engine, or ``run(roots)``."""
    name: str
    doc: str
    rules: list = field(default_factory=list)
    run: object = None

    def apply(self, roots):
        if self.run is not None:
            return self.run(roots)
        return rewrite(roots, self.rules)


def _cse(roots):
    return substitute(roots, {}, force=True), []


def _dce(roots):
    # Everything not reachable from the fetches is already gone: the graph is only
    # what ``roots`` reach. Recorded for the report.
    return roots, []


PASSES = {
    "constant_folding": Pass("constant_folding", "evaluate constant subgraphs once", FOLDING),
    "cse": Pass("cse", "merge identical nodes (rebuild through the hash-consing table)",
                run=_cse),
    # simplifications can leave constant subgraphs behind (zeros_like of a static
    # shape becomes a constant...): folding runs with them until both settle
    "algebraic": Pass("algebraic", "algebraic simplification", ALGEBRAIC + FOLDING),
    "dce": Pass("dce", "drop nodes the fetches do not need", run=_dce),
}
DEFAULT_PIPELINE = ["constant_folding", "cse", "algebraic", "dce"]


def register_pass(p, before="dce"):
    """Add a pass to the registry and the default pipeline (used by fusion)."""
    PASSES[p.name] = p
    if p.name not in DEFAULT_PIPELINE:
        DEFAULT_PIPELINE.insert(DEFAULT_PIPELINE.index(before), p.name)


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


def _run_pipeline(roots, passes):
    names = DEFAULT_PIPELINE if passes is None else list(passes)
    for n in names:
        if n not in PASSES:
            raise ValueError(f"unknown pass {n!r}; available passes: " + ", ".join(PASSES))
    report = Report()
    for n in names:
        before = len(topo_nodes(roots))
        roots, events = PASSES[n].apply(roots)
        report.passes.append((n, before, len(topo_nodes(roots)), events))
    return roots, report


FUSION_PASSES = ("lstm_cell_fusion", "lstm_sequence_fusion")


def regrad(roots, run):
    """Run the pipeline ``run`` so that gradients are taken of the optimized forward.

    Gradient tensors made by ``tg.gradients`` are cut out of the graph (their
    records say which ys, xs and grad_ys they came from), the forward graph is
    optimized (LSTM math becomes fused ops), the gradients are built again on the
    optimized forward (fused ops have fused VJPs), and the whole is optimized once
    more. Hash-consing makes the re-derived backward read the very fused forward
    nodes the fetches use, so the forward is computed once. Gradients of gradients
    (whose ys depend on another recorded gradient) and gradients with respect to
    intermediate tensors keep their original graph."""
    from tinygraph.autodiff import gradients
    from tinygraph.ir.graph import apply
    from tinygraph.ops.sources import Placeholder, zeros_like
    hits = [((o.node.id, o.index), o) + o.grad_record
            for n in topo_nodes(roots) for o in n.outputs if o.grad_record is not None]
    usable = {}
    for key, old, rec, i in hits:
        if id(rec) not in usable:
            forward = rec.ys + rec.xs + [g for g in rec.grad_ys if g is not None]
            if any(o.grad_record is not None for n in topo_nodes(forward) for o in n.outputs):
                continue
            # d/dx for an intermediate x: a fused op could take x in as its own output
            # and lose the paths from x inside the op (c_t -> h_t of one LSTM step)
            if any(x.node.inputs for x in rec.xs):
                continue
            usable[id(rec)] = (rec, [])
        usable[id(rec)][1].append((key, old, i))
    if not usable:
        return run(roots)
    holes = {}
    for rec, uses in usable.values():
        for key, old, _ in uses:
            holes[key] = apply(Placeholder(shape=old.shape, dtype=old.dtype, ph_name="gradient"),
                               [], name="gradient", unique=True).outputs[0]
    extra = []
    for rec, _ in usable.values():
        extra += rec.ys + rec.xs + [g for g in rec.grad_ys if g is not None]
    optimized, report = run(substitute(roots, holes) + extra)
    rest = iter(optimized[len(roots):])
    fill = {}
    for rec, uses in usable.values():
        ys = [next(rest) for _ in rec.ys]
        xs = [next(rest) for _ in rec.xs]
        gys = [next(rest) if g is not None else None for g in rec.grad_ys]
        new = gradients(ys, xs, gys, rec.unconnected)
        for key, old, i in uses:
            g = new[i] if new[i] is not None else zeros_like(xs[i])
            fill[(holes[key].node.id, 0)] = g
    final, second = run(substitute(optimized[:len(roots)], fill))
    report.passes += [("regrad", 0, 0, [])] + second.passes
    return final, report


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
    from tinygraph.ops.sources import placeholder
    cut = {}
    new_inputs = []
    for t in inputs:
        if t.node.op.name == "placeholder":
            new_inputs.append(t)
        else:
            ph = placeholder(t.shape, t.dtype, name="fed")
            cut[(t.node.id, t.index)] = ph
            new_inputs.append(ph)
    roots = substitute(outputs, cut) if cut else list(outputs)
    roots, report = _optimize(roots, None)
    return roots, new_inputs, report


def _optimize(roots, passes):
    names = DEFAULT_PIPELINE if passes is None else list(passes)
    if any(n in FUSION_PASSES for n in names):
        return regrad(roots, lambda r: _run_pipeline(r, passes))
    return _run_pipeline(roots, passes)
