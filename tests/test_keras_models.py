"""Models trained in Keras (SPEC 6): ``layers.load_keras_model`` gives Keras' ``predict``
numbers for every fixture made by tests/fixtures/gen_keras_models.py (Keras 3 ``.keras``
and tf-keras ``.h5``), and ``load_keras_weights`` reads the same files into tinygraph
models built by hand."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

import keras_crafting as kc

h5py = pytest.importorskip("h5py")
pytestmark = pytest.mark.single_backend

KINDS = {
    "k3_embedding_lstm_dense": (layers.Sequential, ["Embedding", "LSTM", "Dense"]),
    "k3_bidi_lstm_gru_dense": (layers.Sequential, ["Bidirectional", "GRU", "Dense"]),
    "k3_simple_rnn": (layers.Sequential, ["SimpleRNN", "SimpleRNN", "Dense"]),
    "k3_gru_reset_before": (layers.Sequential, ["GRU", "Flatten", "Dense"]),
    "k3_functional_dropout": (layers.Model, ["LSTM", "Dropout", "Reshape", "Dense", "Activation"]),
    "k3_functional_mask_zero": (layers.Model, ["Embedding", "LSTM", "Dense", "RNN", "Dense"]),
    "k3_masking_sequential": (layers.Sequential, ["Masking", "LSTM", "GRU", "Dense"]),
    "k3_functional_masking": (layers.Model, ["Masking", "Bidirectional", "RNN", "Dense"]),
    "tfk_lstm": (layers.Sequential, ["Embedding", "LSTM", "Dense"]),
    "tfk_functional": (layers.Model, ["Masking", "Bidirectional", "GRU", "Dropout", "Dense"]),
}


def test_every_fixture_is_covered():
    assert sorted(KINDS) == kc.model_names()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_load_keras_model_gives_keras_predictions(name):
    model = layers.load_keras_model(kc.fixture(name))
    cls, kinds = KINDS[name]
    assert type(model) is cls
    assert [type(layer).__name__ for layer in model.layers] == kinds
    x, want = kc.expected(name)
    got = tg.evaluate(model(x))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_masks_matter():
    """Without its mask the model gives other numbers: the fixtures test masking."""
    model = layers.load_keras_model(kc.fixture("k3_functional_mask_zero"))
    x, want = kc.expected("k3_functional_mask_zero")
    emb, lstm, dense, rnn, head = model.layers
    unmasked = tg.evaluate(head(rnn(dense(lstm(emb(x))))))
    assert np.abs(unmasked - want).max() > 1e-3
    np.testing.assert_allclose(tg.evaluate(model(x)), want, rtol=1e-5, atol=1e-5)


def test_tf_keras_hard_sigmoid_is_its_own_formula():
    """tf-keras' hard_sigmoid is clip(0.2x + 0.5): the loaded LSTM uses hard_sigmoid_v1."""
    model = layers.load_keras_model(kc.fixture("tfk_lstm"))
    assert model.layers[1].recurrent_activation is layers.activations.get("hard_sigmoid_v1")
    k3 = layers.load_keras_model(kc.fixture("k3_functional_dropout"))
    assert k3.layers[0].recurrent_activation is layers.activations.get("hard_sigmoid")


def test_loaded_model_keeps_names_weights_and_summary():
    model = layers.load_keras_model(kc.fixture("k3_embedding_lstm_dense"))
    with h5py.File(kc.FIXTURES / "k3_embedding_lstm_dense.weights.h5") as f:
        kernel = np.array(f["layers/lstm/cell/vars/0"])
        names = [f[f"layers/{g}/vars"].attrs["name"] for g in ("embedding", "lstm", "dense")]
    assert [layer.name for layer in model.layers] == names
    np.testing.assert_array_equal(model.layers[1].cell.kernel.value, kernel)
    assert [w.shape for w in model.get_weights()] == [(12, 4), (4, 20), (5, 20), (20,), (5, 3),
                                                      (3,)]
    assert model.input_shape == (None, 6)
    text = model.summary(print_fn=None)
    assert "LSTM" in text and "(None, 5)" in text and "Total params: 266" in text
    functional = layers.load_keras_model(kc.fixture("k3_functional_masking"))
    assert functional.input_shape == (None, 6, 3)
    text = functional.summary(print_fn=None)
    assert "Connected to" in text and "Bidirectional" in text and "not_equal" in text


def test_training_reaches_dropout_and_gradients_flow():
    model = layers.load_keras_model(kc.fixture("k3_functional_dropout"))
    x, want = kc.expected("k3_functional_dropout")
    y = model(x, training=True)
    assert np.abs(tg.evaluate(y) - want).max() > 1e-4           # Dropout is active
    loss = tg.reduce_sum(model(x))
    grads = tg.gradients(loss, model.trainable_weights)
    assert all(np.isfinite(g).all() and np.abs(g).max() > 0 for g in tg.evaluate(grads))


