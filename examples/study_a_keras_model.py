"""Study a model trained in Keras: load it, check it, draw it unrolled, and see how the
gradient flows back through its recurrent layer.

    python examples/study_a_keras_model.py                  # a fixture LSTM, writes ./study_a_keras_model/
    python examples/study_a_keras_model.py my_model.keras   # yours (.keras, or a tf-keras .h5)
    python examples/study_a_keras_model.py tests/fixtures/keras_models/k3_bidi_lstm_gru_dense.keras

Needs h5py (``pip install -e '.[keras]'``); TensorFlow is never needed. Keras itself can
predict with the model but shows no unrolled graph and no gradient flow: here
``layers.load_keras_model`` rebuilds it from tinygraph layers (the same numbers as
Keras' ``predict``), ``tg.viz`` draws its recurrent layer unrolled step by step, and
``tg.gradflow`` measures ``||dL/dh_t||`` per step and the state Jacobians' singular
values (how much one step of the recurrence can stretch or shrink the state), with
the loss the mean square of the model's output.
"""
import argparse
import os

import numpy as np

import tinygraph as tg
from tinygraph import layers

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests",
                        "fixtures", "keras_models")
DEFAULT = os.path.join(FIXTURES, "k3_embedding_lstm_dense.keras")


def recurrent_layer(model):
    """The first recurrent layer (a Bidirectional's forward direction)."""
    for layer in model.layers:
        if isinstance(layer, layers.Bidirectional):
            return layer.forward_layer
        if isinstance(layer, layers.RNN):
            return layer
    raise SystemExit(f"{model.name} has no recurrent layer to study: "
                     + ", ".join(type(layer).__name__ for layer in model.layers))


def stored_inputs(path):
    """(x, Keras' predict(x)) when ``path`` is one of the fixtures, else None."""
    name = os.path.splitext(os.path.basename(path))[0]
    expected = os.path.join(FIXTURES, "expected.npz")
    if not os.path.exists(expected):
        return None
    with np.load(expected, allow_pickle=False) as z:
        if name + "__x" in z.files:
            return z[name + "__x"], z[name + "__y"]
    return None


def made_up_inputs(model, batch, steps, rng):
    """A batch the model accepts: ids for an Embedding first, else N(0, 1) values; an
    open time axis gets ``steps``."""
    shape = [batch] + [steps if d is None else d for d in model.input_shape[1:]]
    first = model.layers[0]
    if isinstance(first, layers.Embedding):
        return rng.integers(1, first.input_dim, size=shape).astype(np.int32)
    return rng.normal(size=shape).astype(np.float32)


def draw_unrolled(model, rnn, x, out):
    """The model's graph with its recurrent layer unrolled (one cluster per step)."""
    rnn.unroll = True       # same weights and numbers: one set of nodes per step, for the picture
    try:
        y = model(x[:1])
    finally:
        rnn.unroll = False
    path = os.path.join(out, "unrolled.svg")
    try:
        print("wrote", tg.viz.render(y, path, keep_dot=True,
                                     title=f"{model.name}: {rnn.name} unrolled"))
    except RuntimeError as err:                     # no Graphviz `dot`: the .dot file is there
        print("wrote", path[:-4] + ".dot", "(no SVG:", str(err).split(";")[0] + ")")


def gradient_flow(model, rnn, x):
    """The report of the loss mean(output^2) on ``x`` w.r.t. ``rnn``'s states."""
    loss = tg.reduce_mean(tg.square(model(x)))
    gates = isinstance(rnn.cell, layers.LSTMCell)
    return tg.gradflow.analyze(loss, rnn, jacobians=True, gates=gates)


def print_report(report, rnn):
    T = report.T
    print(f"\ngradient flow through {rnn.name} ({type(rnn).__name__}, T={T}; the loss is the "
          "mean square of the output)")
    print(f"{'t':>3s} {'||dL/dh_t||':>12s} {'largest sv(J_t)':>16s} {'smallest sv(J_t)':>17s}")
    h, jac = report.norms("h"), report.norms("jac")
    for t in range(T):
        low = report.spectrum(t)[:, -1].mean()
        print(f"{t:3d} {h[t]:12.3e} {jac[t]:16.3f} {low:17.3e}")
    span = report.span(0, T - 1)[:, 0].mean()
    print(f"largest singular value of J_{T - 1} ... J_1 (step 0 to step {T - 1}): {span:.3e}")
    if report.saturating:
        low, high = report.saturation("f")
        print(f"forget gate saturated: {low.mean():.1%} of values < 0.1, {high.mean():.1%} > 0.9")


def plots(report, rnn, out):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("(no plots: pip install -e '.[plot]' for matplotlib)")
        return
    matplotlib.use("Agg")
    paths = [tg.gradflow.plot_spectra({rnn.name: report}, os.path.join(out, "spectra.png"))]
    if report.saturating:
        paths.append(tg.gradflow.plot_saturation(report, os.path.join(out, "saturation.png")))
    print("wrote", ", ".join(str(p) for p in paths))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", nargs="?", default=DEFAULT, help="a .keras or tf-keras .h5 model file")
    p.add_argument("--out", default="study_a_keras_model", help="folder for the pictures")
    p.add_argument("--batch", type=int, default=8, help="batch of made-up inputs (not a fixture)")
    p.add_argument("--steps", type=int, default=20, help="time steps when the model leaves T open")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    model = layers.load_keras_model(args.path)
    model.summary()
    stored = stored_inputs(args.path)
    if stored is not None:
        x, keras_y = stored
        diff = np.abs(tg.evaluate(model(x)) - keras_y).max()
        print(f"largest |tinygraph - Keras predict| on the stored batch: {diff:.1e}")
    else:
        x = made_up_inputs(model, args.batch, args.steps, np.random.default_rng(0))
    rnn = recurrent_layer(model)
    draw_unrolled(model, rnn, x, args.out)
    report = gradient_flow(model, rnn, x)
    print_report(report, rnn)
    plots(report, rnn, args.out)
    return model, report


if __name__ == "__main__":
    main()
