"""Nothing in a Keras file is ever executed, imported or unpickled (SPEC 6): crafted
files whose configs name code (a marshalled Lambda, a module to import, a builtin
function, a pickle in the archive) are refused or ignored, and the code never runs;
configs tinygraph does not build are refused with the layer's class and what is
supported."""
import base64
import json
import marshal
import pickle
import sys

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

import keras_crafting as kc

h5py = pytest.importorskip("h5py")
pytestmark = pytest.mark.single_backend

SRC = kc.fixture("k3_embedding_lstm_dense")


def _marshalled(marker):
    """A marshalled code object (as Keras stores a Lambda's) that creates ``marker``
    when it runs."""
    source = f"open({str(marker)!r}, 'w').close()\n"
    return base64.b64encode(marshal.dumps(compile(source, "payload", "exec"))).decode("ascii")


def test_the_payload_is_live(tmp_path):
    """The crafted code does create the marker when something runs it: so its absence
    below means nothing ran it."""
    marker = tmp_path / "ran"
    exec(marshal.loads(base64.b64decode(_marshalled(marker))), {})
    assert marker.exists()


def _lambda_entry(marker):
    return {"module": "keras.layers", "class_name": "Lambda",
            "config": {"name": "evil", "trainable": True, "dtype": "float32",
                       "function": {"class_name": "__lambda__",
                                    "config": {"code": _marshalled(marker), "defaults": None,
                                               "closure": None}},
                       "arguments": {}},
            "registered_name": None}


def test_a_marshalled_lambda_in_a_keras_archive_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = kc.with_config(SRC, tmp_path / "lambda.keras",
                          lambda c: c["config"]["layers"].insert(2, _lambda_entry(marker)))
    with pytest.raises(layers.KerasFileError, match=r"lambda\.keras.*'Lambda' carries code.*never"):
        layers.load_keras_model(path)
    assert not marker.exists()


def test_a_real_keras_lambda_file_is_refused():
    with pytest.raises(layers.KerasFileError, match=r"k3_lambda\.keras: layer 1: 'Lambda' carries"):
        layers.load_keras_model(kc.FIXTURES / "k3_lambda.keras")


def test_a_marshalled_lambda_in_a_tf_keras_h5_model_is_refused_and_never_runs(tmp_path):
    """The tf-keras exploit: load_model unmarshals and runs a Lambda's code."""
    marker = tmp_path / "ran"

    def edit(f):
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"].insert(2, {
            "module": "keras.layers", "class_name": "Lambda",
            "config": {"name": "evil", "function": [_marshalled(marker), None, None],
                       "function_type": "lambda", "module": "__main__", "arguments": {}}})
        f.attrs["model_config"] = json.dumps(config)
    path = kc.edited_h5(kc.fixture("tfk_lstm"), tmp_path / "lambda.h5", edit)
    with pytest.raises(layers.KerasFileError, match=r"lambda\.h5.*'Lambda' carries code"):
        layers.load_keras_model(path)
    assert not marker.exists()


def test_a_custom_layer_module_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "tinygraph_crafted_payload.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = {"module": "tinygraph_crafted_payload", "class_name": "Evil",
             "config": {"name": "evil"}, "registered_name": "Custom>Evil"}
    path = kc.with_config(SRC, tmp_path / "custom.keras",
                          lambda c: c["config"]["layers"].insert(2, entry))
    with pytest.raises(layers.KerasFileError, match=r"'Evil' is a custom object.*"
                       r"tinygraph_crafted_payload.*never imported.*Supported: InputLayer"):
        layers.load_keras_model(path)
    assert "tinygraph_crafted_payload" not in sys.modules
    assert not marker.exists()


@pytest.mark.parametrize("where, spec, words", [
    ("activation", {"module": "builtins", "class_name": "function", "config": "exec",
                    "registered_name": "function"}, r"'function' carries code"),
    ("kernel_initializer", {"module": "my_inits", "class_name": "Evil", "config": {},
                            "registered_name": "my>Evil"}, r"'Evil' is a custom object"),
    ("kernel_regularizer", {"module": "keras.regularizers", "class_name": "L2",
                            "config": {"l2": 0.1}, "registered_name": "Custom>L2"},
     r"'L2' is a custom object"),
])
def test_code_nested_in_a_config_is_refused(tmp_path, where, spec, words):
    def edit(c):
        c["config"]["layers"][3]["config"][where] = spec           # the Dense layer
    path = kc.with_config(SRC, tmp_path / "nested.keras", edit)
    with pytest.raises(layers.KerasFileError, match=rf"nested\.keras: layer 3.*{words}"):
        layers.load_keras_model(path)


def test_a_pickle_in_the_archive_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    members = kc.read_archive(SRC)
    members["assets/payload.pkl"] = pickle.dumps(Payload())
    members["model.pkl"] = pickle.dumps(Payload())
    path = kc.write_archive(tmp_path / "pickled.keras", members)
    model = layers.load_keras_model(path)
    x, want = kc.expected("k3_embedding_lstm_dense")
    np.testing.assert_allclose(tg.evaluate(model(x)), want, rtol=1e-5, atol=1e-5)
    assert not marker.exists()


