"""LSTM fusion: rules that find LSTM gate math in any graph and put the fused
kernels of ops/lstm.py in its place.

- ``lstm_cell_fusion``: one step's gate math, matched by ``CELL``, a pattern built
  from the activation table (any activation a fused kernel implements; the Keras
  cell's implementation 1 and 2; the TF1 cell's forget_bias, peepholes and
  cell_clip), becomes one ``lstm_cell`` op, also inside loop bodies.
- ``lstm_sequence_fusion``: a loop whose body is one fused cell fed by ``x_t @ W +
  h @ R + b`` (Keras), ``concat([x_t, h]) @ K + b`` (TF1) or four per-gate products
  (implementation=1), with peepholes, clipping and RNN masks, or an unrolled chain of
  identical fused cells over ``x[0], x[1], ...`` (implementation=1's per-gate products
  and dropout masks included), becomes one ``lstm_sequence`` op (how a loop body is
  read: tinygraph/compile/lstm_loop_body.py). Unrolled chains whose states pass
  through a mask or a projection stay step by step and say why.

Backward passes are fused by differentiating the fused forward graph (the backward
fusion stage): fused ops have fused VJPs. Every LSTM-looking subgraph a rule leaves
alone is reported with the reason (``Session.explain`` prints them).
"""
import numpy as np

from tinygraph.compile.lstm_loop_body import (PER_GATE_PRODUCTS, dropout_masks, projections,
                                              read_body, step_terms)
from tinygraph.compile.recurrent import (activated, is_const, layer_scope, loop_extension,
                                         op_name, pairs, plus, rewrite_loop_bodies, step_inputs,
                                         whole_node)
from tinygraph.compile.rewrite import Decline, Extension, Rule
from tinygraph.ir.graph import in_scope
from tinygraph.ir.rebuild import substitute, tensor_key
from tinygraph.ir.pattern import Alt, Opt, Pat, V
from tinygraph.ops.activations import scalar_constant
from tinygraph.ops.array import concat, expand_dims, stack, transpose
from tinygraph.ops.compare import less
from tinygraph.ops.constant import constant
from tinygraph.ops.lstm import lstm_cell, lstm_sequence
from tinygraph.ops.lstm_step import GATE_BLOCKS
from tinygraph.ops.sources import zeros

NOT_ONE_SPLIT = ("the four gate pre-activations are not the four parts of one split in i, f, "
                 "c, o or i, j, f, o order")
GATE_ORDERS = {blocks: order for order, blocks in GATE_BLOCKS.items()}



# ----------------------------------------------------------------------- the cell pattern


def _peephole(weight, state):
    return Pat("multiply", V(weight, where=lambda t: t.ndim == 1), state, commutative=True)


def _cell_pattern():
    c_prev = V("c_prev")
    bias = scalar_constant(bind="forget_bias")
    zf = V("zf")
    forget = Alt(plus(plus(zf, bias), _peephole("p_f", c_prev)),     # TF1 and lstm_step order
                 plus(plus(zf, _peephole("p_f", c_prev)), bias),
                 plus(zf, bias), plus(zf, _peephole("p_f", c_prev)), zf)
    inp = Opt(V("zi"), lambda z: plus(z, _peephole("p_i", c_prev)))
    out = Opt(V("zo"), lambda z: plus(z, _peephole("p_o", V("c"))))    # reads the new c
    c_raw = plus(Pat("multiply", activated("ra_f", forget), c_prev, commutative=True),
                  Pat("multiply", activated("ra_i", inp), activated("act_g", V("zg")),
                      commutative=True))
    clipped = Pat("minimum", Pat("maximum", c_raw, scalar_constant(bind="clip_lo")),
                  scalar_constant(bind="clip_hi"))
    c = Alt(clipped, c_raw, bind="c")
    return Pat("multiply", activated("ra_o", out), activated("act_c", c), commutative=True)


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
            or any(p.node.op.is_constant and p.node.op.value.size == 1 for p in pieces) \
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
    if not any(op_name(p) == "split" for p in pieces):
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


CELL_RULES = [
    # o*act(f*c_prev + i*act(z_c)) with i, f, o = ract(parts of z)  ->  lstm_cell(z, c_prev)
    Rule(CELL, build_cell, "LSTM gate math -> one lstm_cell op", name="lstm_cell_fusion",
         replaces=("c",), extend=read_cell),
]
CELL_RULES.append(
    # scan(body) -> scan(body with its LSTM cells fused)
    Rule(Pat("scan"), rewrite_loop_bodies(CELL_RULES, "lstm_cell_fusion_in_loop"),
         "fuse the LSTM cells inside loop bodies", context=True, extend=whole_node,
         name="lstm_cell_fusion_in_loop"))


# ----------------------------------------------------------------------- sequence fusion

