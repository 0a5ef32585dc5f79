"""Test specs attached to ops: how the registry-driven tests build and check each op."""


class Spec:
    """How to test one op.

    build:  callable taking Tensors (one per shape) and returning a Tensor or a
            list/tuple of Tensors.
    shapes: input shapes; inputs are drawn uniformly from ``domain``.
    ref:    optional NumPy function of the same inputs, for a value check.
    order:  derivatives to check by finite differences (0, 1 or 2).
    check:  optional callable(outputs) for ops with no reference (random ops).
    ref_build: optional tinygraph builder computing the same values another way.
    ref_decomposed: check the values against ``build``'s graph with every fused op
            replaced by its primitive-op decomposition (``tinygraph.autodiff.unfuse``).
    """

    def __init__(self, build, shapes, domain=(-2.0, 2.0), ref=None, order=2, check=None,
                 ref_build=None, ref_decomposed=False):
        self.build, self.shapes, self.domain = build, [tuple(s) for s in shapes], domain
        self.ref, self.order, self.check, self.ref_build = ref, order, check, ref_build
        self.ref_decomposed = ref_decomposed

    def inputs(self, rng, dtype="float64"):
        lo, hi = self.domain
        return [rng.uniform(lo, hi, size=s).astype(dtype) for s in self.shapes]
