"""Keras' GRU: ``GRUCell``, one step (gate order z, r, h; reset_after True, Keras 3's
default and cuDNN's, or False; implementation 1, a matmul per gate, or 2, one matmul
for all gates), and ``GRU``, ``RNN(GRUCell(...))`` as one layer with the cell's
arguments on the layer. The cell computes the projections of x and h; the rest of the
step is ops/gru_step.py, shared with the fused ops and the gradient-flow tools."""

import tinygraph as tg
from tinygraph.ops.gru_step import GRUMath, gru_step

from . import activations, regularizers
from .base import Layer, float_dtype
from .cell_base import CellBase, check_implementation, expose_cell_attributes
from .rnn import CellRNN


class GRUCell(CellBase):
    """One GRU step, Keras semantics. ``cell(x, [h], training=None)`` returns
    ``(h_new, [h_new])``.

    ``z = σ(x_z + r_z)  r = σ(x_r + r_r)  hh = φ(x_h + r * r_h)  h' = z*h + (1-z)*hh``
    with σ = recurrent_activation, φ = activation, ``x_* = x@kernel + input_bias`` and
    ``r_* = h@recurrent_kernel + recurrent_bias`` in gate order z, r, h. With
    ``reset_after=False`` the reset gate acts before the matmul,
    ``hh = φ(x_h + (r*h) @ recurrent_kernel_h)``, and the bias is the input bias only.
    """

    _gates = 3
    family = "GRU"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, implementation=2, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer,
                         bias_regularizer, kernel_constraint, recurrent_constraint,
                         bias_constraint, dropout, recurrent_dropout, seed, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self.implementation = check_implementation("GRUCell", implementation,
                                                   self.recurrent_dropout)

    @property
    def state_size(self):
        return self.units

    @property
    def _input_mask_count(self):
        return 3 if self.implementation == 1 else 1

    _recurrent_mask_count = 3

    def _bias_shape(self):
        """reset_after: the input and the recurrent bias, (2, 3U) (Keras' layout, not
        cuDNN's flat (6U,)); else the input bias (3U,)."""
        n = 3 * self.units
        return (2, n) if self.reset_after else (n,)

    @property
    def step_math(self):
        """The options of ops/gru_step.py's step for this cell (a ``GRUMath``)."""
        return GRUMath(self.activation, self.recurrent_activation, self.reset_after)

    @property
    def candidate_kernel(self):
        """reset_after=False: the (U, U) block the reset state is multiplied by,
        ``recurrent_kernel[:, 2U:]``; None with reset_after (it is in the projection)."""
        return None if self.reset_after else self.recurrent_kernel[:, 2 * self.units:]

    def _biases(self):
        """(input bias, recurrent bias), each (3U,) or None."""
        if not self.use_bias:
            return None, None
        if self.reset_after:
            return self.bias[0], self.bias[1]
        return self.bias, None

    def projections(self, inputs, h_prev, training=None):
        """The matrix products of a step, what ops/gru_step.py's ``gru_step`` takes:
        (x projection, h projection, the state the candidate's matmul reads or None).
        Whole (..., 3U) / (..., nU) tensors in implementation 2, per-gate lists in 1;
        any leading axes (the gradient-flow tools pass all time steps at once). Dropout
        masks apply only when training (the RNN draws them before its loop)."""
        U, n_rec = self.units, 3 if self.reset_after else 2
        b_in, b_rec = self._biases()
        dp = self.get_dropout_mask_for_cell(inputs, training, self._input_mask_count)
        if self.implementation == 2:
            x_proj = tg.matmul(inputs * dp if dp is not None else inputs, self.kernel)
            rec = self.recurrent_kernel if self.reset_after else \
                self.recurrent_kernel[:, :2 * U]
            h_proj = tg.matmul(h_prev, rec)
            if b_in is not None:
                x_proj = x_proj + b_in
            if b_rec is not None:
                h_proj = h_proj + b_rec
            return x_proj, h_proj, None
        rec_dp = self.get_recurrent_dropout_mask_for_cell(h_prev, training, 3)
        xs = [inputs * m for m in dp] if dp is not None else [inputs] * 3
        hs = [h_prev * m for m in rec_dp] if rec_dp is not None else [h_prev] * 3
        blocks = [slice(k * U, (k + 1) * U) for k in range(3)]
        x_proj = [tg.matmul(x, self.kernel[:, b]) for x, b in zip(xs, blocks)]
        h_proj = [tg.matmul(h, self.recurrent_kernel[:, b])
                  for h, b in zip(hs[:n_rec], blocks[:n_rec])]
        if b_in is not None:
            x_proj = [p + b_in[b] for p, b in zip(x_proj, blocks)]
        if b_rec is not None:
            h_proj = [p + b_rec[b] for p, b in zip(h_proj, blocks)]
        return x_proj, h_proj, (hs[2] if rec_dp is not None else None)

    def call(self, inputs, states, training=None):
        (h_tm1,) = self._check_step(inputs, states, 1)
        x_proj, h_proj, h_candidate = self.projections(inputs, h_tm1, training)
        step = gru_step(x_proj, h_proj, h_tm1, self.step_math,
                        candidate_kernel=self.candidate_kernel, h_candidate=h_candidate)
        return step.h, ([step.h] if isinstance(states, (list, tuple)) else step.h)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(recurrent_activation=activations.serialize(self.recurrent_activation),
                   reset_after=self.reset_after, implementation=self.implementation)
        return cfg


_CELL_ARGS = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "kernel_regularizer",
              "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
              "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",
              "reset_after", "seed", "implementation")


class GRU(CellRNN):
    """``GRU(units, <every GRUCell argument>, return_sequences=False, return_state=False,
    go_backwards=False, stateful=False, unroll=False, time_major=False,
    zero_output_for_mask=False, activity_regularizer=None)``.

    The cell's attributes (``units``, ``reset_after``, ``kernel``, ...) read through to
    ``layer.cell``; ``get_weights()`` is ``[kernel, recurrent_kernel, bias]``; with
    return_state the result is ``(output, h)``.
    """

    cell_args = _CELL_ARGS

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 implementation=2, time_major=False, zero_output_for_mask=False, name=None,
                 dtype=None, trainable=True, **kwargs):
        if kwargs:      # report unknown arguments against GRU's own list, before the cell
            Layer.__init__(self, **kwargs)
        float_dtype("GRU", dtype)          # named as GRU's argument, not its cell's
        cell = GRUCell(units, activation=activation, recurrent_activation=recurrent_activation,
                       use_bias=use_bias, kernel_initializer=kernel_initializer,
                       recurrent_initializer=recurrent_initializer,
                       bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                       recurrent_regularizer=recurrent_regularizer,
                       bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                       recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                       dropout=dropout, recurrent_dropout=recurrent_dropout,
                       reset_after=reset_after, seed=seed, implementation=implementation,
                       dtype=dtype, trainable=trainable)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         time_major=time_major, zero_output_for_mask=zero_output_for_mask,
                         name=name, dtype=dtype, trainable=trainable)
        self.activity_regularizer = regularizers.get(activity_regularizer)


expose_cell_attributes(GRU, _CELL_ARGS + ("kernel", "recurrent_kernel", "bias"))
