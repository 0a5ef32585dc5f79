"""``Model(inputs, outputs)``: a functional model, as Keras' functional API.

Describe it with symbolic tensors (``layers.Input``, then layers called on them: a
chain or a DAG, one input, one output); ``model(x)`` replays the recorded calls on
real tensors. Masks flow as in Keras: a call given ``mask=`` explicitly uses it (Keras
3 files record the masks they computed); otherwise a layer that takes ``mask=`` gets
the mask of its first input, which each layer's ``compute_mask`` passes on or makes
(Embedding with mask_zero, Masking). ``training=`` given to the model reaches every
layer that takes it and overrides what a call recorded.
"""
import numpy as np

from tinygraph.ir import nest

from . import keras_files, symbolic
from .base import Layer, accepts
from .sequential import shape_text, summary_table
from .symbolic import SymbolicTensor


def _one(value, what):
    """The single symbolic tensor of ``value`` (a tensor or a one-element list)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, SymbolicTensor):
        raise ValueError(f"Model: {what} must be one symbolic tensor (from layers.Input and "
                         f"layers called on it); got {value!r}. Models with several inputs or "
                         "outputs are not supported")
    return value


def _topological(output, source):
    """The calls from ``source`` to ``output``, each after the calls it reads."""
    order, seen, reaches = [], set(), False
    stack = [(output, False)]
    while stack:
        t, done = stack.pop()
        node = t.node
        if node is None:
            if t is not source:
                raise ValueError(f"Model: {t!r} is an input other than the model's input "
                                 f"{source!r}: a model has one input")
            reaches = True
            continue
        if done:
            if id(node) not in seen:
                seen.add(id(node))
                order.append(node)
            continue
        if id(node) in seen:
            continue
        stack.append((t, True))
        stack.extend((u, False) for u in reversed(node.inputs()))
    if not reaches:
        raise ValueError(f"Model: the output {output!r} does not depend on the input {source!r}")
    return order


class Model(Layer):
    """``Model(inputs, outputs, name=None)``: ``inputs`` one ``layers.Input(...)``,
    ``outputs`` the symbolic tensor computed from it. ``model(x, training=None)``;
    ``layers`` (in call order), ``weights``, ``get_weights``/``set_weights``,
    ``summary()``, ``load_keras_weights(path)``."""

    def __init__(self, inputs, outputs, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.input = _one(inputs, "inputs")
        self.output = _one(outputs, "outputs")
        self._nodes = _topological(self.output, self.input)
        for node in self._nodes:
            if isinstance(node.op, Layer):
                self._track(node.op)
        self.built = True

    @property
    def input_shape(self):
        """The input's shape, None for unknown dimensions (Keras' ``model.input_shape``)."""
        return tuple(self.input.shape)

    @property
    def layers(self):
        return [layer for layer in self._layers if isinstance(layer, Layer)]

    def _maybe_build(self, input_shape):
        """Built when described; a call only checks its input."""

    def call(self, inputs, training=None):
        if inputs.ndim != self.input.ndim or any(
                a is not None and b is not None and a != b
                for a, b in zip(inputs.shape, self.input.shape)):
            raise ValueError(f"{self.name}: expected inputs of shape {self.input.shape}, got "
                             f"{inputs.shape}")
        values = {id(self.input): (inputs, None)}          # symbolic id -> (tensor, mask)
        for node in self._nodes:
            outputs, mask = self._replay(node, values, training)
            for sym, out in zip(nest.flatten(node.outputs), nest.flatten(outputs)):
                values[id(sym)] = (out, mask if sym.index == 0 else None)
        return values[id(self.output)][0]

    def _replay(self, node, values, training):
        """(outputs, mask of the first output) of one recorded call on real tensors."""
        real = lambda s: nest.map_structure(                               # noqa: E731
            lambda t: values[id(t)][0] if isinstance(t, SymbolicTensor) else t, s)
        args, kwargs = real(list(node.args)), real(dict(node.kwargs))
        if not isinstance(node.op, Layer):
            return node.op(*args, **kwargs), None
        first = node.args[0]
        in_mask = values[id(first)][1] if isinstance(first, SymbolicTensor) else None
        if training is not None and accepts(node.op, "training"):
            kwargs["training"] = training
        if "mask" not in kwargs and in_mask is not None and accepts(node.op, "mask"):
            kwargs["mask"] = in_mask
        outputs = node.op(*args, **kwargs)
        return outputs, node.op.output_mask(args[0], outputs, kwargs.get("mask", in_mask))

    def summary(self, print_fn=print):
        """Keras' table (layer (type), output shape, params, connected to) and totals;
        printed with ``print_fn`` (None: not printed) and returned as text."""
        rows = [(f"{self.input.name} (Input)", shape_text(self.input.shape), "0", "")]
        for node in self._nodes:
            name = node.op.name if isinstance(node.op, Layer) else str(node.op)
            kind = type(node.op).__name__
            shapes = ", ".join(shape_text(t.shape) for t in nest.flatten(node.outputs))
            params = sum(int(np.prod(v.shape)) for v in node.op.weights) \
                if isinstance(node.op, Layer) else 0
            sources = ", ".join(_producer(t, self.input) for t in node.inputs())
            rows.append((f"{name} ({kind})", shapes, f"{params:,}", sources))
        return summary_table(self, ("Layer (type)", "Output Shape", "Param #", "Connected to"),
                             rows, print_fn)

    def load_keras_weights(self, path):
        """Read every layer's weights from a Keras weights or model file (Keras 3
        ``.weights.h5``/``.keras``, tf-keras ``.h5``), matched by the file's structure;
        checked in full before any weight changes (see docs/layers.md)."""
        keras_files.load_weights_into(self, path, container=True)

    def get_config(self):
        raise NotImplementedError(f"{self.name}: a functional Model has no config round trip in "
                                  "tinygraph; keep the Keras file (layers.load_keras_model) or "
                                  "the code that describes it")


def _producer(t, source):
    if t.node is None:
        return source.name
    op = t.node.op
    return f"{op.name if isinstance(op, Layer) else op}[{t.index}]"


def apply(op, *args, **kwargs):
    """Record a plain function of tensors (``op``, with a readable ``str``) as one call of
    a functional model, as Keras records its ops (``keras.ops.not_equal``) in a model."""
    if not symbolic.is_symbolic([list(args), kwargs]):
        return op(*args, **kwargs)
    return symbolic.call(op, args, kwargs)

