"""The rewrite engine: patterns, rules, and one driver that applies them.

A rule is ``Rule(pattern, replace, doc)``. ``pattern`` describes a subgraph ending
at one tensor; ``replace(bindings, tensor)`` returns the replacement tensor, a dict
{old tensor: new tensor} (a match that replaces several outputs, such as an LSTM
cell's h and c), None (no change) or ``Decline(reason)`` (recorded, shown by
``Session.explain``). A rule
with ``exclusive=True`` declines by itself when a tensor inside the match is also
used outside it: replacing the match would then compute that tensor twice.

Graphs are immutable: the driver finds matches on the current graph, then rebuilds
the consumers of replaced tensors (``substitute``), and repeats until nothing fires.
"""
from contextlib import nullcontext
from dataclasses import dataclass, field

from tinygraph.graph import Node, Tensor, apply, in_scope, provenance, topo_nodes


class Pat:
    """Match a tensor. ``op``: an op name or a tuple of names (None: any op);
    ``inputs``: patterns for the node's inputs (None: don't look); ``bind``: name
    the matched tensor (a name bound twice must be the same tensor); ``where``: a
    predicate on the tensor; ``commutative``: also try the two inputs swapped."""

    def __init__(self, op=None, *inputs, bind=None, where=None, commutative=False):
        self.ops = (op,) if isinstance(op, str) else op
        self.inputs = inputs if inputs else None
        self.bind, self.where, self.commutative = bind, where, commutative

    def match(self, t, b, interior):
        if self.bind is not None and self.bind in b:
            return b[self.bind] is t or b[self.bind] == t
        if self.ops is not None and t.node.op.name not in self.ops:
            return False
        if self.where is not None and not self.where(t):
            return False
        if self.inputs is not None:
            ins = t.node.inputs
            if len(ins) != len(self.inputs):
                return False
            orders = [ins] + ([ins[::-1]] if self.commutative and len(ins) == 2 else [])
            for cand in orders:
                b2, inner = dict(b), []
                if all(p.match(x, b2, inner) for p, x in zip(self.inputs, cand)):
                    b.clear()
                    b.update(b2)
                    interior.extend(inner)
                    break
            else:
                return False
        if self.ops is not None:
            interior.append(t.node)
        if self.bind is not None:
            b[self.bind] = t
        return True


def V(name, where=None):
    """Any tensor, bound to ``name``."""
    return Pat(None, bind=name, where=where)


@dataclass
class Decline:
    reason: str


@dataclass
class Rule:
    pattern: Pat
    replace: object
    doc: str
    exclusive: bool = True
    name: str = ""
    context: bool = False      # replace(bindings, tensor, ctx) instead of (bindings, tensor)

    def __post_init__(self):
        self.name = self.name or getattr(self.replace, "__name__", "rule")


@dataclass
class Event:
    rule: str
    node: str
    fired: bool
    reason: str = ""
    data: dict = field(default_factory=dict)


def _key(t):
    return (t.node.id, t.index)


def substitute(roots, mapping, force=False):
    """Rebuild ``roots`` with tensors replaced per ``mapping`` ((node id, index) ->
    Tensor). Replacements may themselves read replaced tensors (rules of one round
    build them on the old graph): those are followed too. Nodes downstream of a
    replacement are rebuilt (keeping name, scope and provenance); ``force`` rebuilds
    every node, which merges identical ones (CSE)."""
    def target(t):
        hops = 0
        while _key(t) in mapping:
            t = mapping[_key(t)]
            hops += 1
            if hops > len(mapping):
                raise RuntimeError("substitute: the replacements form a cycle")
        return t

    def deps(n):
        return list(n.control_inputs) + [target(t).node for t in n.inputs]

    # the graph as it is after replacement, inputs first
    order = topo_nodes([target(r) if isinstance(r, Tensor) else r for r in roots], deps)

    rebuilt = {}

    def resolve(t):
        t = target(t)
        new = rebuilt.get(t.node.id)
        return t if new is None else new.outputs[t.index]

    for node in order:
        ins = [resolve(t) for t in node.inputs]
        ctrl = [rebuilt.get(c.id, c) for c in node.control_inputs]
        changed = any(a is not b for a, b in zip(ins, node.inputs)) or any(
            a is not b for a, b in zip(ctrl, node.control_inputs))
        if not (changed or (force and node.inputs)):
            continue
        rebuilt[node.id] = apply(node.op, ins, control_inputs=ctrl, unique=node.op.stateful,
                                 exact_name=node.name, scope=node.scope, grad_of=node.grad_of)
    return [resolve(r) if isinstance(r, Tensor) else rebuilt.get(r.id, r) for r in roots]


