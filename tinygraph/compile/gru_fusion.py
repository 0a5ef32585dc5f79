"""GRU fusion: rules that find the GRU step (ops/gru_step.py) in any graph and put the
fused kernels of ops/gru.py in its place, as tinygraph/compile/lstm_fusion.py does for
the LSTM (and with its pattern pieces and loop-body rewriting).

- ``gru_cell_fusion``: one step's gate math, matched by ``CELL``, a pattern built from
  the activation table (any activation a fused kernel implements; both reset_after
  variants; the per-gate products of implementation 1 or the splits of
  implementation 2), becomes one ``gru_cell`` op, also inside loop bodies. A step that
  looks like a GRU but uses an activation no kernel implements is reported, not fused.
- ``gru_sequence_fusion``: a loop whose body is one fused cell fed by ``x_t @ W + b``
  and ``h @ R (+ b)`` (whole, or one product per gate block), with dropout masks and
  RNN masks, or an unrolled chain of identical fused cells over ``x[0], x[1], ...``,
  becomes one ``gru_sequence`` op (how the projections are read:
  tinygraph/compile/gru_loop_body.py).
"""
from tinygraph.compile.gru_loop_body import read_body, read_chain_step, weights_outside
from tinygraph.compile.recurrent import (activated, layer_scope, loop_extension, op_name, plus,
                                         rewrite_loop_bodies, step_inputs, whole_node)
from tinygraph.compile.rewrite import Decline, Extension, Rule
from tinygraph.ir.graph import in_scope
from tinygraph.ir.pattern import Alt, Pat, V
from tinygraph.ir.rebuild import substitute, tensor_key
from tinygraph.ops.activations import ACTIVATIONS, FUSABLE, scalar_constant
from tinygraph.ops.array import concat, transpose
from tinygraph.ops.gru import gru_cell, gru_sequence



# ----------------------------------------------------------------------- the cell pattern

def _plain_matmul(t):
    return not (t.node.op.transpose_a or t.node.op.transpose_b)


def _cell_pattern(gate, candidate):
    """h = z*h_prev + (1 - z)*hh as gru_step builds it, with ``gate(key, inner)`` and
    ``candidate(inner)`` the patterns of the activated gates and candidate."""
    z = Alt(gate("ra_z", plus(V("x_z"), V("r_z"))), bind="z")
    r = Alt(gate("ra_r", plus(V("x_r"), V("r_r"))), bind="r")
    after = plus(V("x_h"), Pat("multiply", r, V("r_h"), commutative=True))
    before = plus(V("x_h"), Pat("matmul", Pat("multiply", r, V("hc"), commutative=True),
                                 V("Rh", where=lambda t: t.ndim == 2), where=_plain_matmul))
    hh = candidate(Alt(Alt(after, tag=("reset_after", True)), Alt(before, tag=("reset_after", False))))
    return plus(Pat("multiply", z, V("h_prev"), commutative=True),
                 Pat("multiply", Pat("subtract", scalar_constant(1.0), V("z")), hh, commutative=True))


# h = ra(x_z + r_z) * h_prev + (1 - ra(x_z + r_z)) * act(x_h + ra(x_r + r_r) * r_h)   (reset_after)
#                                        ... act(x_h + (ra(x_r + r_r) * h) @ R_h)     (reset_after=False)
CELL = _cell_pattern(activated, lambda inner: activated("act", inner))
# z*h + (1-z)*hh with any z and hh: a GRU step whose activations CELL does not know
LERP = plus(Pat("multiply", V("z"), V("h_prev"), commutative=True),
             Pat("multiply", Pat("subtract", scalar_constant(1.0), V("z")), V("hh"), commutative=True))
_FUSABLE_OUTPUTS = [ACTIVATIONS[n].pattern(Pat()) for n in FUSABLE if n != "linear"]


def _one_split(pieces):
    """The split node whose outputs 0, 1, ... the pieces are, None when no piece is a
    split's output (implementation 1: separate products), False when they mix."""
    if not any(op_name(p) == "split" for p in pieces):
        return None
    node = pieces[0].node
    if any(p.node is not node for p in pieces) or len(node.outputs) != len(pieces) \
            or node.op.axis not in (-1, node.inputs[0].ndim - 1) \
            or [p.index for p in pieces] != list(range(len(pieces))):
        return False
    return node


def _reads(t, target, depth=4):
    """Whether ``t`` is computed from ``target`` within ``depth`` ops."""
    if t is target:
        return True
    return depth > 0 and any(_reads(i, target, depth - 1) for i in t.node.inputs)


