"""The rewrite engine: rules, and one driver that applies them.

A rule is ``Rule(pattern, replace, doc)``. ``pattern`` (tinygraph/ir/pattern.py)
describes a subgraph ending at one tensor. For each match, in the pattern's order:

1. ``extend(bindings, tensor, ctx)`` (optional) reads what a pattern cannot say (a
   chain of steps over time, a loop's body) and returns ``Extension(interior,
   replaces, data)``, None (no match) or ``Decline(reason)``;
2. the engine's guard: with ``exclusive=True`` (the default) a match whose interior
   is read from outside is declined: replacing it would compute that part twice. The
   tensors the rewrite replaces are the anchor, the bindings named in ``replaces``
   and the extension's;
3. ``replace(bindings, tensor)`` (``(bindings, tensor, ctx)`` with ``context=True``)
   only builds: it returns the replacement tensor, a dict {old tensor: new tensor},
   None (try the next match) or ``Decline(reason)``.

Declines are recorded once per rule and node (``Session.explain`` shows them).
Graphs are immutable: the driver finds matches on the current graph, rebuilds the
consumers of replaced tensors (``substitute``), and repeats until nothing fires.
"""
from contextlib import nullcontext
from dataclasses import dataclass, field

from tinygraph.ir.graph import Tensor, in_scope, provenance, topo_nodes
from tinygraph.ir.pattern import Pat, V  # noqa: F401 -- the pattern language rules use
from tinygraph.ir.rebuild import substitute, tensor_key  # noqa: F401


@dataclass
class Decline:
    reason: str


@dataclass
class Extension:
    """What a rule's ``extend`` adds to a match: more interior nodes, more replaced
    tensors, and data for its ``replace`` (found in ``bindings["extension"]``)."""
    interior: list = field(default_factory=list)
    replaces: list = field(default_factory=list)
    data: object = None


@dataclass
class Rule:
    pattern: Pat
    replace: object
    doc: str
    exclusive: bool = True
    name: str = ""
    context: bool = False      # replace(bindings, tensor, ctx) instead of (bindings, tensor)
    replaces: tuple = ()       # names of bound tensors the rewrite replaces besides the anchor
    extend: object = None      # extend(bindings, tensor, ctx) -> Extension | None | Decline
    leak_reason: str = ("{name!r} ({op}) inside the match is also used outside it")  # the guard's

    def __post_init__(self):
        self.name = self.name or self.replace.__name__


@dataclass
class Event:
    rule: str
    node: str
    fired: bool
    reason: str = ""
    data: dict = field(default_factory=dict)


class Context:
    """What a rule may ask about the graph being rewritten: who reads a tensor, and
    whether a candidate match is read from outside. Nested rewrites (inside loop
    bodies) append their events here."""

    def __init__(self, nodes, roots, events):
        self.events = events
        self.claimed = set()             # ids of nodes some rewrite of this round replaces
        self.nodes = {n.id: n for n in nodes}
        self.readers = {}                 # (node id, output index) -> ids of reading nodes
        for n in nodes:
            for t in n.inputs:
                self.readers.setdefault(tensor_key(t), set()).add(n.id)
        self.root_ids = {(r.node if isinstance(r, Tensor) else r).id for r in roots}
        self.root_keys = {tensor_key(r) for r in roots if isinstance(r, Tensor)}

    def leak(self, interior, replaced=()):
        """The first node of ``interior`` read from outside it, ignoring outputs that
        are being replaced (their readers will read the replacements)."""
        ids = {n.id for n in interior}
        replaced_keys = {tensor_key(t) for t in replaced}
        for n in interior:
            for o in n.outputs:
                if tensor_key(o) in replaced_keys:
                    continue
                if self.readers.get(tensor_key(o), set()) - ids or tensor_key(o) in self.root_keys:
                    return n
            if not n.outputs and n.id in self.root_ids:
                return n
        return None


def rewrite(roots, rules, max_rounds=100):
    """Apply ``rules`` to the graph of ``roots`` until none fires.
    Returns (new roots, list of Events)."""
    events = []
    declined = set()
    for _ in range(max_rounds):
        nodes = topo_nodes(roots)
        ctx = Context(nodes, roots, events)
        used = set(ctx.readers) | ctx.root_keys
        mapping = {}
        for node in nodes:
            for t in node.outputs:
                if tensor_key(t) not in used:        # nothing reads it: nothing to rewrite
                    continue
                fired = _try_rules(t, node, rules, ctx, declined)
                if fired:
                    mapping.update(fired)
                    break
        if not mapping:
            return roots, events
        roots = substitute(roots, mapping)
    raise RuntimeError(f"rewrite did not settle after {max_rounds} rounds")


def _try_rules(t, node, rules, ctx, declined):
    """The replacements ((node id, index) -> Tensor) of the first rule that fires."""
    for rule in rules:
        reason = None
        for match in rule.pattern.matches(t):
            out = _try_match(rule, match, t, node, ctx)
            if isinstance(out, Decline):
                reason = reason or out.reason
            elif out is not None:
                return out
        if reason is not None:
            _decline(ctx.events, declined, rule, node, reason)
    return None


def _try_match(rule, match, t, node, ctx):
    """One match through extend, the guard and replace: replacements, None or Decline."""
    b, interior = dict(match.bindings), list(match.interior)
    replaced = [t] + [b[n] for n in rule.replaces if n in b]
    if rule.extend is not None:
        ext = rule.extend(b, t, ctx)
        if ext is None or isinstance(ext, Decline):
            return ext
        interior += ext.interior
        replaced += ext.replaces
        b["extension"] = ext.data
    if {n.id for n in interior} & ctx.claimed:
        return None                      # another rewrite of this round took part of it
    if rule.exclusive:
        leak = ctx.leak(interior, replaced)
        if leak is not None:
            return Decline(rule.leak_reason.format(name=leak.name, op=leak.op.name))
    with in_scope(node.scope), provenance(node.grad_of) if node.grad_of else nullcontext():
        new = rule.replace(b, t, ctx) if rule.context else rule.replace(b, t)
    if new is None or new is t or isinstance(new, Decline):
        return None if new is t else new
    pairs = list(new.items()) if isinstance(new, dict) else [(t, new)]
    for old, rep in pairs:
        if (rep.shape != old.shape and None not in old.shape) or rep.dtype != old.dtype:
            raise RuntimeError(f"rule {rule.name} changed {old.name!r} from {old.shape} "
                               f"{old.dtype} to {rep.shape} {rep.dtype}")
    ctx.claimed.update(n.id for n in interior)
    ctx.claimed.update(old.node.id for old, _ in pairs)
    ctx.events.append(Event(rule.name, node.name, True,
                            data={"old": [o for o, _ in pairs], "new": [r for _, r in pairs]}))
    return {tensor_key(old): rep for old, rep in pairs}


def _decline(events, declined, rule, node, reason):
    if (rule.name, node.id) not in declined:
        declined.add((rule.name, node.id))
        events.append(Event(rule.name, node.name, False, reason))


__all__ = ["Pat", "V", "Rule", "Decline", "Extension", "Event", "rewrite", "substitute"]
