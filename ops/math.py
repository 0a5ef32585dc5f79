"""Elementwise math: unary and broadcasting binary ops, comparisons, where, cast.

Each op is one block: shape/dtype rule (shared by the Unary/Binary bases), kernel
against ``be.xp``, VJP in tinygraph ops, and its test spec.
"""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from . import activation_kernels
from ._util import as_dtype, as_tensor, broadcast_shapes, convert_pair, require_float

POS = (0.5, 2.0)     # domain for ops defined on positive reals


# ----------------------------------------------------------------------- unary

class Unary(Op):
    """Float in, same shape and dtype out."""

    def infer(self, x):
        require_float(self.name, x)
        return x.shape, x.dtype


def _unary(cls):
    """Register ``cls`` and return the public function applying it."""
    register_op(cls)

    def fn(x, name=None):
        return apply1(cls(), [as_tensor(x)], name=name)
    fn.__name__ = cls.name
    fn.__doc__ = cls.__doc__
    return fn


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


negative = _unary(Negative)
exp = _unary(Exp)
log = _unary(Log)
tanh = _unary(Tanh)
sigmoid = _unary(Sigmoid)
relu = _unary(Relu)
abs = _unary(Abs)        # noqa: A001 -- tg.abs, as in TF
sign = _unary(Sign)
sqrt = _unary(Sqrt)
stop_gradient = _unary(StopGradient)


def identity(x, name=None, control_inputs=()):
    return apply1(Identity(), [as_tensor(x)], name=name, control_inputs=control_inputs)


register_op(Identity)


def square(x):
    """x * x (a composite: no gradient code of its own)."""
    x = as_tensor(x)
    return x * x


# ----------------------------------------------------------------------- cast

@register_op
class Cast(Op):
    """Convert to another dtype; gradients flow between float dtypes only."""
    name = "cast"
    # float32 rounding defeats finite differences: the value is checked here and the
    # gradient's dtype and value in tests/test_autodiff.py.
    specs = [Spec(lambda x: cast(cast(x, "float32"), "float64"), [(3,)], order=0,
                  ref=lambda x: x.astype("float32").astype("float64")),
             Spec(lambda x: cast(x, "int32"), [(3,)], order=0,
                  ref=lambda x: x.astype("int32"))]

    def infer(self, x):
        return x.shape, self.dtype

    def compute(self, be, x):
        return x.astype(self.dtype)

    def vjp(self, node, g):
        x = node.inputs[0]
        ok = x.dtype.kind == "f" and self.dtype.kind == "f"
        return [cast(g, x.dtype) if ok else None]

    def label(self):
        return f"cast {self.dtype.name}"


def cast(x, dtype, name=None):
    x = as_tensor(x)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return apply1(Cast(dtype=dtype), [x], name=name)


# ----------------------------------------------------------------------- broadcasting

@register_op
class SumLike(Op):
    """Sum ``x`` down to the run-time shape of ``like`` (undoes a broadcast)."""
    name = "sum_like"
    specs = [Spec(lambda x, y: SumLike.make(x, y), [(4, 3), (1, 3)], order=2,
                  ref=lambda x, y: x.sum(0, keepdims=True))]

    @staticmethod
    def make(x, like):
        return apply1(SumLike(), [x, like])

    def infer(self, x, like):
        broadcast_shapes(x.shape, like.shape)
        return like.shape, x.dtype

    def compute(self, be, x, like):
        return _sum_to(be.xp, x, like.shape)

    def vjp(self, node, g):
        return [BroadcastLike.make(g, node.inputs[0]), None]


@register_op
class BroadcastLike(Op):
    """Broadcast ``x`` to the run-time shape of ``like``."""
    name = "broadcast_like"
    specs = [Spec(lambda x, y: BroadcastLike.make(x, y), [(1, 3), (4, 3)], order=2,
                  ref=lambda x, y: np.broadcast_to(x, y.shape))]

    @staticmethod
    def make(x, like):
        return apply1(BroadcastLike(), [x, like])

    def infer(self, x, like):
        return broadcast_shapes(x.shape, like.shape), x.dtype

    def compute(self, be, x, like):
        return be.xp.broadcast_to(x, be.xp.broadcast_shapes(x.shape, like.shape))

    def vjp(self, node, g):
        return [SumLike.make(g, node.inputs[0]), None]


def _sum_to(xp, x, shape):
    if x.shape == tuple(shape):
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and x.shape[lead + i] != 1)
    return xp.sum(x, axis=axes, keepdims=True).reshape(shape)


