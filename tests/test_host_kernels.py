"""The NumPy backend's host kernels (backends/host_kernels.py, host_lstm.py): the CUDA
kernels' C source compiled for the CPU runs the fused LSTM and GRU ops' gate math.

They are checked against the NumPy ufunc steps (the same ops with host kernels off),
values and gradients, for every kind of sequence the layers build, and for the
compiler's side: every kernel's element loop vectorises, a missing or failing compiler
falls back with a reason, builds are cached on disk, NaN passes through as in NumPy."""
import re
import subprocess
import threading
import warnings

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.backends import cuda_gru, cuda_lstm, host_kernels, host_lstm
from tinygraph.layers import rnn_cell
from tinygraph.ops import gru as gru_ops, lstm as lstm_ops
from tinygraph.ops.activations import FUSABLE

pytestmark = pytest.mark.single_backend       # the NumPy backend's own kernels
needs_compiler = pytest.mark.skipif(host_kernels.CXX is None, reason="no C++ compiler here")

B, T, D, U = 3, 6, 4, 5
MASK = np.array([[1, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0]], bool)


def keras(layer, call=None, **kw):
    def build(x):
        lyr = getattr(layers, layer)(U, return_sequences=True, dtype=x.dtype, **kw)
        args = {k: tg.constant(v) if isinstance(v, np.ndarray) else v
                for k, v in (call or {}).items()}
        return lyr(x, **args), lyr.weights
    return build


def tf1(**kw):
    def build(x):
        cell = rnn_cell.LSTMCell(U, dtype=x.dtype, **kw)
        y, _ = rnn_cell.dynamic_rnn(cell, x, dtype=x.dtype)
        return y, cell.weights
    return build


# name: (how the model is built, what must have run on the host: "loops" is the LSTM
# sequence's host loops, "launch" the CUDA overrides' kernels launched on the host)
CASES = {
    "lstm": (keras("LSTM"), "loops"),
    "lstm go_backwards": (keras("LSTM", go_backwards=True), "loops"),
    "lstm relu / hard_sigmoid": (keras("LSTM", activation="relu",
                                       recurrent_activation="hard_sigmoid"), "loops"),
    "lstm impl 1, dropout, recurrent_dropout": (keras(
        "LSTM", {"training": True}, implementation=1, dropout=0.3, recurrent_dropout=0.3,
        seed=3), "loops"),
    "lstm masked": (keras("LSTM", {"mask": MASK}), "launch"),
    "lstm masked, zero_output_for_mask": (keras(
        "LSTM", {"mask": MASK}, zero_output_for_mask=True), "launch"),
    "lstm unrolled": (keras("LSTM", unroll=True), "loops"),
    "lstm unrolled, masked (cell by cell)": (keras("LSTM", {"mask": MASK}, unroll=True),
                                             "launch"),
    "tf1 peepholes, cell_clip, forget_bias": (tf1(use_peepholes=True, cell_clip=0.4,
                                                  forget_bias=1.0), "loops"),
    "tf1 num_proj, proj_clip": (tf1(num_proj=3, proj_clip=0.2, use_peepholes=True), "launch"),
    "gru": (keras("GRU"), "launch"),
    "gru reset_after=False": (keras("GRU", reset_after=False), "launch"),
    "gru masked, go_backwards": (keras("GRU", {"mask": MASK},
                                       go_backwards=True), "launch"),
    "gru impl 1, recurrent_dropout": (keras("GRU", {"training": True}, implementation=1,
                                            recurrent_dropout=0.3, seed=4), "launch"),
    "gru unrolled": (keras("GRU", unroll=True), "launch"),
}


def _model(build, dtype, seed=0):
    """(fetches: loss, outputs, gradients w.r.t. the input and every weight; the feed)
    of one model in a fresh default graph."""
    tg.reset_default_graph()
    rng = np.random.default_rng(seed)
    x = tg.placeholder((B, T, D), dtype)
    y, weights = build(x)
    loss = tg.reduce_sum(y * tg.constant(rng.standard_normal(y.shape).astype(dtype)))
    fetches = [loss, y] + tg.gradients(loss, [x] + weights)
    return fetches, {x: rng.standard_normal((B, T, D)).astype(dtype)}


