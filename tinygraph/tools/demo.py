"""``python -m tinygraph demo``: train an LSTM on a long-range task, then look inside.

1. Train ``layers.LSTM`` + ``layers.Dense`` with Adam on the adding problem: each
   sequence holds random numbers and two marked positions; the target is the sum of
   the two marked numbers, so the network must carry information across the whole
   sequence (predicting the mean scores an MSE of about 0.17).
2. Pictures (``tg.viz.render``) of a small unrolled LSTM (T=4): as built, after the
   passes (one fused ``lstm_sequence`` op), its backward graph (unfused, and fused),
   the loop version with its body opened, and a gradient heat map (``gradflow``).
3. Gradient flow (``tg.gradflow``): ||dL/dh_t|| per step for a SimpleRNN, a GRU and
   an LSTM with and without ``unit_forget_bias`` (freshly initialised, long sequences;
   the classic comparison of Chung et al. 2014), and h, c and gate curves of the
   trained LSTM; Jacobian spectra of the SimpleRNN, the GRU and the LSTM.
4. ``summary.txt``; every path is printed.

Without Graphviz's ``dot`` the ``.dot`` files are still written (with the command that
turns them into SVGs); without matplotlib the curves are written as text tables.
The small graphs are also available one by one: ``python -m tinygraph viz --list``.
"""
import os
import sys
import time

import numpy as np

import tinygraph as tg
from tinygraph import layers

PLOT_HINT = "pip install matplotlib (in a checkout of tinygraph: pip install -e '.[plot]')"
STEPS, SEQ_LEN = 400, 50                 # the full setting; --quick uses QUICK
QUICK = dict(steps=20, T=8)
DOT_HINT = ("install Graphviz (apt-get install graphviz | brew install graphviz | "
            "conda install -c conda-forge graphviz), then: dot -Tsvg FILE.dot -o FILE.svg")


def adding_problem(rng, batch, T):
    """(x (batch, T, 2) float32, y (batch, 1)): channel 0 random in [0, 1), channel 1
    marks two positions; y is the sum of the two marked values."""
    values = rng.uniform(0, 1, (batch, T))
    marks = np.zeros((batch, T))
    for row in marks:
        row[rng.choice(T, 2, replace=False)] = 1
    x = np.stack([values, marks], axis=-1).astype("float32")
    return x, (values * marks).sum(1, keepdims=True).astype("float32")


def build_model(T, units=16, unroll=False, seed=0):
    """The demo's model: LSTM(units) -> Dense(1), MSE loss. Returns a dict with the
    placeholders x, y, the layers lstm, dense, and pred, loss."""
    tg.initializers.reseed(seed)
    x = tg.placeholder((None, T, 2), name="x")
    y = tg.placeholder((None, 1), name="y")
    lstm = layers.LSTM(units, unroll=unroll, name="lstm")
    dense = layers.Dense(1, name="dense")
    pred = dense(lstm(x))
    loss = tg.losses.mean_squared_error(y, pred)
    return dict(x=x, y=y, lstm=lstm, dense=dense, pred=pred, loss=loss)


# --------------------------------------------------------------------------- small graphs

def _small(T, unroll=True):
    tg.reset_default_graph()
    return build_model(T, units=8, unroll=unroll)


def _unrolled(T):
    return _small(T)["loss"], dict(title=f"an unrolled LSTM (T={T}) and its loss, as built")


def _fused(T):
    return tg.optimize(_small(T)["loss"]), dict(
        title="after the passes: the cells fused into one lstm_sequence op")


def _gradients(T):
    m = _small(T)
    grads = tg.gradients(m["loss"], m["lstm"].trainable_weights)
    return grads, dict(collapse=["lstm", "dense"], grads=False,
                       title=f"backward graph of dL/d(LSTM weights): one cluster per step, "
                             f"step_{T - 1} first (the forward graph collapsed; dashed boxes "
                             f"are the forward values each step reads)")


