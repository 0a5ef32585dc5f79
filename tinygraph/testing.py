"""Test specs attached to ops, and gradient checking by finite differences.

Every registered op lists ``specs``: how to build it from float64 inputs of given
shapes and domains, an optional NumPy reference, and the order of derivatives to
check. One parametrized test (tests/test_op_gradients.py) walks the registry.
"""
import numpy as np

from tinygraph.autodiff import gradients
from tinygraph.ir.spec import Spec  # noqa: F401 -- the specs ops carry
from tinygraph.ops import add_n, placeholder, reduce_sum
from tinygraph.runtime.session import Session


def _flat(outs):
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def check_grads(build, args, order=2, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0, session=None):
    """Check the VJP of ``build`` at ``args`` along random directions against central
    finite differences, then (order=2) the gradient of that VJP the same way.

    ``build`` maps placeholders to a Tensor or a list of Tensors. float64 only.
    """
    rng = np.random.default_rng(seed)
    sess = session or Session(optimize=False)
    args = [np.asarray(a, dtype=np.float64) for a in args]
    xs = [placeholder(a.shape, dtype="float64") for a in args]
    outs = [o for o in _flat(build(*xs)) if o.dtype.kind == "f"]
    # Scalar objective: a random projection of every float output.
    proj = [rng.standard_normal(sess.run(o, dict(zip(xs, args))).shape) for o in outs]
    scalar = add_n([reduce_sum(o * p) for o, p in zip(outs, proj)])
    _check_first(sess, scalar, xs, args, rng, eps, rtol, atol)
    if order >= 2:
        grads = gradients(scalar, xs, unconnected_gradients="zero")
        dirs = [rng.standard_normal(a.shape) for a in args]
        second = add_n([reduce_sum(g * d) for g, d in zip(grads, dirs)])
        _check_first(sess, second, xs, args, rng, eps, rtol, atol)


def _check_first(sess, scalar, xs, args, rng, eps, rtol, atol):
    grads = gradients(scalar, xs, unconnected_gradients="zero")
    feed = dict(zip(xs, args))
    g_vals = sess.run(grads, feed)
    u = [rng.standard_normal(a.shape) for a in args]
    plus = sess.run(scalar, {x: a + eps * d for x, a, d in zip(xs, args, u)})
    minus = sess.run(scalar, {x: a - eps * d for x, a, d in zip(xs, args, u)})
    numeric = (plus - minus) / (2 * eps)
    analytic = sum(float(np.sum(g * d)) for g, d in zip(g_vals, u))
    if not np.isclose(analytic, numeric, rtol=rtol, atol=atol):
        raise AssertionError(f"gradient of {scalar.name}: VJP along a random direction "
                             f"gives {analytic!r}, finite differences {numeric!r}")
