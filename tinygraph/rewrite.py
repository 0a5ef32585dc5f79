"""The rewrite engine: patterns, rules, and one driver that applies them.

A rule is ``Rule(pattern, replace, doc)``. ``pattern`` describes a subgraph ending
at one tensor; ``replace(bindings, tensor)`` returns the replacement tensor, None
(no change) or ``Decline(reason)`` (recorded, shown by ``Session.explain``). A rule
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
    Tensor). Nodes downstream of a replacement are rebuilt (keeping name, scope and
    provenance); ``force`` rebuilds every node, which merges identical ones (CSE)."""
    memo = dict(mapping)
    node_map = {}
    for node in topo_nodes(roots):
        if node.outputs and all(_key(o) in memo for o in node.outputs):
            continue
        ins = [memo.get(_key(t), t) for t in node.inputs]
        ctrl = [node_map.get(c.id, c) for c in node.control_inputs]
        changed = any(a is not b for a, b in zip(ins, node.inputs)) or any(
            a is not b for a, b in zip(ctrl, node.control_inputs))
        if not (changed or (force and node.inputs)):
            continue
        new = apply(node.op, ins, control_inputs=ctrl, unique=node.op.stateful,
                    exact_name=node.name, scope=node.scope, grad_of=node.grad_of)
        node_map[node.id] = new
        for o, n in zip(node.outputs, new.outputs):
            memo.setdefault(_key(o), n)
    out = []
    for r in roots:
        out.append(memo.get(_key(r), r) if isinstance(r, Tensor) else node_map.get(r.id, r))
    return out


def rewrite(roots, rules, max_rounds=100):
    """Apply ``rules`` to the graph of ``roots`` until none fires.
    Returns (new roots, list of Events)."""
    events = []
    declined = set()
    for _ in range(max_rounds):
        nodes = topo_nodes(roots)
        users = {}
        for n in nodes:
            for t in n.inputs:
                users.setdefault(t.node.id, set()).add(n.id)
            for c in n.control_inputs:
                users.setdefault(c.id, set()).add(n.id)
        root_ids = {(r.node if isinstance(r, Tensor) else r).id for r in roots}
        used = {_key(t) for n in nodes for t in n.inputs} | {_key(r) for r in roots
                                                            if isinstance(r, Tensor)}
        mapping, claimed = {}, set()
        for node in nodes:
            for t in node.outputs:
                if _key(t) not in used:        # nothing reads it: nothing to rewrite
                    continue
                fired = _try_rules(t, node, rules, users, root_ids, claimed, events, declined)
                if fired is not None:
                    mapping[_key(t)] = fired
                    break
        if not mapping:
            return roots, events
        roots = substitute(roots, mapping)
    raise RuntimeError(f"rewrite did not settle after {max_rounds} rounds")


def _try_rules(t, node, rules, users, root_ids, claimed, events, declined):
    for rule in rules:
        b, interior = {}, []
        if not rule.pattern.match(t, b, interior):
            continue
        ids = {n.id for n in interior}
        if ids & claimed:
            continue
        if rule.exclusive:
            leak = next((n for n in interior if n is not node and
                         (users.get(n.id, set()) - ids or n.id in root_ids)), None)
            if leak is not None:
                _decline(events, declined, rule, node,
                         f"{leak.name!r} ({leak.op.name}) is also used outside the match")
                continue
        with in_scope(node.scope), provenance(node.grad_of) if node.grad_of else nullcontext():
            new = rule.replace(b, t)
        if isinstance(new, Decline):
            _decline(events, declined, rule, node, new.reason)
            continue
        if new is None or new is t:
            continue
        if new.shape != t.shape and None not in t.shape or new.dtype != t.dtype:
            raise RuntimeError(f"rule {rule.name} changed {t.name!r} from {t.shape} "
                               f"{t.dtype} to {new.shape} {new.dtype}")
        claimed.update(ids)
        events.append(Event(rule.name, node.name, True, data={"old": t, "new": new}))
        return new
    return None


def _decline(events, declined, rule, node, reason):
    if (rule.name, node.id) not in declined:
        declined.add((rule.name, node.id))
        events.append(Event(rule.name, node.name, False, reason))


__all__ = ["Pat", "V", "Rule", "Decline", "Event", "rewrite", "substitute", "Node"]
