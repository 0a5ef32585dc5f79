"""Loop op vs unrolled graph for an LSTM training step: graph size, compile time,
run time and peak memory at several sequence lengths.

    python examples/loop_vs_unrolled.py            # T = 100 and 1000
    python examples/loop_vs_unrolled.py --T 10 50  # other lengths

Compile time = graph build + first run - a warm run (BENCH.md's definition).
Peak memory is tracemalloc's peak during a warm run (NumPy buffers included).
"""
import argparse
import time
import tracemalloc

import numpy as np

import tinygraph as tg
from tinygraph.ir.graph import topo_nodes


def lstm_step(W, R, b):
    def step(carry, x):
        h, c = carry
        i, f, g, o = tg.split(x @ W + h @ R + b, 4, axis=1)
        c = tg.sigmoid(f) * c + tg.sigmoid(i) * tg.tanh(g)
        h = tg.sigmoid(o) * tg.tanh(c)
        return (h, c), h
    return step


def build(T, B, D, U, loop):
    rng = np.random.default_rng(0)
    x = tg.placeholder((T, B, D), name="x")
    W = tg.Variable(rng.uniform(-0.1, 0.1, (D, 4 * U)).astype("float32"), name="W")
    R = tg.Variable(rng.uniform(-0.1, 0.1, (U, 4 * U)).astype("float32"), name="R")
    b = tg.Variable(np.zeros(4 * U, "float32"), name="b")
    step = lstm_step(W, R, b)
    carry = (tg.zeros((B, U)), tg.zeros((B, U)))
    if loop:
        _, hs = tg.scan(step, x, carry)
    else:
        outs = []
        for t, x_t in enumerate(tg.unstack(x)):
            with tg.name_scope(f"step_{t}"):
                carry, h = step(carry, x_t)
            outs.append(h)
        hs = tg.stack(outs)
    loss = tg.reduce_sum(hs)
    return x, [loss] + tg.gradients(loss, [x, W, R, b])


def node_count(fetches):
    total = 0
    for n in topo_nodes(fetches):
        total += 1
        body = n.op.body             # a loop op declares its body
        if body is not None:
            total += node_count(body.outputs)
    return total


def measure(T, B=16, D=32, U=64, loop=True):
    tg.reset_default_graph()
    xs = np.random.default_rng(1).standard_normal((T, B, D)).astype("float32")
    t0 = time.perf_counter()
    x, fetches = build(T, B, D, U, loop)
    sess = tg.Session()
    sess.run(fetches, {x: xs})
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    sess.run(fetches, {x: xs})
    warm = time.perf_counter() - t1
    tracemalloc.start()
    sess.run(fetches, {x: xs})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"mode": "loop" if loop else "unrolled", "T": T, "nodes": node_count(fetches),
            "compile_s": first - warm, "run_s": warm, "peak_MB": peak / 2 ** 20}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", type=int, nargs="+", default=[100, 1000])
    args = p.parse_args(argv)
    print(f"{'mode':<9} {'T':>5} {'nodes':>7} {'compile s':>10} {'run s':>8} {'peak MB':>8}")
    rows = []
    for T in args.T:
        for loop in (True, False):
            r = measure(T, loop=loop)
            rows.append(r)
            print(f"{r['mode']:<9} {r['T']:>5} {r['nodes']:>7} {r['compile_s']:>10.3f} "
                  f"{r['run_s']:>8.3f} {r['peak_MB']:>8.1f}")
    return rows


if __name__ == "__main__":
    main()
