"""Recurrent cells: one time step each. ``RNN`` (rnn.py) owns the loop.

- ``DropoutRNNCellMixin``: the Keras mask API. Masks are drawn once and cached until
  reset, so every time step of one RNN call shares them; ``RNN`` resets them at each
  call and draws them before its loop (a loop body only reads them).
- ``SimpleRNNCell``: ``h' = act(x@W + b + h@R)``.
- ``LSTMCell``: Keras' LSTM step, gate order i, f, c, o, implementation 1 (a matmul
  per gate) or 2 (one fused ``x@W + h@R + b`` split in four).
- ``StackedRNNCells``: cells applied one after the other within a step.

The helpers at the end (``state_sizes``, ``call_cell``, ``initial_state_of``) let the
RNN drive any cell: one of these, a user object with ``state_size`` and
``call``/``__call__``, or a TF1 legacy cell whose state is a namedtuple.
"""
import inspect

import numpy as np

import tinygraph as tg
from tinygraph.ir import nest
from tinygraph.ops.lstm_step import LSTMMath, lstm_step

from . import activations, constraints, regularizers
from .base import Layer, check_rate, check_units, deserialize, get_initializer, serialize, \
    serialize_initializer


def _training_flag(training):
    """False (no dropout), True, or a scalar bool Tensor (decided at run time)."""
    if isinstance(training, tg.Tensor):
        if training.ndim != 0 or training.dtype != np.bool_:
            raise ValueError(f"training must be a Python bool or a scalar bool tensor, got "
                             f"{training.shape} {training.dtype.name}")
        return training
    return bool(training)


