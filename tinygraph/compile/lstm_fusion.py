"""LSTM fusion: rules that find LSTM gate math in any graph and put the fused
kernels of ops/lstm.py in its place.

- ``lstm_cell_fusion``: one step's gate math (Keras LSTMCell, implementation 1 or
  2; the TF1 cell with forget_bias, peepholes and cell_clip; any activation pair
  the layers allow) becomes one ``lstm_cell`` op, also inside loop bodies.
- ``lstm_sequence_fusion``: a loop whose body is one fused cell fed by
  ``x_t @ W + h @ R + b`` becomes one ``lstm_sequence`` op.

Backward passes are fused by differentiating the fused forward graph (see
``tinygraph.compile.passes.regrad``): fused ops have fused VJPs.

Every LSTM-looking subgraph a rule leaves alone is reported with the reason
(``Session.explain`` prints them).
"""
import math

from tinygraph.ir.graph import apply
from tinygraph.compile.rewrite import Decline, Pat, Rule, rewrite

# why implementation=1 cells (one matmul per gate) get no sequence kernel
PER_GATE_PRODUCTS = ("the cell computes one product per gate (implementation=1, which "
                     "recurrent_dropout forces), so its cells are fused step by step, not as "
                     "one sequence kernel")
GATE_ORDERS = {(0, 1, 2, 3): "ifco", (0, 2, 1, 3): "ijfo"}   # split index of (i, f, cand, o)


# ----------------------------------------------------------------------- small matchers

def _op(t):
    return t.node.op.name


def _scalar_const(t):
    if _op(t) != "constant" or t.node.op.value.size != 1:
        return None
    return float(t.node.op.value.reshape(()))


def _pairs(t):
    """Both orders of a commutative binary node's inputs."""
    a, b = t.node.inputs
    return [(a, b), (b, a)]


def _hard_sigmoid(t):
    """(name, x, nodes) when t = clip(x * k + 0.5, 0, 1) with k = 1/6 or 0.2."""
    if _op(t) != "minimum" or _scalar_const(t.node.inputs[1]) != 1.0:
        return None
    mx = t.node.inputs[0]
    if _op(mx) != "maximum" or _scalar_const(mx.node.inputs[1]) != 0.0:
        return None
    add = mx.node.inputs[0]
    if _op(add) != "add":
        return None
    for lin, half in _pairs(add):
        if _scalar_const(half) == 0.5 and _op(lin) == "multiply":
            for x, k in _pairs(lin):
                kv = _scalar_const(k)
                if kv is not None and math.isclose(kv, 1 / 6, rel_tol=1e-6):
                    return "hard_sigmoid", x, [t.node, mx.node, add.node, lin.node]
                if kv is not None and math.isclose(kv, 0.2, rel_tol=1e-6):
                    return "hard_sigmoid_v1", x, [t.node, mx.node, add.node, lin.node]
    return None


def activations_of(t):
    """Ways to read t as act(x): [(name, x, nodes)]; 'linear' (t itself) only when t
    is no activation's output."""
    out = []
    if _op(t) in ("tanh", "sigmoid", "relu"):
        out.append((_op(t), t.node.inputs[0], [t.node]))
    hs = _hard_sigmoid(t)
    if hs:
        out.append(hs)
    if not out:          # reading tanh(z) as linear(tanh(z)) would group the wrong nodes
        out.append(("linear", t, []))
    return out


def _clip(c):
    """(c_raw, k, nodes) when c = clip(c_raw, -k, k), else (c, None, [])."""
    if _op(c) == "minimum":
        mx, hi = c.node.inputs
        k = _scalar_const(hi)
        if k is not None and _op(mx) == "maximum" and _scalar_const(mx.node.inputs[1]) == -k:
            return mx.node.inputs[0], k, [c.node, mx.node]
    return c, None, []


def _add_terms(t, nodes):
    """Flatten a tree of ``add`` into its terms (recording the add nodes)."""
    if _op(t) == "add":
        nodes.append(t.node)
        a, b = t.node.inputs
        return _add_terms(a, nodes) + _add_terms(b, nodes)
    return [t]


