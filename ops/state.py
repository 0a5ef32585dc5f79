"""Ops on state: reading a Variable, assigning to it, grouping updates.

A run reads every Variable as it was when the run started; the updates a run makes
are committed together when it ends, so a failing run changes nothing."""
import numpy as np

from tinygraph.ir.graph import Node, Op, ShapeError, Tensor, apply, as_node, register_op


@register_op
class ReadVariable(Op):
    name = "variable"
    stateful = True

    def infer(self):
        value = self.var.value          # the Variable is being built: its Tensor fields come next
        return value.shape, value.dtype

    def compute(self, be):
        value = be.read_variable(self.var)
        if isinstance(value, np.ndarray):   # a kernel or a fetch must never write into it
            value = value.view()
            value.flags.writeable = False
        return value

    def label(self):
        return "variable"


class Update(Op):
    """Base of ops that write a Variable (attribute ``var``): ``new_value`` computes
    what to store."""
    stateful = True
    differentiable = False

    @property
    def assigns(self):
        return self.var

    def infer(self, value):
        var = self.var
        if value.dtype != var.dtype:
            raise ShapeError(f"{var.name!r} is {var.dtype.name}, the value is {value.dtype.name}")
        if len(value.shape) != len(var.shape) or any(
                a is not None and a != b for a, b in zip(value.shape, var.shape)):
            raise ShapeError(f"{var.name!r} has shape {var.shape}, the value {value.shape}")
        return []

    def label(self):
        return f"{self.name} {self.var.name}"


@register_op
class Assign(Update):
    name = "assign"

    def new_value(self, be, value):
        return value


@register_op
class AssignAdd(Update):
    name = "assign_add"

    def new_value(self, be, delta):
        return be.read_variable(self.var) + delta


@register_op
class NoOp(Op):
    """Does nothing; its control inputs make ``group`` run several updates."""
    name = "no_op"
    stateful = True

    def infer(self):
        return []

    def compute(self, be):
        return ()


def group(*ops, name=None):
    """One op that runs all of ``ops`` (Nodes or Tensors) when fetched."""
    nodes = []
    for o in ops:
        for x in (o if isinstance(o, (list, tuple)) else [o]):
            if not isinstance(x, (Tensor, Node)):
                raise TypeError(f"group: expected Tensors or ops (Nodes), got "
                                f"{type(x).__name__} {x!r}")
            nodes.append(as_node(x))
    return apply(NoOp(), [], name=name or "group", control_inputs=nodes)
