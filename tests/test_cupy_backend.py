"""The CuPy backend's own code and its CUDA kernels, checked on any machine.

Without a GPU, tests/cuda_emulation.py stands in for CuPy: the CUDA kernels' source is
compiled for the CPU and run element by element, device arrays refuse to mix with
host arrays. The kernels are checked against the NumPy kernels for every activation,
gate order and option, float32 and float64; where ``nvcc`` exists the same source is
compiled for the GPU too. On a machine with CuPy and a GPU the whole suite runs on the
real backend as well (the ``backend`` fixture in conftest.py)."""
import itertools
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.backends import NumpyBackend, cuda_common, cuda_lstm
from tinygraph.backends.cupy_backend import CupyBackend
from tinygraph.ops.activations import FUSABLE as ACTIVATIONS
from tinygraph.ops.lstm import (LSTMCellGradOp, LSTMCellOp, LSTMSequenceGradOp,
                                LSTMSequenceOp, _attrs)

import cuda_emulation
from cuda_emulation import DeviceArray

pytestmark = [pytest.mark.single_backend,
              pytest.mark.skipif(cuda_emulation.CXX is None, reason=cuda_emulation.SKIP_REASON)]

NUMPY = NumpyBackend()
# float32: libm's tanhf and NumPy's differ by an ulp or two
TOL = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=1e-5, atol=1e-6)}


@pytest.fixture
def gpu(monkeypatch):
    """A CupyBackend on the emulated CuPy; ``Session(backend="cupy")`` gets one too."""
    monkeypatch.setitem(sys.modules, "cupy", cuda_emulation.fake_cupy())
    monkeypatch.setitem(sys.modules, "cupyx", cuda_emulation.fake_cupyx())
    return CupyBackend()


def launches(be):
    """Kernel launches so far, by kernel name, on backend ``be``."""
    counts = {}
    for module in be.__dict__.get("_cuda_modules", {}).values():
        for name, k in module.kernels.items():
            counts[name] = counts.get(name, 0) + k.launches
    return counts


# ------------------------------------------------------------------ kernels vs NumPy

# every activation appears as the cell activation and as the recurrent one
ATTR_GRID = [
    dict(),
    dict(gate_order="ijfo", forget_bias=1.0),
    dict(activation="relu", recurrent_activation="hard_sigmoid"),
    dict(activation="linear", recurrent_activation="hard_sigmoid_v1"),
    dict(activation="sigmoid", recurrent_activation="tanh"),
    dict(activation="hard_sigmoid", recurrent_activation="relu"),
    dict(activation="hard_sigmoid_v1", recurrent_activation="linear"),
]
CELL_GRID = ATTR_GRID + [
    dict(gate_order="ijfo", forget_bias=1.0, peepholes=True, cell_clip=0.7),
    dict(peepholes=True, activation="relu"),
    dict(cell_clip=0.5, recurrent_activation="hard_sigmoid"),
]


def ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "default"


def assert_all_close(want, got, dtype):
    assert len(want) == len(got)
    for w, g in zip(want, got):
        if w is None:
            assert g is None
            continue
        assert type(g) is DeviceArray, type(g)
        np.testing.assert_allclose(np.asarray(g), w, **TOL[dtype])


def on(be, arrays):
    return [be.asarray(a) for a in arrays]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", CELL_GRID, ids=ids)
