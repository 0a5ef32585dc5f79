"""The graph: what is shared while building (names, scopes, hash-consing), ``apply``
that builds every node, and traversal.

A graph is the set of nodes reachable from the tensors a user fetches; nodes only
point at their inputs. Every node is built through :func:`apply`, which infers
static shapes and dtypes (raising at build time on a mismatch) and hash-conses:
building the same op on the same inputs twice returns the same node, so common
subexpressions are shared from the start.
"""
import contextlib
import itertools
import threading
import weakref

from tinygraph.ir.node import Node, Tensor, fmt_shape
from tinygraph.ir.op import OP_REGISTRY, Op, ShapeError, register_op  # noqa: F401


# --------------------------------------------------------------------------- graphs

class Graph:
    """Holds what is shared while building: names, scopes, the variable store, the
    hash-consing table and gradient provenance. Nodes do not need to be registered:
    the graph a Session runs is whatever the fetches reach, and nodes nothing refers
    to any more are freed (the hash-consing table holds them weakly)."""

    def __init__(self):
        self._name_counts = {}
        self._scope = []
        self._cons = weakref.WeakValueDictionary()
        self._provenance = []
        self.variable_store = {}          # full name -> Variable (tg.get_variable)
        self.variable_scopes = []         # stack of (name, reuse)
        self.placeholders = weakref.WeakValueDictionary()   # name -> Tensor
        self.random_seed = None           # tg.set_random_seed: TF's graph-level seed
        self.random_ops = itertools.count()   # seeds derived for unseeded random ops
        self.initializer_rng = None       # what unseeded initializers draw from, if seeded
        self.retired = False              # reset_default_graph replaced it: caches drop it

    def unique_name(self, base):
        base = "/".join(self._scope + [base]) if self._scope else base
        n = self._name_counts.get(base, 0)
        self._name_counts[base] = n + 1
        name = base if n == 0 else f"{base}_{n}"
        while n and name in self._name_counts:      # a user-given name like "add_1"
            n += 1
            self._name_counts[base] = n + 1
            name = f"{base}_{n}"
        self._name_counts.setdefault(name, 1)
        return name

    @property
    def scope(self):
        return "/".join(self._scope)

    @contextlib.contextmanager
    def as_default(self):
        _state.stack.append(self)
        try:
            yield self
        finally:
            _state.stack.pop()


class _State(threading.local):
    def __init__(self):
        self.stack = []
        self.root = Graph()


_state = _State()


def get_default_graph():
    return _state.stack[-1] if _state.stack else _state.root


def reset_default_graph():
    """Start a fresh default graph (names, variable store); old tensors stay valid."""
    if _state.stack:
        raise RuntimeError("reset_default_graph() inside a `with graph.as_default()` block")
    _state.root.retired = True
    _state.root = Graph()


@contextlib.contextmanager
def name_scope(name):
    """Prefix the names of nodes built inside with ``name/``; pictures group them."""
    if not isinstance(name, str) or not name or "/" in name.strip("/"):
        raise ValueError(f"name_scope: expected a non-empty name without '/', got {name!r}")
    g = get_default_graph()
    g._scope.append(name.strip("/"))
    try:
        yield g.scope
    finally:
        g._scope.pop()


@contextlib.contextmanager
def in_scope(scope):
    """Build nodes under the full scope path ``scope`` (as a pass that replaces a
    node builds its replacement where the node was)."""
    g = get_default_graph()
    saved = g._scope
    g._scope = [s for s in scope.split("/") if s]
    try:
        yield
    finally:
        g._scope = saved


@contextlib.contextmanager
def provenance(node):
    """Nodes built inside record ``grad_of = node`` (the forward node they differentiate)."""
    g = get_default_graph()
    g._provenance.append(node)
    try:
        yield
    finally:
        g._provenance.pop()


def _shape_text(t):
    return f"'{t.name}' {fmt_shape(t.shape)} {t.dtype.name}"


def apply(op, inputs, name=None, control_inputs=(), unique=False, *, exact_name=None,
          scope=None, grad_of=None):
    """Build (or reuse) the node applying ``op`` to ``inputs``; return the Node.

    ``exact_name``, ``scope`` and ``grad_of`` are for passes that rebuild a node: the
    copy keeps the original's name, scope and provenance."""
    g = get_default_graph()
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op.name}: inputs must be Tensors, got {type(t).__name__}")
        if t.node.graph is not g:
            raise ValueError(f"{op.name}: input {t.name!r} belongs to another graph")
    key = None
    if not (unique or op.stateful):
        key = (op._key, tuple((t.node.id, t.index) for t in inputs),
               tuple(n.id for n in control_inputs))
        hit = g._cons.get(key)
        if hit is not None:
            return hit
    try:
        avals = op.infer(*inputs)
    except ShapeError as e:
        shown = ", ".join(_shape_text(t) for t in inputs)
        where = g.scope + "/" + (name or op.name) if g.scope else (name or op.name)
        raise ShapeError(f"{op.name} ({where}): {e}; inputs: {shown}") from None
    if not isinstance(avals, list):     # one (shape, dtype) pair: a single output
        avals = [avals]
    if exact_name is None:
        exact_name, scope = g.unique_name(name or op.name), g.scope
        grad_of = g._provenance[-1] if g._provenance else None
    node = Node(op, inputs, control_inputs, avals, exact_name, scope, grad_of, g)
    if key is not None:
        g._cons[key] = node
    return node


def apply1(op, inputs, name=None, **kw):
    """``apply`` for single-output ops: returns the output Tensor."""
    return apply(op, inputs, name=name, **kw).outputs[0]


# --------------------------------------------------------------------------- traversal

def as_node(x):
    return x.node if isinstance(x, Tensor) else x


def _deps(node):
    return list(node.control_inputs) + [t.node for t in node.inputs]


def topo_nodes(roots, deps=_deps):
    """Nodes reachable from ``roots`` (Tensors or Nodes), inputs before users.

    Iterative depth-first order, deterministic for a given graph. ``deps(node)``
    gives the nodes a node depends on (a rewrite passes the graph as it will be)."""
    order, seen = [], set()
    stack = [(as_node(r), False) for r in reversed(list(roots))]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node.id in seen:
            continue
        seen.add(node.id)
        stack.append((node, True))
        for dep in reversed(deps(node)):
            if dep.id not in seen:
                stack.append((dep, False))
    return order
