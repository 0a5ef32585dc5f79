"""How a fused ``gru_cell``'s projections are computed, in a loop body or an unrolled
step: what the GRU sequence fusion reads before it replaces the loop (or the chain) by
one ``gru_sequence`` (tinygraph/compile/gru_fusion.py builds it). Everything here only
reads the graph; the loop-body helpers are the LSTM's (lstm_loop_body.py).

A cell qualifies when its input projection is ``x_t @ W (+ b)`` and its recurrent one
``h @ R (+ b)`` — whole (implementation 2; reset_after=False: ``h @ R[:, :2U]`` and the
candidate's R_h) or one product per gate block (implementation 1, ``concat`` of three
or two) — with weights the same at every step, the input and the state optionally
times dropout masks (one shared, or one per gate block).
"""
from tinygraph.compile.recurrent import (add_terms, dead_carries, invariant, loop_layout_reason,
                                         mask_key, op_name, where_of)
from tinygraph.ir.graph import topo_nodes
from tinygraph.ops.array import concat, stack
from tinygraph.ops.sources import zeros



def _is_zero(t):
    return t.node.op.is_constant and not t.node.op.value.any()


def _product(t):
    """t = a @ M (+ bias) -> (a or None, M or None, bias or None, add nodes): a zero
    constant term (a zero initial state's product, folded) counts as no product."""
    nodes, a, M, bias = [], None, None, None
    for term in add_terms(t, nodes):
        if op_name(term) == "matmul" and M is None and not (term.node.op.transpose_a
                                                        or term.node.op.transpose_b):
            a, M = term.node.inputs
            nodes.append(term.node)
        elif term.ndim == 1 and bias is None:
            bias = term
        elif not _is_zero(term):
            return None
    return a, M, bias, nodes


def _blocks(t, n):
    """The projection t as [(a, M, bias, nodes)]: one block, or n per-gate blocks when
    t is their concat (implementation 1); None when it is neither."""
    if op_name(t) == "concat" and t.node.op.axis in (-1, t.ndim - 1) and len(t.node.inputs) == n:
        parts = [_product(p) for p in t.node.inputs]
        if any(p is None for p in parts):
            return None
        parts[0][3].append(t.node)
        return parts
    part = _product(t)
    return None if part is None else [part]


def _source(a, base):
    """(a's tensor before its dropout mask, the mask or None)."""
    if a is not None and op_name(a) == "multiply":
        x, y = a.node.inputs
        if x is base or y is base:
            return base, (y if x is base else x), [a.node]
        for v, m in ((x, y), (y, x)):
            if base is None and op_name(v) in ("getitem", "unstack"):
                return v, m, [a.node]
    return a, None, []


def _masks(found, n):
    """One mask per gate block from what the blocks read: [m] * n for one block."""
    return found * n if len(found) == 1 else found


