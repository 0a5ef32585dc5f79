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

from tinygraph.ir.graph import Node, Tensor, in_scope, provenance, topo_nodes
from tinygraph.ir.pattern import Pat, V
from tinygraph.ir.rebuild import _key, substitute


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
