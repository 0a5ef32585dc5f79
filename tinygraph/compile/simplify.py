"""Simplification rules for the rewrite engine: constant folding and algebraic
identities. Each rule is one line of data with a comment; the functions below
build the replacements."""
import numpy as np

from tinygraph.backends.numpy_backend import NumpyBackend
from tinygraph.compile.rewrite import Pat, Rule, V
from tinygraph.ops.array import reshape, transpose
from tinygraph.ops.constant import constant

FOLD_LIMIT = 1 << 20      # don't fold results larger than this many elements


def _const(t):
    return t.node.op.is_constant


def _const_equal(value):
    """A predicate: ``t`` is a constant every element of which equals ``value``."""
    def pred(t):
        return _const(t) and t.node.op.value.size > 0 and bool(np.all(t.node.op.value == value))
    return pred


def _static(t):
    return None not in t.shape


def _foldable(t):
    node = t.node
    op = node.op
    return (node.inputs and not op.stateful and not node.control_inputs
            and all(_const(i) for i in node.inputs) and not op.is_constant)


def fold_constant(b, t):
    node = t.node
    if any(None in o.shape for o in node.outputs) or \
            sum(int(np.prod(o.shape)) for o in node.outputs) > FOLD_LIMIT:
        return None
    with np.errstate(all="ignore"):
        kw = {"needed": (True,) * len(node.outputs)} if node.op.needs_output_mask else {}
        # the NumPy backend's kernel for the op, as a run computes it (its host kernels)
        values = NumpyBackend().kernel(node.op)(*[i.node.op.value for i in node.inputs], **kw)
    values = values if isinstance(values, tuple) else (values,)
    value = np.asarray(values[t.index])
    if value.dtype != t.dtype or value.shape != t.shape:
        return None     # never cast here: a fold must give the value a run would give
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        return None     # keep the node: check_numerics must name where a NaN/Inf arises
    return constant(value)


def _broadcasts_into(small, big):
    """Broadcasting shape ``small`` against ``big`` gives ``big`` whatever the
    run-time values of its unknown dims."""
    return len(small) <= len(big) and all(
        s == 1 or (s is not None and s == b) for s, b in zip(small[::-1], big[::-1]))


def _same_shape_operand(b, t):
    """``x`` when the other operand cannot change the result's shape (a static
    match, or it broadcasts into ``x``, or it is zeros_like(x))."""
    x = b["x"]
    if x.dtype != t.dtype:          # int x / 1 is a float
        return None
    other = t.node.inputs[1] if t.node.inputs[0] is x else t.node.inputs[0]
    if (x.shape == t.shape and _static(t)) or _broadcasts_into(other.shape, x.shape) \
            or b.get("y") is x:
        return x
    return None


def fill_static(b, t):
    x = b["x"]
    if not _static(x) or int(np.prod(x.shape)) > FOLD_LIMIT:
        return None
    return constant(np.full(x.shape, t.node.op.value, x.dtype))


def merge_reshapes(b, t):
    return reshape(b["x"], t.node.op.shape)


def merge_transposes(b, t):
    inner, outer = b["inner"].node.op.perm, t.node.op.perm
    return transpose(b["x"], tuple(inner[p] for p in outer))


def drop_static_sum_like(b, t):
    return b["g"] if b["g"].shape == t.shape and _static(t) else None


def drop_identity(b, t):
    return b["x"] if not t.node.control_inputs else None


def cancel_negations(b, t):
    return b["x"]


FOLDING = [
    # op(constants...) -> constant: evaluate once at compile time
    Rule(Pat(where=_foldable), fold_constant, "evaluate ops whose inputs are all constants",
         exclusive=False),
]

ALGEBRAIC = [
    # x + 0 -> x  (only when x already has the result's shape)
    Rule(Pat("add", V("x"), Pat(where=_const_equal(0)), commutative=True),
         _same_shape_operand, "x + 0 -> x", exclusive=False, name="add_zero"),
    # x - 0 -> x
    Rule(Pat("subtract", V("x"), Pat(where=_const_equal(0))), _same_shape_operand,
         "x - 0 -> x", exclusive=False, name="subtract_zero"),
    # x * 1 -> x
    Rule(Pat("multiply", V("x"), Pat(where=_const_equal(1)), commutative=True),
         _same_shape_operand, "x * 1 -> x", exclusive=False, name="multiply_one"),
    # x / 1 -> x
    Rule(Pat("divide", V("x"), Pat(where=_const_equal(1))), _same_shape_operand,
         "x / 1 -> x", exclusive=False, name="divide_one"),
    # x + zeros_like(y) -> x  (gradient accumulation with an unused branch)
    Rule(Pat("add", V("x"), Pat("fill_like", V("y"), where=lambda t: t.node.op.value == 0),
             commutative=True), _same_shape_operand, "x + zeros_like(y) -> x",
         exclusive=False, name="add_zeros_like"),
    # -(-x) -> x
    Rule(Pat("negative", Pat("negative", V("x"))), cancel_negations, "-(-x) -> x",
         exclusive=False, name="double_negation"),
    # reshape(reshape(x)) -> reshape(x)
    Rule(Pat("reshape", Pat("reshape", V("x"))), merge_reshapes,
         "reshape(reshape(x, a), b) -> reshape(x, b)", exclusive=False, name="merge_reshapes"),
    # transpose(transpose(x)) -> one transpose
    Rule(Pat("transpose", Pat("transpose", V("x"), bind="inner")), merge_transposes,
         "transpose(transpose(x, p), q) -> transpose(x, p[q])", exclusive=False,
         name="merge_transposes"),
    # sum_like(g, x) -> g when both shapes are fully known and equal
    Rule(Pat("sum_like", V("g"), V("x")), drop_static_sum_like,
         "sum_like(g, x) -> g when nothing was broadcast", exclusive=False, name="drop_sum_like"),
    # identity(x) -> x (unless it carries control dependencies)
    Rule(Pat("identity", V("x")), drop_identity, "identity(x) -> x", exclusive=False,
         name="drop_identity"),
    # zeros_like(x) / ones_like(x) of a static shape -> a constant (x is no longer needed)
    Rule(Pat("fill_like", V("x")), fill_static, "fill_like(x) -> constant when x's shape is static",
         exclusive=False, name="static_fill"),
]