def test_a_subclassed_model_is_refused(tmp_path):
    def edit(c):
        c.update(module="my_models", class_name="MyModel", registered_name="Custom>MyModel")
    with pytest.raises(layers.KerasFileError, match=r"'MyModel' is a custom object"):
        layers.load_keras_model(kc.with_config(SRC, tmp_path / "sub.keras", edit))

    def edit_builtin(c):
        c.update(module="keras", class_name="MyModel", registered_name=None)
    with pytest.raises(layers.KerasFileError, match=r"model class 'MyModel' is a subclassed model"):
        layers.load_keras_model(kc.with_config(SRC, tmp_path / "sub2.keras", edit_builtin))


# ---------------------------------------------------------------------- refused configs

def _edit_layer(k, fn):
    def edit(c):
        fn(c["config"]["layers"][k])
    return edit


@pytest.mark.parametrize("edit, words", [
    (_edit_layer(2, lambda e: e.update(class_name="Conv1D")),
     r"layer 2: Keras layer class 'Conv1D' is not supported; supported: InputLayer, Dense, "
     r"Embedding, Dropout, .*LSTM, GRU, RNN, Bidirectional"),
    (_edit_layer(2, lambda e: e["config"].update(frobnicate=1)),
     r"layer 2 \(LSTM 'lstm_1'\): config key 'frobnicate' is not one tinygraph maps for LSTM"),
    (_edit_layer(3, lambda e: e["config"].update(quantization_config={"mode": "int8"})),
     r"quantization_config=.*quantized layers are not supported"),
    (_edit_layer(2, lambda e: e["config"].update(dtype="mixed_float16")),
     r"dtype policy 'mixed_float16' is not supported"),
    (_edit_layer(2, lambda e: e["config"].update(activation="swoosh")),
     r"key 'activation'.*unknown activation 'swoosh'"),
    (_edit_layer(2, lambda e: e["config"].update(units=-3)),
     r"tinygraph's LSTM refused the config: .*units must be a positive integer"),
    (_edit_layer(2, lambda e: e["config"].update(kernel_initializer={
        "module": "keras.initializers", "class_name": "STFT", "config": {}})),
     r"initializer .*STFT.*unknown initializer 'stft'; valid names"),
])
def test_configs_tinygraph_does_not_build_are_refused(tmp_path, edit, words):
    path = kc.with_config(SRC, tmp_path / "refused.keras", edit)
    with pytest.raises(layers.KerasFileError, match=rf"refused\.keras: {words}" if
                       words.startswith("layer") else words):
        layers.load_keras_model(path)


@pytest.mark.parametrize("cls, config", [("TruncatedNormal", {"mean": 0.0, "stddev": 0.02,
                                                                  "seed": None}),
                                          ("LecunNormal", {"seed": 3}),
                                          ("LecunUniform", {"seed": None})])
def test_keras_initializers_translate(tmp_path, cls, config):
    """A Dense trained from a TruncatedNormal or Lecun start loads (the weights come from
    the file; the initializer is kept in the config)."""
    spec = {"module": "keras.initializers", "class_name": cls, "config": config,
            "registered_name": None}
    path = kc.with_config(SRC, tmp_path / "init.keras",
                          _edit_layer(3, lambda e: e["config"].update(kernel_initializer=spec)))
    model = layers.load_keras_model(path)
    assert type(model.layers[2].kernel_initializer).__name__ == cls
    x, want = kc.expected("k3_embedding_lstm_dense")
    np.testing.assert_allclose(tg.evaluate(model(x)), want, rtol=1e-5, atol=1e-5)


def test_truncated_normal_and_lecun_initializers():
    w = layers.initializers.TruncatedNormal(1.0, 0.5, seed=0)((400, 500), "float64")
    assert np.abs(w - 1.0).max() <= 1.0 and abs(w.mean() - 1.0) < 0.01
    assert abs(w.std() - 0.5 * 0.8796) < 0.01          # the stddev of N(0, 1) cut at 2
    w = layers.initializers.LecunNormal(seed=0)((400, 500), "float64")
    assert abs(w.std() - np.sqrt(1 / 400)) < 0.002
    w = layers.initializers.LecunUniform(seed=0)((400, 500), "float64")
    assert np.abs(w).max() <= np.sqrt(3 / 400) and abs(w.std() - np.sqrt(1 / 400)) < 0.002


def test_keras_only_keys_are_dropped_with_their_meaning_kept(tmp_path):
    """use_cudnn only picks Keras' kernel: dropped, numbers unchanged."""
    path = kc.with_config(SRC, tmp_path / "cudnn.keras",
                          _edit_layer(2, lambda e: e["config"].update(use_cudnn=False)))
    model = layers.load_keras_model(path)
    x, want = kc.expected("k3_embedding_lstm_dense")
    np.testing.assert_allclose(tg.evaluate(model(x)), want, rtol=1e-5, atol=1e-5)


def test_a_shared_layer_is_refused(tmp_path):
    """A functional model that calls one layer twice."""
    def edit(c):
        entry = c["config"]["layers"][2]
        entry["inbound_nodes"] = entry["inbound_nodes"] * 2
    path = kc.with_config(kc.fixture("k3_functional_dropout"), tmp_path / "shared.keras", edit)
    with pytest.raises(layers.KerasFileError, match=r"called 2 times"):
        layers.load_keras_model(path)
