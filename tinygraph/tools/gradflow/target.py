"""What ``analyze``'s ``wrt`` names: a layer, a loop node or per-step tensors."""
import warnings

from tinygraph.ir.graph import Node, Tensor, name_scope
from tinygraph.ir.rebuild import substitute
from tinygraph.ops import shape, stack
from tinygraph.ops.scan import Scan
from tinygraph.tools.gradflow.cells import parts_of
from tinygraph.tools.gradflow.find import _carry_names, find_call
from tinygraph.tools.gradflow.jacobians import loop_jacobians, unrolled_jacobians
from tinygraph.tools.gradflow.perturb import _copy, _perturbed_loop


class _Target:
    """What ``wrt`` names: per-step tensors (``steps``) or a loop node (``node``, with
    the carries of each name in ``carries``), state names, and, for an LSTM or GRU
    cell, what the gate recomputation needs."""

    kind = "tensors"
    node = None
    carries = None
    steps = None
    cell = None
    parts = None                           # the cell family (cells.py), with cell
    call = None
    history = None
    inputs = None
    initial = None
    reverse = False
    label = ""

    @classmethod
    def of(cls, wrt, names, loss, within=None):
        """``within``: the name of the layer that calls the layer ``wrt`` (find_call)."""
        self = cls()
        if isinstance(wrt, (Node, Tensor)) and isinstance(_as_node(wrt).op, Scan):
            self._from_loop(_as_node(wrt))
            self.what = f"the loop {self.node.name!r}"
        elif isinstance(wrt, dict):
            self._from_steps(dict(wrt))
        elif isinstance(wrt, (list, tuple)):
            self._from_steps({"h": list(wrt)})
        elif isinstance(getattr(wrt, "name", None), str) and not isinstance(wrt, (Node, Tensor)):
            self._from_layer(wrt, loss, within)     # a layer: found by its name (its scope)
        else:
            raise TypeError("gradflow.analyze: wrt must be a called RNN layer, a list of "
                            "per-step state tensors (or a dict name -> list), or a loop node; "
                            f"got {type(wrt).__name__}")
        if names is not None:
            self._rename([names] if isinstance(names, str) else list(names))
        if self.cell is not None and set(self.parts.grad_gates) & set(self.names):
            raise ValueError(f"gradflow.analyze: state names {self.names} clash with the gate "
                             f"names {self.parts.grad_gates}")
        return self

    def _rename(self, names):
        if len(names) != len(self.names) or len(set(names)) != len(names):
            raise ValueError(f"gradflow.analyze: names must be {len(self.names)} distinct "
                             f"names (one per state), got {names!r}")
        if self.cell is not None and names[:len(self.parts.states)] != list(self.parts.states):
            self.cell = self.parts = None  # gates are only reported with the states' names
        if self.steps is not None:
            self.steps = dict(zip(names, self.steps.values()))
        if self.carries is not None:
            self.carries = dict(zip(names, self.carries.values()))
        self.names = names

    def _from_loop(self, node):
        self.kind, self.node, self.reverse = "loop", node, node.op.reverse
        self.carries = {}
        for j, name in enumerate(_carry_names(node)):
            if name is not None:
                self.carries.setdefault(name, []).append(j)
        self.names = list(self.carries)
        self.label = node.name

    def _from_layer(self, layer, loss, within=None):
        call = find_call(loss, layer, within)
        if call.kind == "loop":
            self._from_loop(call.loop_node)
        else:
            self.kind, self.names = "unrolled", call.names
            self.steps = {name: [s[k] for s in call.unrolled_states]
                          for k, name in enumerate(call.names)}
        self.what = f"the layer {layer.name!r}"
        self.label = layer.name
        self.initial, self.inputs = call.initial_states, call.inputs
        self.call = call
        # a cell may declare its family (a GRUCell: one state h, like a SimpleRNN)
        self.parts = parts_of(call.names, getattr(layer.cell, "family", None))
        if self.parts is not None:
            self.cell = layer.cell
            if layer.cell.dropout or layer.cell.recurrent_dropout:
                warnings.warn(f"gradflow.analyze: {layer.cell.name!r} has dropout; the gate "
                              "gradients are recomputed without dropout masks (analyse a call "
                              "made with training off)", stacklevel=3)

    def _from_steps(self, steps):
        if not steps:
            raise ValueError("gradflow.analyze: wrt is empty; give one state tensor per step")
        for name, ts in steps.items():
            if not isinstance(ts, (list, tuple)) or not ts:
                raise ValueError(f"gradflow.analyze: wrt[{name!r}] must be a non-empty list of "
                                 f"per-step tensors, got {ts!r}")
            for t in ts:
                if not isinstance(t, Tensor):
                    raise TypeError(f"gradflow.analyze: wrt must hold Tensors (one per time "
                                    f"step), got {type(t).__name__}")
                if t.dtype.kind != "f":
                    raise ValueError(f"gradflow.analyze: {t.name!r} is {t.dtype.name}; "
                                     "gradients need floating-point states")
            if len({(t.shape, t.dtype) for t in ts}) > 1:
                raise ValueError(f"gradflow.analyze: the per-step tensors of {name!r} differ in "
                                 f"shape or dtype: {[t.shape for t in ts]}")
            steps[name] = list(ts)
        lengths = {len(v) for v in steps.values()}
        if len(lengths) > 1:
            raise ValueError(f"gradflow.analyze: the state lists differ in length: "
                             f"{ {k: len(v) for k, v in steps.items()} }")
        self.steps, self.names = steps, list(steps)
        self.what = "any tensor of wrt"

    def anchors(self):
        if self.kind == "loop":
            return self.node.outputs
        return [t for ts in self.steps.values() for t in ts if t is not None]

    def _state_refs(self):
        """name -> (a tensor shaped like one step's state, T or a scalar T tensor)."""
        if self.kind == "loop":
            op = self.node.op
            seq0 = self.node.inputs[op.n_carry] if op.n_seq else None
            T = op.length if op.length is not None else shape(seq0)[0]
            return {name: (self.node.inputs[js[0]], T) for name, js in self.carries.items()}
        return {name: (ts[0], len(ts)) for name, ts in self.steps.items()}

    def state_shapes(self, session, feed):
        """name -> ((T,) + concrete state shape, dtype); runs the graph only for
        dimensions that are not static."""
        refs = self._state_refs()
        probe = {}
        for name, (ref, T) in refs.items():
            if isinstance(T, Tensor):
                probe[name + "/T"] = T
            if any(d is None for d in ref.shape):
                probe[name] = shape(ref)
        got = session.run(probe, feed) if probe else {}
        out = {}
        for name, (ref, T) in refs.items():
            T = int(got[name + "/T"]) if isinstance(T, Tensor) else T
            dims = tuple(int(d) for d in got[name]) if name in got else ref.shape
            out[name] = ((T,) + tuple(dims), ref.dtype)
        return out

    def perturb(self, loss, eps):
        """(loss rebuilt on states + eps, states entering each step (for the gates),
        [(name, t, leaf)] states that are graph inputs, differentiated directly)."""
        if self.kind == "loop":
            per_carry = {j: eps[name] for name, js in self.carries.items() for j in js}
            new_loss, hist = _perturbed_loop(loss, self.node, per_carry)
            self.history = hist
            return new_loss, {name: hist[js[0]] for name, js in self.carries.items()}, []
        mapping, leaves = {}, []
        with name_scope("gradflow"):
            for name, ts in self.steps.items():
                for t, s in enumerate(ts):
                    if s is None:           # not reached by the loss: no gradient
                        continue
                    key = (s.node.id, s.index)
                    if not s.node.inputs:
                        leaves.append((name, t, s))
                    elif key not in mapping:
                        mapping[key] = _copy(s) + eps[name][t]
        new_loss = substitute([loss], mapping)[0]
        prev = None
        if self.cell is not None:
            prev = {name: stack([init] + self.steps[name][:-1], axis=0)
                    for name, init in zip(self.names, self.initial)}
        return new_loss, prev, leaves

    def jacobians(self, shapes):
        """({name: (T, n * B, u) VJP tensors}, {placeholder: tensor to feed it from})
        of the state Jacobians (jacobians.py); call after ``perturb`` (a loop's carry
        history comes from there)."""
        if self.kind == "loop":
            return loop_jacobians(self.node, self.carries, self.history, shapes)
        if self.call is None:
            raise ValueError("gradflow.analyze: jacobians=True needs a layer or a loop node as "
                             "wrt (the step function comes from its call); got per-step tensors")
        call = self.call
        return unrolled_jacobians(call.inputs, call.handles, call.unrolled_states, self.names,
                                  shapes)


def _as_node(x):
    return x.node if isinstance(x, Tensor) else x
