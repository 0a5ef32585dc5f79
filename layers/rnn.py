"""``RNN``: runs a cell over the time axis, as a loop op (``tg.scan``) or unrolled.

Both modes call the same step function (below, ``_Loop.step``), so they give the
same values and gradients for every option; only the graph differs: ``unroll=True``
builds one set of nodes per time step, each in ``name_scope("step_<t>")``;
``unroll=False`` builds one loop node whose size does not depend on T.

Masking, as TF Keras does it: at a masked step every state keeps its value and the
output repeats the last emitted output (zeros before the first kept step, even with
an initial state). ``zero_output_for_mask`` emits zeros at masked steps of the
returned sequence. The last output is always the output of the last KEPT step
(Keras returns zeros there with zero_output_for_mask; we do not, see docs/layers.md).

What a call declares in the graph, for the tools that read it (``tg.gradflow``,
pictures): everything sits in the layer's scope. With ``unroll=False``, the loop node
(``tg.scan`` named ``rnn_loop``) names its carries after the states (``state_names``:
h, c for an LSTMCell, ...); a masked loop also carries the last output, named like the
state it is (the cell's output is usually its h) or None. With ``unroll=True``, named
handles: ``<layer>/inputs`` (the time-major inputs in processing order) and
``<layer>/step_<t>/<state>`` (the states step t starts from; at step 0 the initial
states). They are identities, which the algebraic pass removes before fusion, so
optimized graphs and kernels are the same with or without them.
"""
import inspect

import numpy as np

import tinygraph as tg
from tinygraph.ir import nest
from tinygraph.ir.graph import apply1, in_scope
from tinygraph.ops.math import Identity
from tinygraph.ops.variables import assign_all

from . import regularizers
from .base import Layer, deserialize, serialize
from .cell_contract import call_cell, initial_state_of, output_size_of, state_sizes
from .stacked_rnn_cells import StackedRNNCells


def state_names(cell):
    """Names of a cell's flat states, as the graph declares them: h, c for an LSTMCell;
    h for a one-state cell; c, h for a TF1 ``LSTMStateTuple``; h0, c0, h1, ... for
    stacked cells (the suffix is the layer index); state0, state1, ... otherwise."""
    declared = getattr(cell, "state_names", None)      # a cell may name its states
    if declared:
        return list(declared)
    if isinstance(cell, StackedRNNCells):
        return [f"{name}{k}" for k, sub in enumerate(cell.cells) for name in state_names(sub)]
    n = len(state_sizes(cell))
    if n == 1:
        return ["h"]
    if n == 2 and getattr(cell.state_size, "_fields", None) == ("c", "h"):
        return ["c", "h"]
    return [f"state{k}" for k in range(n)]


def _named(tensors, names):
    """Handles of ``tensors`` named ``names`` in the current scope (the declaration of an
    unrolled call, see above); unique, so that a second call gets handles of its own."""
    return [apply1(Identity(), [t], name=n, unique=True) for t, n in zip(tensors, names)]


def _same(a, b):
    return a.node is b.node and a.index == b.index


def _dim(t, axis):
    """Static size of ``t`` on ``axis``, else a scalar int tensor."""
    return t.shape[axis] if t.shape[axis] is not None else tg.shape(t)[axis]


