"""LSTM fusion: rules that find LSTM gate math in any graph and put the fused
kernels of ops/lstm.py in its place.

- ``lstm_cell_fusion``: one step's gate math, matched by ``CELL``, a pattern built
  from the activation table (any activation a fused kernel implements; the Keras
  cell's implementation 1 and 2; the TF1 cell's forget_bias, peepholes and
  cell_clip), becomes one ``lstm_cell`` op, also inside loop bodies.
- ``lstm_sequence_fusion``: a loop whose body is one fused cell fed by ``x_t @ W +
  h @ R + b`` (Keras), ``concat([x_t, h]) @ K + b`` (TF1) or four per-gate products
  (implementation=1), with peepholes, clipping and RNN masks, or an unrolled chain of
  identical fused cells over ``x[0], x[1], ...``, becomes one ``lstm_sequence`` op.

Backward passes are fused by differentiating the fused forward graph (the backward
fusion stage): fused ops have fused VJPs. Every LSTM-looking subgraph a rule leaves
alone is reported with the reason (``Session.explain`` prints them).
"""
from tinygraph.compile.rewrite import Decline, Extension, Rule, rewrite
from tinygraph.ir.function import Function
from tinygraph.ir.graph import apply, in_scope, topo_nodes
from tinygraph.ir.rebuild import substitute, tensor_key
from tinygraph.ir.pattern import Alt, Opt, Pat, V
from tinygraph.ops.activations import ACTIVATIONS, FUSABLE, scalar_constant
from tinygraph.ops.array import concat
from tinygraph.ops.lstm import lstm_cell, lstm_sequence
from tinygraph.ops.lstm_step import GATE_BLOCKS
from tinygraph.ops.scan import Scan
from tinygraph.ops.sources import zeros

# why unrolled implementation=1 and TF1 cells get no sequence kernel (loops do)
PER_GATE_PRODUCTS = ("the unrolled steps compute one product per gate (implementation=1) or "
                     "concat([x, h]) @ K (TF1); unrolled, they are fused step by step")
NOT_ONE_SPLIT = ("the four gate pre-activations are not the four parts of one split in i, f, "
                 "c, o or i, j, f, o order")
GATE_ORDERS = {blocks: order for order, blocks in GATE_BLOCKS.items()}


def _op(t):
    return t.node.op.name


# ----------------------------------------------------------------------- the cell pattern

def _activated(key, inner):
    """act(inner) for every activation a fused kernel implements; binds its name to ``key``."""
    return Alt(*[Alt(ACTIVATIONS[name].pattern(inner), tag=(key, name)) for name in FUSABLE])


def _plus(a, b):
    return Pat("add", a, b, commutative=True)


def _peephole(weight, state):
    return Pat("multiply", V(weight, where=lambda t: t.ndim == 1), state, commutative=True)


def _cell_pattern():
    c_prev = V("c_prev")
    bias = scalar_constant(bind="forget_bias")
    zf = V("zf")
    forget = Alt(_plus(_plus(zf, bias), _peephole("p_f", c_prev)),     # TF1 and lstm_step order
                 _plus(_plus(zf, _peephole("p_f", c_prev)), bias),
                 _plus(zf, bias), _plus(zf, _peephole("p_f", c_prev)), zf)
    inp = Opt(V("zi"), lambda z: _plus(z, _peephole("p_i", c_prev)))
    out = Opt(V("zo"), lambda z: _plus(z, _peephole("p_o", V("c"))))    # reads the new c
    c_raw = _plus(Pat("multiply", _activated("ra_f", forget), c_prev, commutative=True),
                  Pat("multiply", _activated("ra_i", inp), _activated("act_g", V("zg")),
                      commutative=True))
    clipped = Pat("minimum", Pat("maximum", c_raw, scalar_constant(bind="clip_lo")),
                  scalar_constant(bind="clip_hi"))
    c = Alt(clipped, c_raw, bind="c")
    return Pat("multiply", _activated("ra_o", out), _activated("act_c", c), commutative=True)