def _strip_extras(zp, c_state, allow_bias):
    """zp = z [+ forget_bias] [+ w * c_state], peeled from the top of an add tree ->
    (z, bias, w, nodes) or None."""
    bias, w, nodes = 0.0, None, []
    while _op(zp) == "add":
        for rest, term in _pairs(zp):
            const = _scalar_const(term)
            if const is not None and allow_bias:
                bias += const
                break
            if w is None and _op(term) == "multiply" and any(
                    b is c_state and a.ndim == 1 for a, b in _pairs(term)):
                w = next(a for a, b in _pairs(term) if b is c_state)
                nodes.append(term.node)
                break
        else:
            break
        nodes.append(zp.node)
        zp = rest
    if _scalar_const(zp) is not None:
        return None
    return zp, bias, w, nodes


def _z_source(pieces):
    """One z tensor for the four gate pre-activations (i, f, cand, o): the split
    they came from, or a concat of four separate tensors (implementation 1)."""
    srcs = {p.node.id for p in pieces}
    if len(srcs) == 1 and _op(pieces[0]) == "split":
        node = pieces[0].node
        if len(node.outputs) != 4 or node.op.axis != node.inputs[0].ndim - 1:
            return None, None, []
        order = GATE_ORDERS.get(tuple(p.index for p in pieces))
        if order is None:
            return None, None, []
        return node.inputs[0], order, [node]
    if any(_op(p) == "split" for p in pieces):
        return None, None, []
    from tinygraph.ops import concat
    return concat(list(pieces), axis=-1), "ifco", []


# ----------------------------------------------------------------------- cell fusion

def _cell_candidates(h):
    """Every reading of h as o * act(c) with c = f * c_prev + i * g."""
    for o_t, ac_t in _pairs(h):
        for act_name, c, ac_nodes in activations_of(ac_t):
            c_raw, clip, clip_nodes = _clip(c)
            if _op(c_raw) != "add":
                continue
            for p, q in _pairs(c_raw):
                if _op(p) != "multiply" or _op(q) != "multiply":
                    continue
                for F, c_prev in _pairs(p):
                    for I, G in _pairs(q):
                        yield (o_t, act_name, c, c_raw, clip, F, c_prev, I, G,
                               ac_nodes + clip_nodes + [c_raw.node, p.node, q.node, h.node])


def _read_cell(h):
    """A description of the LSTM cell ending at h, or a Decline, or None."""
    best_reason = None
    for (o_t, act_name, c, c_raw, clip, F, c_prev, I, G, nodes) in _cell_candidates(h):
        if F is c_prev or I is G or c_prev.shape != c.shape:
            continue
        for ra_o, zo_p, o_nodes in activations_of(o_t):
            for ra_f, zf_p, f_nodes in activations_of(F):
                for ra_i, zi_p, i_nodes in activations_of(I):
                    for act_g, zg, g_nodes in activations_of(G):
                        if "linear" in (ra_o, ra_f, ra_i) and not ra_o == ra_f == ra_i == "linear":
                            continue
                        fi = _strip_extras(zf_p, c_prev, allow_bias=True)
                        ii = _strip_extras(zi_p, c_prev, allow_bias=False)
                        oi = _strip_extras(zo_p, c, allow_bias=False)
                        if not (fi and ii and oi) or ii[1] or oi[1]:
                            continue
                        (zf, fb, wf, fn), (zi, _, wi, in_), (zo, _, wo, on) = fi, ii, oi
                        peep = [wi, wf, wo]
                        if any(p is not None for p in peep) and any(p is None for p in peep):
                            continue
                        pieces = [zi, zf, zg, zo]
                        if any(p.shape != pieces[0].shape or p.ndim != 2 for p in pieces):
                            continue
                        if pieces[0].shape[-1] is not None and c.shape[-1] is not None and \
                                pieces[0].shape[-1] != c.shape[-1]:
                            continue
                        if not (ra_o == ra_f == ra_i):
                            best_reason = best_reason or (
                                f"the gates use different recurrent activations ({ra_i}, {ra_f}, "
                                f"{ra_o}); the fused kernel applies one to i, f and o")
                            continue
                        if act_g != act_name:
                            best_reason = best_reason or (
                                f"the candidate uses {act_g} but the cell output uses {act_name}; "
                                "the fused kernel applies one activation to both")
                            continue
                        return dict(h=h, c=c, c_prev=c_prev, pieces=pieces, forget_bias=fb,
                                    peep=None if wi is None else peep, clip=clip,
                                    activation=act_name, recurrent_activation=ra_o,
                                    nodes=nodes + o_nodes + f_nodes + i_nodes + g_nodes + fn + in_ + on)
    return Decline(best_reason) if best_reason else None