def read_loop(b, t, ctx):
    """A loop of one LSTM step: its whole node is replaced by one lstm_sequence."""
    node = t.node
    info = read_body(node.op)
    if not isinstance(info, str) and info["lengths"] is not None and (
            not is_const(node.inputs[info["lengths"][0]], 0)
            or node.inputs[node.op.n_carry].shape[0] is None):
        return Decline("the loop's step counter does not start at 0 or the number of steps "
                       "is not static; its sequence_length mask is applied step by step")
    return loop_extension(t, info, "lstm_cell", ("h_slot", "c_slot", "y_slot"))


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
    if info["lengths"] is not None:          # step t of row b is kept while t < length[b]
        steps = constant(np.arange(x.shape[0], dtype=np.int32)[:, None])
        mask = less(steps, expand_dims(outer(info["lengths"][1]), 0))
    drop = {k: stack([outer(m) for m in info[key]]) for k, key in
            (("input_masks", "x_masks"), ("recurrent_masks", "h_masks")) if info[key]}
    if info["projection"] is not None:
        drop.update(projection=outer(info["projection"][0]), proj_clip=info["projection"][1])
    hs, hT, cT, *rest = lstm_sequence(x, h0, c0, W, R, bias, reverse=op.reverse, peepholes=peep,
                                      mask=mask, mask_output=info["rule"], **drop,
                                      **_cell_attrs(cell))
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


def _chain_ending_at(h, ctx):
    """The fused cells of an unrolled chain whose last step outputs ``h`` (first step
    first), or None when h is not a last step's output."""
    last, op = h.node, h.node.op
    if h.index != 0:
        return None
    if any(ctx.nodes[u].op == op for u in ctx.readers.get((last.id, 1), ())):
        return None                       # not the last step: the chain goes on
    chain = [last]                        # follow the cell state back
    while op_name(chain[-1].inputs[1]) == "lstm_cell" and chain[-1].inputs[1].index == 1 \
            and chain[-1].inputs[1].node.op == op:
        chain.append(chain[-1].inputs[1].node)
    return chain[::-1] if len(chain) >= 2 else None


def _chain_terms(z):
    """step_terms of a step's z, with TF1's ``concat([x_t, h]) @ K`` read as the two
    products x_t @ K[:D] and h @ K[D:]: ([(input, weight key, node)], bias, nodes);
    a weight key is a tensor or (K, "x" | "h", D) for a row block of K."""
    terms = step_terms(z)
    if terms is None or len(terms[0]) != 1 or op_name(terms[0][0][0]) != "concat":
        return terms
    (a, K, node), = terms[0]
    cat = a.node
    if len(cat.inputs) != 2 or cat.op.axis not in (1, -1):
        return None
    x_t, h_in = cat.inputs
    D = x_t.shape[-1]
    return [(x_t, (K, "x", D), node), (h_in, (K, "h", D), None)], terms[1], terms[2] + [cat]


# why these unrolled chains run step by step: the sequence kernel has the mask and the
# projection (their loops reach it); the chain reader follows c from cell to cell only
MASKED_CHAIN = ("the unrolled steps keep their states through a mask (where(mask_t, new, old): "
                "layers.RNN(unroll=True) called with a mask, or static_rnn with "
                "sequence_length), and the unrolled-chain reader follows states only from "
                "cell to cell; fused step by step (the loop, unroll=False or dynamic_rnn, runs "
                "the same math on the sequence kernel)")
PROJECTED_CHAIN = ("the unrolled steps project their output (the TF1 cell's num_proj: the next "
                   "step reads h @ P, not the cell's h), and the unrolled-chain reader follows "
                   "only the cell's own h; fused step by step (dynamic_rnn runs the same math "
                   "on the sequence kernel)")


def _readers(ctx, t):
    return [ctx.nodes[u] for u in ctx.readers.get(tensor_key(t), ())]


def _masked_successor(n, ctx):
    """Whether a cell like ``n`` reads n's cell state through a ``where`` as its c_prev."""
    return any(v.op == n.op and v.inputs[1] is w.outputs[0]
               for w in _readers(ctx, n.outputs[1]) if w.op.name == "where"
               for v in _readers(ctx, w.outputs[0]) if v.op.name == "lstm_cell")


def _masked_chain_end(last, ctx):
    """A Decline at the last cell of a chain whose states pass through a mask's where
    from step to step (one reason per layer), else None."""
    c_prev = last.inputs[1]
    after_masked = op_name(c_prev) == "where" and any(
        op_name(t) == "lstm_cell" and t.index == 1 and t.node.op == last.op
        for t in c_prev.node.inputs)
    if not after_masked or _masked_successor(last, ctx):
        return None
    return Decline(MASKED_CHAIN)


