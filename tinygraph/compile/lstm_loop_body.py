"""How a loop body computes one LSTM step: what the sequence fusion reads from a
``scan`` before it replaces the loop by one ``lstm_sequence`` (tinygraph/compile/
lstm_fusion.py builds it). Everything here only reads the graph.

A body qualifies when it holds one fused ``lstm_cell`` whose z is one of
- ``x_t @ W + h @ R (+ b)`` (Keras implementation=2),
- ``concat([x_t, h], 1) @ K + b`` (the TF1 cell: W and R are K's row blocks),
- ``concat([x_t @ W_k + b_k + h @ R_k for the four gates])`` (implementation=1),
with weights the same at every step (captured, or slices of captured values), the
input optionally times one dropout mask; and whose carries are h and c, plus, when
masked, the carried output (layers.RNN over (x, mask)) or a step counter
(dynamic_rnn; with sequence_length its test ``t < length`` is the mask).
"""
from tinygraph.compile.recurrent import (add_terms, dead_carries, invariant, is_const,
                                         loop_layout_reason, mask_key, op_name, pairs,
                                         where_of)
from tinygraph.ir.graph import topo_nodes

# why an unrolled chain of implementation=1 cells (one product per gate) got no
# sequence kernel: its products do not read x[t] of one tensor and the previous h
PER_GATE_PRODUCTS = ("the unrolled steps compute one product per gate (implementation=1, which "
                     "recurrent_dropout forces) but not of x[0], x[1], ... of one tensor and "
                     "the previous step's h; fused step by step (the loop, unroll=False, runs "
                     "them on the sequence kernel)")



def step_terms(z):
    """z = a @ W + b @ R (+ bias) -> ([(a, W, node), (b, R, node)], bias, add nodes) or None."""
    nodes, matmuls, bias = [], [], None
    for term in add_terms(z, nodes):
        if op_name(term) == "matmul" and not (term.node.op.transpose_a or term.node.op.transpose_b):
            matmuls.append((term.node.inputs[0], term.node.inputs[1], term.node))
        elif term.ndim == 1 and bias is None:
            bias = term
        else:
            return None
    return (matmuls, bias, nodes) if len(matmuls) in (1, 2) else None


def projections(z, x_ph, h_ph, inv):
    """How z = x_t @ W + h @ R (+ b) is computed, per block of its columns: a list of
    (W parts, R parts, bias, x mask, h mask, nodes) with each parts a list of
    (loop-invariant tensor, row slice or None) whose product sum is the block; or a
    reason why not.

    - Keras implementation=2: ``x @ W + h @ R + b``, one block;
    - TF1: ``concat([x, h], 1) @ K + b``: W and R are K's first D and last H rows;
    - Keras implementation=1: ``concat([(x * m_k) @ W_k + b_k + (h * r_k) @ R_k for k in
      i, f, c, o])``, four blocks (the fusion concatenates their W, R and b), with
      optional per-gate dropout masks m_k (dropout) and r_k (recurrent_dropout)."""
    if op_name(z) == "concat" and z.node.op.axis in (-1, z.ndim - 1) and len(z.node.inputs) == 4:
        blocks = [projections(piece, x_ph, h_ph, inv) for piece in z.node.inputs]
        bad = next((blk for blk in blocks if isinstance(blk, str)), None)
        if bad is not None:
            return bad
        for k in (3, 4):
            if len({blk[0][k] is None for blk in blocks}) > 1:
                return "some gates read their input through a dropout mask and some do not"
        return [blk[0][:5] + (blk[0][5] + [z.node],) for blk in blocks]
    terms = step_terms(z)
    if terms is None:
        return "the cell's input z has a term other than x@W, h@R and b"
    matmuls, bias, nodes = terms
    if bias is not None and bias.node.id not in inv:
        return "the cell's bias changes from step to step"
    W, R, mask, h_mask = None, None, None, None
    for a, w, node in matmuls:
        if w.node.id not in inv:
            return "the cell's input z is not x_t @ W + h @ R (+ b) with fixed weights"
        nodes.append(node)
        if op_name(a) == "concat" and len(a.node.inputs) == 2 and a.node.op.axis in (1, -1) \
                and a.node.inputs[1] is h_ph and W is None and R is None:
            x_in, width = a.node.inputs[0], a.node.inputs[0].shape[-1]
            W, R = (w, slice(0, width)), (w, slice(width, None))
            nodes.append(a.node)
        elif R is None and (a is h_ph or not isinstance(_step_mask(a, h_ph, inv, []), str)):
            R, x_in = (w, None), None
            if a is not h_ph:
                h_mask = _step_mask(a, h_ph, inv, nodes)
                if isinstance(h_mask, str):
                    return h_mask
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
    return [([W], [R], bias, mask, h_mask, nodes)]