def fuse_lstm_cell(b, h, ctx):
    cell = _read_cell(h)
    if cell is None or isinstance(cell, Decline):
        return cell
    z, order, z_nodes = _z_source(cell["pieces"])
    if z is None:
        return Decline("the four gate pre-activations are not the four parts of one split "
                       "in i, f, c, o or i, j, f, o order")
    leak = ctx.leak(cell["nodes"] + z_nodes, replaced=[cell["h"], cell["c"]])
    if leak is not None:
        return Decline(f"{leak.name!r} ({leak.op.name}) inside the cell is also used outside it")
    if not ctx.claim(cell["nodes"] + z_nodes):
        return None
    from tinygraph.ops.lstm import lstm_cell
    h_new, c_new = lstm_cell(z, cell["c_prev"], cell["peep"], activation=cell["activation"],
                             recurrent_activation=cell["recurrent_activation"],
                             forget_bias=cell["forget_bias"], gate_order=order,
                             cell_clip=cell["clip"])
    return {cell["h"]: h_new, cell["c"]: c_new}


def rewrite_loop_bodies(rules, label):
    """A rule that applies ``rules`` inside the body of every loop."""
    def replace(b, t, ctx):
        from tinygraph.ir.function import Function
        from tinygraph.ops.scan import Scan
        node = t.node
        body = node.op.body
        outs, events = rewrite(body.outputs, rules)
        ctx.events.extend(events)
        if all(a is b for a, b in zip(outs, body.outputs)):
            return None
        new_op = Scan(**dict(node.op.attrs, body=Function(body.inputs, outs, body.name)))
        new = apply(new_op, list(node.inputs))
        return {o: n for o, n in zip(node.outputs, new.outputs)}
    replace.__name__ = label
    return replace


CELL_RULES = [
    # o*act(f*c_prev + i*act(z_c)) with i, f, o = ract(parts of z)  ->  lstm_cell(z, c_prev)
    Rule(Pat("multiply"), fuse_lstm_cell, "LSTM gate math -> one lstm_cell op",
         exclusive=False, context=True, name="lstm_cell_fusion"),
]
CELL_RULES.append(
    # scan(body) -> scan(body with its LSTM cells fused)
    Rule(Pat("scan"), rewrite_loop_bodies(CELL_RULES, "lstm_cell_fusion_in_loop"),
         "fuse the LSTM cells inside loop bodies", exclusive=False, context=True,
         name="lstm_cell_fusion_in_loop"))


# ----------------------------------------------------------------------- sequence fusion

def _step_terms(z):
    """z = a @ W + b @ R (+ bias) -> ([(a, W, node), (b, R, node)], bias, add nodes) or None."""
    nodes = []
    matmuls, bias = [], None
    for term in _add_terms(z, nodes):
        if _op(term) == "matmul" and not (term.node.op.transpose_a or term.node.op.transpose_b):
            matmuls.append((term.node.inputs[0], term.node.inputs[1], term.node))
        elif term.ndim == 1 and bias is None:
            bias = term
        else:
            return None
    return (matmuls, bias, nodes) if len(matmuls) in (1, 2) else None


