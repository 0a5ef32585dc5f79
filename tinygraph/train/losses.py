"""Losses (graph-style, like tf.compat.v1.losses): each returns a scalar Tensor, the
mean over the batch."""
from tinygraph import ops


def mean_squared_error(labels, predictions):
    """mean((labels - predictions)**2) over every element."""
    predictions = ops.convert_to_tensor(predictions)
    labels = ops.convert_to_tensor(labels, predictions.dtype)
    return ops.reduce_mean(ops.square(predictions - labels))


def softmax_cross_entropy(onehot_labels, logits):
    """mean over the batch of -sum(labels * log_softmax(logits)) on the last axis."""
    logits = ops.convert_to_tensor(logits)
    labels = ops.convert_to_tensor(onehot_labels, logits.dtype)
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
    onehot = ops.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return softmax_cross_entropy(onehot, logits)


def regularization_loss(*layers_or_variables):
    """The sum of the regularization terms of the given layers (``layer.losses``) and
    Variables with a regularizer; a zero scalar when there are none."""
    terms = []
    for item in layers_or_variables:
        if hasattr(item, "losses"):
            terms.extend(item.losses)
        elif getattr(item, "regularizer", None) is not None:
            terms.append(item.regularizer(item))
    return ops.add_n(terms) if terms else ops.constant(0.0)