def test_cell_kernels_match_numpy(gpu, kw, dtype, rng):
    N, U = 5, 3
    attrs = _attrs(**kw)
    peep = [rng.normal(size=U).astype(dtype) for _ in range(3)] if attrs["peepholes"] else []
    z = rng.normal(size=(N, 4 * U)).astype(dtype) * 2
    c = rng.normal(size=(N, U)).astype(dtype)
    gh, gc = rng.normal(size=(N, U)).astype(dtype), rng.normal(size=(N, U)).astype(dtype)
    fwd, bwd = LSTMCellOp(**attrs), LSTMCellGradOp(**attrs)
    assert_all_close(fwd.compute(NUMPY, z, c, *peep),
                     cuda_lstm.cell_forward(fwd, gpu, *on(gpu, [z, c] + peep)), dtype)
    assert_all_close(bwd.compute(NUMPY, z, c, *peep, gh, gc),
                     cuda_lstm.cell_backward(bwd, gpu, *on(gpu, [z, c] + peep + [gh, gc])), dtype)
    assert launches(gpu) == {"tg_lstm_cell_fwd": 1, "tg_lstm_cell_bwd": 1}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kw", ATTR_GRID, ids=ids)
def test_sequence_kernels_match_numpy(gpu, kw, reverse, dtype, rng):
    T, B, D, U = 4, 3, 2, 5
    shapes = [(T, B, D), (B, U), (B, U), (D, 4 * U), (U, 4 * U), (4 * U,)]
    ins = [rng.normal(size=s).astype(dtype) for s in shapes]
    fwd = LSTMSequenceOp(reverse=reverse, **_attrs(**kw))
    bwd = LSTMSequenceGradOp(reverse=reverse, **_attrs(**kw))
    want = fwd.compute(NUMPY, *ins, needed=(True,) * 5)
    got = cuda_lstm.sequence_forward(fwd, gpu, *on(gpu, ins), needed=(True,) * 5)
    assert_all_close(want, got, dtype)
    hs, _, _, gates, cs = want
    cot = [rng.normal(size=s).astype(dtype) for s in [(T, B, U), (B, U), (B, U)]]
    want_g = bwd.compute(NUMPY, *ins, hs, gates, cs, *cot)
    got_g = cuda_lstm.sequence_backward(bwd, gpu, *on(gpu, ins + [hs, gates, cs] + cot))
    assert_all_close(want_g, got_g, dtype)
    assert launches(gpu) == {"tg_lstm_seq_fwd": T, "tg_lstm_seq_bwd": T}


def test_inference_keeps_no_gates_and_strided_inputs_are_made_contiguous(gpu, rng):
    T, B, D, U = 3, 2, 2, 3
    shapes = [(T, B, D), (B, U), (U, B), (D, 4 * U), (U, 4 * U), (4 * U,)]
    ins = [rng.normal(size=s) for s in shapes]
    ins[2] = ins[2].T                            # c0 as a transposed (strided) view
    op = LSTMSequenceOp(reverse=False, **_attrs())
    needed = (True, True, True, False, False)
    want = op.compute(NUMPY, *ins, needed=needed)
    dev = on(gpu, ins)
    dev[2] = gpu.asarray(ins[2].T).T
    assert not dev[2].flags.c_contiguous
    got = cuda_lstm.sequence_forward(op, gpu, *dev, needed=needed)
    assert got[3] is None and got[4] is None
    assert_all_close(want, got, "float64")


def test_unsupported_dtypes_and_broadcast_cells_take_the_generic_path(gpu, rng):
    op = LSTMCellOp(**_attrs())
    z, c = rng.normal(size=(2, 8)).astype("float16"), rng.normal(size=(2, 2)).astype("float16")
    got = cuda_lstm.cell_forward(op, gpu, *on(gpu, [z, c]))
    np.testing.assert_allclose(np.asarray(got[0], "float64"),
                               op.compute(NUMPY, z, c)[0], rtol=1e-3)
    z, c = rng.normal(size=(3, 8)), rng.normal(size=(1, 2))       # c broadcast over rows
    np.testing.assert_allclose(np.asarray(cuda_lstm.cell_forward(op, gpu, *on(gpu, [z, c]))[1]),
                               op.compute(NUMPY, z, c)[1])
    assert launches(gpu) == {}
    with pytest.raises(TypeError, match="float32 or float64, not float16"):
        cuda_lstm.module_source(op, "float16")


# ------------------------------------------------------------------ the emulator itself

