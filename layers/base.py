"""``Layer``: the Keras-style base class.

A layer owns Variables (created by ``add_weight`` in ``build``, named
``<layer>/<weight>``), builds them on its first call from the input shape, and
builds its nodes under ``tg.name_scope(layer.name)``. Weights, configs and
regularization losses follow Keras: ``get_weights``/``set_weights`` use Keras order
and layout, ``get_config``/``from_config`` round-trip.
"""
import copy
import functools
import importlib
import inspect
import re

import numpy as np

import tinygraph as tg
from tinygraph.train import initializers as _initializers
from tinygraph.ir import nest
from tinygraph.ir.graph import get_default_graph, in_scope
from tinygraph.ops.variables import assign_all

from . import constraints as _constraints
from . import keras_files, symbolic
from . import regularizers as _regularizers

_INITIALIZER_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}


def get_initializer(identifier):
    """``tinygraph.train.initializers.get`` plus the Keras aliases "uniform" and "normal"."""
    if isinstance(identifier, str):
        identifier = _INITIALIZER_ALIASES.get(identifier.lower(), identifier)
    return _initializers.get(identifier)


def serialize_initializer(init):
    try:
        return _initializers.serialize(init)
    except ValueError:
        return init                      # a plain callable: kept as is (in-memory round trip)


def _snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _unique_layer_name(base):
    counts = get_default_graph().__dict__.setdefault("layer_name_counts", {})
    n = counts.get(base, 0)
    counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def check_units(owner, units, what="units"):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {units!r}")
    return int(units)


def check_rate(owner, what, rate):
    try:
        value = float(rate)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {what} must be a number in [0, 1), got {rate!r}")
    return value


def float_dtype(cls, dtype):
    """A layer's ``dtype`` argument (None: float32) as a float NumPy dtype; ValueError
    naming the layer class ``cls`` otherwise."""
    try:
        dt = np.dtype(dtype if dtype is not None else "float32")
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise ValueError(f"{cls}: dtype must be a float dtype (float32, float64), got {dtype!r}")
    return dt


def accepts(layer, name):
    """Whether ``layer.call`` takes the keyword argument ``name`` (or any, via **kwargs)."""
    params = inspect.signature(layer.call).parameters
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


