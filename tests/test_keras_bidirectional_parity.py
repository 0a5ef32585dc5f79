"""Parity with Keras 3: every case of tests/fixtures/keras_bidirectional.npz (format in
tests/fixtures/README.md), ``layers.Bidirectional`` around an LSTM, SimpleRNN or GRU
built with the stored weights, must give the stored outputs and the gradients of
L = sum_k sum(proj_k * out_k) with respect to the input, every weight and the initial
states: float64 to 1e-9, float32 to 1e-5. Each case runs unrolled and as a loop, each
on the graph as built (optimize=False) and as a Session optimizes it (passes,
fusion); an optimized LSTM case also shows, in ``explain``, both directions fused."""
import json
from pathlib import Path

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

DATA = np.load(Path(__file__).parent / "fixtures" / "keras_bidirectional.npz",
               allow_pickle=False)
CASES = sorted({k.split("__")[0] for k in DATA.files})
TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}
INNER = {"LSTM": layers.LSTM, "SimpleRNN": layers.SimpleRNN, "GRU": layers.GRU}


def config(case):
    return json.loads(str(DATA[f"{case}__config"]))


def test_fixture_has_every_case():
    assert CASES == [f"case{i:03d}" for i in range(58)]
    kinds = [config(c)["inner"] for c in CASES]
    assert (kinds.count("LSTM"), kinds.count("SimpleRNN"), kinds.count("GRU")) == (44, 6, 8)
    modes = {(config(c)["inner"], config(c)["merge_mode"]) for c in CASES}
    assert {m for k, m in modes if k == "LSTM"} == {"concat", "sum", "mul", "ave", None}
    assert {m for k, m in modes if k == "GRU"} == {"concat", "sum", "mul", "ave", None}


def build_layer(cfg, unroll):
    cls, dtype = INNER[cfg["inner"]], cfg["dtype"]
    rnn = dict(cfg["rnn"], unroll=unroll, dtype=dtype)
    backward = None
    if cfg["backward"] is not None:
        backward = cls(**cfg["backward"], **rnn)
    return layers.Bidirectional(cls(**cfg["inner_kwargs"], **rnn), merge_mode=cfg["merge_mode"],
                                backward_layer=backward)


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "optimized"])
@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "loop"])
@pytest.mark.parametrize("case", CASES)
def test_keras_bidirectional_parity(case, unroll, optimize):
    cfg = config(case)
    dtype = cfg["dtype"]
    get = lambda field: DATA[f"{case}__{field}"]   # noqa: E731
    n_w, n_init = len(cfg["weight_names"]), len(cfg["initial_state_names"])
    x_val = get("x")
    init_vals = [get(f"init_{k}") for k in range(n_init)]
    x = tg.placeholder(x_val.shape, dtype)
    inits = [tg.placeholder(v.shape, dtype) for v in init_vals]
    layer = build_layer(cfg, unroll)
    kwargs = {}
    if cfg["has_mask"]:
        kwargs["mask"] = get("mask")
    if n_init:
        kwargs["initial_state"] = inits
    outs = tg.nest.flatten(layer(x, **kwargs))
    assert [list(o.shape) for o in outs] == cfg["output_shapes"]
    assert [w.shape for w in layer.weights] == [tuple(s) for s in cfg["weight_shapes"]]
    layer.set_weights([get(f"w_{k}") for k in range(n_w)])

    loss = tg.add_n([tg.reduce_sum(o * get(f"proj_{k}")) for k, o in enumerate(outs)])
    grads = tg.gradients(loss, [x] + layer.weights + inits)
    feed = {x: x_val, **dict(zip(inits, init_vals))}
    sess = tg.Session(optimize=optimize)
    values = sess.run(outs + grads, feed)
    names = [f"out_{k}" for k in range(len(outs))] + ["grad_x"] + \
        [f"grad_w_{k}" for k in range(n_w)] + [f"grad_init_{k}" for k in range(n_init)]
    for name, got in zip(names, values):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, get(name), **TOL[dtype], err_msg=name)

    if optimize and cfg["inner"] == "LSTM":
        why = sess.explain(outs + grads, feed)
        fused = [name for op, name in why.fused if op in ("lstm_sequence", "lstm_cell")]
        for direction in (layer.forward_layer, layer.backward_layer):   # whole or per step
            assert any(n.startswith(f"{layer.name}/{direction.name}/") for n in fused), str(why)
