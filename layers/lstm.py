"""Keras' LSTM: ``LSTMCell``, one step (gate order i, f, c, o; implementation 1, a
matmul per gate, or 2, one fused ``x@W + h@R + b`` split in four), and ``LSTM``,
``RNN(LSTMCell(...))`` as one layer with the cell's arguments on the layer. The
step's math is ops/lstm_step.py, shared with the TF1 cell and the fused ops."""

import numpy as np

import tinygraph as tg
from tinygraph.ops.lstm_step import LSTMMath, lstm_step

from . import activations, regularizers
from .base import Layer, float_dtype
from .cell_base import CellBase, check_implementation, expose_cell_attributes
from .rnn import CellRNN


class LSTMCell(CellBase):
    """One LSTM step, Keras semantics. ``cell(x, [h, c], training=None)`` returns
    ``(h_new, [h_new, c_new])``.

    ``i = σ(z_i)  f = σ(z_f)  c' = f*c + i*φ(z_c)  o = σ(z_o)  h' = o*φ(c')`` with
    σ = recurrent_activation, φ = activation and ``z = x@kernel + h@recurrent_kernel
    + bias`` in gate order i, f, c, o.
    """

    state_names = ("h", "c")      # what the graph calls its states (pictures, gradflow)

    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, implementation=2, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, kernel_constraint, recurrent_constraint,
                         bias_constraint, dropout, recurrent_dropout, seed, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.implementation = check_implementation("LSTMCell", implementation,
                                                   self.recurrent_dropout)

    @property
    def state_size(self):
        return [self.units, self.units]

    @property
    def _input_mask_count(self):
        return 4 if self.implementation == 1 else 1

    _recurrent_mask_count = 4

    def _bias_initializer(self):
        """With unit_forget_bias: ``[init(U), ones(U), init(2U)]`` (bias_initializer still
        fills the other blocks, as in Keras)."""
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, units = self.bias_initializer, self.units

        def bias_init(shape, dtype="float32"):
            return np.concatenate([np.asarray(init((units,), dtype)), np.ones(units, dtype),
                                   np.asarray(init((2 * units,), dtype))]).astype(dtype)
        return bias_init

    def call(self, inputs, states, training=None):
        h_tm1, c_tm1 = self._check_step(inputs, states, 2)
        dp = self.get_dropout_mask_for_cell(inputs, training, self._input_mask_count)
        act, rec_act, U = self.activation, self.recurrent_activation, self.units
        if self.implementation == 1:
            rec_dp = self.get_recurrent_dropout_mask_for_cell(h_tm1, training, 4)
            xs = [inputs * m for m in dp] if dp is not None else [inputs] * 4
            hs = [h_tm1 * m for m in rec_dp] if rec_dp is not None else [h_tm1] * 4
            z = []
            for k in range(4):
                block = slice(k * U, (k + 1) * U)
                x_k = tg.matmul(xs[k], self.kernel[:, block])
                if self.use_bias:
                    x_k = x_k + self.bias[block]
                z.append(x_k + tg.matmul(hs[k], self.recurrent_kernel[:, block]))
        else:
            x = inputs * dp if dp is not None else inputs
            zz = tg.matmul(x, self.kernel) + tg.matmul(h_tm1, self.recurrent_kernel)
            if self.use_bias:
                zz = zz + self.bias
            z = zz
        step = lstm_step(z, c_tm1, LSTMMath(act, rec_act))
        return step.h, [step.h, step.c]

    def get_config(self):
        cfg = super().get_config()
        cfg.update(recurrent_activation=activations.serialize(self.recurrent_activation),
                   unit_forget_bias=self.unit_forget_bias, implementation=self.implementation)
        return cfg


_CELL_ARGS = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "unit_forget_bias",
              "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout", "seed", "implementation")


class LSTM(CellRNN):
    """``LSTM(units, <every LSTMCell argument>, return_sequences=False,
    return_state=False, go_backwards=False, stateful=False, unroll=False,
    time_major=False, zero_output_for_mask=False, activity_regularizer=None)``.

    The cell's attributes (``units``, ``kernel``, ``dropout``, ...) read through to
    ``layer.cell``; ``get_weights()`` is ``[kernel, recurrent_kernel, bias]``.
    """

    cell_args = _CELL_ARGS

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, implementation=2, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 time_major=False, zero_output_for_mask=False, activity_regularizer=None,
                 name=None, dtype=None, trainable=True, **kwargs):
        if kwargs:      # report unknown arguments against LSTM's own list, before the cell
            Layer.__init__(self, **kwargs)
        float_dtype("LSTM", dtype)         # named as LSTM's argument, not its cell's
        cell = LSTMCell(units, activation=activation, recurrent_activation=recurrent_activation,
                        use_bias=use_bias, kernel_initializer=kernel_initializer,
                        recurrent_initializer=recurrent_initializer,
                        bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
                        kernel_regularizer=kernel_regularizer,
                        recurrent_regularizer=recurrent_regularizer,
                        bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                        recurrent_constraint=recurrent_constraint,
                        bias_constraint=bias_constraint, dropout=dropout,
                        recurrent_dropout=recurrent_dropout, seed=seed,
                        implementation=implementation, dtype=dtype, trainable=trainable)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         time_major=time_major, zero_output_for_mask=zero_output_for_mask,
                         name=name, dtype=dtype, trainable=trainable)
        self.activity_regularizer = regularizers.get(activity_regularizer)


expose_cell_attributes(LSTM, _CELL_ARGS + ("kernel", "recurrent_kernel", "bias"))
