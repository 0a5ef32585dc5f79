"""Ops: the shape/dtype rule, kernel and VJP of one operation, and the op registry."""
import hashlib

import numpy as np

from tinygraph.ir.node import Tensor


class ShapeError(ValueError):
    """A static shape or dtype rule rejected an op's inputs."""


OP_REGISTRY = {}


def register_op(cls):
    """Class decorator: add an Op subclass to the registry under ``cls.name``."""
    if not cls.name or cls.name in OP_REGISTRY:
        raise ValueError(f"op name {cls.name!r} is empty or registered twice")
    OP_REGISTRY[cls.name] = cls
    return cls


def _freeze(value):
    """A hashable stand-in for an attribute value."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        digest = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ("ndarray", value.dtype.str, value.shape, digest)
    if isinstance(value, np.dtype):
        return value.str
    if isinstance(value, Tensor):           # a Variable held by its read op
        return ("tensor", id(value))
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


class Op:
    """An operation: a shape/dtype rule, a kernel against ``be.xp``, and a VJP.

    Subclasses set ``name`` and implement ``infer`` (returns one ``(shape, dtype)``
    tuple, or a list of them for several outputs), ``compute(be, *arrays)`` and ``vjp(node, *output_grads)`` (returns
    one gradient Tensor or None per input, built from tinygraph ops). Attributes are
    the keyword arguments of the constructor; they are part of the op's identity.
    """

    name = None
    differentiable = True   # False: no gradient flows through any input
    stateful = False        # True: never folded, never shared (random, reads of state)
    specs = ()              # test specs (tinygraph.testing.Spec); a meta-test requires them
    fused = False           # True: a fused kernel; ``decompose`` gives its primitive-op math
    needs_output_mask = False   # True: ``compute`` takes ``needed`` (which outputs are read)
    body = None             # a Function the op runs (a loop's step), or None

    def __init__(self, **attrs):
        self.attrs = attrs
        self.__dict__.update(attrs)
        self._key = (type(self), _freeze(attrs))

    def __eq__(self, other):
        return isinstance(other, Op) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        shown = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items() if k != "value")
        return f"{self.name}({shown})"

    def infer(self, *inputs):
        raise NotImplementedError(f"op {self.name} has no shape rule")

    def compute(self, be, *arrays):
        raise NotImplementedError(f"op {self.name} has no kernel")

    def vjp(self, node, *grads):
        raise NotImplementedError(f"op {self.name} has no gradient")

    def decompose(self, inputs):
        """A fused op's outputs rebuilt from primitive ops on ``inputs``; None otherwise."""
        return None

    def label(self):
        """Short text for pictures."""
        return self.name


