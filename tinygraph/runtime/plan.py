"""Plans: the compiled schedule of a graph.

A ``Plan`` is made for fixed outputs and fixed fed tensors: the nodes the outputs
need (pruned), in a topological order (networkx), each with the kernel the backend
chose, its input/output buffer slots, and the slots that die after it (liveness),
so every intermediate buffer is dropped right after its last use.
"""
import contextvars
import functools

import networkx as nx
import numpy as np

from tinygraph.backends.base import Backend
from tinygraph.ir.graph import Tensor, topo_nodes
from tinygraph.ir.rebuild import tensor_key


class NumericsError(FloatingPointError):
    """``check_numerics=True`` found a NaN or Inf."""


# the loop bodies a checking run is inside: {"iterations": {id(plan): n}, "bodies":
# [(plan, iteration)]}; None when no run checks numerics (per thread)
_LOOPS = contextvars.ContextVar("tinygraph_check_numerics_loops", default=None)


def _loop_step():
    """Where in a loop a NaN was found, as text ("" outside loops)."""
    state = _LOOPS.get()
    if not state or not state["bodies"]:
        return ""
    plan, n = state["bodies"][-1]
    return (f"; at iteration {n} of the loop body (counting from 0 in the order the "
            "loop ran it)")


def _owned_nbytes(a):
    """Bytes an array holds itself (views of other buffers count 0). Runs once per
    value a plan computes: the common case (an array) costs two attribute reads."""
    try:
        return a.nbytes if a.base is None else 0
    except AttributeError:          # a value that is not an array (a Python number, ...)
        return 0


class Step:
    """One node of a plan: its kernel, the slots it reads and writes, the slots
    that die after it, and the Variable it assigns (None for most)."""
    __slots__ = ("node", "fn", "ins", "outs", "free", "update", "single")

    def __init__(self, node, fn, ins, outs, update):
        self.node, self.fn, self.ins, self.outs, self.update = node, fn, ins, outs, update
        self.free = ()
        self.single = len(outs) == 1


class Plan:
    """The compiled form of ``outputs`` (Tensors or Nodes) given ``inputs`` (Tensors
    whose values are supplied to ``run``). ``report`` is the passes' Report when a
    Session optimized the graph first."""

    report = None

    def __init__(self, outputs, inputs, backend, check_numerics=False, liveness=True):
        self.outputs, self.inputs, self.backend = list(outputs), list(inputs), backend
        self.check_numerics = check_numerics
        fed = {tensor_key(t) for t in inputs}
        keep = _prune(topo_nodes(self.outputs), self.outputs, fed)
        self.nodes = _schedule(keep)
        _check_fed(self.nodes, fed)
        self._slots = {}
        self.in_slots = [self._slot(t) for t in inputs]
        self._fed_slots = frozenset(self.in_slots)
        self.steps = self._steps(fed)
        self.updates = [s.update for s in self.steps if s.update is not None]
        self.out_slots = [self._slot(o) if isinstance(o, Tensor) else None for o in outputs]
        self.n_slots = len(self._slots)
        if liveness:
            self._liveness()
        self.stats = {}

    def _slot(self, t):
        return self._slots.setdefault(tensor_key(t), len(self._slots))

    def _steps(self, fed):
        """A Step per scheduled node that is not fed, its kernel bound to the backend."""
        used = {tensor_key(t) for n in self.nodes for t in n.inputs}
        used |= {tensor_key(o) for o in self.outputs if isinstance(o, Tensor)}
        steps, updated = [], {}
        for n in self.nodes:
            if n.outputs and all(tensor_key(o) in fed for o in n.outputs):
                continue
            outs = [self._slot(o) if tensor_key(o) in used else None for o in n.outputs]
            fn = self.backend.kernel(n.op)
            if n.op.needs_output_mask:
                fn = functools.partial(fn, needed=tuple(s is not None for s in outs))
            var = n.op.assigns
            if var is not None:
                if id(var) in updated:
                    raise ValueError(f"Variable {var.name!r} is updated twice in one run "
                                     f"(by {updated[id(var)]!r} and {n.name!r})")
                updated[id(var)] = n.name
                fn = functools.partial(n.op.new_value, self.backend)
            steps.append(Step(n, fn, [self._slot(t) for t in n.inputs], outs, var))
        return steps

    def _liveness(self):
        """After each step, the slots whose last reader it was (never the outputs)."""
        last = {}
        for i, s in enumerate(self.steps):
            for slot in s.ins:
                last[slot] = i
            for slot in s.outs:
                if slot is not None:
                    last.setdefault(slot, i)       # produced but never read: free at once
        keep = set(self.out_slots)
        frees = [[] for _ in self.steps]
        for slot, i in last.items():
            if slot not in keep:
                frees[i].append(slot)
        for s, f in zip(self.steps, frees):
            s.free = tuple(f)

    def run(self, input_values, updates=None):
        """Run with arrays for ``inputs``; returns arrays for ``outputs`` (None for
        Nodes). Variable updates go to ``updates`` (var -> array) if given.

        Under ``check_numerics`` the plans of loop bodies run inside this one check
        too, so a NaN is reported at the body's op and the loop iteration."""
        state = _LOOPS.get()
        if state is None and not self.check_numerics:
            return self._execute(input_values, updates, False)
        token = None
        if state is None:
            token = _LOOPS.set(state := {"iterations": {}, "bodies": []})
        else:                               # a loop body, run by a checking plan
            n = state["iterations"].get(id(self), -1) + 1
            state["iterations"][id(self)] = n
            state["bodies"].append((self, n))
        try:
            return self._execute(input_values, updates, True)
        finally:
            if token is not None:
                _LOOPS.reset(token)
            else:
                state["bodies"].pop()

    def _execute(self, input_values, updates, check_numerics):
        env = [None] * self.n_slots
        for slot, v in zip(self.in_slots, input_values):
            env[slot] = v
        live = peak = total = 0
        fed = self._fed_slots
        for step in self.steps:
            try:
                result = step.fn(*[env[i] for i in step.ins])
            except Exception as e:
                raise _with_node(e, step.node) from e
            if step.update is not None:
                _stage_update(self.backend, step, result, updates, self.check_numerics)
                continue
            if step.single and not isinstance(result, tuple):   # a loop's 1-tuple stays
                result = (result,)
            for slot, value in zip(step.outs, result):
                if slot is not None:
                    env[slot] = value
                    nb = _owned_nbytes(value)
                    live += nb
                    total += nb
            if check_numerics:
                _check_finite(self.backend, step.node, result)
            if live > peak:
                peak = live
            for slot in step.free:
                v = env[slot]
                if v is not None:
                    if slot not in fed:             # feeds were never counted as live
                        live -= _owned_nbytes(v)
                    env[slot] = None
        self.stats = {"peak_bytes": peak, "total_bytes": total}
        return [None if s is None else env[s] for s in self.out_slots]


