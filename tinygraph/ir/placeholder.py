"""The placeholder op: a value supplied at run time. It is part of the IR because
a Function's inputs (a loop body's parameters) are placeholders."""
from tinygraph.ir.graph import Op, apply, register_op


@register_op
class Placeholder(Op):
    """Attributes: shape (None for a dimension known only at run time), dtype, and
    ph_name (the name errors use)."""
    name = "placeholder"
    stateful = True       # every placeholder is its own value
    is_placeholder = True

    def infer(self):
        return self.shape, self.dtype

    def compute(self, be):
        raise ValueError(f"placeholder {self.ph_name!r} was not fed")


def new_placeholder(shape, dtype, name):
    """A placeholder Tensor that no feed name refers to (loop parameters, holes a
    pass fills in later); ``tg.placeholder`` is the user's."""
    return apply(Placeholder(shape=tuple(shape), dtype=dtype, ph_name=name), [], name=name).outputs[0]