class Layer:
    """Base class: ``Layer(name=None, dtype="float32", trainable=True)``.

    Subclasses implement ``build(input_shape)`` (create weights with ``add_weight``)
    and ``call(inputs, ...)``; they list their own constructor arguments in
    ``get_config``. Unknown keyword arguments raise TypeError.
    """

    def __init_subclass__(cls, **kwargs):
        # As Keras: a layer whose build ran is built, also when the user called build()
        # directly (a later call must not create its weights a second time).
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            own = cls.__dict__["build"]

            @functools.wraps(own)
            def build(self, input_shape, *args, **kw):
                own(self, input_shape, *args, **kw)
                self.built = True
            cls.build = build

    def __init__(self, name=None, dtype=None, trainable=True, **kwargs):
        cls = type(self).__name__
        if kwargs:
            valid = sorted(set(self._argument_names()) | {"name", "dtype", "trainable"})
            raise TypeError(f"{cls}: unknown keyword argument(s) "
                            f"{', '.join(repr(k) for k in sorted(kwargs))}; valid arguments: "
                            + ", ".join(valid))
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"{cls}: name must be a non-empty string without '/', got {name!r}")
        dt = float_dtype(cls, dtype)
        self.name = name or _unique_layer_name(_snake_case(cls))
        self.dtype = dt.name
        self.built = False
        self.activity_regularizer = None
        self._trainable = bool(trainable)
        self._own_weights = []          # Variables in creation (Keras) order
        self._own_trainable = {}        # id(var) -> trainable flag given to add_weight
        self._layers = []               # tracked sublayers
        self._weight_losses = []
        self._activity_losses = []

    @classmethod
    def _argument_names(cls):
        names = []
        for klass in cls.__mro__:
            if klass is object or "__init__" not in vars(klass):
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                    names.append(p.name)
        return names

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"

    # ------------------------------------------------------------------ weights
    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None,
                   constraint=None, trainable=True, dtype=None):
        """Create the Variable ``<layer name>/<name>`` from ``initializer``."""
        dtype = np.dtype(dtype or self.dtype)
        init = get_initializer(initializer)
        value = np.asarray(init(tuple(shape), dtype), dtype=dtype)
        if value.shape != tuple(shape):
            raise ValueError(f"{self.name}/{name}: the initializer gave shape {value.shape}, "
                             f"expected {tuple(shape)}")
        with in_scope(""):
            var = tg.Variable(value, name=f"{self.name}/{name}", trainable=trainable and self._trainable,
                              dtype=dtype)
        var.constraint = _constraints.get(constraint)
        var.regularizer = _regularizers.get(regularizer)
        if var.regularizer is not None:
            with in_scope(f"{self.name}/regularizer"):
                self._weight_losses.append(var.regularizer(var))
        self._own_weights.append(var)
        self._own_trainable[id(var)] = bool(trainable)
        return var

    def _track(self, layer):
        """Register a sublayer (or a foreign cell with ``weights``): its weights and
        losses become ours too."""
        if not any(layer is other for other in self._layers):
            self._layers.append(layer)
        return layer

    def _sublayer_weights(self, layer):
        return layer.weights if isinstance(layer, Layer) else list(getattr(layer, "weights", []))

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for var in self._own_weights:
            var.trainable = self._own_trainable[id(var)] and self._trainable
        for layer in self._layers:
            if isinstance(layer, Layer):
                layer.trainable = value

    @property
    def sublayers(self):
        """The layers (or foreign cells) this one tracks, in order: a cell, a model's layers."""
        return list(self._layers)

    @property
    def own_weights(self):
        """This layer's own weights, not its sublayers': trainable ones first, each group in
        creation order (the order Keras saves them in)."""
        return [v for v in self._own_weights if self._own_trainable[id(v)]] + \
            [v for v in self._own_weights if not self._own_trainable[id(v)]]

    @property
    def weights(self):
        """Every weight, Keras order: own trainable, own non-trainable, then sublayers'."""
        out, seen = [], set()
        for v in self.own_weights + [w for layer in self._layers
                                     for w in self._sublayer_weights(layer)]:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    @property
    def trainable_weights(self):
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self):
        return [v for v in self.weights if not v.trainable]

    def load_keras_weights(self, path):
        """Read this layer's weights from a Keras weights or model HDF5 file (Keras 3
        ``.weights.h5`` or tf-keras ``.h5``; a ``.keras`` archive too): the file's layer of
        the same name, else the only one of this class. Checked in full before any weight
        changes; KerasFileError (a ValueError) names the file, the layer and the weight."""
        keras_files.load_weights_into(self, path, container=False)

    def get_weights(self):
        """The weights' values as NumPy arrays (copies), in ``weights`` order."""
        return [np.array(v.value) for v in self.weights]

    def set_weights(self, weights):
        """Set every weight from NumPy arrays in ``weights`` order. All are checked
        (count, shape, dtype) before any is changed."""
        variables = self.weights
        weights = list(weights)
        if len(weights) != len(variables):
            names = ", ".join(f"{v.name} {v.shape}" for v in variables)
            raise ValueError(f"{self.name}.set_weights: expected {len(variables)} arrays "
                             f"({names}), got {len(weights)}")
        arrays = []
        for var, w in zip(variables, weights):
            arr = np.asarray(w)
            if arr.shape != var.shape:
                raise ValueError(f"{self.name}.set_weights: weight {var.name!r} has shape "
                                 f"{var.shape}, the array given for it has shape {arr.shape}")
            if arr.dtype.kind not in "fiub":
                raise ValueError(f"{self.name}.set_weights: weight {var.name!r} needs a "
                                 f"numeric array, got dtype {arr.dtype}")
            arrays.append(arr)
        assign_all(variables, arrays, f"{self.name}.set_weights")

    @property
    def losses(self):
        """Regularization terms (Tensors): weight regularizers, then activity
        regularizers of the calls so far, then those of sublayers."""
        out = list(self._weight_losses) + list(self._activity_losses)
        for layer in self._layers:
            out.extend(getattr(layer, "losses", []))
        return out

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ------------------------------------------------------------------ calling
    # Masks, as Keras: a layer that ``supports_masking`` hands the incoming (batch, time)
    # mask on unchanged; any other layer drops it, unless it makes its own (Embedding,
    # Masking) or changes it (RNN) in its ``compute_mask``.
    supports_masking = False

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output, given its ``inputs`` and their ``mask``."""
        return mask if self.supports_masking else None

    def output_mask(self, inputs, outputs, mask=None):
        """The mask Sequential and Model hand on after this layer: its ``compute_mask``;
        for a layer that takes ``mask=`` but declares nothing about masks (neither
        supports_masking nor a compute_mask of its own: a wrapper such as
        Bidirectional, a user's layer), the mask goes on while the output keeps its
        time axis, as Keras 3 does for a layer whose compute_mask is its default."""
        declared = self.supports_masking or type(self).compute_mask is not Layer.compute_mask
        if declared or mask is None or not accepts(self, "mask"):
            return self.compute_mask(inputs, mask)
        first = nest.flatten(outputs)[0] if nest.flatten(outputs) else None
        return mask if isinstance(first, tg.Tensor) and first.ndim == 3 else None

    def build(self, input_shape):
        """Create the weights; called once, before the first ``call``."""

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no call()")

    def _convert_input(self, x):
        """Inputs become Tensors; float inputs take the layer's dtype (as Keras' autocast)."""
        if not isinstance(x, tg.Tensor):
            arr = np.asarray(x)
            return tg.constant(arr, dtype=self.dtype if arr.dtype.kind == "f" else None)
        if x.dtype.kind == "f" and x.dtype != np.dtype(self.dtype):
            return tg.cast(x, self.dtype)
        return x

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if symbolic.is_symbolic([inputs, list(args), kwargs]):
            return symbolic.call(self, (inputs,) + args, kwargs)    # describing a Model
        with tg.name_scope(self.name):
            inputs = nest.map_structure(self._convert_input, inputs)
            self._maybe_build(nest.map_structure(lambda t: t.shape, inputs))
            outputs = self.call(inputs, *args, **kwargs)
            if self.activity_regularizer is not None:
                with tg.name_scope("activity_regularizer"):
                    for out in nest.flatten(outputs):
                        if isinstance(out, tg.Tensor) and out.dtype.kind == "f":
                            self._activity_losses.append(self.activity_regularizer(out))
        return outputs

    def __deepcopy__(self, memo):
        return _layer_deepcopy(self, memo)


# ---------------------------------------------------------------------- deep copies

def _graph_tensors(value):
    """The Tensors a layer holds (in its attributes, lists, dicts and sublayers)."""
    if isinstance(value, tg.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _graph_tensors(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _graph_tensors(v)
    elif isinstance(value, Layer):
        yield from _graph_tensors(value.__dict__)


def _copy_variable(var):
    with in_scope(""):
        new = tg.Variable(np.array(var.value), name=var.name, trainable=var.trainable,
                          dtype=var.dtype)
    new.constraint, new.regularizer = var.constraint, var.regularizer
    return new


def _layer_deepcopy(layer, memo):
    """``copy.deepcopy(layer)``, as Keras: an independent layer with the same config and
    weight values, in Variables of its own (so it trains apart from the original).
    Graph tensors it holds from earlier calls are shared, never copied (they belong to
    their graph); its regularization terms are rebuilt on its own weights."""
    for var in list(layer.weights) + [t for t in _graph_tensors(layer.__dict__)
                                      if isinstance(t, tg.Variable)]:
        if id(var) not in memo:
            memo[id(var)] = _copy_variable(var)
    for t in _graph_tensors(layer.__dict__):
        memo.setdefault(id(t), t)
    new = object.__new__(type(layer))
    memo[id(layer)] = new
    for key, value in layer.__dict__.items():
        new.__dict__[key] = copy.deepcopy(value, memo)
    new._own_trainable = {id(memo[id(v)]): layer._own_trainable[id(v)] for v in layer._own_weights}
    new._weight_losses, new._activity_losses = [], []
    for var in new._own_weights:
        if var.regularizer is not None:
            with in_scope(f"{new.name}/regularizer"):
                new._weight_losses.append(var.regularizer(var))
    return new


# ---------------------------------------------------------------------- (de)serialization

def serialize(layer):
    """``{"class_name", "module", "config"}`` of a layer (or any object with get_config)."""
    return {"class_name": type(layer).__name__, "module": type(layer).__module__,
            "config": layer.get_config()}


def deserialize(spec):
    """The layer described by ``serialize``'s output."""
    if isinstance(spec, Layer) or not isinstance(spec, dict):
        return spec
    if "class_name" not in spec or "config" not in spec:
        raise ValueError(f"cannot deserialize {spec!r}: expected a dict with 'class_name' and "
                         "'config'")
    module_name = spec.get("module") or "tinygraph.layers"
    cls = None
    if module_name.startswith("tinygraph.layers."):
        # the module that wrote the spec first (rnn_cell.LSTMCell is not layers.LSTMCell),
        # else our public names, so that specs outlive the file layout
        try:
            cls = getattr(importlib.import_module(module_name), spec["class_name"], None)
        except ImportError:
            cls = None
        module_name = "tinygraph.layers"
    module = importlib.import_module(module_name)
    cls = cls or getattr(module, spec["class_name"], None)
    if cls is None:
        raise ValueError(f"unknown layer class {spec['class_name']!r} in {module.__name__}")
    return cls.from_config(dict(spec["config"]))
