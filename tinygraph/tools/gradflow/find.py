"""Where an RNN layer's call is: found in the graph that the loss reaches."""
import re

from tinygraph.ir.graph import Node, Tensor, topo_nodes
from tinygraph.ops.math import Identity
from tinygraph.ops.scan import Scan

_STEP = re.compile(r"step_(\d+)")
_COUNTED = re.compile(r"_\d+$")          # the suffix of a second node of the same name


class LayerCall:
    """An RNN layer's call as the graph declares it: ``kind`` ("loop" or "unrolled"),
    ``names`` of its flat states, ``inputs`` (T, B, D: time-major, in processing
    order), ``initial_states``, and ``loop_node`` (loop) or ``unrolled_states`` (per
    step t, the flat states after it; None for one the graph does not reach; with
    ``handles``, per step, the handle tensors of the states it reads)."""

    def __init__(self, kind, names, inputs, initial_states, loop_node=None,
                 unrolled_states=None, handles=None):
        self.kind, self.names, self.inputs = kind, list(names), inputs
        self.initial_states, self.loop_node = list(initial_states), loop_node
        self.unrolled_states = unrolled_states
        self.handles = handles              # unrolled: per step t, the handles it reads

    def __repr__(self):
        return f"<LayerCall {self.kind}: {', '.join(self.names)}>"


def directions(layer):
    """A wrapper of two RNN layers run over the same sequence (``layers.Bidirectional``:
    Keras' ``forward_layer`` and ``backward_layer``), as [(direction layer, whether it
    runs from the last input step to the first)], forward first; None for any other
    ``wrt``. Each direction is an ordinary RNN call in the wrapper's scope."""
    pair = [getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)]
    if any(d is None or not isinstance(getattr(d, "name", None), str) for d in pair):
        return None
    return [(d, bool(getattr(d, "go_backwards", False))) for d in pair]


def find_call(fetches, layer, within=None):
    """The latest call of the RNN ``layer`` in the graph that ``fetches`` (a Tensor or
    a list of them) reach: a ``LayerCall``. ``within``: the name of the layer that
    calls it (a Bidirectional's for its directions), so that two wrappers of layers
    of the same name are told apart. ValueError when there is none; TypeError when
    the layer is there but declares no recurrence (it is no RNN layer)."""
    roots = [fetches] if isinstance(fetches, (Tensor, Node)) else list(fetches)
    nodes = topo_nodes(roots)
    name = layer.name
    path = name if within is None else f"{within}/{name}"
    decls = [n for n in nodes if (n.scope == path or n.scope.endswith("/" + path)) and (
        (isinstance(n.op, Scan) and n.op.carry_names is not None) or
        (isinstance(n.op, Identity) and _base_name(n) == "inputs"))]
    if not decls:
        if any(name in n.scope.split("/") for n in nodes):
            raise TypeError(f"gradflow.analyze: wrt must be an RNN layer (layers.RNN, "
                            f"layers.LSTM, layers.GRU, or a layers.Bidirectional of one), got "
                            f"the {type(layer).__name__} layer {name!r}")
        raise ValueError(f"gradflow.analyze: the layer {path!r} has not been called yet in "
                         "the graph of the loss; call it on inputs (and build the loss from "
                         "its output) first")
    latest = max(decls, key=lambda n: n.id)
    if isinstance(latest.op, Scan):
        return _loop_call(latest)
    return _unrolled_call(latest, nodes)


def _base_name(node):
    """A node's own name without its scope and without the count of a second call."""
    return _COUNTED.sub("", node.name.rpartition("/")[2])


def _carry_names(node):
    """Per carry of a loop node, its name (declared, or h / carry<k>) or None."""
    op = node.op
    if op.carry_names is not None:
        return list(op.carry_names)
    return ["h"] if op.n_carry == 1 else [f"carry{k}" for k in range(op.n_carry)]


def _first_carries(carry_names):
    """name -> the first carry holding it, in carry order."""
    first = {}
    for j, n in enumerate(carry_names):
        if n is not None:
            first.setdefault(n, j)
    return first


def _loop_call(node):
    first = _first_carries(_carry_names(node))
    return LayerCall("loop", first, node.inputs[node.op.n_carry],
                     [node.inputs[j] for j in first.values()], loop_node=node)


def _unrolled_call(inputs, nodes):
    """From the handles of one unrolled call (layers/rnn.py): ``inputs`` and, per
    step, the states the step starts from; the states after step t are what the
    handles of step t+1 read, and after the last step the tensors built at the same
    place as those of the step before."""
    scope, start = inputs.scope, inputs.id
    entering = {}                           # t -> {state name: handle Tensor}
    for n in sorted(nodes, key=lambda n: n.id):           # handles in the order built
        m = _STEP.fullmatch(n.scope[len(scope) + 1:]) if n.scope.startswith(scope + "/") else None
        if m and n.id > start and isinstance(n.op, Identity):
            entering.setdefault(int(m.group(1)), {}).setdefault(_base_name(n), n.outputs[0])
    T = inputs.outputs[0].shape[0]
    names = list(entering.get(0, {}))
    if T < 2 or not names:
        raise ValueError(f"gradflow.analyze: the unrolled call of {scope!r} has {T} step(s); "
                         "its states after the last step are found from the step before, so "
                         "an unrolled call needs two steps or more (or use unroll=False)")
    by_name = {n.name: n for n in nodes}

    def read(t):                            # the states handed to step t
        return [_handle_input(entering.get(t, {}).get(k)) for k in names]

    after = [read(t + 1) for t in range(T - 1)]
    after.append([_same_place(s, f"{scope}/step_{T - 2}/", f"{scope}/step_{T - 1}/", by_name)
                  for s in after[-1]])
    handles = [[entering.get(t, {}).get(k) for k in names] for t in range(T)]
    return LayerCall("unrolled", names, inputs.outputs[0], read(0), unrolled_states=after,
                     handles=handles)


def _handle_input(handle):
    return None if handle is None else handle.node.inputs[0]


def _same_place(t, here, there, by_name):
    """The tensor that the step scope ``there`` builds where ``t`` was built in
    ``here``; ``t`` itself when it was built outside (passed through every step)."""
    if t is None or not t.node.name.startswith(here):
        return t
    other = by_name.get(there + t.node.name[len(here):])
    return None if other is None else other.outputs[t.index]