def test_emulated_launches_are_checked_like_a_careful_gpu(gpu, rng):
    """The emulator must reject what would read the wrong memory on a GPU, or the
    comparisons above prove little."""
    kernel = gpu.compile_module(cuda_lstm.module_source(LSTMCellOp(**_attrs()), "float64")) \
        .get_function("tg_lstm_cell_fwd")
    z, c, h, c2 = (gpu.asarray(np.zeros(s)) for s in [(2, 8), (2, 2), (2, 2), (2, 2)])
    n, U = np.int32(4), np.int32(2)
    kernel((1,), (32,), (z, c, h, c2, n, U))
    with pytest.raises(ValueError, match="'c_prev' is not C-contiguous"):
        kernel((1,), (32,), (z, gpu.asarray(np.zeros((2, 2))).T, h, c2, n, U))
    with pytest.raises(TypeError, match="'z' is float32, the kernel reads double"):
        kernel((1,), (32,), (z.astype("float32"), c, h, c2, n, U))
    with pytest.raises(TypeError, match="scalar 'n' must be int32, got int"):
        kernel((1,), (32,), (z, c, h, c2, 4, U))
    with pytest.raises(TypeError, match="6 arguments expected, got 5"):
        kernel((1,), (32,), (z, c, h, n, U))
    with pytest.raises(ValueError, match="bad launch configuration"):
        kernel((1,), (2048,), (z, c, h, c2, n, U))
    with pytest.raises(TypeError, match="host numpy array"):
        z + np.ones((2, 8))


# ------------------------------------------------------------------ CUDA compilers

NVCC = shutil.which("nvcc")
TF1_OPTIONS = dict(peepholes=True, cell_clip=1.0, gate_order="ijfo", forget_bias=1.0)
ALL_CONFIGS = [dict(activation=a, recurrent_activation=r, **kw)
               for a, r in itertools.product(ACTIVATIONS, repeat=2) for kw in (dict(), TF1_OPTIONS)]


def _nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
        return nvrtc
    except Exception:               # CuPy or its NVRTC library is missing
        return None


