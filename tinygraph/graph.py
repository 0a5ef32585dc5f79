"""The graph IR: Graph, Node, Tensor, Op and the op registry.

A graph is the set of nodes reachable from the tensors a user fetches; nodes only
point at their inputs. Every node is built through :func:`apply`, which infers
static shapes and dtypes (raising at build time on a mismatch) and hash-conses:
building the same op on the same inputs twice returns the same node, so common
subexpressions are shared from the start.
"""
import contextlib
import hashlib
import itertools
import threading
import weakref

import numpy as np


class ShapeError(ValueError):
    """A static shape or dtype rule rejected an op's inputs."""


OP_REGISTRY = {}
_ids = itertools.count(1)


def register_op(cls):
    """Class decorator: add an Op subclass to the registry under ``cls.name``."""
    if not cls.name or cls.name in OP_REGISTRY:
        raise ValueError(f"op name {cls.name!r} is empty or registered twice")
    OP_REGISTRY[cls.name] = cls
    return cls


def _freeze(value):
    """A hashable stand-in for an attribute value."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        digest = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ("ndarray", value.dtype.str, value.shape, digest)
    if isinstance(value, np.dtype):
        return value.str
    if isinstance(value, Tensor):           # a Variable held by its read op
        return ("tensor", id(value))
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


class Op:
    """An operation: a shape/dtype rule, a kernel against ``be.xp``, and a VJP.

    Subclasses set ``name`` and implement ``infer`` (returns one ``(shape, dtype)``
    tuple, or a list of them for several outputs), ``compute(be, *arrays)`` and ``vjp(node, *output_grads)`` (returns
    one gradient Tensor or None per input, built from tinygraph ops). Attributes are
    the keyword arguments of the constructor; they are part of the op's identity.
    """

    name = None
    differentiable = True   # False: no gradient flows through any input
    stateful = False        # True: never folded, never shared (random, reads of state)
    specs = ()              # test specs (tinygraph.testing.Spec); a meta-test requires them

    def __init__(self, **attrs):
        self.attrs = attrs
        self.__dict__.update(attrs)
        self._key = (type(self), _freeze(attrs))

    def __eq__(self, other):
        return isinstance(other, Op) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        shown = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items() if k != "value")
        return f"{self.name}({shown})"

    def infer(self, *inputs):
        raise NotImplementedError(f"op {self.name} has no shape rule")

    def compute(self, be, *arrays):
        raise NotImplementedError(f"op {self.name} has no kernel")

    def vjp(self, node, *grads):
        raise NotImplementedError(f"op {self.name} has no gradient")

    def label(self):
        """Short text for pictures."""
        return self.name


class Node:
    """One application of an op. ``outputs`` are Tensors; a node may have none."""

    __slots__ = ("op", "inputs", "control_inputs", "outputs", "name", "scope",
                 "grad_of", "id", "graph", "__weakref__")

    def __init__(self, op, inputs, control_inputs, avals, name, scope, grad_of, graph):
        self.op = op
        self.inputs = tuple(inputs)
        self.control_inputs = tuple(control_inputs)
        self.name = name
        self.scope = scope
        self.grad_of = grad_of
        self.id = next(_ids)
        self.graph = graph
        self.outputs = tuple(Tensor(self, i, s, d) for i, (s, d) in enumerate(avals))

    @property
    def out(self):
        """The single output (for one-output ops)."""
        return self.outputs[0]

    def __repr__(self):
        return f"<Node {self.name} op={self.op.name}>"


class Tensor:
    """A symbolic value: output ``index`` of ``node``, with a static shape and dtype.

    ``==`` keeps its identity meaning (tensors are dict keys in feeds); use
    ``tg.equal`` for an elementwise comparison.
    """

    __array_priority__ = 100   # numpy defers to our operators: np_array + tensor works

    def __init__(self, node, index, shape, dtype):
        self.node = node
        self.index = index
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def name(self):
        if len(self.node.outputs) <= 1:
            return self.node.name
        return f"{self.node.name}:{self.index}"

    @property
    def op(self):
        return self.node.op

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        shape = "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + \
            ("," if len(self.shape) == 1 else "") + ")"
        return f"<Tensor {self.name!r} shape={shape} dtype={self.dtype.name}>"

    def __hash__(self):
        return hash((self.node.id, self.index))

    def __eq__(self, other):
        return self is other or (isinstance(other, Tensor) and other.node is self.node
                                 and other.index == self.index)

    def __bool__(self):
        raise TypeError(f"the truth value of symbolic tensor {self.name!r} is unknown "
                        "until it is run; use tg.where for a data-dependent choice")

    def __len__(self):
        if not self.shape or self.shape[0] is None:
            raise TypeError(f"len() of tensor {self.name!r} with shape {self.shape}")
        return self.shape[0]

    def __iter__(self):
        raise TypeError(f"tensor {self.name!r} is not iterable; use tg.unstack")

    def eval(self, feed_dict=None, session=None):
        from tinygraph.session import evaluate
        return evaluate(self, feed_dict=feed_dict, session=session)

    # Operators are thin calls into tinygraph.ops (imported late: ops import us).
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().subtract(self, o)
    def __rsub__(self, o): return _ops().subtract(o, self)
    def __mul__(self, o): return _ops().multiply(self, o)
    def __rmul__(self, o): return _ops().multiply(o, self)
    def __truediv__(self, o): return _ops().divide(self, o)
    def __rtruediv__(self, o): return _ops().divide(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __pow__(self, o): return _ops().power(self, o)
    def __rpow__(self, o): return _ops().power(o, self)
    def __neg__(self): return _ops().negative(self)
    def __abs__(self): return _ops().abs(self)
    def __lt__(self, o): return _ops().less(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    def __getitem__(self, index): return _ops().getitem(self, index)

    @property
    def T(self):
        return _ops().transpose(self)


def _ops():
    from tinygraph import ops
    return ops


# --------------------------------------------------------------------------- graphs

class Graph:
    """Holds what is shared while building: names, scopes, the variable store, the
    hash-consing table and gradient provenance. Nodes do not need to be registered:
    the graph a Session runs is whatever the fetches reach."""

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
        self.grad_records = {}            # gradient tensor key -> (GradRecord, index)

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


def fmt_shape(shape):
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


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
