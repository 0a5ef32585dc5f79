"""layers.Bidirectional (SPEC 6): the merged output equals two RNN layers run by hand
(forward, and backward with its sequence reversed back), for every merge mode, masks,
initial states, time_major and go_backwards; gradients against finite differences;
weights, configs, stateful layers, any cell; errors by type and words, at build time;
both directions fused."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.testing import check_grads

B, T, D, U = 3, 5, 4, 3
MASK = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], bool)
MERGE = {"concat": lambda a, b: np.concatenate([a, b], -1), "sum": np.add, "mul": np.multiply,
         "ave": lambda a, b: (a + b) / 2}


def run(fetches, feed=None, **kw):
    return tg.Session(**kw).run(fetches, feed)


def by_hand(bi, x, mask=None, initial_state=None, **rnn):
    """What Bidirectional promises, from two plain LSTMs holding its weights: the
    forward output, and the backward one (go_backwards) reversed back when it is a
    sequence; masked steps of a returned sequence are zeros (as Keras sets)."""
    nf = len(bi.forward_layer.weights)
    rs = rnn.get("return_sequences", False)
    outs = []
    for k, gb in enumerate((False, True)):
        lstm = layers.LSTM(U, go_backwards=gb, zero_output_for_mask=rs, dtype="float64", **rnn)
        init = None if initial_state is None else initial_state[2 * k:2 * k + 2]
        y = lstm(x, mask=mask, initial_state=init)
        lstm.set_weights(bi.get_weights()[:nf] if k == 0 else bi.get_weights()[nf:])
        outs.append(tg.nest.flatten(y))
    (yf, *sf), (yb, *sb) = run(outs)
    if rs:
        yb = yb[:, ::-1] if not rnn.get("time_major") else yb[::-1]
    return yf, yb, sf + sb


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("unroll", [False, True], ids=["loop", "unrolled"])
def test_equals_two_layers_by_hand(merge_mode, return_sequences, unroll, rng):
    x = rng.standard_normal((B, T, D))
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=return_sequences, unroll=unroll,
                                          dtype="float64"), merge_mode=merge_mode)
    got = run(tg.nest.flatten(bi(x, mask=MASK)))
    yf, yb, _ = by_hand(bi, x, MASK, return_sequences=return_sequences)
    want = [yf, yb] if merge_mode is None else [MERGE[merge_mode](yf, yb)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    if return_sequences:         # masked steps are zeros in both halves
        assert np.all(np.concatenate(got, -1)[~MASK] == 0)


@pytest.mark.parametrize("time_major", [False, True])
def test_return_state_and_initial_state_split_forward_first(time_major, rng):
    x = rng.standard_normal((T, B, D) if time_major else (B, T, D))
    init = [0.5 * rng.standard_normal((B, U)) for _ in range(4)]
    rnn = dict(return_sequences=True, return_state=True, time_major=time_major)
    bi = layers.Bidirectional(layers.LSTM(U, dtype="float64", **rnn), merge_mode=None)
    outs = bi(x, initial_state=init)
    assert len(outs) == 6 and [o.shape for o in outs[2:]] == [(B, U)] * 4
    got = run(list(outs))
    yf, yb, states = by_hand(bi, x, initial_state=init, **rnn)
    for g, w in zip(got, [yf, yb] + states):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("merge_mode", ["concat", "ave", "mul", None])
def test_gradients_match_finite_differences(merge_mode, rng):
    """Inputs, initial states and (through a fixed layer) the merge, to second order."""
    def build(x, h0, c0, h1, c1):
        bi = layers.Bidirectional(layers.LSTM(2, return_sequences=True, return_state=True,
                                              dtype="float64", seed=3), merge_mode=merge_mode)
        tg.initializers.reseed(7)
        return list(bi(x, mask=MASK[:2, :4], initial_state=[h0, c0, h1, c1]))
    args = [rng.standard_normal((2, 4, 3))] + [rng.standard_normal((2, 2)) for _ in range(4)]
    check_grads(build, args, order=2)


def test_weights_forward_then_backward_and_set_weights(rng):
    bi = layers.Bidirectional(layers.LSTM(U, name="enc"), name="bi")
    y = bi(rng.standard_normal((B, T, D)).astype("float32"))
    f, b = bi.forward_layer, bi.backward_layer
    assert (f.name, b.name) == ("forward_enc", "backward_enc")
    assert (f.go_backwards, b.go_backwards) == (False, True)
    assert bi.weights == f.weights + b.weights and len(bi.weights) == 6
    assert [w.shape for w in bi.weights] == [(D, 4 * U), (U, 4 * U), (4 * U,)] * 2
    new = [rng.uniform(-1, 1, w.shape).astype("float32") for w in bi.weights]
    bi.set_weights(new)
    for got, want in zip(f.get_weights() + b.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    before = run(y)
    with pytest.raises(ValueError, match="expected 6 arrays"):
        bi.set_weights(new[:5])
    np.testing.assert_array_equal(run(y), before)            # nothing changed


def test_trainable_false_freezes_both_directions():
    bi = layers.Bidirectional(layers.LSTM(U), trainable=False)
    bi(np.zeros((B, T, D), "float32"))
    assert not bi.trainable_weights and len(bi.non_trainable_weights) == 6
    bi.trainable = True
    assert len(bi.trainable_weights) == 6


def test_weights_argument_is_set_at_build(rng):
    """Keras accepts weights= and ignores it; we set them (forward's, then backward's)."""
    template = layers.Bidirectional(layers.SimpleRNN(2))
    template(np.zeros((1, 3, 4), "float32"))
    arrays = [rng.uniform(-1, 1, w.shape).astype("float32") for w in template.weights]
    bi = layers.Bidirectional(layers.SimpleRNN(2), weights=arrays)
    bi(np.zeros((1, 3, 4), "float32"))
    for got, want in zip(bi.get_weights(), arrays):
        np.testing.assert_array_equal(got, want)
    bad = layers.Bidirectional(layers.SimpleRNN(2), weights=arrays[:4])
    with pytest.raises(ValueError, match="expected 6 arrays"):
        bad(np.zeros((1, 3, 4), "float32"))
    with pytest.raises(TypeError, match="weights must be a list"):
        layers.Bidirectional(layers.SimpleRNN(2), weights=np.zeros(3))


def test_config_round_trip_with_a_custom_backward_layer(rng):
    x = rng.standard_normal((B, T, D))
    backward = layers.LSTM(2, activation="relu", go_backwards=True, return_sequences=True,
                           dtype="float64", name="back")
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=True, dtype="float64"),
                              backward_layer=backward, merge_mode="concat")
    assert bi.backward_layer is backward                     # used as given, not copied
    y = bi(x)
    assert y.shape == (B, T, U + 2)
    cfg = bi.get_config()
    assert cfg["merge_mode"] == "concat" and cfg["backward_layer"]["config"]["name"] == "back"
    assert cfg["backward_layer"]["config"]["activation"] == "relu"
    for again in (layers.Bidirectional.from_config(cfg),
                  layers.deserialize(layers.serialize(bi))):
        assert again.get_config() == cfg
        y2 = again(x)
        again.set_weights(bi.get_weights())
        np.testing.assert_allclose(*run([y, y2]), rtol=0, atol=0)


def test_the_wrapped_layer_is_a_template(rng):
    """As Keras: both directions are rebuilt from the layer's config (fresh weights); a
    layer going backwards gives a forward direction going backwards (tf-keras flips)."""
    lstm = layers.LSTM(U, go_backwards=True, return_sequences=True, dtype="float64")
    bi = layers.Bidirectional(lstm, merge_mode=None)
    assert bi.forward_layer is not lstm and not lstm.built
    assert (bi.forward_layer.go_backwards, bi.backward_layer.go_backwards) == (True, False)
    x = rng.standard_normal((B, T, D))
    yf, yb = run(bi(x))
    nf = len(bi.forward_layer.weights)
    ref = layers.LSTM(U, return_sequences=True, dtype="float64")
    r = ref(x)
    ref.set_weights(bi.get_weights()[nf:])
    np.testing.assert_allclose(yb, run(r)[:, ::-1], rtol=1e-12)   # reversed back, as tf-keras


def test_training_reaches_both_directions(rng):
    x = rng.standard_normal((B, T, D))
    bi = layers.Bidirectional(layers.LSTM(U, dropout=0.5, seed=1, dtype="float64"))
    off, default, on = run([bi(x, training=False), bi(x), bi(x, training=True)])
    np.testing.assert_array_equal(off, default)
    assert np.all(off[:, :U] != on[:, :U]) and np.all(off[:, U:] != on[:, U:])


class MinimalCell(layers.Layer):
    """The Keras docs' minimal RNN cell: h' = x W + h V."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.recurrent = self.add_weight("recurrent_kernel", (self.units, self.units))

    def call(self, inputs, states):
        h = tg.matmul(inputs, self.kernel) + tg.matmul(states[0], self.recurrent)
        return h, [h]

    def get_config(self):
        return dict(super().get_config(), units=self.units)


