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
    if type(value).__hash__ is object.__hash__:
        # compared by identity anyway (a loop body's Function, a callable): the key
        # holds its id, not the object, so the hash-consing table never keeps a loop
        # body (and the graph it reaches) alive; the node's op holds it while it lives
        return ("id", id(value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


class Op:
    """An operation: a shape/dtype rule, a kernel against ``be.xp``, and a VJP.

    Subclasses set ``name`` and implement ``infer`` (returns one ``(shape, dtype)``
    tuple, or a list of them for several outputs), ``compute(be, *arrays)`` and
    ``vjp(node, *output_grads)`` (returns one gradient Tensor or None per input,
    built from tinygraph ops). Attributes are the keyword arguments of the
    constructor; they are part of the op's identity.
    """

    name = None
    differentiable = True   # False: no gradient flows through any input
    stateful = False        # True: never folded, never shared (random, reads of state)
    specs = ()              # test specs (tinygraph.testing.Spec); a meta-test requires them

    # Capabilities the passes, the runtime and the tools read (declared here with
    # their defaults; an op that has one overrides it).
    is_placeholder = False     # a value fed at run time (a run without it fails)
    is_constant = False        # a value fixed in the graph: the array ``op.value``
    fused = False              # a fused kernel standing for a primitive-op subgraph (decompose)
    needs_output_mask = False  # compute(..., needed=) is told which outputs are used
    body = None                # a loop's step: the Function compute runs at every step
    assigns = None             # the Variable this op writes when run; new_value is its kernel
    vjp_uses_autodiff = False  # vjp(node, *grads, gradients=tg.gradients): a loop's VJP
                               # differentiates its body

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
        """Fused ops: their outputs rebuilt from primitive ops on ``inputs`` (a list of
        Tensors); None for every other op."""
        return None

    def primal(self, inputs):
        """An op computing another op's VJP (a fused backward op): ``(that op, its
        inputs, the cotangents of its outputs)``, None standing for a zero cotangent.
        Autodiff then decomposes and differentiates it through the forward op's
        decomposition, so every order of derivative works. None for other ops."""
        return None

    def new_value(self, be, *arrays):
        """Ops that assign a Variable (``assigns``): the array to store. A run commits
        every update together when it ends, so a failing run changes nothing."""
        raise NotImplementedError(f"op {self.name} assigns no Variable")

    def label(self):
        """Short text for pictures."""
        return self.name


