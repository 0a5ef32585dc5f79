"""What the LSTM and GRU fusion rules share: cell-agnostic readers of a graph's
recurrent structure (sums of terms, loop-invariant nodes, RNN mask selects, the
slices of a sequence an unrolled chain reads, the layer scope of its steps) and the
pattern pieces every cell pattern is built from (any fused activation, a sum).
tinygraph/compile/lstm_fusion.py and gru_fusion.py build their rules on these; the
loop-body readers (lstm_loop_body.py, gru_loop_body.py) too. Everything here only
reads the graph, except ``rewrite_loop_bodies``, which rebuilds a loop around its
rewritten body."""
from tinygraph.compile.rewrite import Decline, Extension, rewrite
from tinygraph.ir.function import Function
from tinygraph.ir.graph import apply, topo_nodes
from tinygraph.ir.pattern import Alt, Pat
from tinygraph.ops.activations import ACTIVATIONS, FUSABLE
from tinygraph.ops.scan import Scan


def op_name(t):
    """The name of the op that made tensor ``t``."""
    return t.node.op.name


def add_terms(t, nodes):
    """Flatten a tree of ``add`` into its terms (recording the add nodes)."""
    if op_name(t) == "add":
        nodes.append(t.node)
        a, b = t.node.inputs
        return add_terms(a, nodes) + add_terms(b, nodes)
    return [t]


def pairs(t):
    """Both orders of a binary node's two inputs (for commutative ops)."""
    a, b = t.node.inputs
    return [(a, b), (b, a)]


def is_const(t, value):
    """Whether ``t`` is a one-element constant equal to ``value``."""
    v = t.node.op.value if op_name(t) == "constant" else None
    return v is not None and v.size == 1 and v.item() == value


def invariant(body, caps):
    """Ids of the body's nodes that read only captured values and constants (weights,
    their slices, sequence lengths): the same at every step, so they can be rebuilt
    outside the loop."""
    cap_ids = {p.node.id for p in caps}
    inv = set()
    for n in topo_nodes(body.outputs):
        if n.id in cap_ids or n.op.name == "constant" or (
                n.op.name != "placeholder" and n.inputs and not n.op.stateful
                and all(t.node.id in inv for t in n.inputs)):
            inv.add(n.id)
    return inv


def dead_carries(body, nc, slots, inv):
    """Ids of the body nodes that update carries other than the cell's states (the
    carry ``slots``) from themselves alone (dynamic_rnn's step counter), or None when
    such a carry does more."""
    dead = set()
    for j in range(nc):
        if j in slots:
            continue
        own = {body.inputs[j].node.id}
        for n in topo_nodes([body.outputs[j]]):
            if n.id in inv or n.id in own:
                continue
            if n.op.name == "placeholder" or not all(t.node.id in own | inv for t in n.inputs):
                return None
            own.add(n.id)
        dead |= own
    return dead


def where_of(t, key, new, old=None):
    """Whether t is ``where(key, new, old)`` (old: any tensor when None)."""
    return op_name(t) == "where" and t.node.inputs[0] is key and t.node.inputs[1] is new \
        and (old is None or t.node.inputs[2] is old)


def mask_key(m_ph, outs):
    """The (B, 1) keep tensor ``m_t[:, None]`` the masked RNN step reads, or None."""
    keys = [o.node.inputs[0] for o in outs if op_name(o) == "where"]
    return next((k for k in keys if op_name(k) == "getitem" and k.node.inputs[0] is m_ph
                 and k.node.op.index == (slice(None), None)), None)


def activated(key, inner):
    """act(inner) for every activation a fused kernel implements; binds its name to ``key``."""
    return Alt(*[Alt(ACTIVATIONS[name].pattern(inner), tag=(key, name)) for name in FUSABLE])


def plus(a, b):
    """The pattern ``a + b`` in either order."""
    return Pat("add", a, b, commutative=True)


def whole_node(b, t, ctx):
    """A rule's extend that replaces every output of the matched node (a loop's)."""
    return Extension(replaces=list(t.node.outputs))


def rewrite_loop_bodies(rules, label):
    """A rule's replace that applies ``rules`` inside the body of a loop."""
    def replace(b, t, ctx):
        node = t.node
        body = node.op.body
        outs, events = rewrite(body.outputs, rules)
        ctx.events.extend(events)
        if all(a is b_ for a, b_ in zip(outs, body.outputs)):
            return None
        new_op = Scan(**dict(node.op.attrs, body=Function(body.inputs, outs, body.name)))
        new = apply(new_op, list(node.inputs))
        return {o: n for o, n in zip(node.outputs, new.outputs)}
    replace.__name__ = label
    return replace


def step_inputs(xs_t):
    """The (T, B, D) tensor whose slices 0..T-1 are ``xs_t`` (``x[t]`` or the outputs of
    ``unstack(x)`` in order), if they are such slices."""
    first = xs_t[0].node
    if op_name(xs_t[0]) == "unstack" and first.op.axis == 0 and len(first.outputs) == len(xs_t) \
            and all(x is o for x, o in zip(xs_t, first.outputs)):
        return first.inputs[0]
    base = xs_t[0].node.inputs[0] if op_name(xs_t[0]) == "getitem" else None
    if base is None or base.shape[0] != len(xs_t):
        return None
    for t, x in enumerate(xs_t):
        if op_name(x) != "getitem" or x.node.inputs[0] is not base or x.node.op.index[:1] != (t,) \
                or any(i != slice(None) for i in x.node.op.index[1:]):
            return None
    return base


def layer_scope(chain):
    """The scope the steps share (the layer's), above the per-step scopes."""
    common = []
    for a, b in zip(chain[0].scope.split("/"), chain[-1].scope.split("/")):
        if a != b:
            break
        common.append(a)
    return "/".join(common)


def loop_extension(t, info, cell_op, slot_keys):
    """A sequence rule's extend for the loop node making ``t``: ``info`` is what the
    body reader found (a dict with the carry slots named ``slot_keys``) or why the body
    is not one cell; a reason is reported only when the body holds a fused ``cell_op``
    (else the loop is not recurrent math of that kind). The rule replaces the slots'
    outputs and the per-step outputs, anchored at one of them (never at an output the
    kernel does not make, which would leave the loop in place and the rewrite
    unsettled)."""
    node = t.node
    if isinstance(info, str):
        fused_inside = any(n.op.name == cell_op for n in topo_nodes(node.op.body.outputs))
        return Decline(info) if fused_inside else None
    nc = node.op.n_carry
    slots = [info[k] for k in slot_keys if info[k] is not None]
    replaces = [node.outputs[j] for j in slots] + list(node.outputs[nc:nc + node.op.n_ys])
    if not any(t is r for r in replaces):
        return None
    return Extension(interior=[node], replaces=replaces, data=info)


def loop_layout_reason(op, layer):
    """Why a loop op is not laid out as a recurrent layer's loop (``layer``: "an LSTM
    layer", "a GRU layer"), or None: one sequence read (two with a mask), one emitted
    (none with a mask: the masked loop emits through its carries)."""
    if op.n_seq not in (1, 2):
        return "the loop reads several sequences; its cells are fused step by step"
    if op.n_ys != 1 and not (op.n_ys == 0 and op.n_seq == 2):
        return f"the loop emits {op.n_ys} sequences; {layer} emits its outputs"
    return None
