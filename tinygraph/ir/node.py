"""Nodes and Tensors: one application of an op, and the values it produces."""
import itertools

import numpy as np

_ids = itertools.count(1)


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
    ``tg.equal`` for an elementwise comparison.

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
        shape = "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + \
            ("," if len(self.shape) == 1 else "") + ")"
        return f"<Tensor {self.name!r} shape={shape} dtype={self.dtype.name}>"

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

    def eval(self, feed_dict=None, session=None):
        from tinygraph.runtime.session import evaluate
        return evaluate(self, feed_dict=feed_dict, session=session)

    # Operators are thin calls into tinygraph.ops (imported late: ops import us).
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().subtract(self, o)
    def __rsub__(self, o): return _ops().subtract(o, self)
    def __mul__(self, o): return _ops().multiply(self, o)
    def __rmul__(self, o): return _ops().multiply(o, self)
    def __truediv__(self, o): return _ops().divide(self, o)
    def __rtruediv__(self, o): return _ops().divide(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __pow__(self, o): return _ops().power(self, o)
    def __rpow__(self, o): return _ops().power(o, self)
    def __neg__(self): return _ops().negative(self)
    def __abs__(self): return _ops().abs(self)
    def __lt__(self, o): return _ops().less(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    def __getitem__(self, index): return _ops().getitem(self, index)

    @property
    def T(self):
        return _ops().transpose(self)


def _ops():
    from tinygraph import ops
    return ops


