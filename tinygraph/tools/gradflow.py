"""Gradient flow through a recurrent network: how large the gradient is at each step.

``analyze(loss, wrt)`` answers "how much of the loss's gradient reaches time step t?"
for an RNN layer's latest call (unrolled or loop, fused or not) or for any list of
per-step tensors. Definitions (t = 0..T-1 is the PROCESSING order: with
``go_backwards`` t = 0 is the last input):

- ``h_t``, ``c_t``: the states after step t (h_t is also the step's output).
- ``dL/dh_t``: the TOTAL derivative, along every path from h_t to the loss: the
  step's output, the later steps, the final state. ``dL/dc_t`` likewise (including
  the path c_t -> h_t = o_t * tanh(c_t) of the same step).
- Gate gradients (LSTMCell only) are taken at the gate PRE-activations
  ``z_t = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias``, split in Keras order
  i, f, g, o (Keras calls g "c", the candidate): ``dL/dz_t``, the quantity the
  weights see (``dL/dkernel = sum_t x_t^T dL/dz_t``). From the totals:
  ``dL/do = dL/dh_t * tanh(c_t)``, ``dL/di = dL/dc_t * g_t``,
  ``dL/df = dL/dc_t * c_{t-1}``, ``dL/dg = dL/dc_t * i_t``, each then times its
  activation's derivative (done by autodiff, so any activation works).
- A norm is the L2 (Frobenius) norm of the whole (batch, units) array of step t.

How it is computed. Each state after step t is made a function of a zero
perturbation: the graph (for a loop: its body) is rebuilt with ``h_t + eps_t`` in
place of ``h_t``, so every later use sees the perturbed state, and the loss is
rebuilt on top; then ``dL/deps_t = dL/dh_t``. ``eps`` is a placeholder fed with
zeros, so no pass can fold it away, and it is a graph input, so fusion cannot hide
it inside a fused op (a plain ``tg.gradients`` w.r.t. an inner tensor such as c_t
could be). Gates are recomputed from the recorded inputs and states with the cell's
weights (dropout masks are not applied: analyse a call made with ``training``
off). Everything runs in one ``Session.run`` of the session you pass (default
``Session()``, which fuses LSTMs); the numbers do not depend on fusion.

Where a layer's call is found: in the graph that ``loss`` reaches, never in the
layer. ``layers.RNN`` declares its calls there (layers/rnn.py): a loop node whose
carries are named after the states, or, unrolled, the handles ``<layer>/inputs`` and
``<layer>/step_<t>/<state>`` (the states step t starts from). The states after the
last step are the tensors built where the step before built its own (every step is
built by the same code, so their names inside the step scope agree). The latest call
that ``loss`` reaches is analysed; ``find_call(loss, layer)`` returns it. State names (declared by the layer): h, c for an
LSTMCell; h for a SimpleRNNCell (or any one-state cell); c, h for a TF1
``rnn_cell.LSTMCell``; h0, c0, h1, ... for stacked cells (index = layer).

Limits: with a ``mask``, h_t is the state after the masking (a masked step keeps
h_{t-1}) and the gate norms are computed as if every step were kept; gates are
reported for ``layers.LSTMCell`` / ``layers.LSTM`` (one cell: the states h, c), states
only for other cells; an unrolled call needs two steps or more.
"""
import re
import warnings

import numpy as np

from tinygraph.autodiff import gradients
from tinygraph.ir.graph import Node, Tensor, apply, name_scope, topo_nodes
from tinygraph.ir.rebuild import substitute
from tinygraph.ops import matmul, placeholder, shape, stack, zeros_like
from tinygraph.ops.math import Identity
from tinygraph.ops.lstm_step import LSTMMath, lstm_step
from tinygraph.ops.scan import Scan, scan
from tinygraph.ops.sources import Placeholder
from tinygraph.runtime.session import Session
from tinygraph.tools import viz
from tinygraph.tools.gradflow_plots import compare_series, plot_curves, report_html

GATES = ("i", "f", "g", "o")


