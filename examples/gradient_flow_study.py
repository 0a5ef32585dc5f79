"""Vanishing gradients: SimpleRNN vs GRU vs LSTM, and what unit_forget_bias does.

    python examples/gradient_flow_study.py                 # T=100, writes ./gradient_flow_study/
    python examples/gradient_flow_study.py --T 30 --out /tmp/study

For each model (freshly initialised, fixed seed) the loss is the mean square of the
LAST output, so any gradient at an early step t has travelled T-1-t steps back
through the recurrence. ``tg.gradflow.analyze`` gives the total derivative
||dL/dh_t|| per step; a straight line on a log scale means a constant factor per
step, which we fit.

What to expect (and why):
- SimpleRNN: each step multiplies the gradient by R^T diag(1 - h^2); once tanh
  saturates (inputs of size ~1) that factor is well below 1 and the gradient dies
  exponentially. With tiny inputs an orthogonal R keeps it alive much longer: try
  ``--scale 0.1``.
- LSTM: the cell path multiplies by the forget gate f = sigmoid(z_f). Keras'
  unit_forget_bias=True starts its bias at 1, so f is about sigmoid(1) = 0.73 instead
  of sigmoid(0) = 0.5: the fitted per-step factor is much closer to 1, and over 100
  steps that is many orders of magnitude.
- GRU: h' = z * h + (1 - z) * hh, so the direct path multiplies by the update gate z.
  Keras' GRU starts every bias at 0, so z is about sigmoid(0) = 0.5, like the LSTM's
  forget gate without unit_forget_bias (and there is no option to change that).
"""
import argparse
import os

import numpy as np

import tinygraph as tg
from tinygraph import layers

MODELS = {
    "SimpleRNN": lambda units: layers.RNN(layers.SimpleRNNCell(units)),
    "GRU": lambda units: layers.GRU(units),
    "LSTM, unit_forget_bias=True": lambda units: layers.LSTM(units),
    "LSTM, unit_forget_bias=False": lambda units: layers.LSTM(units, unit_forget_bias=False),
}


def analyse(make, T, batch, units, scale, seed):
    """A fresh model on N(0, scale^2) inputs; returns its GradientFlowReport."""
    tg.reset_default_graph()
    tg.initializers.reseed(seed)
    x = tg.placeholder((batch, T, 4), name="x")
    layer = make(units)
    loss = tg.reduce_mean(tg.square(layer(x)))
    data = np.random.default_rng(seed).normal(0, scale, (batch, T, 4)).astype("float32")
    return tg.gradflow.analyze(loss, layer, {x: data})


def per_step_factor(norms):
    """The constant factor per step that best explains the middle of the curve:
    exp of the slope of log ||dL/dh_t|| against -t (a least-squares line)."""
    T = len(norms)
    t = np.arange(T // 4, 3 * T // 4 + 1)
    logs = np.log(np.maximum(norms[t], 1e-300))
    return float(np.exp(-np.polyfit(t, logs, 1)[0]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--T", type=int, default=100, help="sequence length")
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--scale", type=float, default=1.0, help="input standard deviation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="gradient_flow_study", help="folder for the plots")
    args = p.parse_args(argv)

    reports = {label: analyse(make, args.T, args.batch, args.units, args.scale, args.seed)
               for label, make in MODELS.items()}

    T = args.T
    shown = sorted({0, T // 4, T // 2, 3 * T // 4, T - 1})
    print(f"||dL/dh_t|| / ||dL/dh_{T - 1}||  (T={T}, {args.units} units, inputs N(0, "
          f"{args.scale:g}^2); the loss reads the last step)")
    print(f"{'model':30s}" + "".join(f"{f't={t}':>10s}" for t in shown) + f"{'factor/step':>13s}")
    for label, r in reports.items():
        n = r.norms("h")
        print(f"{label:30s}" + "".join(f"{n[t] / n[-1]:10.1e}" for t in shown) +
              f"{per_step_factor(n):13.3f}")
    print(f"(sigmoid(1) = {1 / (1 + np.exp(-1)):.3f}, sigmoid(0) = 0.500: the forget gate's "
          "starting value with and without unit_forget_bias, and 0.500 the GRU's update gate)")

    lstm = reports["LSTM, unit_forget_bias=True"]
    print(f"\nLSTM with unit_forget_bias, every quantity at t = 0, {T // 2}, {T - 1} "
          f"(gates: gradient at the pre-activation z):")
    for name in lstm.names:
        n = lstm.norms(name)
        print(f"  {name}: " + "  ".join(f"{n[t]:.2e}" for t in (0, T // 2, T - 1)))

    os.makedirs(args.out, exist_ok=True)
    try:
        paths = [
            tg.gradflow.plot_compare(reports, os.path.join(args.out, "h.png"), name="h",
                                     title=f"||dL/dh_t||, T={T}: SimpleRNN, GRU, LSTM"),
            tg.gradflow.plot_compare({k: v for k, v in reports.items() if "LSTM" in k},
                                     os.path.join(args.out, "c.png"), name="c",
                                     title=f"||dL/dc_t||, T={T}: the LSTM cell path"),
            lstm.plot(os.path.join(args.out, "lstm_gates.png"),
                      title="LSTM (unit_forget_bias=True): h, c and gates"),
        ]
    except ImportError as e:
        print(f"\nno plots: {e}")
        return reports
    print("\nwrote " + ", ".join(paths))
    return reports


if __name__ == "__main__":
    main()
