"""Activations by Keras name: the rows of the one activation table
(tinygraph/ops/activations.py). ``get(None)`` is the identity ("linear").

``hard_sigmoid`` is Keras 3's ``clip(x/6 + 1/2, 0, 1)``; the Keras 2 (tf.keras <= 2.15)
variant ``clip(0.2x + 0.5, 0, 1)`` is ``hard_sigmoid_v1``. They differ: at x = 1 they
give 0.667 and 0.7.
"""
from tinygraph.ops.activations import ACTIVATIONS

ALL = {name: row.graph for name, row in ACTIVATIONS.items()}
_ALIASES = {"exp": "exponential"}
linear = ALL["linear"]


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