@pytest.mark.skipif(_nvrtc() is None, reason="CuPy's NVRTC (nvidia-cuda-nvrtc) is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_configuration_compiles_with_nvrtc(dtype):
    """NVRTC is the compiler CuPy uses; it needs no GPU. Every pair of activations,
    with and without peepholes / clipping / TF1 gate order."""
    nvrtc = _nvrtc()
    for kw in ALL_CONFIGS:
        prog = nvrtc.createProgram(cuda_lstm.module_source(LSTMCellOp(**_attrs(**kw)), dtype),
                                   "lstm.cu", [], [])
        try:
            nvrtc.compileProgram(prog, ["-arch=compute_75"])
        except Exception:
            pytest.fail(f"{kw}: {nvrtc.getProgramLog(prog)}")
        ptx = nvrtc.getPTX(prog)
        ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
        assert all(f".entry {name}(" in ptx for name in cuda_lstm.KERNEL_NAMES), kw


@pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit) is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernels_compile_with_nvcc(tmp_path, dtype):
    """The CUDA compiler accepts every kernel for a spread of configurations (CuPy
    compiles the same source with NVRTC at first use)."""
    configs = [dict(), CELL_GRID[5], dict(activation="relu", recurrent_activation="hard_sigmoid_v1",
                                          peepholes=True), dict(activation="linear", cell_clip=3.0)]
    for k, kw in enumerate(configs):
        src = tmp_path / f"lstm{k}.cu"
        src.write_text(cuda_lstm.module_source(LSTMCellOp(**_attrs(**kw)), dtype))
        out = subprocess.run([NVCC, "--ptx", "-o", str(tmp_path / f"lstm{k}.ptx"), str(src)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        ptx = (tmp_path / f"lstm{k}.ptx").read_text()
        for name in cuda_lstm.KERNEL_NAMES:
            assert f".entry {name}(" in ptx, name


# ------------------------------------------------------------------ the backend end to end

def keras_training_step(unroll, implementation=2):
    x = tg.placeholder((None, 6, 3), "float32", name="x")
    lstm = layers.LSTM(4, return_sequences=True, unroll=unroll, implementation=implementation)
    loss = tg.reduce_mean(tg.square(lstm(x)))
    grads = tg.gradients(loss, lstm.weights)
    updates = [w.assign_add(-0.1 * g) for w, g in zip(lstm.weights, grads)]
    return x, loss, grads, updates


@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_keras_training_step_runs_the_cuda_kernels(gpu, unroll, rng):
    x, loss, grads, updates = keras_training_step(unroll)
    feed = {x: rng.normal(size=(5, 6, 3)).astype("float32")}
    want = tg.Session(backend="numpy").run([loss, grads], feed)
    sess = tg.Session(backend=gpu)
    got = sess.run([loss, grads], feed)
    for w, g in zip(tg.nest.flatten(want), tg.nest.flatten(got)):
        assert type(g) is np.ndarray                  # fetches come back to the host
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
    assert launches(gpu) == {"tg_lstm_seq_fwd": 6, "tg_lstm_seq_bwd": 6}


def test_tf1_cell_with_peepholes_and_clipping_runs_the_cell_kernels(gpu, rng):
    from tinygraph.layers import rnn_cell
    x = tg.placeholder((2, 3, 4), "float64")
    cell = rnn_cell.LSTMCell(5, use_peepholes=True, cell_clip=0.5, num_proj=3)
    out, _ = rnn_cell.dynamic_rnn(cell, x, dtype="float64")
    loss = tg.reduce_sum(tg.square(out))
    grads = tg.gradients(loss, cell.weights)
    feed = {x: rng.normal(size=(2, 3, 4))}
    want = tg.Session(backend="numpy").run([loss, grads], feed)
    got = tg.Session(backend=gpu).run([loss, grads], feed)
    for w, g in zip(tg.nest.flatten(want), tg.nest.flatten(got)):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13)
    # issue 15: the loop runs on the sequence kernels, one launch per step each way
    assert launches(gpu) == {"tg_lstm_seq_fwd": 3, "tg_lstm_seq_bwd": 3}


def test_variables_live_on_the_device_and_reach_the_host_when_read(gpu, monkeypatch):
    v = tg.Variable(np.arange(3.0), name="v")
    step = v.assign_add(tg.constant(np.ones(3)))
    sess = tg.Session(backend=gpu)
    moves = {"up": 0, "down": 0}
    up, down = gpu.xp.asarray, gpu.to_host

    def counted(kind, move):
        def call(*args):
            moves[kind] += 1
            return move(*args)
        return call
    monkeypatch.setattr(gpu.xp, "asarray", counted("up", up))
    monkeypatch.setattr(gpu, "to_host", counted("down", down))
    for _ in range(3):
        sess.run(step)
    # one upload of the Variable and one of the constant, nothing back to the host
    assert moves == {"up": 2, "down": 0}
    np.testing.assert_array_equal(v.value, [3.0, 4.0, 5.0])       # read: copied once
    np.testing.assert_array_equal(v.value, [3.0, 4.0, 5.0])
    assert moves["down"] == 1
    assert type(v.value) is np.ndarray
    v.assign_value(np.zeros(3))                   # a host-side change is seen
    np.testing.assert_array_equal(sess.run(v + 0.0), [0.0, 0.0, 0.0])
    sess.run(step)                                # another Session (here: NumPy) sees
    np.testing.assert_array_equal(tg.Session(backend="numpy").run(v), [1.0, 1.0, 1.0])


def test_saving_and_loading_weights_with_values_on_the_device(gpu, tmp_path, rng):
    x, loss, grads, updates = keras_training_step(unroll=False)
    sess = tg.Session(backend=gpu)
    feed = {x: rng.normal(size=(2, 6, 3)).astype("float32")}
    sess.run(updates, feed)
    from tinygraph.ops.variables import trainable_variables
    weights = trainable_variables(loss)
    path = tmp_path / "w.npz"
    tg.save_weights(path, weights)
    saved = [w.value.copy() for w in weights]
    sess.run(updates, feed)                       # move on, on the device ...
    tg.load_weights(path, weights)                # ... and back, from the host
    for w, s in zip(weights, saved):
        np.testing.assert_array_equal(w.value, s)
    np.testing.assert_allclose(sess.run(loss, feed), tg.Session(backend="numpy").run(loss, feed),
                               rtol=1e-5)


def test_keep_on_device_and_never_alias_a_variable_or_a_constant(gpu):
    v = tg.Variable(np.ones((2, 2)), name="w")
    k = tg.constant(np.full((2, 2), 3.0))
    y = v * 2.0 + k
    sess = tg.Session(backend=gpu)
    on_device = sess.run([y, v, tg.transpose(v), k], keep_on_device=True)
    assert all(type(a) is DeviceArray for a in on_device)
    for a in on_device[1:]:
        a[...] = 7.0                              # the caller's own copies
    np.testing.assert_array_equal(sess.run(y), 5.0 * np.ones((2, 2)))
    host = sess.run([y, v])
    assert all(type(a) is np.ndarray for a in host)


def test_seeded_random_replays_on_the_device(gpu):
    assert isinstance(tg.Session(backend="cupy").backend, CupyBackend)
    r = tg.random_uniform((5,), seed=3)
    d = tg.dropout_mask((1000,), 0.25, seed=4)
    sess = tg.Session(backend="cupy")            # each new Session starts the stream anew
    a, b = sess.run(r), tg.Session(backend="cupy").run(r)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sess.run(r), a)    # and a Session's stream moves on
    assert type(a) is np.ndarray and np.all((a >= 0) & (a < 1))
    m = sess.run(d)
    assert set(np.unique(m)) <= {np.float32(0.0), np.float32(1 / 0.75)}
    assert 0.2 < np.mean(m == 0) < 0.3