def test_two_loads_are_independent_models():
    a = layers.load_keras_model(kc.fixture("k3_simple_rnn"))
    b = layers.load_keras_model(kc.fixture("k3_simple_rnn"))
    assert not set(map(id, a.weights)) & set(map(id, b.weights))
    b.set_weights([w * 0 for w in b.get_weights()])
    x, want = kc.expected("k3_simple_rnn")
    np.testing.assert_allclose(tg.evaluate(a(x)), want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- load_keras_weights

def _embedding_lstm_dense(mask_zero=False, recurrent_activation="sigmoid", units=5):
    return layers.Sequential([layers.Embedding(12, 4, mask_zero=mask_zero, name="my_embedding"),
                              layers.LSTM(units, recurrent_activation=recurrent_activation),
                              layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("source", ["k3_embedding_lstm_dense.weights.h5",
                                    "k3_embedding_lstm_dense.keras"])
def test_load_keras_weights_into_a_sequential_built_by_hand(source):
    model = _embedding_lstm_dense()
    x, want = kc.expected("k3_embedding_lstm_dense")
    model(x)                                       # builds it; its names differ from Keras'
    model.load_keras_weights(kc.FIXTURES / source)
    np.testing.assert_allclose(tg.evaluate(model(x)), want, rtol=1e-5, atol=1e-5)


def test_load_tf_keras_weights_file_into_a_sequential_built_by_hand():
    model = layers.Sequential([layers.Embedding(10, 4, mask_zero=True),
                               layers.LSTM(4, recurrent_activation="hard_sigmoid_v1"),
                               layers.Dense(2)])
    x, want = kc.expected("tfk_lstm")
    model(x)
    model.load_keras_weights(kc.FIXTURES / "tfk_lstm_weights.h5")
    np.testing.assert_allclose(tg.evaluate(model(x)), want, rtol=1e-5, atol=1e-5)


def test_load_keras_weights_into_a_functional_model_built_by_hand():
    inp = layers.Input((6, 3))
    h = layers.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid")(inp)
    h = layers.Reshape((24,))(layers.Dropout(0.4)(h))
    out = layers.Activation("softmax")(layers.Dense(3)(h))
    model = layers.Model(inp, out)
    model.load_keras_weights(kc.fixture("k3_functional_dropout"))
    x, want = kc.expected("k3_functional_dropout")
    np.testing.assert_allclose(tg.evaluate(model(x)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("source", ["k3_embedding_lstm_dense.weights.h5", "tfk_lstm_weights.h5"])
def test_load_keras_weights_into_one_layer(source):
    lstm = layers.LSTM(5 if source.startswith("k3") else 4)
    lstm(np.zeros((1, 2, 4), np.float32))
    lstm.load_keras_weights(kc.FIXTURES / source)
    with h5py.File(kc.FIXTURES / source) as f:
        kernel = np.array(f["layers/lstm/cell/vars/0"] if source.startswith("k3") else
                          f["lstm_1/lstm_1/lstm_cell/kernel:0"])
    np.testing.assert_array_equal(lstm.cell.kernel.value, kernel)


def test_wrong_architecture_names_the_layer_and_weight_and_changes_nothing():
    model = _embedding_lstm_dense(units=6)
    model(np.zeros((1, 6), np.int32))
    before = model.get_weights()
    with pytest.raises(layers.KerasFileError, match=r"k3_embedding_lstm_dense\.weights\.h5.*"
                       r"lstm.*kernel.*\(4, 24\).*\(4, 20\)"):
        model.load_keras_weights(kc.FIXTURES / "k3_embedding_lstm_dense.weights.h5")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras3_groups_are_matched_by_class_count_not_listing_order(tmp_path):
    """h5 lists dense_10 before dense_2; each Dense still gets its own group."""
    model = layers.Sequential([layers.Dense(2) for _ in range(12)])
    model(np.zeros((1, 2), np.float32))
    path = tmp_path / "dense12.weights.h5"
    with h5py.File(path, "w") as f:
        for k in range(12):
            g = f.create_group(f"layers/dense{'' if k == 0 else f'_{k}'}/vars")
            g["0"] = np.full((2, 2), k, np.float32)
            g["1"] = np.full((2,), -k, np.float32)
    model.load_keras_weights(path)
    for k, layer in enumerate(model.layers):
        assert layer.kernel.value[0, 0] == k and layer.bias.value[0] == -k


def test_tf_keras_layers_pair_by_name_when_names_agree(tmp_path):
    """Names first: a file whose layers are listed in another order still fits."""
    a, b = layers.Dense(2, name="a"), layers.Dense(2, name="b")
    model = layers.Sequential([a, b])
    model(np.zeros((1, 2), np.float32))
    path = tmp_path / "ab.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"b", b"a"]
        for name, value in (("b", 2.0), ("a", 1.0)):
            g = f.create_group(name)
            g.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            g[f"{name}/kernel:0"] = np.full((2, 2), value, np.float32)
            g[f"{name}/bias:0"] = np.full((2,), value, np.float32)
    model.load_keras_weights(path)
    assert a.kernel.value[0, 0] == 1.0 and b.kernel.value[0, 0] == 2.0
