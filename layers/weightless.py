"""The layers without weights, as Keras: ``Dropout``, ``Activation``, ``Flatten``,
``Reshape`` and ``Masking``.

Masks follow Keras: Dropout and Activation pass the incoming mask on
(``supports_masking``); Flatten and Reshape change the time axis, so they drop it;
Masking makes one, ``any(x != mask_value, axis=-1)``, and zeroes the masked steps.
"""
import numpy as np

import tinygraph as tg

from . import activations
from .base import Layer, check_rate


def _batch_dim(x):
    """Static batch size, else a scalar int tensor (for shapes built at run time)."""
    return x.shape[0] if x.shape[0] is not None else tg.shape(x)[0]


class Dropout(Layer):
    """``Dropout(rate, noise_shape=None, seed=None)``: while training, each value is
    zeroed with probability ``rate`` and the others scaled by 1/(1-rate); otherwise the
    identity. ``noise_shape`` (None entries take the input's size) shares one draw along
    the axes of size 1, as Keras."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(type(self).__name__, "rate", rate)
        if noise_shape is not None:
            noise_shape = tuple(noise_shape)
            if any(d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))
                                      or d < 1) for d in noise_shape):
                raise ValueError(f"{self.name}: noise_shape must hold positive ints or None, got "
                                 f"{noise_shape!r}")
        self.noise_shape = noise_shape
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"{self.name}: seed must be None or a non-negative integer, got "
                             f"{seed!r}")
        self.seed = None if seed is None else int(seed)

    def _mask_shape(self, x):
        if self.noise_shape is None:
            return [_batch_dim(x)] + list(x.shape[1:])
        if len(self.noise_shape) != x.ndim:
            raise ValueError(f"{self.name}: noise_shape {self.noise_shape} has {len(self.noise_shape)}"
                             f" entries, the inputs have rank {x.ndim} (shape {x.shape})")
        shape = []
        for k, d in enumerate(self.noise_shape):
            full = x.shape[k] if x.shape[k] is not None else tg.shape(x)[k]
            shape.append(full if d is None else d)
        return shape

    def call(self, inputs, training=None):
        if training is None or training is False or self.rate == 0.0:
            return tg.identity(inputs)
        if any(d is None for d in inputs.shape[1:]):
            raise ValueError(f"{self.name}: dropout needs known feature dimensions, got inputs "
                             f"of shape {inputs.shape}")
        mask = tg.dropout_mask(self._mask_shape(inputs), self.rate, inputs.dtype, seed=self.seed)
        if isinstance(training, tg.Tensor):
            mask = tg.where(training, mask, tg.ones_like(mask))
        return inputs * mask

    def get_config(self):
        return dict(super().get_config(), rate=self.rate,
                    noise_shape=None if self.noise_shape is None else list(self.noise_shape),
                    seed=self.seed)


class Activation(Layer):
    """``Activation(activation)``: the activation (a name or a callable) applied to the
    inputs."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return dict(super().get_config(), activation=activations.serialize(self.activation))


class Flatten(Layer):
    """``Flatten(data_format=None)``: (batch, d1, d2, ...) -> (batch, d1*d2*...).
    ``"channels_first"`` moves axis 1 last before flattening (as Keras, for inputs of
    rank > 2)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"{self.name}: data_format must be None, 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
        self.data_format = data_format or "channels_last"

    def call(self, inputs):
        if inputs.ndim < 1:
            raise ValueError(f"{self.name}: expected inputs with a batch axis, got a scalar")
        if any(d is None for d in inputs.shape[1:]):
            raise ValueError(f"{self.name}: Flatten needs known non-batch dimensions, got inputs "
                             f"of shape {inputs.shape}")
        x = inputs
        if self.data_format == "channels_first" and x.ndim > 2:
            x = tg.transpose(x, [0] + list(range(2, x.ndim)) + [1])
        return tg.reshape(x, [-1, int(np.prod(x.shape[1:], dtype=np.int64))])

    def get_config(self):
        return dict(super().get_config(), data_format=self.data_format)


class Reshape(Layer):
    """``Reshape(target_shape)``: (batch, ...) -> (batch, *target_shape); one entry of
    target_shape may be -1 (inferred)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(int(d) if d is not None else -1 for d in target_shape)
        except (TypeError, ValueError):
            target = None
        if target is None or any(d < 1 and d != -1 for d in target) or target.count(-1) > 1:
            raise ValueError(f"{self.name}: target_shape must be a tuple of positive ints with at "
                             f"most one -1, got {target_shape!r}")
        self.target_shape = target

    def call(self, inputs):
        if any(d is None for d in inputs.shape[1:]):
            raise ValueError(f"{self.name}: Reshape needs known non-batch dimensions, got inputs "
                             f"of shape {inputs.shape}")
        size = int(np.prod(inputs.shape[1:], dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if (-1 in self.target_shape and size % known) or (
                -1 not in self.target_shape and size != known):
            raise ValueError(f"{self.name}: cannot reshape inputs of shape {inputs.shape} "
                             f"({size} values per sample) to {self.target_shape}")
        return tg.reshape(inputs, [-1] + [size // known if d == -1 else d
                                          for d in self.target_shape])

    def get_config(self):
        return dict(super().get_config(), target_shape=list(self.target_shape))


class Masking(Layer):
    """``Masking(mask_value=0.0)``: a time step whose features all equal ``mask_value``
    is masked: its outputs are zeros and ``compute_mask`` marks it False, so the
    following RNN skips it (inside Sequential and Model the mask is passed on)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: mask_value must be a number, got {mask_value!r}") \
                from None

    def _keep(self, inputs):
        return tg.reduce_any(tg.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        if inputs.ndim < 2:
            raise ValueError(f"{self.name}: expected inputs (batch, ..., features), got shape "
                             f"{inputs.shape}")
        return inputs * tg.cast(tg.expand_dims(self._keep(inputs), -1), inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        """``any(inputs != mask_value, axis=-1)``: (batch, time) bool, True = keep."""
        return self._keep(self._convert_input(inputs))

    def get_config(self):
        return dict(super().get_config(), mask_value=self.mask_value)
