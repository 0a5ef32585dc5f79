"""Passes (SPEC 5): each pass and the default pipeline, before/after on the graph,
the values and the gradients; every algebraic rule fires on a case made for it."""
import collections

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.compile import pipeline as passes
from tinygraph.ir.graph import apply, topo_nodes
from tinygraph.ops.reduce import SumLike


def ops_of(fetches):
    return [n.op.name for n in topo_nodes(_flat(fetches))]


def _flat(fetches):
    from tinygraph.ir import nest
    return nest.flatten(fetches)


def count(fetches, op=None):
    names = ops_of(fetches)
    return len(names) if op is None else names.count(op)


def run_both(before, after, feed):
    """Run the graph before and after a rewrite, each unoptimized."""
    a = tg.Session(optimize=False).run(before, feed)
    b = tg.Session(optimize=False).run(after, feed)
    return _flat(a), _flat(b)


def assert_same(before, after, feed, exact=True):
    a, b = run_both(before, after, feed)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        if exact:
            np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)


def check_pass(y, xs, feed, pass_names):
    """``y`` and its gradients before/after ``pass_names``: same values; gradients
    taken of the rewritten ``y`` agree too. Returns the rewritten fetches.

    With the fusion passes in the pipeline the gradients are re-derived from the
    optimized forward (passes.regrad), which may reassociate sums: equal to rounding."""
    grads = tg.gradients(y, xs)
    before = [y] + grads
    after, report = tg.optimize(before, passes=pass_names, return_report=True)
    names = passes.DEFAULT_PIPELINE if pass_names is None else pass_names
    assert_same(before, after, feed, exact=not set(names) & set(passes.FUSION_PASSES))
    # the rewritten graph differentiates to the same gradients
    regrads = tg.gradients(after[0], xs)
    assert_same(grads, regrads, feed, exact=False)
    return before, after, report


# ----------------------------------------------------------------- constant folding

def test_constant_folding(rng):
    x = tg.placeholder((None, 3), "float64")
    c = tg.exp(tg.constant(np.arange(3.0))) + tg.constant(np.ones(3)) * 2.0
    y = tg.reduce_sum(tg.tanh(x * c) * tg.reduce_sum(tg.constant(np.eye(3)), axis=0))
    feed = {x: rng.standard_normal((4, 3))}
    before, after, report = check_pass(y, [x], feed, ["constant_folding"])
    assert count(before[0], "exp") == 1 and count(after[0], "exp") == 0
    assert count(after[0], "reduce_sum") == 1
    assert count(after[0]) < count(before[0])
    assert any(e.fired for e in report.events)


def test_constant_folding_leaves_stateful_and_fed_ops():
    r = tg.random_uniform((3,), seed=1)
    y = r * (tg.constant(2.0) + 1.0)
    out = tg.optimize(y, passes=["constant_folding"])
    names = ops_of(out)
    assert "random_uniform" in names and "add" not in names
    # the same seeded stream before and after
    np.testing.assert_array_equal(tg.Session(optimize=False).run(out),
                                  tg.Session(optimize=False).run(y))


def test_constant_folding_keeps_nan_producers():
    y = tg.log(tg.constant(-1.0))
    out = tg.optimize(y, passes=["constant_folding"])
    assert out.node.op.name == "log"


# ----------------------------------------------------------------- CSE

def test_cse_merges_duplicate_nodes(rng):
    x = tg.placeholder((None, 3), "float64")
    # nodes built with unique=True are not hash-consed: the duplicates CSE exists for
    t1 = apply(tg.tanh(x).node.op, [x], unique=True).outputs[0]
    t2 = apply(tg.tanh(x).node.op, [x], unique=True).outputs[0]
    assert t1 is not t2
    y = tg.reduce_sum(t1 * t2 + t1)
    feed = {x: rng.standard_normal((2, 3))}
    before, after, _ = check_pass(y, [x], feed, ["cse"])
    assert count(before[0], "tanh") == 2
    assert count(after[0], "tanh") == 1
    assert count(after[0]) < count(before[0])


def test_cse_keeps_random_ops_apart():
    a = tg.random_uniform((4,), seed=1)
    b = tg.random_uniform((4,), seed=1)
    out = tg.optimize(a - b, passes=["cse"])
    assert count(out, "random_uniform") == 2


def test_cse_keeps_names():
    x = tg.placeholder((2,), "float64")
    dup = apply(tg.exp(x).node.op, [x], unique=True).outputs[0]
    y = tg.tanh(tg.exp(x) + dup, name="final")
    out = tg.optimize(y, passes=["cse"])
    assert out is not y and out.name == "final"


