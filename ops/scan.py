"""The loop op: ``tg.scan``, a symbolic scan whose body is a subgraph built once.

Node layout. Inputs: initial carries, sequences (time on axis 0), captured outer
tensors. Outputs: final carries, stacked per-step outputs ``ys``, and the carry
history (the carries entering each step, stacked on time). The history is only
computed when something reads it: the gradient does, inference does not.

Gradient. A reverse scan over the history: each step recomputes its forward step
from the stored carries (one extra body evaluation, instead of storing every
intermediate), pulls the cotangents back through it, and accumulates the
gradients of the captured tensors (weights) in its carry. That reverse scan is
built with ``tg.scan`` itself, so it has a gradient too (second order).

Carry names. ``carry_names`` declares what each carry is (``layers.RNN`` names its
states ``h``, ``c``, ...): pictures label the loop body's inputs with them and
``tg.gradflow`` reports per name. A carry named like an earlier one holds the same
quantity (a masked RNN also carries its last output, which is usually its ``h``);
a carry named None is no named quantity. They are part of the op, not of its math.
"""
import numpy as np

from tinygraph.ir import nest
from tinygraph.ir.function import trace
from tinygraph.ir.graph import Op, ShapeError, apply, register_op
from tinygraph.ir.spec import Spec

from .constant import convert_to_tensor
from .shape_rules import same_shape
from .math import tanh
from .fill_like import zeros_like


def _merge_shape(a, b):
    return tuple(x if x is not None else y for x, y in zip(a, b))


@register_op
class Scan(Op):
    """Attributes: body (Function), n_carry, n_seq, n_ys, reverse, length, carry_names
    (a tuple with one name or None per carry, or None: see the module docstring)."""
    name = "scan"
    needs_output_mask = True
    specs = [
        # cumulative sum (ys are the carries entering each step)
        Spec(lambda xs: scan(lambda c, x: (c + x, c * x), xs, xs[0] * 0.0)[1], [(5, 3)],
             ref=lambda xs: _loop(lambda c, x: (c + x, c * x), xs, 0 * xs[0])[1]),
        # a tanh recurrence reading an outer weight
        Spec(lambda xs, w: scan(lambda h, x: (tanh(h * w + x), h), xs, xs[0] * 0.0),
             [(4, 2), (2,)],
             ref=lambda xs, w: _loop(lambda h, x: (np.tanh(h * w + x), h), xs, 0 * xs[0])),
        # reverse order with an initial state
        Spec(lambda xs, h0: scan(lambda h, x: (tanh(h * 0.5 + x), h * h), xs, h0, reverse=True),
             [(4, 3), (3,)],
             ref=lambda xs, h0: _loop(lambda h, x: (np.tanh(h * 0.5 + x), h * h), xs, h0, True)),
    ]

    def infer(self, *inputs):
        """Final carries, stacked ys (T, ...) and the carry history (T, ...)."""
        carries, outs, T = inputs[:self.n_carry], self.body.outputs, self.length
        finals = [(_merge_shape(o.shape, c.shape), c.dtype)
                  for o, c in zip(outs[:self.n_carry], carries)]
        ys = [((T,) + o.shape, o.dtype) for o in outs[self.n_carry:]]
        hist = [((T,) + c.shape, c.dtype) for c in carries]
        return finals + ys + hist

    def compute(self, be, *arrays, needed):
        xp = be.xp
        nc, ns, ny = self.n_carry, self.n_seq, self.n_ys
        carries = list(arrays[:nc])
        seqs = arrays[nc:nc + ns]
        caps = list(arrays[nc + ns:])
        T = seqs[0].shape[0] if ns else self.length
        if T == 0:
            raise ValueError("scan: the sequences have zero time steps; a loop needs at least one")
        if any(s.shape[0] != T for s in seqs):
            raise ValueError(f"scan: sequences differ in length: {[s.shape[0] for s in seqs]}")
        want_y, want_h = needed[nc:nc + ny], needed[nc + ny:]
        plan = be.plan_for(self.body)
        ys = [None] * ny
        hist = [xp.empty((T,) + c.shape, c.dtype) if w else None for c, w in zip(carries, want_h)]
        steps = range(T - 1, -1, -1) if self.reverse else range(T)
        for t in steps:
            for i, h in enumerate(hist):
                if h is not None:
                    h[t] = carries[i]
            outs = plan.run(carries + [s[t] for s in seqs] + caps)
            carries = outs[:nc]
            for j in range(ny):
                if want_y[j]:
                    if ys[j] is None:
                        ys[j] = xp.empty((T,) + outs[nc + j].shape, outs[nc + j].dtype)
                    ys[j][t] = outs[nc + j]
        return tuple(carries) + tuple(ys) + tuple(hist)

    vjp_uses_autodiff = True      # the reverse loop differentiates the body

    def vjp(self, node, *grads, gradients):
        return _scan_vjp(node, grads, gradients)

    def label(self):
        return f"scan{' reverse' if self.reverse else ''} ({self.body.name})"