def read_projections(cell, x_base, h_base):
    """What the cell's projections read, or a reason: x_t (``x_base``, or any tensor
    when None), the weights, biases and dropout masks per gate block, and the nodes."""
    op = cell.op
    x_proj, h_proj, h_prev, *rest = cell.inputs
    n = 3 if op.reset_after else 2
    xb, hb = _blocks(x_proj, 3), _blocks(h_proj, n)
    if xb is None or hb is None:
        return "the cell's input is not x_t @ W (+ b) and h @ R (+ b), whole or per gate"
    nodes = [nd for blk in xb + hb for nd in blk[3]]
    xs, x_masks = [], []
    for a, M, _, _ in xb:
        x_t, m, mnodes = _source(a, x_base)
        if M is None or (x_base is not None and x_t is not x_base):
            return "the step input is transformed inside the loop in a way the sequence kernel does not do"
        xs.append(x_t)
        x_masks.append(m)
        nodes += mnodes
    h_masks, R = [], []
    for a, M, _, _ in hb:
        h_t, m, mnodes = _source(a, h_base)
        if M is not None and h_t is not h_base:
            return "the recurrent product does not read the carried state h"
        if M is None and not _is_zero(h_prev):
            return "the recurrent projection has no h @ R term"
        R.append(M)
        h_masks.append(m)
        nodes += mnodes
    h_masks = _masks(h_masks, n)
    if not op.reset_after:
        hc = rest[-1] if op.candidate_input else h_prev
        h_t, m, mnodes = _source(hc, h_base)
        if h_t is not h_base:
            return "the candidate's matmul reads something other than the carried state h"
        h_masks, nodes = h_masks + [m], nodes + mnodes
    if len({id(x) for x in xs}) > 1:
        return "the gate blocks read different step inputs"
    for masks, what in ((x_masks, "input"), (h_masks, "state")):
        if len({m is None for m in masks}) > 1:
            return f"some gate blocks read the {what} through a dropout mask and some do not"
    if not op.reset_after and any(blk[2] is not None for blk in hb):
        return "a bias on the recurrent projection without reset_after"
    return dict(x_t=xs[0], W=[blk[1] for blk in xb], b_in=[blk[2] for blk in xb], R=R,
                b_rec=[blk[2] for blk in hb], Rh=None if op.reset_after else rest[0],
                x_masks=_masks(x_masks, 3), h_masks=h_masks, nodes=nodes,
                attrs=dict(activation=op.activation, recurrent_activation=op.recurrent_activation,
                           reset_after=op.reset_after))


def _mask_stack(masks, outer):
    """(shared mask or None, the stacked (3, B, n) masks or None)."""
    if masks[0] is None:
        return None, None
    if len({id(m) for m in masks}) == 1:
        return outer(masks[0]), None
    return None, stack([outer(m) for m in masks])


def _joined(parts, widths, outer, dtype):
    """The blocks' tensors side by side (zeros for a missing bias)."""
    got = [outer(p) if p is not None else zeros((w,), dtype) for p, w in zip(parts, widths)]
    return got[0] if len(got) == 1 else concat(got, axis=-1)


def weights_outside(info, outer):
    """(W, R, b, input masks, recurrent masks, the input's shared mask) for gru_sequence
    from read projections; ``outer`` rebuilds a loop-invariant tensor outside the loop."""
    W = _joined(info["W"], [None] * len(info["W"]), outer, None)
    U3 = W.shape[1]
    U = U3 // 3
    widths = [U3] if len(info["b_in"]) == 1 else [U] * 3
    b_in = _joined(info["b_in"], widths, outer, W.dtype)
    R = _joined(info["R"], [None] * len(info["R"]), outer, None)
    if info["attrs"]["reset_after"]:
        rw = [U3] if len(info["b_rec"]) == 1 else [U] * 3
        bias = stack([b_in, _joined(info["b_rec"], rw, outer, W.dtype)])
    else:
        R, bias = concat([R, outer(info["Rh"])], axis=-1), b_in
    shared, xm = _mask_stack(info["x_masks"], outer)
    hs, hm = _mask_stack(info["h_masks"], outer)
    if hs is not None:
        hm = stack([hs] * 3)
    return W, R, bias, xm, hm, shared


# ----------------------------------------------------------------------- loops

def _cells(body):
    cells = [o for o in body.outputs if op_name(o) == "gru_cell"]
    if not cells:                # masked: the cell's output reaches them through where
        cells = [t for o in body.outputs if op_name(o) == "where" for t in o.node.inputs
                 if op_name(t) == "gru_cell"]
    return cells