# h = ra(z_o [+ p_o*c]) * act(c),  c = [clip](ra(z_f [+ b] [+ p_f*c_prev]) * c_prev
#                                              + ra(z_i [+ p_i*c_prev]) * act(z_g))
CELL = _cell_pattern()


def _scalar(t):
    return None if t is None else float(t.node.op.value.reshape(()))


def read_cell(b, h, ctx):
    """The fused op's attributes and z for a match of CELL, or why it cannot be fused."""
    ra = (b["ra_i"], b["ra_f"], b["ra_o"])
    peep = [b.get("p_i"), b.get("p_f"), b.get("p_o")]
    pieces = [b["zi"], b["zf"], b["zg"], b["zo"]]
    c, c_prev = b["c"], b["c_prev"]
    clip = _scalar(b.get("clip_hi"))
    partial_peepholes = len({p is None for p in peep}) > 1
    if ("linear" in ra and len(set(ra)) > 1) or partial_peepholes \
            or c_prev is b["zf"] or (b["zi"] is b["zg"] and b["ra_i"] == b["act_g"]) \
            or c_prev.shape != c.shape or (clip is not None and _scalar(b["clip_lo"]) != -clip) \
            or any(_op(p) == "constant" and p.node.op.value.size == 1 for p in pieces) \
            or any(p.shape != pieces[0].shape or p.ndim != 2 for p in pieces) \
            or None not in (pieces[0].shape[-1], c.shape[-1]) and pieces[0].shape[-1] != c.shape[-1]:
        return None
    if len(set(ra)) > 1:
        return Decline(f"the gates use different recurrent activations ({', '.join(ra)}); the "
                       "fused kernel applies one to i, f and o")
    if b["act_g"] != b["act_c"]:
        return Decline(f"the candidate uses {b['act_g']} but the cell output uses {b['act_c']}; "
                       "the fused kernel applies one activation to both")
    source = _gate_source(pieces)
    if isinstance(source, Decline):
        return source
    split, order = source
    return Extension(interior=[split] if split is not None else [], data=dict(
        pieces=pieces, split=split, peep=peep if peep[0] is not None else None,
        attrs=dict(activation=b["act_c"], recurrent_activation=ra[0], gate_order=order,
                   forget_bias=_scalar(b.get("forget_bias")) or 0.0, cell_clip=clip)))


def _gate_source(pieces):
    """(the split node the four pieces are the outputs of, gate order), (None, "ifco")
    for four separate tensors (implementation 1), or a Decline."""
    if not any(_op(p) == "split" for p in pieces):
        return None, "ifco"
    node = pieces[0].node
    if any(p.node is not node for p in pieces) or len(node.outputs) != 4 \
            or node.op.axis != node.inputs[0].ndim - 1:
        return Decline(NOT_ONE_SPLIT)
    order = GATE_ORDERS.get(tuple(p.index for p in pieces))
    return (node, order) if order is not None else Decline(NOT_ONE_SPLIT)


def build_cell(b, h):
    """The fused lstm_cell for a read cell."""
    cell = b["extension"]
    z = cell["split"].inputs[0] if cell["split"] is not None else concat(cell["pieces"], axis=-1)
    h_new, c_new = lstm_cell(z, b["c_prev"], cell["peep"], **cell["attrs"])
    return {h: h_new, b["c"]: c_new}


def _whole_node(b, t, ctx):
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


CELL_RULES = [
    # o*act(f*c_prev + i*act(z_c)) with i, f, o = ract(parts of z)  ->  lstm_cell(z, c_prev)
    Rule(CELL, build_cell, "LSTM gate math -> one lstm_cell op", name="lstm_cell_fusion",
         replaces=("c",), extend=read_cell),
]
CELL_RULES.append(
    # scan(body) -> scan(body with its LSTM cells fused)
    Rule(Pat("scan"), rewrite_loop_bodies(CELL_RULES, "lstm_cell_fusion_in_loop"),
         "fuse the LSTM cells inside loop bodies", context=True, extend=_whole_node,
         name="lstm_cell_fusion_in_loop"))


# ----------------------------------------------------------------------- sequence fusion