class RNN(Layer):
    """``RNN(cell, return_sequences=False, return_state=False, go_backwards=False,
    stateful=False, unroll=False, time_major=False, zero_output_for_mask=False)``.

    ``rnn(inputs, mask=None, training=None, initial_state=None)`` returns the output
    ((B, units), or (B, T, units) with return_sequences) or, with return_state,
    ``(output, *states)``: ``(output, h, c)`` for an LSTMCell, ``(output, [h1, c1],
    [h2, c2])`` for stacked cells, ``(output, c, h)`` for a TF1 legacy cell.
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, time_major=False, zero_output_for_mask=False,
                 **kwargs):
        cell = deserialize(cell)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        # A Layer cell may set its state_size in build (SPEC 6); others need it now.
        late = isinstance(cell, Layer) and getattr(cell, "state_size", None) is None
        if not (callable(cell) or hasattr(cell, "call")) or (
                not late and getattr(cell, "state_size", None) is None):
            raise ValueError(f"{type(self).__name__}: {cell!r} is not an RNN cell: it needs a "
                             "state_size and a call(inputs, states) method")
        if not late:
            state_sizes(cell)                                  # validates state_size
        if kwargs.get("dtype") is None and isinstance(cell, Layer):
            kwargs["dtype"] = cell.dtype
        super().__init__(**kwargs)
        self.cell = cell
        self._track(cell)
        self.trainable = self.trainable     # RNN(cell, trainable=False) freezes the cell too
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.time_major = bool(time_major)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None                  # stateful: one non-trainable Variable per state

    @property
    def state_size(self):
        return self.cell.state_size

    def _axes(self):
        return (1, 0) if self.time_major else (0, 1)     # (batch axis, time axis)

    # ------------------------------------------------------------------ building
    def build(self, input_shape):
        if any(isinstance(d, tuple) for d in input_shape):
            raise ValueError(f"{self.name}: expected one input tensor of rank 3, got a list of "
                             f"{len(input_shape)} tensors {list(input_shape)}; pass initial "
                             "states as initial_state=")
        if len(input_shape) != 3:
            layout = "(time, batch, features)" if self.time_major else "(batch, time, features)"
            raise ValueError(f"{self.name}: expected inputs of rank 3 {layout}, got shape "
                             f"{input_shape}")
        b_axis, _ = self._axes()
        if input_shape[2] is None:
            raise ValueError(f"{self.name}: the feature dimension of the inputs must be known, "
                             f"got shape {input_shape}")
        self._input_dim = input_shape[2]
        if isinstance(self.cell, Layer):
            self.cell._maybe_build((input_shape[b_axis], input_shape[2]))
        if getattr(self.cell, "state_size", None) is None:
            raise ValueError(f"{self.name}: the cell {self.cell!r} set no state_size in build")
        state_sizes(self.cell)                                 # validates state_size
        if self.stateful:
            batch = input_shape[b_axis]
            if batch is None:
                raise ValueError(f"{self.name}: stateful=True needs a fixed batch size; give the "
                                 f"inputs a static batch dimension (got shape {input_shape})")
            self._initial_values = self._stateful_initial_values(batch)
            with in_scope(""):
                self.states = [tg.Variable(value, name=f"{self.name}/state_{i}", trainable=False,
                                           dtype=self.dtype)
                               for i, value in enumerate(self._initial_values)]

    def _stateful_initial_values(self, batch):
        """The arrays the stored states start (and reset) at: the cell's
        get_initial_state when it has one, else zeros."""
        if getattr(self.cell, "get_initial_state", None) is None:
            return [np.zeros((batch, s), self.dtype) for s in state_sizes(self.cell)]
        flat = [t if isinstance(t, tg.Tensor) else tg.constant(np.asarray(t)) for t in
                nest.flatten(initial_state_of(self.cell, batch, self.dtype))]
        values = [np.asarray(v, self.dtype) for v in tg.evaluate(flat, backend="numpy")]
        for v, s in zip(values, state_sizes(self.cell)):
            if v.shape != (batch, s):
                raise ValueError(f"{self.name}: the cell's get_initial_state gave shape "
                                 f"{v.shape}, expected {(batch, s)}")
        return values

    def reset_state(self):
        """Keras 3's name: ``reset_states()``."""
        self.reset_states()

    def reset_states(self, states=None):
        """Stateful only: set the stored states to ``states`` (NumPy arrays, flat or in the
        state structure), else to the cell's get_initial_state (zeros for cells without
        one). Checked in full before anything changes."""
        if not self.stateful:
            raise ValueError(f"{self.name}: reset_states() needs stateful=True")
        if self.states is None:
            if states is None:
                return
            raise ValueError(f"{self.name}: call the layer once (to fix the batch size) before "
                             "reset_states(states)")
        if states is None:
            values = [np.array(v) for v in self._initial_values]
        else:
            values = [np.asarray(s) for s in nest.flatten(states)]
            if len(values) != len(self.states):
                raise ValueError(f"{self.name}.reset_states: expected {len(self.states)} arrays, "
                                 f"got {len(values)}")
            for v, a in zip(self.states, values):
                if a.shape != v.shape:
                    raise ValueError(f"{self.name}.reset_states: state {v.name!r} has shape "
                                     f"{v.shape}, got an array of shape {a.shape}")
        assign_all(self.states, values, f"{self.name}.reset_states")   # dtypes too, all or none

    # ------------------------------------------------------------------ calling
    def _check_inputs(self, x, mask):
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected inputs of rank 3, got shape {x.shape}")
        b_axis, t_axis = self._axes()
        if x.shape[t_axis] == 0:
            raise ValueError(f"{self.name}: the inputs have zero time steps (shape {x.shape}); "
                             "an RNN needs at least one")
        if self.unroll and x.shape[t_axis] is None:
            raise ValueError(f"{self.name}: unroll=True needs a static number of time steps, "
                             f"got inputs of shape {x.shape}")
        if x.shape[2] != self._input_dim:
            raise ValueError(f"{self.name}: built for {self._input_dim} input features, got "
                             f"inputs of shape {x.shape}")
        if mask is None:
            return None
        if not isinstance(mask, tg.Tensor) and np.asarray(mask).dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: mask must be bool (or numbers, nonzero = keep), got "
                            f"an array of dtype {np.asarray(mask).dtype}")
        mask = tg.convert_to_tensor(mask)
        want = x.shape[:2]
        if mask.ndim != 2 or any(a is not None and b is not None and a != b
                                 for a, b in zip(mask.shape, want)):
            layout = "(time, batch)" if self.time_major else "(batch, time)"
            raise ValueError(f"{self.name}: mask must have shape {layout} = {want}, got "
                             f"{mask.shape}")
        if mask.dtype != np.bool_:
            mask = tg.not_equal(mask, tg.zeros_like(mask))
        return mask

    def _initial_states(self, x, initial_state):
        b_axis, _ = self._axes()
        sizes = state_sizes(self.cell)
        batch = _dim(x, b_axis)
        if initial_state is not None:
            flat = nest.flatten(initial_state)
            if len(flat) != len(sizes):
                raise ValueError(f"{self.name}: the cell has {len(sizes)} state(s) (state_size "
                                 f"{self.cell.state_size!r}); initial_state holds {len(flat)}")
            flat = [self._convert_input(s) for s in flat]
            for s, size in zip(flat, sizes):
                if s.ndim != 2 or s.shape[1] != size or (
                        s.shape[0] is not None and x.shape[b_axis] is not None
                        and s.shape[0] != x.shape[b_axis]):
                    raise ValueError(f"{self.name}: initial state {s.name!r} has shape {s.shape}, "
                                     f"expected ({x.shape[b_axis]}, {size})")
            return flat
        if self.stateful:
            if x.shape[b_axis] != self.states[0].shape[0]:
                raise ValueError(f"{self.name}: stateful layer built for batch size "
                                 f"{self.states[0].shape[0]}, called with inputs of shape "
                                 f"{x.shape}; the batch size must not change")
            return list(self.states)
        flat = [self._convert_input(s) for s in
                nest.flatten(initial_state_of(self.cell, batch, self.dtype))]
        if len(flat) != len(sizes):
            raise ValueError(f"{self.name}: the cell's get_initial_state gave {len(flat)} "
                             f"tensors, its state_size has {len(sizes)}")
        return flat

    def _reset_dropout(self):
        for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            if hasattr(self.cell, reset):          # StackedRNNCells resets each of its cells
                getattr(self.cell, reset)()

    def call(self, inputs, mask=None, training=None, initial_state=None):
        x = inputs
        mask = self._check_inputs(x, mask)
        if self.stateful and (self.states is None or x.shape[self._axes()[0]] is None):
            raise ValueError(f"{self.name}: stateful=True needs a fixed batch size, got inputs "
                             f"of shape {x.shape}")
        init = self._initial_states(x, initial_state)
        xs = x if self.time_major else tg.transpose(x, [1, 0, 2])          # (T, B, D)
        ms = None
        if mask is not None:
            ms = mask if self.time_major else tg.transpose(mask, [1, 0])     # (T, B)
        if self.go_backwards:
            xs = tg.reverse(xs, 0)
            ms = None if ms is None else tg.reverse(ms, 0)
        if self.unroll:
            (xs,) = _named([xs], ["inputs"])

        self._reset_dropout()
        if hasattr(self.cell, "_create_dropout_masks"):
            # Drawn here, outside the loop, so every step (and the loop body) shares them.
            self.cell._create_dropout_masks(xs[0], nest.pack_as(self.cell.state_size, init),
                                            training)
        loop = _Loop(self, training, ms is not None)
        final, last, ys = loop.run_unrolled(xs, ms, init) if self.unroll else \
            loop.run_scan(xs, ms, init)
        self._reset_dropout()

        if self.return_sequences:
            output = ys if self.time_major else tg.transpose(ys, [1, 0, 2])
        else:
            output = last
        results = [output] + final
        if self.stateful:
            updates = [v.assign(s) for v, s in zip(self.states, final)]
            results = [tg.identity(r, control_inputs=updates) for r in results]
        output, final = results[0], results[1:]
        if not self.return_state:
            return output
        states = nest.pack_as(self.cell.state_size, final)
        if isinstance(states, (list, tuple)):
            return (output, *states)
        return output, states

    def compute_mask(self, inputs, mask=None):
        """As Keras: a returned sequence keeps the input's mask; a last output has none
        (with return_state, the mask is the output's; states have none)."""
        return mask if self.return_sequences else None

    def get_config(self):
        return dict(super().get_config(), cell=serialize(self.cell),
                    return_sequences=self.return_sequences, return_state=self.return_state,
                    go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                    time_major=self.time_major, zero_output_for_mask=self.zero_output_for_mask)


