"""The activation table: one row per activation, everything tinygraph knows of it.

A row holds:
- ``graph``: the activation built from primitive ops (what layers and decompositions use);
- ``forward(xp, x, out)``: the same function on arrays, in place into ``out``
  (fused kernels on NumPy and CuPy);
- ``grad_from_output(xp, y, out=None)``: its derivative written with y = act(x), so a
  fused kernel keeps activated values only;
- ``cuda``: the C expressions of the forward (in ``x``) and of that derivative (in
  ``y``) for the CUDA kernels, in the kernel's element type ``T``;
- ``pattern(inner)``: a pattern matching ``graph(x)`` in a graph, with x matched by
  the pattern ``inner`` (how fusion recognizes the activation).

Rows without ``forward`` (softmax, elu, ...) are activations a layer may use but that
no fused kernel implements; ``FUSABLE`` names the others.

``hard_sigmoid`` is Keras 3's ``clip(x/6 + 1/2, 0, 1)``; Keras 2's ``clip(0.2x + 0.5,
0, 1)`` is ``hard_sigmoid_v1``. ``sigmoid`` is computed everywhere as
``(1 + tanh(x/2)) / 2``: exact, overflow-free for any x, and four in-place ufuncs.
"""
import math
from dataclasses import dataclass

from tinygraph.ir.pattern import Alt, Pat

from . import activation_kernels as k
from . import math as m
from .nn import softmax as _softmax


@dataclass(frozen=True)
class Activation:
    name: str
    graph: object                      # Tensor -> Tensor, in primitive ops
    forward: object = None             # (xp, x, out) -> out
    grad_from_output: object = None    # (xp, y, out=None) -> act'(x)
    cuda: tuple = None                 # (forward of x, derivative from y), C expressions
    pattern: object = None             # inner -> Pat matching graph(x), x matching inner

    @property
    def fusable(self):
        return self.forward is not None


# ----------------------------------------------------------------------- graph functions

def linear(x):
    return x


def softmax(x):
    return _softmax(x, axis=-1)


def elu(x):
    # exp of min(x, 0): the unused branch never overflows, so its gradient stays finite
    return m.where(x > 0, x, m.exp(m.minimum(x, 0.0)) - 1.0)


def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * m.where(x > 0, x, alpha * (m.exp(m.minimum(x, 0.0)) - 1.0))


def softsign(x):
    return x / (1.0 + m.abs(x))


# ----------------------------------------------------------------------- patterns

def scalar_constant(value=None, bind=None):
    """A pattern for a scalar constant (equal to ``value`` when given). Constants are
    never part of a match's interior: they are shared and cost nothing."""
    def pred(t):
        if not t.node.op.is_constant or t.node.op.value.size != 1:
            return False
        return value is None or math.isclose(float(t.node.op.value.reshape(())), value,
                                             rel_tol=1e-6, abs_tol=0.0)
    return Pat(None, bind=bind, where=pred)


def _unary_pattern(op_name):
    return lambda inner: Pat(op_name, inner)


def _hard_pattern(slope):
    def pattern(inner):
        scaled = Pat("multiply", inner, scalar_constant(slope), commutative=True)
        shifted = Pat("add", scaled, scalar_constant(0.5), commutative=True)
        return Pat("minimum", Pat("maximum", shifted, scalar_constant(0.0)), scalar_constant(1.0))
    return pattern


def _is_activation_output(t):
    return any(pattern.first(t) is not None for pattern in _NONLINEAR_OUTPUTS)


def _linear_pattern(inner):
    # x read as linear(x) only when x is no other activation's output: otherwise
    # tanh(z) would also match as linear(tanh(z)) and group the wrong nodes
    return Alt(inner, where=lambda t: not _is_activation_output(t))


# ----------------------------------------------------------------------- the table

_ROWS = [
    Activation("tanh", m.tanh, k.tanh, k.d_tanh, ("tanh(x)", "(T)1 - y * y"), _unary_pattern("tanh")),
    Activation("sigmoid", m.sigmoid, k.sigmoid, k.d_sigmoid,
               ("(T)0.5 * tanh((T)0.5 * x) + (T)0.5", "y * ((T)1 - y)"), _unary_pattern("sigmoid")),
    Activation("relu", m.relu, k.relu, k.d_relu, ("(x > (T)0 ? x : (T)0)", "(T)(y > (T)0)"),
               _unary_pattern("relu")),
    Activation("linear", linear, k.linear, k.d_linear, ("x", "(T)1"), _linear_pattern),
    Activation("hard_sigmoid", m.hard_sigmoid, k.hard(1.0 / 6.0), k.d_hard(1.0 / 6.0),
               ("fmin(fmax(x * (T)(1.0 / 6.0) + (T)0.5, (T)0), (T)1)",
                "(T)((y > (T)0) & (y < (T)1)) * (T)(1.0 / 6.0)"), _hard_pattern(1.0 / 6.0)),
    Activation("hard_sigmoid_v1", m.hard_sigmoid_v1, k.hard(0.2), k.d_hard(0.2),
               ("fmin(fmax(x * (T)0.2 + (T)0.5, (T)0), (T)1)", "(T)((y > (T)0) & (y < (T)1)) * (T)0.2"),
               _hard_pattern(0.2)),
    Activation("softmax", softmax),
    Activation("exponential", m.exp),
    Activation("elu", elu),
    Activation("selu", selu),
    Activation("softplus", m.softplus),
    Activation("softsign", softsign),
]

ACTIVATIONS = {a.name: a for a in _ROWS}
FUSABLE = tuple(a.name for a in _ROWS if a.fusable)
# what every nonlinear activation's output looks like (built once: fusion asks often)
_NONLINEAR_OUTPUTS = [a.pattern(Pat()) for a in _ROWS if a.pattern is not None and a.name != "linear"]


def get(name):
    """The row for ``name``; ValueError listing the valid names otherwise."""
    row = ACTIVATIONS.get(name)
    if row is None:
        raise ValueError(f"unknown activation {name!r}; valid names: " + ", ".join(sorted(ACTIVATIONS)))
    return row


def fusable(name):
    """The row for ``name`` if a fused kernel implements it; ValueError otherwise."""
    row = ACTIVATIONS.get(name)
    if row is None or not row.fusable:
        raise ValueError(f"activation {name!r} is not one the fused kernels support {FUSABLE}")
    return row


def name_of(fn):
    """The table name of a graph function (``tg.tanh`` -> "tanh"), or None."""
    return next((a.name for a in _ROWS if a.graph is fn), None)
