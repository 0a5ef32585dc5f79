"""``CellBase``: what SimpleRNNCell, LSTMCell and GRUCell share (argument checks, the
kernel, recurrent kernel and bias in ``_gates`` blocks, the step checks, zero initial
states and the config)."""
import tinygraph as tg
from tinygraph.ir import nest

from . import activations, constraints, regularizers
from .base import Layer, check_units, get_initializer, serialize_initializer
from .cell_contract import batch_size_of
from .dropout_rnn_cell import DropoutRNNCellMixin


def expose_cell_attributes(layer_class, names):
    """Give an ``RNN(cell)`` layer class read-through properties to ``layer.cell`` (Keras'
    LSTM and SimpleRNN expose their cell's arguments and weights this way)."""
    for name in names:
        setattr(layer_class, name, property(lambda self, n=name: getattr(self.cell, n),
                                            doc=f"The cell's ``{name}``."))


def check_implementation(owner, implementation, recurrent_dropout):
    """Keras' ``implementation`` (1: a matmul per gate, 2: one for all gates) as an int;
    recurrent dropout needs a mask per gate, which only implementation 1 has, so it
    forces 1 (as Keras)."""
    if isinstance(implementation, bool) or implementation not in (1, 2):
        raise ValueError(f"{owner}: implementation must be 1 or 2, got {implementation!r}")
    return 1 if recurrent_dropout > 0 else int(implementation)


class CellBase(DropoutRNNCellMixin, Layer):
    """What SimpleRNNCell, LSTMCell and GRUCell share: argument checks, weights, configs."""

    def __init__(self, units, activation, use_bias, kernel_initializer, recurrent_initializer,
                 bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                 kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                 recurrent_dropout, seed, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.units = check_units(owner, units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.recurrent_initializer = get_initializer(recurrent_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._init_dropout(dropout, recurrent_dropout, seed)
        self.kernel = self.recurrent_kernel = self.bias = None

    _gates = 1
    family = None       # the cell family's name ("GRU"), for the tools that read a call

    @property
    def output_size(self):
        return self.units

    def _bias_initializer(self):
        return self.bias_initializer

    def _bias_shape(self):
        return (self._gates * self.units,)

    def build(self, input_shape):
        dim = input_shape[-1]
        if len(input_shape) != 2 or dim is None:
            raise ValueError(f"{self.name}: expected step inputs (batch, features) with known "
                             f"features, got shape {input_shape}")
        n = self._gates * self.units
        self.kernel = self.add_weight("kernel", (dim, n), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, n),
                                                self.recurrent_initializer,
                                                self.recurrent_regularizer,
                                                self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                        self.bias_regularizer, self.bias_constraint)

    def _check_step(self, inputs, states, n_states):
        if inputs.ndim != 2 or inputs.shape[1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expected step inputs (batch, {self.kernel.shape[0]}), "
                             f"got {inputs.shape}")
        flat = states if isinstance(states, (list, tuple)) else [states]
        if len(flat) != n_states:
            raise ValueError(f"{self.name}: expected {n_states} state tensor(s), got {len(flat)}")
        flat = [self._convert_input(s) for s in flat]
        batch = inputs.shape[0]
        for k, s in enumerate(flat):
            if s.ndim != 2 or s.shape[1] != self.units:
                raise ValueError(f"{self.name}: expected states (batch, {self.units}), got "
                                 f"{s.shape}")
            if None not in (batch, s.shape[0]) and s.shape[0] != 1 and s.shape[0] != batch:
                raise ValueError(f"{self.name}: state {k} ({s.name!r}) has batch {s.shape[0]}, "
                                 f"the step inputs {inputs.name!r} have batch {batch}")
        return flat

    def get_initial_state(self, batch_size=None, inputs=None, dtype=None):
        """Zero states. Takes Keras 3's ``get_initial_state(batch_size)`` and tf.keras'
        ``get_initial_state(inputs=None, batch_size=None, dtype=None)``."""
        batch_size = batch_size_of(self.name, batch_size, inputs)
        dtype = dtype or self.dtype
        return [tg.zeros([batch_size, s], dtype) for s in nest.flatten(self.state_size)]

    def get_config(self):
        return dict(super().get_config(), units=self.units,
                    activation=activations.serialize(self.activation), use_bias=self.use_bias,
                    kernel_initializer=serialize_initializer(self.kernel_initializer),
                    recurrent_initializer=serialize_initializer(self.recurrent_initializer),
                    bias_initializer=serialize_initializer(self.bias_initializer),
                    kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
                    recurrent_regularizer=regularizers.serialize(self.recurrent_regularizer),
                    bias_regularizer=regularizers.serialize(self.bias_regularizer),
                    kernel_constraint=constraints.serialize(self.kernel_constraint),
                    recurrent_constraint=constraints.serialize(self.recurrent_constraint),
                    bias_constraint=constraints.serialize(self.bias_constraint),
                    dropout=self.dropout, recurrent_dropout=self.recurrent_dropout, seed=self.seed)
