"""layers.GRUCell / layers.GRU beyond the Keras fixtures: weights and their layout,
dropout with Keras' mask rules (checked against a NumPy GRU fed the same masks),
gradients by finite differences, configs, the cell's attributes on the layer, and
Keras-style errors."""
import re

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.testing import check_grads

B, T, D, U = 2, 4, 3, 5


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gru_step(x, h, kernel, rec, bias, reset_after, xm=(1, 1, 1), hm=(1, 1, 1)):
    """Keras 3's GRUCell implementation 1, written from its formulas; xm / hm: the
    per-gate input and recurrent dropout masks."""
    k = [kernel[:, j * U:(j + 1) * U] for j in range(3)]
    r_k = [rec[:, j * U:(j + 1) * U] for j in range(3)]
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * U))
    bi = [b_in[j * U:(j + 1) * U] for j in range(3)]
    br = [b_rec[j * U:(j + 1) * U] for j in range(3)]
    xs = [(x * xm[j]) @ k[j] + bi[j] for j in range(3)]
    z = sigmoid(xs[0] + (h * hm[0]) @ r_k[0] + br[0])
    r = sigmoid(xs[1] + (h * hm[1]) @ r_k[1] + br[1])
    if reset_after:
        hh = np.tanh(xs[2] + r * ((h * hm[2]) @ r_k[2] + br[2]))
    else:
        hh = np.tanh(xs[2] + (r * (h * hm[2])) @ r_k[2])
    return z * h + (1 - z) * hh


@pytest.mark.parametrize("reset_after", [True, False])
def test_weights_names_shapes_and_order(reset_after):
    layer = layers.GRU(U, reset_after=reset_after,
                       bias_initializer=tg.initializers.Constant(0.5))
    layer(np.zeros((B, T, D), "float32"))
    bias_shape = (2, 3 * U) if reset_after else (3 * U,)
    assert [w.shape for w in layer.get_weights()] == [(D, 3 * U), (U, 3 * U), bias_shape]
    assert [w.name for w in layer.weights] == ["gru_cell/kernel", "gru_cell/recurrent_kernel",
                                               "gru_cell/bias"]
    np.testing.assert_array_equal(layer.get_weights()[2], np.full(bias_shape, 0.5))
    assert layer.kernel is layer.cell.kernel and layer.reset_after is reset_after
    no_bias = layers.GRU(U, use_bias=False, reset_after=reset_after)
    no_bias(np.zeros((B, T, D), "float32"))
    assert [w.shape for w in no_bias.get_weights()] == [(D, 3 * U), (U, 3 * U)]
    assert no_bias.bias is None


def test_set_weights_names_the_bias_of_the_wrong_layout():
    layer = layers.GRU(U)                     # reset_after: bias (2, 3U)
    layer(np.zeros((B, T, D), "float32"))
    k, r, _ = layer.get_weights()
    with pytest.raises(ValueError, match=r"bias.*\(2, 15\).*\(15,\)"):
        layer.set_weights([k, r, np.zeros(3 * U, "float32")])


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("implementation", [1, 2])
def test_dropout_masks_match_a_numpy_gru(reset_after, implementation):
    # Keras' rules: implementation 1 draws 3 input and 3 recurrent masks (one per gate),
    # implementation 2 one input mask; recurrent dropout forces implementation 1. The
    # cell reads the masks cached for this call, so fetching them gives what it used.
    rng = np.random.default_rng(0)
    rec_rate = 0.4 if implementation == 1 else 0.0
    cell = layers.GRUCell(U, dropout=0.3, recurrent_dropout=rec_rate, reset_after=reset_after,
                          implementation=implementation, seed=7, dtype="float64")
    x, h = rng.standard_normal((B, D)), rng.standard_normal((B, U))
    xt, ht = tg.constant(x), tg.constant(h)
    cell(xt, [ht])                     # builds the weights (no masks: not training)
    n_in = 3 if implementation == 1 else 1
    masks = cell.get_dropout_mask_for_cell(xt, True, n_in)
    rec_masks = cell.get_recurrent_dropout_mask_for_cell(ht, True, 3)
    assert (rec_masks is None) == (implementation == 2)
    out, _ = cell(xt, [ht], training=True)
    masks = masks if implementation == 1 else [masks] * 3
    got, m, rm = tg.Session().run([out, masks, rec_masks or [tg.ones_like(ht)] * 3])
    assert {np.round(v, 6) for v in np.unique(np.concatenate([a.ravel() for a in m]))} \
        <= {0.0, round(1 / 0.7, 6)}
    k, r, b = cell.get_weights()
    want = np_gru_step(x, h, k, r, b, reset_after, m, rm)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_recurrent_dropout_forces_implementation_1():
    # tf-keras gru_test.py test_recurrent_dropout_with_implementation_restriction
    assert layers.GRU(2, recurrent_dropout=0.1, implementation=2).implementation == 1
    assert layers.GRUCell(2, recurrent_dropout=0.1).get_config()["implementation"] == 1
    assert layers.GRUCell(2, dropout=0.1).implementation == 2


