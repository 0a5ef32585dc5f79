"""Parity with Keras: every case of tests/fixtures/keras_lstm.npz (format in
tests/fixtures/README.md), built in tinygraph with the stored weights, must give the
stored outputs and the gradients of L = sum_k sum(proj_k * out_k) with respect to the
input, every weight and the initial states. Each case runs unrolled and as a loop,
each on the graph as built (optimize=False: the layers' own math) and as a Session
optimizes it by default (passes, LSTM fusion).

Where tinygraph deliberately differs, the test checks what we promise instead:
- ``tfkeras_*`` cases: tf-keras' "hard_sigmoid" is ``clip(0.2x + 0.5, 0, 1)``, which
  tinygraph calls "hard_sigmoid_v1" ("hard_sigmoid" is Keras 3's ``clip(x/6 + 0.5)``).
- ``zero_output_for_mask=True`` with ``return_sequences=False``: Keras returns 0 for a
  row whose last processed step is masked; tinygraph returns the output of the last
  kept step. For those rows the output is compared with the same layer built with
  zero_output_for_mask=False (which Keras' own cases pin down), and the gradients with
  Keras' after zeroing the projection of those rows (Keras' output there is the
  constant 0, so its projection does not reach Keras' gradients).
"""
import json
from pathlib import Path

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir import nest

DATA = np.load(Path(__file__).parent / "fixtures" / "keras_lstm.npz", allow_pickle=False)
CASES = sorted({k.split("__")[0] for k in DATA.files})
TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}


def config(case):
    return json.loads(str(DATA[f"{case}__config"]))


def test_fixture_has_every_case():
    assert len(CASES) == 87
    assert CASES == [f"case{i:03d}" for i in range(87)]


def build_layer(cfg, unroll, **rnn_overrides):
    kind = cfg["kind"]
    tf_keras = kind.startswith("tfkeras_")
    base = kind.split("_", 1)[1]

    def cell_kwargs(c):
        c = dict(c)
        if tf_keras:            # tf-keras' hard_sigmoid is our hard_sigmoid_v1
            for key in ("activation", "recurrent_activation"):
                if c.get(key) == "hard_sigmoid":
                    c[key] = "hard_sigmoid_v1"
        return c

    rnn = dict(cfg["rnn"], unroll=unroll, **rnn_overrides)
    if base == "rnn_lstmcell":
        return layers.RNN(layers.LSTMCell(**cell_kwargs(cfg["cell"])), **rnn)
    if base == "simplernn":
        return layers.RNN(layers.SimpleRNNCell(**cell_kwargs(cfg["cell"])), **rnn)
    if base == "lstm":
        return layers.LSTM(**cell_kwargs(cfg["cell"]), **rnn)
    if base == "stacked":
        cells = [layers.LSTMCell(**cell_kwargs(c)) for c in cfg["cells"]]
        return layers.RNN(layers.StackedRNNCells(cells, dtype=cfg["dtype"]), **rnn)
    raise AssertionError(f"unknown kind {kind}")


def call_layer(layer, cfg, x, inits, mask):
    kwargs = {}
    if cfg["has_mask"]:
        kwargs["mask"] = mask
    if cfg["has_initial_state"]:
        if cfg["kind"].endswith("stacked"):
            kwargs["initial_state"] = [inits[0:2], inits[2:4]]
        else:
            kwargs["initial_state"] = list(inits)
    return nest.flatten(layer(x, **kwargs))


def deviating_rows(cfg, mask):
    """Rows where Keras zeroes the last output but we return the last kept output."""
    rnn = cfg["rnn"]
    if not (cfg["has_mask"] and rnn.get("zero_output_for_mask") and not rnn["return_sequences"]):
        return np.zeros(cfg["batch"], bool)
    last_processed = mask[:, 0] if rnn["go_backwards"] else mask[:, -1]
    return ~last_processed & mask.any(axis=1)


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "optimized"])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
@pytest.mark.parametrize("case", CASES)
def test_keras_parity(case, unroll, optimize):
    cfg = config(case)
    dtype = cfg["dtype"]
    get = lambda field: DATA[f"{case}__{field}"]   # noqa: E731
    n_w = len(cfg["weight_names"])
    n_init = len(cfg["initial_state_names"])
    x_val = get("x")
    mask = get("mask") if cfg["has_mask"] else None
    init_vals = [get(f"init_{k}") for k in range(n_init)]

    x = tg.placeholder(x_val.shape, dtype)
    inits = [tg.placeholder(v.shape, dtype) for v in init_vals]
    layer = build_layer(cfg, unroll)
    outs = call_layer(layer, cfg, x, inits, mask)
    assert len(outs) == cfg["n_outputs"]
    assert [list(o.shape) for o in outs] == cfg["output_shapes"]
    assert [w.shape for w in layer.weights] == [tuple(s) for s in cfg["weight_shapes"]]
    layer.set_weights([get(f"w_{k}") for k in range(n_w)])

    projs = [get(f"proj_{k}") for k in range(len(outs))]
    rows = deviating_rows(cfg, mask)
    if rows.any():
        projs[0] = projs[0] * ~rows[:, None]
    loss = tg.add_n([tg.reduce_sum(o * p) for o, p in zip(outs, projs)])
    wrt = [x] + layer.weights + inits
    grads = tg.gradients(loss, wrt)
    feed = {x: x_val, **dict(zip(inits, init_vals))}
    values = tg.Session(optimize=optimize).run(outs + grads, feed)
    got_outs, got_grads = values[:len(outs)], values[len(outs):]

    tol = TOL[dtype]
    for k, got in enumerate(got_outs):
        want = get(f"out_{k}")
        assert got.dtype == np.dtype(dtype)
        if k == 0 and rows.any():
            np.testing.assert_allclose(got[~rows], want[~rows], **tol, err_msg=f"out_{k}")
            assert np.all(want[rows] == 0)          # what Keras does
            continue
        np.testing.assert_allclose(got, want, **tol, err_msg=f"out_{k} ({cfg['output_names'][k]})")
    names = ["grad_x"] + [f"grad_w_{k}" for k in range(n_w)] + [f"grad_init_{k}" for k in range(n_init)]
    for name, got in zip(names, got_grads):
        np.testing.assert_allclose(got, get(name), **tol, err_msg=name)

    if rows.any():
        # Our promise: the output of the last kept step, as with zero_output_for_mask=False.
        ref_layer = build_layer(cfg, unroll, zero_output_for_mask=False)
        ref = call_layer(ref_layer, cfg, x, inits, mask)[0]
        ref_layer.set_weights(layer.get_weights())
        got, want = tg.Session(optimize=optimize).run([outs[0], ref], feed)
        np.testing.assert_allclose(got, want, **tol)
        assert np.all(np.any(got[rows] != 0, axis=1))      # not the zeros Keras gives