def _read_sequence_body(op):
    """How a loop body computes one LSTM step, or a reason why it is not one."""
    body = op.body
    nc, ns = op.n_carry, op.n_seq
    if ns != 1:
        return ("the loop reads more than one sequence (a mask or several inputs); its "
                "cells are fused step by step")
    if nc != 2 or op.n_ys != 1:
        return f"the loop carries {nc} values and emits {op.n_ys}; an LSTM layer carries (h, c) and emits h"
    cells = [o for o in body.outputs if _op(o) == "lstm_cell"]
    if not cells:
        return "the loop body holds no fused LSTM cell"
    cell = cells[0].node
    if cell.op.peepholes or cell.op.cell_clip:
        return "peepholes and cell clipping are fused per step (lstm_cell), not per sequence"
    params = body.inputs
    carries, x_ph, caps = params[:nc], params[nc], params[nc + 1:]
    h_new, c_new = cell.outputs
    outs = body.outputs
    if not (outs[2] is h_new and {outs[0].node.id, outs[1].node.id} == {cell.id}):
        return "the loop body does more than one LSTM step (its outputs are not the cell's h, c)"
    h_slot = 0 if outs[0] is h_new else 1
    c_slot = 1 - h_slot
    z, c_prev = cell.inputs[:2]
    if c_prev is not carries[c_slot]:
        return "the cell's previous c is not the loop's carried c"
    if _op(z) == "concat":
        return PER_GATE_PRODUCTS
    terms = _step_terms(z)
    if terms is None:
        return "the cell's input z has a term other than x@W, h@R and b"
    matmuls, bias, nodes = terms
    is_cap = lambda t: any(t is p for p in caps)              # noqa: E731
    h_term = next((m for m in matmuls if m[0] is carries[h_slot] and is_cap(m[1])), None)
    x_term = next((m for m in matmuls if m is not h_term and is_cap(m[1])), None)
    if x_term is None or h_term is None or (bias is not None and not is_cap(bias)):
        return "the cell's input z is not x_t @ W + h @ R (+ b)"
    x_in, W, x_node = x_term
    mask = None
    if x_in is not x_ph:
        ok = _op(x_in) == "multiply" and any(a is x_ph and any(m is p for p in caps)
                                            for a, m in _pairs(x_in))
        if not ok:
            return "the step input is transformed inside the loop in a way the sequence kernel does not do"
        mask = next(m for a, m in _pairs(x_in) if a is x_ph)
        nodes.append(x_in.node)
    inner = [cell, x_node, h_term[2]] + nodes
    inner_ids = {n.id for n in inner}
    from tinygraph.ir.graph import topo_nodes
    extra = [n for n in topo_nodes(body.outputs) if n.id not in inner_ids and n.op.name != "placeholder"]
    if extra:
        return f"the loop body does more than the LSTM step ({extra[0].op.name} {extra[0].name!r})"
    return dict(cell=cell, h_slot=h_slot, W=W, R=h_term[1], b=bias, mask=mask)


def fuse_lstm_sequence(b, t, ctx):
    node = t.node
    op = node.op
    info = _read_sequence_body(op)
    if isinstance(info, str):
        if any(_op(o) == "lstm_cell" for o in op.body.outputs):
            return Decline(info)
        return None
    nc = op.n_carry
    outer = dict(zip([p.node.id for p in op.body.inputs], node.inputs))

    def out(p):
        return outer[p.node.id]
    x = out(op.body.inputs[nc])
    if info["mask"] is not None:
        x = x * out(info["mask"])            # the dropout mask is the same at every step
    h0, c0 = node.inputs[info["h_slot"]], node.inputs[1 - info["h_slot"]]
    W, R = out(info["W"]), out(info["R"])
    if info["b"] is not None:
        bias = out(info["b"])
    else:
        from tinygraph.ops import zeros
        bias = zeros((W.shape[1],), W.dtype)
    finals, ys = node.outputs[:nc], node.outputs[nc:nc + 1]
    leak = ctx.leak([node], replaced=list(finals) + list(ys))
    if leak is not None:
        return Decline("the loop's per-step carry history is read (by an unfused gradient or a "
                       "tool); the sequence kernel does not produce it")
    cell = info["cell"].op
    from tinygraph.ops.lstm import lstm_sequence
    hs, hT, cT, _, _ = lstm_sequence(x, h0, c0, W, R, bias, reverse=op.reverse,
                                     activation=cell.activation,
                                     recurrent_activation=cell.recurrent_activation,
                                     forget_bias=cell.forget_bias, gate_order=cell.gate_order)
    repl = {ys[0]: hs, finals[info["h_slot"]]: hT, finals[1 - info["h_slot"]]: cT}
    return repl


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


