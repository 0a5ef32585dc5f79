"""Names that say what a thing is: the gates of an LSTM step (the four outputs of its
``split``) and of a GRU step (the three of its input projection's ``split``, the three
or two of its recurrent projection's), and the inputs of an expanded loop or fused op.

The gates are read from the graph's shape, the way ops/lstm_step.py builds a step:
the candidate g is the one output whose activation differs from the other three;
i's activation multiplies g's; o's multiplies act(c), and c is built from f's and
i's products. And the way ops/gru_step.py builds one: z's activation is the one that
``1 - z`` subtracts; r's multiplies the candidate's recurrent term (r * r_h, or r * h
before the matmul); h is the candidate, the third. A ``split`` that is not shaped like
either gets no names."""
from tinygraph.ops.gru_step import GATE_NAMES as GRU_GATE_NAMES
from tinygraph.ops.lstm_step import GATE_NAMES
from tinygraph.ops.scan import Scan

_PASS = ("add", "subtract")       # forget bias and peephole terms sit before the gate
_GRU_PASS = ("add", "multiply")   # x_h + r * r_h: the candidate's r_h reaches act via r


def gate_names(split, consumers):
    """The gate names by output index of an LSTM step's ``split`` node (("i", "f", "g",
    "o")) or of a GRU step's (("z", "r", "h") or ("z", "r")), or None."""
    if split.op.name != "split":
        return None
    if len(split.outputs) in (2, 3):
        return _gru_gate_names(split, consumers)
    if len(split.outputs) != 4:
        return None
    acts = [_activation(split, k, consumers) for k in range(4)]
    if any(a is None for a in acts):
        return None
    kinds = [a.op.name for a in acts]
    odd = [k for k in range(4) if kinds.count(kinds[k]) == 1]
    if len(odd) != 1 or len(set(kinds)) != 2:
        return None
    g = odd[0]
    products = {k: _product(acts[k], consumers) for k in range(4) if k != g}
    if any(p is None for p in products.values()):
        return None
    i = [k for k, (m, other) in products.items() if other is acts[g]]
    if len(i) != 1:
        return None
    rest = [k for k in products if k != i[0]]
    o = [k for k in rest if _reaches(products[k][1], products[i[0]][0], 4)]
    if len(o) != 1:
        return None
    f = next(k for k in rest if k != o[0])
    names = [None] * 4
    for k, name in zip((i[0], f, g, o[0]), GATE_NAMES):
        names[k] = name
    return tuple(names)


def _gru_gate_names(split, consumers):
    """("z", "r", "h") or, for reset_after=False's recurrent split, ("z", "r"), or None."""
    n = len(split.outputs)
    acts = [_activation(split, k, consumers, _GRU_PASS) for k in range(n)]
    if any(a is None for a in acts) or len({a.id for a in acts}) != n:
        return None
    readers = [{c.op.name for c in consumers.get(a.id, ())} for a in acts]
    z = [k for k in range(n) if "subtract" in readers[k]]        # 1 - z
    if len(z) != 1 or "multiply" not in readers[z[0]]:           # z * h
        return None
    rest = [k for k in range(n) if k != z[0]]
    r = [k for k in rest if acts[k].op.name == acts[z[0]].op.name and "multiply" in readers[k]
         and (n == 2 or _reaches_any(acts[k], [acts[j] for j in rest if j != k], consumers))]
    if len(r) != 1:
        return None
    names = [None] * n
    names[z[0]], names[r[0]] = GRU_GATE_NAMES[:2]
    if n == 3:
        names[next(k for k in rest if k != r[0])] = GRU_GATE_NAMES[2]
    return tuple(names)


def _reaches_any(node, targets, consumers, depth=4):
    """Whether one of ``targets`` reads ``node`` within ``depth`` hops downstream."""
    ids, frontier = {t.id for t in targets}, [node]
    for _ in range(depth):
        frontier = [c for n in frontier for c in consumers.get(n.id, ())]
        if any(n.id in ids for n in frontier):
            return True
    return False


def _activation(split, k, consumers, through=_PASS):
    """The first one-input node reading output ``k`` (through the two-input ops
    ``through``: bias or peephole adds)."""
    node, tensor = None, split.outputs[k]
    for _ in range(3):
        readers = [c for c in consumers.get(tensor.node.id, ()) if tensor in c.inputs]
        if len(readers) != 1:
            return None
        node = readers[0]
        if len(node.inputs) == 1:
            return node
        if node.op.name not in through:
            return None
        tensor = node.outputs[0]
    return None


def _product(act, consumers):
    """(the multiply reading ``act``, its other operand's node), or None."""
    for c in consumers.get(act.id, ()):
        if c.op.name == "multiply" and len(c.inputs) == 2:
            others = [t.node for t in c.inputs if t.node is not act]
            if others:
                return c, others[0]
    return None


def _reaches(node, target, depth):
    """Whether ``target`` is among the inputs of ``node`` within ``depth`` hops."""
    frontier = [node]
    for _ in range(depth):
        frontier = [t.node for n in frontier for t in n.inputs]
        if any(n is target for n in frontier):
            return True
    return False


def short_name(tensor):
    """A tensor's name without its scopes (``lstm/step_0/h`` -> ``h``)."""
    return tensor.name.rsplit("/", 1)[-1]


def input_names(node, body):
    """The label of each body input: a loop's declared carry names (``carry <i>`` for
    an unnamed one; one sequence is ``x_t``, several ``<name>_t``), else the
    short name of what feeds it from outside (a captured weight's name)."""
    names = list(node.op.carry_names or ()) if isinstance(node.op, Scan) else []
    n_carry = node.op.n_carry if isinstance(node.op, Scan) else 0
    n_seq = node.op.n_seq if isinstance(node.op, Scan) else 0
    out = []
    for i in range(len(body.inputs)):
        outer = short_name(node.inputs[i]) if i < len(node.inputs) else f"input {i}"
        if i < len(names) and names[i] is not None:
            out.append(names[i])
        elif i < n_carry:
            out.append(f"carry {i}")
        elif n_carry <= i < n_carry + n_seq:
            out.append(f"{outer}_t" if n_seq > 1 else "x_t")
        else:
            out.append(outer)
    return out
