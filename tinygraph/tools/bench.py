"""``python -m tinygraph bench``: LSTM (and GRU) speed, side by side (docs/benchmarks.md).

Machines are noisy, so every figure is a ratio measured in one process: the
contenders run in turn (A B C A B C ...) after a warm-up, with a pause between two
contenders (PyTorch's OpenMP threads and XLA's workers spin on after a call and would
steal the next one's cores), and we report medians of per-round times and of
per-round ratios. BLAS is pinned to the same thread count for everyone
(threadpoolctl; torch.set_num_threads; TF intra 2 / inter 1). Peers (PyTorch,
TensorFlow/Keras, JAX) are optional imports: a missing one is reported as "not
installed". Each target of docs/benchmarks.md is printed as met or missed.
"""
import functools
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

import tinygraph as tg
from tinygraph import layers
from tinygraph.layers import rnn_cell
from tinygraph.ops import lstm_numba

WORKLOADS = {
    # name: (B, T, I, H, train)
    "train-L": (64, 100, 128, 256, True),
    "infer-L": (64, 100, 128, 256, False),
    "train-S": (1, 20, 16, 32, True),
    "long": (16, 1000, 32, 64, True),
    "tf1-L": (64, 100, 128, 256, True),
    "gru-train-L": (64, 100, 128, 256, True),
}
# the cell each workload's LSTM uses: "tf1" is rnn_cell.LSTMCell(use_peepholes=True,
# cell_clip=3) under dynamic_rnn (peers without peepholes run their plain LSTM)
# "gru" is layers.GRU (reset_after=True: PyTorch's nn.GRU and cuDNN's semantics), against
# the peers' GRUs (GRU_PEERS)
CELLS = {"tf1-L": "tf1", "gru-train-L": "gru"}
PAUSE_S = 0.3                 # between two contenders: spinning peer threads settle
PEERS_NAMES = ("pytorch", "keras", "jax")
FLOOR = "GEMMs only (floor)"     # a contender: the fused op's GEMMs alone (gemm_floor_step)


def flops(B, T, I, H, train, gates=4):
    """Useful FLOPs of an LSTM layer: forward 8*T*B*H*(I+H), training three times that
    (a GRU, ``gates=3``: 6 and 18)."""
    return (6 if train else 2) * gates * T * B * H * (I + H)


def limit_threads(n):
    """Pin BLAS/OpenMP pools to ``n`` threads; returns the controller (keep it alive)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n)


# ----------------------------------------------------------------------- contenders

def tinygraph_step(B, T, I, H, train, optimize, unroll=False, backend="numpy", cell="keras"):
    tg.reset_default_graph()
    rng = np.random.default_rng(0)
    x = tg.placeholder((B, T, I), name="x")
    if cell == "tf1":
        tf1 = rnn_cell.LSTMCell(H, use_peepholes=True, cell_clip=3.0)
        y, _ = rnn_cell.dynamic_rnn(tf1, x, dtype="float32")
        weights = tf1.weights
    elif cell == "gru":
        gru = layers.GRU(H, return_sequences=True, unroll=unroll)
        y = gru(x)
        weights = gru.weights
    else:
        lstm = layers.LSTM(H, return_sequences=True, unroll=unroll)
        y = lstm(x)
        weights = lstm.weights
    loss = tg.reduce_sum(y)
    fetches = [loss] + (tg.gradients(loss, [x] + weights) if train else [])
    sess = tg.Session(backend=backend, optimize=optimize)
    feed = {x: rng.standard_normal((B, T, I)).astype("float32")}
    return lambda: sess.run(fetches, feed), sess


def torch_step(B, T, I, H, train, threads, layer="LSTM"):
    """PyTorch's ``nn.LSTM`` (or ``nn.GRU``, ``layer="GRU"``) step."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm = getattr(torch.nn, layer)(I, H, batch_first=True)
    x = torch.randn(B, T, I, requires_grad=train)

    def train_step():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = lstm(x)
        out.sum().backward()

    def infer_step():
        with torch.no_grad():
            lstm(x)
    return train_step if train else infer_step


