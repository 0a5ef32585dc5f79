"""Symbolic tensors: how a functional ``Model`` is described before it is called.

``Input(shape)`` makes one; calling a layer (or a recorded op) on symbolic tensors
makes more, and records the call as a ``CallNode``. Each symbolic tensor also holds a
``trace``: the real tensor that the same call gives on a placeholder, so layers are
built (their weights exist) and shapes are known as soon as the model is described,
as in Keras. Calling the finished ``Model`` replays the recorded calls on real inputs.
"""
import numpy as np

import tinygraph as tg
from tinygraph.ir import nest


class SymbolicTensor:
    """A value of a functional model not computed yet: ``shape`` (batch None), ``dtype``,
    the ``node`` that makes it (None for an ``Input``) and its ``index`` among that
    node's outputs."""

    def __init__(self, trace, node=None, index=0, name=None):
        self.trace, self.node, self.index = trace, node, index
        self.name = name or trace.name

    @property
    def shape(self):
        return self.trace.shape

    @property
    def dtype(self):
        return self.trace.dtype

    @property
    def ndim(self):
        return self.trace.ndim

    def __repr__(self):
        return f"<SymbolicTensor {self.name!r} shape={self.shape} dtype={self.dtype.name}>"


class CallNode:
    """One recorded call: ``op(*args, **kwargs)``, symbolic tensors among the arguments."""

    def __init__(self, op, args, kwargs):
        self.op, self.args, self.kwargs = op, args, kwargs
        self.outputs = None             # the structure of SymbolicTensors it returned

    def inputs(self):
        """The symbolic tensors the call reads (positional ones first)."""
        return [t for t in nest.flatten([list(self.args), list(self.kwargs.values())])
                if isinstance(t, SymbolicTensor)]


def Input(shape, dtype="float32", name=None, batch_size=None):
    """A functional model's input: ``shape`` without the batch axis (None for an
    unknown size), as Keras' ``keras.Input``."""
    try:
        dims = [batch_size] + [None if d is None else int(d) for d in shape]
    except (TypeError, ValueError):
        raise ValueError(f"Input: shape must be a tuple of ints or None, got {shape!r}") from None
    dtype = np.dtype(dtype)
    with tg.name_scope("inputs"):
        trace = tg.placeholder(dims, dtype, name=name or "input")
    return SymbolicTensor(trace, name=name or "input")


def is_symbolic(structure):
    return any(isinstance(t, SymbolicTensor) for t in nest.flatten(structure))


def _traced(structure):
    return nest.map_structure(lambda t: t.trace if isinstance(t, SymbolicTensor) else t,
                              structure)


def call(op, args, kwargs):
    """Record ``op(*args, **kwargs)`` (symbolic arguments) and return symbolic outputs,
    traced on the arguments' traces."""
    if kwargs.get("training") is not None and isinstance(kwargs["training"], SymbolicTensor):
        raise ValueError(f"{op!r}: training must be a bool, not a symbolic tensor")
    with tg.name_scope("build"):
        traced = op(*_traced(list(args)), **_traced(dict(kwargs)))
    node = CallNode(op, tuple(args), dict(kwargs))
    flat = nest.flatten(traced)
    if not all(isinstance(t, tg.Tensor) for t in flat):
        raise TypeError(f"{op!r} returned {traced!r}; a functional model's calls must return "
                        "tensors")
    node.outputs = nest.pack_as(traced, [SymbolicTensor(t, node, k) for k, t in enumerate(flat)])
    return node.outputs