class _Loop:
    """One RNN call's time loop: the step function and the two ways to repeat it."""

    def __init__(self, rnn, training, masked):
        self.rnn, self.cell, self.training, self.masked = rnn, rnn.cell, training, masked
        self.names = state_names(rnn.cell)
        self.output_state = None            # index of the state the cell's output is, if any

    def step(self, states, prev_out, x_t, m_t, entering=None):
        """(new flat states, output to carry, output to emit) for one time step.
        ``entering``: the tensors that ``states`` are handles of (unrolled mode)."""
        out, new = call_cell(self.cell, x_t, nest.pack_as(self.cell.state_size, states),
                             self.training)
        new = [tg.convert_to_tensor(s) for s in nest.flatten(new)]
        if len(new) != len(states):
            raise ValueError(f"{self.rnn.name}: the cell returned {len(new)} states, its "
                             f"state_size has {len(states)}")
        self.output_state = next((k for k, s in enumerate(new) if _same(s, out)), None)
        if m_t is None:
            return new, out, out
        k = self.output_state
        if entering is not None and k is not None and _same(prev_out, entering[k]):
            prev_out = states[k]        # the carried output is that state: one handle for both
        def keep(t):                                   # (B,) -> (B, 1, ...) like t
            return m_t[(slice(None),) + (None,) * (t.ndim - 1)]
        new = [tg.where(keep(n), n, s) for n, s in zip(new, states)]
        carried = tg.where(keep(out), out, prev_out)
        emitted = tg.where(keep(out), out, tg.zeros_like(out)) if self.rnn.zero_output_for_mask \
            else carried
        return new, carried, emitted

    def _zero_output(self, xs, init):
        batch = _dim(xs, 1)
        return tg.zeros([batch, output_size_of(self.cell)], self.rnn.dtype)

    def run_unrolled(self, xs, ms, init):
        states = list(init)
        prev = self._zero_output(xs, init) if self.masked else None
        ys = []
        for t in range(xs.shape[0]):
            with tg.name_scope(f"step_{t}"):
                handles = _named(states, self.names)
                states, prev, y = self.step(handles, prev, xs[t], None if ms is None else ms[t],
                                            entering=states)
            ys.append(y)
        last = prev if self.masked else ys[-1]
        return states, last, tg.stack(ys, axis=0)

    def run_scan(self, xs, ms, init):
        nstates = len(init)

        def body(carry, seq):
            states, prev = carry[:nstates], (carry[nstates] if self.masked else None)
            x_t, m_t = (seq[0], seq[1]) if self.masked else (seq[0], None)
            states, prev, y = self.step(list(states), prev, x_t, m_t)
            return list(states) + ([prev] if self.masked else []), y

        def carry_names():                 # after tracing: output_state is known
            if not self.masked:
                return self.names
            k = self.output_state
            return self.names + [None if k is None else self.names[k]]

        carry0 = list(init) + ([self._zero_output(xs, init)] if self.masked else [])
        seqs = [xs, ms] if self.masked else [xs]
        final, ys = tg.scan(body, seqs, carry0, name="rnn_loop", carry_names=carry_names)
        final = list(final)
        last = final[nstates] if self.masked else ys[-1]
        return final[:nstates], last, ys


class CellRNN(RNN):
    """An RNN layer around one cell class (Keras' LSTM, SimpleRNN): its arguments and
    config are the cell's (``cell_args``) plus the RNN's own, and ``activity_regularizer``."""

    cell_args = ()

    @classmethod
    def _argument_names(cls):
        params = inspect.signature(cls.__init__).parameters
        return [p for p in params if p not in ("self", "kwargs")]

    def get_config(self):
        cfg = super().get_config()
        del cfg["cell"]
        cell_cfg = self.cell.get_config()
        cfg.update({k: cell_cfg[k] for k in self.cell_args})
        cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg
