"""Dropout, Activation, Flatten, Reshape and Masking (Keras semantics, configs, errors),
Keras' mask propagation in Sequential and Model, and the functional Model itself."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

pytestmark = pytest.mark.single_backend


def run(t):
    return tg.evaluate(t)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("layer", [
    layers.Dropout(0.3, noise_shape=[None, 1, 4], seed=3), layers.Activation("relu"),
    layers.Flatten(data_format="channels_first"), layers.Reshape((2, -1)),
    layers.Masking(mask_value=-1.0)])
def test_configs_round_trip(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    with pytest.raises(TypeError, match="unknown keyword argument"):
        type(layer).from_config(dict(config, bogus=1))


def test_dropout_is_the_identity_unless_training():
    x = _x(4, 5, 6)
    layer = layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(run(layer(x)), x)
    np.testing.assert_array_equal(run(layer(x, training=False)), x)


def test_dropout_while_training_zeroes_and_scales():
    x = np.ones((200, 50), np.float32)
    y = run(layers.Dropout(0.25, seed=7)(x, training=True))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02


def test_dropout_noise_shape_shares_one_draw_along_axes_of_size_one():
    x = np.ones((8, 5, 6), np.float32)
    y = run(layers.Dropout(0.5, noise_shape=(None, 1, 6), seed=2)(x, training=True))
    assert (y == y[:, :1, :]).all()                  # the same along time
    assert (y == 0).any() and (y != 0).any()
    with pytest.raises(ValueError, match="noise_shape .* has 2 entries, the inputs have rank 3"):
        layers.Dropout(0.5, noise_shape=(None, 6))(x, training=True)


def test_dropout_seed_reproduces_and_training_may_be_a_tensor():
    x = np.ones((10, 10), np.float32)
    a = run(layers.Dropout(0.5, seed=11)(x, training=True))
    b = run(layers.Dropout(0.5, seed=11)(x, training=True))
    np.testing.assert_array_equal(a, b)
    flag = tg.placeholder([], "bool", name="training")
    y = layers.Dropout(0.5, seed=11)(x, training=flag)
    with tg.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {flag: False}), x)
        assert (sess.run(y, {flag: True}) == 0).any()


@pytest.mark.parametrize("rate", [1.0, -0.1, "half"])
def test_dropout_rate_is_checked(rate):
    with pytest.raises(ValueError, match=r"Dropout: rate must be a number in \[0, 1\)"):
        layers.Dropout(rate)


def test_activation_layer():
    x = _x(3, 4)
    np.testing.assert_allclose(run(layers.Activation("relu")(x)), np.maximum(x, 0))
    np.testing.assert_allclose(run(layers.Activation(None)(x)), x)
    with pytest.raises(ValueError, match="unknown activation 'swoosh'; valid names"):
        layers.Activation("swoosh")


def test_flatten_and_its_channels_first_order():
    x = _x(2, 3, 4, 5)
    np.testing.assert_array_equal(run(layers.Flatten()(x)), x.reshape(2, -1))
    np.testing.assert_array_equal(run(layers.Flatten("channels_first")(x)),
                                  np.moveaxis(x, 1, -1).reshape(2, -1))
    with pytest.raises(ValueError, match="data_format must be None"):
        layers.Flatten("nchw")
    with pytest.raises(ValueError, match=r"Flatten needs known non-batch dimensions"):
        layers.Flatten()(tg.placeholder([None, None, 3]))


def test_reshape_keeps_the_batch_and_infers_one_dimension():
    x = _x(2, 12)
    np.testing.assert_array_equal(run(layers.Reshape((3, 4))(x)), x.reshape(2, 3, 4))
    np.testing.assert_array_equal(run(layers.Reshape((-1, 2))(x)), x.reshape(2, 6, 2))
    y = layers.Reshape((4, 3))(tg.placeholder([None, 12]))
    assert y.shape == (None, 4, 3)
    with pytest.raises(ValueError, match=r"cannot reshape inputs of shape \(2, 12\) \(12 values "
                       r"per sample\) to \(5, -1\)"):
        layers.Reshape((5, -1))(x)
    with pytest.raises(ValueError, match="at most one -1"):
        layers.Reshape((-1, -1))


def test_masking_zeroes_masked_steps_and_makes_the_mask():
    x = _x(2, 4, 3)
    x[0, 1] = 0.0
    x[1, 3] = 0.0
    x[1, 0, 0] = 0.0                                 # one zero feature does not mask a step
    layer = layers.Masking()
    want = np.abs(x).sum(-1) != 0
    np.testing.assert_array_equal(run(layer.compute_mask(x)), want)
    np.testing.assert_array_equal(run(layer(x)), x * want[..., None])


def test_masking_mask_reaches_the_rnn_in_sequential_and_model():
    x = _x(3, 5, 2)
    x[0, 3:] = 0.0
    x[2, 0] = 0.0
    lstm = layers.LSTM(3)
    model = layers.Sequential([layers.Masking(), lstm])
    got = run(model(x))
    want = run(lstm(x, mask=np.abs(x).sum(-1) != 0))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.abs(run(lstm(x)) - want).max() > 1e-4
    inp = layers.Input((5, 2))
    functional = layers.Model(inp, lstm(layers.Masking()(inp)))
    np.testing.assert_allclose(run(functional(x)), want, rtol=1e-6)


def test_mask_propagation_follows_supports_masking():
    """Keras: Dense and Dropout pass the mask on, an RNN keeps it only with
    return_sequences, Flatten drops it."""
    ids = np.array([[1, 2, 0, 0], [3, 0, 4, 5]])
    mask = ids != 0
    emb = layers.Embedding(6, 3, mask_zero=True)
    assert run(layers.Dense(2).compute_mask(emb(ids), emb.compute_mask(ids))).tolist() == \
        mask.tolist()
    assert layers.Flatten().compute_mask(emb(ids), mask) is None
    assert layers.LSTM(2).compute_mask(emb(ids), mask) is None
    assert layers.LSTM(2, return_sequences=True).compute_mask(emb(ids), mask) is mask
    lstm = layers.LSTM(2)
    model = layers.Sequential([emb, layers.Dense(3), layers.Dropout(0.5), lstm])
    want = run(lstm(model.layers[2](model.layers[1](emb(ids))), mask=mask))
    np.testing.assert_allclose(run(model(ids)), want, rtol=1e-6)


# ---------------------------------------------------------------------- Model

def test_model_chain_weights_and_summary():
    inp = layers.Input((4, 3), name="x")
    h = layers.LSTM(5, return_sequences=True)(inp)
    out = layers.Dense(2)(layers.Flatten()(h))
    model = layers.Model(inp, out, name="chain")
    assert [type(layer).__name__ for layer in model.layers] == ["LSTM", "Flatten", "Dense"]
    assert out.shape == (None, 2) and len(model.weights) == 5
    x = _x(2, 4, 3)
    lstm, flat, dense = model.layers
    np.testing.assert_allclose(run(model(x)), run(dense(flat(lstm(x)))), rtol=1e-6)
    model.set_weights([w + 1 for w in model.get_weights()])
    np.testing.assert_allclose(run(model(x)), run(dense(flat(lstm(x)))), rtol=1e-6)
    text = model.summary(print_fn=None)
    assert 'Model: "chain"' in text and "x (Input)" in text and "(None, 4, 5)" in text
    assert "Total params: 222" in text


def test_model_dag_through_an_explicit_mask():
    """A DAG: the mask is computed from the input on its own branch (as Keras 3 records)."""
    inp = layers.Input((5,), dtype="int32")
    mask = layers.functional.apply(lambda t: tg.not_equal(t, 0), inp)
    lstm = layers.LSTM(2)
    emb = layers.Embedding(7, 3)
    model = layers.Model(inp, lstm(emb(inp), mask=mask))
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 1, 2]])
    np.testing.assert_allclose(run(model(ids)), run(lstm(emb(ids), mask=ids != 0)), rtol=1e-6)


def test_model_errors():
    a, b = layers.Input((3,)), layers.Input((3,))
    with pytest.raises(ValueError, match="is an input other than the model's input"):
        layers.Model(a, layers.Dense(2)(b))
    with pytest.raises(ValueError, match="must be one symbolic tensor"):
        layers.Model([a, b], layers.Dense(2)(a))
    with pytest.raises(ValueError, match="must be one symbolic tensor"):
        layers.Model(a, np.zeros(3))
    model = layers.Model(a, layers.Dense(2)(a))
    with pytest.raises(ValueError, match=r"expected inputs of shape \(None, 3\), got \(2, 4\)"):
        model(np.zeros((2, 4), np.float32))
    with pytest.raises(NotImplementedError, match="no config round trip"):
        model.get_config()