class GradientFlowReport:
    """Per-step gradients of one analysis. ``grads[name]`` is the (T, batch, units)
    array for ``name`` in ``names`` ("h", "c", "i", "f", "g", "o", or the state
    names of the cell); ``loss_value`` is the loss at the analysed point."""

    def __init__(self, grads, loss_value, *, kind, label="", loss=None, feed_dict=None,
                 session=None):
        self.grads = grads
        self.names = tuple(grads)
        self.loss_value = loss_value
        self.kind = kind                  # "unrolled", "loop" or "tensors"
        self.label = label
        self.T = len(next(iter(grads.values())))
        self._loss, self._feed, self._session = loss, feed_dict, session

    def __repr__(self):
        return (f"<GradientFlowReport {self.label or self.kind}: T={self.T}, "
                f"{', '.join(self.names)}>")

    def norms(self, name="h"):
        """Frobenius norm of the gradient at each step, t = 0..T-1 in processing order."""
        if name not in self.grads:
            raise KeyError(f"gradflow: no {name!r} in this report; it has {list(self.names)}")
        g = self.grads[name]
        return np.sqrt((g.astype(np.float64) ** 2).reshape(self.T, -1).sum(axis=1))

    def table(self, names=None):
        """Text: a header, then one row per step t with the norm of each quantity."""
        names = list(self.names if names is None else names)
        cols = {n: self.norms(n) for n in names}
        heads = {n: f"|{_quantity(n)}|" for n in names}
        widths = {n: max(len(heads[n]), 9) for n in names}
        lines = ["   t  " + "  ".join(heads[n].rjust(widths[n]) for n in names)]
        for t in range(self.T):
            lines.append(f"{t:4d}  " + "  ".join(f"{cols[n][t]:.3e}".rjust(widths[n])
                                                 for n in names))
        return "\n".join(lines)

    def plot(self, path=None, names=None, title=None):
        """Curves of the per-step norms against t on a log scale, saved to ``path``
        (any format matplotlib writes: .png, .svg, .pdf; returns the path), or, without
        a path, returned as a matplotlib Figure (a notebook shows it)."""
        names = list(self.names if names is None else names)
        series = {_quantity(n): self.norms(n) for n in names}
        return plot_curves(series, path, title or f"gradient flow {self.label}".strip())

    def _repr_html_(self):
        """In a notebook: the plot and the table."""
        try:
            figure = self.plot()
        except ImportError:
            figure = None
        return report_html(self, figure)

    def to_dot(self, **kw):
        """The loss's forward graph (``tg.viz.to_dot``) with every node coloured by
        the mean |dL/dx| of its output: where the gradient is large, where it dies.
        ``kw`` goes to ``to_dot`` (e.g. ``max_steps``, ``expand``)."""
        nodes = [n for n in topo_nodes([self._loss]) if not n.op.is_constant]
        xs = [t for n in nodes for t in n.outputs if t.dtype.kind == "f"]
        gs = gradients(self._loss, xs)
        pairs = [(x, g) for x, g in zip(xs, gs) if g is not None]
        # Unfused: these are gradients w.r.t. inner tensors, which a fused op would hide.
        backend = self._session.backend.name if self._session is not None else "numpy"
        vals = Session(backend, optimize=False).run([g for _, g in pairs], self._feed)
        kw.setdefault("value_name", "|dL/dx|")
        kw.setdefault("title", f"gradient magnitude mean |dL/dx| {self.label}".strip())
        return viz.to_dot(self._loss, values={x: v for (x, _), v in zip(pairs, vals)}, **kw)


def _quantity(name):
    """dL/dh for a state, dL/dz_i for a gate (its pre-activation)."""
    return f"dL/dz_{name}" if name in GATES else f"dL/d{name}"


def plot_compare(reports, path=None, name="h", title=None, relative=False):
    """One curve per report (``reports``: dict label -> GradientFlowReport) of
    ``norms(name)`` against t, log scale; e.g. LSTM vs SimpleRNN. ``relative``
    divides each curve by its last step (the share of the gradient at the output
    that reaches step t). Saved to ``path`` (returns it), else returns the Figure."""
    series = compare_series(reports, name, relative)
    ylabel = f"||dL/d{name}_t|| / ||dL/d{name}_T-1||" if relative else f"||dL/d{name}_t||"
    return plot_curves(series, path, title or f"||dL/d{name}_t|| per time step", ylabel=ylabel)


# --------------------------------------------------------------------------- a layer's call

_STEP = re.compile(r"step_(\d+)")
_COUNTED = re.compile(r"_\d+$")          # the suffix of a second node of the same name


class LayerCall:
    """An RNN layer's call as the graph declares it: ``kind`` ("loop" or "unrolled"),
    ``names`` of its flat states, ``inputs`` (T, B, D: time-major, in processing
    order), ``initial_states``, and ``loop_node`` (loop) or ``unrolled_states`` (per
    step t, the flat states after it; None for one the graph does not reach)."""

    def __init__(self, kind, names, inputs, initial_states, loop_node=None,
                 unrolled_states=None):
        self.kind, self.names, self.inputs = kind, list(names), inputs
        self.initial_states, self.loop_node = list(initial_states), loop_node
        self.unrolled_states = unrolled_states

    def __repr__(self):
        return f"<LayerCall {self.kind}: {', '.join(self.names)}>"


