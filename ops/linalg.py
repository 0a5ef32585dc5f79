"""``tg.matmul``: the batched matrix product (with TF's transpose_a/transpose_b), and
``tg.einsum``."""
import numpy as np

from tinygraph.ir.graph import Op, ShapeError, apply1, register_op
from tinygraph.ir.spec import Spec

from .array import expand_dims
from .constant import convert_pair, convert_to_tensor
from .reduce import BroadcastLike, unbroadcast
from .shape_rules import broadcast_shapes


def _mT(xp, a):
    return xp.swapaxes(a, -1, -2)


@register_op
class MatMul(Op):
    """Batched matrix product with NumPy batch broadcasting; optional transposes of
    the last two axes of either operand (so gradients need no transpose nodes)."""
    name = "matmul"
    specs = [Spec(lambda a, b: matmul(a, b), [(3, 4), (4, 2)], ref=np.matmul),
             Spec(lambda a, b: matmul(a, b), [(2, 3, 4), (4, 5)], ref=np.matmul),
             Spec(lambda a, b: matmul(a, b, transpose_a=True), [(4, 3), (4, 2)],
                  ref=lambda a, b: a.T @ b),
             Spec(lambda a, b: matmul(a, b, transpose_b=True), [(3, 4), (2, 4)],
                  ref=lambda a, b: a @ b.T),
             Spec(lambda a, b: matmul(a, b, transpose_a=True, transpose_b=True),
                  [(2, 4, 3), (2, 5, 4)], ref=lambda a, b: _mT(np, a) @ _mT(np, b))]

    def infer(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ShapeError("both operands need rank >= 2")
        m, k = (a.shape[-1], a.shape[-2]) if self.transpose_a else a.shape[-2:]
        k2, n = (b.shape[-1], b.shape[-2]) if self.transpose_b else b.shape[-2:]
        if k is not None and k2 is not None and k != k2:
            raise ShapeError(f"inner dimensions differ: {k} vs {k2}")
        if a.dtype != b.dtype:
            raise ShapeError(f"dtypes differ: {a.dtype.name} vs {b.dtype.name}")
        return broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (m, n), a.dtype

    def compute(self, be, a, b):
        xp = be.xp
        return xp.matmul(_mT(xp, a) if self.transpose_a else a,
                         _mT(xp, b) if self.transpose_b else b)

    def vjp(self, node, g):
        a, b = node.inputs
        ta, tb = self.transpose_a, self.transpose_b
        if not ta and not tb:
            ga, gb = matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)
        elif not ta and tb:
            ga, gb = matmul(g, b), matmul(g, a, transpose_a=True)
        elif ta and not tb:
            ga, gb = matmul(b, g, transpose_b=True), matmul(a, g)
        else:
            ga, gb = matmul(b, g, True, True), matmul(g, a, True, True)
        return [unbroadcast(ga, a), unbroadcast(gb, b)]

    def label(self):
        t = ("ᵀ" if self.transpose_a else "", "ᵀ" if self.transpose_b else "")
        return "matmul" if not any(t) else f"matmul(a{t[0]}, b{t[1]})"


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    a, b = convert_pair(a, b, "matmul")
    return apply1(MatMul(transpose_a=bool(transpose_a), transpose_b=bool(transpose_b)),
                  [a, b], name=name)


# ----------------------------------------------------------------------- einsum

def _parse_einsum(equation, n):
    """``(input subscripts, output subscripts)`` of ``equation``; the implicit form
    (no ``->``) outputs the letters used once, sorted, as NumPy."""
    eq = equation.replace(" ", "")
    if "." in eq:
        raise ValueError(f"einsum: ellipsis ('...') is not supported, got {equation!r}")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != n:
        raise ValueError(f"einsum: {equation!r} names {len(ins)} operand(s), {n} given")
    letters = "".join(ins)
    if not arrow:
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for sub in ins + [out]:
        if not sub.isalpha() and sub:
            raise ValueError(f"einsum: subscripts must be letters, got {equation!r}")
        if len(set(sub)) != len(sub):
            raise ValueError(f"einsum: a letter repeated within one term ({sub!r} in "
                             f"{equation!r}: a diagonal or trace) is not supported")
    missing = set(out) - set(letters)
    if missing:
        raise ValueError(f"einsum: output letters {sorted(missing)} appear in no input of "
                         f"{equation!r}")
    return tuple(ins), out


@register_op
class Einsum(Op):
    """``tf.einsum`` without ellipsis or repeated letters in one term. The gradient of
    each operand is an einsum of the output gradient with the other operands
    (broadcast back over letters only that operand had)."""
    name = "einsum"
    specs = [Spec(lambda a, b: einsum("ij,jk->ik", a, b), [(3, 4), (4, 2)], ref=np.matmul),
             Spec(lambda a, b: einsum("bij,bkj->bik", a, b), [(2, 3, 4), (2, 5, 4)],
                  ref=lambda a, b: np.einsum("bij,bkj->bik", a, b)),
             Spec(lambda a: einsum("ij->j", a), [(3, 4)], ref=lambda a: a.sum(0)),
             Spec(lambda a, b: einsum("i,j", a, b), [(3,), (2,)], ref=np.outer)]

    def infer(self, *xs):
        sizes = {}
        for x, sub in zip(xs, self.inputs):
            if x.ndim != len(sub):
                raise ShapeError(f"operand {x.name!r} {x.shape} has rank {x.ndim}, its "
                                 f"subscripts {sub!r} need {len(sub)}")
            if x.dtype != xs[0].dtype:
                raise ShapeError(f"dtypes differ: {xs[0].dtype.name} vs {x.dtype.name}")
            for c, d in zip(sub, x.shape):
                if d is not None and sizes.get(c) not in (None, d):
                    raise ShapeError(f"letter {c!r} is {sizes[c]} in one operand, {d} in "
                                     f"{x.name!r} {x.shape}")
                sizes[c] = d if d is not None else sizes.get(c)
        return tuple(sizes.get(c) for c in self.output), xs[0].dtype

    def compute(self, be, *xs):
        return be.xp.einsum(",".join(self.inputs) + "->" + self.output, *xs)

    def vjp(self, node, g):
        grads = []
        for i, (x, sub) in enumerate(zip(node.inputs, self.inputs)):
            others = [(t, s) for j, (t, s) in enumerate(zip(node.inputs, self.inputs)) if j != i]
            seen = set(self.output).union(*[set(s) for _, s in others])
            kept = "".join(c for c in sub if c in seen)
            gi = apply1(Einsum(inputs=(self.output,) + tuple(s for _, s in others), output=kept),
                        [g] + [t for t, _ in others])
            if kept != sub:                # letters only x had: its gradient is constant there
                for axis, c in enumerate(sub):
                    if c not in seen:
                        gi = expand_dims(gi, axis)
                gi = BroadcastLike.make(gi, x)
            grads.append(gi)
        return grads


def einsum(equation, *inputs, name=None):
    """``tf.einsum(equation, *inputs)``: e.g. ``"bij,bjk->bik"``; the implicit form
    (``"ij,jk"``) sums the repeated letters and keeps the others, sorted."""
    xs = [convert_to_tensor(x) for x in inputs]
    if not xs:
        raise ValueError("einsum: needs at least one operand")
    ins, out = _parse_einsum(equation, len(xs))
    return apply1(Einsum(inputs=ins, output=out), xs, name=name)