class ObjectCell:
    """A cell that is no Layer and has no config (SPEC 6's cell contract)."""

    state_size = 2

    def __init__(self):
        self.w = tg.Variable(np.full((4, 2), 0.1), name="object_cell_w")
        self.weights = [self.w]

    def call(self, inputs, states):
        h = tg.tanh(tg.matmul(inputs, self.w) + states[0])
        return h, [h]


@pytest.mark.parametrize("cell", [lambda: MinimalCell(2, dtype="float64"), ObjectCell,
                                  lambda: [layers.LSTMCell(2, dtype="float64"),
                                           layers.LSTMCell(3, dtype="float64")]],
                         ids=["layer_cell", "object_cell", "stacked"])
def test_any_cell(cell, rng):
    x = rng.standard_normal((2, 3, 4))
    bi = layers.Bidirectional(layers.RNN(cell(), return_sequences=True, dtype="float64"))
    y = bi(x)
    f, b = bi.forward_layer, bi.backward_layer
    assert f.cell is not b.cell and (f.go_backwards, b.go_backwards) == (False, True)
    ref_f = layers.RNN(f.cell, return_sequences=True, dtype="float64")(x)
    ref_b = layers.RNN(b.cell, return_sequences=True, go_backwards=True, dtype="float64")(x)
    got, wf, wb = run([y, ref_f, ref_b])
    np.testing.assert_allclose(got, np.concatenate([wf, wb[:, ::-1]], -1), rtol=1e-12)