# a loop's body is compiled by the backend that runs the loop (Backend.plan_for),
# into a Plan: backends sit below the runtime, so the runtime tells them its Plan
Backend.plan_class = Plan


def _prune(nodes, roots, fed):
    """Nodes the roots need, not looking past fed tensors."""
    need, stack = set(), [r.node if isinstance(r, Tensor) else r for r in roots]
    while stack:
        n = stack.pop()
        if n.id in need:
            continue
        need.add(n.id)
        if n.outputs and all(tensor_key(o) in fed for o in n.outputs):
            continue
        stack.extend(t.node for t in n.inputs if tensor_key(t) not in fed)
        stack.extend(n.control_inputs)
    return [n for n in nodes if n.id in need]


def _schedule(nodes):
    g = nx.DiGraph()
    by_id = {n.id: n for n in nodes}
    g.add_nodes_from(by_id)
    for n in nodes:
        for dep in [t.node for t in n.inputs] + list(n.control_inputs):
            if dep.id in by_id:
                g.add_edge(dep.id, n.id)
    return [by_id[i] for i in nx.lexicographical_topological_sort(g)]


def _check_fed(nodes, fed):
    missing = [n for n in nodes if n.op.is_placeholder and (n.id, 0) not in fed]
    if missing:
        shown = ", ".join(f"{n.name!r} {n.outputs[0].shape} {n.outputs[0].dtype.name}"
                          for n in missing)
        raise ValueError(f"placeholder(s) {shown} must be fed: the fetches depend on them")


def _stage_update(be, step, value, updates, check_numerics):
    """Keep a Variable's new value for the commit at the end of the run, checked
    (shape, dtype, and finiteness under check_numerics) so that the commit cannot fail
    half-way."""
    if updates is None:
        raise ValueError(f"{step.node.name!r} updates a Variable inside a loop body")
    var = step.update
    if tuple(value.shape) != var.shape:
        raise ValueError(f"{step.node.op.name} node {step.node.name!r} would give "
                         f"Variable {var.name!r} shape {tuple(value.shape)}, "
                         f"it has {var.shape}")
    if value.dtype != var.dtype:
        raise TypeError(f"{step.node.op.name} node {step.node.name!r} computed "
                        f"{value.dtype.name} for Variable {var.name!r}, which is "
                        f"{var.dtype.name}")
    if check_numerics:
        _check_finite(be, step.node, (value,), f"would store in Variable {var.name!r}")
    updates[var] = value


def _with_node(e, node):
    where = f"while running {node.op.name} node {node.name!r}"
    if isinstance(e, NumericsError) or where in str(e):
        return e
    cls = type(e) if isinstance(e, (ValueError, TypeError, IndexError, FloatingPointError,
                                    MemoryError)) else RuntimeError
    try:
        return cls(f"{e} ({where})")
    except TypeError:
        return RuntimeError(f"{e} ({where})")


def _check_finite(be, node, outputs, what="produced"):
    xp = be.xp
    for i, out in enumerate(outputs):
        if out is None or getattr(out, "dtype", np.dtype(object)).kind != "f":
            continue
        if not bool(xp.all(xp.isfinite(out))):
            kind = "NaN" if bool(xp.any(xp.isnan(out))) else "Inf"
            inputs = ", ".join(repr(t.name) for t in node.inputs) or "none"
            raise NumericsError(f"check_numerics: {node.op.name} node {node.name!r} "
                                f"(output {i}) {what} {kind}; its inputs: {inputs}"
                                f"{_loop_step()}")