def _projected_output(cell, ctx):
    """Whether the cell's h is multiplied by a matrix that the next step reads instead."""
    return any(n.op.name == "matmul" and n.inputs[0] is cell.outputs[0]
               for n in _readers(ctx, cell.outputs[0]))


def _key(w):
    return (id(w[0]), w[1]) if isinstance(w, tuple) else id(w)


def _chain_weights(chain, ctx):
    """(W, R, bias) of a chain, fixed by step 1's recurrent matmul reading step 0's h."""
    second = _chain_terms(chain[1].inputs[0])
    if second is None or len(second[0]) != 2:
        return Decline(PER_GATE_PRODUCTS)
    rec = [m for m in second[0] if m[0] is chain[0].outputs[0]]
    if len(rec) != 1:
        return Decline(PROJECTED_CHAIN) if _projected_output(chain[0], ctx) else None
    return next(m[1] for m in second[0] if m is not rec[0]), rec[0][1], second[1]


def _chain_steps(chain, W, R, bias):
    """(the step inputs x_t, h0, the interior's z nodes) of a chain, or None / Decline."""
    xs_t, interior, h0 = [], [], None
    for k, n in enumerate(chain):
        terms = _chain_terms(n.inputs[0])
        if terms is None or terms[1] is not bias:
            return Decline("the steps of an unrolled LSTM chain use different biases")
        if any(p is not q for p, q in zip(n.inputs[2:], chain[0].inputs[2:])):
            return Decline("the steps of an unrolled LSTM chain use different peephole weights")
        by_weight = {_key(m[1]): m for m in terms[0]}
        if k == 0 and set(by_weight) == {_key(W)} and None not in chain[0].outputs[0].shape:
            h0 = zeros(chain[0].outputs[0].shape, chain[0].outputs[0].dtype)   # h0 @ R folded away
            by_weight[_key(R)] = (h0, R, None)
        if set(by_weight) != {_key(W), _key(R)}:
            return Decline("the steps of an unrolled LSTM chain use different weights")
        x_t, _, x_node = by_weight[_key(W)]
        h_in, _, h_node = by_weight[_key(R)]
        if k == 0:
            h0 = h_in
        elif h_in is not chain[k - 1].outputs[0]:
            return None
        xs_t.append(x_t)
        interior += terms[2] + [m for m in (x_node, h_node) if m is not None]
    return xs_t, h0, interior


class _Everything:
    """Every node: unrolled steps are checked to read the same tensors instead."""

    def __contains__(self, node_id):
        return True


def _gate_step_input(z, k):
    """x[k] (or unstack(x)[k]) under the products of a per-gate step's first gate."""
    terms = step_terms(z.node.inputs[0]) if op_name(z) == "concat" else None
    for a, _, _ in (terms[0] if terms else ()):
        for t in [a] + (list(a.node.inputs) if op_name(a) == "multiply" else []):
            if t.ndim == 2 and t.node.inputs and t.node.inputs[0].ndim == 3 and (
                    (op_name(t) == "getitem" and t.node.op.index[:1] == (k,))
                    or (op_name(t) == "unstack" and t.index == k)):
                return t
    return None


def _initial_h(z0, blocks):
    """The h the first step's recurrent products read: the operand of its first gate's
    product with the recurrent weight of ``blocks`` (a later step's), unmasked."""
    w, r = blocks[0][1][0][0], blocks[0][4]
    terms = step_terms(z0.node.inputs[0]) if op_name(z0) == "concat" else None
    a = next((a for a, v, _ in (terms[0] if terms else ()) if v is w), None)
    if a is None or r is None:
        return a
    return next((p for p, m in pairs(a) if m is r), None) if op_name(a) == "multiply" else None


def _blocks_key(blocks):
    def parts(ps):
        return tuple((id(t), None if rows is None else (rows.start, rows.stop)) for t, rows in ps)
    return tuple((parts(b[0]), parts(b[1]), id(b[2]), id(b[3]), id(b[4])) for b in blocks)


def _gate_chain_steps(chain):
    """(x_t per step, h0, the z nodes, the gate blocks) of a chain of implementation=1
    steps (one product per gate, dropout masks per gate), or a Decline. Step 1 fixes
    the weights and masks (its h is step 0's output); step 0's h is what its products
    with those weights read."""
    everything, read = _Everything(), {}
    for k in list(range(1, len(chain))) + [0]:
        z = chain[k].inputs[0]
        h_in = chain[k - 1].outputs[0] if k else _initial_h(z, read[1][2])
        x_t = _gate_step_input(z, k)
        if x_t is None or h_in is None:
            return Decline(PER_GATE_PRODUCTS)
        blocks = projections(z, x_t, h_in, everything)
        if isinstance(blocks, str):
            return Decline(f"{blocks}; the unrolled steps are fused step by step")
        read[k] = (x_t, h_in, blocks)
    steps = [read[k] for k in range(len(chain))]
    x0, h0, blocks0 = steps[0]
    if any(m is not None and m.shape != like.shape
           for blk in blocks0 for m, like in ((blk[3], x0), (blk[4], h0))):
        return Decline("a dropout mask of the unrolled steps does not have the shape of the "
                       "input or state it multiplies; fused step by step")
    if any(_blocks_key(st[2]) != _blocks_key(steps[0][2]) for st in steps):
        return Decline("the unrolled implementation=1 steps use different weights or dropout "
                       "masks; fused step by step")
    nodes = [m for st in steps for blk in st[2] for m in blk[5]]
    return [st[0] for st in steps], steps[0][1], nodes, steps[0][2]


