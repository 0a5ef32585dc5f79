"""State Jacobians J_t = d state_t / d state_{t-1}, per sample, by autodiff on the graph.

The state vector is the concatenation of the call's states in their declared order
(an LSTM: concat(h, c), n = 2U; a SimpleRNN: h, n = U). J_t[b, i, j] = d state_t[b, i]
/ d state_{t-1}[b, j]; J_0 is taken with respect to the initial state.

How: every step is recomputed from the RECORDED states entering it (the carry
history of a loop; the values the handles of an unrolled step read), so step t is a
function of state_{t-1} alone and a VJP with cotangent e_i at every step gives row i
of every J_t at once. The n basis vectors are batched: the recorded states and the
inputs are repeated n times along the batch axis (row i * B + b carries e_i), so all
n VJPs are ONE backward pass over a batch of n * B. Cost: the forward and backward of
the layer over T steps at batch n * B (about 2n times one training step of batch B),
and T * B * n * n numbers (U = 256 LSTM, T = 1000, B = 1: n = 512, 1 GiB in float32).
"""
import numpy as np

from tinygraph.autodiff import gradients
from tinygraph.ir.graph import name_scope
from tinygraph.ir.op import ShapeError
from tinygraph.ir.rebuild import substitute
from tinygraph.ops import constant, gather, placeholder, reduce_sum, reshape, scan, stack


def repeat_batch(x, n, batch):
    """x (T, B, ...) -> (T, n * B, ...), row i * B + b holding x[:, b]."""
    return gather(x, np.tile(np.arange(batch), n).astype(np.int32), axis=1)


def basis(sizes, batch, dtype):
    """Per state k, the (n * B, u_k) cotangent: row i * B + b is part k of e_i."""
    n = sum(sizes)
    eye = np.repeat(np.eye(n, dtype=dtype), batch, axis=0)
    offsets = np.cumsum([0] + list(sizes))
    return [eye[:, offsets[k]:offsets[k + 1]] for k in range(len(sizes))]


def _vjp(outs, ins, sizes, batch, dtype):
    """d sum_k <outs_k, e> / d ins: per input (T, n * B, ...)."""
    cot = basis(sizes, batch, dtype)
    y = reduce_sum(stack([reduce_sum(o * constant(c)) for o, c in zip(outs, cot)]))
    return gradients(y, ins, unconnected_gradients="zero")


def loop_jacobians(node, carries, hist, shapes):
    """For a loop node: ({name: (T, n * B, u_name)} tensors of VJPs w.r.t. the state
    ``name`` entering each step, {}), from ``hist`` (carry j -> its history). The
    history is computed by the (perturbed) loop, not by a handle, so no records."""
    op = node.op
    nc, ns = op.n_carry, op.n_seq
    seqs, caps = node.inputs[nc:nc + ns], node.inputs[nc + ns:]
    names = list(carries)
    sizes = [int(np.prod(shapes[k][0][2:])) for k in names]
    batch, dtype = shapes[names[0]][0][1], shapes[names[0]][1].name
    n = sum(sizes)
    with name_scope("gradflow_jacobians"):
        prev = [repeat_batch(hist[j], n, batch) for j in range(nc)]
        xs = [repeat_batch(s, n, batch) for s in seqs]

        def body(carry, seq):                    # no recurrence: each step from its record
            outs = op.body.inline(list(seq[:nc]) + list(seq[nc:]) + list(caps))
            return carry, [outs[carries[k][0]] for k in names]

        dummy = constant(np.zeros((), dtype))
        _, ys = scan(body, prev + xs, [dummy], length=op.length, name="one_step_each")
        ys = ys if isinstance(ys, (list, tuple)) else [ys]
        flat = [reshape(y, (shapes[k][0][0], n * batch, sz)) for y, k, sz in zip(ys, names, sizes)]
        grads = _vjp(flat, prev, sizes, batch, dtype)
    return {k: sum(grads[j] for j in carries[k]) for k in names}, {}


def unrolled_jacobians(inputs, handles, after, names, shapes):
    """For an unrolled call: ``handles[t][k]`` the handle of state k that step t reads,
    ``after[t][k]`` the state after step t, ``inputs`` the call's inputs handle.
    Returns ({name: VJP tensor}, {record placeholder: (T, B, ...) tensor to feed it
    from}). The recorded states are placeholders: a replacement computed from the
    handles it replaces would be a cycle."""
    sizes = [int(np.prod(shapes[k][0][2:])) for k in names]
    T, batch = shapes[names[0]][0][:2]
    dtype = shapes[names[0]][1]
    n = sum(sizes)
    with name_scope("gradflow_jacobians"):
        records = {placeholder(shapes[k][0], dtype, name=f"record_{k}"):
                   stack([handles[t][j].node.inputs[0] for t in range(T)], axis=0)
                   for j, k in enumerate(names)}
        prev = [repeat_batch(r, n, batch) for r in records]
        source = inputs.node.inputs[0]                  # what the inputs handle reads
        mapping = {(inputs.node.id, inputs.index): repeat_batch(source, n, batch)}
        for t in range(T):
            for k in range(len(names)):
                h = handles[t][k]
                mapping[(h.node.id, h.index)] = prev[k][t]
        outs = [after[t][k] for k in range(len(names)) for t in range(T)]
        if any(o is None for o in outs):
            raise ValueError("gradflow.analyze: jacobians=True needs every state after every "
                             "step of the unrolled call in the graph, and the loss does not "
                             "reach some (e.g. a masked last step's); use unroll=False")
        try:
            outs = substitute(outs, mapping)
        except ShapeError as e:
            raise ValueError("gradflow.analyze: jacobians=True could not rebuild the unrolled "
                             f"steps at batch n * B = {n * batch}: a step reads a per-sample "
                             "tensor that is neither a state nor the inputs (a mask?); use "
                             f"unroll=False ({e})") from None
        per_state = [stack(outs[k * T:(k + 1) * T], axis=0) for k in range(len(names))]
        flat = [reshape(y, (T, n * batch, sz)) for y, sz in zip(per_state, sizes)]
        grads = _vjp(flat, prev, sizes, batch, dtype.name)
    return dict(zip(names, grads)), records


def assemble(parts, names, T, batch):
    """{name: (T, n * B, u)} VJP values -> J (T, B, n, n), J[t, b, i, j] as documented."""
    g = np.concatenate([np.asarray(parts[k]).reshape(T, -1, batch, np.asarray(parts[k]).shape[-1])
                        for k in names], axis=-1)
    return np.ascontiguousarray(np.transpose(g, (0, 2, 1, 3)))


def singular_values(m):
    """Singular values, descending, of each matrix in m (..., n, n) (an SVD)."""
    return np.linalg.svd(m.astype(np.float64), compute_uv=False)


def singular_values_fast(m):
    """The same from the eigenvalues of m^T m: about 3 times faster than an SVD for
    n = 512, exact to about 1e-8 of the largest value (the square loses the rest);
    what the all-steps views (norms("jac"), spectra) use."""
    m = m.astype(np.float64)
    ev = np.linalg.eigvalsh(np.swapaxes(m, -1, -2) @ m)[..., ::-1]
    return np.sqrt(np.maximum(ev, 0.0))


def span_product(J, t0, t1):
    """J_{t1} ... J_{t0+1} per sample (B, n, n); the identity when t1 == t0."""
    prod = np.broadcast_to(np.eye(J.shape[-1]), J.shape[1:]).astype(np.float64)
    for t in range(t0 + 1, t1 + 1):
        prod = J[t].astype(np.float64) @ prod
    return prod