def _add_terms(t, nodes):
    """Flatten a tree of ``add`` into its terms (recording the add nodes)."""
    if _op(t) == "add":
        nodes.append(t.node)
        a, b = t.node.inputs
        return _add_terms(a, nodes) + _add_terms(b, nodes)
    return [t]


def _step_terms(z):
    """z = a @ W + b @ R (+ bias) -> ([(a, W, node), (b, R, node)], bias, add nodes) or None."""
    nodes, matmuls, bias = [], [], None
    for term in _add_terms(z, nodes):
        if _op(term) == "matmul" and not (term.node.op.transpose_a or term.node.op.transpose_b):
            matmuls.append((term.node.inputs[0], term.node.inputs[1], term.node))
        elif term.ndim == 1 and bias is None:
            bias = term
        else:
            return None
    return (matmuls, bias, nodes) if len(matmuls) in (1, 2) else None


def _pairs(t):
    a, b = t.node.inputs
    return [(a, b), (b, a)]


def _invariant(body, caps):
    """Ids of the body's nodes that read only captured values (weights and their
    slices): the same at every step, so they can be rebuilt outside the loop."""
    cap_ids = {p.node.id for p in caps}
    inv = set()
    for n in topo_nodes(body.outputs):
        if n.id in cap_ids or (n.op.name != "placeholder" and n.inputs
                               and all(t.node.id in inv for t in n.inputs)):
            inv.add(n.id)
    return inv


def _projections(z, x_ph, h_ph, inv):
    """How z = x_t @ W + h @ R (+ b) is computed, per block of its columns: a list of
    (W parts, R parts, bias, x mask, nodes) with each parts a list of (loop-invariant
    tensor, row slice or None) whose product sum is the block; or a reason why not.

    - Keras implementation=2: ``x @ W + h @ R + b``, one block;
    - TF1: ``concat([x, h], 1) @ K + b``: W and R are K's first D and last H rows;
    - Keras implementation=1: ``concat([x @ W_k + b_k + h @ R_k for k in i, f, c, o])``,
      four blocks (the fusion concatenates their W, R and b)."""
    if _op(z) == "concat" and z.node.op.axis in (-1, z.ndim - 1) and len(z.node.inputs) == 4:
        blocks = [_projections(piece, x_ph, h_ph, inv) for piece in z.node.inputs]
        bad = next((blk for blk in blocks if isinstance(blk, str)), None)
        if bad is not None:
            return bad
        masks = {id(blk[0][3]) for blk in blocks}
        if len(masks) > 1:
            return ("the four gates read the input through different dropout masks "
                    "(implementation=1 with dropout); fused step by step")
        return [blk[0][:4] + (blk[0][4] + [z.node],) for blk in blocks]
    terms = _step_terms(z)
    if terms is None:
        return "the cell's input z has a term other than x@W, h@R and b"
    matmuls, bias, nodes = terms
    if bias is not None and bias.node.id not in inv:
        return "the cell's bias changes from step to step"
    W, R, mask = None, None, None
    for a, w, node in matmuls:
        if w.node.id not in inv:
            return "the cell's input z is not x_t @ W + h @ R (+ b) with fixed weights"
        nodes.append(node)
        if _op(a) == "concat" and len(a.node.inputs) == 2 and a.node.op.axis in (1, -1) \
                and a.node.inputs[1] is h_ph and W is None and R is None:
            x_in, width = a.node.inputs[0], a.node.inputs[0].shape[-1]
            W, R = (w, slice(0, width)), (w, slice(width, None))
            nodes.append(a.node)
        elif _op(a) == "multiply" and any(u is h_ph for u in a.node.inputs):
            return ("the recurrent state reaches each gate through its own dropout mask "
                    "(recurrent_dropout); the sequence kernel has no recurrent masks, so the "
                    "cells are fused step by step")
        elif a is h_ph and R is None:
            R, x_in = (w, None), None
        elif W is None:
            W, x_in = (w, None), a
        else:
            return "the cell's input z is not x_t @ W + h @ R (+ b)"
        if x_in is not None:
            mask = _step_mask(x_in, x_ph, inv, nodes)
            if isinstance(mask, str):
                return mask
    if W is None or R is None:
        return "the cell's input z is not x_t @ W + h @ R (+ b)"
    return [([W], [R], bias, mask, nodes)]


