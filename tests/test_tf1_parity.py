"""Parity with TF1's ``tf.compat.v1.nn.rnn_cell.LSTMCell``, ``dynamic_rnn`` and
``static_rnn``: every case of tests/fixtures/tf1_lstm.npz (format in
tests/fixtures/README.md) rebuilt in tinygraph, weights assigned by TF's names,
then outputs, final states and the gradients of L = sum_k sum(proj_k * out_k)
with respect to x, every weight and the initial state compared."""
import json
import os

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.layers import rnn_cell

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "tf1_lstm.npz")
TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}


def _load():
    with np.load(FIXTURE, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    cases = sorted({k.split("__")[0] for k in data})
    return data, cases


DATA, CASES = _load()


def _case(name):
    fields = {k.split("__", 1)[1]: v for k, v in DATA.items() if k.startswith(name + "__")}
    return json.loads(str(fields.pop("config"))), fields


def _case_id(name):
    cfg, _ = _case(name)
    cell = cfg["cell"]
    bits = [cfg["kind"][4:], cfg["dtype"], cfg["run_variant"]]
    bits += [k for k in ("use_peepholes",) if cell[k]]
    bits += [f"{k}={cell[k]}" for k in ("cell_clip", "num_proj", "proj_clip", "activation")
             if cell[k] is not None]
    if not cell["state_is_tuple"]:
        bits.append("concat_state")
    return f"{name}-" + "-".join(bits)


def test_fixture_is_complete():
    assert len(CASES) == 48
    assert CASES == [f"case{i:03d}" for i in range(48)]
    kinds = [_case(c)[0]["kind"] for c in CASES]
    assert kinds.count("tf1_cell_step") == 22
    assert kinds.count("tf1_dynamic_rnn") == 22
    assert kinds.count("tf1_static_rnn") == 4


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_tf1_parity(case, backend):
    cfg, f = _case(case)
    dtype = cfg["dtype"]
    cell = rnn_cell.LSTMCell(**cfg["cell"])   # the kwargs exactly as TF got them
    x = tg.placeholder(f["x"].shape, dtype, name="x")
    inits = [tg.placeholder(f[f"init_{k}"].shape, dtype, name=f"init_{k}")
             for k in range(len(cfg["initial_state_names"]))]
    state0 = None
    if inits:
        state0 = rnn_cell.LSTMStateTuple(*inits) if cfg["state_is_tuple"] else inits[0]

    kind = cfg["kind"]
    if kind == "tf1_cell_step":
        out, state = cell(x, state0)
    elif kind == "tf1_dynamic_rnn":
        out, state = rnn_cell.dynamic_rnn(cell, x, sequence_length=cfg["sequence_length"],
                                          initial_state=state0, **cfg["rnn"])
    else:
        outs, state = rnn_cell.static_rnn(cell, tg.unstack(x, axis=0), initial_state=state0,
                                          sequence_length=cfg["sequence_length"], **cfg["rnn"])
        out = tg.stack(outs, axis=0)
    if cfg["state_is_tuple"]:
        assert isinstance(state, rnn_cell.LSTMStateTuple)

    # Same weights, by TF's names, with TF's shapes.
    assert [w.name for w in cell.weights] == cfg["weight_names"]
    assert [list(w.shape) for w in cell.weights] == cfg["weight_shapes"]
    store = tg.get_default_graph().variable_store
    for k, name in enumerate(cfg["weight_names"]):
        store[name].assign_value(f[f"w_{k}"])

    results = [out] + tg.nest.flatten(state)
    assert len(results) == cfg["n_outputs"]
    assert [list(r.shape) for r in results] == cfg["output_shapes"]
    loss = tg.add_n([tg.reduce_sum(r * f[f"proj_{k}"]) for k, r in enumerate(results)])
    wrt = [x] + cell.weights + inits
    grads = tg.gradients(loss, wrt)
    want_grads = [f["grad_x"]] + [f[f"grad_w_{k}"] for k in range(len(cell.weights))] + \
        [f[f"grad_init_{k}"] for k in range(len(inits))]
    feed = {x: f["x"], **{p: f[f"init_{k}"] for k, p in enumerate(inits)}}

    for optimize in (True, False):
        got_out, got_grads = tg.Session(backend=backend, optimize=optimize).run(
            [results, grads], feed)
        for k, (name, got) in enumerate(zip(cfg["output_names"], got_out)):
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_allclose(got, f[f"out_{k}"], **TOL[dtype],
                                       err_msg=f"{name} (optimize={optimize})")
        names = ["x"] + cfg["weight_names"] + [f"init_{k}" for k in range(len(inits))]
        for name, got, want in zip(names, got_grads, want_grads):
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_allclose(got, want, **TOL[dtype],
                                       err_msg=f"dL/d{name} (optimize={optimize})")


def test_sequence_length_zero_row_returns_initial_state():
    # The README's observation, checked on the fixture itself: a length-0 row has
    # all-zero outputs and its final state is exactly the initial state.
    seen = 0
    for case in CASES:
        cfg, f = _case(case)
        if cfg["kind"] == "tf1_cell_step" or cfg["sequence_length"] != [5, 3, 0]:
            continue
        seen += 1
        out = f["out_0"] if cfg["time_major"] else np.swapaxes(f["out_0"], 0, 1)
        assert np.all(out[:, 2] == 0)
        finals = [f[f"out_{k}"] for k in range(1, cfg["n_outputs"])]
        inits = [f[f"init_{k}"] for k in range(len(cfg["initial_state_names"]))]
        for k, final in enumerate(finals):
            np.testing.assert_array_equal(final[2], inits[k][2] if inits else 0 * final[2])
    assert seen >= 4
