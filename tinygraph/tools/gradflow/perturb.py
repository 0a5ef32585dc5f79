"""States as functions of zero perturbations: rebuilding a graph (or a loop's body)
with ``state + eps`` in place of each state."""
from tinygraph.ir.graph import apply, name_scope
from tinygraph.ir.rebuild import substitute
from tinygraph.ops.scan import scan
from tinygraph.ops.sources import Placeholder


def _copy(t):
    """A new node computing what ``t`` computes (not shared through hash-consing),
    so that ``t`` can be replaced by ``copy + eps`` without a cycle."""
    n = t.node
    return apply(n.op, n.inputs, unique=True, control_inputs=n.control_inputs).outputs[t.index]


def _perturbed_loop(loss, node, carry_eps):
    """Rebuild the loop ``node`` with the sequence ``carry_eps[j]`` added to carry j
    after each step, and ``loss`` on top of it. Returns (new loss, {carry j: history
    of carry j entering each step, for every carry})."""
    op = node.op
    nc, ns = op.n_carry, op.n_seq
    inits, seqs, caps = node.inputs[:nc], node.inputs[nc:nc + ns], node.inputs[nc + ns:]
    eps_seqs = list({id(e): e for e in carry_eps.values()}.values())   # one per name
    which = {j: next(i for i, e in enumerate(eps_seqs) if e is carry_eps[j]) for j in carry_eps}

    def body(carry, xs):
        outs = op.body.inline(list(carry) + list(xs[:ns]) + list(caps))
        outs = _perturb(outs, {j: xs[ns + i] for j, i in which.items()})
        return outs[:nc], (outs[nc:] or None)

    with name_scope("gradflow"):
        final, _ = scan(body, list(seqs) + eps_seqs, list(inits), reverse=op.reverse,
                        length=op.length, name="perturbed_loop")
    new = final[0].node
    mapping = {(node.id, i): t for i, t in enumerate(new.outputs)}
    new_loss = substitute([loss], mapping)[0]
    return new_loss, {j: new.outputs[nc + op.n_ys + j] for j in range(nc)}


def _key(t):
    return (t.node.id, t.index)


def _perturb(outs, carry_eps):
    """One step's outputs with carry j (for j in ``carry_eps``) replaced by carry +
    ``carry_eps[j]`` everywhere: in the carry and in any output computed from it (an
    LSTM's output is its h)."""
    outs = list(outs)
    mapping, direct = {}, {}
    for k, e in carry_eps.items():
        s = outs[k]
        key = _key(s)
        if isinstance(s.node.op, Placeholder):     # a carry passed through unchanged
            direct[k] = s + e
        elif key not in mapping:
            mapping[key] = _copy(s) + e
    outs = substitute(outs, mapping) if mapping else outs
    for k, t in direct.items():
        outs[k] = t
    return outs
