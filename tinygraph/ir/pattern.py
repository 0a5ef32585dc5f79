"""Patterns: descriptions of a subgraph ending at one tensor, matched against a graph.

``Pat(op, *inputs)`` matches a node by op name and its inputs by sub-patterns;
``V(name)`` matches any tensor and binds it. ``Alt`` (alternatives) and ``Opt``
(an optional wrapper) describe variants of one computation, ``bind=`` names tensors
(a name bound twice must be the same tensor) and ``tag=`` records which alternative
matched (an activation's name, say). Matching backtracks: ``pat.matches(t)`` yields
every way ``t`` matches, as ``Match(bindings, interior)``, where the interior is the
nodes the pattern's ops matched (what a rewrite replaces).
"""
from collections import namedtuple

Match = namedtuple("Match", "bindings interior")


class Pat:
    """Match a tensor. ``op``: an op name or a tuple of names (None: any op);
    ``inputs``: patterns for the node's inputs (None: don't look); ``bind``: name
    the matched tensor; ``where``: a predicate on the tensor; ``commutative``: also
    try the two inputs swapped; ``tag``: a (key, value) pair bound on a match."""

    def __init__(self, op=None, *inputs, bind=None, where=None, commutative=False, tag=None):
        self.ops = (op,) if isinstance(op, str) else op
        self.inputs = inputs if inputs else None
        self.bind, self.where, self.commutative, self.tag = bind, where, commutative, tag

    def matches(self, t, bindings=None):
        """Every match of ``t``, as ``Match(bindings, interior)``, in a fixed order."""
        for b, interior in self._match(t, dict(bindings or {})):
            yield Match(b, _unique(interior))

    def first(self, t, bindings=None):
        """The first match of ``t``, or None."""
        return next(self.matches(t, bindings), None)

    def _match(self, t, b):
        if not _bind_ok(b, self.bind, t) or not _bind_ok(b, *(self.tag or (None, None))):
            return
        if self.ops is not None and t.node.op.name not in self.ops:
            return
        if self.where is not None and not self.where(t):
            return
        own = (t.node,) if self.ops is not None else ()
        b = _bound(b, self.bind, t, self.tag)
        if self.inputs is None:
            yield b, own
            return
        ins = t.node.inputs
        if len(ins) != len(self.inputs):
            return
        orders = [ins] + ([ins[::-1]] if self.commutative and len(ins) == 2 else [])
        for cand in orders:
            for b2, inner in _match_all(self.inputs, cand, b):
                yield b2, inner + own


class Alt(Pat):
    """The first, then the next ... of ``alternatives`` (all are tried on backtracking);
    ``bind``, ``tag`` and ``where`` apply to whichever matched."""

    def __init__(self, *alternatives, bind=None, tag=None, where=None):
        super().__init__(None, bind=bind, tag=tag, where=where)
        self.alternatives = alternatives

    def _match(self, t, b):
        if not _bind_ok(b, self.bind, t) or not _bind_ok(b, *(self.tag or (None, None))):
            return
        if self.where is not None and not self.where(t):
            return
        b = _bound(b, self.bind, t, self.tag)
        for alt in self.alternatives:
            yield from alt._match(t, b)


def Opt(core, wrap):
    """``wrap(core)`` or ``core`` alone: an optional computation around ``core`` (a
    bias added, a peephole term ...)."""
    return Alt(wrap(core), core)


def V(name, where=None):
    """Any tensor, bound to ``name``."""
    return Pat(None, bind=name, where=where)


def _bind_ok(b, key, value):
    """A key not yet bound, or bound to the same tensor or value."""
    if key is None or key not in b:
        return True
    old = b[key]
    return old is value or old == value


def _bound(b, key, value, tag):
    if key is None and tag is None:
        return b
    b = dict(b)
    if key is not None:
        b[key] = value
    if tag is not None:
        b[tag[0]] = tag[1]
    return b


def _match_all(pats, tensors, b):
    """Every joint match of ``pats`` against ``tensors``, left to right."""
    if not pats:
        yield b, ()
        return
    for b1, inner1 in pats[0]._match(tensors[0], b):
        for b2, inner2 in _match_all(pats[1:], tensors[1:], b1):
            yield b2, inner1 + inner2


def _unique(nodes):
    seen, out = set(), []
    for n in nodes:
        if n.id not in seen:
            seen.add(n.id)
            out.append(n)
    return out