def _length_key(body, nc, inv):
    """dynamic_rnn's sequence_length test ``expand_dims(less(t, lengths), 1)``, t the
    carry that counts steps (``t + 1``): (keep tensor, t's slot, lengths) or None."""
    keys = [o.node.inputs[0] for o in body.outputs if op_name(o) == "where"]
    for k in keys:
        if op_name(k) == "expand_dims" and k.node.op.axis == 1 \
                and op_name(k.node.inputs[0]) == "less":
            t, lengths = k.node.inputs[0].node.inputs
            slot = next((j for j in range(nc) if body.inputs[j] is t), None)
            step = None if slot is None else body.outputs[slot]
            if step is not None and op_name(step) == "add" and lengths.node.id in inv \
                    and any(a is t and is_const(b, 1) for a, b in pairs(step)):
                return k, slot, lengths
    return None


def _masked_slots(body, nc, h_cell, c_cell, key):
    """For a masked loop (layers.RNN's over (x, mask), or dynamic_rnn's with
    sequence_length) keyed by ``key``: (slots of h and the carried output, c's slot,
    the output rule, the mask-handling node ids), or a reason."""
    carries, outs = body.inputs[:nc], body.outputs
    emitted = outs[nc] if len(outs) > nc else None
    if key is None:
        return "the loop reads a second sequence that is not a mask the RNN layer applies"
    kept_h = [j for j in range(nc) if where_of(outs[j], key, h_cell, carries[j])]
    c_slot = next((j for j in range(nc) if where_of(outs[j], key, c_cell, carries[j])), None)
    if c_slot is None or not kept_h or len(kept_h) > 2:
        return "the masked loop does not keep h and c at masked steps as the RNN layer does"
    nodes = {key.node.id} | {outs[j].node.id for j in kept_h + [c_slot]}
    if op_name(key) == "expand_dims":
        nodes.add(key.node.inputs[0].node.id)            # the less(t, lengths) under it
    if emitted is None or any(outs[j] is emitted for j in kept_h):
        rule = "carry"
    elif where_of(emitted, key, h_cell) and op_name(emitted.node.inputs[2]) == "fill_like" \
            and emitted.node.inputs[2].node.op.value == 0 \
            and emitted.node.inputs[2].node.inputs[0] is h_cell:
        rule = "zero"
        nodes |= {emitted.node.id, emitted.node.inputs[2].node.id}
    else:
        return "the masked loop emits something other than the carried output or zeros"
    return kept_h, c_slot, rule, nodes


def _projected(body, h_cell, inv):
    """The TF1 cell's projection of its output, ``clip(h_cell @ P)`` with P fixed:
    (the projected tensor, P, proj_clip or None, its node ids), or None."""
    nodes = topo_nodes(body.outputs)
    m = next((n.outputs[0] for n in nodes if n.op.name == "matmul" and n.inputs[0] is h_cell
              and n.inputs[1].node.id in inv and not n.op.transpose_a
              and not n.op.transpose_b), None)
    if m is None:
        return None
    ids = {m.node.id}
    lo = next((n for n in nodes if n.op.name == "maximum" and n.inputs[0] is m), None)
    hi = lo and next((n for n in nodes if n.op.name == "minimum" and n.inputs[0] is lo.outputs[0]), None)
    if hi is not None and op_name(lo.inputs[1]) == "constant" \
            and op_name(hi.inputs[1]) == "constant":
        clip = float(hi.inputs[1].node.op.value.reshape(()))
        if clip > 0 and float(lo.inputs[1].node.op.value.reshape(())) == -clip:
            return hi.outputs[0], m.node.inputs[1], clip, ids | {lo.id, hi.id}
    return m, m.node.inputs[1], None, ids


