"""``analyze``: the per-step gradients of a loss, in one run of a session."""
import numpy as np

from tinygraph.autodiff import gradients
from tinygraph.ir.graph import Tensor, topo_nodes
from tinygraph.ops import placeholder, stack, zeros_like
from tinygraph.runtime.session import Session
from tinygraph.tools.gradflow.bidirectional import BidirectionalReport
from tinygraph.tools.gradflow.find import directions
from tinygraph.tools.gradflow.jacobians import assemble
from tinygraph.tools.gradflow.report import GradientFlowReport
from tinygraph.tools.gradflow.target import _Target


def analyze(loss, wrt, feed_dict=None, session=None, *, names=None, jacobians=False,
            gates=False):
    """Per-step gradient norms of ``loss``. ``wrt`` is:

    - an RNN layer (``layers.RNN``, ``layers.LSTM``) that has been called: its latest
      call in the graph of ``loss`` is analysed, unrolled or loop;
    - a list of per-step state tensors ``[h_0, ..., h_{T-1}]`` (reported as "h"), or a
      dict name -> such a list;
    - a loop node (``tg.scan``'s node, or one of its outputs): its carries;
    - a ``layers.Bidirectional`` that has been called: each direction as a layer,
      returned as a ``BidirectionalReport`` (both directions on the INPUT's time
      steps; ``report[direction]`` is that direction's own report, in its processing
      order: for the backward one t = 0 is the last input step).

    ``names`` renames the states (default: "h", "c" for an LSTM cell).
    ``jacobians=True`` adds the state Jacobians (``report.jacobian(t)``, ``spectrum``,
    ``span``, ``norms("jac")``; a layer or loop node only); ``gates=True`` fetches the
    gate activations for ``report.saturation(gate)`` (an LSTM or GRU layer). Returns a
    ``GradientFlowReport``; see the package docstring for the definitions."""
    session = session or Session()
    pair = directions(wrt)
    if pair is not None:
        reports = {d.name: Analysis(loss, d, feed_dict, session, names=names,
                                    jacobians=jacobians, gates=gates, within=wrt.name
                                    ).run(session, feed_dict) for d, _ in pair}
        return BidirectionalReport(reports, {d.name: rev for d, rev in pair}, label=wrt.name)
    return Analysis(loss, wrt, feed_dict, session, names=names, jacobians=jacobians,
                    gates=gates).run(session, feed_dict)


class Analysis:
    """The analysis graph of ``loss`` w.r.t. ``wrt``, built once; ``run`` evaluates it
    for a feed (with the weights as they are then) and returns a report. The shapes
    (batch, T) are those of the feed it was built with."""

    def __init__(self, loss, wrt, feed_dict, session, *, names=None, jacobians=False,
                 gates=False, within=None):
        if not isinstance(loss, Tensor):
            raise TypeError(f"gradflow.analyze: loss must be a Tensor, got {type(loss).__name__}")
        if loss.dtype.kind != "f":
            raise ValueError(f"gradflow.analyze: loss {loss.name!r} must be floating point, "
                             f"got {loss.dtype.name}")
        if directions(wrt) is not None:
            raise TypeError(f"gradflow: {wrt.name!r} runs two RNN layers; analyze() reports "
                            "both, a Monitor follows one: pass its forward_layer or "
                            "backward_layer")
        target = _Target.of(wrt, names, loss, within)
        forward = {n.id for n in topo_nodes([loss])}
        if not any(t.node.id in forward for t in target.anchors()):
            raise ValueError(f"gradflow.analyze: loss {loss.name!r} does not depend on "
                             f"{target.what}")
        if gates is None:                  # Monitor's default: when the cell has gates
            gates = target.parts is not None
        if gates and target.parts is None:
            raise ValueError(f"gradflow.analyze: gates=True needs an LSTM layer or a GRU "
                             f"layer (layers.LSTM, layers.GRU, an RNN of an LSTMCell or GRUCell); "
                             f"{target.what} has no gates to read")
        self.loss, self.target, self.gates = loss, target, gates
        self.fetch, self.extra_feed = self._build(session, dict(feed_dict or {}), jacobians)

    def _build(self, session, feed, jacobians):
        target, loss = self.target, self.loss
        # The states as functions of zero perturbations eps (placeholders, fed zeros):
        # dL/deps_t is the total derivative at step t, and no pass can fold eps away.
        self.shapes = shapes = target.state_shapes(session, feed)
        eps = {name: placeholder(shape_, dtype, name=f"gradflow_eps_{name}")
               for name, (shape_, dtype) in shapes.items()}
        extra = {e: np.zeros(shapes[name][0], e.dtype) for name, e in eps.items()}
        new_loss, prev, leaves = target.perturb(loss, eps)

        fetch = {"loss": loss}
        fetch.update(zip(target.names, _gradients(new_loss, [eps[n] for n in target.names])))
        for name, t, x in leaves:                      # leaves among the states: direct
            g = _gradients(new_loss, [x])[0]
            fetch[name] = fetch[name] + _one_hot_step(g, t, shapes[name][0][0])
        if target.cell is not None:
            grads, acts = target.parts.gates(target.cell, target.inputs, prev,
                                             {n: fetch[n] for n in target.parts.states})
            fetch.update(zip(target.parts.grad_gates, grads))
            if self.gates:
                fetch.update({f"gate/{k}": v for k, v in acts.items()})
        self.records = {}
        if jacobians:
            jac, self.records = target.jacobians(shapes)
            fetch.update({f"jac/{k}": v for k, v in jac.items()})
        return fetch, extra

    def run(self, session, feed_dict):
        target = self.target
        feed = {**dict(feed_dict or {}), **self.extra_feed}
        if self.records:               # the states an unrolled call's steps read (jacobians.py)
            feed.update(zip(self.records, session.run(list(self.records.values()), feed)))
        out = session.run(self.fetch, feed)
        loss_value = out.pop("loss")
        flip = (lambda v: v[::-1]) if target.reverse else (lambda v: v)  # a reverse scan
        grad_names = list(target.names) + (list(target.parts.grad_gates)    # starts at T-1
                                           if target.cell is not None else [])
        grads = {name: flip(np.asarray(out[name])) for name in grad_names}
        gate_values = {k[5:]: flip(np.asarray(v)) for k, v in out.items()
                       if k.startswith("gate/")} if self.gates else None
        jac = None
        if any(k.startswith("jac/") for k in out):
            T, batch = self.shapes[target.names[0]][0][:2]
            jac = flip(assemble({k: out[f"jac/{k}"] for k in target.names}, target.names,
                                T, batch))
        return GradientFlowReport(grads, np.asarray(loss_value), kind=target.kind,
                                  label=target.label, loss=self.loss, feed_dict=feed_dict,
                                  session=session, jacobians=jac, gate_values=gate_values,
                                  saturating=target.parts.saturating if target.parts else ())


def _gradients(y, xs):
    return gradients(y, xs, unconnected_gradients="zero")


def _one_hot_step(g, t, T):
    """``g`` (one step's gradient) placed at step t of a (T, ...) zero array."""
    return stack([g if k == t else zeros_like(g) for k in range(T)], axis=0)