def _dead_carries(body, nc, slots, inv):
    """Ids of the body nodes that update carries other than h and c from themselves
    alone (dynamic_rnn's step counter), or None when such a carry does more."""
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


def _where_of(t, key, new, old=None):
    """Whether t is ``where(key, new, old)`` (old: any tensor when None)."""
    return _op(t) == "where" and t.node.inputs[0] is key and t.node.inputs[1] is new \
        and (old is None or t.node.inputs[2] is old)


def _mask_key(m_ph, outs):
    """The (B, 1) keep tensor ``m_t[:, None]`` the masked RNN step reads, or None."""
    keys = [o.node.inputs[0] for o in outs if _op(o) == "where"]
    return next((k for k in keys if _op(k) == "getitem" and k.node.inputs[0] is m_ph
                 and k.node.op.index == (slice(None), None)), None)


def _masked_slots(body, nc, cell):
    """For a loop over (x, mask) as layers.RNN builds it: (slots of h, c and the carried
    output (None if dropped), the output rule, the mask-handling node ids), or a reason."""
    carries, m_ph, outs = body.inputs[:nc], body.inputs[nc + 1], body.outputs
    (h_cell, c_cell), emitted = cell.outputs, outs[nc] if len(outs) > nc else None
    key = _mask_key(m_ph, outs)
    if key is None:
        return "the loop reads a second sequence that is not a mask the RNN layer applies"
    kept_h = [j for j in range(nc) if _where_of(outs[j], key, h_cell, carries[j])]
    c_slot = next((j for j in range(nc) if _where_of(outs[j], key, c_cell, carries[j])), None)
    if c_slot is None or not kept_h or len(kept_h) > 2:
        return "the masked loop does not keep h and c at masked steps as the RNN layer does"
    nodes = {key.node.id} | {outs[j].node.id for j in kept_h + [c_slot]}
    if emitted is None or any(outs[j] is emitted for j in kept_h):
        rule = "carry"
    elif _where_of(emitted, key, h_cell) and _op(emitted.node.inputs[2]) == "fill_like" \
            and emitted.node.inputs[2].node.op.value == 0 \
            and emitted.node.inputs[2].node.inputs[0] is h_cell:
        rule = "zero"
        nodes |= {emitted.node.id, emitted.node.inputs[2].node.id}
    else:
        return "the masked loop emits something other than the carried output or zeros"
    return kept_h, c_slot, rule, nodes


def _read_body(op):
    """How a loop body computes one LSTM step, or a reason why it is not one."""
    body, nc = op.body, op.n_carry
    if op.n_seq not in (1, 2):
        return "the loop reads several sequences; its cells are fused step by step"
    if op.n_ys != 1 and not (op.n_ys == 0 and op.n_seq == 2):
        return f"the loop emits {op.n_ys} sequences; an LSTM layer emits its outputs"
    cells = [o for o in body.outputs if _op(o) == "lstm_cell"]
    if not cells and op.n_seq == 2:
        cells = [t for o in body.outputs if _op(o) == "where" for t in o.node.inputs
                 if _op(t) == "lstm_cell"]
    if not cells:
        return "the loop body holds no fused LSTM cell"
    cell = cells[0].node
    carries, x_ph, caps = body.inputs[:nc], body.inputs[nc], body.inputs[nc + op.n_seq:]
    (h_new, c_new), outs = cell.outputs, body.outputs
    if op.n_seq == 2:
        masked = _masked_slots(body, nc, cell)
        if isinstance(masked, str):
            return masked
        h_slots, c_slot, rule, mask_nodes = masked
    else:
        h_slots = [j for j in range(nc) if outs[j] is h_new]
        c_slot = next((j for j in range(nc) if outs[j] is c_new), None)
        rule, mask_nodes = None, set()
        if not h_slots or c_slot is None or outs[nc] is not h_new:
            h_slots = []
    if not h_slots:
        return ("the loop body does more than one LSTM step (it does not carry the cell's "
                "h and c and emit h: a projection, num_proj?)")
    z, c_prev, *peep = cell.inputs
    if c_prev is not carries[c_slot]:
        return "the cell's previous c is not the loop's carried c"
    inv = _invariant(body, caps)
    if any(p.node.id not in inv for p in peep):
        return "the cell's peephole weights change from step to step"
    for h_slot in h_slots:                 # h is the carry the recurrent product reads
        blocks = _projections(z, x_ph, carries[h_slot], inv)
        if not isinstance(blocks, str):
            break
    if isinstance(blocks, str):
        return blocks
    # the other kept-like-h carry is the carried output (Keras' rule for masked steps)
    y_slot = next((j for j in h_slots if j != h_slot), None)
    if rule == "carry" and len(outs) > nc and (y_slot is None or outs[y_slot] is not outs[nc]):
        return "the masked loop does not carry its output as the RNN layer does"
    slots = [h_slot, c_slot] + ([y_slot] if y_slot is not None else [])
    dead = _dead_carries(body, nc, slots, inv)
    if dead is None:
        return f"the loop carries {nc} values; an LSTM layer carries (h, c) (and a step counter)"
    inner = {cell.id} | inv | dead | mask_nodes | {n.id for blk in blocks for n in blk[4]}
    extra = [n for n in topo_nodes(body.outputs) if n.id not in inner and n.op.name != "placeholder"]
    if extra:
        return f"the loop body does more than the LSTM step ({extra[0].op.name} {extra[0].name!r})"
    return dict(cell=cell, h_slot=h_slot, c_slot=c_slot, y_slot=y_slot, rule=rule,
                blocks=blocks, peep=peep, mask=blocks[0][3])