def _state_slots(op, h_new, c_new, lengths):
    """(the carries that hold h or, masked, the carried output; c's carry; the output
    rule; the mask-handling node ids), or a reason."""
    body, nc, outs = op.body, op.n_carry, op.body.outputs
    if op.n_seq == 2 or lengths is not None:
        key = mask_key(body.inputs[nc + 1], outs) if op.n_seq == 2 else lengths[0]
        return _masked_slots(body, nc, h_new, c_new, key)
    h_slots = [j for j in range(nc) if outs[j] is h_new]
    c_slot = next((j for j in range(nc) if outs[j] is c_new), None)
    if not h_slots or c_slot is None or outs[nc] is not h_new:
        h_slots = []
    return h_slots, c_slot, None, set()


def read_body(op):
    """How a loop body computes one LSTM step, or a reason why it is not one."""
    body, nc = op.body, op.n_carry
    why = loop_layout_reason(op, "an LSTM layer")
    if why:
        return why
    cells = [o for o in body.outputs if op_name(o) == "lstm_cell"]
    if not cells:                          # masked: the cell's outputs reach them through where
        cells = [t for o in body.outputs if op_name(o) == "where" for t in o.node.inputs
                 if op_name(t) == "lstm_cell"]
    if not cells:
        return "the loop body holds no fused LSTM cell"
    cell = cells[0].node
    carries, x_ph, caps = body.inputs[:nc], body.inputs[nc], body.inputs[nc + op.n_seq:]
    (h_new, c_new), outs = cell.outputs, body.outputs
    inv = invariant(body, caps)
    proj = _projected(body, h_new, inv)
    if proj is not None:                     # the state and output are the projection
        h_new = proj[0]
    lengths = _length_key(body, nc, inv) if op.n_seq == 1 and not op.reverse else None
    slots = _state_slots(op, h_new, c_new, lengths)
    if isinstance(slots, str):
        return slots
    h_slots, c_slot, rule, mask_nodes = slots
    if not h_slots:
        return ("the loop body does more than one LSTM step (it does not carry the cell's "
                "h and c and emit h)")
    z, c_prev, *peep = cell.inputs
    if c_prev is not carries[c_slot]:
        return "the cell's previous c is not the loop's carried c"
    if any(p.node.id not in inv for p in peep):
        return "the cell's peephole weights change from step to step"
    for h_slot in h_slots:                 # h is the carry the recurrent product reads
        blocks = projections(z, x_ph, carries[h_slot], inv)
        if not isinstance(blocks, str):
            break
    if isinstance(blocks, str):
        return blocks
    # the other kept-like-h carry is the carried output (Keras' rule for masked steps)
    y_slot = next((j for j in h_slots if j != h_slot), None)
    if rule == "carry" and len(outs) > nc and (y_slot is None or outs[y_slot] is not outs[nc]):
        return "the masked loop does not carry its output as the RNN layer does"
    slots = [h_slot, c_slot] + ([y_slot] if y_slot is not None else [])
    dead = dead_carries(body, nc, slots, inv)
    if dead is None:
        return f"the loop carries {nc} values; an LSTM layer carries (h, c) (and a step counter)"
    inner = {cell.id} | inv | dead | mask_nodes | {n.id for blk in blocks for n in blk[5]} \
        | (proj[3] if proj is not None else set())
    extra = [n for n in topo_nodes(body.outputs) if n.id not in inner and n.op.name != "placeholder"]
    if extra:
        return f"the loop body does more than the LSTM step ({extra[0].op.name} {extra[0].name!r})"
    return dict(cell=cell, h_slot=h_slot, c_slot=c_slot, y_slot=y_slot, rule=rule,
                blocks=blocks, peep=peep, **dropout_masks(blocks),
                lengths=None if lengths is None else lengths[1:],
                projection=None if proj is None else proj[1:3])


def dropout_masks(blocks):
    """The input's dropout mask shared by every gate (``mask``), or the four per-gate
    input masks (``x_masks``), and the per-gate recurrent masks (``h_masks``)."""
    xs, hs = [blk[3] for blk in blocks], [blk[4] for blk in blocks]
    shared = len({id(m) for m in xs}) == 1
    return dict(mask=xs[0] if shared else None, x_masks=None if shared else xs,
                h_masks=None if hs[0] is None else hs)


def _step_mask(x_in, x_ph, inv, nodes):
    """The loop-invariant dropout mask the step input is multiplied by (None without
    one), or a reason why the input is not x_t."""
    if x_in is x_ph:
        return None
    if op_name(x_in) == "multiply":
        mask = next((m for a, m in pairs(x_in) if a is x_ph and m.node.id in inv), None)
        if mask is not None:
            nodes.append(x_in.node)
            return mask
    return "the step input is transformed inside the loop in a way the sequence kernel does not do"