def _gradients_fused(T):
    m = _small(T)
    grads = tg.gradients(m["loss"], m["lstm"].trainable_weights)
    return tg.optimize(grads), dict(
        title="the same gradients after the passes: lstm_sequence + lstm_sequence_grad")


def _loop(T):
    m = _small(T, unroll=False)
    return m["loss"], dict(expand=["scan"], title="unroll=False: one loop op, its body opened")


def _heatmap(T):
    m = _small(T)
    x, y = adding_problem(np.random.default_rng(1), 8, T)
    report = tg.gradflow.analyze(m["loss"], m["lstm"], {m["x"]: x, m["y"]: y})
    return report.to_dot(title="gradient heat map: each node coloured by mean |dL/dx| "
                               "(gradflow.analyze(...).to_dot())"), {}


EXAMPLES = {
    "unrolled": ("an unrolled LSTM and its loss, as built", _unrolled),
    "fused": ("the same graph after the passes (fused lstm_sequence)", _fused),
    "gradients": ("the backward graph (last step's VJP opened)", _gradients),
    "gradients-fused": ("the backward graph after fusion (lstm_sequence_grad)", _gradients_fused),
    "loop": ("the LSTM as a loop op (unroll=False), its body opened", _loop),
    "heatmap": ("the unrolled graph coloured by gradient magnitude", _heatmap),
}


def example(name, T=4):
    """(fetches or graphviz.Digraph, ``tg.viz.render`` keyword arguments) of one of
    ``EXAMPLES``, built in a fresh default graph."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; the examples are: {', '.join(EXAMPLES)}")
    return EXAMPLES[name][1](T)


def render_example(name, path, T=4, format=None):
    """Render example ``name`` to ``path``, its DOT source beside it (``python -m
    tinygraph viz FILE.dot`` renders it again); returns (written path, None) or,
    without Graphviz's ``dot``, (the .dot path, the error message)."""
    fetches, kw = example(name, T)
    try:
        return tg.viz.render(fetches, path, format=format, keep_dot=True, **kw), None
    except RuntimeError as e:
        if "dot" not in str(e):
            raise
        return os.path.splitext(str(path))[0] + ".dot", str(e)


# --------------------------------------------------------------------------- gradient flow

def flow_reports(T=50, batch=16, units=16, seed=0):
    """Freshly initialised SimpleRNN, GRU, LSTM and LSTM without unit_forget_bias on
    the same N(0, 1) inputs, loss = mean square of the last output: dict label ->
    report."""
    makers = {
        "SimpleRNN (tanh)": lambda: layers.RNN(layers.SimpleRNNCell(units)),
        "GRU": lambda: layers.GRU(units),
        "LSTM, unit_forget_bias=True": lambda: layers.LSTM(units),
        "LSTM, unit_forget_bias=False": lambda: layers.LSTM(units, unit_forget_bias=False),
    }
    return _fresh_reports(makers, T, batch, seed)


def _fresh_reports(makers, T, batch, seed, **analysis):
    """Each freshly built layer of ``makers`` (label -> function) on the same N(0, 1)
    inputs, loss = mean square of its output, analysed: dict label -> report."""
    data = np.random.default_rng(seed).normal(size=(batch, T, 4)).astype("float32")
    reports = {}
    for label, make in makers.items():
        tg.reset_default_graph()
        tg.initializers.reseed(seed)
        x = tg.placeholder((batch, T, 4), name="x")
        layer = make()
        loss = tg.reduce_mean(tg.square(layer(x)))
        reports[label] = tg.gradflow.analyze(loss, layer, {x: data}, **analysis)
    return reports


# --------------------------------------------------------------------------- the demo

def _progress(steps, quiet):
    """A tqdm bar on a terminal; piped (no terminal), plain lines instead, which the
    bar's carriage returns would garble."""
    if quiet or not sys.stderr.isatty():
        return range(steps), None
    try:
        from tqdm import tqdm
    except ImportError:
        return range(steps), None
    bar = tqdm(range(steps), desc="training", unit="step", leave=False)
    return bar, bar


