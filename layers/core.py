"""``Dense`` and ``Embedding`` (enough for the examples: Embedding -> LSTM -> Dense)."""
import numpy as np

import tinygraph as tg

from . import activations, constraints, regularizers
from .base import Layer, check_units, get_initializer, serialize_initializer


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``; kernel (D, units), bias (units,).
    Inputs of rank > 2 are multiplied on their last axis."""

    supports_masking = True            # a (batch, time) mask still fits the output

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_units(type(self).__name__, units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = self.bias = None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"{self.name}: expected inputs of rank >= 2 with a known last "
                             f"dimension, got shape {input_shape}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer, self.bias_constraint)

    def call(self, inputs):
        if inputs.ndim < 2 or inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expected inputs (..., {self.kernel.shape[0]}), got "
                             f"{inputs.shape}")
        out = tg.matmul(inputs, self.kernel)
        if self.use_bias:
            out = out + self.bias
        return self.activation(out)

    def get_config(self):
        return dict(super().get_config(), units=self.units,
                    activation=activations.serialize(self.activation), use_bias=self.use_bias,
                    kernel_initializer=serialize_initializer(self.kernel_initializer),
                    bias_initializer=serialize_initializer(self.bias_initializer),
                    kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
                    bias_regularizer=regularizers.serialize(self.bias_regularizer),
                    activity_regularizer=regularizers.serialize(self.activity_regularizer),
                    kernel_constraint=constraints.serialize(self.kernel_constraint),
                    bias_constraint=constraints.serialize(self.bias_constraint))


class Embedding(Layer):
    """Rows of ``embeddings (input_dim, output_dim)`` picked by integer ids.

    With ``mask_zero=True``, id 0 is padding: ``compute_mask(ids)`` gives the
    (batch, time) keep-mask. Sequential and Model pass it on to the following layers
    as Keras does; layers called by hand take it as ``mask=``.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None,
                 activity_regularizer=None, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = check_units(type(self).__name__, input_dim, "input_dim")
        self.output_dim = check_units(type(self).__name__, output_dim, "output_dim")
        self.embeddings_initializer = get_initializer(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.mask_zero = bool(mask_zero)
        self.embeddings = None

    def _convert_input(self, x):
        x = tg.constant(np.asarray(x)) if not isinstance(x, tg.Tensor) else x
        if x.dtype.kind not in "iu":
            if x.dtype.kind == "f":
                return tg.cast(x, "int32")
            raise ValueError(f"{self.name}: ids must be integers, got {x.dtype}")
        return x

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer, self.embeddings_constraint)

    def call(self, inputs):
        return tg.gather(self.embeddings, inputs, axis=0, negative=False)   # id -1 is a bug

    def compute_mask(self, inputs, mask=None):
        """``ids != 0`` when ``mask_zero``, else None (an incoming mask is not passed on)."""
        if not self.mask_zero:
            return None
        return tg.not_equal(self._convert_input(inputs), 0)

    def get_config(self):
        return dict(super().get_config(), input_dim=self.input_dim, output_dim=self.output_dim,
                    embeddings_initializer=serialize_initializer(self.embeddings_initializer),
                    embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
                    embeddings_constraint=constraints.serialize(self.embeddings_constraint),
                    activity_regularizer=regularizers.serialize(self.activity_regularizer),
                    mask_zero=self.mask_zero)