def find_call(fetches, layer):
    """The latest call of the RNN ``layer`` in the graph that ``fetches`` (a Tensor or
    a list of them) reach: a ``LayerCall``. ValueError when there is none; TypeError
    when the layer is there but declares no recurrence (it is no RNN layer)."""
    roots = [fetches] if isinstance(fetches, (Tensor, Node)) else list(fetches)
    nodes = topo_nodes(roots)
    name = layer.name
    decls = [n for n in nodes if _last_part(n.scope) == name and (
        (isinstance(n.op, Scan) and n.op.carry_names is not None) or
        (isinstance(n.op, Identity) and _base_name(n) == "inputs"))]
    if not decls:
        if any(name in n.scope.split("/") for n in nodes):
            raise TypeError(f"gradflow.analyze: wrt must be an RNN layer (layers.RNN, "
                            f"layers.LSTM), got the {type(layer).__name__} layer {name!r}")
        raise ValueError(f"gradflow.analyze: the layer {name!r} has not been called yet in "
                         "the graph of the loss; call it on inputs (and build the loss from "
                         "its output) first")
    latest = max(decls, key=lambda n: n.id)
    if isinstance(latest.op, Scan):
        return _loop_call(latest)
    return _unrolled_call(latest, nodes)


def _last_part(scope):
    return scope.rpartition("/")[2]


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
    return LayerCall("unrolled", names, inputs.outputs[0], read(0), unrolled_states=after)


def _handle_input(handle):
    return None if handle is None else handle.node.inputs[0]


def _same_place(t, here, there, by_name):
    """The tensor that the step scope ``there`` builds where ``t`` was built in
    ``here``; ``t`` itself when it was built outside (passed through every step)."""
    if t is None or not t.node.name.startswith(here):
        return t
    other = by_name.get(there + t.node.name[len(here):])
    return None if other is None else other.outputs[t.index]


# --------------------------------------------------------------------------- analysis

