"""The softmax family (composites, stable: the max is subtracted first)."""
from .array import squeeze
from .constant import convert_to_tensor
from .math import exp, log, stop_gradient
from .reduce import reduce_max, reduce_sum
from .shape_rules import norm_axes


def log_softmax(x, axis=-1):
    """x - logsumexp(x), stable: the max is subtracted first (a composite)."""
    x = convert_to_tensor(x)
    shifted = x - stop_gradient(reduce_max(x, axis=axis, keepdims=True))
    return shifted - log(reduce_sum(exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)), stable (a composite)."""
    x = convert_to_tensor(x)
    e = exp(x - stop_gradient(reduce_max(x, axis=axis, keepdims=True)))
    return e / reduce_sum(e, axis=axis, keepdims=True)


def logsumexp(x, axis=None, keepdims=False):
    x = convert_to_tensor(x)
    m = stop_gradient(reduce_max(x, axis=axis, keepdims=True))
    out = log(reduce_sum(exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = squeeze(out, norm_axes(axis, x.ndim))
    return out