def _step_mask(x_in, x_ph, inv, nodes):
    """The loop-invariant dropout mask the step input is multiplied by (None without
    one), or a reason why the input is not x_t."""
    if x_in is x_ph:
        return None
    if _op(x_in) == "multiply":
        mask = next((m for a, m in _pairs(x_in) if a is x_ph and m.node.id in inv), None)
        if mask is not None:
            nodes.append(x_in.node)
            return mask
    return "the step input is transformed inside the loop in a way the sequence kernel does not do"


def read_loop(b, t, ctx):
    """A loop of one LSTM step: its whole node is replaced by one lstm_sequence."""
    node = t.node
    info = _read_body(node.op)
    if isinstance(info, str):
        fused_inside = any(n.op.name == "lstm_cell" for n in topo_nodes(node.op.body.outputs))
        return Decline(info) if fused_inside else None
    nc = node.op.n_carry
    slots = [info[k] for k in ("h_slot", "c_slot", "y_slot") if info[k] is not None]
    replaces = [node.outputs[j] for j in slots] + list(node.outputs[nc:nc + node.op.n_ys])
    return Extension(interior=[node], replaces=replaces, data=info)


def _weights(blocks, outer):
    """(W, R, b) outside the loop from the read blocks (concatenated per gate block
    for implementation=1; b None when the cell has no bias)."""
    def part(t, rows):
        o = outer(t)
        return o if rows is None else o[rows]
    W = [part(*p) for blk in blocks for p in blk[0]]
    R = [part(*p) for blk in blocks for p in blk[1]]
    bs = [outer(blk[2]) if blk[2] is not None else None for blk in blocks]
    if len(blocks) == 1:
        return W[0], R[0], bs[0]
    if any(v is None for v in bs):
        bs = [v if v is not None else zeros((w.shape[1],), w.dtype) for v, w in zip(bs, W)]
    return concat(W, axis=-1), concat(R, axis=-1), concat(bs, axis=-1)


