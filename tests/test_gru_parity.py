"""Parity with Keras for the GRU: every case of tests/fixtures/keras_gru.npz (made by
gen_keras_gru.py; format in tests/fixtures/README.md), built in tinygraph with the
stored weights, gives the stored outputs and the gradients of
L = sum_k sum(proj_k * out_k) with respect to the input, every weight and the initial
states: float64 to 1e-9, float32 to 1e-5. Each case runs unrolled and as a loop, on the
graph as built (optimize=False) and as a Session optimizes it by default.

The deliberate differences are those of the LSTM (tests/test_keras_parity.py, whose
check of zero_output_for_mask with return_sequences=False this reuses): tf-keras'
"hard_sigmoid" is our "hard_sigmoid_v1"; for a row whose last processed step is
masked we return the last kept output where Keras returns zeros.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from test_keras_parity import TOL, deviating_rows

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir import nest

DATA = np.load(Path(__file__).parent / "fixtures" / "keras_gru.npz", allow_pickle=False)
CASES = sorted({k.split("__")[0] for k in DATA.files})


def config(case):
    return json.loads(str(DATA[f"{case}__config"]))


def test_fixture_has_every_case():
    assert CASES == [f"case{i:03d}" for i in range(59)]
    kinds = [config(c)["kind"] for c in CASES]
    assert kinds.count("keras_rnn_grucell") == 20 and kinds.count("keras_gru") == 28
    cells = [config(c).get("cell") or config(c)["cells"][0] for c in CASES]
    # both conventions, both implementations, no bias, in both dtypes
    for key, values in [("reset_after", (True, False)), ("implementation", (1, 2)),
                        ("use_bias", (True, False))]:
        for value in values:
            assert {config(c)["dtype"] for c, cell in zip(CASES, cells)
                    if cell[key] == value} == {"float32", "float64"}, (key, value)


def _cell_kwargs(c, tf_keras):
    c = dict(c)
    if tf_keras:                 # tf-keras' hard_sigmoid is our hard_sigmoid_v1
        for key in ("activation", "recurrent_activation"):
            if c.get(key) == "hard_sigmoid":
                c[key] = "hard_sigmoid_v1"
    return c


def build_layer(cfg, unroll, **rnn_overrides):
    tf_keras = cfg["kind"].startswith("tfkeras_")
    base = cfg["kind"].split("_", 1)[1]
    rnn = dict(cfg["rnn"], unroll=unroll, **rnn_overrides)
    if base == "rnn_grucell":
        return layers.RNN(layers.GRUCell(**_cell_kwargs(cfg["cell"], tf_keras)), **rnn)
    if base == "gru":
        return layers.GRU(**_cell_kwargs(cfg["cell"], tf_keras), **rnn)
    if base == "stacked_gru":
        cells = [layers.GRUCell(**_cell_kwargs(c, tf_keras)) for c in cfg["cells"]]
        return layers.RNN(layers.StackedRNNCells(cells, dtype=cfg["dtype"]), **rnn)
    raise AssertionError(f"unknown kind {cfg['kind']}")


def call_layer(layer, cfg, x, inits, mask):
    kwargs = {}
    if cfg["has_mask"]:
        kwargs["mask"] = mask
    if cfg["has_initial_state"]:
        kwargs["initial_state"] = list(inits)
    return nest.flatten(layer(x, **kwargs))


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "optimized"])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
@pytest.mark.parametrize("case", CASES)
def test_gru_keras_parity(case, unroll, optimize):
    cfg = config(case)
    dtype = cfg["dtype"]
    get = lambda field: DATA[f"{case}__{field}"]   # noqa: E731
    n_w, n_init = len(cfg["weight_names"]), len(cfg["initial_state_names"])
    x_val = get("x")
    mask = get("mask") if cfg["has_mask"] else None
    init_vals = [get(f"init_{k}") for k in range(n_init)]

    x = tg.placeholder(x_val.shape, dtype)
    inits = [tg.placeholder(v.shape, dtype) for v in init_vals]
    layer = build_layer(cfg, unroll)
    outs = call_layer(layer, cfg, x, inits, mask)
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

    tol = TOL[dtype]
    for k, got in enumerate(values[:len(outs)]):
        want = get(f"out_{k}")
        assert got.dtype == np.dtype(dtype)
        if k == 0 and rows.any():
            np.testing.assert_allclose(got[~rows], want[~rows], **tol, err_msg="out_0")
            assert np.all(want[rows] == 0)          # what Keras does; ours: the last kept
            continue
        np.testing.assert_allclose(got, want, **tol, err_msg=cfg["output_names"][k])
    names = ["grad_x"] + [f"grad_w_{k}" for k in range(n_w)] + \
        [f"grad_init_{k}" for k in range(n_init)]
    for name, got in zip(names, values[len(outs):]):
        np.testing.assert_allclose(got, get(name), **tol, err_msg=name)