def _run(fetches, feed):
    sess = tg.Session(optimize=True)
    return sess.run(fetches, feed), sess.explain(fetches)


@pytest.fixture
def host_calls(monkeypatch):
    """Counts of what ran on the host: the LSTM's host loops and kernel launches."""
    calls = {"loops": 0, "launch": 0}
    forward, launch = host_lstm.HostLoops.forward, host_kernels.HostKernel.__call__

    def counted_forward(self, *a, **kw):
        calls["loops"] += 1
        return forward(self, *a, **kw)

    def counted_launch(self, *a):
        calls["launch"] += 1
        return launch(self, *a)
    monkeypatch.setattr(host_lstm.HostLoops, "forward", counted_forward)
    monkeypatch.setattr(host_kernels.HostKernel, "__call__", counted_launch)
    return calls


@needs_compiler
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(CASES))
def test_host_kernels_match_the_numpy_steps(name, dtype, host_calls, monkeypatch):
    build, runs_on = CASES[name]
    fetches, feed = _model(build, dtype)
    got, why = _run(fetches, feed)
    assert host_calls[runs_on] > 0, f"{name}: nothing ran on the host ({host_calls})"
    assert "fused kernels run as: host kernels" in why
    monkeypatch.setattr(host_kernels, "ENABLED", False)
    want, why = _run(fetches, feed)
    assert "NumPy ufunc steps (host kernels off: TINYGRAPH_HOST_KERNELS=0)" in why
    rtol, atol = (1e-12, 1e-13) if dtype == "float64" else (2e-5, 2e-6)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol * max(1.0, np.abs(w).max()))


def _vectorised_kernels(source):
    """{kernel name: whether the compiler vectorised its element loop} of a module."""
    full = host_kernels.full_source(source)
    out = subprocess.run([host_kernels.CXX, *host_kernels.FLAGS, "-fopt-info-vec-optimized",
                          "-x", "c++", "-", "-o", "/dev/null"], input=full, text=True,
                         capture_output=True, check=True).stderr
    done = {int(n) for n in re.findall(r"<stdin>:(\d+):\d+: optimized: loop vectorized", out)}
    starts = [(number, m.group(1)) for number, line in enumerate(full.splitlines(), 1)
              for m in [re.search(r'extern "C" __global__ void (\w+)', line)] if m]
    ends = [n for n, _ in starts[1:]] + [len(full.splitlines()) + 1]
    # a kernel's only loop is its GRID_LOOP: vectorised if a line of it is reported
    return {name: any(start <= n < end for n in done) for (start, name), end in zip(starts, ends)}


@needs_compiler
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act,ract", list(zip(FUSABLE, FUSABLE[1:] + FUSABLE[:1])))
def test_every_kernel_loop_is_vectorised(act, ract, dtype):
    """A kernel whose loop stays scalar is a silent slow path (a C library call per
    element, as fmin/fmax were before tg_fmin): every one must vectorise, with every
    activation as the cell's and as the gates' (the LSTM with peepholes and clipping)."""
    lstm = lstm_ops.LSTMSequenceOp(**lstm_ops._attrs(act, ract, peepholes=True, cell_clip=1.0),
                                   reverse=False)
    for source, names in ((cuda_lstm.module_source(lstm, dtype), cuda_lstm.KERNEL_NAMES),
                          *[(cuda_gru.module_source(gru_ops.GRUSequenceOp(
                              activation=act, recurrent_activation=ract, reset_after=ra,
                              reverse=False), dtype), cuda_gru.KERNEL_NAMES)
                            for ra in (True, False)]):
        found = _vectorised_kernels(source)
        assert sorted(found) == sorted(names)
        assert all(found.values()), f"{act}/{ract} {dtype}: not vectorised: " + \
            ", ".join(k for k, ok in found.items() if not ok)


@pytest.fixture
def fresh_host(monkeypatch, tmp_path):
    """Host kernels built anew into an empty cache, state restored after."""
    monkeypatch.setenv("TINYGRAPH_CACHE", str(tmp_path))
    monkeypatch.setattr(host_kernels, "_state", {"reason": None})
    host_kernels._module.cache_clear()
    yield tmp_path
    host_kernels._module.cache_clear()


