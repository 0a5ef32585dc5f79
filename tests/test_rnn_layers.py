"""Recurrent layers: cells, RNN semantics (masks, go_backwards, states, stacking,
time_major, custom and legacy-style cells), unroll vs loop, graph size and
finite-difference gradient checks. Dropout and stateful RNNs: tests/test_rnn_dropout_stateful.py."""
import collections

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir import nest
from tinygraph.ir.graph import topo_nodes
from tinygraph.testing import check_grads


def run(fetches, feed=None):
    return tg.Session().run(fetches, feed)


def np_lstm_step(x, h, c, k, r, b):
    z = x @ k + h @ r + b
    i, f, g, o = np.split(z, 4, axis=1)
    sig = lambda v: 1 / (1 + np.exp(-v))    # noqa: E731
    c = sig(f) * c + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c), c


# ---------------------------------------------------------------------- seed examples

def test_seed_examples_run_literally():
    inputs = np.random.random((32, 10, 8)).astype(np.float32)
    rnn = layers.RNN(layers.LSTMCell(4))
    output = rnn(inputs)
    assert output.shape == (32, 4)
    rnn = layers.RNN(layers.LSTMCell(4), return_sequences=True, return_state=True)
    whole_sequence_output, final_memory_state, final_carry_state = rnn(inputs)
    assert whole_sequence_output.shape == (32, 10, 4)
    assert final_memory_state.shape == (32, 4) and final_carry_state.shape == (32, 4)
    seq, h, c = run([whole_sequence_output, final_memory_state, final_carry_state])
    np.testing.assert_array_equal(seq[:, -1], h)
    assert not np.allclose(h, c)


# ---------------------------------------------------------------------- cells

def test_lstm_cell_step_matches_numpy_both_implementations(rng):
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    results = []
    for impl in (1, 2):
        cell = layers.LSTMCell(4, implementation=impl, dtype="float64")
        out, (h1, c1) = cell(x, [h, c])
        if impl == 1:
            weights = [rng.normal(size=w.shape) for w in cell.get_weights()]
        cell.set_weights(weights)
        results.append(run([out, h1, c1]))
    want_h, want_c = np_lstm_step(x, h, c, *weights)
    for out, h1, c1 in results:
        np.testing.assert_array_equal(out, h1)
        np.testing.assert_allclose(h1, want_h, rtol=1e-12)
        np.testing.assert_allclose(c1, want_c, rtol=1e-12)


def test_lstm_cell_weights_and_initial_values():
    cell = layers.LSTMCell(3)
    assert cell.state_size == [3, 3] and cell.output_size == 3
    cell(np.zeros((2, 5), np.float32), cell.get_initial_state(batch_size=2))
    assert [(v.name, v.shape) for v in cell.weights] == [
        ("lstm_cell/kernel", (5, 12)), ("lstm_cell/recurrent_kernel", (3, 12)), ("lstm_cell/bias", (12,))]
    k, r, b = cell.get_weights()
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])   # unit_forget_bias
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)                   # orthogonal rows
    assert np.abs(k).max() <= np.sqrt(6 / (5 + 12))                              # glorot over (5, 12)
    ones = layers.LSTMCell(2, bias_initializer="ones")
    ones(np.zeros((1, 2), np.float32), [np.zeros((1, 2))] * 2)
    np.testing.assert_array_equal(ones.get_weights()[2], np.ones(8))            # not forced to zeros
    plain = layers.LSTMCell(2, unit_forget_bias=False, use_bias=False)
    plain(np.zeros((1, 2), np.float32), [np.zeros((1, 2))] * 2)
    assert [v.shape for v in plain.weights] == [(2, 8), (2, 8)]


