"""Patterns: descriptions of a subgraph ending at one tensor, matched against a graph."""


class Pat:
    """Match a tensor. ``op``: an op name or a tuple of names (None: any op);
    ``inputs``: patterns for the node's inputs (None: don't look); ``bind``: name
    the matched tensor (a name bound twice must be the same tensor); ``where``: a
    predicate on the tensor; ``commutative``: also try the two inputs swapped."""

    def __init__(self, op=None, *inputs, bind=None, where=None, commutative=False):
        self.ops = (op,) if isinstance(op, str) else op
        self.inputs = inputs if inputs else None
        self.bind, self.where, self.commutative = bind, where, commutative

    def match(self, t, b, interior):
        if self.bind is not None and self.bind in b:
            return b[self.bind] is t or b[self.bind] == t
        if self.ops is not None and t.node.op.name not in self.ops:
            return False
        if self.where is not None and not self.where(t):
            return False
        if self.inputs is not None:
            ins = t.node.inputs
            if len(ins) != len(self.inputs):
                return False
            orders = [ins] + ([ins[::-1]] if self.commutative and len(ins) == 2 else [])
            for cand in orders:
                b2, inner = dict(b), []
                if all(p.match(x, b2, inner) for p, x in zip(self.inputs, cand)):
                    b.clear()
                    b.update(b2)
                    interior.extend(inner)
                    break
            else:
                return False
        if self.ops is not None:
            interior.append(t.node)
        if self.bind is not None:
            b[self.bind] = t
        return True


def V(name, where=None):
    """Any tensor, bound to ``name``."""
    return Pat(None, bind=name, where=where)
