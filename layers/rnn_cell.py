"""The TF1 legacy LSTM cell and its loops, as ``tf.compat.v1.nn.rnn_cell``.

``LSTMCell`` keeps TF1's conventions so that ported models give the same numbers:
one kernel ``(D + H, 4U)`` over ``concat([x, m_prev])`` with the gate blocks in the
order i, j, f, o; ``forget_bias`` added at call time (it is not in the bias);
optional peepholes, cell clipping and an output projection; the state as
``LSTMStateTuple(c, h)`` or one ``concat([c, h], 1)`` tensor; and weights created
through the TF1 variable store under the cell's name, so that ``reuse=True`` shares
them. ``dynamic_rnn`` runs a cell with the loop op (``tg.scan``); ``static_rnn``
unrolls it, one name scope per step. docs/porting-tf1.md has the porting notes.
"""
import collections
import numbers

import numpy as np

from tinygraph.ir import nest
from tinygraph import ops
from tinygraph.ir.graph import Tensor, name_scope
from tinygraph.ops.activations import ACTIVATIONS as ACTIVATION_TABLE
from tinygraph.ops.lstm_step import LSTMMath, lstm_step
from tinygraph.ops.variables import assign_all
from tinygraph.train.variable_store import AUTO_REUSE, get_variable, variable_scope

from .base import Layer, serialize_initializer
from .cell_contract import call_cell, initial_state_of, is_legacy_cell

__all__ = ["LSTMCell", "LSTMStateTuple", "dynamic_rnn", "static_rnn"]  # also RNNCell, the base of a user cell

# the activations TF1's cell accepts by name, rows of the one table (ops/activations.py)
TF1_ACTIVATIONS = {name: ACTIVATION_TABLE[name].graph for name in ("tanh", "relu", "sigmoid")}


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """The LSTM state: ``c`` the cell state, ``h`` the output (``m``, projected when
    the cell has ``num_proj``)."""
    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"LSTMStateTuple: c is {c.dtype.name} but h is {h.dtype.name}")
        return c.dtype


def _is_int(x):
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, (bool, np.bool_))


def _positive_int(value, what):
    if not _is_int(value) or value <= 0:
        raise ValueError(f"LSTMCell: {what} must be a positive integer, got {value!r}")
    return int(value)


def _positive_number(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"LSTMCell: {what} must be a positive number or None, got {value!r}")
    return float(value)


def _cell_clip(value):
    """TF1 accepts any non-negative cell_clip; 0.0 clips the cell state to zero (its
    own clipping test uses it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"LSTMCell: cell_clip must be a positive number or None (or 0.0, "
                         f"which clips the cell state to zero), got {value!r}")
    return float(value)


def _activation(activation):
    if activation is None:
        return ops.tanh
    if isinstance(activation, str):
        if activation not in TF1_ACTIVATIONS:
            raise ValueError(f"LSTMCell: unknown activation {activation!r}; valid names: "
                             + ", ".join(sorted(TF1_ACTIVATIONS)) + " (or pass a callable)")
        return TF1_ACTIVATIONS[activation]
    if callable(activation):
        return activation
    raise ValueError("LSTMCell: activation must be None, a name ("
                     + ", ".join(sorted(TF1_ACTIVATIONS)) + f") or a callable, got {activation!r}")


def _float_dtype(dtype, who):
    if dtype is None:
        return None
    try:
        dt = np.dtype(getattr(dtype, "name", dtype) if not isinstance(dtype, str) else dtype)
    except TypeError:
        raise TypeError(f"{who}: dtype must be a float type such as 'float32', got "
                        f"{dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"{who}: dtype must be a float type, got {dt.name}")
    return dt


def _check_batch_size(batch_size, who):
    if isinstance(batch_size, Tensor):
        if batch_size.ndim != 0 or batch_size.dtype.kind not in "iu":
            raise TypeError(f"{who}: batch_size must be an int or a scalar int tensor, got "
                            f"{batch_size.name!r} {batch_size.shape} {batch_size.dtype.name}")
        return batch_size
    if not _is_int(batch_size) or batch_size < 0:
        raise TypeError(f"{who}: batch_size must be a non-negative int or a scalar int "
                        f"tensor, got {batch_size!r}")
    return int(batch_size)


class RNNCell:
    """TF1's base for a user's own cell (``tf.compat.v1.nn.rnn_cell.RNNCell``).

    A subclass defines ``state_size``, ``output_size`` and ``__call__(inputs, state)``
    returning ``(output, new_state)``; it inherits ``zero_state`` and
    ``get_initial_state``. Like every TF1 cell (anything with ``zero_state``) it
    receives its state in its own structure: a bare tensor for an int state_size,
    where a Keras-style cell gets a list."""

    def zero_state(self, batch_size, dtype=None):
        """Zeros in the ``state_size`` structure, each ``(batch_size, size)``."""
        batch_size = _check_batch_size(batch_size, f"{type(self).__name__}.zero_state")
        dtype = _float_dtype(dtype, "zero_state") or np.dtype("float32")
        return nest.pack_as(self.state_size, [ops.zeros([batch_size, s], dtype)
                                              for s in nest.flatten(self.state_size)])

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """``zero_state`` for ``inputs``' batch and dtype, or for batch_size and dtype."""
        if inputs is not None:
            inputs = ops.convert_to_tensor(inputs)
            batch = inputs.shape[0] if inputs.shape[0] is not None else ops.shape(inputs)[0]
            return self.zero_state(batch, inputs.dtype)
        if batch_size is None:
            raise ValueError(f"{type(self).__name__}.get_initial_state: give inputs, or "
                             "batch_size and dtype")
        return self.zero_state(batch_size, dtype)


