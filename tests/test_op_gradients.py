"""One parametrized test over the op registry: values against NumPy references and
VJPs (order 1 and 2) against central finite differences in float64."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.autodiff import unfuse
from tinygraph.ir.graph import OP_REGISTRY
from tinygraph.testing import check_grads

# Ops that are not math on arrays: leaves and state. They are tested in test_session.
NOT_MATH = {"placeholder", "constant", "variable", "assign", "assign_add", "no_op"}

CASES = [(name, i, spec) for name, cls in sorted(OP_REGISTRY.items())
         for i, spec in enumerate(cls.specs)]


def test_every_registered_op_has_a_spec():
    missing = [n for n, cls in OP_REGISTRY.items() if not cls.specs and n not in NOT_MATH]
    assert not missing, f"ops without a test spec: {missing}"


def _run(spec, args, backend="numpy", build=None):
    xs = [tg.placeholder(a.shape, "float64") for a in args]
    out = (build or spec.build)(*xs)
    return tg.Session(backend=backend, optimize=False).run(out, dict(zip(xs, args)))


@pytest.mark.parametrize("name,i,spec", CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
def test_op_value(name, i, spec, rng, backend):
    args = spec.inputs(rng)
    got = _run(spec, args, backend)
    if spec.ref is not None:
        want = spec.ref(*args)
        if isinstance(want, (list, tuple)):
            assert len(got) == len(want)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if spec.check is not None:
        spec.check(got)
    ref_build = _unfused(spec.build) if spec.ref_decomposed else spec.ref_build
    if ref_build is not None:
        want = _run(spec, args, backend, build=ref_build)
        many = isinstance(got, (list, tuple))
        for g, w in zip(got if many else [got], want if many else [want]):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    assert any(c is not None for c in (spec.ref, spec.check, ref_build)), \
        f"spec of {name} checks nothing"


def _unfused(build):
    """The same build with every fused op replaced by its decomposition."""
    def ref(*xs):
        out = build(*xs)
        many = isinstance(out, (list, tuple))
        res = unfuse(list(out) if many else [out])
        return res if many else res[0]
    return ref


GRAD_CASES = [c for c in CASES if c[2].order > 0 and c[2].shapes]


@pytest.mark.parametrize("name,i,spec", GRAD_CASES, ids=[f"{n}-{i}" for n, i, _ in GRAD_CASES])
def test_op_gradient(name, i, spec, rng):
    check_grads(spec.build, spec.inputs(rng), order=spec.order)
