"""``LSTM``: ``RNN(LSTMCell(...))`` as one layer, the cell's arguments on the layer."""
import inspect

from . import regularizers
from .base import Layer
from .rnn import RNN
from .rnn_cells import LSTMCell

_CELL_ARGS = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "unit_forget_bias",
              "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout", "seed", "implementation")


class LSTM(RNN):
    """``LSTM(units, <every LSTMCell argument>, return_sequences=False,
    return_state=False, go_backwards=False, stateful=False, unroll=False,
    time_major=False, zero_output_for_mask=False, activity_regularizer=None)``.

    The cell's attributes (``units``, ``kernel``, ``dropout``, ...) read through to
    ``layer.cell``; ``get_weights()`` is ``[kernel, recurrent_kernel, bias]``.
    """

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

    @classmethod
    def _argument_names(cls):
        params = inspect.signature(LSTM.__init__).parameters
        return [p for p in params if p not in ("self", "kwargs")]

    def get_config(self):
        cfg = super().get_config()
        del cfg["cell"]
        cell_cfg = self.cell.get_config()
        cfg.update({k: cell_cfg[k] for k in _CELL_ARGS})
        cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg


def _delegate(name):
    return property(lambda self: getattr(self.cell, name),
                    doc=f"The cell's ``{name}``.")


for _name in _CELL_ARGS + ("kernel", "recurrent_kernel", "bias"):
    setattr(LSTM, _name, _delegate(_name))