def test_get_initial_state_accepts_keras3_and_tf_keras_signatures():
    cell = layers.LSTMCell(3, dtype="float64")
    x = tg.placeholder((None, 4), "float64")
    for states in (cell.get_initial_state(5), cell.get_initial_state(batch_size=5),
                   cell.get_initial_state(inputs=np.zeros((5, 4)), dtype="float64"),
                   cell.get_initial_state(np.zeros((5, 4)))):
        assert len(states) == 2 and all(s.shape == (5, 3) for s in states)
    h, c = cell.get_initial_state(inputs=x)
    assert h.shape == (None, 3)
    assert run(h, {x: np.zeros((7, 4))}).shape == (7, 3)
    with pytest.raises(ValueError, match="give batch_size or inputs"):
        cell.get_initial_state()


def test_simple_rnn_cell_state_forms(rng):
    cell = layers.SimpleRNNCell(2, dtype="float64")
    x, h = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    out, state = cell(x, [h])
    out2, state2 = cell(x, h)
    assert isinstance(state, list) and isinstance(state2, tg.Tensor)
    k, r, b = cell.get_weights()
    np.testing.assert_allclose(run(out), np.tanh(x @ k + b + h @ r), rtol=1e-12)
    np.testing.assert_array_equal(*run([out, out2]))


# ---------------------------------------------------------------------- RNN semantics

def _lstm_ref(x, k, r, b, h0=None, c0=None, mask=None):
    """NumPy reference of Keras' masked LSTM loop: (outputs per step, h, c)."""
    B, T, _ = x.shape
    U = r.shape[0]
    h = np.zeros((B, U)) if h0 is None else h0
    c = np.zeros((B, U)) if c0 is None else c0
    prev, outs = np.zeros((B, U)), []
    for t in range(T):
        hn, cn = np_lstm_step(x[:, t], h, c, k, r, b)
        keep = np.ones((B, 1), bool) if mask is None else mask[:, t:t + 1]
        h, c = np.where(keep, hn, h), np.where(keep, cn, c)
        prev = np.where(keep, hn, prev)
        outs.append(prev)
    return np.stack(outs, 1), h, c


@pytest.mark.parametrize("unroll", [True, False])
def test_masked_lstm_against_numpy(unroll, rng):
    x = rng.normal(size=(3, 6, 2))
    mask = np.array([[1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 1, 1]], bool)
    h0, c0 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    lstm = layers.LSTM(4, return_sequences=True, return_state=True, unroll=unroll, dtype="float64")
    seq, h, c = lstm(x, mask=mask, initial_state=[h0, c0])
    weights = [rng.uniform(-0.5, 0.5, w.shape) for w in lstm.get_weights()]
    lstm.set_weights(weights)
    want_seq, want_h, want_c = _lstm_ref(x, *weights, h0=h0, c0=c0, mask=mask)
    got = run([seq, h, c])
    for g, w in zip(got, (want_seq, want_h, want_c)):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    np.testing.assert_array_equal(got[0][1], 0)                 # fully masked row: zeros out,
    np.testing.assert_array_equal(got[1][1], h0[1])             # state = initial state
    assert np.all(got[0][2, 0] == 0)                            # zeros before the first kept step


