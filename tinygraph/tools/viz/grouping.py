"""Where each node is drawn: its picture scope (gradients under
``gradients/<forward scope>``), time steps, and the group boxes that stand for many
nodes (``collapse``, ``max_steps``, ``max_nodes``)."""
import re
import warnings

from tinygraph.ir.graph import Node, Tensor

from .styles import text

_STEP = re.compile(r"step_(\d+)")


def as_list(x):
    if x is None or x is False:
        return []
    return [x] if isinstance(x, (str, Tensor, Node)) else list(x)


def join(*parts):
    return "/".join(p for p in parts if p)


def parts(scope):
    return scope.split("/") if scope else []


def _own_scope(node):
    """The node's scope; for a Variable from the store (built at top level under its
    full name, like ``lstm/kernel``), the prefix of its name."""
    return node.scope or node.name.rpartition("/")[0]


def _step_level(scope):
    """A scope inside ``.../step_<t>/...`` is drawn in the step itself: the cell's
    own scope repeats in every step and would only add a box around the step's work."""
    ps = parts(scope)
    for i, part in enumerate(ps):
        if _STEP.fullmatch(part):
            return "/".join(ps[:i + 1])
    return scope


def _common(scopes):
    ps = [parts(s) for s in scopes]
    out = []
    for level in zip(*ps):
        if len(set(level)) > 1:
            break
        out.append(level[0])
    return "/".join(out)


def _home(node, consumers):
    """Where a forward node belongs. Hash-consing shares a node (a shape, a zero
    state) between layers that built it alike; it keeps the scope of the first. When
    its readers sit in other top-level scopes, it is drawn where they meet."""
    own = _own_scope(node)
    readers = [_own_scope(c) for c in consumers.get(node.id, ()) if c.grad_of is None]
    if node.op.name in ("placeholder", "variable") or not own or not readers:
        return _step_level(own)
    top = parts(own)[0]
    others = [r for r in readers if r and parts(r)[0] != top]     # top-level readers stay
    if not others:
        return _step_level(own)
    return _step_level(_common([own] + others))


def picture_scopes(nodes):
    """Node id -> the scope it is drawn in. A gradient node goes under
    ``<its own scope>/gradients/<picture scope of its forward node>`` when that
    forward node is drawn, else under ``gradients``; sub-scopes of a ``step_<t>``
    are drawn in the step."""
    drawn = {n.id for n in nodes}
    consumers = {}
    for n in nodes:
        for t in n.inputs:
            consumers.setdefault(t.node.id, []).append(n)
    memo = {}
    for n in nodes:
        chain, m = [], n
        while m.grad_of is not None and m.grad_of.id in drawn and m.id not in memo:
            chain.append(m)
            m = m.grad_of
        base = memo.get(m.id, _home(m, consumers) if m.grad_of is None
                        else "gradients")     # its forward node is not in the picture
        memo.setdefault(m.id, base)
        for c in reversed(chain):
            base = memo[c.id] = _step_level(join(_own_scope(c), "gradients", base))
        memo.setdefault(n.id, base)
    return memo


def step_of(scope):
    """(parent scope, t) for a scope inside ``.../step_<t>``, else None."""
    ps = parts(scope)
    for i, part in enumerate(ps):
        m = _STEP.fullmatch(part)
        if m:
            return "/".join(ps[:i]), int(m.group(1))
    return None


def link_sources(nodes):
    """The gradient nodes that stand for "the gradient of F": per forward node F, the
    last node of F's VJP that feeds no other node of that VJP."""
    inner = set()
    for n in nodes:
        for t in n.inputs:
            if n.grad_of is not None and t.node.grad_of is n.grad_of:
                inner.add(t.node.id)
    last = {}
    for n in sorted(nodes, key=lambda n: n.id):
        if n.grad_of is not None and n.id not in inner:
            last[n.grad_of.id] = n.id
    return set(last.values())


class Group:
    """Several nodes drawn as one box: a collapsed scope, or the elided middle steps."""

    def __init__(self, key, region, kind, head):
        self.key = key            # DOT id
        self.region = region      # scope parts the box stands for
        self.kind = kind          # "collapsed" or "steps"
        self.head = head          # first label lines
        self.members = {}         # node id -> Node
        self.step = None          # for elided steps: the scope of the first one hidden

    @property
    def scope(self):              # the cluster the box sits in
        return "/".join(self.region[:-1])