def keras_step(B, T, I, H, train, threads, layer="LSTM"):
    """Keras 3's ``LSTM`` (or ``GRU``) under tf.function, gradients by GradientTape."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass                      # already initialized: keep what it has
    import keras
    lstm = getattr(keras.layers, layer)(H, return_sequences=True)
    x = tf.constant(np.random.default_rng(0).standard_normal((B, T, I)).astype("float32"))
    lstm(x)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(lstm(x))
        return tape.gradient(loss, [x] + lstm.trainable_weights)

    @tf.function
    def infer_step():
        return lstm(x)
    fn = train_step if train else infer_step
    return lambda: [t.numpy() for t in tf.nest.flatten(fn())]


def jax_step(B, T, I, H, train, threads, cell="keras"):
    import jax
    import jax.numpy as jnp
    key = jax.random.PRNGKey(0)
    k1, k2 = jax.random.split(key)
    W = jax.random.uniform(k1, (I, 4 * H), minval=-0.1, maxval=0.1)
    R = jax.random.uniform(k2, (H, 4 * H), minval=-0.1, maxval=0.1)
    b = jnp.zeros(4 * H)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((T, B, I)).astype("float32"))

    tf1 = cell == "tf1"                     # peepholes p (3, H) and cell_clip 3, as TF1's
    p = jnp.full((3, H), 0.1) if tf1 else None

    def layer(x, W, R, b):
        def step(carry, x_t):
            h, c = carry
            i, f, g, o = jnp.split(x_t @ W + h @ R + b, 4, axis=-1)
            if tf1:
                i, f = i + p[0] * c, f + 1.0 + p[1] * c
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            if tf1:
                c = jnp.clip(c, -3.0, 3.0)
                o = o + p[2] * c
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h
        zeros = jnp.zeros((x.shape[1], H))
        return jax.lax.scan(step, (zeros, zeros), x)[1]

    if train:
        fn = jax.jit(jax.grad(lambda *a: layer(*a).sum(), argnums=(0, 1, 2, 3)))
    else:
        fn = jax.jit(layer)
    return lambda: jax.block_until_ready(fn(x, W, R, b))


PEERS = {"pytorch": torch_step, "keras": keras_step, "jax": jax_step}


def jax_gru_step(B, T, I, H, train, threads):
    import jax
    import jax.numpy as jnp
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    W = jax.random.uniform(k1, (I, 3 * H), minval=-0.1, maxval=0.1)
    R = jax.random.uniform(k2, (H, 3 * H), minval=-0.1, maxval=0.1)
    b = jnp.zeros((2, 3 * H))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((T, B, I)).astype("float32"))

    def layer(x, W, R, b):
        def step(h, x_t):                   # reset_after, as Keras 3 and nn.GRU
            xz, xr, xh = jnp.split(x_t @ W + b[0], 3, axis=-1)
            hz, hr, hn = jnp.split(h @ R + b[1], 3, axis=-1)
            z, r = jax.nn.sigmoid(xz + hz), jax.nn.sigmoid(xr + hr)
            h = z * h + (1 - z) * jnp.tanh(xh + r * hn)
            return h, h
        return jax.lax.scan(step, jnp.zeros((x.shape[1], H)), x)[1]
    fn = jax.jit(jax.grad(lambda *a: layer(*a).sum(), argnums=(0, 1, 2, 3)))
    return lambda: jax.block_until_ready(fn(x, W, R, b))


# the GRU workload's peers (training steps only)
GRU_PEERS = {"pytorch": functools.partial(torch_step, layer="GRU"),
             "keras": functools.partial(keras_step, layer="GRU"), "jax": jax_gru_step}


def gemm_floor_step(B, T, I, H, train, gates=4):
    """The GEMMs alone of tinygraph's fused sequence op for this workload, with NumPy's
    BLAS, on arrays made once: every step's input projection as one GEMM, one
    ``h @ R`` a step, and for training one ``d @ R.T`` a step and the input and weight
    gradients as GEMMs over all steps, the shapes the kernels use
    (ops/lstm_kernels.py, gru_kernels.py). No NumPy kernel of this workload can be
    faster than this with this BLAS: where it is slower than a peer, so is the target."""
    rng = np.random.default_rng(0)

    def a(*shape):
        return (0.1 * rng.standard_normal(shape)).astype("float32")
    G = gates * H
    x, W, R, hs, dz = a(T * B, I), a(I, G), a(H, G), a(T, B, H), a(T, B, G)
    zx, out, dh = np.empty((T * B, G), "float32"), np.empty((T, B, G), "float32"), a(B, H)
    gx, gW, gR = np.empty((T * B, I), "float32"), np.empty_like(W), np.empty_like(R)
    RT, d2 = R.T, dz.reshape(T * B, G)

    def step():
        np.matmul(x, W, out=zx)
        for t in range(T):
            np.matmul(hs[t - 1] if t else dh, R, out=out[t])
        if train:
            for t in range(T - 1, -1, -1):
                np.matmul(dz[t], RT, out=dh)
            np.matmul(d2, W.T, out=gx)
            np.matmul(x.T, d2, out=gW)
            np.matmul(hs[:-1].reshape(-1, H).T, dz[1:].reshape(-1, G), out=gR)
            gR[...] += np.matmul(dh.T, dz[0])
    return step


# ----------------------------------------------------------------------- measuring

def matmul_gflops(n=1024, repeats=3):
    a = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    a @ a
    best = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ a
        best.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(best) / 1e9


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _compiled(step, on):
    """``step`` run with (``on``) or without the compiled sequence loops of
    ops/lstm_numba.py."""
    def run():
        with lstm_numba.compiled_loops(on):
            return step()
    return run


def run_workload(name, rounds=5, threads=2, peers=True, shape=None, backends=(), pause=PAUSE_S):
    """Interleaved rounds of every contender on one workload, ``pause`` seconds between
    two contenders. ``backends``: more tinygraph backends to time (fused)."""
    B, T, I, H, train = shape or WORKLOADS[name]
    cell = CELLS.get(name, "keras")
    contenders, status = {}, {}
    fused = tinygraph_step(B, T, I, H, train, True, cell=cell)[0]
    # with TINYGRAPH_NUMBA=1 (the optional extra "fast"), the compiled loops get a row of
    # their own; "tinygraph fused" stays the default loops (host kernels or NumPy steps)
    contenders["tinygraph fused"] = _compiled(fused, False) if lstm_numba.ENABLED else fused
    contenders["tinygraph unfused"] = tinygraph_step(B, T, I, H, train, False, cell=cell)[0]
    contenders[FLOOR] = gemm_floor_step(B, T, I, H, train, gates=3 if cell == "gru" else 4)
    if lstm_numba.ENABLED:
        contenders["tinygraph numba"] = _compiled(fused, True)
    for b in backends:
        key = f"tinygraph fused ({b})"
        try:
            contenders[key] = tinygraph_step(B, T, I, H, train, True, backend=b, cell=cell)[0]
            status[key] = "ok"
        except Exception as e:               # e.g. BackendUnavailable: say so, go on
            status[key] = f"unavailable: {e}"
    if peers:
        for peer, make in (GRU_PEERS if cell == "gru" else PEERS).items():
            try:
                contenders[peer] = make(B, T, I, H, train, threads, **(
                    {"cell": cell} if peer == "jax" and cell != "gru" else {}))
                status[peer] = "ok"
            except ImportError:
                status[peer] = "not installed"
            except Exception as e:          # a peer that breaks must not stop the benchmark
                status[peer] = f"failed: {type(e).__name__}: {e}"
    for fn in contenders.values():           # warm-up (compiles, caches)
        fn()
        fn()
    times = {k: [] for k in contenders}
    peaks = []
    for _ in range(rounds):
        peaks.append(matmul_gflops())
        for k, fn in contenders.items():
            gc.collect()
            time.sleep(pause)
            times[k].append(_time(fn))
    peak = statistics.median(peaks)
    useful = flops(B, T, I, H, train, gates=3 if cell == "gru" else 4)
    rows = {}
    for k, ts in times.items():
        ratios = [t / f for t, f in zip(ts, times["tinygraph fused"])]
        med = statistics.median(ts)
        rows[k] = {"median_ms": 1000 * med, "ratio_to_fused": statistics.median(ratios),
                   "share_of_matmul_peak": useful / med / 1e9 / peak}
    ran = [p for p in PEERS_NAMES if p in times]
    # the fastest peer of each round is the reference: fused time / its time, median
    def vs_peer(k):
        return statistics.median(f / min(times[p][r] for p in ran)
                                 for r, f in enumerate(times[k])) if ran else None
    return {"workload": name, "shape": {"B": B, "T": T, "I": I, "H": H, "train": train},
            "cell": cell, "matmul_gflops": peak, "gflop": useful / 1e9, "contenders": rows,
            "peers": status, "fused_vs_fastest_peer": vs_peer("tinygraph fused"),
            "floor_vs_fastest_peer": vs_peer(FLOOR),
            "fastest_peer": min(ran, key=lambda p: rows[p]["median_ms"]) if ran else None}


def linearity(quick=False, rounds=5):
    """Training-step time of the ``long`` workload at T and 10*T (same B, I, H):
    an LSTM is linear in T, so the ratio should be about 10."""
    B, T, I, H, _ = WORKLOADS["long"]
    Ts = (10, 100) if quick else (T // 10, T)
    steps = [tinygraph_step(B, t, I, H, True, optimize=True)[0] for t in Ts]
    for s in steps:
        s()
    ratios = []
    for _ in range(rounds):
        a, b = (_time(s) for s in steps)
        ratios.append(b / a)
    return {"T": list(Ts), "ratio": statistics.median(ratios)}


def compile_times(T_values=(100, 1000), B=16, I=32, H=64):
    """Graph build + first run - warm run, for unroll=True and the loop op."""
    out = []
    for T in T_values:
        for unroll in (False, True):
            t0 = time.perf_counter()
            step, _ = tinygraph_step(B, T, I, H, True, optimize=True, unroll=unroll)
            step()
            first = time.perf_counter() - t0
            warm = _time(step)
            out.append({"T": T, "mode": "unrolled" if unroll else "loop",
                        "compile_s": max(first - warm, 0.0), "warm_s": warm})
    return out


def rss_mb():
    """Resident memory of this process now (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20
    except OSError:
        return None


def peak_rss_growth(step, interval=0.0005):
    """How far resident memory rises above its level before ``step()`` while it runs
    (MB), sampled by a thread."""
    base = rss_mb()
    if base is None:
        return None
    peak, done = [base], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(interval)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    step()
    done.set()
    th.join()
    return max(peak[0], rss_mb()) - base


def _first_step_rss(contender, shape, threads):
    """In a fresh process: build the contender's training step (and warm it up
    once), then report how far resident memory rises during one step (MB)."""
    code = ("import json; from tinygraph.tools import bench; "
            f"keep = bench.limit_threads({threads}); "
            f"step = bench.make_step({contender!r}, {tuple(shape)!r}, {threads}); step(); "
            "print(json.dumps(bench.peak_rss_growth(step)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return "not installed" if "ModuleNotFoundError" in last else f"failed: {last}"
    return float(done.stdout.strip().splitlines()[-1])


def make_step(contender, shape, threads=2):
    """The step function of one contender, by name (for subprocess measurements)."""
    B, T, I, H, train = shape
    if contender == "tinygraph fused":
        return tinygraph_step(B, T, I, H, train, optimize=True)[0]
    if contender == "tinygraph unfused":
        return tinygraph_step(B, T, I, H, train, optimize=False)[0]
    return PEERS[contender](B, T, I, H, train, threads)


def memory(shape=None, threads=2, peers=True):
    """Peak memory of one training step: the growth of peak RSS during a first step,
    each contender in its own process; plus, for tinygraph, the plan's peak of live
    intermediate buffers and the bytes liveness freed before the step ended."""
    shape = shape or WORKLOADS["train-L"]
    res = {}
    step, sess = tinygraph_step(*shape, optimize=True)
    step()
    stats = sess.last_run_stats
    res["tinygraph plan peak_MB"] = stats["peak_bytes"] / 2 ** 20
    res["tinygraph liveness freed_MB"] = (stats["total_bytes"] - stats["peak_bytes"]) / 2 ** 20
    for name in ["tinygraph fused", "tinygraph unfused"] + (["pytorch"] if peers else []):
        res[f"{name} rss_MB"] = _first_step_rss(name, shape, threads)
    return res


def run(workloads=None, rounds=5, threads=2, peers=True, json_path=None, quick=False, out=print,
        backends=()):
    """The whole benchmark; prints a table and returns (and optionally writes) the figures."""
    keep = limit_threads(threads)
    names = list(workloads or WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            raise ValueError(f"unknown workload {n!r}; choose from {', '.join(WORKLOADS)}")
    results = {"threads": threads, "rounds": rounds, "workloads": []}
    for n in names:
        shape = None
        if quick:
            B, T, I, H, train = WORKLOADS[n]
            shape = (min(B, 4), min(T, 6), min(I, 8), min(H, 8), train)
        r = run_workload(n, rounds=rounds, threads=threads, peers=peers, shape=shape,
                         backends=backends)
        results["workloads"].append(r)
        out(format_workload(r))
    if "long" in names:
        results["long_linearity"] = linearity(quick)
        out(f"\nlong: time(T={results['long_linearity']['T'][1]}) / time(T="
            f"{results['long_linearity']['T'][0]}) = {results['long_linearity']['ratio']:.2f} "
            f"(linear: {results['long_linearity']['T'][1] / results['long_linearity']['T'][0]:.0f})")
    results["compile"] = compile_times((5, 20) if quick else (100, 1000))
    out(format_compile(results["compile"]))
    results["memory"] = memory(shape=(2, 5, 4, 4, True) if quick else None, threads=threads,
                               peers=peers)
    out("memory: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in results["memory"].items()))
    results["targets"] = targets(results)
    out(format_targets(results["targets"], quick))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
        out(f"wrote {json_path}")
    del keep
    return results


def format_workload(r):
    s = r["shape"]
    lines = [f"\n{r['workload']}: B={s['B']} T={s['T']} I={s['I']} H={s['H']} "
             f"({'training step' if s['train'] else 'forward'}, {r['gflop']:.2f} GFLOP; "
             f"matmul peak {r['matmul_gflops']:.1f} GFLOP/s)",
             f"  {'contender':<20} {'median ms':>10} {'x fused':>8} {'% peak':>7}"]
    for k, row in r["contenders"].items():
        lines.append(f"  {k:<20} {row['median_ms']:>10.2f} {row['ratio_to_fused']:>8.2f} "
                     f"{100 * row['share_of_matmul_peak']:>6.1f}%")
    for peer, st in r["peers"].items():
        if st != "ok":
            lines.append(f"  {peer:<20} {st}")
    return "\n".join(lines)


def format_compile(rows):
    lines = ["\ncompile time (build + first run - warm run):"]
    for r in rows:
        lines.append(f"  {r['mode']:<9} T={r['T']:<5} {r['compile_s']:.3f} s")
    return "\n".join(lines)


# ----------------------------------------------------------------------- targets

def _target(rows, figure, target, value, ok, floor=None):
    """A target's row; ``floor``: the same ratio for the GEMMs alone (FLOOR), where the
    target compares tinygraph with a peer."""
    rows.append({"figure": figure, "target": target, "value": value,
                 "met": None if value is None else bool(ok(value)), "floor": floor})


def targets(results):
    """Each target of docs/benchmarks.md as {figure, target, value, met}; value and met
    are None where this run did not measure it (a peer or a workload missing)."""
    by = {w["workload"]: w for w in results["workloads"]}
    rows = []

    def fused(n):
        return by[n]["contenders"]["tinygraph fused"]
    for n in ("train-L", "infer-L", "long", "tf1-L", "train-S", "gru-train-L"):
        if n in by:
            _target(rows, f"{n}: fused / fastest peer ({by[n]['fastest_peer'] or 'none ran'})",
                    "<= 1.0x", by[n]["fused_vs_fastest_peer"], lambda v: v <= 1.0,
                    floor=by[n].get("floor_vs_fastest_peer"))
    if "train-L" in by:
        _target(rows, "train-L: share of matmul peak", ">= 70%",
                fused("train-L")["share_of_matmul_peak"], lambda v: v >= 0.7)
    if "train-L" in by and "tf1-L" in by:
        _target(rows, "tf1-L / train-L (tinygraph fused)", "<= 1.15x",
                fused("tf1-L")["median_ms"] / fused("train-L")["median_ms"], lambda v: v <= 1.15)
    lin = results.get("long_linearity")
    if lin:
        n = lin["T"][1] / lin["T"][0]
        _target(rows, f"long: time(T={lin['T'][1]}) / time(T={lin['T'][0]})",
                f"about {n:.0f} (within 20%)", lin["ratio"], lambda v: abs(v / n - 1) <= 0.2)
    loop = {r["T"]: r["compile_s"] for r in results.get("compile", []) if r["mode"] == "loop"}
    if len(loop) == 2:
        small, big = sorted(loop)
        _target(rows, f"compile, loop op, T={big}", f"< 0.2 s and <= 1.2x T={small}",
                loop[big], lambda v: v < 0.2 and v <= 1.2 * max(loop[small], 1e-3))
    mem = results.get("memory", {})
    ours, theirs = mem.get("tinygraph fused rss_MB"), mem.get("pytorch rss_MB")
    if isinstance(ours, float):
        value = ours / theirs if isinstance(theirs, float) and theirs > 0 else None
        _target(rows, "peak memory, train-L: fused / PyTorch", "<= 1.0x", value, lambda v: v <= 1.0)
    return rows


def format_targets(rows, quick=False):
    lines = ["\ntargets" + (" (quick shapes: not the real figures)" if quick else "") + ":"]
    for r in rows:
        mark = {True: "met", False: "MISSED", None: "n/a"}[r["met"]]
        value = "-" if r["value"] is None else f"{r['value']:.3g}"
        floor = r.get("floor")
        floor = "" if floor is None else \
            f"; NumPy's GEMMs alone: {floor:.3g}" + (" (out of reach)" if floor > 1 else "")
        lines.append(f"  [{mark:<6}] {r['figure']:<52} {value:>8}  (target {r['target']}{floor})")
    return "\n".join(lines)
