"""``Sequential``: a list of layers called one after another, as Keras' Sequential.

Calling it chains the layers; ``training=`` reaches each layer whose ``call`` takes it.
A mask made by a layer's ``compute_mask`` (``Embedding(mask_zero=True)``, ``Masking``)
is handed to the following layers that take ``mask=``, as Keras propagates it: each
layer's ``compute_mask(inputs, mask)`` says what goes on (Dense, Dropout, Activation
pass it; an RNN keeps it only with return_sequences; Flatten and Reshape drop it; a
layer that takes ``mask=`` and declares nothing passes it while its output keeps the time
axis, see ``Layer.output_mask``). ``summary()`` is a text table of each layer's output
shape and parameter count, from the latest call (or ``build(input_shape)``).
"""
import numpy as np

import tinygraph as tg
from tinygraph.ir import nest

from . import keras_files
from .base import Layer, accepts, deserialize, serialize


def shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def summary_table(model, header, rows, print_fn):
    """Keras' summary: the title, a table of ``rows`` under ``header``, the parameter
    totals; printed with ``print_fn`` (None: not printed) and returned as text."""
    rows = [tuple(header)] + [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(header))]
    rule = "=" * sum(widths)
    lines = [f'Model: "{model.name}"', "".join(c.ljust(w) for c, w in zip(rows[0], widths)),
             rule] + ["".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows[1:]]
    count = lambda vs: sum(int(np.prod(v.shape)) for v in vs)          # noqa: E731
    lines += [rule, f"Total params: {count(model.weights):,}",
              f"Trainable params: {count(model.trainable_weights):,}",
              f"Non-trainable params: {count(model.non_trainable_weights):,}"]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text


class Sequential(Layer):
    """``Sequential(layers=None, name=None)``: ``model(x)`` is ``layers[-1](...(layers[0](x)))``.

    ``weights``, ``get_weights``/``set_weights`` cover every layer's weights in order;
    ``add(layer)`` appends; ``summary()`` prints the table and returns its text.
    """

    def __init__(self, layers=None, **kwargs):
        super().__init__(**kwargs)
        self._output_shapes = None
        self._input_shape = None
        for layer in layers or []:
            self.add(layer)

    @property
    def input_shape(self):
        """The shape of the inputs of the first call (or ``build``), None for unknown
        dimensions, as Keras' ``model.input_shape``; None before any call."""
        return self._input_shape

    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer):
        layer = deserialize(layer)
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.name}.add: expected a layer, got {layer!r}")
        if any(layer is other for other in self._layers):
            raise ValueError(f"{self.name}.add: {layer.name!r} is already in the model")
        self._track(layer)
        self._output_shapes = None

    def build(self, input_shape):
        """Build every layer for inputs of ``input_shape`` (None for an unknown
        dimension), by tracing the model once on a placeholder."""
        if not self._layers:
            raise ValueError(f"{self.name}: the model has no layers; add some first")
        if not all(layer.built for layer in self._layers):
            with tg.name_scope("build"):
                self.call(tg.placeholder(list(input_shape), self.dtype))

    def _maybe_build(self, input_shape):
        self.built = True          # each layer builds on its first call, inside call()

    def call(self, inputs, training=None, mask=None):
        if not self._layers:
            raise ValueError(f"{self.name}: the model has no layers; add some first")
        x, shapes = inputs, []
        for layer in self._layers:
            kwargs = {}
            if training is not None and accepts(layer, "training"):
                kwargs["training"] = training
            if mask is not None and accepts(layer, "mask"):
                kwargs["mask"] = mask
            y = layer(x, **kwargs)
            mask = layer.output_mask(x, y, mask)
            shapes.append([t.shape for t in nest.flatten(y)])
            x = y
        self._output_shapes = shapes
        if self._input_shape is None:
            self._input_shape = tuple(inputs.shape)
        return x

    def reset_states(self):
        """``reset_states()`` of every stateful layer (tf.keras' model.reset_states)."""
        for layer in self._layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()

    def summary(self, print_fn=print):
        """The Keras-style table (layer (type), output shape, params) and the totals;
        printed with ``print_fn`` (None: not printed) and returned as text."""
        if self._output_shapes is None:
            raise ValueError(f"{self.name}: call the model (or model.build(input_shape)) "
                             "before summary(), so that its output shapes are known")
        rows = [(f"{layer.name} ({type(layer).__name__})",
                 ", ".join(shape_text(s) for s in shapes),
                 f"{sum(int(np.prod(v.shape)) for v in layer.weights):,}")
                for layer, shapes in zip(self._layers, self._output_shapes)]
        return summary_table(self, ("Layer (type)", "Output Shape", "Param #"), rows, print_fn)

    def load_keras_weights(self, path):
        """Read every layer's weights from a Keras weights or model file (Keras 3
        ``.weights.h5``/``.keras``, tf-keras ``.h5``), matched by the file's structure;
        checked in full before any weight changes (see docs/layers.md)."""
        keras_files.load_weights_into(self, path, container=True)

    def get_config(self):
        return dict(super().get_config(), layers=[serialize(layer) for layer in self._layers])

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls([deserialize(spec) for spec in config.pop("layers", [])], **config)