def test_without_a_compiler_the_numpy_steps_run_and_explain_says_why(monkeypatch, fresh_host):
    monkeypatch.setattr(host_kernels, "CXX", None)
    assert host_kernels.status() == (False, "no C++ compiler (c++ or g++; or set $CXX)")
    got, why = _run(*_model(CASES["lstm"][0], "float64"))
    assert "fused kernels run as: NumPy ufunc steps (host kernels off: no C++ compiler" in why
    with pytest.raises(tg.backends.BackendUnavailable, match="no C\\+\\+ compiler"):
        host_kernels.compile_module("// nothing")
    assert np.isfinite(got[0])


@needs_compiler
def test_a_failing_compiler_warns_once_and_the_numpy_steps_run(monkeypatch, fresh_host):
    monkeypatch.setattr(host_kernels, "CXX", "false")       # exits 1 whatever it is given
    monkeypatch.setattr(host_kernels, "_compiler_id", lambda: "false (a failing compiler)")
    fetches, feed = _model(CASES["lstm"][0], "float64")
    with pytest.warns(RuntimeWarning, match="the C\\+\\+ compiler failed on the kernels"):
        got, _ = _run(fetches, feed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # not a second time
        again, why = _run(fetches, feed)
    on, reason = host_kernels.status()
    assert not on and reason.startswith("the C++ compiler failed on the kernels")
    assert "NumPy ufunc steps (host kernels off: the C++ compiler failed" in why
    for g, a in zip(got, again):
        np.testing.assert_array_equal(g, a)
    assert list(fresh_host.iterdir()) == []                 # no half-written library left


@needs_compiler
def test_a_module_is_compiled_once_and_then_loaded_from_the_cache(monkeypatch, fresh_host):
    op = lstm_ops.LSTMSequenceOp(**lstm_ops._attrs(), reverse=False)
    source = cuda_lstm.module_source(op, "float32")
    assert host_kernels.module(source) is not None
    assert [p.suffix for p in fresh_host.iterdir()] == [".so"]
    host_kernels._module.cache_clear()                      # a new process, as it were
    real = subprocess.run

    def no_compiling(args, *a, **kw):
        assert args[0] != host_kernels.CXX or "--version" in args, "compiled again"
        return real(args, *a, **kw)
    monkeypatch.setattr(subprocess, "run", no_compiling)
    assert host_kernels.module(source) is not None


@needs_compiler
@pytest.mark.parametrize("name", ["tf1 peepholes, cell_clip, forget_bias", "lstm relu / hard_sigmoid"])
def test_nan_passes_through_the_clips_as_in_numpy(name, monkeypatch):
    """The host's fmin/fmax are compares that keep NaN, as NumPy's clip does (the C
    library's fmin would turn fmin(NaN, 3) into 3)."""
    x = tg.placeholder((B, T, D), "float64")
    y, _ = CASES[name][0](x)
    feed = np.random.default_rng(0).standard_normal((B, T, D))
    feed[1, 2, 0] = np.nan

    def run():
        with np.errstate(invalid="ignore"):
            return tg.Session(optimize=True).run(y, {x: feed})
    got = run()
    monkeypatch.setattr(host_kernels, "ENABLED", False)
    want = run()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[1, 2:]).all() and not np.isnan(got[0]).any()
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-12)


@needs_compiler
def test_a_kernel_refuses_an_array_that_is_not_contiguous():
    op = lstm_ops.LSTMSequenceOp(**lstm_ops._attrs(), reverse=False)
    kernel = host_kernels.compile_module(cuda_lstm.module_source(op, "float64")) \
        .get_function("tg_lstm_seq_fwd")
    a = np.zeros((2, 8))
    strided = np.zeros((2, 4))[:, ::2]
    with pytest.raises(ValueError, match="tg_lstm_seq_fwd: .* shape \\(2, 2\\) is not C-contiguous"):
        kernel((1,), (1,), (a, a, strided, strided, strided, np.int32(4), np.int32(2)))


@needs_compiler
def test_sessions_in_threads_get_the_same_numbers():
    """The kernels keep no state: sessions running in parallel threads agree."""
    fetches, feed = _model(CASES["lstm"][0], "float64")
    want = _run(fetches, feed)[0]
    results = [None] * 4

    def work(k):
        results[k] = tg.Session(optimize=True).run(fetches, feed)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
