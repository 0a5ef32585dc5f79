"""``SimpleRNNCell``: ``h' = activation(x@kernel + bias + h@recurrent_kernel)``."""
import tinygraph as tg

from .cell_base import CellBase


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
