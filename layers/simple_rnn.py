"""Keras' SimpleRNN: ``SimpleRNNCell``, one step ``h' = activation(x@kernel + bias +
h@recurrent_kernel)``, and ``SimpleRNN``, ``RNN(SimpleRNNCell(...))`` as one layer with
the cell's arguments on the layer."""

import tinygraph as tg

from . import regularizers
from .base import Layer
from .cell_base import CellBase, expose_cell_attributes
from .rnn import CellRNN


class SimpleRNNCell(CellBase):
    """``h' = activation(x@kernel + bias + h@recurrent_kernel)``; state_size == units."""

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, kernel_constraint, recurrent_constraint,
                         bias_constraint, dropout, recurrent_dropout, seed, **kwargs)

    @property
    def state_size(self):
        return self.units

    def call(self, inputs, states, training=None):
        (prev,) = self._check_step(inputs, states, 1)
        dp = self.get_dropout_mask_for_cell(inputs, training)
        rec_dp = self.get_recurrent_dropout_mask_for_cell(prev, training)
        if dp is not None:
            inputs = inputs * dp
        h = tg.matmul(inputs, self.kernel)
        if self.use_bias:
            h = h + self.bias
        if rec_dp is not None:
            prev = prev * rec_dp
        out = self.activation(h + tg.matmul(prev, self.recurrent_kernel))
        return out, ([out] if isinstance(states, (list, tuple)) else out)


_CELL_ARGS = ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
              "bias_regularizer", "kernel_constraint", "recurrent_constraint",
              "bias_constraint", "dropout", "recurrent_dropout", "seed")


class SimpleRNN(CellRNN):
    """``SimpleRNN(units, <every SimpleRNNCell argument>, return_sequences=False,
    return_state=False, go_backwards=False, stateful=False, unroll=False,
    time_major=False, zero_output_for_mask=False, activity_regularizer=None)``.

    The cell's attributes (``units``, ``kernel``, ``dropout``, ...) read through to
    ``layer.cell``; ``get_weights()`` is ``[kernel, recurrent_kernel, bias]``; with
    return_state the result is ``(output, h)``.
    """

    cell_args = _CELL_ARGS

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, time_major=False,
                 zero_output_for_mask=False, name=None, dtype=None, trainable=True, **kwargs):
        if kwargs:      # report unknown arguments against SimpleRNN's own list
            Layer.__init__(self, **kwargs)
        cell = SimpleRNNCell(units, activation=activation, use_bias=use_bias,
                             kernel_initializer=kernel_initializer,
                             recurrent_initializer=recurrent_initializer,
                             bias_initializer=bias_initializer,
                             kernel_regularizer=kernel_regularizer,
                             recurrent_regularizer=recurrent_regularizer,
                             bias_regularizer=bias_regularizer,
                             kernel_constraint=kernel_constraint,
                             recurrent_constraint=recurrent_constraint,
                             bias_constraint=bias_constraint, dropout=dropout,
                             recurrent_dropout=recurrent_dropout, seed=seed, dtype=dtype,
                             trainable=trainable)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         time_major=time_major, zero_output_for_mask=zero_output_for_mask,
                         name=name, dtype=dtype, trainable=trainable)
        self.activity_regularizer = regularizers.get(activity_regularizer)


expose_cell_attributes(SimpleRNN, _CELL_ARGS + ("kernel", "recurrent_kernel", "bias"))
