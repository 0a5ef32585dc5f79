"""What ``RNN`` needs of a cell, and how it asks: any cell drives the loop the same way.

A cell is one of ours (a Layer), a user object with ``state_size`` and
``call``/``__call__``, or a TF1 legacy cell (recognised, as TF1's cells are, by its
``zero_state``) whose state is a namedtuple or one tensor. These functions read its
state sizes, output size and initial state, and call one step.

As Keras: a Keras-style cell always receives its states as a list (one element for an
int ``state_size``), and ``training=`` only when its ``call`` accepts it; a TF1 cell
receives its state in its own structure.
"""
import inspect

import numpy as np

import tinygraph as tg
from tinygraph.ir import nest

from .base import Layer


def batch_size_of(who, batch_size=None, inputs=None):
    """The batch size for ``get_initial_state``: ``batch_size``, else the first dimension
    of ``inputs`` (a scalar tensor when unknown until run time). Takes Keras 3's
    ``(batch_size)`` and tf.keras' ``(inputs=None, batch_size=None)`` orders."""
    if isinstance(batch_size, (tg.Tensor, np.ndarray)) and np.ndim(batch_size) > 0:
        inputs, batch_size = batch_size, None          # tf.keras: inputs came first
    elif batch_size is None and inputs is not None and np.ndim(inputs) == 0:
        inputs, batch_size = None, inputs              # tf.keras' (None, batch_size, dtype)
    if batch_size is not None:
        return batch_size
    if inputs is None:
        raise ValueError(f"{who}.get_initial_state: give batch_size or inputs")
    inputs = tg.convert_to_tensor(inputs)
    return inputs.shape[0] if inputs.shape[0] is not None else tg.shape(inputs)[0]


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


def is_legacy_cell(cell):
    """A TF1 cell (it has ``zero_state``): it gets its state in its own structure."""
    return not isinstance(cell, Layer) and callable(getattr(cell, "zero_state", None))


def call_cell(cell, inputs, states, training=None):
    """One step of any cell: ``states`` is in the cell's ``state_size`` structure. A
    Keras-style cell gets a bare state as ``[state]`` (Keras always hands a list)."""
    if not is_legacy_cell(cell) and not isinstance(states, (list, tuple)):
        states = [states]
    if isinstance(cell, Layer):
        if _accepts(cell.call, "training"):
            return cell(inputs, states, training=training)
        return cell(inputs, states)
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
