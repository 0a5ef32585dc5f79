"""``Bidirectional``: a recurrent layer run over the sequence forwards and a copy of it run
backwards, their outputs merged (Keras 3's ``keras.layers.Bidirectional``).

The two directions are sublayers, ``forward_<name>`` and ``backward_<name>``, each
rebuilt from the wrapped layer's config (fresh weights, as Keras); the backward one has
``go_backwards`` flipped. Each is called in its own name scope inside this layer's,
so the graph declares two ordinary RNN calls (layers/rnn.py) that the tools find by
those names (``tg.gradflow``, pictures). The backward direction emits its sequence in
processing order; it is reversed back to the input's order before the merge, so step t
of the merged output belongs to input step t in both halves.
"""
import copy

import numpy as np

import tinygraph as tg
from tinygraph.ir import nest
from tinygraph.ops.variables import assign_all

from .base import Layer, deserialize, serialize
from .cell_contract import _accepts, state_sizes
from .rnn import RNN
from .stacked_rnn_cells import StackedRNNCells

MERGE_MODES = ("concat", "sum", "mul", "ave", None)
_RECURRENT = ("go_backwards", "return_sequences", "return_state")   # Keras' contract
_COMMON = ("stateful", "return_sequences", "return_state", "time_major")


def _check_recurrent(layer, what):
    """``layer`` must be a Layer with the attributes of a recurrent one (Keras accepts any
    sequence layer that has them, not only RNN subclasses)."""
    if not isinstance(layer, Layer):
        raise ValueError(f"Bidirectional: {what} must be a layer instance (layers.LSTM, "
                         f"layers.GRU, layers.SimpleRNN, layers.RNN(cell)), got {layer!r}")
    missing = [a for a in _RECURRENT if not hasattr(layer, a)]
    if missing:
        raise TypeError(f"Bidirectional: {what} must be a recurrent layer (an RNN such as "
                        f"LSTM, GRU or SimpleRNN, or a sequence layer with go_backwards, "
                        f"return_sequences and return_state); {layer!r} has no "
                        + ", ".join(missing))


def _removeprefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


def _recreate(layer, prefix, go_backwards):
    """A new layer like ``layer``, named ``<prefix><name>``, going backwards or not: from
    its config (Keras: fresh weights, no state carried over); a layer whose config cannot
    rebuild it (a cell without get_config) is deep-copied instead, weights included."""
    name = prefix + _removeprefix(layer.name, prefix)
    try:
        config = dict(layer.get_config(), name=name, go_backwards=go_backwards)
        new = type(layer).from_config(config)
    except (AttributeError, TypeError, NotImplementedError):
        new = copy.deepcopy(layer)
        new.name, new.go_backwards = name, go_backwards
    _name_cells(new)
    return new


def _name_cells(direction):
    """Name a direction's (unbuilt) cells after it, ``forward_lstm_cell`` (stacked:
    ``forward_rnn_cell0``, ...): their weights are named after the cell, and two
    copies' ``lstm_cell_1/kernel`` and ``lstm_cell_2/kernel`` would not say which
    direction each belongs to."""
    if not isinstance(direction, RNN):
        return
    stacked = isinstance(direction.cell, StackedRNNCells)
    cells = direction.cell.cells if stacked else [direction.cell]
    for k, cell in enumerate(cells):
        if isinstance(cell, Layer) and not cell.built:
            cell.name = f"{direction.name}_cell{k if stacked else ''}"


def _verify_pair(forward, backward):
    """What Keras checks of a given backward layer, and time_major (which sets the axis
    its output is reversed on)."""
    if bool(forward.go_backwards) == bool(backward.go_backwards):
        raise ValueError(f"Bidirectional: the forward and backward layers must have different "
                         f"go_backwards values; both {forward.name!r} and {backward.name!r} "
                         f"have go_backwards={bool(forward.go_backwards)}")
    for attr in _COMMON:
        a, b = getattr(forward, attr, False), getattr(backward, attr, False)
        if bool(a) != bool(b):
            raise ValueError(f"Bidirectional: the forward and backward layers must have the same "
                             f"{attr}; got {attr}={a} for the forward layer {forward.name!r} and "
                             f"{attr}={b} for the backward layer {backward.name!r}")


