"""Layer base, Dense, Embedding, activations, regularizers, constraints; configs,
weights and bad arguments for every layer (SPEC 6 and 11)."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.layers import activations, constraints, regularizers


def run(fetches, feed=None):
    return tg.Session().run(fetches, feed)


# ---------------------------------------------------------------------- activations

def test_hard_sigmoid_is_keras3_and_v1_is_keras2():
    x = np.array([-4.0, -2.75, 1.0, 2.75, 4.0])
    hs, v1 = run([activations.get("hard_sigmoid")(tg.constant(x)),
                  activations.get("hard_sigmoid_v1")(tg.constant(x))])
    np.testing.assert_allclose(hs, np.clip(x / 6 + 0.5, 0, 1))
    np.testing.assert_allclose(v1, np.clip(0.2 * x + 0.5, 0, 1))
    assert hs[2] == pytest.approx(2 / 3) and v1[2] == pytest.approx(0.7)


@pytest.mark.parametrize("name, ref", [
    ("tanh", np.tanh), ("sigmoid", lambda x: 1 / (1 + np.exp(-x))), ("relu", lambda x: np.maximum(x, 0)),
    ("linear", lambda x: x), ("exponential", np.exp), ("softplus", lambda x: np.log1p(np.exp(x))),
    ("softsign", lambda x: x / (1 + np.abs(x))), ("elu", lambda x: np.where(x > 0, x, np.expm1(x))),
    ("softmax", lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True))])
def test_activation_values(name, ref):
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    np.testing.assert_allclose(run(activations.get(name)(tg.constant(x))), ref(x), rtol=1e-12)


def test_activation_none_is_linear_and_callables_pass_through():
    assert activations.get(None) is activations.linear
    fn = lambda t: t * 2.0   # noqa: E731
    assert activations.get(fn) is fn
    assert activations.serialize(activations.get("relu")) == "relu"


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'tanhh'.*hard_sigmoid_v1.*tanh"):
        activations.get("tanhh")
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        layers.LSTMCell(3, recurrent_activation="swishy")


# ---------------------------------------------------------------------- regularizers

def test_regularizer_formulas_and_defaults():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    t = tg.constant(w)
    l1, l2, both = run([regularizers.get("l1")(t), regularizers.get("l2")(t),
                        regularizers.get("l1_l2")(t)])
    assert l1 == pytest.approx(0.01 * np.abs(w).sum())
    assert l2 == pytest.approx(0.01 * (w ** 2).sum())
    assert both == pytest.approx(l1 + l2)
    assert run(regularizers.L1L2(l1=0.5)(t)) == pytest.approx(0.5 * np.abs(w).sum())
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")


def test_layer_losses_collect_weight_and_activity_regularizers():
    dense = layers.Dense(2, kernel_regularizer="l2", bias_regularizer=regularizers.l1(0.5),
                         activity_regularizer="l1", bias_initializer="ones")
    x = np.ones((3, 4), np.float32)
    out = dense(x)
    assert len(dense.losses) == 3
    k, b, act_loss, o = run([dense.losses[0], dense.losses[1], dense.losses[2], out])
    assert k == pytest.approx(0.01 * np.sum(dense.kernel.value ** 2), rel=1e-5)
    assert b == pytest.approx(0.5 * 2)
    assert act_loss == pytest.approx(0.01 * np.abs(o).sum(), rel=1e-5)
    total = run(tg.losses.regularization_loss(dense))
    assert total == pytest.approx(k + b + act_loss, rel=1e-5)


def test_lstm_regularizers_reach_the_rnn_losses():
    lstm = layers.LSTM(3, kernel_regularizer="l2", recurrent_regularizer="l1")
    lstm(np.ones((2, 4, 5), np.float32))
    assert len(lstm.losses) == 2
    k, r = run(lstm.losses)
    assert k == pytest.approx(0.01 * np.sum(lstm.kernel.value ** 2), rel=1e-5)
    assert r == pytest.approx(0.01 * np.sum(np.abs(lstm.recurrent_kernel.value)), rel=1e-5)


# ---------------------------------------------------------------------- constraints

def _norm0(w):
    return np.sqrt((w ** 2).sum(axis=0, keepdims=True))


@pytest.mark.parametrize("name, ref", [
    ("max_norm", lambda w: w * np.clip(_norm0(w), 0, 2) / (1e-7 + _norm0(w))),
    ("non_neg", lambda w: w * (w >= 0)),
    ("unit_norm", lambda w: w / (1e-7 + _norm0(w))),
    ("min_max_norm", lambda w: w * np.clip(_norm0(w), 0, 1) / (1e-7 + _norm0(w)))])
def test_constraint_formulas(name, ref, rng):
    w = rng.normal(0, 2, (4, 3))
    np.testing.assert_allclose(run(constraints.get(name)(tg.constant(w))), ref(w), rtol=1e-12)


def test_constraint_is_applied_after_an_optimizer_step():
    dense = layers.Dense(3, kernel_constraint="non_neg", kernel_initializer="random_normal",
                         dtype="float64")
    x = np.random.default_rng(0).normal(size=(5, 4))
    loss = tg.reduce_sum(tg.square(dense(x) + 1.0))
    assert (dense.kernel.value < 0).any()
    run(tg.optimizers.SGD(0.01).minimize(loss))
    assert (dense.kernel.value >= 0).all() and (dense.kernel.value > 0).any()


def test_unknown_constraint_lists_valid_names():
    with pytest.raises(ValueError, match="unknown constraint 'positive'.*max_norm.*non_neg"):
        layers.Dense(2, kernel_constraint="positive")


# ---------------------------------------------------------------------- Dense / Embedding

def test_dense_values_and_rank3(rng):
    dense = layers.Dense(3, activation="relu", dtype="float64")
    x = rng.normal(size=(2, 5, 4))
    out = dense(x)
    assert out.shape == (2, 5, 3)
    dense.set_weights([rng.normal(size=(4, 3)), rng.normal(size=3)])
    k, b = dense.get_weights()
    np.testing.assert_allclose(run(out), np.maximum(x @ k + b, 0), rtol=1e-12)


def test_embedding_lookup_gradient_and_mask(rng):
    emb = layers.Embedding(10, 4, mask_zero=True, dtype="float64")
    ids = np.array([[1, 2, 0], [3, 3, 0]])
    out = emb(ids)
    assert out.shape == (2, 3, 4) and out.dtype == np.float64
    table = emb.get_weights()[0]
    assert np.all(np.abs(table) <= 0.05)                    # Keras' "uniform" default
    np.testing.assert_array_equal(run(out), table[ids])
    np.testing.assert_array_equal(run(emb.compute_mask(ids)), ids != 0)
    (g,) = run(tg.gradients(tg.reduce_sum(out), [emb.embeddings]))
    np.testing.assert_array_equal(g[:, 0], np.bincount(ids.ravel(), minlength=10))


# ---------------------------------------------------------------------- Layer base

def test_layer_names_scopes_and_variable_names():
    d1, d2 = layers.Dense(2), layers.Dense(2)
    assert (d1.name, d2.name) == ("dense", "dense_1")
    out = d1(np.ones((1, 3), np.float32))
    assert [v.name for v in d1.weights] == ["dense/kernel", "dense/bias"]
    assert out.node.scope.split("/")[0] == "dense"
    named = layers.Dense(2, name="head")
    named(np.ones((1, 3), np.float32))
    assert named.weights[0].name == "head/kernel"


def test_trainable_flags():
    lstm = layers.LSTM(2)
    lstm(np.ones((1, 3, 2), np.float32))
    assert len(lstm.trainable_weights) == 3 and lstm.non_trainable_weights == []
    lstm.trainable = False
    assert lstm.trainable_weights == [] and len(lstm.non_trainable_weights) == 3
    assert not any(v.trainable for v in lstm.weights)
    lstm.trainable = True
    assert all(v.trainable for v in lstm.weights)


def test_float_inputs_take_the_layer_dtype():
    dense = layers.Dense(2, dtype="float64")
    assert dense(np.ones((1, 3), np.float32)).dtype == np.float64
    assert dense(tg.placeholder((1, 3), "float32")).dtype == np.float64


# ---------------------------------------------------------------------- weights

def test_set_weights_errors_name_the_weight_and_change_nothing():
    lstm = layers.LSTM(3)
    lstm(np.ones((2, 4, 5), np.float32))
    before = lstm.get_weights()
    good = [np.ones_like(w) for w in before]
    with pytest.raises(ValueError, match=r"expected 3 arrays.*got 2"):
        lstm.set_weights(good[:2])
    bad = good[:1] + [np.ones((3, 3))] + good[2:]
    with pytest.raises(ValueError, match=r"'lstm_cell/recurrent_kernel' has shape \(3, 12\).*\(3, 3\)"):
        lstm.set_weights(bad)
    for w, b in zip(lstm.get_weights(), before):          # all-or-nothing
        np.testing.assert_array_equal(w, b)
    lstm.set_weights(good)
    assert all(np.all(w == 1) for w in lstm.get_weights())


def test_get_weights_returns_copies():
    dense = layers.Dense(2)
    dense(np.ones((1, 3), np.float32))
    w = dense.get_weights()
    w[0][...] = 7
    assert not np.any(dense.kernel.value == 7)


# ---------------------------------------------------------------------- configs

def _layers_for_config():
    return [
        layers.Dense(3, activation="tanh", use_bias=False, kernel_regularizer="l1",
                     kernel_constraint=constraints.MaxNorm(3, axis=1)),
        layers.Embedding(7, 2, mask_zero=True, embeddings_initializer="glorot_normal"),
        layers.SimpleRNNCell(4, activation="relu", dropout=0.25, seed=3),
        layers.LSTMCell(3, recurrent_activation="hard_sigmoid_v1", unit_forget_bias=False,
                        recurrent_dropout=0.5, implementation=2, bias_regularizer="l2",
                        recurrent_constraint="unit_norm", kernel_initializer="orthogonal"),
        layers.StackedRNNCells([layers.LSTMCell(3), layers.SimpleRNNCell(2)]),
        layers.RNN(layers.LSTMCell(2), return_sequences=True, go_backwards=True, unroll=True,
                   zero_output_for_mask=True),
        layers.RNN([layers.LSTMCell(2), layers.LSTMCell(3)], return_state=True, time_major=True),
        layers.LSTM(5, activation=None, dropout=0.1, seed=7, stateful=True, return_state=True,
                    activity_regularizer="l2", dtype="float64"),
    ]


@pytest.mark.parametrize("index", range(8))
def test_config_round_trip(index):
    layer = _layers_for_config()[index]
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert type(clone) is type(layer)


def test_config_keeps_cell_arguments():
    cfg = layers.LSTMCell(3, recurrent_dropout=0.5, implementation=2).get_config()
    assert cfg["implementation"] == 1             # forced by recurrent_dropout, as Keras
    assert cfg["recurrent_dropout"] == 0.5 and cfg["units"] == 3
    lstm_cfg = layers.LSTM(4, go_backwards=True).get_config()
    assert "cell" not in lstm_cfg and lstm_cfg["units"] == 4 and lstm_cfg["go_backwards"]
    assert lstm_cfg["kernel_initializer"] == {"class_name": "glorot_uniform", "config": {"seed": None}}


def test_rebuilt_layer_computes_the_same(rng):
    lstm = layers.LSTM(3, return_sequences=True, dtype="float64")
    x = rng.normal(size=(2, 4, 5))
    out = lstm(x)
    clone = layers.LSTM.from_config(dict(lstm.get_config(), name="clone"))
    out2 = clone(x)
    clone.set_weights(lstm.get_weights())
    a, b = run([out, out2])
    np.testing.assert_array_equal(a, b)


def test_from_config_rejects_unknown_keys():
    cfg = dict(layers.LSTM(3).get_config(), units_typo=3)
    with pytest.raises(TypeError, match=r"LSTM: unknown keyword argument\(s\) 'units_typo'"):
        layers.LSTM.from_config(cfg)


# ---------------------------------------------------------------------- bad arguments (SPEC 11)

@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.LSTMCell(0), ValueError, "LSTMCell: units must be a positive integer, got 0"),
    (lambda: layers.LSTMCell(-2), ValueError, "units must be a positive integer, got -2"),
    (lambda: layers.LSTM(2.5), ValueError, "units must be a positive integer, got 2.5"),
    (lambda: layers.SimpleRNNCell("4"), ValueError, "units must be a positive integer"),
    (lambda: layers.Dense(0), ValueError, "Dense: units must be a positive integer"),
    (lambda: layers.Embedding(0, 3), ValueError, "input_dim must be a positive integer"),
    (lambda: layers.LSTMCell(3, dropout=1.0), ValueError, r"dropout must be a number in \[0, 1\), got 1.0"),
    (lambda: layers.LSTM(3, dropout=-0.1), ValueError, r"dropout must be a number in \[0, 1\)"),
    (lambda: layers.LSTM(3, recurrent_dropout=1.5), ValueError, r"recurrent_dropout must be a number in \[0, 1\)"),
    (lambda: layers.SimpleRNNCell(3, dropout="x"), ValueError, r"dropout must be a number in \[0, 1\)"),
    (lambda: layers.LSTMCell(3, implementation=3), ValueError, "implementation must be 1 or 2, got 3"),
    (lambda: layers.LSTM(3, implementation=0), ValueError, "implementation must be 1 or 2, got 0"),
    (lambda: layers.LSTM(3, activation="tahn"), ValueError, r"unknown activation 'tahn'; valid names: .*tanh"),
    (lambda: layers.LSTMCell(3, kernel_initializer="glorot"), ValueError,
     r"unknown initializer 'glorot'; valid names: .*glorot_uniform.*orthogonal"),
    (lambda: layers.LSTM(3, recurrent_initializer="orthogonall"), ValueError, "unknown initializer 'orthogonall'"),
    (lambda: layers.LSTMCell(3, seed=-1), ValueError, "seed must be None or a non-negative integer"),
    (lambda: layers.LSTMCell(3, unit=3), TypeError, r"LSTMCell: unknown keyword argument\(s\) 'unit'; valid arguments: .*units"),
    (lambda: layers.LSTM(3, retrun_sequences=True), TypeError,
     r"LSTM: unknown keyword argument\(s\) 'retrun_sequences'; valid arguments: .*return_sequences"),
    (lambda: layers.RNN(layers.LSTMCell(3), bogus=1), TypeError, "RNN: unknown keyword argument"),
    (lambda: layers.Dense(3, input_dim=4), TypeError, "Dense: unknown keyword argument"),
    (lambda: layers.RNN(object()), ValueError, "is not an RNN cell"),
    (lambda: layers.LSTM(3, dtype="int32"), ValueError, "dtype must be a float dtype"),
    (lambda: layers.StackedRNNCells([]), ValueError, "needs at least one cell"),
])
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("make, shape", [(lambda: layers.Dense(3), (None, 4)),
                                         (lambda: layers.Embedding(5, 2), (None, 3)),
                                         (lambda: layers.LSTMCell(3), (None, 4))])
def test_a_layer_built_by_hand_is_built_and_keeps_its_weights(make, shape):
    # Keras: layer.build(shape) marks the layer built; calling it later must not
    # create a second set of weights.
    layer = make()
    layer.build(shape)
    assert layer.built
    names = [w.name for w in layer.weights]
    if isinstance(layer, layers.LSTMCell):
        layer(tg.placeholder((2, 4)), [tg.placeholder((2, 3)), tg.placeholder((2, 3))])
    else:
        layer(tg.placeholder((2,) + shape[1:], "int32" if shape == (None, 3) else "float32"))
    assert [w.name for w in layer.weights] == names