class Context:
    """What a rule may ask about the graph being rewritten: who uses a node, and
    whether a candidate match is used from outside. Rules with ``context=True``
    receive it as a third argument; nested rewrites append their events to it."""

    def __init__(self, nodes, roots, events):
        self.events = events
        self.claimed = set()             # ids of nodes some rewrite of this round replaces
        self.nodes = {n.id: n for n in nodes}
        self.readers = {}                 # (node id, output index) -> ids of reading nodes
        self.users = {}                   # node id -> ids of nodes reading any output
        for n in nodes:
            for t in n.inputs:
                self.readers.setdefault(_key(t), set()).add(n.id)
                self.users.setdefault(t.node.id, set()).add(n.id)
            for c in n.control_inputs:
                self.users.setdefault(c.id, set()).add(n.id)
        self.root_ids = {(r.node if isinstance(r, Tensor) else r).id for r in roots}
        self.root_keys = {_key(r) for r in roots if isinstance(r, Tensor)}

    def leak(self, interior, replaced=()):
        """The first node of ``interior`` read from outside it, ignoring nodes whose
        outputs are all being replaced (their readers will read the replacements)."""
        ids = {n.id for n in interior}
        replaced_keys = {_key(t) for t in replaced}
        for n in interior:
            for o in n.outputs:
                if _key(o) in replaced_keys:
                    continue
                if self.readers.get(_key(o), set()) - ids or _key(o) in self.root_keys:
                    return n
            if not n.outputs and n.id in self.root_ids:
                return n
        return None

    def claim(self, nodes):
        """Reserve ``nodes`` for one rewrite; False if another rewrite of this round
        already took one of them (the graph changes before they meet again)."""
        ids = {n.id for n in nodes}
        if ids & self.claimed:
            return False
        self.claimed |= ids
        return True


def rewrite(roots, rules, max_rounds=100):
    """Apply ``rules`` to the graph of ``roots`` until none fires.
    Returns (new roots, list of Events)."""
    events = []
    declined = set()
    for _ in range(max_rounds):
        nodes = topo_nodes(roots)
        ctx = Context(nodes, roots, events)
        used = set(ctx.readers) | ctx.root_keys
        mapping, claimed = {}, ctx.claimed
        for node in nodes:
            for t in node.outputs:
                if _key(t) not in used:        # nothing reads it: nothing to rewrite
                    continue
                fired = _try_rules(t, node, rules, ctx, claimed, declined)
                if fired:
                    mapping.update(fired)
                    break
        if not mapping:
            return roots, events
        roots = substitute(roots, mapping)
    raise RuntimeError(f"rewrite did not settle after {max_rounds} rounds")


def _try_rules(t, node, rules, ctx, claimed, declined):
    """The replacements ((node id, index) -> Tensor) of the first rule that fires."""
    for rule in rules:
        b, interior = {}, []
        if not rule.pattern.match(t, b, interior):
            continue
        ids = {n.id for n in interior}
        if ids & claimed:
            continue
        if rule.exclusive:
            leak = ctx.leak(interior, [t])
            if leak is not None:
                _decline(ctx.events, declined, rule, node,
                         f"{leak.name!r} ({leak.op.name}) is also used outside the match")
                continue
        with in_scope(node.scope), provenance(node.grad_of) if node.grad_of else nullcontext():
            new = rule.replace(b, t, ctx) if rule.context else rule.replace(b, t)
        if isinstance(new, Decline):
            _decline(ctx.events, declined, rule, node, new.reason)
            continue
        if new is None or new is t:
            continue
        pairs = new.items() if isinstance(new, dict) else [(t, new)]
        for old, rep in pairs:
            if (rep.shape != old.shape and None not in old.shape) or rep.dtype != old.dtype:
                raise RuntimeError(f"rule {rule.name} changed {old.name!r} from {old.shape} "
                                   f"{old.dtype} to {rep.shape} {rep.dtype}")
        claimed.update(ids)
        claimed.update(old.node.id for old, _ in pairs)
        ctx.events.append(Event(rule.name, node.name, True,
                                data={"old": [o for o, _ in pairs], "new": [r for _, r in pairs]}))
        return {_key(old): rep for old, rep in pairs}
    return None


def _decline(events, declined, rule, node, reason):
    if (rule.name, node.id) not in declined:
        declined.add((rule.name, node.id))
        events.append(Event(rule.name, node.name, False, reason))


__all__ = ["Pat", "V", "Rule", "Decline", "Event", "rewrite", "substitute", "Node"]
