"""Bad Keras files (SPEC 6, 11): not a zip or HDF5, truncated, missing config or
weights, a weight of the wrong shape or dtype, a missing or extra weight. Each gives a
KerasFileError (a ValueError) naming the file, and where it is about one, the layer and
the weight; none leaves a layer half-loaded."""
import numpy as np
import pytest

from tinygraph import layers

import keras_crafting as kc

h5py = pytest.importorskip("h5py")
pytestmark = pytest.mark.single_backend

SRC = kc.fixture("k3_embedding_lstm_dense")
H5 = kc.fixture("tfk_lstm")


def _truncated(src, dst, keep):
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * keep)])
    return dst


def test_the_error_class_is_a_value_error():
    assert issubclass(layers.KerasFileError, ValueError)


@pytest.mark.parametrize("make, words", [
    (lambda t: (t / "notes.keras").write_text("hello") and t / "notes.keras",
     r"notes\.keras: not a Keras file: it is neither a \.keras archive \(zip\) nor HDF5"),
    (lambda t: _truncated(SRC, t / "cut.keras", 0.5),
     r"cut\.keras: a damaged or truncated \.keras archive"),
    (lambda t: _truncated(SRC, t / "cut.keras", 0.98),
     r"cut\.keras: a damaged or truncated \.keras archive"),
    (lambda t: _truncated(H5, t / "cut.h5", 0.5), r"cut\.h5: not a readable HDF5 file"),
    (lambda t: _truncated(H5, t / "cut.h5", 0.9), r"cut\.h5: not a readable HDF5 file"),
    (lambda t: kc.write_archive(t / "noconfig.keras", {
        "model.weights.h5": kc.read_archive(SRC)["model.weights.h5"]}),
     r"noconfig\.keras: the \.keras archive has no config\.json \(it holds model\.weights\.h5\)"),
    (lambda t: kc.write_archive(t / "noweights.keras", {
        "config.json": kc.read_archive(SRC)["config.json"]}),
     r"noweights\.keras: the \.keras archive has no model\.weights\.h5"),
    (lambda t: kc.write_archive(t / "badjson.keras", dict(kc.read_archive(SRC),
                                                          **{"config.json": b"{not json"})),
     r"badjson\.keras: config\.json is not valid JSON"),
    (lambda t: kc.FIXTURES / "tfk_lstm_weights.h5",
     r"tfk_lstm_weights\.h5: an HDF5 file without a model_config attribute: a weights file"),
])
def test_files_that_are_not_keras_models(tmp_path, make, words):
    with pytest.raises(layers.KerasFileError, match=words):
        layers.load_keras_model(make(tmp_path))


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        layers.load_keras_model(tmp_path / "nothing.keras")


def _shape(f):
    kc.replace_dataset(f, "layers/lstm/cell/vars/1", np.zeros((5, 19), np.float32))


def _dtype(f):
    kc.replace_dataset(f, "layers/dense/vars/1", np.zeros((3,), np.float64))


def _text(f):
    kc.replace_dataset(f, "layers/dense/vars/1", np.array([b"a", b"b", b"c"]))


def _missing(f):
    del f["layers/lstm/cell/vars/2"]


def _missing_layer(f):
    del f["layers/lstm"]


def _extra_layer(f):
    f["layers/dense_7/vars/0"] = np.zeros((2, 2), np.float32)


@pytest.mark.parametrize("edit, words", [
    (_shape, r"layer 'lstm_1/lstm_cell': weight '\S*recurrent_kernel' has shape \(5, 20\), "
             r"the file's layers/lstm/cell/vars/1 has shape \(5, 19\)"),
    (_dtype, r"layer 'dense_1': weight '\S*bias\S*' is float32, the file's layers/dense/vars/1 is "
             r"float64"),
    (_text, r"layer 'dense_1': weight '\S*bias\S*' is float32, the file's layers/dense/vars/1 is "
            r"\|S1"),
    (_missing, r"layer 'lstm_1/lstm_cell': the file's layers/lstm/cell/vars holds 2 weights, the "
               r"layer has 3 \(\S*kernel \(4, 20\), \S*recurrent_kernel \(5, 20\), \S*bias \(20,\)"),
    (_missing_layer, r"layer 'lstm_1' \(LSTM\): no group layers/lstm in the file"),
    (_extra_layer, r"the file has weights for layers the model lacks: layers/dense_7"),
])
def test_weights_that_do_not_fit_name_file_layer_and_weight(tmp_path, edit, words):
    path = kc.with_weights(SRC, tmp_path / "edited.keras", edit, tmp_path)
    with pytest.raises(layers.KerasFileError, match=rf"edited\.keras: {words}"):
        layers.load_keras_model(path)


@pytest.mark.parametrize("edit", [_dtype, _text, _missing, _extra_layer])
def test_no_layer_is_left_half_loaded(tmp_path, edit):
    """The embedding and LSTM weights come before the bad one in the file: none of them
    changes."""
    model = layers.load_keras_model(SRC)
    before = model.get_weights()
    with h5py.File(tmp_path / "w.weights.h5", "w") as f:
        with h5py.File(kc.FIXTURES / "k3_embedding_lstm_dense.weights.h5", "r") as g:
            for name in ("layers", "vars"):
                g.copy(name, f)
        f["layers/embedding/vars/0"][...] = 0.0              # would change the embedding
        edit(f)
    with pytest.raises(layers.KerasFileError):
        model.load_keras_weights(tmp_path / "w.weights.h5")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_tf_keras_weights_that_do_not_fit(tmp_path):
    def shape(f):
        kc.replace_dataset(f, "model_weights/lstm_1/lstm_1/lstm_cell/kernel:0",
                           np.zeros((4, 15), np.float32))
    path = kc.edited_h5(H5, tmp_path / "shape.h5", shape)
    with pytest.raises(layers.KerasFileError, match=r"shape\.h5: layer 'lstm_1': weight "
                       r"'\S*kernel' has shape \(4, 16\), the file's .*lstm_cell/kernel:0 has "
                       r"shape \(4, 15\)"):
        layers.load_keras_model(path)

    def gone(f):
        del f["model_weights/dense_1/dense_1/bias:0"]
    path = kc.edited_h5(H5, tmp_path / "gone.h5", gone)
    with pytest.raises(layers.KerasFileError, match=r"gone\.h5: layer 'dense_1': weight "
                       r"'dense_1/bias:0' is listed but missing"):
        layers.load_keras_model(path)


def test_a_file_for_another_model_names_both_sides():
    model = layers.Sequential([layers.Dense(3), layers.Dense(2)])
    model(np.zeros((1, 4), np.float32))
    with pytest.raises(layers.KerasFileError, match=r"tfk_lstm_weights\.h5: the file has weights "
                       r"for 3 layers \(embedding, lstm_1, dense_1\), the model has 2"):
        model.load_keras_weights(kc.FIXTURES / "tfk_lstm_weights.h5")
