"""Nodes and Tensors: one application of an op, and the values it produces."""
import itertools

import numpy as np

_ids = itertools.count(1)


def fmt_shape(shape, unknown="None"):
    """A static shape as text, ``(None, 3)`` or ``(4,)``; ``unknown`` stands for a
    dimension only known at run time."""
    inner = ", ".join(unknown if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class Node:
    """One application of an op. ``outputs`` are Tensors; a node may have none."""

    __slots__ = ("op", "inputs", "control_inputs", "outputs", "name", "scope",
                 "grad_of", "id", "graph", "__weakref__")

    def __init__(self, op, inputs, control_inputs, avals, name, scope, grad_of, graph):
        self.op = op
        self.inputs = tuple(inputs)
        self.control_inputs = tuple(control_inputs)
        self.name = name
        self.scope = scope
        self.grad_of = grad_of
        self.id = next(_ids)
        self.graph = graph
        self.outputs = tuple(Tensor(self, i, s, d) for i, (s, d) in enumerate(avals))

    @property
    def out(self):
        """The single output (for one-output ops)."""
        return self.outputs[0]

    def __repr__(self):
        return f"<Node {self.name} op={self.op.name}>"


class Tensor:
    """A symbolic value: output ``index`` of ``node``, with a static shape and dtype.

    ``==`` keeps its identity meaning (tensors are dict keys in feeds); use
    ``tg.equal`` for an elementwise comparison. The operators (``+``, ``@``,
    ``x[i]``, ``x.T``, ...) are ops: tinygraph.ops sets them on Tensor when it is
    imported, and tinygraph.runtime sets ``eval`` (both build on this module).

    ``grad_record`` is ``(GradRecord, i)`` when this tensor is result ``i`` of a
    ``tg.gradients`` call (the backward-fusion stage re-derives it from the optimized
    forward graph); the record lives and dies with the tensor.
    """

    __array_priority__ = 100   # numpy defers to our operators: np_array + tensor works

    def __init__(self, node, index, shape, dtype):
        self.node = node
        self.index = index
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.grad_record = None

    @property
    def name(self):
        if len(self.node.outputs) <= 1:
            return self.node.name
        return f"{self.node.name}:{self.index}"

    @property
    def op(self):
        return self.node.op

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<Tensor {self.name!r} shape={fmt_shape(self.shape, '?')} dtype={self.dtype.name}>"

    def __hash__(self):
        return hash((self.node.id, self.index))

    def __eq__(self, other):
        return self is other or (isinstance(other, Tensor) and other.node is self.node
                                 and other.index == self.index)

    def __bool__(self):
        raise TypeError(f"the truth value of symbolic tensor {self.name!r} is unknown "
                        "until it is run; use tg.where for a data-dependent choice")

    def __len__(self):
        if not self.shape or self.shape[0] is None:
            raise TypeError(f"len() of tensor {self.name!r} with shape {self.shape}")
        return self.shape[0]

    def __iter__(self):
        raise TypeError(f"tensor {self.name!r} is not iterable; use tg.unstack")