def test_default_backend_and_environment_variable(gpu, monkeypatch):
    monkeypatch.delenv(tg.backends.ENV_VAR, raising=False)
    tg.backends.set_default(None)
    assert tg.backends.default() == "numpy"
    monkeypatch.setenv(tg.backends.ENV_VAR, "cupy")
    assert isinstance(tg.Session().backend, CupyBackend)
    tg.backends.set_default("numpy")                    # set_default wins over the variable
    assert isinstance(tg.Session().backend, NumpyBackend)
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        tg.backends.set_default("tpu")
    assert tg.backends.default() == "numpy"              # unchanged by the failed call
    tg.backends.set_default(None)
    monkeypatch.setenv(tg.backends.ENV_VAR, "tpu")
    with pytest.raises(ValueError, match="from the TINYGRAPH_BACKEND environment variable"):
        tg.Session()


# ------------------------------------------------------------------ the error path

def test_missing_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy -> ImportError
    assert "cupy" not in tg.backends.available()
    with pytest.raises(tg.backends.BackendUnavailable) as e:
        tg.Session(backend="cupy")
    assert "CuPy is not installed" in str(e.value)
    assert "pip install '.[cuda]'" in str(e.value)
    with pytest.raises(tg.backends.BackendUnavailable, match="CuPy is not installed"):
        tg.backends.set_default("cupy")


@pytest.mark.parametrize("count, message", [
    (0, "this machine has no CUDA GPU"),
    (RuntimeError("cudaErrorInsufficientDriver"),
     "no CUDA device is usable (cudaErrorInsufficientDriver)"),
])
def test_cupy_without_a_gpu_is_a_clear_error(monkeypatch, count, message):
    fake = cuda_emulation.fake_cupy()

    def device_count():
        if isinstance(count, Exception):
            raise count
        return count
    fake.cuda.runtime.getDeviceCount = device_count
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert "cupy" not in tg.backends.available()
    with pytest.raises(tg.backends.BackendUnavailable) as e:
        tg.Session(backend="cupy")
    assert "backend 'cupy' cannot run here" in str(e.value) and message in str(e.value)