def train(T, steps, batch, units, quiet=False, seed=0, monitor_every=None):
    """Train the demo model; returns (model dict, session, [(step, validation MSE)]).
    With ``monitor_every``, ``m["monitor"]`` is a ``tg.gradflow.Monitor`` that recorded
    the gradient flow on 16 validation sequences every that many steps."""
    tg.reset_default_graph()
    m = build_model(T, units)
    train_op = tg.optimizers.Adam(0.01).minimize(m["loss"])
    sess = tg.Session()
    rng = np.random.default_rng(seed)
    xv, yv = adding_problem(np.random.default_rng(99), 256, T)
    valid = {m["x"]: xv, m["y"]: yv}
    monitor = None if monitor_every is None else \
        tg.gradflow.Monitor(m["loss"], m["lstm"], every=monitor_every)
    probe = {m["x"]: xv[:16], m["y"]: yv[:16]}
    history = [(0, float(sess.run(m["loss"], valid)))]
    it, bar = _progress(steps, quiet)
    every = max(1, steps // 10)
    for step in it:
        if monitor is not None:
            monitor.record(sess, probe, step)
        xb, yb = adding_problem(rng, batch, T)
        loss, _ = sess.run([m["loss"], train_op], {m["x"]: xb, m["y"]: yb})
        if bar is not None and step % 10 == 0:
            bar.set_postfix(loss=f"{loss:.4f}")
        if (step + 1) % every == 0 or step + 1 == steps:
            history.append((step + 1, float(sess.run(m["loss"], valid))))
            if bar is None and not quiet:
                print(f"  step {step + 1:4d}/{steps}  validation MSE {history[-1][1]:.4f}")
    if bar is not None:
        bar.close()
    m.update(train_op=train_op, valid=valid, monitor=monitor)
    return m, sess, history


def run(out="tinygraph-demo", steps=None, quiet=False, quick=False, T=None, plot_format="png"):
    """The demo. ``quick`` is a tiny setting (a few seconds, for tests). Returns 0."""
    start = time.time()
    steps = steps if steps is not None else (QUICK["steps"] if quick else STEPS)
    T = T if T is not None else (QUICK["T"] if quick else SEQ_LEN)
    _check_setting(steps, T)
    units, batch = (8, 16) if quick else (16, 64)
    flow_T = 12 if quick else 50
    os.makedirs(out, exist_ok=True)

    def say(text=""):
        if not quiet:
            print(text)

    say(f"1. training LSTM({units}) -> Dense(1) on the adding problem, T={T}, "
        f"{steps} Adam steps of batch {batch} ...")
    m, sess, history = train(T, steps, batch, units, quiet=quiet,
                             monitor_every=max(1, steps // 20))
    say(f"   validation MSE {history[0][1]:.4f} -> {history[-1][1]:.4f} (predicting the mean "
        "scores about 0.17)")
    fused = _fused_kernels(sess.explain([m["train_op"]]))
    trained = tg.gradflow.analyze(m["loss"], m["lstm"], m["valid"], session=sess)
    gated = tg.gradflow.analyze(m["loss"], m["lstm"], m["valid"], session=sess, gates=True)
    say("2. pictures of a small LSTM (T=4):")
    written, notes = _pictures(out, say)
    written.append(_page(out, flow_T, say))
    say(f"3. gradient flow over T={flow_T} steps (fresh weights) and in the trained LSTM:")
    reports = flow_reports(T=flow_T)
    flow_files, flow_notes = _flow_files(out, reports, trained, T, flow_T, plot_format, say)
    written += flow_files
    notes += flow_notes
    say(f"   why: Jacobian spectra (T={flow_T}, fresh), gate saturation and the monitor:")
    spectra = spectrum_reports(T=flow_T)
    deeper, deeper_notes = _deeper_files(out, spectra, gated, m["monitor"], plot_format, say)
    written += deeper
    notes += deeper_notes
    lines = _summary_lines(T, steps, history, fused, reports, trained, flow_T, written)
    notes += _story_notes(quick, reports, trained)
    lines += _deeper_summary(spectra, gated, m["monitor"], flow_T)
    lines += [""] + notes + [f"demo took {time.time() - start:.1f} s"]
    summary = os.path.join(out, "summary.txt")
    with open(summary, "w") as f:
        f.write("\n".join(lines) + "\n")
    say("4. summary")
    say("\n".join("   " + line for line in lines[4:4 + len(reports) + 2]))
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {summary}")
    print(f"demo took {time.time() - start:.1f} s")
    return 0


def _check_setting(steps, T):
    """Early, clear errors for a setting the demo cannot run."""
    for name, v in (("steps", steps), ("seq-len (T)", T)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"demo: {name} must be a positive integer, got {v!r}")
    if T < 2:
        raise ValueError(f"demo: seq-len (T) must be at least 2 (the adding problem marks two "
                         f"positions), got {T}")


def _story_notes(quick, reports, trained):
    """What the pictures show, said plainly (and when the setting is too small)."""
    share = {label: r.norms("h")[0] / r.norms("h")[-1] for label, r in reports.items()}
    T = next(iter(reports.values())).T
    notes = [f"gradient_flow plot: each curve is ||dL/dh_t|| divided by its value at the last "
             f"step t={T - 1}: the share of the gradient at the output that gets back to step "
             f"t (the raw norms also carry each model's output scale, which says nothing "
             f"about how the gradient travels; they are in gradient_flow.txt). Back at t=0 "
             f"the share is " + ", ".join(f"{v:.1e} for {k}" for k, v in share.items()) +
             "."]
    rnn, lstm = (r.norms("h") / r.norms("h")[-1] for r in
                 (reports["SimpleRNN (tanh)"], reports["LSTM, unit_forget_bias=True"]))
    behind = [t for t in range(T - 1) if lstm[t] < rnn[t]]
    if behind:
        notes.append(f"Over the last {T - 1 - behind[0]} steps before the output the "
                     f"SimpleRNN's curve is above the LSTM's (its tanh path loses less per "
                     f"step than the LSTM's o * tanh'(c) at first); further back the LSTM's "
                     f"cell path, multiplied by forget gates near sigmoid(1), keeps more.")
    if "GRU" in share:
        notes.append(_gru_note(share, T))
    zeros = [g for g in trained.names if not trained.norms(g)[0] > 0]
    if zeros:
        notes.append(f"gradient_flow_trained plot: {', '.join(f'dL/dz_{g}' for g in zeros)} "
                     f"is exactly 0 at t=0 (the forget gate multiplies the zero initial c), "
                     f"which a log scale cannot draw: that point is left out")
    if quick:
        notes.append("--quick is too short to show the point (a few steps, short sequences): "
                     "its numbers may even favour the SimpleRNN; run without --quick")
    return notes


def _gru_note(share, T):
    """The GRU next to the others: the share kept per step, and why at initialisation."""
    per_step = {label: v ** (1 / (T - 1)) for label, v in share.items()}
    below = [k for k, v in per_step.items() if k != "GRU" and v > per_step["GRU"]]
    return ("Per step the share kept is, as a geometric mean, " +
            ", ".join(f"{v:.2f} for {k}" for k, v in per_step.items()) +
            (f"; the GRU keeps less than {' and '.join(below)}" if below else "") +
            ". A fresh GRU's direct path h_t-1 -> z_t * h_t-1 is scaled by its update gate "
            "z = sigmoid(x_z + r_z), 0.5 on average with zero biases, as a fresh LSTM's cell "
            "path is by f without unit_forget_bias (with it, f is near sigmoid(1) = 0.73); "
            "Keras' GRU has no such bias option: a trained GRU learns its z.")


def _fused_kernels(explanation):
    """The fused kernels a plan runs, as ``sess.explain`` words them."""
    return "fused kernels: " + (", ".join(f"{op} ({name})" for op, name in explanation.fused)
                                if explanation.fused else "none")


def _pictures(out, say):
    """Render the example graphs into ``out``: (paths, notes)."""
    written, missing_dot = [], None
    for name in ("unrolled", "fused", "gradients", "gradients-fused", "loop", "heatmap"):
        path, err = render_example(name, os.path.join(out, f"graph_{name.replace('-', '_')}.svg"))
        written.append(path)
        missing_dot = missing_dot or err
        say(f"   {path}")
    notes = [f"Graphviz's `dot` was not found, so the pictures are .dot files; {DOT_HINT}"] \
        if missing_dot else []
    return written, notes


def _page(out, T, say):
    """The interactive page of an unrolled LSTM (T steps) with its gradients, in a
    fresh graph: one offline HTML file where steps open and close with a click."""
    m = _small(T)
    grads = tg.gradients(m["loss"], m["lstm"].trainable_weights)
    path = tg.viz.render([m["loss"]] + grads, os.path.join(out, "graph.html"),
                         title=f"an unrolled LSTM (T={T}) and its gradients: click a "
                               f"[+] box to open it, a [−] frame to close it")
    say(f"   {path} (interactive: open it in a browser)")
    return path


def _flow_files(out, reports, trained, T, flow_T, plot_format, say):
    """The gradient-flow tables and plots: (paths, notes)."""
    tables = [f"||dL/dh_t|| per step t (processing order; the loss reads the last step), "
              f"T={flow_T}, fresh weights, N(0, 1) inputs\n"]
    for label, r in reports.items():
        tables.append(f"{label}:\n{r.table()}\n")
    tables.append(f"trained LSTM on the adding problem (T={T}), h, c and gate "
                  f"pre-activations:\n{trained.table()}\n")
    text_path = os.path.join(out, "gradient_flow.txt")
    with open(text_path, "w") as f:
        f.write("\n".join(tables))
    say(f"   {text_path}")
    try:
        p1 = tg.gradflow.plot_compare(
            reports, os.path.join(out, f"gradient_flow.{plot_format}"), relative=True,
            title=f"share of the output's gradient reaching step t, T={flow_T}, fresh weights")
        p2 = trained.plot(os.path.join(out, f"gradient_flow_trained.{plot_format}"),
                          title=f"trained LSTM, adding problem T={T}: h, c and gates")
    except ImportError:
        return [text_path], [f"matplotlib is not installed, so the curves are only in "
                             f"{text_path}; for the plots: {PLOT_HINT}"]
    say(f"   {p1}\n   {p2}")
    return [text_path, p1, p2], []


def _summary_lines(T, steps, history, fused, reports, trained, flow_T, written):
    first, last = history[0][1], history[-1][1]
    ratio = {label: r.norms("h")[0] / r.norms("h")[-1] for label, r in reports.items()}
    lines = [f"adding problem, T={T}: validation MSE {first:.4f} -> {last:.4f} after {steps} "
             f"Adam steps (always predicting the mean scores about 0.17)",
             "validation MSE by step: " + ", ".join(f"{s}: {v:.4f}" for s, v in history),
             f"training step: {fused}",
             "",
             f"gradient reaching the first step, ||dL/dh_0|| / ||dL/dh_last|| (fresh weights "
             f"over {flow_T} steps, trained over {T}):"]
    lines += [f"  {label:30s} {v:.2e}" for label, v in ratio.items()]
    hn = trained.norms("h")
    lines += [f"  {'trained LSTM (adding problem)':30s} {hn[0] / hn[-1]:.2e}", "",
              "files:"] + [f"  {p}" for p in written]
    return lines


# --------------------------------------------------------------------------- why it vanishes

def spectrum_reports(T=50, batch=4, units=16, seed=0):
    """Freshly initialised SimpleRNN, GRU and LSTM on N(0, 1) inputs, analysed with
    ``jacobians=True``: dict label -> report."""
    makers = {"SimpleRNN (tanh)": lambda: layers.RNN(layers.SimpleRNNCell(units)),
              "GRU": lambda: layers.GRU(units),
              "LSTM": lambda: layers.LSTM(units)}
    return _fresh_reports(makers, T, batch, seed, jacobians=True)


def _deeper_files(out, spectra, gated, monitor, ext, say):
    """The spectrum plot, the saturation plot and the monitor's heat map (and a text
    file with their numbers): (paths, notes)."""
    text = ["largest / smallest singular value of J_t per step (mean over the batch):"]
    for label, r in spectra.items():
        s = r.spectra()
        text.append(f"{label}:\n" + "\n".join(
            f"{t:4d}  {s[t, :, 0].mean():.3e}  {s[t, :, -1].mean():.3e}" for t in range(r.T)))
    text.append("\ngate saturation of the trained LSTM (fraction < 0.1, > 0.9) per step:")
    for gate in gated.saturating:
        low, high = gated.saturation(gate)
        text.append(f"{gate}: " + " ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(low, high)))
    text.append(f"\ngradient flow over training (tg.gradflow.Monitor):\n{monitor.table()}")
    text_path = os.path.join(out, "gradient_flow_why.txt")
    with open(text_path, "w") as f:
        f.write("\n".join(text) + "\n")
    say(f"   {text_path}")
    try:
        paths = [tg.gradflow.plot_spectra(spectra, os.path.join(out, f"jacobian_spectra.{ext}")),
                 tg.gradflow.plot_saturation(gated, os.path.join(out, f"gate_saturation.{ext}")),
                 monitor.heatmap(os.path.join(out, f"gradient_flow_training.{ext}"))]
    except ImportError:
        return [text_path], [f"matplotlib is not installed, so spectra, saturation and the "
                             f"training heat map are only in {text_path}; {PLOT_HINT}"]
    say("\n".join(f"   {p}" for p in paths))
    return [text_path] + paths, []


def _deeper_summary(spectra, gated, monitor, flow_T):
    lines = ["", f"why (fresh weights, T={flow_T}): the largest singular value of the state "
             "Jacobian J_t, mean over t (where it is below 1, that step shrinks every "
             "perturbation):"]
    lines += [f"  {label:30s} {r.norms('jac').mean():.3f}" for label, r in spectra.items()]
    lines.append(f"and of their product J_{flow_T - 1} ... J_1 (span(0, {flow_T - 1}), mean over "
                 "the batch): what a change of the first state does to the last")
    lines += [f"  {label:30s} {r.span(0, r.T - 1)[:, 0].mean():.2e}"
              for label, r in spectra.items()]
    lines.append("gate saturation of the trained LSTM, mean over t (fraction < 0.1 / > 0.9):")
    for gate in gated.saturating:
        low, high = gated.saturation(gate)
        lines.append(f"  {gate}: {low.mean():.2f} / {high.mean():.2f}")
    h = monitor.norms("h")
    lines.append(f"over training ({len(monitor.steps)} records, steps {monitor.steps[0]}.."
                 f"{monitor.steps[-1]}): ||dL/dh_0|| {h[0, 0]:.2e} -> {h[-1, 0]:.2e}, "
                 f"||dL/dh_last|| {h[0, -1]:.2e} -> {h[-1, -1]:.2e}")
    lines += ["  jacobian_spectra: largest (solid) and smallest (dashed) singular value of J_t "
              "per step; the product of T of them bounds how much of the gradient survives",
              "  gate_saturation: per gate, the fraction of units nearly closed (< 0.1) or open "
              "(> 0.9) per step; a saturated gate's pre-activation gets almost no gradient "
              "(sigmoid' ~ 0), while f open keeps the cell path d c_t / d c_t-1 = f_t near 1",
              "  gradient_flow_training: log10 ||dL/dh_t|| over (training step, t): how the "
              "reach of the gradient into the past changes as the LSTM learns"]
    return lines