def build_loop(b, t):
    node, info = t.node, b["extension"]
    op, nc = node.op, node.op.n_carry
    mapping = {tensor_key(p): o for p, o in zip(op.body.inputs, node.inputs)}

    def outer(p):                # a loop-invariant body tensor, rebuilt outside the loop
        return substitute([p], mapping)[0]
    x = node.inputs[nc]
    if info["mask"] is not None:
        x = x * outer(info["mask"])          # the dropout mask is the same at every step
    h0, c0 = node.inputs[info["h_slot"]], node.inputs[info["c_slot"]]
    W, R, bias = _weights(info["blocks"], outer)
    bias = bias if bias is not None else zeros((W.shape[1],), W.dtype)
    cell = info["cell"].op
    peep = [outer(p) for p in info["peep"]] or None
    mask = node.inputs[nc + 1] if op.n_seq == 2 else None
    hs, hT, cT, *rest = lstm_sequence(x, h0, c0, W, R, bias, reverse=op.reverse, peepholes=peep,
                                      mask=mask, mask_output=info["rule"], **_cell_attrs(cell))
    repl = {node.outputs[info["h_slot"]]: hT, node.outputs[info["c_slot"]]: cT}
    if op.n_ys:
        repl[node.outputs[nc]] = hs
    if info["y_slot"] is not None:
        repl[node.outputs[info["y_slot"]]] = rest[2]
    return repl


def _cell_attrs(cell):
    return dict(activation=cell.activation, recurrent_activation=cell.recurrent_activation,
                forget_bias=cell.forget_bias, gate_order=cell.gate_order,
                cell_clip=cell.cell_clip)


def _step_inputs(xs_t):
    """The (T, B, D) tensor whose slices 0..T-1 are ``xs_t`` (``x[t]`` or the outputs of
    ``unstack(x)`` in order), if they are such slices."""
    first = xs_t[0].node
    if _op(xs_t[0]) == "unstack" and first.op.axis == 0 and len(first.outputs) == len(xs_t) \
            and all(x is o for x, o in zip(xs_t, first.outputs)):
        return first.inputs[0]
    base = xs_t[0].node.inputs[0] if _op(xs_t[0]) == "getitem" else None
    if base is None or base.shape[0] != len(xs_t):
        return None
    for t, x in enumerate(xs_t):
        if _op(x) != "getitem" or x.node.inputs[0] is not base or x.node.op.index[:1] != (t,) \
                or any(i != slice(None) for i in x.node.op.index[1:]):
            return None
    return base


def _chain_ending_at(h, ctx):
    """The fused cells of an unrolled chain whose last step outputs ``h`` (first step
    first), or None when h is not a last step's output."""
    last, op = h.node, h.node.op
    if h.index != 0 or op.peepholes or op.cell_clip:
        return None
    if any(ctx.nodes[u].op == op for u in ctx.readers.get((last.id, 1), ())):
        return None                       # not the last step: the chain goes on
    chain = [last]                        # follow the cell state back
    while _op(chain[-1].inputs[1]) == "lstm_cell" and chain[-1].inputs[1].index == 1 \
            and chain[-1].inputs[1].node.op == op:
        chain.append(chain[-1].inputs[1].node)
    return chain[::-1] if len(chain) >= 2 else None


def _chain_weights(chain):
    """(W, R, bias) of a chain, fixed by step 1's recurrent matmul reading step 0's h."""
    second = _step_terms(chain[1].inputs[0])
    if second is None or len(second[0]) != 2:
        return Decline(PER_GATE_PRODUCTS)
    rec = [m for m in second[0] if m[0] is chain[0].outputs[0]]
    if len(rec) != 1:
        return None
    return next(m[1] for m in second[0] if m is not rec[0]), rec[0][1], second[1]


def _chain_steps(chain, W, R, bias):
    """(the step inputs x_t, h0, the interior's z nodes) of a chain, or None / Decline."""
    xs_t, interior, h0 = [], [], None
    for k, n in enumerate(chain):
        terms = _step_terms(n.inputs[0])
        if terms is None or terms[1] is not bias:
            return Decline("the steps of an unrolled LSTM chain use different biases")
        by_weight = {id(m[1]): m for m in terms[0]}
        if k == 0 and set(by_weight) == {id(W)} and None not in chain[0].outputs[0].shape:
            h0 = zeros(chain[0].outputs[0].shape, W.dtype)   # h0 @ R was folded away: h0 = 0
            by_weight[id(R)] = (h0, R, None)
        if set(by_weight) != {id(W), id(R)}:
            return Decline("the steps of an unrolled LSTM chain use different weights")
        x_t, _, x_node = by_weight[id(W)]
        h_in, _, h_node = by_weight[id(R)]
        if k == 0:
            h0 = h_in
        elif h_in is not chain[k - 1].outputs[0]:
            return None
        xs_t.append(x_t)
        interior += terms[2] + [m for m in (x_node, h_node) if m is not None]
    return xs_t, h0, interior


