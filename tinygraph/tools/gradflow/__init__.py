"""Gradient flow through a recurrent network: how large the gradient is at each step.

``analyze(loss, wrt)`` answers "how much of the loss's gradient reaches time step t?"
for an RNN layer's latest call (unrolled or loop, fused or not) or for any list of
per-step tensors. Definitions (t = 0..T-1 is the PROCESSING order: with
``go_backwards`` t = 0 is the last input):

- ``h_t``, ``c_t``: the states after step t (h_t is also the step's output).
- ``dL/dh_t``: the TOTAL derivative, along every path from h_t to the loss: the
  step's output, the later steps, the final state. ``dL/dc_t`` likewise (including
  the path c_t -> h_t = o_t * tanh(c_t) of the same step).
- Gate gradients (LSTMCell and GRUCell) are taken at the gate PRE-activations
  ``z_t = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias``, split in Keras order
  i, f, g, o (Keras calls g "c", the candidate): ``dL/dz_t``, the quantity the
  weights see (``dL/dkernel = sum_t x_t^T dL/dz_t``). From the totals:
  ``dL/do = dL/dh_t * tanh(c_t)``, ``dL/di = dL/dc_t * g_t``,
  ``dL/df = dL/dc_t * c_{t-1}``, ``dL/dg = dL/dc_t * i_t``, each then times its
  activation's derivative (done by autodiff, so any activation works). A GRU's gates
  are z, r and the candidate "hh" (Keras' name; "h" is the state), at
  ``x_z + r_z``, ``x_r + r_r`` and ``x_h + r * r_h`` (``x_h + (r * h) @ R_h`` with
  reset_after=False): all three reach the loss through h (ops/gru_step.py).
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
LSTMCell; h for a SimpleRNNCell or a GRUCell (or any one-state cell; a GRUCell's gates
are found because the cell declares its family); c, h for a TF1
``rnn_cell.LSTMCell``; h0, c0, h1, ... for stacked cells (index = layer).

A ``layers.Bidirectional`` is two such calls in its scope, its ``forward_layer`` and
``backward_layer`` (find.py ``directions``); ``analyze`` reports both, named after them
("forward_lstm", "backward_lstm"), as a ``BidirectionalReport`` (bidirectional.py)
whose ``norms`` and ``grads`` are per INPUT step t (the backward direction's
processing order reversed), while ``report[direction]`` is that direction's own
report in its processing order.

Why it vanishes (docs/gradient-flow.md): ``analyze(..., jacobians=True)`` adds the
state Jacobians J_t[b, i, j] = d state_t[b, i] / d state_{t-1}[b, j] (state =
concat of the states in ``names``: h, c for an LSTM, h for a GRU; J_0 w.r.t. the
initial state)
by batched VJPs (jacobians.py) and ``report.jacobian``, ``spectrum``, ``span``,
``norms("jac")`` (views.py); ``gates=True`` the gate activations for
``report.saturation`` (cells.py: what each cell family has); ``Monitor`` records an
analysis every N training steps (monitor.py); plots.py draws them.

Package layout: find.py (where a call is), target.py (what ``wrt`` names),
perturb.py (states + eps), analysis.py (``analyze``), report.py, views.py,
jacobians.py, cells.py, monitor.py, plots.py, bidirectional.py (the two directions'
report).

Limits: with a ``mask``, h_t is the state after the masking (a masked step keeps
h_{t-1}) and the gate norms are computed as if every step were kept; gates are
reported for ``layers.LSTMCell`` / ``layers.LSTM`` and ``layers.GRUCell`` /
``layers.GRU`` (one cell), states only for other cells; an unrolled call needs two steps or more.
"""
from tinygraph.tools.gradflow.analysis import analyze
from tinygraph.tools.gradflow.bidirectional import BidirectionalReport
from tinygraph.tools.gradflow.find import LayerCall, find_call
from tinygraph.tools.gradflow.monitor import Monitor
from tinygraph.tools.gradflow.plots import plot_heatmap, plot_saturation, plot_spectra
from tinygraph.tools.gradflow.report import GATES, PLOT_HINT, GradientFlowReport, plot_compare

__all__ = ["analyze", "find_call", "LayerCall", "GradientFlowReport", "BidirectionalReport",
           "plot_compare", "GATES", "PLOT_HINT", "Monitor", "plot_spectra", "plot_saturation",
           "plot_heatmap"]
