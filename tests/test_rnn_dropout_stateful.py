"""Recurrent layers: dropout masks (shared by every step of a call, per-gate masks,
seeds, training flags, stacked cells) and stateful RNNs. The rest of the recurrent
layers' tests is in tests/test_rnn_layers.py."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir import nest
from tinygraph.ir.graph import topo_nodes


def run(fetches, feed=None):
    return tg.Session().run(fetches, feed)


# ---------------------------------------------------------------------- dropout

def _identity_rnn(unroll, **cell_kwargs):
    cell = layers.SimpleRNNCell(3, activation=None, use_bias=False, dtype="float64", **cell_kwargs)
    rnn = layers.RNN(cell, return_sequences=True, unroll=unroll)
    return cell, rnn


@pytest.mark.parametrize("unroll", [True, False])
def test_input_mask_shared_by_all_steps(unroll):
    cell, rnn = _identity_rnn(unroll, dropout=0.5, seed=11)
    out = rnn(np.ones((4, 6, 3)), training=True)
    rnn.set_weights([np.eye(3), np.zeros((3, 3))])         # output_t = x_t * mask
    seq = run(out)
    assert set(np.unique(seq)) <= {0.0, 2.0} and 0 < (seq == 0).mean() < 1
    for t in range(1, 6):
        np.testing.assert_array_equal(seq[:, t], seq[:, 0])


@pytest.mark.parametrize("unroll", [True, False])
def test_recurrent_mask_shared_by_all_steps(unroll):
    cell, rnn = _identity_rnn(unroll, recurrent_dropout=0.5, seed=5)
    x = np.zeros((4, 5, 3))
    x[:, 0] = 1
    out = rnn(x, training=True)
    rnn.set_weights([np.eye(3), np.eye(3)])                # h_t = h_{t-1} * mask
    seq = run(out)
    m = seq[:, 1] / seq[:, 0]
    assert set(np.unique(m)) <= {0.0, 2.0} and 0 < (m == 0).mean() < 1
    for t in range(1, 5):
        np.testing.assert_array_equal(seq[:, t], m ** t)


def _mask_nodes(fetches):
    return [n for n in topo_nodes(nest.flatten(fetches)) if n.op.name == "dropout_mask"]


@pytest.mark.parametrize("impl, dropout, rec, count", [
    (1, 0.3, 0.0, 4), (2, 0.3, 0.0, 1), (1, 0.3, 0.2, 8), (2, 0.0, 0.2, 4), (2, 0.0, 0.0, 0)])
def test_mask_counts_per_implementation(impl, dropout, rec, count):
    lstm = layers.LSTM(3, implementation=impl, dropout=dropout, recurrent_dropout=rec)
    out = lstm(np.ones((2, 5, 4), np.float32), training=True)
    assert len(_mask_nodes(out)) == count
    assert lstm.implementation == (1 if rec else impl)
    assert run(out).shape == (2, 3)                      # Keras 3 crashes on impl 1 + dropout


def test_per_gate_masks_are_independent():
    cell = layers.LSTMCell(3, implementation=1, dropout=0.5, recurrent_dropout=0.5, seed=1)
    x, h = tg.zeros([64, 8]), tg.zeros([64, 3])
    masks = cell.get_dropout_mask_for_cell(x, True, count=4)
    rec = cell.get_recurrent_dropout_mask_for_cell(h, True, count=4)
    assert cell.get_dropout_mask_for_cell(x, True, count=4) is masks        # cached
    values = run(masks + rec)
    assert [v.shape for v in values] == [(64, 8)] * 4 + [(64, 3)] * 4
    for a in range(4):
        for b in range(a + 1, 4):
            assert not np.array_equal(values[a], values[b])
    cell.reset_dropout_mask()
    assert cell.get_dropout_mask_for_cell(x, True, count=4) is not masks
    assert cell.get_recurrent_dropout_mask_for_cell(h, True, count=4) is rec
    cell.reset_recurrent_dropout_mask()
    assert cell.get_recurrent_dropout_mask_for_cell(h, True, count=4) is not rec


@pytest.mark.parametrize("training", [False, None])
def test_dropout_inactive_at_inference(training, rng):
    x = rng.normal(size=(3, 4, 2))
    drop = layers.LSTM(3, dropout=0.5, recurrent_dropout=0.5, dtype="float64")
    plain = layers.LSTM(3, implementation=1, dtype="float64")
    a, b = drop(x, training=training), plain(x)
    assert _mask_nodes(a) == [] and drop.cell.get_dropout_mask_for_cell(x, training) is None
    plain.set_weights(drop.get_weights())
    np.testing.assert_allclose(*run([a, b]), rtol=1e-12)


def test_training_can_be_a_bool_tensor(rng):
    x = rng.normal(size=(3, 4, 2))
    training = tg.placeholder((), "bool")
    drop = layers.LSTM(3, dropout=0.5, dtype="float64", seed=2)
    plain = layers.LSTM(3, dtype="float64")
    a, b = drop(x, training=training), plain(x)
    plain.set_weights(drop.get_weights())
    sess = tg.Session()
    np.testing.assert_allclose(sess.run(a, {training: False}), sess.run(b), rtol=1e-12)
    assert not np.allclose(sess.run(a, {training: True}), sess.run(b))


def _seeded_outputs(seed, n_calls=2):
    tg.reset_default_graph()
    lstm = layers.LSTM(3, dropout=0.4, recurrent_dropout=0.3, seed=seed,
                       kernel_initializer="ones", recurrent_initializer="ones")
    x = np.linspace(-1, 1, 2 * 5 * 4).reshape(2, 5, 4).astype(np.float32)
    outs = [lstm(x, training=True) for _ in range(n_calls)]
    return run(outs)


def test_seed_makes_masks_reproducible_and_calls_draw_new_masks():
    a1, a2 = _seeded_outputs(42)
    b1, b2 = _seeded_outputs(42)
    c1, _ = _seeded_outputs(43)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)          # masks are reset between calls
    assert not np.array_equal(a1, c1)


def test_masks_are_reset_after_a_call():
    lstm = layers.LSTM(3, dropout=0.5)
    lstm(np.ones((2, 3, 4), np.float32), training=True)
    assert lstm.cell._dropout_mask is None and lstm.cell._recurrent_dropout_mask is None


def test_stacked_cells_get_their_own_masks_outside_the_loop():
    cells = [layers.LSTMCell(3, dropout=0.5, seed=1), layers.LSTMCell(2, dropout=0.5, seed=2)]
    out = layers.RNN(cells)(np.ones((2, 4, 5), np.float32), training=True)
    masks = _mask_nodes(out)
    assert sorted(n.outputs[0].shape for n in masks) == [(2, 3), (2, 5)]
    scan = [n for n in topo_nodes([out]) if n.op.name == "scan"]
    assert len(scan) == 1
    body_ops = {n.op.name for n in topo_nodes(scan[0].op.body.outputs)}
    assert "dropout_mask" not in body_ops


# ---------------------------------------------------------------------- stateful

def test_stateful_carries_state_across_runs(rng):
    x = rng.normal(size=(2, 6, 3))
    ph = tg.placeholder((2, 3, 3), "float64")
    lstm = layers.LSTM(4, stateful=True, return_state=True, dtype="float64")
    full = layers.LSTM(4, return_state=True, dtype="float64")
    out = lstm(ph)
    whole = full(x)
    full.set_weights(lstm.get_weights())
    assert lstm.weights == lstm.trainable_weights and len(lstm.states) == 2
    sess = tg.Session()
    first = sess.run(out, {ph: x[:, :3]})
    second = sess.run(out, {ph: x[:, 3:]})
    want = sess.run(whole)
    for g, w in zip(second, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    np.testing.assert_allclose(lstm.states[0].value, want[1], rtol=1e-12)
    lstm.reset_states()
    np.testing.assert_array_equal(lstm.states[1].value, 0)
    np.testing.assert_allclose(sess.run(out, {ph: x[:, :3]})[0], first[0], rtol=1e-12)
    h0, c0 = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    lstm.reset_states([h0, c0])
    explicit = lstm(ph, initial_state=[h0, c0])
    lstm.reset_states([h0, c0])
    np.testing.assert_allclose(sess.run(out, {ph: x[:, :3]})[0],
                               sess.run(explicit, {ph: x[:, :3]})[0], rtol=1e-12)


def test_stateful_explicit_initial_state_wins(rng):
    x = rng.normal(size=(2, 3, 3))
    lstm = layers.LSTM(4, stateful=True, dtype="float64")
    plain = layers.LSTM(4, dtype="float64")
    zeros = [np.zeros((2, 4))] * 2
    out = lstm(x, initial_state=zeros)
    ref = plain(x)
    plain.set_weights(lstm.get_weights())
    sess = tg.Session()
    a1 = sess.run(out)
    a2 = sess.run(out)                      # stored state changed, the explicit one wins
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_allclose(a1, sess.run(ref), rtol=1e-12)
    assert np.any(lstm.states[0].value != 0)      # the stored state is still updated


def test_stateful_errors():
    lstm = layers.LSTM(2, stateful=True)
    with pytest.raises(ValueError, match="stateful=True needs a fixed batch size"):
        lstm(tg.placeholder((None, 3, 4)))
    lstm = layers.LSTM(2, stateful=True)
    lstm(np.ones((4, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"built for batch size 4.*\(5, 3, 2\).*must not change"):
        lstm(np.ones((5, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"state 'lstm_1/state_1' has shape \(4, 2\).*\(5, 2\)"):
        lstm.reset_states([np.ones((4, 2)), np.ones((5, 2))])
    assert np.all(lstm.states[0].value == 0)            # nothing half-updated
    with pytest.raises(ValueError, match="needs stateful=True"):
        layers.LSTM(2).reset_states()