def read_cell(b, h, ctx):
    """The fused op's inputs and attributes for a match of CELL, None to try the next
    match (the add's operands the other way round), or why it cannot be fused."""
    reset_after, h_prev = b["reset_after"], b["h_prev"]
    xs = [b["x_z"], b["x_r"], b["x_h"]]
    rs = [b["r_z"], b["r_r"]] + ([b["r_h"]] if reset_after else [])
    if h.shape != h_prev.shape or h_prev.ndim != 2 or b["z"] is h_prev \
            or any(p.shape != h_prev.shape for p in xs + rs) \
            or any(p.node.op.is_constant and p.node.op.value.size == 1 for p in xs + rs):
        return None
    if not reset_after and (b["hc"].shape != h_prev.shape or b["Rh"].shape[0] != h_prev.shape[-1]):
        return None
    x_split, r_split = _one_split(xs), _one_split(rs)
    if x_split is False or r_split is False:
        return None
    if x_split is None and r_split is None and any(
            _reads(x, h_prev) and not _reads(r, h_prev) for x, r in zip(xs[:2], rs[:2])):
        return None                      # the recurrent term is the one that reads h_prev
    if b["ra_z"] != b["ra_r"]:
        return Decline(f"the update and reset gates use different recurrent activations "
                       f"({b['ra_z']}, {b['ra_r']}); the fused kernel applies one to both")
    return Extension(interior=[s for s in (x_split, r_split) if s], data=dict(
        x=x_split.inputs[0] if x_split else xs, r=r_split.inputs[0] if r_split else rs,
        attrs=dict(activation=b["act"], recurrent_activation=b["ra_z"], reset_after=reset_after)))


def build_cell(b, h):
    """The fused gru_cell for a read cell."""
    cell = b["extension"]
    x, r = (v if not isinstance(v, list) else concat(v, axis=-1) for v in (cell["x"], cell["r"]))
    reset_after = cell["attrs"]["reset_after"]
    hc = None if reset_after or b["hc"] is b["h_prev"] else b["hc"]
    return gru_cell(x, r, b["h_prev"], None if reset_after else b["Rh"], hc, **cell["attrs"])


def _recognized(t):
    """Whether t is a fusable activation's output (linear: the pre-activation's add)."""
    return op_name(t) == "add" or any(p.first(t) is not None for p in _FUSABLE_OUTPUTS)


def explain_unfusable(b, h, ctx):
    """A GRU-shaped step (its gate and candidate read h_prev) that CELL does not match
    because its gate or candidate activation is none a fused kernel implements."""
    z, hh, h_prev = b["z"], b["hh"], b["h_prev"]
    if not (_reads(z, h_prev, 8) and _reads(hh, h_prev, 8)) or CELL.first(h) is not None:
        return None
    odd = [f"the {what} is {op_name(t)}(...)" for what, t in (("update gate", z), ("candidate", hh))
           if not _recognized(t)]
    if not odd:
        return None
    return Decline(f"{' and '.join(odd)}: an activation no fused kernel implements (fusable: "
                   f"{', '.join(FUSABLE)})")


CELL_RULES = [
    # z*h + (1-z)*act(x_h + r*r_h) with z, r = ract(x + r parts)  ->  gru_cell(x_proj, h_proj, h)
    Rule(CELL, build_cell, "GRU gate math -> one gru_cell op", name="gru_cell_fusion",
         extend=read_cell),
    # the same shape with other activations: declined with the reason (never silently)
    Rule(LERP, lambda b, h: None, "GRU math with unfusable activations: explained",
         name="gru_cell_fusion_activations", extend=explain_unfusable, exclusive=False),
]
CELL_RULES.append(
    # scan(body) -> scan(body with its GRU cells fused)
    Rule(Pat("scan"), rewrite_loop_bodies(CELL_RULES, "gru_cell_fusion_in_loop"),
         "fuse the GRU cells inside loop bodies", context=True, extend=whole_node,
         name="gru_cell_fusion_in_loop"))


# ----------------------------------------------------------------------- sequence fusion

def read_loop(b, t, ctx):
    """A loop of one GRU step: its whole node is replaced by one gru_sequence."""
    return loop_extension(t, read_body(t.node.op), "gru_cell", ("h_slot", "y_slot"))