# ----------------------------------------------------------------- algebraic

def _fired(report, rule):
    return [e for e in report.events if e.rule == rule and e.fired]


def _case_add_zero(x):
    return x + 0.0, 0.0 + x


def _case_subtract_zero(x):
    return (x - np.zeros(3),)


def _case_multiply_one(x):
    return x * 1.0, np.ones(3) * x


def _case_divide_one(x):
    return (x / 1.0,)


def _case_add_zeros_like(x):
    return x + tg.zeros_like(x), tg.zeros_like(x) + x


def _case_double_negation(x):
    return (-(-tg.tanh(x)),)


def _case_merge_reshapes(x):
    return (tg.reshape(tg.reshape(x, (-1,)), (-1, 3)) * 2.0,)


def _case_merge_transposes(x):
    x3 = tg.reshape(x, (-1, 3, 1))
    return (tg.transpose(tg.transpose(x3, (1, 0, 2)), (2, 0, 1)),
            tg.transpose(tg.transpose(x)) + 1.0)


def _case_drop_sum_like(x):
    s = tg.reshape(x, (2, 3))          # static (2, 3): the feed has 2 rows
    return (SumLike.make(s * 2.0, s),)


def _case_drop_identity(x):
    return (tg.identity(tg.tanh(x)) * 3.0,)


def _case_static_fill(x):
    s = tg.reshape(x, (2, 3))
    return (s + tg.ones_like(s),)


# rule -> (case, the op of which the rewrite leaves fewer nodes)
ALGEBRAIC_CASES = {
    "add_zero": (_case_add_zero, "add"),
    "subtract_zero": (_case_subtract_zero, "subtract"),
    "multiply_one": (_case_multiply_one, "multiply"),
    "divide_one": (_case_divide_one, "divide"),
    "add_zeros_like": (_case_add_zeros_like, "fill_like"),
    "double_negation": (_case_double_negation, "negative"),
    "merge_reshapes": (_case_merge_reshapes, "reshape"),
    "merge_transposes": (_case_merge_transposes, "transpose"),
    "drop_sum_like": (_case_drop_sum_like, "sum_like"),
    "drop_identity": (_case_drop_identity, "identity"),
    "static_fill": (_case_static_fill, "fill_like"),
}


def test_every_algebraic_rule_has_a_case():
    assert set(ALGEBRAIC_CASES) == {r.name for r in passes.ALGEBRAIC}
    for r in passes.ALGEBRAIC:
        assert r.doc, f"rule {r.name} has no comment"


@pytest.mark.parametrize("rule", sorted(ALGEBRAIC_CASES))
def test_algebraic_rule_fires(rule, rng):
    x = tg.placeholder((None, 3), "float64")
    case, op = ALGEBRAIC_CASES[rule]
    outs = list(case(x))
    y = tg.add_n([tg.reduce_sum(tg.tanh(o)) for o in outs])
    feed = {x: rng.standard_normal((2, 3))}
    before, after, report = check_pass(y, [x], feed, ["algebraic"])
    fired = _fired(report, rule)
    assert fired, f"{rule} did not fire; events: {report.events}"
    assert count(after[0], op) < count(before[0], op)
    assert count(after[0]) <= count(before[0])
    # every case output on its own is rewritten to something smaller
    for o in outs:
        new, rep = tg.optimize(o, passes=["algebraic"], return_report=True)
        assert _fired(rep, rule), (rule, o)
        assert count(new, op) < count(o, op)
        assert_same(o, new, feed)


def test_algebraic_rules_decline_when_broadcasting_changes_the_shape():
    x = tg.placeholder((None, 3), "float64")
    y = tg.placeholder((None, 3), "float64")
    cases = [x + np.zeros((2, 1, 3)), x + tg.zeros_like(y), x * np.ones((2, 3)),
             tg.placeholder((None, 1), "float64") * np.ones(3)]
    for c in cases:
        out = tg.optimize(c, passes=["algebraic"])
        assert out.shape == c.shape
        assert out.node.op.name in ("add", "multiply"), (c, out)


def test_algebraic_static_x_plus_broadcast_zero_is_kept():
    x = tg.placeholder((3,), "float64")
    y = x + np.zeros((2, 3))              # the zero widens the result: keep the add
    out = tg.optimize(y, passes=["algebraic"])
    assert out.shape == (2, 3) and out.node.op.name == "add"


def test_identity_with_control_inputs_is_kept():
    v = tg.Variable(np.zeros(2), name="v")
    up = v.assign_add(np.ones(2))
    x = tg.placeholder((2,), "float64")
    y = tg.identity(x, control_inputs=[up])
    out = tg.optimize(y, passes=["algebraic"])
    assert out.node.op.name == "identity"


