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

State names: h, c for an LSTMCell; h for a SimpleRNNCell (or any one-state cell); c, h
for a TF1 ``rnn_cell.LSTMCell``; h0, c0, h1, ... for stacked cells (index = layer).

Limits: with a ``mask``, h_t is the state after the masking (a masked step keeps
h_{t-1}) and the gate norms are computed as if every step were kept; gates are
reported for ``layers.LSTMCell`` / ``layers.LSTM`` (one cell), states only for other
cells.
"""
import numpy as np

from tinygraph.ir.graph import Node, Tensor, apply, topo_nodes
from tinygraph.compile.rewrite import substitute

GATES = ("i", "f", "g", "o")
PLOT_HINT = "pip install -e '.[plot]'  (or: pip install matplotlib)"


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

    def plot(self, path, names=None, title=None):
        """Curves of the per-step norms against t on a log scale, saved to ``path``
        (any format matplotlib writes: .png, .svg, .pdf). Returns the path."""
        names = list(self.names if names is None else names)
        series = {_quantity(n): self.norms(n) for n in names}
        return _plot_curves(series, path, title or f"gradient flow {self.label}".strip())

    def to_dot(self, **kw):
        """The loss's forward graph (``tg.viz.to_dot``) with every node coloured by
        the mean |dL/dx| of its output: where the gradient is large, where it dies.
        ``kw`` goes to ``to_dot`` (e.g. ``max_steps``, ``expand``)."""
        from tinygraph.tools import viz
        from tinygraph.autodiff import gradients
        from tinygraph.runtime.session import Session
        nodes = [n for n in topo_nodes([self._loss]) if n.op.name != "constant"]
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


def plot_compare(reports, path, name="h", title=None):
    """One curve per report (``reports``: dict label -> GradientFlowReport) of
    ``norms(name)`` against t, log scale; e.g. LSTM vs SimpleRNN. Returns the path."""
    series = {label: r.norms(name) for label, r in reports.items()}
    return _plot_curves(series, path, title or f"||dL/d{name}_t|| per time step",
                        ylabel=f"||dL/d{name}_t||")


def _plot_curves(series, path, title, ylabel="gradient norm"):
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"gradflow plots need matplotlib, which is not installed: "
                          f"{PLOT_HINT}") from None
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(7.2, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for label, ys in series.items():
        ys = np.where(ys > 0, ys, np.nan)           # log scale: zeros are not drawn
        ax.plot(np.arange(len(ys)), ys, marker="." if len(ys) <= 60 else None, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("time step t (processing order)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    svg = str(path).lower().endswith(".svg")
    with matplotlib.rc_context({"svg.fonttype": "none"}):     # SVG text as text: small files
        fig.savefig(path, metadata={"Date": None} if svg else None)   # reproducible SVGs
    return path


# --------------------------------------------------------------------------- analysis

def analyze(loss, wrt, feed_dict=None, session=None, *, names=None):
    """Per-step gradient norms of ``loss``. ``wrt`` is:

    - an RNN layer (``layers.RNN``, ``layers.LSTM``) that has been called: its latest
      call is analysed, unrolled or loop;
    - a list of per-step state tensors ``[h_0, ..., h_{T-1}]`` (reported as "h"), or a
      dict name -> such a list;
    - a loop node (``tg.scan``'s node, or one of its outputs): its carries.

    ``names`` renames the states (default: "h", "c" for an LSTM cell). Returns a
    ``GradientFlowReport``; see the module docstring for the definitions."""
    from tinygraph.runtime.session import Session
    if not isinstance(loss, Tensor):
        raise TypeError(f"gradflow.analyze: loss must be a Tensor, got {type(loss).__name__}")
    if loss.dtype.kind != "f":
        raise ValueError(f"gradflow.analyze: loss {loss.name!r} must be floating point, got "
                         f"{loss.dtype.name}")
    target = _Target.of(wrt, names)
    forward = {n.id for n in topo_nodes([loss])}
    if not any(t.node.id in forward for t in target.anchors()):
        raise ValueError(f"gradflow.analyze: loss {loss.name!r} does not depend on {target.what}")
    session = session or Session()
    feed = dict(feed_dict or {})

    # The states as functions of zero perturbations eps (placeholders, fed zeros):
    # dL/deps_t is the total derivative at step t, and no pass can fold eps away.
    shapes = target.state_shapes(session, feed)
    eps = {name: _placeholder(shape, dtype, f"gradflow_eps_{name}")
           for name, (shape, dtype) in shapes.items()}
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
    from tinygraph.autodiff import gradients
    return gradients(y, xs, unconnected_gradients="zero")


def _placeholder(shape, dtype, name):
    import tinygraph as tg
    return tg.placeholder(shape, dtype, name=name)


def _one_hot_step(g, t, T):
    """``g`` (one step's gradient) placed at step t of a (T, ...) zero array."""
    import tinygraph as tg
    return tg.stack([g if k == t else tg.zeros_like(g) for k in range(T)], axis=0)


class _Target:
    """What ``wrt`` names: per-step tensors (``steps``) or a loop node (``node``),
    state names, and, for an LSTMCell, what the gate recomputation needs."""

    kind = "tensors"
    node = None
    steps = None
    cell = None
    inputs = None
    initial = None
    reverse = False
    label = ""

    @classmethod
    def of(cls, wrt, names):
        from tinygraph.layers import RNN
        from tinygraph.layers.base import Layer
        self = cls()
        if isinstance(wrt, RNN):
            self._from_layer(wrt)
        elif isinstance(wrt, Layer):
            raise TypeError(f"gradflow.analyze: wrt must be an RNN layer (layers.RNN, "
                            f"layers.LSTM), got the {type(wrt).__name__} layer {wrt.name!r}")
        elif isinstance(wrt, (Node, Tensor)) and _as_node(wrt).op.name == "scan":
            node = _as_node(wrt)
            self.kind, self.node, self.reverse = "loop", node, node.op.reverse
            nc = node.op.n_carry
            self.names = ["h"] if nc == 1 else [f"carry{k}" for k in range(nc)]
            self.what = f"the loop {node.name!r}"
            self.label = node.name
        elif isinstance(wrt, dict):
            self._from_steps(dict(wrt))
        elif isinstance(wrt, (list, tuple)):
            self._from_steps({"h": list(wrt)})
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
        self.names = names

    def _from_layer(self, layer):
        from tinygraph.layers import LSTMCell
        call = layer.last_call
        if call is None:
            raise ValueError(f"gradflow.analyze: the layer {layer.name!r} has not been called "
                             "yet; call it on inputs (and build the loss from its output) first")
        init = list(call["initial_states"])
        self.names = _state_names(layer.cell, len(init))
        self.what = f"the layer {layer.name!r}"
        self.label = layer.name
        self.initial, self.inputs = init, call["inputs"]
        if isinstance(layer.cell, LSTMCell):
            self.cell = layer.cell
            if layer.cell.dropout or layer.cell.recurrent_dropout:
                import warnings
                warnings.warn(f"gradflow.analyze: {layer.cell.name!r} has dropout; the gate "
                              "gradients are recomputed without dropout masks (analyse a call "
                              "made with training off)", stacklevel=3)
        if call["unrolled_states"] is not None:
            self.kind = "unrolled"
            steps = call["unrolled_states"]
            self.steps = {name: [s[k] for s in steps] for k, name in enumerate(self.names)}
        else:
            self.kind, self.node = "loop", call["loop_node"]

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
        return [t for ts in self.steps.values() for t in ts]

    def _state_refs(self):
        """name -> (a tensor shaped like one step's state, T or a scalar T tensor)."""
        import tinygraph as tg
        if self.kind == "loop":
            op = self.node.op
            seq0 = self.node.inputs[op.n_carry] if op.n_seq else None
            T = op.length if op.length is not None else tg.shape(seq0)[0]
            return {name: (self.node.inputs[k], T) for k, name in enumerate(self.names)}
        return {name: (ts[0], len(ts)) for name, ts in self.steps.items()}

    def state_shapes(self, session, feed):
        """name -> ((T,) + concrete state shape, dtype); runs the graph only for
        dimensions that are not static."""
        import tinygraph as tg
        refs = self._state_refs()
        probe = {}
        for name, (ref, T) in refs.items():
            if isinstance(T, Tensor):
                probe[name + "/T"] = T
            if any(d is None for d in ref.shape):
                probe[name] = tg.shape(ref)
        got = session.run(probe, feed) if probe else {}
        out = {}
        for name, (ref, T) in refs.items():
            T = int(got[name + "/T"]) if isinstance(T, Tensor) else T
            shape = tuple(int(d) for d in got[name]) if name in got else ref.shape
            out[name] = ((T,) + tuple(shape), ref.dtype)
        return out

    def perturb(self, loss, eps):
        """(loss rebuilt on states + eps, states entering each step (for the gates),
        [(name, t, leaf)] states that are graph inputs, differentiated directly)."""
        import tinygraph as tg
        if self.kind == "loop":
            new_loss, hist = _perturbed_loop(loss, self.node, [eps[n] for n in self.names])
            return new_loss, dict(zip(self.names, hist)), []
        mapping, leaves = {}, []
        with tg.name_scope("gradflow"):
            for name, ts in self.steps.items():
                for t, s in enumerate(ts):
                    key = (s.node.id, s.index)
                    if not s.node.inputs:
                        leaves.append((name, t, s))
                    elif key not in mapping:
                        mapping[key] = _copy(s) + eps[name][t]
        new_loss = substitute([loss], mapping)[0]
        prev = None
        if self.cell is not None:
            prev = {name: tg.stack([init] + self.steps[name][:-1], axis=0)
                    for name, init in zip(self.names, self.initial)}
        return new_loss, prev, leaves


def _as_node(x):
    return x.node if isinstance(x, Tensor) else x


def _copy(t):
    """A new node computing what ``t`` computes (not shared through hash-consing),
    so that ``t`` can be replaced by ``copy + eps`` without a cycle."""
    n = t.node
    return apply(n.op, n.inputs, unique=True, control_inputs=n.control_inputs).outputs[t.index]


def _state_names(cell, n):
    """Names of a cell's flat states: h, c for an LSTMCell; h for a one-state cell;
    c, h for a TF1 LSTMStateTuple; h0, c0, h1, ... for stacked cells."""
    from tinygraph.layers import LSTMCell, StackedRNNCells
    from tinygraph.layers.cell_contract import state_sizes
    if isinstance(cell, LSTMCell):
        return ["h", "c"]
    if isinstance(cell, StackedRNNCells):
        names = []
        for k, sub in enumerate(cell.cells):
            names += [f"{name}{k}" for name in _state_names(sub, len(state_sizes(sub)))]
        return names
    if n == 1:
        return ["h"]
    if n == 2 and getattr(cell.state_size, "_fields", None) == ("c", "h"):
        return ["c", "h"]
    return [f"state{k}" for k in range(n)]


def _perturbed_loop(loss, node, eps):
    """Rebuild the loop ``node`` with the sequences ``eps`` added to its first states
    after each step, and ``loss`` on top of it. Returns (new loss, history of the
    states entering each step)."""
    import tinygraph as tg
    op = node.op
    nc, ns, n_states = op.n_carry, op.n_seq, len(eps)
    inits, seqs, caps = node.inputs[:nc], node.inputs[nc:nc + ns], node.inputs[nc + ns:]
    alias = _output_alias(op.body, n_states)

    def body(carry, xs):
        outs = op.body.inline(list(carry) + list(xs[:ns]) + list(caps))
        outs = _perturb(outs, xs[ns:], alias)
        return outs[:nc], (outs[nc:] or None)

    with tg.name_scope("gradflow"):
        final, _ = tg.scan(body, list(seqs) + list(eps), list(inits), reverse=op.reverse,
                           length=op.length, name="perturbed_loop")
    new = final[0].node
    mapping = {(node.id, i): t for i, t in enumerate(new.outputs)}
    new_loss = substitute([loss], mapping)[0]
    hist = new.outputs[nc + op.n_ys:nc + op.n_ys + n_states]
    return new_loss, hist


def _output_alias(body, n_states):
    """A masked RNN loop carries its last output next to the states (layers/rnn.py:
    ``where(keep, out, prev)``). When that output is one of the states (an LSTM's h),
    it is the same variable and gets the same perturbation: {carry index: state index}."""
    outs = body.outputs
    if len(outs) <= n_states or outs[n_states].node.op.name != "where":
        return {}
    src = outs[n_states].node.inputs[1]
    for k in range(n_states):
        s = outs[k]
        if s.node.op.name == "where" and _key(s.node.inputs[1]) == _key(src):
            return {n_states: k}
    return {}


def _key(t):
    return (t.node.id, t.index)


def _perturb(outs, eps, alias=None):
    """One step's outputs with the new states (carry k gets ``eps[k]``, and carry j
    gets ``eps[alias[j]]``) replaced by state + eps everywhere: in the carry and in
    any output computed from it (an LSTM's output is its h)."""
    outs = list(outs)
    mapping, direct = {}, {}
    which = dict(enumerate(eps))
    which.update({j: eps[k] for j, k in (alias or {}).items()})
    for k, e in which.items():
        s = outs[k]
        key = _key(s)
        if s.node.op.name == "placeholder":        # a carry passed through unchanged
            direct[k] = s + e
        elif key not in mapping:
            mapping[key] = _copy(s) + e
    outs = substitute(outs, mapping) if mapping else outs
    for k, t in direct.items():
        outs[k] = t
    return outs


def _gate_grads(cell, xs, h_prev, c_prev, dh, dc):
    """dL/dz for the gate pre-activations (i, f, g, o), all steps at once, from the
    inputs (T, B, D), the states entering each step and the totals dL/dh_t, dL/dc_t."""
    import tinygraph as tg
    from tinygraph.autodiff import gradients
    with tg.name_scope("gradflow_gates"):
        z = tg.matmul(xs, cell.kernel) + tg.matmul(h_prev, cell.recurrent_kernel)
        if cell.use_bias:
            z = z + cell.bias
        zi, zf, zg, zo = tg.split(z, 4, axis=-1)
        act, rec = cell.activation, cell.recurrent_activation
        i, f, g, o = rec(zi), rec(zf), act(zg), rec(zo)
        c = f * c_prev + i * g
        d_act = [dc * g, dc * c_prev, dc * i, dh * act(c)]
        return gradients([i, f, g, o], [zi, zf, zg, zo], grad_ys=d_act,
                         unconnected_gradients="zero")