def fuse_unrolled_chain(b, h, ctx):
    """The last cell of an unrolled chain of identical LSTM steps -> lstm_sequence."""
    last, op = h.node, h.node.op
    if h.index != 0 or op.peepholes or op.cell_clip:
        return None
    if any(ctx.nodes[u].op == op for u in ctx.readers.get((last.id, 1), ())):
        return None                       # not the last step: the chain goes on
    chain = [last]                        # follow the cell state back
    while _op(chain[-1].inputs[1]) == "lstm_cell" and chain[-1].inputs[1].index == 1 \
            and chain[-1].inputs[1].node.op == op:
        chain.append(chain[-1].inputs[1].node)
    chain.reverse()
    if len(chain) < 2:
        return None
    # In step k >= 1 the recurrent matmul reads h of step k-1: that fixes R (and W).
    second = _step_terms(chain[1].inputs[0])
    if second is None or len(second[0]) != 2:
        return Decline(PER_GATE_PRODUCTS)
    rec = [m for m in second[0] if m[0] is chain[0].outputs[0]]
    if len(rec) != 1:
        return None
    R = rec[0][1]
    W = next(m[1] for m in second[0] if m is not rec[0])
    bias = second[1]
    xs_t, interior, h0 = [], list(chain), None
    for k, n in enumerate(chain):
        terms = _step_terms(n.inputs[0])
        if terms is None or terms[1] is not bias:
            return Decline("the steps of an unrolled LSTM chain use different biases")
        by_weight = {id(m[1]): m for m in terms[0]}
        if k == 0 and set(by_weight) == {id(W)} and None not in chain[0].outputs[0].shape:
            # h0 @ R was folded away: h0 is zero
            from tinygraph.ops import zeros
            h0 = zeros(chain[0].outputs[0].shape, W.dtype)
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
        interior += terms[2] + [n for n in (x_node, h_node) if n is not None]
    mask = None
    if all(_op(x) == "multiply" for x in xs_t):      # one dropout mask for every step
        split = [next(((a, m) for a, m in _pairs(x) if _op(a) in ("getitem", "unstack")), None)
                 for x in xs_t]
        if all(split) and len({id(m) for _, m in split}) == 1:
            interior += [x.node for x in xs_t]
            mask, xs_t = split[0][1], [a for a, _ in split]
    X = _step_inputs(xs_t)
    if X is None:
        return Decline("the step inputs of an unrolled LSTM chain are not x[0], x[1], ... of one "
                       "tensor; fused step by step")
    replaced = [n.outputs[0] for n in chain] + [chain[-1].outputs[1]]
    leak = ctx.leak(interior, replaced=replaced)
    if leak is not None:
        return Decline(f"{leak.name!r} ({leak.op.name}) inside the unrolled chain is read outside "
                       "it (a per-step cell state?); fused step by step")
    if not ctx.claim(interior):
        return None
    if bias is None:
        from tinygraph.ops import zeros
        bias = zeros((W.shape[1],), W.dtype)
    from tinygraph.ir.graph import in_scope
    from tinygraph.ops.lstm import lstm_sequence
    first, last_parts = chain[0].scope.split("/"), chain[-1].scope.split("/")
    common = []
    for a, b_ in zip(first, last_parts):       # the layer's scope, above the step scopes
        if a != b_:
            break
        common.append(a)
    with in_scope("/".join(common)):
        hs, _, cT, _, _ = lstm_sequence(X if mask is None else X * mask, h0, chain[0].inputs[1],
                                        W, R, bias, activation=op.activation,
                                        recurrent_activation=op.recurrent_activation,
                                        forget_bias=op.forget_bias, gate_order=op.gate_order)
        repl = {n.outputs[0]: hs[t] for t, n in enumerate(chain)}
    repl[chain[-1].outputs[1]] = cT
    return repl


def stack_of_slices(b, t):
    """stack([x[0], x[1], ..., x[n-1]]) -> x."""
    base = _step_inputs(list(t.node.inputs)) if t.node.op.axis == 0 else None
    return base if base is not None and base.shape == t.shape else None


SEQUENCE_RULES = [
    # scan(one LSTM step) -> lstm_sequence: one GEMM for the inputs, recurrence in the kernel
    Rule(Pat("scan"), fuse_lstm_sequence, "a loop of one LSTM cell -> one lstm_sequence op",
         exclusive=False, context=True, name="lstm_sequence_fusion"),
    # h_T of lstm_cell(...lstm_cell(x[0]...)) over x[0..T-1] -> lstm_sequence(x)
    Rule(Pat("lstm_cell"), fuse_unrolled_chain, "an unrolled chain of one LSTM cell -> lstm_sequence",
         exclusive=False, context=True, name="lstm_sequence_fusion_unrolled"),
    # stack([x[0], ..., x[T-1]]) -> x  (the per-step outputs of a fused chain)
    Rule(Pat("stack"), stack_of_slices, "stack of all slices of x in order -> x",
         exclusive=False, name="stack_of_slices"),
]

