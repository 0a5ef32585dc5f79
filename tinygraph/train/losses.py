"""Losses (graph-style, like tf.compat.v1.losses): each returns a scalar Tensor, the
mean over the batch."""
import numpy as np

from tinygraph import ops
from tinygraph.ops.constant import constant_value
from tinygraph.ops.variables import Variable


def mean_squared_error(labels, predictions):
    """mean((labels - predictions)**2) over every element."""
    predictions = ops.convert_to_tensor(predictions)
    labels = ops.convert_to_tensor(labels, predictions.dtype)
    _same_shape("mean_squared_error", labels, predictions)
    return ops.reduce_mean(ops.square(predictions - labels))


def _same_shape(what, labels, predictions):
    """Labels and predictions must match (as TF): broadcasting (4,) against (4, 1)
    would silently average a (4, 4) matrix of differences."""
    if len(labels.shape) != len(predictions.shape) or any(
            a is not None and b is not None and a != b
            for a, b in zip(labels.shape, predictions.shape)):
        raise ValueError(f"{what}: labels {labels.name!r} {labels.shape} and predictions "
                         f"{predictions.name!r} {predictions.shape} must have the same shape")


def softmax_cross_entropy(onehot_labels, logits):
    """mean over the batch of -sum(labels * log_softmax(logits)) on the last axis."""
    logits = ops.convert_to_tensor(logits)
    labels = ops.convert_to_tensor(onehot_labels, logits.dtype)
    _same_shape("softmax_cross_entropy", labels, logits)
    return ops.reduce_mean(-ops.reduce_sum(labels * ops.log_softmax(logits), axis=-1))


def sparse_softmax_cross_entropy(labels, logits):
    """Like softmax_cross_entropy with integer class labels (one fewer axis)."""
    logits = ops.convert_to_tensor(logits)
    labels = ops.convert_to_tensor(labels, "int32")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"sparse_softmax_cross_entropy: labels {labels.name!r} must be "
                        f"integers, got {labels.dtype.name}")
    if logits.shape[-1] is None:
        raise ValueError("sparse_softmax_cross_entropy: the number of classes (last axis "
                         f"of {logits.name!r}) must be known")
    n = logits.shape[-1]
    known = constant_value(labels)
    if known is not None and known.size and (known.min() < 0 or known.max() >= n):
        raise ValueError(f"sparse_softmax_cross_entropy: label {int(known.min() if known.min() < 0 else known.max())} "
                         f"is out of range [0, {n}) for logits {logits.name!r} {logits.shape}")
    # fed labels are checked when the run gathers their rows of the identity
    onehot = ops.gather(ops.constant(np.eye(n, dtype=logits.dtype)), labels, negative=False)
    return softmax_cross_entropy(onehot, logits)


def regularization_loss(*layers_or_variables):
    """The sum of the regularization terms of the given layers (``layer.losses``) and
    Variables with a regularizer; a zero scalar when there are none."""
    terms = []
    for item in layers_or_variables:
        if hasattr(item, "losses"):
            terms.extend(item.losses)
        elif isinstance(item, Variable):
            if item.regularizer is not None:
                terms.append(item.regularizer(item))
        else:
            raise TypeError(f"regularization_loss: expected layers or Variables, got "
                            f"{type(item).__name__} {item!r}")
    return ops.add_n(terms) if terms else ops.constant(0.0)
