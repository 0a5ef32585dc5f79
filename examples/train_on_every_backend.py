"""Train the same LSTM on every backend this machine has, and compare.

The task: predict the running mean of a noisy signal (regression, MSE). The same
graph, the same initial weights and the same batches run on NumPy and, where CuPy
sees a GPU, on CuPy; the loss curves agree to float32 precision. On a device the
data is uploaded once and fed as device arrays, and only the loss comes back to
the host, one number per step.

    python examples/train_on_every_backend.py [--steps 40] [--backend numpy --backend cupy]
"""
import argparse
import time

import numpy as np

import tinygraph as tg
from tinygraph import layers

T, FEATURES = 30, 4


def make_data(rng, n):
    x = rng.normal(size=(n, T, FEATURES)).astype(np.float32)
    y = (np.cumsum(x[..., :1], axis=1) / np.arange(1, T + 1)[None, :, None]).astype(np.float32)
    return x, y


def build(units, seed):
    """A fresh graph: inputs, loss and the Adam training op, weights seeded."""
    tg.reset_default_graph()
    tg.set_random_seed(seed)
    x = tg.placeholder((None, T, FEATURES), name="x")
    y = tg.placeholder((None, T, 1), name="y")
    hidden = layers.LSTM(units, return_sequences=True)(x)
    prediction = layers.Dense(1)(hidden)
    loss = tg.losses.mean_squared_error(y, prediction)
    return x, y, loss, tg.optimizers.Adam(0.01).minimize(loss)


def train(backend, data, steps, batch, units, seed):
    """Losses per step and the median step time (s) on ``backend``."""
    x, y, loss, train_op = build(units, seed)
    sess = tg.Session(backend=backend)
    xs, ys = (sess.backend.asarray(a) for a in data)    # on a device: uploaded once
    losses, times = [], []
    for step in range(steps):
        lo = (step * batch) % (len(data[0]) - batch + 1)
        feed = {x: xs[lo:lo + batch], y: ys[lo:lo + batch]}
        start = time.perf_counter()
        value, _ = sess.run([loss, train_op], feed)     # the loss comes back, nothing else
        times.append(time.perf_counter() - start)
        losses.append(float(value))
    return np.array(losses), float(np.median(times[1:] or times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", action="append", metavar="NAME",
                        help="a backend to train on (repeatable; default: every available one)")
    args = parser.parse_args(argv)

    for name, (ok, reason) in tg.backends.status().items():
        print(f"backend {name}: {'available' if ok else 'unavailable: ' + reason}")
    backends = args.backend or tg.backends.available()
    data = make_data(np.random.default_rng(args.seed), 4 * args.batch)
    results = {}
    try:
        for b in backends:
            losses, step_time = train(b, data, args.steps, args.batch, args.units, args.seed)
            results[b] = losses
            print(f"{b:6s} loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
                  f"{1000 * step_time:.1f} ms per training step")
    finally:
        tg.set_random_seed(None)
    names = list(results)
    for other in names[1:]:
        gap = np.max(np.abs(results[other] - results[names[0]]) / np.abs(results[names[0]]))
        print(f"largest relative difference of the loss curves, {names[0]} vs {other}: {gap:.1e}")
    return results


if __name__ == "__main__":
    main()