class LSTMCell:
    """TF1's ``LSTMCell`` (``tf.compat.v1.nn.rnn_cell.LSTMCell``), built from primitive ops.

    Weights, created on the first call under the cell's name (default ``lstm_cell``)
    in the current variable scope: ``kernel (D + H, 4U)``, ``bias (4U,)`` (zeros),
    ``w_f_diag``, ``w_i_diag``, ``w_o_diag (U,)`` with peepholes, and
    ``projection/kernel (U, P)`` with ``num_proj``; H is ``num_proj`` or U.
    ``initializer`` (default glorot_uniform) covers all but the bias.
    """

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None,
                 num_proj=None, proj_clip=None, num_unit_shards=None, num_proj_shards=None,
                 forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None,
                 name=None, dtype=None):
        self._num_units = _positive_int(num_units, "num_units")
        self._num_proj = None if num_proj is None else _positive_int(num_proj, "num_proj")
        for arg, value in (("num_unit_shards", num_unit_shards),
                           ("num_proj_shards", num_proj_shards)):
            if value is not None and not (_is_int(value) and value == 1):
                raise ValueError(f"LSTMCell: {arg} is deprecated (TF1 no longer shards the "
                                 f"kernel); pass None or 1, got {value!r}")
        self._use_peepholes = bool(use_peepholes)
        self._cell_clip = _cell_clip(cell_clip)
        # As TF1: proj_clip only acts on a projection; without num_proj it is ignored.
        self._proj_clip = _positive_number(proj_clip, "proj_clip")
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real):
            raise ValueError(f"LSTMCell: forget_bias must be a number, got {forget_bias!r}")
        self._forget_bias = float(forget_bias)
        self._state_is_tuple = bool(state_is_tuple)
        self._activation = _activation(activation)
        self._activation_arg = activation          # as given, for get_config
        self._math = LSTMMath(self._activation, "sigmoid", self._forget_bias, "ijfo",
                              self._cell_clip, self._use_peepholes)
        self._initializer = initializer
        if reuse not in (None, True, False, AUTO_REUSE):
            raise ValueError(f"LSTMCell: reuse must be None, True, False or tg.AUTO_REUSE, "
                             f"got {reuse!r}")
        self._reuse = reuse
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"LSTMCell: name must be a non-empty string without '/', got {name!r}")
        self.name = name or "lstm_cell"
        self.dtype = _float_dtype(dtype, "LSTMCell")
        self.built = False
        self._input_depth = None
        self._weights = {}

    # ------------------------------------------------------------------ sizes

    @property
    def _h_size(self):
        return self._num_proj or self._num_units

    @property
    def state_size(self):
        if self._state_is_tuple:
            return LSTMStateTuple(self._num_units, self._h_size)
        return self._num_units + self._h_size

    @property
    def output_size(self):
        return self._h_size

    # ------------------------------------------------------------------ weights

    @property
    def weights(self):
        """The Variables in TF1's order: kernel, bias, w_f_diag, w_i_diag, w_o_diag,
        projection/kernel (those that exist); empty before the first call."""
        order = ("kernel", "bias", "w_f_diag", "w_i_diag", "w_o_diag", "projection/kernel")
        return [self._weights[k] for k in order if k in self._weights]

    variables = trainable_weights = trainable_variables = weights

    @property
    def non_trainable_weights(self):
        return []

    @property
    def losses(self):
        return []

    def get_weights(self):
        return [w.value.copy() for w in self.weights]

    def set_weights(self, arrays):
        """Set every weight from NumPy arrays in ``weights`` order (all checked first)."""
        assign_all(self.weights, arrays, f"LSTMCell {self.name!r}")

    def build(self, inputs_shape):
        """Create (or, under reuse, fetch) the weights for inputs of ``inputs_shape``."""
        depth = tuple(inputs_shape)[-1] if len(tuple(inputs_shape)) else None
        if depth is None:
            raise ValueError(f"LSTMCell {self.name!r}: the input depth (last dimension) must "
                             f"be known, got input shape {tuple(inputs_shape)}")
        dtype = self.dtype or np.dtype("float32")
        U, H = self._num_units, self._h_size
        init = self._initializer
        w = {}
        with variable_scope(self.name, reuse=self._reuse):
            w["kernel"] = get_variable("kernel", (depth + H, 4 * U), dtype, initializer=init)
            w["bias"] = get_variable("bias", (4 * U,), dtype, initializer="zeros")
            if self._use_peepholes:
                for k in ("w_f_diag", "w_i_diag", "w_o_diag"):
                    w[k] = get_variable(k, (U,), dtype, initializer=init)
            if self._num_proj is not None:
                with variable_scope("projection"):
                    w["projection/kernel"] = get_variable("kernel", (U, self._num_proj), dtype,
                                                          initializer=init)
        for var in w.values():
            if var.dtype != dtype:
                raise TypeError(f"LSTMCell {self.name!r}: shared variable {var.name!r} is "
                                f"{var.dtype.name}, the cell computes in {dtype.name}")
        self.dtype, self._weights, self._input_depth, self.built = dtype, w, int(depth), True

    # ------------------------------------------------------------------ the step

    def _split_state(self, state):
        U, H = self._num_units, self._h_size
        if self._state_is_tuple:
            if not isinstance(state, (list, tuple)) or len(state) != 2:
                raise ValueError(f"LSTMCell {self.name!r}: state must be an "
                                 f"LSTMStateTuple(c, h) (state_is_tuple=True), got {state!r}")
            c, h = (ops.convert_to_tensor(s, self.dtype) for s in state)
            for t, size, what in ((c, U, "c"), (h, H, "h")):
                if t.ndim != 2 or t.shape[1] not in (None, size):
                    raise ValueError(f"LSTMCell {self.name!r}: state.{what} must have shape "
                                     f"(batch, {size}), got {t.shape} ({t.name!r})")
                self._check_state_dtype(t, f"state.{what}")
            return c, h
        if isinstance(state, (list, tuple)):
            raise ValueError(f"LSTMCell {self.name!r}: with state_is_tuple=False the state is "
                             f"one tensor concat([c, h], 1) of width {U + H}, got a "
                             f"{type(state).__name__}")
        state = ops.convert_to_tensor(state, self.dtype)
        if state.ndim != 2 or state.shape[1] not in (None, U + H):
            raise ValueError(f"LSTMCell {self.name!r}: state must have shape (batch, {U + H}) "
                             f"= concat([c, h], 1), got {state.shape} ({state.name!r})")
        self._check_state_dtype(state, "state")
        return state[:, :U], state[:, U:]

    def _check_state_dtype(self, t, what):
        if t.dtype != self.dtype:
            raise TypeError(f"LSTMCell {self.name!r}: {what} is {t.dtype.name}, the cell "
                            f"computes in {self.dtype.name} ({t.name!r})")

    def __call__(self, inputs, state, training=None):
        """One step: returns ``(m, new_state)``. ``training`` is accepted for the Keras
        ``RNN`` wrapper and ignored (the cell has no dropout)."""
        del training
        x = ops.convert_to_tensor(inputs, self.dtype)
        if x.ndim != 2:
            raise ValueError(f"LSTMCell {self.name!r}: inputs must be 2-D (batch, depth), got "
                             f"shape {x.shape} ({x.name!r})")
        if x.dtype.kind != "f":
            raise TypeError(f"LSTMCell {self.name!r}: inputs must be float, got {x.dtype.name}")
        if not self.built:
            if self.dtype is None:
                self.dtype = x.dtype
            self.build(x.shape)
        elif x.shape[1] is not None and x.shape[1] != self._input_depth:
            raise ValueError(f"LSTMCell {self.name!r}: input depth changed: the weights were "
                             f"built for depth {self._input_depth}, got inputs of shape "
                             f"{x.shape} ({x.name!r})")
        if x.dtype != self.dtype:
            raise TypeError(f"LSTMCell {self.name!r}: inputs are {x.dtype.name}, the cell's "
                            f"weights are {self.dtype.name}; cast the inputs")
        c_prev, m_prev = self._split_state(state)
        with name_scope(self.name):
            return self._step(x, c_prev, m_prev)

    call = __call__

    def _step(self, x, c_prev, m_prev):
        w = self._weights
        z = ops.matmul(ops.concat([x, m_prev], 1), w["kernel"]) + w["bias"]
        peep = [w["w_i_diag"], w["w_f_diag"], w["w_o_diag"]] if self._use_peepholes else None
        step = lstm_step(z, c_prev, self._math, peep)
        c, m = step.c, step.h
        if self._num_proj is not None:
            with name_scope("projection"):
                m = ops.matmul(m, w["projection/kernel"])
            if self._proj_clip is not None:
                m = ops.clip_by_value(m, -self._proj_clip, self._proj_clip)
        new_state = LSTMStateTuple(c, m) if self._state_is_tuple else ops.concat([c, m], 1)
        return m, new_state

    # ------------------------------------------------------------------ initial states

    def zero_state(self, batch_size, dtype=None):
        """Zeros shaped like the state: ``LSTMStateTuple(c, h)`` or ``(batch, U + H)``.
        ``batch_size`` is an int or a scalar int tensor."""
        batch_size = _check_batch_size(batch_size, f"LSTMCell {self.name!r}.zero_state")
        dtype = _float_dtype(dtype, "zero_state") or self.dtype or np.dtype("float32")
        with name_scope("LSTMCellZeroState"):
            if self._state_is_tuple:
                return LSTMStateTuple(ops.zeros([batch_size, self._num_units], dtype),
                                      ops.zeros([batch_size, self._h_size], dtype))
            return ops.zeros([batch_size, self._num_units + self._h_size], dtype)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """The zero state for ``inputs`` (batch and dtype taken from it) or for
        ``batch_size`` and ``dtype``. A plain int first argument is a batch size
        (Keras 3 calls ``get_initial_state(batch_size)``)."""
        who = f"LSTMCell {self.name!r}.get_initial_state"
        if inputs is not None and (_is_int(inputs) or (isinstance(inputs, Tensor)
                                                       and inputs.ndim == 0)):
            inputs, batch_size = None, inputs if batch_size is None else batch_size
        if inputs is not None:
            inputs = ops.convert_to_tensor(inputs)
            if inputs.ndim < 1:
                raise ValueError(f"{who}: inputs need a batch dimension, got shape {inputs.shape}")
            static = inputs.shape[0]
            b = static if static is not None else ops.shape(inputs)[0]
            if batch_size is not None and _is_int(batch_size) and static is not None \
                    and int(batch_size) != static:
                raise ValueError(f"{who}: batch_size {batch_size} does not match the batch "
                                 f"dimension {static} of inputs {inputs.name!r}")
            if dtype is not None and np.dtype(dtype) != inputs.dtype:
                raise ValueError(f"{who}: dtype {np.dtype(dtype).name} does not match the "
                                 f"inputs' dtype {inputs.dtype.name}")
            batch_size, dtype = b, inputs.dtype
        if batch_size is None or (dtype is None and self.dtype is None):
            raise ValueError(f"{who}: give inputs, or batch_size and dtype")
        return self.zero_state(batch_size, dtype or self.dtype)

    # ------------------------------------------------------------------ config

    def get_config(self):
        """The constructor's arguments (tf.keras' legacy cell config), so that
        ``layers.RNN(cell).get_config()`` works; ``from_config`` rebuilds the cell."""
        return {"num_units": self._num_units, "use_peepholes": self._use_peepholes,
                "cell_clip": self._cell_clip, "initializer": None if self._initializer is None
                else serialize_initializer(self._initializer),
                "num_proj": self._num_proj, "proj_clip": self._proj_clip,
                "num_unit_shards": None, "num_proj_shards": None,
                "forget_bias": self._forget_bias, "state_is_tuple": self._state_is_tuple,
                "activation": self._activation_arg, "reuse": self._reuse, "name": self.name,
                "dtype": None if self.dtype is None else self.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (f"<LSTMCell {self.name!r} num_units={self._num_units} "
                f"num_proj={self._num_proj} peepholes={self._use_peepholes}>")


# ---------------------------------------------------------------------- the loops

def _initial_state(cell, initial_state, dtype, batch, who):
    """The loop's first state in the cell's ``state_size`` structure: ``initial_state``,
    else TF1's ``zero_state``, else (a Keras cell, as TF falls back) the cell's
    ``get_initial_state`` or zeros."""
    if initial_state is None:
        if dtype is None:
            raise ValueError(f"{who}: give initial_state or dtype (TF1 needs one of them to "
                             "know the state's dtype)")
        if is_legacy_cell(cell):
            return cell.zero_state(batch, dtype)
        state = nest.flatten(initial_state_of(cell, batch, np.dtype(dtype)))
        return nest.pack_as(cell.state_size, [ops.convert_to_tensor(t) for t in state])
    size = getattr(cell, "state_size", None)
    leaves = nest.flatten(initial_state)
    if size is not None:
        want = nest.flatten(size)
        if len(leaves) != len(want):
            raise ValueError(f"{who}: initial_state has {len(leaves)} tensors, the cell's "
                             f"state_size {size!r} needs {len(want)}")
        return nest.pack_as(size, [ops.convert_to_tensor(t) for t in leaves])
    return initial_state


def _sequence_length(sequence_length, batch, who):
    if sequence_length is None:
        return None
    seq = sequence_length if isinstance(sequence_length, Tensor) else \
        ops.constant(np.asarray(sequence_length), "int32")
    if seq.dtype.kind not in "iu":
        raise TypeError(f"{who}: sequence_length must hold ints, got {seq.dtype.name}")
    if seq.ndim != 1 or (_is_int(batch) and seq.shape[0] not in (None, batch)):
        raise ValueError(f"{who}: sequence_length must be a vector of length batch_size "
                         f"({batch if _is_int(batch) else '?'}), got shape {seq.shape}")
    return ops.cast(seq, "int32")


def _step(cell, x_t, state):
    """One step of any cell; a Keras cell's new state comes back in ``state``'s structure
    (it may return a list, or one tensor for one state)."""
    if is_legacy_cell(cell):
        return cell(x_t, state)
    output, new_state = call_cell(cell, x_t, state)
    return output, nest.pack_as(state, nest.flatten(new_state))


def _build_cell(cell, step_shape, dtype):
    """Create the weights before the loop traces its body (as TF1 builds on first use)."""
    if isinstance(cell, Layer):
        cell._maybe_build(tuple(step_shape))
    elif not getattr(cell, "built", True) and hasattr(cell, "build"):
        if getattr(cell, "dtype", False) is None:
            cell.dtype = dtype                 # as the first call would: the inputs' dtype
        cell.build(step_shape)


def _copy_through(keep, output, new_state, old_state):
    """Past a row's length: zero output, the state carried over unchanged."""
    output = ops.where(keep, output, ops.zeros_like(output))
    state = nest.pack_as(new_state, [ops.where(keep, n, o) for n, o in
                                     zip(nest.flatten(new_state), nest.flatten(old_state))])
    return output, state


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
                time_major=False, scope=None, *, parallel_iterations=None, swap_memory=False):
    """Run ``cell`` over ``inputs`` (B, T, D) — (T, B, D) with ``time_major`` — with the
    loop op. Returns ``(outputs, final_state)``; outputs are (B, T, H) or (T, B, H).

    With ``sequence_length`` (B,), a row's outputs past its length are zeros and its
    state is carried through, so the final state is the state at its last step (the
    initial state for a length of 0). Weights are created under ``scope`` (default
    "rnn"). ``parallel_iterations`` and ``swap_memory`` are accepted and ignored.
    """
    del parallel_iterations, swap_memory
    who = "dynamic_rnn"
    if not isinstance(inputs, Tensor):
        if isinstance(inputs, (list, tuple)):
            raise TypeError(f"{who}: inputs must be one 3-D tensor (nested inputs are not "
                            "supported); for a list of steps use static_rnn")
        inputs = ops.constant(inputs)
    if inputs.ndim != 3:
        layout = "(T, B, D)" if time_major else "(B, T, D)"
        raise ValueError(f"{who}: inputs must be 3-D {layout}, got shape {inputs.shape} "
                         f"({inputs.name!r})")
    x = inputs if time_major else ops.transpose(inputs, (1, 0, 2))
    if x.shape[0] == 0:
        raise ValueError(f"{who}: inputs {inputs.name!r} {inputs.shape} have zero time steps")
    with variable_scope(scope or "rnn"):
        batch = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        state0 = _initial_state(cell, initial_state, dtype, batch, who)
        seq = _sequence_length(sequence_length, batch, who)
        _build_cell(cell, x.shape[1:], x.dtype)

        def step(carry, x_t):
            t, state = carry
            output, new_state = _step(cell, x_t, state)
            if seq is not None:
                keep = ops.expand_dims(ops.less(t, seq), 1)
                output, new_state = _copy_through(keep, output, new_state, state)
            return (t + 1, new_state), output

        t0 = ops.constant(np.int32(0))
        (_, final_state), outputs = ops.scan(step, x, (t0, state0), name="while")
        if not time_major:
            outputs = ops.transpose(outputs, (1, 0, 2))
    return outputs, final_state


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None):
    """Unroll ``cell`` over the list ``inputs`` of (B, D) tensors, one name scope per
    step (``rnn/step_0``, ``rnn/step_1``, ...). Returns ``(outputs_list, final_state)``; with
    ``sequence_length`` as in :func:`dynamic_rnn`."""
    who = "static_rnn"
    if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{who}: inputs must be a list of (batch, depth) tensors, one per "
                        f"step (tg.unstack(x, axis=0) makes one), got {type(inputs).__name__}")
    if not inputs:
        raise ValueError(f"{who}: inputs is empty; a sequence needs at least one step")
    xs = [ops.convert_to_tensor(x) for x in inputs]
    for k, x in enumerate(xs):
        if x.ndim != 2:
            raise ValueError(f"{who}: inputs[{k}] must be 2-D (batch, depth), got shape "
                             f"{x.shape} ({x.name!r})")
    with variable_scope(scope or "rnn"):
        batch = xs[0].shape[0] if xs[0].shape[0] is not None else ops.shape(xs[0])[0]
        state = _initial_state(cell, initial_state, dtype, batch, who)
        seq = _sequence_length(sequence_length, batch, who)
        outputs = []
        for t, x_t in enumerate(xs):
            with name_scope(f"step_{t}"):          # as layers.RNN(unroll=True); viz groups them
                output, new_state = _step(cell, x_t, state)
                if seq is not None:
                    keep = ops.expand_dims(ops.less(np.int32(t), seq), 1)
                    output, new_state = _copy_through(keep, output, new_state, state)
            outputs.append(output)
            state = new_state
    return outputs, state