def test_stacked_cells_initial_and_returned_states_nest_per_direction(rng):
    cells = lambda: [layers.LSTMCell(2, dtype="float64"), layers.LSTMCell(3, dtype="float64")]  # noqa: E731
    bi = layers.Bidirectional(layers.RNN(cells(), return_state=True, dtype="float64"))
    x = rng.standard_normal((B, T, D))
    init = [[rng.standard_normal((B, 2)), rng.standard_normal((B, 2))],
            [rng.standard_normal((B, 3)), rng.standard_normal((B, 3))]] * 2
    out, *states = bi(x, initial_state=init)
    assert [[s.shape for s in pair] for pair in states] == [[(B, 2), (B, 2)], [(B, 3), (B, 3)]] * 2
    flat = tg.nest.flatten(init)
    same = bi(x, initial_state=flat)                    # flat works too
    np.testing.assert_array_equal(*run([out, same[0]]))


def test_stateful_reset_states(rng):
    x = rng.standard_normal((B, T, D))
    bi = layers.Bidirectional(layers.LSTM(U, stateful=True, dtype="float64"))
    y = bi(x)
    assert bi.stateful and len(bi.states) == 4
    sess = tg.Session()
    first = sess.run(y)
    assert not np.allclose(sess.run(y), first)           # the states carried on
    bi.reset_states()
    np.testing.assert_allclose(sess.run(y), first, rtol=1e-12)
    values = [rng.standard_normal((B, U)) for _ in range(4)]
    bi.reset_states(values)
    for v, want in zip(bi.states, values):
        np.testing.assert_array_equal(v.value, want)
    with pytest.raises(ValueError, match="expected 4 arrays"):
        bi.reset_states(values[:3])
    for v, want in zip(bi.states, values):               # unchanged
        np.testing.assert_array_equal(v.value, want)
    with pytest.raises(ValueError, match="needs stateful=True"):
        layers.Bidirectional(layers.LSTM(U)).reset_states()


def test_in_sequential_with_a_mask_from_embedding(rng):
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    model = layers.Sequential([layers.Embedding(10, 4, mask_zero=True),
                               layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
                               layers.LSTM(2)])
    y = model(ids)
    assert y.shape == (2, 2)
    emb, bi, last = model.layers
    by_mask = bi(emb(ids), mask=ids != 0)
    out = run([y, last(by_mask, mask=ids != 0), by_mask])
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6)
    assert np.all(out[2][0, 3:] == 0)


def test_both_directions_fuse(rng):
    """optimize=True: each direction's LSTM becomes one fused sequence kernel, forward
    and backward, and the values and gradients are the unfused ones."""
    x = tg.placeholder((B, T, D), "float64")
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=True, dtype="float64"))
    loss = tg.reduce_sum(bi(x) * tg.constant(rng.standard_normal((B, T, 2 * U))))
    fetches = [loss] + tg.gradients(loss, [x] + bi.weights)
    feed = {x: rng.standard_normal((B, T, D))}
    for got, want in zip(run(fetches, feed), run(fetches, feed, optimize=False)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    why = tg.Session().explain(fetches)
    fused = [(op, name.rpartition("/")[0]) for op, name in why.fused]
    for direction in ("forward_lstm", "backward_lstm"):
        assert ("lstm_sequence", f"{bi.name}/{direction}") in fused, str(why)
    assert [op for op, _ in why.fused].count("lstm_sequence_grad") == 2, str(why)


@pytest.mark.parametrize("merge_mode, return_sequences, expect",
                         [("concat", True, "mask"), (None, True, "pair"),
                          ("concat", False, None), ("sum", False, None)])
def test_compute_mask_follows_keras(merge_mode, return_sequences, expect):
    # Keras' Bidirectional.compute_mask: the mask rides with the merged sequence,
    # one per direction without merging, and ends with a last output.
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=return_sequences),
                              merge_mode=merge_mode)
    mask = tg.constant(np.array([[True, True, False]]))
    got = bi.compute_mask(tg.placeholder((1, 3, D)), mask)
    if expect == "mask":
        assert got is mask
    elif expect == "pair":
        assert isinstance(got, list) and len(got) == 2 and all(m is mask for m in got)
    else:
        assert got is None
    assert bi.compute_mask(tg.placeholder((1, 3, D)), None) is None