def analyze(loss, wrt, feed_dict=None, session=None, *, names=None):
    """Per-step gradient norms of ``loss``. ``wrt`` is:

    - an RNN layer (``layers.RNN``, ``layers.LSTM``) that has been called: its latest
      call in the graph of ``loss`` is analysed, unrolled or loop;
    - a list of per-step state tensors ``[h_0, ..., h_{T-1}]`` (reported as "h"), or a
      dict name -> such a list;
    - a loop node (``tg.scan``'s node, or one of its outputs): its carries.

    ``names`` renames the states (default: "h", "c" for an LSTM cell). Returns a
    ``GradientFlowReport``; see the module docstring for the definitions."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"gradflow.analyze: loss must be a Tensor, got {type(loss).__name__}")
    if loss.dtype.kind != "f":
        raise ValueError(f"gradflow.analyze: loss {loss.name!r} must be floating point, got "
                         f"{loss.dtype.name}")
    target = _Target.of(wrt, names, loss)
    forward = {n.id for n in topo_nodes([loss])}
    if not any(t.node.id in forward for t in target.anchors()):
        raise ValueError(f"gradflow.analyze: loss {loss.name!r} does not depend on {target.what}")
    session = session or Session()
    feed = dict(feed_dict or {})

    # The states as functions of zero perturbations eps (placeholders, fed zeros):
    # dL/deps_t is the total derivative at step t, and no pass can fold eps away.
    shapes = target.state_shapes(session, feed)
    eps = {name: placeholder(shape_, dtype, name=f"gradflow_eps_{name}")
           for name, (shape_, dtype) in shapes.items()}
    for name, e in eps.items():
        feed[e] = np.zeros(shapes[name][0], e.dtype)
    new_loss, prev, extra = target.perturb(loss, eps)

    fetch = {"loss": loss}
    fetch.update(zip(target.names, _gradients(new_loss, [eps[n] for n in target.names])))
    for name, t, x in extra:                      # leaves among the states: direct
        g = _gradients(new_loss, [x])[0]
        fetch[name] = fetch[name] + _one_hot_step(g, t, shapes[name][0][0])
    if target.cell is not None:
        fetch.update(zip(GATES, _gate_grads(target.cell, target.inputs, prev["h"], prev["c"],
                                            fetch["h"], fetch["c"])))
    out = session.run(fetch, feed)
    loss_value = out.pop("loss")
    grads = {name: np.asarray(out[name]) for name in list(target.names) +
             (list(GATES) if target.cell is not None else [])}
    if target.reverse:                     # a reverse scan processes t = T-1 first
        grads = {k: v[::-1] for k, v in grads.items()}
    return GradientFlowReport(grads, np.asarray(loss_value), kind=target.kind,
                              label=target.label, loss=loss, feed_dict=feed_dict,
                              session=session)


def _gradients(y, xs):
    return gradients(y, xs, unconnected_gradients="zero")


def _one_hot_step(g, t, T):
    """``g`` (one step's gradient) placed at step t of a (T, ...) zero array."""
    return stack([g if k == t else zeros_like(g) for k in range(T)], axis=0)


class _Target:
    """What ``wrt`` names: per-step tensors (``steps``) or a loop node (``node``, with
    the carries of each name in ``carries``), state names, and, for an LSTMCell, what
    the gate recomputation needs."""

    kind = "tensors"
    node = None
    carries = None
    steps = None
    cell = None
    inputs = None
    initial = None
    reverse = False
    label = ""

    @classmethod
    def of(cls, wrt, names, loss):
        self = cls()
        if isinstance(wrt, (Node, Tensor)) and isinstance(_as_node(wrt).op, Scan):
            self._from_loop(_as_node(wrt))
            self.what = f"the loop {self.node.name!r}"
        elif isinstance(wrt, dict):
            self._from_steps(dict(wrt))
        elif isinstance(wrt, (list, tuple)):
            self._from_steps({"h": list(wrt)})
        elif isinstance(getattr(wrt, "name", None), str) and not isinstance(wrt, (Node, Tensor)):
            self._from_layer(wrt, loss)     # a layer: found by its name (its scope)
        else:
            raise TypeError("gradflow.analyze: wrt must be a called RNN layer, a list of "
                            "per-step state tensors (or a dict name -> list), or a loop node; "
                            f"got {type(wrt).__name__}")
        if names is not None:
            self._rename([names] if isinstance(names, str) else list(names))
        if self.cell is not None and set(GATES) & set(self.names):
            raise ValueError(f"gradflow.analyze: state names {self.names} clash with the gate "
                             f"names {GATES}")
        return self

    def _rename(self, names):
        if len(names) != len(self.names) or len(set(names)) != len(names):
            raise ValueError(f"gradflow.analyze: names must be {len(self.names)} distinct "
                             f"names (one per state), got {names!r}")
        if self.cell is not None and names[:2] != ["h", "c"]:
            self.cell = None               # gates are only reported with the h, c names
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

    def _from_layer(self, layer, loss):
        call = find_call(loss, layer)
        if call.kind == "loop":
            self._from_loop(call.loop_node)
        else:
            self.kind, self.names = "unrolled", call.names
            self.steps = {name: [s[k] for s in call.unrolled_states]
                          for k, name in enumerate(call.names)}
        self.what = f"the layer {layer.name!r}"
        self.label = layer.name
        self.initial, self.inputs = call.initial_states, call.inputs
        if call.names == ["h", "c"]:        # declared only for an LSTMCell (layers/rnn.py)
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


def _as_node(x):
    return x.node if isinstance(x, Tensor) else x


def _copy(t):
    """A new node computing what ``t`` computes (not shared through hash-consing),
    so that ``t`` can be replaced by ``copy + eps`` without a cycle."""
    n = t.node
    return apply(n.op, n.inputs, unique=True, control_inputs=n.control_inputs).outputs[t.index]


def _perturbed_loop(loss, node, carry_eps):
    """Rebuild the loop ``node`` with the sequence ``carry_eps[j]`` added to carry j
    after each step, and ``loss`` on top of it. Returns (new loss, {carry j: history
    of carry j entering each step})."""
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
    return new_loss, {j: new.outputs[nc + op.n_ys + j] for j in carry_eps}


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


def _gate_grads(cell, xs, h_prev, c_prev, dh, dc):
    """dL/dz for the gate pre-activations (i, f, g, o), all steps at once, from the
    inputs (T, B, D), the states entering each step and the totals dL/dh_t, dL/dc_t.
    The step is the one LSTM step (ops/lstm_step.py) on the cell's weights: i, f and g
    reach the loss through c, o through h."""
    with name_scope("gradflow_gates"):
        z = matmul(xs, cell.kernel) + matmul(h_prev, cell.recurrent_kernel)
        if cell.use_bias:
            z = z + cell.bias
        step = lstm_step(z, c_prev, LSTMMath(cell.activation, cell.recurrent_activation))
        through_c = gradients(step.c, list(step.pre[:3]), grad_ys=dc, unconnected_gradients="zero")
        through_h = gradients(step.h, [step.pre[3]], grad_ys=dh, unconnected_gradients="zero")
        return through_c + through_h
