"""Compiling and running graphs.

A ``Plan`` is a compiled schedule for fixed outputs and fixed fed tensors: the nodes
the outputs need (pruned), in a topological order (networkx), each with the kernel
the backend chose, its input/output buffer slots, and the slots that die after it
(liveness), so every intermediate buffer is dropped right after its last use.

A ``Session`` validates feeds, runs the passes (``optimize=True``), caches one Plan
per (fetches, fed keys), and commits Variable updates only when a run succeeds.
"""
import functools

import networkx as nx
import numpy as np

from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor, get_default_graph, topo_nodes


class NumericsError(FloatingPointError):
    """``check_numerics=True`` found a NaN or Inf."""


def _owned_nbytes(a):
    """Bytes an array holds itself (views of other buffers count 0)."""
    return a.nbytes if getattr(a, "base", None) is None and hasattr(a, "nbytes") else 0


class Step:
    __slots__ = ("node", "fn", "ins", "outs", "free", "update")

    def __init__(self, node, fn, ins, outs, update):
        self.node, self.fn, self.ins, self.outs, self.update = node, fn, ins, outs, update
        self.free = ()


class Plan:
    """The compiled form of ``outputs`` (Tensors or Nodes) given ``inputs`` (Tensors
    whose values are supplied to ``run``)."""

    def __init__(self, outputs, inputs, backend, check_numerics=False, liveness=True):
        self.outputs, self.inputs, self.backend = list(outputs), list(inputs), backend
        self.check_numerics = check_numerics
        fed = {(t.node.id, t.index) for t in inputs}
        keep = self._prune(topo_nodes(self.outputs), self.outputs, fed)
        self.nodes = self._schedule(keep)
        self._check_unfed(fed)

        slots = {}

        def slot(t):
            key = (t.node.id, t.index)
            if key not in slots:
                slots[key] = len(slots)
            return slots[key]

        self.in_slots = [slot(t) for t in inputs]
        used = {}
        for n in self.nodes:
            for t in n.inputs:
                used[(t.node.id, t.index)] = True
        for o in outputs:
            if isinstance(o, Tensor):
                used[(o.node.id, o.index)] = True
        steps, updated = [], {}
        for n in self.nodes:
            if all((o.node.id, o.index) in fed for o in n.outputs) and n.outputs:
                continue
            outs = [slot(o) if (o.node.id, o.index) in used else None for o in n.outputs]
            fn = backend.kernel(n.op)
            if getattr(n.op, "needs_output_mask", False):
                fn = functools.partial(fn, needed=tuple(s is not None for s in outs))
            update = getattr(n.op, "var", None) if hasattr(n.op, "new_value") else None
            if update is not None:
                if id(update) in updated:
                    raise ValueError(f"Variable {update.name!r} is updated twice in one run "
                                     f"(by {updated[id(update)]!r} and {n.name!r})")
                updated[id(update)] = n.name
                fn = functools.partial(n.op.new_value, backend)
            steps.append(Step(n, fn, [slot(t) for t in n.inputs], outs, update))
        self.steps = steps
        self.out_slots = [slot(o) if isinstance(o, Tensor) else None for o in outputs]
        self.n_slots = len(slots)
        if liveness:
            self._liveness()
        self.stats = {}

    @staticmethod
    def _prune(nodes, roots, fed):
        """Nodes the roots need, not looking past fed tensors."""
        need, stack = set(), [r.node if isinstance(r, Tensor) else r for r in roots]
        while stack:
            n = stack.pop()
            if n.id in need:
                continue
            need.add(n.id)
            if n.outputs and all((o.node.id, o.index) in fed for o in n.outputs):
                continue
            stack.extend(t.node for t in n.inputs if (t.node.id, t.index) not in fed)
            stack.extend(n.control_inputs)
        return [n for n in nodes if n.id in need]

    @staticmethod
    def _schedule(nodes):
        g = nx.DiGraph()
        by_id = {n.id: n for n in nodes}
        g.add_nodes_from(by_id)
        for n in nodes:
            for dep in [t.node for t in n.inputs] + list(n.control_inputs):
                if dep.id in by_id:
                    g.add_edge(dep.id, n.id)
        return [by_id[i] for i in nx.lexicographical_topological_sort(g)]

    def _check_unfed(self, fed):
        missing = [n for n in self.nodes if n.op.name == "placeholder"
                   and (n.id, 0) not in fed]
        if missing:
            shown = ", ".join(f"{n.name!r} {n.outputs[0].shape} {n.outputs[0].dtype.name}"
                              for n in missing)
            raise ValueError(f"placeholder(s) {shown} must be fed: the fetches depend on them")

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
        Nodes). Variable updates go to ``updates`` (var -> array) if given."""
        env = [None] * self.n_slots
        for slot, v in zip(self.in_slots, input_values):
            env[slot] = v
        live = peak = total = 0
        fed = set(self.in_slots)
        check = self.check_numerics
        for step in self.steps:
            try:
                result = step.fn(*[env[i] for i in step.ins])
            except Exception as e:
                raise _with_node(e, step.node) from e
            if step.update is not None:
                if updates is None:
                    raise ValueError(f"{step.node.name!r} updates a Variable inside a loop body")
                if tuple(result.shape) != step.update.shape:   # checked before any commit
                    raise ValueError(f"{step.node.op.name} node {step.node.name!r} would give "
                                     f"Variable {step.update.name!r} shape {tuple(result.shape)}, "
                                     f"it has {step.update.shape}")
                updates[step.update] = result
                continue
            if len(step.outs) == 1:
                result = (result,)
            for slot, value in zip(step.outs, result):
                if slot is not None:
                    env[slot] = value
                    nb = _owned_nbytes(value)
                    live += nb
                    total += nb
            if check:
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


def _check_finite(be, node, outputs):
    xp = be.xp
    for i, out in enumerate(outputs):
        if out is None or getattr(out, "dtype", np.dtype(object)).kind != "f":
            continue
        if not bool(xp.all(xp.isfinite(out))):
            kind = "NaN" if bool(xp.any(xp.isnan(out))) else "Inf"
            inputs = ", ".join(repr(t.name) for t in node.inputs) or "none"
            raise NumericsError(f"check_numerics: {node.op.name} node {node.name!r} "
                                f"(output {i}) produced {kind}; its inputs: {inputs}")


# --------------------------------------------------------------------------- sessions

_default_sessions = []


class Session:
    """Runs graphs: ``Session(backend=None, optimize=True, check_numerics=False)``.

    ``backend`` is a name from ``tg.backends.available()`` or a Backend instance;
    ``None`` means ``tg.backends.default()`` ("numpy" unless ``tg.backends.set_default``
    or the ``TINYGRAPH_BACKEND`` environment variable says otherwise).
    ``liveness=False`` keeps every intermediate buffer alive until the run ends (only
    useful to measure what liveness saves).
    """

    def __init__(self, backend=None, optimize=True, check_numerics=False, *, liveness=True):
        from tinygraph import backends
        self.backend = backends.get(backend)
        self.optimize = bool(optimize)
        self.check_numerics = bool(check_numerics)
        self.liveness = bool(liveness)
        self._plans = {}
        self.last_run_stats = {}
        self.graph = get_default_graph()

    def __enter__(self):
        _default_sessions.append(self)
        return self

    def __exit__(self, *exc):
        _default_sessions.remove(self)
        self.close()

    def close(self):
        self._plans.clear()

    # ------------------------------------------------------------------ feeds
    def _resolve_key(self, key):
        if isinstance(key, Tensor):
            return key
        if isinstance(key, str):
            t = self.graph.placeholders.get(key)
            if t is None:
                t = get_default_graph().placeholders.get(key)
            if t is None:
                raise ValueError(f"feed_dict key {key!r} is not the name of a placeholder")
            return t
        raise ValueError(f"feed_dict keys must be Tensors or placeholder names, got "
                         f"{type(key).__name__} {key!r}")

    def _check_feed(self, t, value):
        """The fed value as an array of ``t``'s dtype; device arrays of this Session's
        backend (say, a ``keep_on_device`` result) are checked and stay on the device."""
        on_device = self.backend.owns(value)
        arr = value if on_device else np.asarray(value)
        if arr.dtype == object:
            raise ValueError(f"feed for {t.name!r}: cannot convert {type(value).__name__} to an array")
        if arr.ndim != len(t.shape) or any(d is not None and d != a for d, a in zip(t.shape, arr.shape)):
            raise ValueError(f"feed for {t.name!r}: expected shape {_shape(t.shape)}, "
                             f"got {tuple(arr.shape)}")
        if arr.dtype != t.dtype:
            lossy_float = arr.dtype.kind == "f" and t.dtype.kind == "f"
            if not (lossy_float or np.can_cast(arr.dtype, t.dtype, casting="same_kind")):
                raise ValueError(f"feed for {t.name!r}: expected {t.dtype.name}, got "
                                 f"{arr.dtype.name}, which cannot be converted safely")
            arr = arr.astype(t.dtype)
        return arr

    # ------------------------------------------------------------------ compile
    def _plan(self, flat, fed):
        key = (tuple((f.node.id, f.index) if isinstance(f, Tensor) else ("node", f.id)
                     for f in flat), tuple(sorted((t.node.id, t.index) for t in fed)))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._compile(flat, fed)
            self._plans[key] = plan
        return plan

    def _compile(self, flat, fed):
        from tinygraph.compile import passes
        outputs, inputs = list(flat), list(fed)
        report = None
        if self.optimize and outputs:
            # rewrites build nodes in the fetches' graph, whatever the default is now
            with _graph_of(outputs[0]).as_default():
                outputs, inputs, report = passes.optimize_for_run(outputs, inputs)
        plan = Plan(outputs, inputs, self.backend, self.check_numerics, self.liveness)
        plan.report = report
        return plan

    # ------------------------------------------------------------------ run
    def run(self, fetches, feed_dict=None, keep_on_device=False):
        """Evaluate ``fetches`` (a Tensor, a Node, or any nest of them)."""
        flat = nest.flatten(fetches)
        for f in flat:
            if not isinstance(f, (Tensor, Node)):
                raise TypeError(f"Session.run: cannot fetch {type(f).__name__} {f!r}; "
                                "fetch Tensors or ops")
        feeds = {}
        for k, v in (feed_dict or {}).items():
            t = self._resolve_key(k)
            feeds[t] = self._check_feed(t, v)
        fed = list(feeds)
        plan = self._plan(flat, fed)
        be = self.backend
        updates = {}
        values = plan.run([be.asarray(feeds[t]) for t in fed], updates)
        for var, value in updates.items():        # all-or-nothing: only after success
            be.write_variable(var, value)
        self.last_run_stats = dict(plan.stats)
        values = [None if v is None else be.result(v, keep_on_device) for v in values]
        return nest.pack_as(fetches, values)

    def explain(self, fetches, feed_dict=None):
        """What running ``fetches`` would do: the kernels in order, fused kernels, and
        for every LSTM-like subgraph left unfused, why."""
        from tinygraph.runtime.explain import Explanation
        flat = nest.flatten(fetches)
        if feed_dict is None:          # assume every placeholder the fetches read is fed
            fed = [n.outputs[0] for n in topo_nodes(flat) if n.op.name == "placeholder"]
        else:
            fed = [self._resolve_key(k) for k in feed_dict]
        return Explanation(self._plan(flat, fed), self.optimize)


def _graph_of(fetch):
    return (fetch.node if isinstance(fetch, Tensor) else fetch).graph


def _shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def get_default_session():
    return _default_sessions[-1] if _default_sessions else None


def evaluate(fetches, feed_dict=None, session=None, **session_kwargs):
    """Run ``fetches`` once: in ``session``, else the ``with``-entered default Session,
    else a new ``Session(**session_kwargs)``."""
    sess = session or (None if session_kwargs else get_default_session()) or Session(**session_kwargs)
    return sess.run(fetches, feed_dict)
