"""Keras layer configs translated into tinygraph constructors, one key at a time.

Each supported Keras class lists the keys it maps to the tinygraph constructor
(``LAYERS``); keys that only Keras needs (quantization, LoRA, the cuDNN choice, shapes
recorded for building) are checked and dropped (``KERAS_ONLY``); any other key is
refused, so a config never reaches a constructor it was not written for. A dtype policy
becomes its dtype name (float32 or float64; mixed precision is refused).
Objects nested in a config (initializers, regularizers, constraints, dtype policies,
cells, wrapped layers) are translated the same way. Anything that carries code
(``Lambda``, a function reference, a class registered by user code) is refused:
nothing named in a config is ever imported or run.
"""
from . import activations, constraints, regularizers
from .base import get_initializer
from .bidirectional import Bidirectional
from .core import Dense, Embedding
from .gru import GRU, GRUCell
from .keras_weights import KerasFileError, snake_case
from .lstm import LSTM, LSTMCell
from .rnn import RNN
from .simple_rnn import SimpleRNN, SimpleRNNCell
from .stacked_rnn_cells import StackedRNNCells
from .weightless import Activation, Dropout, Flatten, Masking, Reshape

COMMON = ("name", "trainable", "dtype")
RNN_KEYS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
            "time_major", "zero_output_for_mask")
_REGS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer")
_CONS = ("kernel_constraint", "recurrent_constraint", "bias_constraint")
_INITS = ("kernel_initializer", "recurrent_initializer", "bias_initializer")
SIMPLE_CELL = ("units", "activation", "use_bias") + _INITS + _REGS + _CONS + \
    ("dropout", "recurrent_dropout", "seed")
LSTM_CELL = SIMPLE_CELL + ("recurrent_activation", "unit_forget_bias", "implementation")
GRU_CELL = SIMPLE_CELL + ("recurrent_activation", "reset_after", "implementation")

# Keras class -> (tinygraph class, the config keys passed to it)
LAYERS = {
    "Dense": (Dense, ("units", "activation", "use_bias", "kernel_initializer",
                      "bias_initializer", "kernel_regularizer", "bias_regularizer",
                      "activity_regularizer", "kernel_constraint", "bias_constraint")),
    "Embedding": (Embedding, ("input_dim", "output_dim", "embeddings_initializer",
                              "embeddings_regularizer", "activity_regularizer",
                              "embeddings_constraint", "mask_zero")),
    "Dropout": (Dropout, ("rate", "noise_shape", "seed")),
    "Activation": (Activation, ("activation",)),
    "Flatten": (Flatten, ("data_format",)),
    "Reshape": (Reshape, ("target_shape",)),
    "Masking": (Masking, ("mask_value",)),
    "SimpleRNN": (SimpleRNN, SIMPLE_CELL + RNN_KEYS + ("activity_regularizer",)),
    "LSTM": (LSTM, LSTM_CELL + RNN_KEYS + ("activity_regularizer",)),
    "GRU": (GRU, GRU_CELL + RNN_KEYS + ("activity_regularizer",)),
    "RNN": (RNN, ("cell",) + RNN_KEYS),
    "Bidirectional": (Bidirectional, ("layer", "merge_mode", "backward_layer")),
}
CELLS = {
    "SimpleRNNCell": (SimpleRNNCell, SIMPLE_CELL),
    "LSTMCell": (LSTMCell, LSTM_CELL),
    "GRUCell": (GRUCell, GRU_CELL),
    "StackedRNNCells": (StackedRNNCells, ("cells",)),
}


def _none(value):
    return value is None


# Keras-only keys: (what the value must be for tinygraph to mean the same, why dropped)
KERAS_ONLY = {
    "quantization_config": (_none, "quantized layers are not supported"),
    "lora_rank": (_none, "LoRA layers are not supported"),
    "lora_alpha": (_none, "LoRA layers are not supported"),
    "use_cudnn": (lambda v: True, "only picks Keras' kernel; the numbers are the same"),
    "input_length": (lambda v: True, "a shape for building, read elsewhere"),
    "batch_input_shape": (lambda v: True, "a shape for building, read elsewhere"),
}

SUPPORTED = ("InputLayer",) + tuple(LAYERS)
CODE = ("Lambda", "TFOpLambda", "SlicingOpLambda", "function", "__lambda__", "__function__")


def supported_text():
    return ", ".join(("InputLayer",) + tuple(LAYERS)) + " (cells: " + ", ".join(CELLS) + ")"


