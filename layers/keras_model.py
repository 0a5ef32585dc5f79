"""``load_keras_model(path)``: a model trained in Keras, rebuilt from tinygraph layers.

A Keras 3 ``.keras`` archive or a tf-keras ``.h5`` model file (see keras_files for how
it is read, safely). A Sequential becomes a ``layers.Sequential``; a functional model
with one input and one output a ``layers.Model``; each layer's config is translated
key by key (keras_config); then the weights are loaded by the file's structure
(keras_weights), all checked before any is assigned. Calling the result gives Keras'
``predict`` numbers.
"""
import tinygraph as tg
from tinygraph.ir import nest

from . import functional, keras_files
from .keras_config import Translation
from .keras_weights import KerasFileError
from .sequential import Sequential
from .symbolic import Input

MODEL_MODULES = ("keras", "keras.models", "keras.src.models.functional",
                 "keras.src.models.sequential", "keras.src.engine.functional",
                 "keras.src.engine.sequential")
_INPUT_KEYS = {"batch_shape", "batch_input_shape", "dtype", "name", "sparse", "ragged",
               "optional", "input_tensor"}


def load_keras_model(path):
    """The model in the Keras file ``path`` (``.keras`` or tf-keras ``.h5``) as tinygraph
    layers, weights loaded. KerasFileError (a ValueError) for a file that is not a Keras
    model, is damaged, or holds what tinygraph does not build (the message names the
    layer and lists what is supported)."""
    path = str(path)
    config, major = keras_files.read_model_config(path)
    tr = Translation(path, major)
    cls, cfg = tr.envelope(config, "the model", MODEL_MODULES)
    if cls == "Sequential":
        model = _sequential(tr, cfg)
    elif cls in ("Functional", "Model"):
        model = _functional(tr, cfg)
    else:
        tr.fail("the model", f"model class {cls!r} is a subclassed model, whose code is never "
                             "run; only Sequential and functional models can be rebuilt")
    model.load_keras_weights(path)
    return model


def _input_spec(tr, cfg, where):
    """(shape with batch, dtype, name) of an InputLayer config."""
    unknown = set(cfg) - _INPUT_KEYS
    if unknown:
        tr.fail(where, f"InputLayer config keys {sorted(unknown)} are not supported")
    if cfg.get("sparse") or cfg.get("ragged"):
        tr.fail(where, "sparse and ragged inputs are not supported")
    if cfg.get("input_tensor") is not None:
        tr.fail(where, "an InputLayer around an existing tensor is not supported")
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if not isinstance(shape, list) or not shape:
        tr.fail(where, f"the InputLayer has no batch shape (got {shape!r})")
    return shape, cfg.get("dtype") or "float32", cfg.get("name")


def _sequential(tr, cfg):
    specs = list(cfg.get("layers", []))
    shape = dtype = None
    if specs and isinstance(specs[0], dict) and specs[0].get("class_name") == "InputLayer":
        tr.envelope(specs[0], "layer 0", ("keras.layers",))
        shape, dtype, _ = _input_spec(tr, specs[0].get("config", {}), "layer 0 (InputLayer)")
        specs = specs[1:]
    layers = [tr.layer(spec, f"layer {k}") for k, spec in enumerate(specs, 1 if shape else 0)]
    if not layers:
        tr.fail("the model", "a Sequential model without layers")
    if shape is None:
        shape, dtype = _first_layer_shape(tr, specs[0], cfg)
    model = Sequential(layers, name=cfg.get("name"), trainable=cfg.get("trainable", True))
    if dtype in (None, "float32") and type(layers[0]).__name__ == "Embedding":
        dtype = "int32"
    with tg.name_scope("build"):
        model(tg.placeholder(list(shape), dtype))
    return model


def _first_layer_shape(tr, spec, cfg):
    """The input shape of a Sequential without an InputLayer: its first layer's
    batch_input_shape (tf-keras) or build_config, else the model's build_input_shape."""
    inner = spec.get("config", {})
    shape = inner.get("batch_input_shape") or (spec.get("build_config") or {}).get(
        "input_shape") or cfg.get("build_input_shape")
    if not shape:
        tr.fail("the model", "the Sequential model was never built (no input shape in the "
                             "file); build and save it in Keras with an Input first")
    return shape, None


# ---------------------------------------------------------------------- functional

