"""Elementwise math: unary ops, broadcasting arithmetic, where, add_n, and composites.

Each op is one block: shape/dtype rule (shared by the Unary/Binary bases of
ops/elementwise.py), kernel against ``be.xp``, VJP in tinygraph ops, and its test spec.
Comparisons and cast are in ops/compare.py and ops/cast.py; broadcasting is undone
by ``unbroadcast`` (ops/reduce.py).
"""
import numpy as np

from tinygraph.ir.graph import Node, Op, ShapeError, Tensor, apply1, register_op
from tinygraph.ir.spec import Spec

from . import activation_kernels
from .compare import greater, greater_equal, less_equal
from .constant import convert_pair, convert_to_tensor
from .dtypes import require_float
from .elementwise import BCAST, Binary, Unary, binary_function, unary_function
from .reduce import unbroadcast
from .shape_rules import broadcast_shapes

POS = (0.5, 2.0)     # domain for ops defined on positive reals


# ----------------------------------------------------------------------- unary

class Negative(Unary):
    """-x"""
    name = "negative"
    specs = [Spec(lambda x: negative(x), [(3, 2)], ref=np.negative)]
    def compute(self, be, x): return be.xp.negative(x)
    def vjp(self, node, g): return [negative(g)]


class Exp(Unary):
    """e**x"""
    name = "exp"
    specs = [Spec(lambda x: exp(x), [(3, 2)], ref=np.exp)]
    def compute(self, be, x): return be.xp.exp(x)
    def vjp(self, node, g): return [g * node.out]


class Log(Unary):
    """Natural logarithm."""
    name = "log"
    specs = [Spec(lambda x: log(x), [(3, 2)], domain=POS, ref=np.log)]
    def compute(self, be, x): return be.xp.log(x)
    def vjp(self, node, g): return [g / node.inputs[0]]


class Tanh(Unary):
    """Hyperbolic tangent."""
    name = "tanh"
    specs = [Spec(lambda x: tanh(x), [(3, 2)], ref=np.tanh)]
    def compute(self, be, x): return be.xp.tanh(x)
    def vjp(self, node, g): return [g * (1.0 - square(node.out))]


class Sigmoid(Unary):
    """1 / (1 + e**-x), computed as (1 + tanh(x/2)) / 2: no overflow for any x."""
    name = "sigmoid"
    specs = [Spec(lambda x: sigmoid(x), [(3, 2)], domain=(-6, 6),
                  ref=lambda x: 1 / (1 + np.exp(-x)))]

    def compute(self, be, x):
        return activation_kernels.sigmoid(be.xp, x, be.xp.empty_like(x))

    def vjp(self, node, g):
        y = node.out
        return [g * (y * (1.0 - y))]


class Softplus(Unary):
    """log(1 + e**x), computed as logaddexp(0, x) (no overflow); its derivative is
    sigmoid(x) everywhere, 0.5 at 0 (the relu + log1p(exp(-|x|)) composite gives 0
    there, as relu' and abs' are 0 at 0)."""
    name = "softplus"
    specs = [Spec(lambda x: softplus(x), [(3, 2)], ref=lambda x: np.logaddexp(0, x))]
    def compute(self, be, x): return be.xp.logaddexp(x.dtype.type(0), x)
    def vjp(self, node, g): return [g * sigmoid(node.inputs[0])]


class Relu(Unary):
    """max(x, 0)"""
    name = "relu"
    specs = [Spec(lambda x: relu(x), [(4, 3)], ref=lambda x: np.maximum(x, 0))]
    def compute(self, be, x): return be.xp.maximum(x, 0)
    def vjp(self, node, g): return [where(greater(node.inputs[0], 0.0), g, 0.0)]


class Abs(Unary):
    """|x|"""
    name = "abs"
    specs = [Spec(lambda x: abs(x), [(4, 3)], ref=np.abs)]
    def compute(self, be, x): return be.xp.abs(x)
    def vjp(self, node, g): return [g * sign(node.inputs[0])]


class Sign(Unary):
    """-1, 0 or 1; its derivative is zero almost everywhere."""
    name = "sign"
    differentiable = False
    specs = [Spec(lambda x: sign(x), [(4, 3)], ref=np.sign, order=0)]
    def compute(self, be, x): return be.xp.sign(x)


class Floor(Unary):
    """The largest integer <= x (a float); as TF, no gradient flows through it."""
    name = "floor"
    differentiable = False
    specs = [Spec(lambda x: floor(x), [(4, 3)], ref=np.floor, order=0)]
    def compute(self, be, x): return be.xp.floor(x)


class Round(Unary):
    """The nearest integer (a float), halves to even, as TF's ``round``; no gradient."""
    name = "round"
    differentiable = False
    specs = [Spec(lambda x: round(x * 2.0), [(4, 3)], ref=lambda x: np.round(x * 2.0), order=0)]
    def compute(self, be, x): return be.xp.round(x)


class Sqrt(Unary):
    """Square root."""
    name = "sqrt"
    specs = [Spec(lambda x: sqrt(x), [(3, 2)], domain=POS, ref=np.sqrt)]
    def compute(self, be, x): return be.xp.sqrt(x)
    def vjp(self, node, g): return [g * 0.5 / node.out]


