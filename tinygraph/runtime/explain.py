"""``Session.explain``: a readable account of a compiled plan."""
from tinygraph.ir.graph import fmt_shape, topo_nodes


class Explanation(str):
    """The kernels a plan runs, the fused kernels among them, and the LSTM- and
    GRU-like subgraphs the fusion passes declined, with the reason.

    It IS its text (a ``str``), so it prints, splits into lines and answers ``in`` as
    text does; the parts stay readable as attributes: ``kernels`` (op, node name,
    output shapes), ``fused`` (op, node name), ``fused_runs_as`` (how the backend runs
    them), ``declined`` and ``unfused`` (rule, node, reason)."""

    def __new__(cls, plan, optimized):
        parts = _Parts(plan, optimized)
        self = super().__new__(cls, parts.text())
        self.__dict__.update(vars(parts))
        return self

    def __repr__(self):
        return str(self)


class _Parts:
    """What an Explanation says, before it is text."""

    def __init__(self, plan, optimized):
        self.optimized = optimized
        self.kernels = [(s.node.op.name, s.node.name,
                         [o.shape for o in s.node.outputs]) for s in plan.steps]
        # fused kernels at the top level and inside loop bodies (run at every step)
        self.fused = [(n.op.name, n.name) for n in _with_bodies([s.node for s in plan.steps])
                      if n.op.fused]
        report = plan.report
        self.passes = str(report) if report else "optimize=False: no passes ran"
        # how the backend runs the fused ops' gate math (NumPy: host kernels or ufuncs)
        self.fused_runs_as = plan.backend.fused_kernels() if self.fused else None
        # A decline matters only if its node survived: the nodes of a match that fired
        # later (or of a bigger match around it) are gone from the plan. A node declined
        # more than once (the pipeline runs again after backward fusion, on a graph the
        # first run changed) shows the last reason: the one about the graph as planned.
        alive = _node_names([s.node for s in plan.steps])
        last = {}
        for e in report.events if report else []:
            if not e.fired and e.node in alive:
                last[(e.rule, e.node)] = e.reason
        self.declined = [(rule, node, reason) for (rule, node), reason in last.items()]
        self.unfused = [d for d in self.declined if d[0].startswith(("lstm", "gru"))]

    def text(self):
        lines = [f"plan: {len(self.kernels)} kernels "
                 f"({'optimized' if self.optimized else 'not optimized'})"]
        lines += ["passes:"] + ["  " + line for line in self.passes.splitlines()]
        lines.append("fused kernels: " + (", ".join(f"{op} ({name})" for op, name in self.fused)
                                          if self.fused else "none"))
        if self.fused_runs_as:
            lines.append(f"fused kernels run as: {self.fused_runs_as}")
        if self.unfused:
            kinds = "/".join(k for k in ("LSTM", "GRU")
                             if any(d[0].startswith(k.lower()) for d in self.unfused))
            lines.append(f"{kinds} math NOT fused (or fused only step by step), and why:")
            lines += [f"  {node}: {reason} [{rule}]" for rule, node, reason in self.unfused]
        lines.append("kernels in order:")
        for op, name, shapes in self.kernels:
            shown = ", ".join(fmt_shape(s) for s in shapes) or "-"
            lines.append(f"  {op:<16} {name}  -> {shown}")
        return "\n".join(lines)


def _with_bodies(nodes):
    """``nodes`` and, after each loop, the nodes of its body (recursively)."""
    out = []
    for n in nodes:
        out.append(n)
        if n.op.body is not None:
            out += _with_bodies(topo_nodes(n.op.body.outputs))
    return out


def _node_names(nodes):
    return {n.name for n in _with_bodies(nodes)}