def _derived_seed(seed, draw):
    """A distinct reproducible seed for the ``draw``-th mask of a cell seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(draw)]).generate_state(1)[0] % (2 ** 31 - 1))


class DropoutRNNCellMixin:
    """Dropout masks for a cell: 0 or 1/(1-rate), drawn once per RNN call.

    A mask exists only when training and 0 < rate < 1. ``count`` > 1 gives a list of
    independent masks (one per gate). With ``seed``, draw k of the cell always uses
    the same derived seed, so a rebuilt model reproduces its masks.
    """

    def _init_dropout(self, dropout, recurrent_dropout, seed):
        owner = type(self).__name__
        self.dropout = check_rate(owner, "dropout", dropout)
        self.recurrent_dropout = check_rate(owner, "recurrent_dropout", recurrent_dropout)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"{owner}: seed must be None or a non-negative integer, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._dropout_mask = None
        self._recurrent_dropout_mask = None
        self._draws = 0

    def _draw_masks(self, like, rate, training, count):
        if like.ndim < 1 or any(d is None for d in like.shape[1:]):
            raise ValueError(f"{self.name}: a dropout mask needs a tensor with known feature "
                             f"dimensions, got {like.shape}")
        batch = like.shape[0] if like.shape[0] is not None else tg.shape(like)[0]
        shape = [batch] + list(like.shape[1:])
        masks = []
        for _ in range(count):
            seed = None if self.seed is None else _derived_seed(self.seed, self._draws)
            self._draws += 1
            m = tg.dropout_mask(shape, rate, like.dtype, seed=seed)
            if isinstance(training, tg.Tensor):
                m = tg.where(training, m, tg.ones_like(m))
            masks.append(m)
        return masks[0] if count == 1 else masks

    def get_dropout_mask_for_cell(self, inputs, training, count=1):
        """The cached input mask(s), drawn from ``inputs``' shape on first use; None
        when not training or dropout is 0."""
        training = _training_flag(training)
        if training is False or not 0.0 < self.dropout < 1.0:
            return None
        if self._dropout_mask is None:
            with tg.name_scope("dropout"):
                self._dropout_mask = self._draw_masks(tg.ops._util.as_tensor(inputs),
                                                      self.dropout, training, count)
        return self._dropout_mask

    def get_recurrent_dropout_mask_for_cell(self, inputs, training, count=1):
        """The cached recurrent mask(s), drawn from the state ``inputs``' shape."""
        training = _training_flag(training)
        if training is False or not 0.0 < self.recurrent_dropout < 1.0:
            return None
        if self._recurrent_dropout_mask is None:
            with tg.name_scope("recurrent_dropout"):
                self._recurrent_dropout_mask = self._draw_masks(
                    tg.ops._util.as_tensor(inputs), self.recurrent_dropout, training, count)
        return self._recurrent_dropout_mask

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None

    # counts of masks per call: overridden by cells with per-gate masks
    _input_mask_count = 1
    _recurrent_mask_count = 1

    def _create_dropout_masks(self, inputs, states, training):
        """Draw this call's masks before the RNN loop (``inputs``: a tensor shaped like
        one step's input; ``states``: the initial states)."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        self.get_dropout_mask_for_cell(inputs, training, self._input_mask_count)
        self.get_recurrent_dropout_mask_for_cell(h, training, self._recurrent_mask_count)


class _CellBase(DropoutRNNCellMixin, Layer):
    """What SimpleRNNCell and LSTMCell share: argument checks, weights, configs."""

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

    @property
    def output_size(self):
        return self.units

    def _bias_initializer(self):
        return self.bias_initializer

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
            self.bias = self.add_weight("bias", (n,), self._bias_initializer(),
                                        self.bias_regularizer, self.bias_constraint)

    def _check_step(self, inputs, states, n_states):
        if inputs.ndim != 2 or inputs.shape[1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expected step inputs (batch, {self.kernel.shape[0]}), "
                             f"got {inputs.shape}")
        flat = states if isinstance(states, (list, tuple)) else [states]
        if len(flat) != n_states:
            raise ValueError(f"{self.name}: expected {n_states} state tensor(s), got {len(flat)}")
        flat = [self._convert_input(s) for s in flat]
        for s in flat:
            if s.ndim != 2 or s.shape[1] != self.units:
                raise ValueError(f"{self.name}: expected states (batch, {self.units}), got "
                                 f"{s.shape}")
        return flat

    def get_initial_state(self, batch_size=None, inputs=None, dtype=None):
        """Zero states. Takes Keras 3's ``get_initial_state(batch_size)`` and tf.keras'
        ``get_initial_state(inputs=None, batch_size=None, dtype=None)``."""
        if isinstance(batch_size, (tg.Tensor, np.ndarray)) and np.ndim(batch_size) > 0:
            inputs, batch_size = batch_size, None          # tf.keras: inputs came first
        if batch_size is None:
            if inputs is None:
                raise ValueError(f"{self.name}.get_initial_state: give batch_size or inputs")
            inputs = tg.ops._util.as_tensor(inputs)
            batch_size = inputs.shape[0] if inputs.shape[0] is not None else tg.shape(inputs)[0]
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


class SimpleRNNCell(_CellBase):
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


class LSTMCell(_CellBase):
    """One LSTM step, Keras semantics. ``cell(x, [h, c], training=None)`` returns
    ``(h_new, [h_new, c_new])``.

    ``i = σ(z_i)  f = σ(z_f)  c' = f*c + i*φ(z_c)  o = σ(z_o)  h' = o*φ(c')`` with
    σ = recurrent_activation, φ = activation and ``z = x@kernel + h@recurrent_kernel
    + bias`` in gate order i, f, c, o.
    """

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
        if isinstance(implementation, bool) or implementation not in (1, 2):
            raise ValueError(f"LSTMCell: implementation must be 1 or 2, got {implementation!r}")
        # Recurrent dropout needs a mask per gate, which only implementation 1 has (as Keras).
        self.implementation = 1 if self.recurrent_dropout > 0 else int(implementation)

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


class StackedRNNCells(Layer):
    """Several cells as one: within a step, each cell's output is the next one's input.
    ``state_size`` is the list of the cells' state sizes; the output is the last cell's."""

    def __init__(self, cells, **kwargs):
        cells = [deserialize(c) for c in (cells if isinstance(cells, (list, tuple)) else [cells])]
        if not cells:
            raise ValueError("StackedRNNCells: needs at least one cell")
        for c in cells:
            if not hasattr(c, "state_size"):
                raise ValueError(f"StackedRNNCells: {c!r} is not an RNN cell (it has no "
                                 "state_size)")
        if kwargs.get("dtype") is None:      # take the cells' dtype (Keras 3 assumes float32)
            kwargs["dtype"] = next((c.dtype for c in cells if isinstance(c, Layer)), None)
        super().__init__(**kwargs)
        self.cells = cells
        for c in cells:
            self._track(c)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return output_size_of(self.cells[-1])

    def build(self, input_shape):
        dim = input_shape[-1]
        for cell in self.cells:
            if isinstance(cell, Layer):
                cell._maybe_build((input_shape[0], dim))
            dim = output_size_of(cell)

    def call(self, inputs, states, training=None):
        states = list(states)
        if len(states) != len(self.cells):
            raise ValueError(f"{self.name}: expected one state entry per cell "
                             f"({len(self.cells)}), got {len(states)}")
        new_states = []
        for cell, s in zip(self.cells, states):
            inputs, s = call_cell(cell, inputs, s, training)
            new_states.append(s)
        return inputs, new_states

    def get_initial_state(self, batch_size=None, inputs=None, dtype=None):
        if isinstance(batch_size, (tg.Tensor, np.ndarray)) and np.ndim(batch_size) > 0:
            inputs, batch_size = batch_size, None
        if batch_size is None:
            if inputs is None:
                raise ValueError(f"{self.name}.get_initial_state: give batch_size or inputs")
            inputs = tg.ops._util.as_tensor(inputs)
            batch_size = inputs.shape[0] if inputs.shape[0] is not None else tg.shape(inputs)[0]
        return [initial_state_of(c, batch_size, dtype or self.dtype) for c in self.cells]

    def reset_dropout_mask(self):
        for c in self.cells:
            if hasattr(c, "reset_dropout_mask"):
                c.reset_dropout_mask()

    def reset_recurrent_dropout_mask(self):
        for c in self.cells:
            if hasattr(c, "reset_recurrent_dropout_mask"):
                c.reset_recurrent_dropout_mask()

    def _create_dropout_masks(self, inputs, states, training):
        batch = inputs.shape[0] if inputs.shape[0] is not None else tg.shape(inputs)[0]
        for cell, s in zip(self.cells, states):
            if hasattr(cell, "_create_dropout_masks"):
                cell._create_dropout_masks(inputs, s, training)
            inputs = tg.zeros([batch, output_size_of(cell)], inputs.dtype)

    def get_config(self):
        return dict(super().get_config(), cells=[serialize(c) for c in self.cells])


# ---------------------------------------------------------------------- driving any cell

def state_sizes(cell):
    """The cell's state sizes, flat (ints)."""
    sizes = nest.flatten(cell.state_size)
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s <= 0:
            raise ValueError(f"{cell!r}: state_size must be an int or a (nested) list/tuple of "
                             f"ints, got {cell.state_size!r}")
    return [int(s) for s in sizes]


def output_size_of(cell):
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else state_sizes(cell)[0]


def _accepts(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def call_cell(cell, inputs, states, training=None):
    """One step of any cell: ``states`` is in the cell's ``state_size`` structure."""
    if isinstance(cell, Layer):
        return cell(inputs, states, training=training)
    fn = cell if callable(cell) else cell.call
    if _accepts(fn, "training"):
        return fn(inputs, states, training=training)
    return fn(inputs, states)


def initial_state_of(cell, batch_size, dtype):
    """The cell's initial state (its ``get_initial_state`` if it has one, else zeros)
    in its ``state_size`` structure."""
    get = getattr(cell, "get_initial_state", None)
    if get is not None:
        kwargs = {"batch_size": batch_size}
        if _accepts(get, "dtype"):
            kwargs["dtype"] = dtype
        return get(**kwargs)
    return nest.pack_as(cell.state_size, [tg.zeros([batch_size, s], dtype) for s in state_sizes(cell)])