class _Groups:
    """Node id -> the Group box it is drawn in (each node in at most one)."""

    def __init__(self, nodes, scopes):
        self.nodes, self.scopes = nodes, scopes
        self.owner, self.groups = {}, {}

    def put(self, node, region, kind, head):
        key = re.sub(r'[:"\\]', "_", f"{kind} {'/'.join(region)}")
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, region, kind, head)
        old = self.owner.get(node.id)
        if old is not None:
            del old.members[node.id]
        group.members[node.id] = node
        self.owner[node.id] = group

    def region(self, node):
        """(scope parts, already in a box) of where the node is drawn."""
        g = self.owner.get(node.id)
        return (g.region, True) if g is not None else (parts(self.scopes[node.id]), False)

    def boxes(self):
        return sum(n.id not in self.owner for n in self.nodes) + \
            len({id(g) for g in self.owner.values()})

    def free_step(self, node):
        return None if node.id in self.owner else step_of(self.scopes[node.id])


def group_nodes(nodes, scopes, collapse, max_steps, max_nodes):
    """Decide which nodes are drawn inside a group box. Returns (owner, note):
    owner maps node id -> Group; note says what max_nodes did (or None)."""
    groups = _Groups(nodes, scopes)
    _collapse(groups, collapse)
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"to_dot: max_steps must be a positive int, got {max_steps!r}")
        _elide_steps(groups, max_steps)
    note = None
    if max_nodes is not None:
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
            raise ValueError(f"to_dot: max_nodes must be a positive int, got {max_nodes!r}")
        note = _fit(groups, max_nodes)
    return groups.owner, note


def _collapse(groups, collapse):
    """Each scope prefix of ``collapse`` (outermost first) becomes one box."""
    for p in sorted({text(p).strip("/") for p in as_list(collapse)},
                    key=lambda p: (p.count("/"), p)):
        if not p:
            raise ValueError("to_dot: collapse needs scope prefixes, got an empty one")
        hits = [n for n in groups.nodes if n.id not in groups.owner and
                (groups.scopes[n.id] == p or groups.scopes[n.id].startswith(p + "/"))]
        if not hits:
            warnings.warn(f"to_dot: collapse={p!r} matches no scope in the picture", stacklevel=4)
        for n in hits:
            groups.put(n, p.split("/"), "collapsed", [p.split("/")[-1]])


def _elide_steps(groups, max_steps):
    """Per layer, keep the first and last steps of at most ``max_steps``; the middle
    steps become one box."""
    found = {}
    for n in groups.nodes:
        hit = groups.free_step(n)
        if hit:
            found.setdefault(hit[0], set()).add(hit[1])
    hidden = {}
    for parent, ts in found.items():
        ts = sorted(ts)
        if len(ts) > max_steps:
            first, last = (max_steps + 1) // 2, max_steps // 2
            hidden[parent] = ts[first:len(ts) - last]
    for n in groups.nodes:
        hit = groups.free_step(n)
        if hit and hit[1] in hidden.get(hit[0], ()):
            mid = hidden[hit[0]]
            groups.put(n, parts(hit[0]) + ["step_*"], "steps",
                       [f"… {len(mid)} steps …", f"step_{mid[0]} – step_{mid[-1]}"])
            groups.owner[n.id].step = join(hit[0], f"step_{mid[0]}")


def _fit(groups, max_nodes):
    """Collapse the deepest scopes, one level at a time, until at most ``max_nodes``
    boxes remain; returns what was done (or None)."""
    note = None
    d = max(len(groups.region(n)[0]) for n in groups.nodes)
    while groups.boxes() > max_nodes and d >= 1:
        for n in groups.nodes:
            ps, boxed = groups.region(n)
            if len(ps) > d or (len(ps) == d and not boxed):
                groups.put(n, ps[:d], "collapsed", [ps[d - 1]])
        note = f"scopes at depth ≥ {d} collapsed to fit max_nodes={max_nodes}"
        d -= 1
    if note and groups.boxes() > max_nodes:
        note += f" ({groups.boxes()} boxes remain)"
    return note