# ----------------------------------------------------------------- DCE

def test_dce(rng):
    """Dead code cannot survive: the graph is what the fetches reach. Nodes built but
    not fetched, and nodes orphaned by other rewrites, are absent after the pipeline
    and never run."""
    x = tg.placeholder((None, 3), "float64")
    dead = tg.exp(x) * 5.0                            # built, never fetched
    y = tg.reduce_sum(tg.tanh(x * 1.0))
    feed = {x: rng.standard_normal((2, 3))}
    before, after, report = check_pass(y, [x], feed, ["algebraic", "dce"])
    ids = {n.id for n in topo_nodes(after)}
    assert dead.node.id not in ids
    assert count(after[0], "multiply") == 0 and count(before[0], "multiply") == 1
    names = [name for name, _, _, _ in report.passes]
    assert names == ["algebraic", "dce"]
    dce_before, dce_after = report.passes[1][1:3]
    assert dce_after == dce_before == count(after)
    sess = tg.Session()
    kernels = [op for op, _, _ in sess.explain(y).kernels]
    assert "exp" not in kernels and "multiply" not in kernels


# ----------------------------------------------------------------- pipeline

def test_default_pipeline(rng):
    x = tg.placeholder((None, 3), "float64")
    w = tg.Variable(rng.standard_normal((3, 2)), name="w")
    scale = tg.exp(tg.constant(0.0, "float64")) + tg.constant(0.0, "float64")   # folds to 1
    dup = apply(tg.tanh(x @ w).node.op, [x @ w], unique=True).outputs[0]
    h = tg.tanh(x @ w) * scale + dup
    y = tg.reduce_mean(tg.square(-(-h))) + tg.reduce_sum(tg.identity(h) / 1.0)
    feed = {x: rng.standard_normal((4, 3))}
    before, after, report = check_pass(y, [x, w], feed, None)
    # the pipeline runs on the forward, the gradients are re-derived, and it runs again
    assert [p[0] for p in report.passes] == passes.DEFAULT_PIPELINE + ["regrad"] + passes.DEFAULT_PIPELINE
    assert count(after) < count(before)
    for op in ("exp", "negative", "identity"):
        assert count(after[0], op) == 0, op
    assert count(after[0], "tanh") == 1
    # the Session's optimize=True runs the same pipeline: same numbers
    a = tg.Session(optimize=True).run(before, feed)
    b = tg.Session(optimize=False).run(before, feed)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-12)


def test_optimize_keeps_structure():
    Pair = collections.namedtuple("Pair", "a b")
    x = tg.placeholder((2,), "float64")
    fetches = {"p": Pair(x * 1.0, [x + 0.0]), "q": (tg.tanh(x),)}
    out = tg.optimize(fetches)
    assert type(out["p"]) is Pair and isinstance(out["p"].b, list) and isinstance(out["q"], tuple)
    assert out["p"].a is x and out["p"].b[0] is x
    assert out["q"][0] is tg.tanh(x)


def test_optimize_errors():
    x = tg.placeholder((2,), "float64")
    with pytest.raises(ValueError) as e:
        tg.optimize(x * 1.0, passes=["cse", "constant_fold"])
    msg = str(e.value)
    assert "constant_fold" in msg
    for name in passes.PASSES:
        assert name in msg
    with pytest.raises(TypeError):
        tg.optimize([np.ones(2)])


# ----------------------------------------------------------------- explain

def test_explain_lists_kernels_in_order():
    x = tg.placeholder((None, 3), "float64", name="x")
    a = tg.exp(x, name="first")
    b = tg.tanh(a, name="second")
    c = tg.sigmoid(b * 1.0, name="third")
    sess = tg.Session()
    ex = sess.explain(c)
    assert [op for op, _, _ in ex.kernels] == ["exp", "tanh", "sigmoid"]
    text = str(ex)
    assert "kernels in order" in text and "algebraic" in text
    lines = text.splitlines()
    pos = [next(i for i, line in enumerate(lines) if name in line)
           for name in ("first", "second", "third")]
    assert pos == sorted(pos)
    assert "multiply" not in [op for op, _, _ in ex.kernels]        # x*1 was simplified
    raw = tg.Session(optimize=False).explain(c)
    assert "multiply" in [op for op, _, _ in raw.kernels]
    assert "optimize=False" in str(raw)
    # explain compiles the plan that run then reuses
    sess.run(c, {x: np.zeros((1, 3))})
    assert len(sess._plans) == 1