class StopGradient(Op):
    """Identity whose gradient is None: gradients do not flow through it."""
    name = "stop_gradient"
    differentiable = False
    # Finite differences see through it by design: the blocked gradient is asserted
    # in tests/test_autodiff.py.
    specs = [Spec(lambda x: stop_gradient(x) * x, [(3,)], ref=lambda x: x * x, order=0)]
    def infer(self, x): return x.shape, x.dtype
    def compute(self, be, x): return x


class Identity(Op):
    """Returns its input; a named handle (and a carrier of control dependencies)."""
    name = "identity"
    specs = [Spec(lambda x: identity(x), [(3,)], ref=lambda x: x)]
    def infer(self, x): return x.shape, x.dtype
    def compute(self, be, x): return x
    def vjp(self, node, g): return [g]


negative = unary_function(Negative)
exp = unary_function(Exp)
log = unary_function(Log)
tanh = unary_function(Tanh)
sigmoid = unary_function(Sigmoid)
relu = unary_function(Relu)
softplus = unary_function(Softplus)
abs = unary_function(Abs)        # noqa: A001 -- tg.abs, as in TF
sign = unary_function(Sign)
floor = unary_function(Floor)
round = unary_function(Round)    # noqa: A001 -- tg.round, as in TF
sqrt = unary_function(Sqrt)
stop_gradient = unary_function(StopGradient)


def identity(x, name=None, control_inputs=()):
    """``x``, computed after ``control_inputs`` (Nodes or Tensors) have run."""
    nodes = []
    for c in control_inputs:
        if not isinstance(c, (Tensor, Node)):
            raise TypeError(f"identity: control_inputs must be Tensors or ops, got "
                            f"{type(c).__name__} {c!r}")
        nodes.append(c.node if isinstance(c, Tensor) else c)
    return apply1(Identity(), [convert_to_tensor(x)], name=name, control_inputs=nodes)


register_op(Identity)


def square(x):
    """x * x (a composite: no gradient code of its own)."""
    x = convert_to_tensor(x)
    return x * x


# ----------------------------------------------------------------------- binary

class Add(Binary):
    """x + y"""
    name = "add"
    specs = [Spec(lambda x, y: add(x, y), [(3, 4), (3, 4)], ref=np.add),
             Spec(lambda x, y: add(x, y), BCAST, ref=np.add),
             Spec(lambda x, y: add(x, y), [(3, 1), (1, 4)], ref=np.add)]
    def compute(self, be, x, y): return x + y

    def vjp(self, node, g):
        x, y = node.inputs
        return [unbroadcast(g, x), unbroadcast(g, y)]


class Subtract(Binary):
    """x - y"""
    name = "subtract"
    specs = [Spec(lambda x, y: subtract(x, y), BCAST, ref=np.subtract)]
    def compute(self, be, x, y): return x - y

    def vjp(self, node, g):
        x, y = node.inputs
        return [unbroadcast(g, x), unbroadcast(negative(g), y)]


class Multiply(Binary):
    """x * y"""
    name = "multiply"
    specs = [Spec(lambda x, y: multiply(x, y), [(3, 4), (3, 4)], ref=np.multiply),
             Spec(lambda x, y: multiply(x, y), BCAST, ref=np.multiply),
             Spec(lambda x: multiply(x, x), [(3,)], ref=lambda x: x * x)]
    def compute(self, be, x, y): return x * y

    def vjp(self, node, g):
        x, y = node.inputs
        return [unbroadcast(g * y, x), unbroadcast(g * x, y)]


class Divide(Binary):
    """x / y, true division: integers divide to floats, as in TF (float64, or float32
    for 8- and 16-bit integers)."""
    name = "divide"
    specs = [Spec(lambda x, y: divide(x, y), [(3, 4), (3, 4)], domain=POS, ref=np.divide),
             Spec(lambda x, y: divide(x, y), BCAST, domain=POS, ref=np.divide)]

    def infer(self, x, y):
        shape, dtype = Binary.infer(self, x, y)
        if dtype.kind in "iu":
            dtype = np.dtype("float32" if dtype.itemsize <= 2 else "float64")
        return shape, dtype

    def compute(self, be, x, y):
        out = x / y
        return out if out.dtype.kind != "f" or x.dtype.kind == "f" else out.astype(
            "float32" if x.dtype.itemsize <= 2 else "float64")

    def vjp(self, node, g):
        x, y = node.inputs
        return [unbroadcast(g / y, x), unbroadcast(negative(g) * node.out / y, y)]


class Power(Binary):
    """x ** y (the gradient in y needs x > 0)."""
    name = "power"
    specs = [Spec(lambda x, y: power(x, y), [(3, 4), (3, 4)], domain=POS, ref=np.power),
             Spec(lambda x: power(x, 3.0), [(3,)], ref=lambda x: x ** 3)]
    def compute(self, be, x, y): return be.xp.power(x, y)

    def vjp(self, node, g):
        x, y = node.inputs
        gx = g * y * power(x, y - 1.0)
        gy = g * node.out * log(x)      # built even for a constant y: a user may ask d/dy
        return [unbroadcast(gx, x), None if gy is None else unbroadcast(gy, y)]