def unbroadcast(g, x):
    """The gradient ``g`` of a broadcast result, summed back to the shape of ``x``.

    This is the one place where broadcasting is undone. Static shapes decide the
    axes when they can; where ``x`` has an unknown dimension that might have been
    broadcast (it could be 1 at run time), a ``sum_like`` node decides at run time."""
    from tinygraph.ops.reduce import reduce_sum
    if g.shape == x.shape and None not in x.shape:
        return g
    lead = g.ndim - x.ndim
    tail = list(zip(g.shape[lead:], x.shape))
    if any(xd is None and gd != 1 for gd, xd in tail):
        return SumLike.make(g, x)
    summed = [lead + i for i, (gd, xd) in enumerate(tail) if xd == 1 and gd != 1]
    if summed:
        g = reduce_sum(g, axis=summed, keepdims=True)
    if lead:
        g = reduce_sum(g, axis=list(range(lead)))
    return g


# ----------------------------------------------------------------------- binary

class Binary(Op):
    """Two same-dtype operands, NumPy broadcasting."""

    out_bool = False

    def infer(self, x, y):
        shape = broadcast_shapes(x.shape, y.shape)
        return shape, (np.dtype(bool) if self.out_bool else x.dtype)


def _binary(cls):
    register_op(cls)

    def fn(x, y, name=None):
        x, y = convert_pair(x, y, cls.name)
        return apply1(cls(), [x, y], name=name)
    fn.__name__ = cls.name
    fn.__doc__ = cls.__doc__
    return fn


BCAST = [(3, 4), (4,)]       # a broadcasting case for every binary op


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
    """x / y"""
    name = "divide"
    specs = [Spec(lambda x, y: divide(x, y), [(3, 4), (3, 4)], domain=POS, ref=np.divide),
             Spec(lambda x, y: divide(x, y), BCAST, domain=POS, ref=np.divide)]
    def compute(self, be, x, y): return x / y

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
        gy = None if y.node.op.name == "constant" else g * node.out * log(x)
        return [unbroadcast(gx, x), None if gy is None else unbroadcast(gy, y)]


class Maximum(Binary):
    """Elementwise max; at ties the gradient goes to x (as TF)."""
    name = "maximum"
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
    specs = [Spec(lambda x, y: minimum(x, y), BCAST, ref=np.minimum)]
    def compute(self, be, x, y): return be.xp.minimum(x, y)

    def vjp(self, node, g):
        return _route(node, g, less_equal)


add = _binary(Add)
subtract = _binary(Subtract)
multiply = _binary(Multiply)
divide = _binary(Divide)
power = _binary(Power)
maximum = _binary(Maximum)
minimum = _binary(Minimum)


class Compare(Binary):
    out_bool = True
    differentiable = False


def _compare(name, fn_name):
    ref = getattr(np, fn_name)
    cls = type(name.title().replace("_", ""), (Compare,), {
        "name": name, "__doc__": f"Elementwise {name} (bool result).",
        "compute": lambda self, be, x, y: getattr(be.xp, fn_name)(x, y),
        "specs": [Spec(lambda x, y: _fns[name](x, y), BCAST, ref=ref, order=0)]})
    return _binary(cls)


_fns = {}
for _name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
    _fns[_name] = _compare(_name, _name)
equal, not_equal, less = _fns["equal"], _fns["not_equal"], _fns["less"]
less_equal, greater, greater_equal = _fns["less_equal"], _fns["greater"], _fns["greater_equal"]


@register_op
class LogicalNot(Op):
    name = "logical_not"
    differentiable = False
    specs = [Spec(lambda x: logical_not(greater(x, 0.0)), [(4,)], order=0,
                  ref=lambda x: ~(x > 0))]
    def infer(self, x):
        if x.dtype != bool:
            raise ShapeError(f"expected a bool tensor, {x.name!r} is {x.dtype.name}")
        return x.shape, x.dtype
    def compute(self, be, x): return be.xp.logical_not(x)


def logical_not(x):
    return apply1(LogicalNot(), [as_tensor(x)])


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
    if not hasattr(x, "node") and hasattr(y, "node"):
        x = as_tensor(x, y.dtype)
    x, y = convert_pair(x, y, "where")
    return apply1(Where(), [as_tensor(condition), x, y], name=name)


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
    inputs = [as_tensor(x) for x in inputs]
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
    return clip_by_value(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def hard_sigmoid_v1(x):
    """Keras 2's hard sigmoid: clip(0.2x + 0.5, 0, 1), saturating at +-2.5."""
    return clip_by_value(x * 0.2 + 0.5, 0.0, 1.0)