def test_dropout_only_when_training_and_seeded_masks_repeat(rng):
    x = rng.standard_normal((B, T, D)).astype("float32")
    plain = layers.GRU(U, return_sequences=True)
    y_plain = plain(x)
    dropped = [layers.GRU(U, dropout=0.5, recurrent_dropout=0.5, seed=3, return_sequences=True)
               for _ in range(2)]
    ys = [d(x, training=True) for d in dropped]
    y_inference = dropped[0](x, training=False)
    for d in dropped:
        d.set_weights(plain.get_weights())
    got_plain, got_inf, got_a, got_b = tg.Session().run([y_plain, y_inference] + ys)
    np.testing.assert_allclose(got_inf, got_plain, rtol=1e-6)
    np.testing.assert_array_equal(got_a, got_b)         # same seed, same masks
    assert not np.allclose(got_a, got_plain)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("implementation", [1, 2])
def test_gradients_by_finite_differences(reset_after, implementation, rng):
    # w.r.t. the inputs, the initial state and every weight (no dropout: its masks are
    # drawn anew at each run, so finite differences would see other masks)
    bias_shape = (2, 9) if reset_after else (9,)

    def build(x, h0, k, r, b):
        cell = layers.GRUCell(3, reset_after=reset_after, implementation=implementation,
                              dtype="float64")
        cell.build((2, 2))
        cell.kernel, cell.recurrent_kernel, cell.bias = k, r, b    # the fed weights
        return layers.RNN(cell, return_sequences=True)(x, initial_state=[h0], training=True)

    args = [rng.standard_normal(s) for s in ((2, 3, 2), (2, 3), (2, 9), (3, 9), bias_shape)]
    check_grads(build, args, order=1)


@pytest.mark.parametrize("cls", [layers.GRU, layers.GRUCell])
def test_config_round_trip(cls):
    obj = cls(4, activation="relu", recurrent_activation="hard_sigmoid", reset_after=False,
              dropout=0.25, recurrent_dropout=0.1, seed=5, kernel_regularizer="l2",
              **({"return_sequences": True, "go_backwards": True} if cls is layers.GRU else {}))
    cfg = obj.get_config()
    assert cfg["reset_after"] is False and cfg["implementation"] == 1 and cfg["seed"] == 5
    assert cls.from_config(cfg).get_config() == cfg
    assert layers.deserialize(layers.serialize(obj)).get_config() == cfg
    rnn = layers.RNN(layers.GRUCell(2))
    assert layers.RNN.from_config(rnn.get_config()).get_config() == rnn.get_config()


def test_return_state_is_the_one_state_and_the_cell_takes_a_bare_state(rng):
    x = rng.standard_normal((B, T, D)).astype("float32")
    output, h = layers.GRU(U, return_state=True)(x)
    got_out, got_h = tg.Session().run([output, h])
    np.testing.assert_array_equal(got_out, got_h)
    cell = layers.GRUCell(U)
    init = cell.get_initial_state(batch_size=B)
    assert len(init) == 1 and init[0].shape == (B, U)
    out, state = cell(x[:, 0], init)
    assert isinstance(state, list) and len(state) == 1
    out2, state2 = cell(x[:, 0], init[0])              # a bare tensor state comes back bare
    assert isinstance(state2, tg.Tensor)
    np.testing.assert_array_equal(*tg.Session().run([out, out2]))


def test_time_major_is_the_transposed_layout(rng):
    x = rng.standard_normal((B, T, D)).astype("float64")
    a = layers.GRU(U, return_sequences=True, dtype="float64")
    b = layers.GRU(U, return_sequences=True, time_major=True, dtype="float64")
    ya, yb = a(x), b(np.ascontiguousarray(x.transpose(1, 0, 2)))
    b.set_weights(a.get_weights())
    got_a, got_b = tg.Session().run([ya, yb])
    np.testing.assert_allclose(got_b.transpose(1, 0, 2), got_a, rtol=1e-12)


@pytest.mark.parametrize("make, error, words", [
    (lambda: layers.GRU(0), ValueError, "GRUCell: units must be a positive integer, got 0"),
    (lambda: layers.GRU(3, implementation=3), ValueError, "implementation must be 1 or 2, got 3"),
    (lambda: layers.GRU(3, dropout=1.5), ValueError, "dropout must be a number in [0, 1)"),
    (lambda: layers.GRU(3, recurrent_activation="nope"), ValueError, "unknown activation 'nope'"),
    (lambda: layers.GRU(3, dtype="int32"), ValueError, "GRU: dtype must be a float dtype"),
    (lambda: layers.GRU(3, unit_forget_bias=True), TypeError, "GRU: unknown keyword argument"),
    (lambda: layers.GRUCell(3, seed=-1), ValueError, "seed must be None or a non-negative"),
])
def test_bad_arguments_are_refused_by_name(make, error, words):
    with pytest.raises(error, match=re.escape(words)):
        make()


def test_bad_calls_are_refused_at_build(rng):
    x = rng.standard_normal((B, T, D)).astype("float32")
    with pytest.raises(ValueError, match="has 1 state.*initial_state holds 2"):
        layers.GRU(U)(x, initial_state=[np.zeros((B, U), "float32")] * 2)
    with pytest.raises(ValueError, match=r"expected states \(batch, 5\)"):
        layers.GRUCell(U)(x[:, 0], [np.zeros((B, U + 1), "float32")])
    with pytest.raises(ValueError, match="rank 3"):
        layers.GRU(U)(x[:, 0])