class KerasOp:
    """One of Keras' own ops that Keras 3 records in a functional model's config (to
    compute a mask): ``NotEqual`` and ``Any``, computed with tinygraph ops."""

    def __init__(self, kind, config):
        self.kind, self.name = kind, config.get("name", kind)
        self.axis, self.keepdims = config.get("axis"), bool(config.get("keepdims", False))

    def __call__(self, x, y=None):
        if self.kind == "NotEqual":
            return tg.not_equal(x, y)
        return tg.reduce_any(x, axis=self.axis, keepdims=self.keepdims)

    def __str__(self):
        return self.name


OPS = {"NotEqual": ("name",), "Any": ("name", "axis", "keepdims")}
OP_MODULES = ("keras.src.ops.numpy",)


def _operation(tr, spec, where):
    """A tinygraph layer, or a KerasOp, for one entry of a functional config."""
    if spec.get("class_name") in OPS and spec.get("module") in OP_MODULES:
        cls, cfg = tr.envelope(spec, where, OP_MODULES)
        unknown = set(cfg) - set(OPS[cls])
        if unknown:
            tr.fail(where, f"op {cls} with config keys {sorted(unknown)} is not supported")
        return KerasOp(cls, cfg)
    return tr.layer(spec, where)


def _inbound(tr, entry, where):
    """(args, kwargs) of an entry's one call, tensors as ``("ref", name, node, index)``."""
    nodes = entry.get("inbound_nodes", [])
    if len(nodes) != 1:
        tr.fail(where, f"the layer is called {len(nodes)} times in the model; tinygraph rebuilds "
                       "models whose layers are each called once")
    node = nodes[0]
    if isinstance(node, dict):                                     # Keras 3
        return [_k3_arg(tr, a, where) for a in node.get("args", [])], \
            {k: _k3_arg(tr, v, where) for k, v in node.get("kwargs", {}).items()}
    refs = [("ref", r[0], r[1], r[2]) for r in node]                # tf-keras: [[name, n, i, kw]]
    kwargs = dict(node[0][3]) if node and len(node[0]) > 3 else {}
    return [refs[0] if len(refs) == 1 else refs], kwargs


def _k3_arg(tr, value, where):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node, index = value["config"]["keras_history"]
        return ("ref", name, node, index)
    if isinstance(value, (list, tuple)):
        return [_k3_arg(tr, v, where) for v in value]
    if isinstance(value, dict):
        tr.fail(where, f"a call argument {value!r} is not a tensor or a number")
    return value


def _resolve(tr, value, made, where):
    if isinstance(value, tuple) and value and value[0] == "ref":
        _, name, node, index = value
        if name not in made or node != 0:
            tr.fail(where, f"the call reads {name!r} (call {node}), which the model does not make "
                           "before it")
        outputs = nest.flatten(made[name])
        return outputs[index]
    if isinstance(value, list):
        return [_resolve(tr, v, made, where) for v in value]
    return value


def _functional(tr, cfg):
    made, where = {}, "the model"
    for k, entry in enumerate(cfg.get("layers", [])):
        where = f"layer {k}"
        if not isinstance(entry, dict):
            tr.fail(where, f"expected a layer entry, got {entry!r}")
        name = entry.get("name") or entry.get("config", {}).get("name")
        if entry.get("class_name") == "InputLayer":
            tr.envelope(entry, where, ("keras.layers",))
            shape, dtype, _ = _input_spec(tr, entry.get("config", {}), f"{where} (InputLayer)")
            made[name] = Input(shape[1:], dtype, name=name, batch_size=shape[0])
            continue
        op = _operation(tr, entry, where)
        args, kwargs = _inbound(tr, entry, f"{where} ({name!r})")
        unknown = set(kwargs) - {"training", "mask"}
        if unknown:
            tr.fail(where, f"call arguments {sorted(unknown)} are not supported")
        args = [_resolve(tr, a, made, where) for a in args]
        kwargs = {key: _resolve(tr, v, made, where) for key, v in kwargs.items()}
        made[name] = functional.apply(op, *args, **kwargs)
    ends = [_endpoint(tr, cfg, key, made) for key in ("input_layers", "output_layers")]
    try:
        return functional.Model(ends[0], ends[1], name=cfg.get("name"))
    except ValueError as err:
        raise KerasFileError(f"{tr.path}: {err}") from None


def _endpoint(tr, cfg, key, made):
    refs = cfg.get(key)
    if isinstance(refs, list) and refs and isinstance(refs[0], str):
        refs = [refs]                                   # Keras 3 writes one as a flat list
    if not isinstance(refs, list) or len(refs) != 1:
        tr.fail("the model", f"{key} = {refs!r}: tinygraph rebuilds models with one input and "
                             "one output")
    return _resolve(tr, ("ref", refs[0][0], refs[0][1], refs[0][2]), made, key)