def test_last_output_is_last_kept_step_even_with_zero_output_for_mask(rng):
    x = rng.normal(size=(2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    lstm = layers.LSTM(2, zero_output_for_mask=True, return_sequences=True, return_state=True,
                       dtype="float64")
    last_layer = layers.LSTM(2, zero_output_for_mask=True, return_state=True, dtype="float64")
    seq, h, _ = lstm(x, mask=mask)
    last, h2, _ = last_layer(x, mask=mask)
    last_layer.set_weights(lstm.get_weights())
    seq, h, last, h2 = run([seq, h, last, h2])
    np.testing.assert_array_equal(seq[0, 2:], 0)               # zeros at masked steps
    np.testing.assert_allclose(last, h2)                        # not zeros (Keras gives 0)
    np.testing.assert_allclose(last[0], seq[0, 1])
    assert np.all(last[0] != 0)


def test_go_backwards_returns_processing_order(rng):
    x = rng.normal(size=(2, 5, 3))
    fwd = layers.LSTM(2, return_sequences=True, dtype="float64")
    bwd = layers.LSTM(2, return_sequences=True, go_backwards=True, dtype="float64")
    a, b = fwd(x[:, ::-1].copy()), bwd(x)
    bwd.set_weights(fwd.get_weights())
    a, b = run([a, b])
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_go_backwards_reverses_the_mask(rng):
    x = rng.normal(size=(2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    fwd = layers.LSTM(2, return_sequences=True, dtype="float64")
    bwd = layers.LSTM(2, return_sequences=True, go_backwards=True, dtype="float64")
    a, b = fwd(x[:, ::-1].copy(), mask=mask[:, ::-1].copy()), bwd(x, mask=mask)
    bwd.set_weights(fwd.get_weights())
    np.testing.assert_allclose(*run([a, b]), rtol=1e-12)


def test_time_major(rng):
    x = rng.normal(size=(2, 5, 3))
    bm = layers.LSTM(2, return_sequences=True, return_state=True, dtype="float64")
    tm = layers.LSTM(2, return_sequences=True, return_state=True, time_major=True, dtype="float64")
    mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    a = bm(x, mask=mask)
    b = tm(x.transpose(1, 0, 2).copy(), mask=mask.T.copy())
    assert b[0].shape == (5, 2, 2)
    tm.set_weights(bm.get_weights())
    a, b = run([a, b])
    np.testing.assert_allclose(a[0], b[0].transpose(1, 0, 2), rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)


def test_stacked_return_state_structure(rng):
    x = rng.normal(size=(2, 4, 3))
    rnn = layers.RNN([layers.LSTMCell(3, dtype="float64"), layers.LSTMCell(2, dtype="float64")],
                     return_state=True)
    assert rnn.dtype == "float64"
    out, s1, s2 = rnn(x)
    assert isinstance(s1, list) and [t.shape for t in s1] == [(2, 3), (2, 3)]
    assert [t.shape for t in s2] == [(2, 2), (2, 2)]
    assert [v.name.split("/")[1] for v in rnn.weights] == ["kernel", "recurrent_kernel", "bias"] * 2
    out, h2 = run([out, s2[0]])
    np.testing.assert_array_equal(out, h2)


def test_initial_state_nested_or_flat(rng):
    x = rng.normal(size=(2, 4, 3))
    init = [rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 2)),
            rng.normal(size=(2, 2))]
    cells = [layers.LSTMCell(3, dtype="float64"), layers.LSTMCell(2, dtype="float64")]
    rnn = layers.RNN(cells)
    a = rnn(x, initial_state=[init[:2], init[2:]])
    b = rnn(x, initial_state=init)
    c = rnn(x)
    a, b, c = run([a, b, c])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


LegacyState = collections.namedtuple("LegacyState", ("c", "h"))


class LegacyStyleCell:
    """A TF1-style cell: namedtuple state (c, h), ``__call__(inputs, state)``."""

    def __init__(self, units):
        self.units = units
        self.state_size = LegacyState(units, units)
        self.output_size = units
        self.kernel = None

    @property
    def weights(self):
        return [] if self.kernel is None else [self.kernel]

    def __call__(self, inputs, state):
        assert isinstance(state, LegacyState)
        if self.kernel is None:
            self.kernel = tg.Variable(np.full((inputs.shape[1] + self.units, self.units), 0.3),
                                      name="legacy/kernel", dtype="float64")
        h = tg.tanh(tg.matmul(tg.concat([inputs, state.h], 1), self.kernel))
        c = state.c + h
        return h, LegacyState(c=c, h=h)


class MinimalCell:
    """Only ``state_size`` (an int) and ``call(inputs, states)``."""
    state_size = 2

    def call(self, inputs, states):
        h = states if not isinstance(states, (list, tuple)) else states[0]
        new = tg.tanh(inputs[:, :2] + 0.5 * h)
        return new, new


@pytest.mark.parametrize("unroll", [True, False])
def test_legacy_style_cell_returns_c_then_h(unroll, rng):
    x = rng.normal(size=(2, 3, 2))
    rnn = layers.RNN(LegacyStyleCell(2), return_state=True, unroll=unroll, dtype="float64")
    out, c, h = rnn(x)
    out, c, h = run([out, c, h])
    np.testing.assert_array_equal(out, h)
    assert not np.allclose(c, h)
    # reference: Python loop
    k = np.full((4, 2), 0.3)
    hh, cc = np.zeros((2, 2)), np.zeros((2, 2))
    for t in range(3):
        hh = np.tanh(np.concatenate([x[:, t], hh], 1) @ k)
        cc = cc + hh
    np.testing.assert_allclose(h, hh, rtol=1e-12)
    np.testing.assert_allclose(c, cc, rtol=1e-12)
    assert rnn.weights == [rnn.cell.kernel]


@pytest.mark.parametrize("unroll", [True, False])
def test_minimal_cell_with_int_state_size(unroll, rng):
    x = rng.normal(size=(2, 3, 4))
    rnn = layers.RNN(MinimalCell(), return_sequences=True, return_state=True, unroll=unroll,
                     dtype="float64")
    seq, h = rnn(x)
    seq, h = run([seq, h])
    hh = np.zeros((2, 2))
    for t in range(3):
        hh = np.tanh(x[:, t, :2] + 0.5 * hh)
    np.testing.assert_allclose(h, hh, rtol=1e-12)
    np.testing.assert_array_equal(seq[:, -1], h)


@pytest.mark.parametrize("unroll", [True, False])
def test_tf1_legacy_cell_inside_rnn_matches_dynamic_rnn(unroll, rng):
    x = rng.normal(size=(2, 4, 3))
    cell = layers.rnn_cell.LSTMCell(3, num_proj=2, use_peepholes=True, dtype="float64")
    rnn = layers.RNN(cell, return_sequences=True, return_state=True, unroll=unroll,
                     dtype="float64")
    out, c, h = rnn(x)                                   # legacy order: c, then h
    assert (c.shape, h.shape) == ((2, 3), (2, 2))
    outs, state = layers.rnn_cell.dynamic_rnn(cell, x, dtype="float64")
    assert rnn.weights == cell.weights and len(rnn.weights) == 6
    got = run([out, c, h, outs, state.c, state.h])
    for a, b in zip(got[:3], got[3:]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_last_call_exposes_states_for_analysis():
    x = np.ones((2, 3, 4), np.float32)
    unrolled = layers.LSTM(2, unroll=True)
    unrolled_call = tg.gradflow.find_call(unrolled(x), unrolled)
    assert len(unrolled_call.unrolled_states) == 3
    assert [s.shape for s in unrolled_call.unrolled_states[0]] == [(2, 2), (2, 2)]
    loop = layers.LSTM(2)
    loop_call = tg.gradflow.find_call(loop(x), loop)
    assert loop_call.loop_node.op.name == "scan"
    assert loop_call.unrolled_states is None


def test_unrolled_steps_live_in_step_scopes():
    rnn = layers.RNN(layers.LSTMCell(2), return_sequences=True, unroll=True, name="enc")
    out = rnn(np.ones((1, 3, 2), np.float32))
    scopes = {n.scope for n in topo_nodes([out])}
    for t in range(3):
        assert any(s.startswith(f"enc/step_{t}/lstm_cell") for s in scopes)
    assert not any("step_3" in s for s in scopes)


# ---------------------------------------------------------------------- bad input

def test_rnn_input_errors():
    rnn = layers.LSTM(2)
    with pytest.raises(ValueError, match=r"expected inputs of rank 3.*\(4, 3\)"):
        rnn(np.ones((4, 3), np.float32))
    rnn = layers.LSTM(2)
    with pytest.raises(ValueError, match="zero time steps"):
        rnn(np.ones((4, 0, 3), np.float32))
    rnn = layers.LSTM(2)
    x = np.ones((4, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\) = \(4, 5\), got \(5, 4\)"):
        rnn(x, mask=np.ones((5, 4), bool))
    with pytest.raises(ValueError, match=r"mask must have shape"):
        rnn(x, mask=np.ones((4, 5, 1), bool))
    with pytest.raises(ValueError, match=r"2 state\(s\).*initial_state holds 1"):
        rnn(x, initial_state=[np.zeros((4, 2))])
    with pytest.raises(ValueError, match=r"initial state .* has shape \(4, 3\), expected \(4, 2\)"):
        rnn(x, initial_state=[np.zeros((4, 3)), np.zeros((4, 3))])
    with pytest.raises(ValueError, match="built for 3 input features"):
        rnn(np.ones((4, 5, 6), np.float32))
    with pytest.raises(ValueError, match="unroll=True needs a static number of time steps"):
        layers.LSTM(2, unroll=True)(tg.placeholder((4, None, 3)))


def test_zero_time_steps_at_run_time():
    x = tg.placeholder((2, None, 3))
    out = layers.LSTM(2)(x)
    with pytest.raises(ValueError, match="zero time steps"):
        run(out, {x: np.ones((2, 0, 3), np.float32)})
    assert run(out, {x: np.ones((2, 4, 3), np.float32)}).shape == (2, 2)


# ---------------------------------------------------------------------- unroll vs loop

OPTIONS = [
    dict(),
    dict(return_sequences=True, return_state=True),
    dict(go_backwards=True, return_sequences=True, mask="gaps"),
    dict(mask="fullrow", return_state=True, initial_state=True),
    dict(zero_output_for_mask=True, return_sequences=True, mask="gaps", go_backwards=True),
    dict(zero_output_for_mask=True, mask="right"),
    dict(time_major=True, return_sequences=True, mask="gaps"),
    dict(stacked=True, return_state=True, mask="gaps", initial_state=True),
    dict(simple=True, return_sequences=True, mask="right", go_backwards=True),
    dict(implementation=1, dropout=0.3, recurrent_dropout=0.3, return_sequences=True),
    dict(dropout=0.5, mask="gaps", stacked=True, return_sequences=True),
    dict(stateful=True, return_state=True, mask="gaps"),
]
MASKS = {"gaps": [[1, 0, 1, 1], [1, 1, 1, 1], [0, 1, 0, 1]],
         "right": [[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]],
         "fullrow": [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]]}


def _build_rnn(opts, unroll):
    o = dict(opts)
    mask = o.pop("mask", None)
    init = o.pop("initial_state", False)
    stacked, simple = o.pop("stacked", False), o.pop("simple", False)
    cell_args = {k: o.pop(k) for k in ("implementation", "dropout", "recurrent_dropout") if k in o}
    if cell_args.get("dropout") or cell_args.get("recurrent_dropout"):
        cell_args["seed"] = 3
    mk = (lambda u: layers.SimpleRNNCell(u, dtype="float64", **{k: v for k, v in cell_args.items()
                                                                if k != "implementation"})) \
        if simple else (lambda u: layers.LSTMCell(u, dtype="float64", **cell_args))
    cell = layers.StackedRNNCells([mk(3), mk(2)]) if stacked else mk(3)
    return layers.RNN(cell, unroll=unroll, **o), mask, init


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_unroll_and_loop_agree(opts, rng):
    x_val = rng.normal(size=(3, 4, 5))
    results = []
    for unroll in (True, False):
        tg.reset_default_graph()
        rnn, mask, init = _build_rnn(opts, unroll)
        time_major = opts.get("time_major", False)
        x = tg.placeholder((4, 3, 5) if time_major else (3, 4, 5), "float64")
        kwargs = {}
        if mask:
            m = np.array(MASKS[mask], bool)
            kwargs["mask"] = m.T.copy() if time_major else m
        inits = []
        if init:
            sizes = [3, 3, 2, 2] if opts.get("stacked") else [3, 3]
            inits = [tg.placeholder((3, s), "float64") for s in sizes]
            kwargs["initial_state"] = inits
        outs = nest.flatten(rnn(x, training=True, **kwargs))
        rng_w = np.random.default_rng(7)
        rnn.set_weights([rng_w.uniform(-0.6, 0.6, w.shape) for w in rnn.get_weights()])
        proj = [np.random.default_rng(8 + k).normal(size=o.shape) for k, o in enumerate(outs)]
        loss = tg.add_n([tg.reduce_sum(o * p) for o, p in zip(outs, proj)])
        wrt = [x] + rnn.weights + inits
        grads = tg.gradients(loss, wrt)
        feed = {x: x_val.transpose(1, 0, 2) if time_major else x_val}
        feed.update({p: np.random.default_rng(20 + i).normal(size=p.shape) for i, p in enumerate(inits)})
        sess = tg.Session()
        values = sess.run(outs + grads, feed)
        if rnn.stateful:                       # a second run starts from the stored state
            values += sess.run(outs, feed)
        results.append(values)
    unrolled, loop = results
    assert len(unrolled) == len(loop)
    for a, b in zip(unrolled, loop):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------- graph size

def _count_nodes(fetches):
    total = 0
    for n in topo_nodes(fetches):
        total += 1
        if n.op.name == "scan":
            total += _count_nodes(n.op.body.outputs)
    return total


def _training_graph_size(T, unroll):
    tg.reset_default_graph()
    x = tg.placeholder((4, T, 3))
    y = tg.placeholder((4, 2))
    lstm = layers.LSTM(5, unroll=unroll, dropout=0.2)
    dense = layers.Dense(2)
    loss = tg.losses.mean_squared_error(y, dense(lstm(x, training=True)))
    grads = tg.gradients(loss, lstm.weights + dense.weights)
    return _count_nodes([loss] + grads)


def test_loop_graph_size_does_not_grow_with_T():
    assert _training_graph_size(10, False) == _training_graph_size(1000, False)
    assert _training_graph_size(10, True) < _training_graph_size(20, True)


def test_long_sequence_trains_with_the_loop(rng):
    x = tg.placeholder((2, 1000, 3))
    lstm = layers.LSTM(4)
    loss = tg.reduce_sum(lstm(x))
    g = tg.gradients(loss, lstm.weights)
    values = run(g, {x: rng.normal(size=(2, 1000, 3)).astype(np.float32)})
    assert all(np.all(np.isfinite(v)) for v in values)


# ---------------------------------------------------------------------- finite differences

def test_check_grads_through_loop_first_order(rng):
    lstm = layers.LSTM(3, return_sequences=True, return_state=True, go_backwards=True,
                       dtype="float64")
    mask = np.array([[1, 0, 1, 1, 1], [0, 1, 1, 0, 1]], bool)

    def build(x, h0, c0):
        return nest.flatten(lstm(x, mask=mask, initial_state=[h0, c0]))

    check_grads(build, [rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 3)),
                        rng.normal(size=(2, 3))], order=1)


def test_check_grads_through_loop_second_order(rng):
    rnn = layers.RNN(layers.LSTMCell(2, dtype="float64"), return_sequences=True)

    def build(x, h0, c0):
        return rnn(x, initial_state=[h0, c0])

    check_grads(build, [rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 2)),
                        rng.normal(size=(2, 2))], order=2)


def test_weight_gradients_match_finite_differences(rng):
    x = rng.normal(size=(2, 4, 3))
    lstm = layers.LSTM(2, dtype="float64")
    loss = tg.reduce_sum(tg.square(lstm(x)))
    grads = tg.gradients(loss, lstm.weights)
    sess = tg.Session()
    analytic = sess.run(grads)
    eps = 1e-6
    for var, g in zip(lstm.weights, analytic):
        direction = rng.normal(size=var.shape)
        base = var.value.copy()
        var.assign_value(base + eps * direction)
        plus = sess.run(loss)
        var.assign_value(base - eps * direction)
        minus = sess.run(loss)
        var.assign_value(base)
        assert np.sum(g * direction) == pytest.approx((plus - minus) / (2 * eps), rel=1e-6)


def test_rnn_trainable_false_freezes_the_cell_it_was_given():
    # Keras: a frozen RNN has no trainable weights, the cell's included.
    rnn = layers.RNN(layers.LSTMCell(3), trainable=False)
    rnn(tg.placeholder((2, 4, 5)))
    assert rnn.trainable_weights == [] and len(rnn.non_trainable_weights) == 3
    assert not rnn.cell.trainable
