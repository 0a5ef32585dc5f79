"""Activations by Keras name. ``get(None)`` is the identity ("linear").

``hard_sigmoid`` is Keras 3's ``clip(x/6 + 1/2, 0, 1)``; the Keras 2 (tf.keras <= 2.15)
variant ``clip(0.2x + 0.5, 0, 1)`` is ``hard_sigmoid_v1``. They differ: at x = 1 they
give 0.667 and 0.7.
"""
import tinygraph as tg


def linear(x):
    return x


def tanh(x):
    return tg.tanh(x)


def sigmoid(x):
    return tg.sigmoid(x)


def hard_sigmoid(x):
    return tg.hard_sigmoid(x)


def hard_sigmoid_v1(x):
    return tg.hard_sigmoid_v1(x)


def relu(x):
    return tg.relu(x)


def softmax(x):
    return tg.softmax(x, axis=-1)


def exponential(x):
    return tg.exp(x)


def elu(x):
    # exp of min(x, 0): the unused branch never overflows, so its gradient stays finite.
    return tg.where(x > 0, x, tg.exp(tg.minimum(x, 0.0)) - 1.0)


def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * tg.where(x > 0, x, alpha * (tg.exp(tg.minimum(x, 0.0)) - 1.0))


def softplus(x):
    return tg.relu(x) + tg.log(1.0 + tg.exp(-tg.abs(x)))


def softsign(x):
    return x / (1.0 + tg.abs(x))


ALL = {f.__name__: f for f in (linear, tanh, sigmoid, hard_sigmoid, hard_sigmoid_v1, relu,
                               softmax, exponential, elu, selu, softplus, softsign)}
_ALIASES = {"exp": "exponential"}


def get(identifier):
    """A callable from a name, ``None`` (linear) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier, identifier)
        if key not in ALL:
            raise ValueError(f"unknown activation {identifier!r}; valid names: "
                             + ", ".join(sorted(ALL)) + " (or None, or a callable)")
        return ALL[key]
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot interpret {identifier!r} as an activation: give a name "
                     f"({', '.join(sorted(ALL))}), None or a callable")


def serialize(fn):
    """The name of a built-in activation; any other callable is kept as is."""
    for name, f in ALL.items():
        if f is fn:
            return name
    return fn