def build_loop(b, t):
    node, info = t.node, b["extension"]
    op, nc = node.op, node.op.n_carry
    mapping = {tensor_key(p): o for p, o in zip(op.body.inputs, node.inputs)}

    def outer(p):                # a loop-invariant body tensor, rebuilt outside the loop
        return substitute([p], mapping)[0]
    x = node.inputs[nc]
    W, R, bias, xm, hm, shared = weights_outside(info, outer)
    x = x * shared if shared is not None else x       # the same dropout mask at every step
    mask = node.inputs[nc + 1] if op.n_seq == 2 else None
    out = gru_sequence(x, node.inputs[info["h_slot"]], W, R, bias, reverse=op.reverse, mask=mask,
                       mask_output=info["rule"], input_masks=xm, recurrent_masks=hm,
                       **info["attrs"])
    repl = {node.outputs[info["h_slot"]]: out[1]}
    if op.n_ys:
        repl[node.outputs[nc]] = out[0]
    if info["y_slot"] is not None:
        repl[node.outputs[info["y_slot"]]] = out[3]
    return repl


def _chain_ending_at(h, ctx):
    """The fused cells of an unrolled chain whose last step outputs ``h`` (first step
    first), or None when h is not a last step's output."""
    last, op = h.node, h.node.op
    if any(ctx.nodes[u].op == op and ctx.nodes[u].inputs[2] is h
           for u in ctx.readers.get(tensor_key(h), ())):
        return None                       # not the last step: the chain goes on
    chain = [last]                        # follow the state back
    while op_name(chain[-1].inputs[2]) == "gru_cell" and chain[-1].inputs[2].node.op == op:
        chain.append(chain[-1].inputs[2].node)
    return chain[::-1] if len(chain) >= 2 else None


def read_chain(b, h, ctx):
    """An unrolled chain of identical fused GRU steps over x[0], x[1], ... ending at h."""
    chain = _chain_ending_at(h, ctx)
    if chain is None:
        return None
    steps = [read_chain_step(n) for n in chain]
    bad = next((s for s in steps if isinstance(s, str)), None)
    if bad is not None:
        return Decline(bad)
    keys = {s["key"] for s in steps[1:]}
    if len(keys) != 1 or not steps[0]["key"] <= next(iter(keys)):
        return Decline("the steps of an unrolled GRU chain use different weights, biases or "
                       "dropout masks")
    xs_t = [s["x_t"] for s in steps]
    X, first = step_inputs(xs_t), xs_t[0].node
    batch_major = X is None and op_name(xs_t[0]) == "unstack" and first.op.axis == 1 \
        and first.inputs[0].ndim == 3 and list(first.outputs) == list(xs_t)
    if batch_major:                            # tg.unstack(x, axis=1)
        X = first.inputs[0]
    if X is None:
        return Decline("the step inputs of an unrolled GRU chain are not x[0], x[1], ... of one "
                       "tensor; fused step by step")
    interior = chain + [n for s in steps for n in s["nodes"]]
    return Extension(interior=interior, replaces=[n.outputs[0] for n in chain],
                     data=dict(chain=chain, X=X, info=steps[1], batch_major=batch_major))


def build_chain(b, h):
    data = b["extension"]
    chain, X = data["chain"], data["X"]
    with in_scope(layer_scope(chain)):
        X = transpose(X, (1, 0, 2)) if data["batch_major"] else X
        W, R, bias, xm, hm, shared = weights_outside(data["info"], lambda p: p)
        X = X if shared is None else X * shared
        hs, _, _ = gru_sequence(X, chain[0].inputs[2], W, R, bias, input_masks=xm,
                                recurrent_masks=hm, **data["info"]["attrs"])
        return {n.outputs[0]: hs[t] for t, n in enumerate(chain)}


SEQUENCE_RULES = [
    # scan(one GRU step) -> gru_sequence: one GEMM for the inputs, recurrence in the kernel
    Rule(Pat("scan"), build_loop, "a loop of one GRU cell -> one gru_sequence op",
         name="gru_sequence_fusion", extend=read_loop,
         leak_reason="the loop's per-step carry history is read (by an unfused gradient or a "
                     "tool); the sequence kernel does not produce it"),
    # h_T of gru_cell(...gru_cell(x[0]...)) over x[0..T-1] -> gru_sequence(x)
    Rule(Pat("gru_cell"), build_chain, "an unrolled chain of one GRU cell -> gru_sequence",
         name="gru_sequence_fusion_unrolled", extend=read_chain,
         leak_reason="{name!r} ({op}) inside the unrolled GRU chain is read outside it; fused "
                     "step by step"),
]