def _loop(fn, xs, c, reverse=False):
    """The NumPy reference: a Python loop."""
    ys = [None] * len(xs)
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        c, ys[t] = fn(c, xs[t])
    return [c, np.stack(ys)]


def scan(fn, sequences, initializer, reverse=False, length=None, name="scan",
         carry_names=None):
    """Loop ``fn`` over the leading axis of ``sequences``.

    fn(carry, x_t) -> (new_carry, y_t): ``carry`` has the structure of
    ``initializer``, ``x_t`` that of ``sequences`` (one time slice of each), ``y_t``
    is a Tensor or a nest of Tensors (or None). ``fn`` is traced once; it may read
    any outer tensor. Returns ``(final_carry, ys)`` with ys stacked on axis 0. With
    ``reverse=True`` steps run from the last to the first and ys[t] still belongs to
    step t. ``length`` gives T when there are no sequences. ``carry_names`` names
    the flat carries (module docstring), or is a function of no arguments returning
    them, called once ``fn`` is traced (for names that depend on what ``fn`` built).
    """
    if not callable(fn):
        raise TypeError(f"scan: fn must be a function (carry, x_t) -> (new_carry, y_t), got {fn!r}")
    seq_flat = [convert_to_tensor(s) for s in nest.flatten(sequences)]
    init_flat = [convert_to_tensor(c) for c in nest.flatten(initializer)]
    T = _time_steps(seq_flat, init_flat, length)
    nc = len(init_flat)
    out_structure = []

    def step(*params):
        carry = nest.pack_as(initializer, params[:nc])
        x_t = nest.pack_as(sequences, params[nc:])
        result = fn(carry, x_t)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError("scan: fn must return a pair (new_carry, y_t)")
        new_carry, y = result
        new_flat = [convert_to_tensor(c) for c in nest.flatten(new_carry)]
        if len(new_flat) != nc:
            raise ValueError(f"scan: fn returned {len(new_flat)} carries, the initializer has {nc}")
        for new, old in zip(new_flat, init_flat):
            if new.dtype != old.dtype or new.ndim != old.ndim or not same_shape(new.shape, old.shape):
                raise ShapeError(f"scan: carry {old.name!r} {old.shape} {old.dtype.name} comes back "
                                 f"from fn as {new.shape} {new.dtype.name}")
        y_flat = [] if y is None else [convert_to_tensor(v) for v in nest.flatten(y)]
        out_structure.append(y)
        return new_flat + y_flat

    specs = [(c.shape, c.dtype, f"{name}_carry") for c in init_flat] + \
            [(s.shape[1:], s.dtype, f"{name}_x") for s in seq_flat]
    body, captures = trace(step, specs, name=f"{name}_body")
    ny = len(body.outputs) - nc
    op = Scan(body=body, n_carry=nc, n_seq=len(seq_flat), n_ys=ny, reverse=bool(reverse), length=T,
              carry_names=_carry_names(carry_names, nc))
    node = apply(op, init_flat + seq_flat + captures, name=name)
    finals = nest.pack_as(initializer, node.outputs[:nc])
    y_struct = out_structure[0]
    ys = None if y_struct is None else nest.pack_as(y_struct, node.outputs[nc:nc + ny])
    return finals, ys


