"""``analyze``: the per-step gradients of a loss, in one run of a session."""
import numpy as np

from tinygraph.autodiff import gradients
from tinygraph.ir.graph import Tensor, name_scope, topo_nodes
from tinygraph.ops import matmul, placeholder, stack, zeros_like
from tinygraph.ops.lstm_step import LSTMMath, lstm_step
from tinygraph.runtime.session import Session
from tinygraph.tools.gradflow.report import GATES, GradientFlowReport
from tinygraph.tools.gradflow.target import _Target


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