# ------------------------------------------------------------------ the benchmark

def test_bench_times_the_fused_lstm_on_another_backend(gpu, tmp_path, capsys):
    import json
    from tinygraph.tools.cli import main
    out = tmp_path / "bench.json"
    assert main(["bench", "train-S", "--quick", "--rounds", "1", "--no-peers",
                 "--backend", "cupy", "--json", str(out)]) == 0
    (w,) = json.loads(out.read_text())["workloads"]
    assert w["peers"]["tinygraph fused (cupy)"] == "ok"
    assert w["contenders"]["tinygraph fused (cupy)"]["ratio_to_fused"] > 0
    assert "tinygraph fused (cupy)" in capsys.readouterr().out


def test_bench_reports_an_unusable_backend_and_goes_on(monkeypatch, tmp_path, capsys):
    import json
    from tinygraph.tools.cli import main
    monkeypatch.setitem(sys.modules, "cupy", None)
    out = tmp_path / "bench.json"
    assert main(["bench", "train-S", "--quick", "--rounds", "1", "--no-peers",
                 "--backend", "cupy", "--json", str(out)]) == 0
    (w,) = json.loads(out.read_text())["workloads"]
    assert "tinygraph fused (cupy)" not in w["contenders"]
    assert "CuPy is not installed" in w["peers"]["tinygraph fused (cupy)"]
    assert "CuPy is not installed" in capsys.readouterr().out


def test_device_arrays_can_be_fed_back_without_a_round_trip(gpu, monkeypatch, rng):
    x = tg.placeholder((None, 3), "float32", name="x")
    y = tg.tanh(x) * 2.0
    sess = tg.Session(backend=gpu)
    first = sess.run(y, {x: rng.normal(size=(4, 3))}, keep_on_device=True)
    monkeypatch.setattr(gpu, "to_host", lambda a: pytest.fail("copied to the host"))
    second = sess.run(y, {x: first}, keep_on_device=True)
    np.testing.assert_allclose(np.asarray(second), np.tanh(np.asarray(first)) * 2, rtol=1e-6)
    with pytest.raises(ValueError, match=r"'x': expected shape \(None, 3\), got \(4, 3, 1\)"):
        sess.run(y, {x: first.reshape(4, 3, 1)})
    f64 = sess.run(y, {x: first.astype("float64")}, keep_on_device=True)   # converted on the device
    assert type(f64) is DeviceArray and f64.dtype == np.float32


@pytest.mark.parametrize("max_blocks", [cuda_common.MAX_BLOCKS, 2], ids=["grid", "grid-stride"])
def test_kernels_cover_every_element_with_many_blocks(gpu, monkeypatch, max_blocks, rng):
    """Over 256 elements: several blocks; with MAX_BLOCKS=2, each thread also strides."""
    monkeypatch.setattr(cuda_common, "MAX_BLOCKS", max_blocks)
    T, B, D, U = 2, 40, 3, 25                    # B * U = 1000 elements per step
    shapes = [(T, B, D), (B, U), (B, U), (D, 4 * U), (U, 4 * U), (4 * U,)]
    ins = [rng.normal(size=s) for s in shapes]
    op = LSTMSequenceOp(reverse=False, **_attrs())
    assert_all_close(op.compute(NUMPY, *ins, needed=(True,) * 5),
                     cuda_lstm.sequence_forward(op, gpu, *on(gpu, ins), needed=(True,) * 5),
                     "float64")
    z, c = rng.normal(size=(B, 4 * U)), rng.normal(size=(B, U))
    cell = LSTMCellOp(**_attrs())
    assert_all_close(cell.compute(NUMPY, z, c), cuda_lstm.cell_forward(cell, gpu, *on(gpu, [z, c])),
                     "float64")