class Translation:
    """The translation of one file's configs: the file (for messages) and the Keras
    major version that wrote it (tf-keras' ``hard_sigmoid`` is Keras 3's
    ``hard_sigmoid_v1``)."""

    def __init__(self, path, keras_major=3):
        self.path, self.keras_major = path, keras_major

    def fail(self, where, message):
        raise KerasFileError(f"{self.path}: {where}: {message}")

    # ------------------------------------------------------------------ envelopes
    def envelope(self, spec, where, modules):
        """(class_name, config) of a serialized Keras object, refused when it carries
        code or comes from outside Keras (``modules``: the module names allowed)."""
        if not isinstance(spec, dict) or "class_name" not in spec:
            self.fail(where, f"expected a serialized Keras object with a class_name, got {spec!r}")
        cls, module = spec["class_name"], spec.get("module")
        registered = spec.get("registered_name")
        if cls in CODE or module == "builtins":
            self.fail(where, f"{cls!r} carries code (a Lambda or a function), which tinygraph "
                             "never runs; rebuild that part in tinygraph")
        if (module is not None and module not in modules) or registered not in (None, cls):
            self.fail(where, f"{cls!r} is a custom object (module {module!r}, registered as "
                             f"{registered!r}); its code is never imported or run. Supported: "
                             + supported_text())
        config = spec.get("config", {})
        if not isinstance(config, dict):
            self.fail(where, f"the config of {cls!r} is not a JSON object: {config!r}")
        return cls, config

    # ------------------------------------------------------------------ values
    def dtype(self, value, where):
        if isinstance(value, dict):
            _, cfg = self.envelope(value, where, ("keras", "keras.mixed_precision"))
            value = cfg.get("name")
        if value in (None, "float32", "float64"):
            return value or "float32"
        self.fail(where, f"dtype policy {value!r} is not supported (tinygraph computes in float32 "
                         "or float64)")

    def activation(self, value, where):
        if isinstance(value, dict):
            self.envelope(value, where, ())          # a function reference: carries code
        if not isinstance(value, str):
            self.fail(where, f"activation {value!r} is not a built-in name")
        if value == "hard_sigmoid" and self.keras_major < 3:
            value = "hard_sigmoid_v1"                # tf-keras' clip(0.2x + 0.5, 0, 1)
        try:
            activations.get(value)
        except ValueError as err:
            self.fail(where, str(err))
        return value

    def initializer(self, value, where):
        if value is None or isinstance(value, str):
            spec = value
        else:
            cls, cfg = self.envelope(value, where, ("keras.initializers",))
            cfg = {k: v for k, v in cfg.items()
                   if not (k in ("input_axes", "output_axes") and v is None)}
            spec = {"class_name": snake_case(cls), "config": cfg}
        try:
            return get_initializer(spec)
        except (ValueError, TypeError) as err:
            self.fail(where, f"initializer {value!r}: {err}")

    def _object(self, value, where, module, getter):
        if value is None or isinstance(value, str):
            spec = value
        else:
            cls, cfg = self.envelope(value, where, (module,))
            spec = {"class_name": cls, "config": cfg}
        try:
            return getter(spec)
        except (ValueError, TypeError) as err:
            self.fail(where, f"{value!r}: {err}")

    def value(self, key, value, where):
        """One config value in tinygraph's terms."""
        where = f"{where}, key {key!r}"
        if key == "dtype":
            return self.dtype(value, where)
        if key in ("activation", "recurrent_activation"):
            return self.activation(value, where)
        if key.endswith("_initializer"):
            return self.initializer(value, where)
        if key.endswith("_regularizer"):
            return self._object(value, where, "keras.regularizers", regularizers.get)
        if key.endswith("_constraint"):
            return self._object(value, where, "keras.constraints", constraints.get)
        if key in ("cell", "layer", "backward_layer"):
            return None if value is None else self.layer(value, where, cells=key == "cell")
        if key == "cells":
            return [self.layer(c, f"{where}[{k}]", cells=True) for k, c in enumerate(value)]
        return value

    # ------------------------------------------------------------------ layers
    def arguments(self, cls_name, config, keys, where):
        """The constructor's keyword arguments from ``config``: known keys translated,
        Keras-only keys checked and dropped, anything else refused."""
        kwargs = {}
        for key, value in config.items():
            if key in keys or key in COMMON:
                kwargs[key] = self.value(key, value, where)
            elif key in KERAS_ONLY:
                ok, why = KERAS_ONLY[key]
                if not ok(value):
                    self.fail(where, f"{key}={value!r}: {why}")
            else:
                self.fail(where, f"config key {key!r} is not one tinygraph maps for {cls_name} "
                                 f"(known: {', '.join(sorted(set(keys) | set(COMMON)))})")
        return kwargs

    def layer(self, spec, where, cells=False):
        """The tinygraph layer (or cell) a serialized Keras layer describes, unbuilt."""
        cls_name, config = self.envelope(spec, where, ("keras.layers",))
        table = CELLS if cells and cls_name in CELLS else LAYERS
        if cls_name not in table:
            kind = "RNN cell" if cells else "layer"
            self.fail(where, f"Keras {kind} class {cls_name!r} is not supported; supported: "
                             + supported_text())
        cls, keys = table[cls_name]
        name = config.get("name", "?")
        kwargs = self.arguments(cls_name, config, keys, f"{where} ({cls_name} {name!r})")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as err:
            self.fail(f"{where} ({cls_name} {name!r})", f"tinygraph's {cls.__name__} refused the "
                      f"config: {err}")