def _state_slots(op, h_new):
    """(the carries that hold h or, masked, the carried output; the output rule; the
    mask-handling node ids), or a reason."""
    body, nc, outs = op.body, op.n_carry, op.body.outputs
    carries = body.inputs[:nc]
    if op.n_seq == 1:
        h_slots = [j for j in range(nc) if outs[j] is h_new]
        return (h_slots if outs[nc] is h_new else []), None, set()
    key = mask_key(body.inputs[nc + 1], outs)
    if key is None:
        return "the loop reads a second sequence that is not a mask the RNN layer applies"
    kept = [j for j in range(nc) if where_of(outs[j], key, h_new, carries[j])]
    if not kept or len(kept) > 2:
        return "the masked loop does not keep h at masked steps as the RNN layer does"
    nodes = {key.node.id} | {outs[j].node.id for j in kept}
    emitted = outs[nc] if len(outs) > nc else None
    if emitted is None or any(outs[j] is emitted for j in kept):
        return kept, "carry", nodes
    fill = emitted.node.inputs[2] if op_name(emitted) == "where" else None
    if where_of(emitted, key, h_new) and op_name(fill) == "fill_like" and fill.node.op.value == 0 \
            and fill.node.inputs[0] is h_new:
        return kept, "zero", nodes | {emitted.node.id, fill.node.id}
    return "the masked loop emits something other than the carried output or zeros"


def read_body(op):
    """How a loop body computes one GRU step, or a reason why it is not one."""
    body, nc = op.body, op.n_carry
    why = loop_layout_reason(op, "a GRU layer")
    if why:
        return why
    cells = _cells(body)
    if not cells:
        return "the loop body holds no fused GRU cell"
    cell = cells[0].node
    h_new, h_prev = cell.outputs[0], cell.inputs[2]
    slots = _state_slots(op, h_new)
    if isinstance(slots, str):
        return slots
    h_slots, rule, mask_nodes = slots
    h_slot = next((j for j in h_slots if body.inputs[j] is h_prev), None)
    if h_slot is None:
        return "the loop body does more than one GRU step (it does not carry the cell's h and emit it)"
    info = read_projections(cell, body.inputs[nc], h_prev)
    if isinstance(info, str):
        return info
    inv = invariant(body, body.inputs[nc + op.n_seq:])
    fixed = info["W"] + info["R"] + info["b_in"] + info["b_rec"] + [info["Rh"]] \
        + info["x_masks"] + info["h_masks"]
    if any(t is not None and t.node.id not in inv for t in fixed):
        return "the cell's weights, biases or dropout masks change from step to step"
    y_slot = next((j for j in h_slots if j != h_slot), None)
    if rule == "carry" and len(body.outputs) > nc and (y_slot is None
                                                       or body.outputs[y_slot] is not body.outputs[nc]):
        return "the masked loop does not carry its output as the RNN layer does"
    dead = dead_carries(body, nc, [h_slot] + ([y_slot] if y_slot is not None else []), inv)
    if dead is None:
        return f"the loop carries {nc} values; a GRU layer carries h"
    inner = {cell.id} | inv | dead | mask_nodes | {n.id for n in info["nodes"]}
    extra = [n for n in topo_nodes(body.outputs) if n.id not in inner and n.op.name != "placeholder"]
    if extra:
        return f"the loop body does more than the GRU step ({extra[0].op.name} {extra[0].name!r})"
    return dict(info, cell=cell, h_slot=h_slot, y_slot=y_slot, rule=rule)


# ----------------------------------------------------------------------- unrolled steps

def read_chain_step(cell):
    """One step of an unrolled chain: read_projections plus ``key``, what must be the
    same at every step (weights, biases, masks, attributes, by identity)."""
    info = read_projections(cell, None, cell.inputs[2])
    if isinstance(info, str):
        return info
    fixed = [("W", info["W"]), ("b_in", info["b_in"]), ("R", info["R"]), ("b_rec", info["b_rec"]),
             ("Rh", [info["Rh"]]), ("xm", info["x_masks"]), ("hm", info["h_masks"])]
    key = {(role, k, id(t)) for role, ts in fixed for k, t in enumerate(ts) if t is not None}
    info["key"] = frozenset(key | {("attrs", tuple(sorted(info["attrs"].items())))})
    return info
