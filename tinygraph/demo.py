"""The demo: an LSTM, written with ``tg.scan``, learns the adding problem.

Each sequence holds random numbers and two marked positions; the target is the sum
of the two marked numbers, so the network must carry information across the whole
sequence. The demo trains with Adam, shows the loss going down, prints what the
Session compiled (``sess.explain``), and writes the numbers to ``<out>/summary.txt``.
"""
import os

import numpy as np

import tinygraph as tg


def adding_problem(rng, batch, T):
    values = rng.uniform(0, 1, (batch, T))
    marks = np.zeros((batch, T))
    for row in marks:
        row[rng.choice(T, 2, replace=False)] = 1
    x = np.stack([values, marks], axis=-1).astype("float32")
    return x, (values * marks).sum(1, keepdims=True).astype("float32")


def build_model(T, units=16, seed=0):
    rng = np.random.default_rng(seed)
    x = tg.placeholder((None, T, 2), name="x")
    y = tg.placeholder((None, 1), name="y")
    with tg.name_scope("lstm"):
        lim = np.sqrt(6 / (2 + 4 * units))
        W = tg.Variable(rng.uniform(-lim, lim, (2, 4 * units)).astype("float32"), name="kernel")
        q, _ = np.linalg.qr(rng.standard_normal((4 * units, units)))
        R = tg.Variable(q.T.astype("float32"), name="recurrent_kernel")
        b = tg.Variable(np.r_[np.zeros(units), np.ones(units), np.zeros(2 * units)].astype("float32"),
                        name="bias")

        def step(carry, x_t):
            h, c = carry
            i, f, g, o = tg.split(x_t @ W + h @ R + b, 4, axis=1)
            c = tg.sigmoid(f) * c + tg.sigmoid(i) * tg.tanh(g)
            h = tg.sigmoid(o) * tg.tanh(c)
            return (h, c), None

        h0 = tg.zeros([tg.shape(x)[0], units])
        (h, _), _ = tg.scan(step, tg.transpose(x, (1, 0, 2)), (h0, h0))
    with tg.name_scope("dense"):
        V = tg.Variable(rng.uniform(-0.3, 0.3, (units, 1)).astype("float32"), name="kernel")
        pred = h @ V
    loss = tg.losses.mean_squared_error(y, pred)
    return x, y, loss


def _progress(iterable, quiet):
    if quiet:
        return iterable
    try:
        from tqdm import tqdm
        return tqdm(iterable, desc="training", unit="step")
    except ImportError:
        return iterable


def run(out="tinygraph-demo", steps=600, quiet=False, T=10, batch=64):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    x, y, loss = build_model(T)
    train = tg.optimizers.Adam(0.01).minimize(loss)
    sess = tg.Session()
    xv, yv = adding_problem(np.random.default_rng(99), 256, T)
    first = sess.run(loss, {x: xv, y: yv})
    for _ in _progress(range(steps), quiet):
        xb, yb = adding_problem(rng, batch, T)
        sess.run(train, {x: xb, y: yb})
    last = sess.run(loss, {x: xv, y: yv})
    plan = sess.explain([train])
    summary = (f"adding problem, T={T}: validation MSE {first:.4f} -> {last:.4f} after "
               f"{steps} Adam steps (always predicting the mean scores about 0.17)\n\n"
               f"what the training step runs:\n{plan}\n")
    path = os.path.join(out, "summary.txt")
    with open(path, "w") as f:
        f.write(summary)
    print(summary.split("\n\n")[0])
    print(f"wrote {path}")
    return 0