def _time_steps(seq_flat, init_flat, length):
    """T (None when unknown) after checking the sequences and carries."""
    if not init_flat and not seq_flat:
        raise ValueError("scan: needs a carry or a sequence")
    for s in seq_flat:
        if s.ndim == 0:
            raise ShapeError(f"scan: sequence {s.name!r} is a scalar; sequences need a time axis 0")
    lengths = {s.shape[0] for s in seq_flat if s.shape[0] is not None}
    if len(lengths) > 1:
        raise ShapeError("scan: sequences differ in length: " +
                         ", ".join(f"{s.name!r} {s.shape}" for s in seq_flat))
    T = lengths.pop() if lengths else (None if seq_flat else length)
    if not seq_flat and length is None:
        raise ValueError("scan: without sequences, pass length=T")
    if T == 0:
        raise ValueError("scan: the sequences have zero time steps (" +
                         ", ".join(f"{s.name!r} {s.shape}" for s in seq_flat) +
                         "); a loop needs at least one")
    return T


def _carry_names(names, n_carry):
    if callable(names):
        names = names()
    if names is None:
        return None
    names = tuple(names)
    if len(names) != n_carry or not all(n is None or isinstance(n, str) for n in names):
        raise ValueError(f"scan: carry_names must hold one name (or None) per carry ({n_carry}), "
                         f"got {names!r}")
    return names


def _scan_vjp(node, grads, gradients):
    """Cotangents of (init carries, sequences, captures) as a reverse scan;
    ``gradients`` is tg.gradients (ops cannot import autodiff, which is built on them)."""
    op = node.op
    nc, ns, ny = op.n_carry, op.n_seq, op.n_ys
    inits = node.inputs[:nc]
    seqs = node.inputs[nc:nc + ns]
    caps = node.inputs[nc + ns:]
    g_final = list(grads[:nc])
    g_ys = list(grads[nc:nc + ny])
    g_hist = list(grads[nc + ny:])
    hist = node.outputs[nc + ny:]
    float_caps = [i for i, c in enumerate(caps) if c.dtype.kind == "f"]
    # Sequences of the reverse scan: stored carries, inputs, and the cotangents that exist.
    y_idx = [j for j, g in enumerate(g_ys) if g is not None]
    h_idx = [i for i, g in enumerate(g_hist) if g is not None]
    bwd_seqs = list(hist) + list(seqs) + [g_ys[j] for j in y_idx] + [g_hist[i] for i in h_idx]
    init_cbar = [g if g is not None else zeros_like(c) for g, c in zip(g_final, inits)]
    init_acc = [zeros_like(caps[i]) for i in float_caps]

    def bwd_step(carry, xs):
        cbar, acc = carry
        h = xs[:nc]
        x = xs[nc:nc + ns]
        ybar = dict(zip(y_idx, xs[nc + ns:nc + ns + len(y_idx)]))
        hbar = dict(zip(h_idx, xs[nc + ns + len(y_idx):]))
        outs = op.body.inline(list(h) + list(x) + list(caps))
        cot = list(cbar) + [ybar.get(j) if j in ybar else zeros_like(outs[nc + j]) for j in range(ny)]
        wrt = list(h) + list(x) + [caps[i] for i in float_caps]
        g = gradients(outs, wrt, grad_ys=cot, unconnected_gradients="zero") if wrt else []
        g_h, g_x, g_c = g[:nc], g[nc:nc + ns], g[nc + ns:]
        new_cbar = [gh + hbar[i] if i in hbar else gh for i, gh in enumerate(g_h)]
        new_acc = [a + gc for a, gc in zip(acc, g_c)]
        return (new_cbar, new_acc), [gx if s.dtype.kind == "f" else zeros_like(s[0]) for gx, s in zip(g_x, seqs)]

    (cbar0, acc), xbar = scan(bwd_step, bwd_seqs, (init_cbar, init_acc),
                              reverse=not op.reverse, name="scan_grad")
    cap_grads = [None] * len(caps)
    for k, i in enumerate(float_caps):
        cap_grads[i] = acc[k]
    seq_grads = [xb if s.dtype.kind == "f" else None for xb, s in zip(xbar or [], seqs)]
    init_grads = [cb if c.dtype.kind == "f" else None for cb, c in zip(cbar0, inits)]
    return init_grads + seq_grads + cap_grads