class Maximum(Binary):
    """Elementwise max; at ties the gradient goes to x (as TF)."""
    name = "maximum"
    arithmetic = False
    specs = [Spec(lambda x, y: maximum(x, y), BCAST, ref=np.maximum)]
    def compute(self, be, x, y): return be.xp.maximum(x, y)

    def vjp(self, node, g):
        return _route(node, g, greater_equal)


def _route(node, g, pick_x_where):
    """Gradient of a max/min: all of g to the operand that was picked."""
    x, y = node.inputs
    pick_x = pick_x_where(x, y)
    return [unbroadcast(where(pick_x, g, 0.0), x), unbroadcast(where(pick_x, 0.0, g), y)]


class Minimum(Binary):
    """Elementwise min; at ties the gradient goes to x (as TF)."""
    name = "minimum"
    arithmetic = False
    specs = [Spec(lambda x, y: minimum(x, y), BCAST, ref=np.minimum)]
    def compute(self, be, x, y): return be.xp.minimum(x, y)

    def vjp(self, node, g):
        return _route(node, g, less_equal)


add = binary_function(Add)
subtract = binary_function(Subtract)
multiply = binary_function(Multiply)
divide = binary_function(Divide)
power = binary_function(Power)
maximum = binary_function(Maximum)
minimum = binary_function(Minimum)


# ----------------------------------------------------------------------- where / add_n

@register_op
class Where(Op):
    """cond ? x : y, elementwise with broadcasting."""
    name = "where"
    specs = [Spec(lambda c, x, y: where(greater(c, 0.0), x, y), [(3, 4), (3, 4), (4,)],
                  ref=lambda c, x, y: np.where(c > 0, x, y))]

    def infer(self, c, x, y):
        if c.dtype != bool:
            raise ShapeError(f"condition {c.name!r} must be bool, got {c.dtype.name}")
        if x.dtype != y.dtype:
            raise ShapeError(f"branches differ in dtype: {x.dtype.name} vs {y.dtype.name}")
        return broadcast_shapes(c.shape, x.shape, y.shape), x.dtype

    def compute(self, be, c, x, y):
        return be.xp.where(c, x, y)

    def vjp(self, node, g):
        c, x, y = node.inputs
        return [None, unbroadcast(where(c, g, 0.0), x), unbroadcast(where(c, 0.0, g), y)]


def where(condition, x, y, name=None):
    """Elements of ``x`` where ``condition`` holds, else of ``y`` (broadcasting)."""
    if not isinstance(x, Tensor) and isinstance(y, Tensor):
        x = convert_to_tensor(x, y.dtype)
    x, y = convert_pair(x, y, "where")
    return apply1(Where(), [convert_to_tensor(condition), x, y], name=name)


@register_op
class AddN(Op):
    """Sum of same-shape tensors."""
    name = "add_n"
    specs = [Spec(lambda a, b, c: add_n([a, b, c]), [(2, 3)] * 3, ref=lambda a, b, c: a + b + c)]

    def infer(self, *xs):
        for t in xs[1:]:
            if t.dtype != xs[0].dtype or len(t.shape) != len(xs[0].shape) or any(
                    a is not None and b is not None and a != b for a, b in zip(t.shape, xs[0].shape)):
                raise ShapeError("all inputs need one shape and dtype")
        shape = tuple(next((t.shape[i] for t in xs if t.shape[i] is not None), None)
                      for i in range(len(xs[0].shape)))
        return shape, xs[0].dtype

    def compute(self, be, *xs):
        out = xs[0] + xs[1] if len(xs) > 1 else xs[0].copy()
        for x in xs[2:]:
            out += x
        return out

    def vjp(self, node, g):
        return [g] * len(node.inputs)


def add_n(inputs, name=None):
    """Sum a list of same-shape tensors in one op."""
    inputs = [convert_to_tensor(x) for x in inputs]
    if not inputs:
        raise ValueError("add_n: needs at least one tensor")
    if len(inputs) == 1:
        return inputs[0]
    return apply1(AddN(), inputs, name=name)


# ----------------------------------------------------------------------- composites

def clip_by_value(x, clip_value_min, clip_value_max, name=None):
    """min(max(x, lo), hi)."""
    return minimum(maximum(x, clip_value_min), clip_value_max, name=name)


def hard_sigmoid(x):
    """Keras 3's hard sigmoid: clip(x/6 + 1/2, 0, 1), saturating at +-3."""
    require_float("hard_sigmoid", convert_to_tensor(x))
    return clip_by_value(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def hard_sigmoid_v1(x):
    """Keras 2's hard sigmoid: clip(0.2x + 0.5, 0, 1), saturating at +-2.5."""
    require_float("hard_sigmoid_v1", convert_to_tensor(x))
    return clip_by_value(x * 0.2 + 0.5, 0.0, 1.0)