def _shared_mask(xs_t):
    """(x_t without the mask, the mask, the multiply nodes) when every step input is
    the same dropout mask times a slice; else (xs_t, None, [])."""
    if all(_op(x) == "multiply" for x in xs_t):
        split = [next(((a, m) for a, m in _pairs(x) if _op(a) in ("getitem", "unstack")), None)
                 for x in xs_t]
        if all(split) and len({id(m) for _, m in split}) == 1:
            return [a for a, _ in split], split[0][1], [x.node for x in xs_t]
    return xs_t, None, []


def read_chain(b, h, ctx):
    """An unrolled chain of identical fused LSTM steps over x[0], x[1], ... ending at h."""
    chain = _chain_ending_at(h, ctx)
    if chain is None:
        return None
    weights = _chain_weights(chain)
    if weights is None or isinstance(weights, Decline):
        return weights
    W, R, bias = weights
    steps = _chain_steps(chain, W, R, bias)
    if steps is None or isinstance(steps, Decline):
        return steps
    xs_t, h0, interior = steps
    xs_t, mask, mask_nodes = _shared_mask(xs_t)
    X = _step_inputs(xs_t)
    if X is None:
        return Decline("the step inputs of an unrolled LSTM chain are not x[0], x[1], ... of one "
                       "tensor; fused step by step")
    return Extension(interior=chain + interior + mask_nodes,
                     replaces=[n.outputs[0] for n in chain] + [chain[-1].outputs[1]],
                     data=dict(chain=chain, X=X, mask=mask, h0=h0, W=W, R=R, bias=bias))


def _layer_scope(chain):
    """The scope the steps share (the layer's), above the per-step scopes."""
    common = []
    for a, b in zip(chain[0].scope.split("/"), chain[-1].scope.split("/")):
        if a != b:
            break
        common.append(a)
    return "/".join(common)


def build_chain(b, h):
    info = b["extension"]
    chain, W, X, op = info["chain"], info["W"], info["X"], h.node.op
    bias = info["bias"] if info["bias"] is not None else zeros((W.shape[1],), W.dtype)
    with in_scope(_layer_scope(chain)):
        hs, _, cT, _, _ = lstm_sequence(X if info["mask"] is None else X * info["mask"],
                                        info["h0"], chain[0].inputs[1], W, info["R"], bias,
                                        **_cell_attrs(op))
        repl = {n.outputs[0]: hs[t] for t, n in enumerate(chain)}
    repl[chain[-1].outputs[1]] = cT
    return repl


def stack_of_slices(b, t):
    """stack([x[0], x[1], ..., x[n-1]]) -> x."""
    base = _step_inputs(list(t.node.inputs)) if t.node.op.axis == 0 else None
    return base if base is not None and base.shape == t.shape else None


SEQUENCE_RULES = [
    # scan(one LSTM step) -> lstm_sequence: one GEMM for the inputs, recurrence in the kernel
    Rule(Pat("scan"), build_loop, "a loop of one LSTM cell -> one lstm_sequence op",
         name="lstm_sequence_fusion", extend=read_loop,
         leak_reason="the loop's per-step carry history is read (by an unfused gradient or a "
                     "tool); the sequence kernel does not produce it"),
    # h_T of lstm_cell(...lstm_cell(x[0]...)) over x[0..T-1] -> lstm_sequence(x)
    Rule(Pat("lstm_cell"), build_chain, "an unrolled chain of one LSTM cell -> lstm_sequence",
         name="lstm_sequence_fusion_unrolled", extend=read_chain,
         leak_reason="{name!r} ({op}) inside the unrolled chain is read outside it (a per-step "
                     "cell state?); fused step by step"),
    # stack([x[0], ..., x[T-1]]) -> x  (the per-step outputs of a fused chain)
    Rule(Pat("stack"), stack_of_slices, "stack of all slices of x in order -> x",
         name="stack_of_slices"),
]