def _weight(w):
    """A chain's weight key as a tensor (a row block of K is sliced here, in replace)."""
    if not isinstance(w, tuple):
        return w
    K, part, D = w
    return K[:D] if part == "x" else K[D:]


def _shared_mask(xs_t):
    """(x_t without the mask, the mask, the multiply nodes) when every step input is
    the same dropout mask times a slice; else (xs_t, None, [])."""
    if all(op_name(x) == "multiply" for x in xs_t):
        split = [next(((a, m) for a, m in pairs(x) if op_name(a) in ("getitem", "unstack")), None)
                 for x in xs_t]
        if all(split) and len({id(m) for _, m in split}) == 1:
            return [a for a, _ in split], split[0][1], [x.node for x in xs_t]
    return xs_t, None, []


def read_chain(b, h, ctx):
    """An unrolled chain of identical fused LSTM steps over x[0], x[1], ... ending at h."""
    chain = _chain_ending_at(h, ctx)
    if chain is None:
        return _masked_chain_end(h.node, ctx)
    if op_name(chain[1].inputs[0]) == "concat":      # implementation=1: one product per gate
        W = R = bias = None
        steps = _gate_chain_steps(chain)
    else:
        weights = _chain_weights(chain, ctx)
        if weights is None or isinstance(weights, Decline):
            return weights
        W, R, bias = weights
        steps = _chain_steps(chain, W, R, bias)
        steps = steps + (None,) if isinstance(steps, tuple) else steps
    if steps is None or isinstance(steps, Decline):
        return steps
    xs_t, h0, interior, blocks = steps
    xs_t, mask, mask_nodes = _shared_mask(xs_t)
    X, first = step_inputs(xs_t), xs_t[0].node
    batch_major = X is None and op_name(xs_t[0]) == "unstack" and first.op.axis == 1 \
        and first.inputs[0].ndim == 3 and list(first.outputs) == list(xs_t)
    if batch_major:                            # static_rnn(tg.unstack(x, axis=1))
        X = first.inputs[0]
    if X is None:
        return Decline("the step inputs of an unrolled LSTM chain are not x[0], x[1], ... of one "
                       "tensor; fused step by step")
    return Extension(interior=chain + interior + mask_nodes,
                     replaces=[n.outputs[0] for n in chain] + [chain[-1].outputs[1]],
                     data=dict(chain=chain, X=X, mask=mask, h0=h0, W=W, R=R, bias=bias,
                               batch_major=batch_major, blocks=blocks))


def build_chain(b, h):
    info = b["extension"]
    chain, X, op = info["chain"], info["X"], h.node.op
    with in_scope(layer_scope(chain)):
        X = transpose(X, (1, 0, 2)) if info["batch_major"] else X
        mask, drop = info["mask"], {}
        if info["blocks"] is None:
            W, R, bias = _weight(info["W"]), _weight(info["R"]), info["bias"]
        else:                                    # per-gate products (implementation=1)
            W, R, bias = _weights(info["blocks"], lambda t: t)
            masks = dropout_masks(info["blocks"])
            mask = masks["mask"] if mask is None else mask
            drop = {k: stack(masks[key]) for k, key in (("input_masks", "x_masks"),
                                                         ("recurrent_masks", "h_masks"))
                    if masks[key]}
        bias = bias if bias is not None else zeros((W.shape[1],), W.dtype)
        peep = list(chain[0].inputs[2:]) or None
        hs, _, cT, _, _ = lstm_sequence(X if mask is None else X * mask, info["h0"],
                                        chain[0].inputs[1], W, R, bias, peepholes=peep,
                                        **drop, **_cell_attrs(op))
        repl = {n.outputs[0]: hs[t] for t, n in enumerate(chain)}
    repl[chain[-1].outputs[1]] = cT
    return repl


def stack_of_slices(b, t):
    """stack([x[0], x[1], ..., x[n-1]]) -> x."""
    base = step_inputs(list(t.node.inputs)) if t.node.op.axis == 0 else None
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