class Bidirectional(Layer):
    """``Bidirectional(layer, merge_mode="concat", weights=None, backward_layer=None,
    name=None, dtype=None, trainable=True)``.

    ``layer``: an RNN layer (LSTM, GRU, SimpleRNN, RNN(cell)); it serves as a template and
    is not called itself. ``backward_layer``: used as is instead of the flipped copy; it
    must have the opposite go_backwards and the same return_sequences, return_state,
    stateful and time_major. ``merge_mode``: "concat" (last axis), "sum", "mul", "ave" or
    None (a list ``[y_forward, y_backward]``). ``weights``: forward's then backward's
    arrays, set when the layer is built. ``dtype`` defaults to the wrapped layer's.

    ``bi(inputs, mask=None, training=None, initial_state=None)``: the mask and training
    go to both directions; ``initial_state`` holds the forward layer's states then the
    backward layer's. With return_state: ``(output, *forward_states, *backward_states)``,
    and with merge_mode=None ``(y_forward, y_backward, *forward_states,
    *backward_states)``. With return_sequences, masked steps of the output are zeros in
    both halves (Keras sets zero_output_for_mask on both directions).
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        _check_recurrent(layer, "layer")
        if backward_layer is not None:
            _check_recurrent(backward_layer, "backward_layer")
            _verify_pair(layer, backward_layer)
        if not any(merge_mode is m or (isinstance(merge_mode, str) and merge_mode == m)
                   for m in MERGE_MODES):
            raise ValueError(f"Bidirectional: invalid merge_mode {merge_mode!r}; expected one of "
                             "'concat', 'sum', 'mul', 'ave' or None")
        if weights is not None and not isinstance(weights, (list, tuple)):
            raise TypeError(f"Bidirectional: weights must be a list of arrays (the forward "
                            f"layer's, then the backward layer's), got {type(weights).__name__}")
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = layer.dtype
        super().__init__(**kwargs)
        self.forward_layer = _recreate(layer, "forward_", bool(layer.go_backwards))
        if backward_layer is None:
            backward_layer = _recreate(layer, "backward_", not layer.go_backwards)
        self.backward_layer = backward_layer
        for direction in (self.forward_layer, self.backward_layer):
            if getattr(direction, "zero_output_for_mask", None) is not None:
                direction.zero_output_for_mask = direction.return_sequences
            self._track(direction)
        self.trainable = self.trainable        # trainable=False reaches both directions
        self.merge_mode = merge_mode
        self._initial_weights = None if weights is None else list(weights)
        self.stateful = bool(getattr(layer, "stateful", False))
        self.return_sequences = bool(layer.return_sequences)
        self.return_state = bool(layer.return_state)
        self.time_major = bool(getattr(layer, "time_major", False))

    # ------------------------------------------------------------------ state
    @property
    def states(self):
        """Stateful: the forward layer's stored states, then the backward layer's."""
        forward = getattr(self.forward_layer, "states", None)
        backward = getattr(self.backward_layer, "states", None)
        if forward and backward:
            return tuple(forward) + tuple(backward)
        return None

    def reset_state(self):
        """Keras 3's name: ``reset_states()``."""
        self.reset_states()

    def reset_states(self, states=None):
        """Stateful only: both directions back to their initial states, or to ``states``
        (the forward layer's arrays, then the backward layer's). All are checked before
        any changes."""
        if not self.stateful:
            raise ValueError(f"{self.name}: reset_states() needs stateful=True (a stateful "
                             "wrapped layer)")
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        if self.states is None:
            raise ValueError(f"{self.name}: call the layer once (to fix the batch size) before "
                             "reset_states(states)")
        assign_all(list(self.states), [np.asarray(s) for s in nest.flatten(states)],
                   f"{self.name}.reset_states")

    # ------------------------------------------------------------------ building
    def build(self, input_shape):
        for direction in (self.forward_layer, self.backward_layer):
            direction._maybe_build(input_shape)
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)

    def _state_counts(self):
        """Flat state counts (forward, backward) of RNN directions, else None."""
        if isinstance(self.forward_layer, RNN) and isinstance(self.backward_layer, RNN):
            return (len(state_sizes(self.forward_layer.cell)),
                    len(state_sizes(self.backward_layer.cell)))
        return None

    def _split(self, states, what):
        """``states`` (a list) split into the forward layer's and the backward layer's."""
        counts = self._state_counts()
        nf, nb = counts if counts is not None else (len(states) // 2, len(states) - len(states) // 2)
        if len(states) != nf + nb or (counts is None and nf != nb):
            want = f"{nf + nb}: the forward layer's {nf}, then the backward layer's {nb}" \
                if counts is not None else "an even number: the forward layer's, then the " \
                "backward layer's"
            raise ValueError(f"{self.name}: {what} must hold the states of both directions "
                             f"({want}), got {len(states)}")
        return states[:nf], states[nf:]

    # ------------------------------------------------------------------ calling
    def call(self, inputs, mask=None, training=None, initial_state=None):
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            if self._state_counts() is not None:
                states = nest.flatten(states)
            forward_state, backward_state = self._split(states, "initial_state")
        y = self._run(self.forward_layer, inputs, mask, training, forward_state)
        y_rev = self._run(self.backward_layer, inputs, mask, training, backward_state)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        y, y_rev = self._convert_input(y), self._convert_input(y_rev)
        if self.return_sequences:
            y_rev = tg.reverse(y_rev, 0 if self.time_major else 1, name="reverse_back")
        output = self._merge(y, y_rev)
        if not self.return_state:
            return output
        return (*output, *states) if self.merge_mode is None else (output, *states)

    def _run(self, direction, inputs, mask, training, initial_state):
        kwargs = {}
        if training is not None and _accepts(direction.call, "training"):
            kwargs["training"] = training
        if mask is not None:
            if not _accepts(direction.call, "mask"):
                raise ValueError(f"{self.name}: a mask was given but {direction!r} takes no "
                                 "mask")
            kwargs["mask"] = mask
        if initial_state is not None:
            kwargs["initial_state"] = initial_state
        return direction(inputs, **kwargs)

    def _merge(self, y, y_rev):
        mode = self.merge_mode
        if mode is None:
            return [y, y_rev]
        if mode == "concat":
            return tg.concat([y, y_rev], axis=-1, name="merge")
        if y.shape != y_rev.shape:
            raise ValueError(f"{self.name}: merge_mode={mode!r} needs outputs of one shape; the "
                             f"forward layer gives {y.shape}, the backward layer {y_rev.shape}")
        if mode == "sum":
            return tg.add(y, y_rev, name="merge")
        if mode == "mul":
            return tg.multiply(y, y_rev, name="merge")
        return tg.divide(tg.add(y, y_rev), tg.constant(2, dtype=y.dtype), name="merge")

    # ------------------------------------------------------------------ config
    def compute_mask(self, inputs, mask=None):
        """Keras' rule: the (batch, time) mask goes on with the merged sequence (one per
        direction when merge_mode is None), and ends with a last output."""
        if not self.return_sequences or mask is None:
            return None
        return mask if self.merge_mode else [mask, mask]

    def get_config(self):
        return dict(super().get_config(), merge_mode=self.merge_mode,
                    layer=serialize(self.forward_layer),
                    backward_layer=serialize(self.backward_layer))

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)
