"""The pattern language (tinygraph/ir/pattern.py), the rewrite engine's guard, and the
activation table as the one source of activations (graph, kernels, CUDA, patterns)."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.backends import NumpyBackend
from tinygraph.compile.lstm_fusion import CELL
from tinygraph.compile.rewrite import Decline, Rule, rewrite
from tinygraph.ir.pattern import Alt, Opt, Pat, V
from tinygraph.ops.activations import ACTIVATIONS, FUSABLE
from tinygraph.ops.lstm_step import LSTMMath, lstm_step


def test_commutative_match_backtracks_into_the_swapped_order():
    a, b = tg.placeholder((2,), name="a"), tg.placeholder((2,), name="b")
    y = tg.exp(a) * b
    pat = Pat("multiply", V("x"), Pat("exp", V("inner")), commutative=True)
    m = pat.first(y)
    assert m.bindings["x"] is b and m.bindings["inner"] is a
    assert [n.op.name for n in m.interior] == ["exp", "multiply"]


def test_every_match_is_yielded_in_order():
    a = tg.placeholder((2,), name="a")
    y = a * a
    matches = list(Pat("multiply", V("p"), V("q"), commutative=True).matches(y))
    assert len(matches) == 2 and all(m.bindings["p"] is a for m in matches)


def test_a_name_bound_twice_must_be_the_same_tensor():
    a, b = tg.placeholder((2,), name="a"), tg.placeholder((2,), name="b")
    same = Pat("add", V("x"), V("x"))
    assert same.first(a + a) is not None and same.first(a + b) is None


def test_alternatives_and_optional_parts_bind_and_tag():
    x, w = tg.placeholder((2,), name="x"), tg.placeholder((2,), name="w")
    pat = Alt(Alt(Pat("tanh", Opt(V("z"), lambda z: Pat("add", z, V("bias")))), tag=("act", "tanh")),
              Alt(Pat("sigmoid", V("z")), tag=("act", "sigmoid")))
    m = pat.first(tg.tanh(x + w))
    assert m.bindings["act"] == "tanh" and m.bindings["z"] is x and m.bindings["bias"] is w
    m = pat.first(tg.tanh(x))
    assert m.bindings["z"] is x and "bias" not in m.bindings
    assert pat.first(tg.sigmoid(x)).bindings["act"] == "sigmoid"
    assert pat.first(tg.relu(x)) is None


def test_a_tag_bound_twice_must_agree():
    x = tg.placeholder((2,), name="x")
    act = Alt(Alt(Pat("tanh", V("a")), tag=("k", "tanh")), Alt(Pat("exp", V("a")), tag=("k", "exp")))
    both = Pat("multiply", act, Alt(Alt(Pat("tanh", V("b")), tag=("k", "tanh")),
                                    Alt(Pat("exp", V("b")), tag=("k", "exp"))))
    assert both.first(tg.tanh(x) * tg.tanh(x + 1.0)) is not None
    assert both.first(tg.tanh(x) * tg.exp(x)) is None


def test_the_engine_guard_declines_a_match_read_from_outside():
    x = tg.placeholder((3,), name="x")
    inner = tg.exp(x)
    y = tg.negative(inner)
    rule = Rule(Pat("negative", Pat("exp", V("x"))), lambda b, t: tg.log(b["x"]),
                "-exp(x) -> log(x) (a test rule)", name="test_rule")
    (out,), events = rewrite([y], [rule])
    assert out.op.name == "log" and events[0].fired
    (out, kept), events = rewrite([y, inner], [rule])        # exp(x) is also fetched
    assert out is y and kept is inner
    assert not events[0].fired and "also used outside" in events[0].reason


def test_a_rule_that_declines_reports_its_reason_once():
    x = tg.placeholder((3,), name="x")
    rule = Rule(Pat("exp"), lambda b, t: Decline("not today"), "a test rule", name="no")
    _, events = rewrite([tg.exp(x)], [rule])
    assert [(e.rule, e.fired, e.reason) for e in events] == [("no", False, "not today")]


# ----------------------------------------------------------------------- the table

@pytest.mark.parametrize("name", FUSABLE)
def test_each_fusable_row_is_one_activation_in_every_form(name, rng):
    row = ACTIVATIONS[name]
    x = rng.uniform(-4, 4, size=(5, 7))
    graph = tg.evaluate(row.graph(tg.constant(x)))
    kernel = row.forward(np, x, np.empty_like(x))
    np.testing.assert_allclose(kernel, graph, rtol=1e-12, atol=1e-15)
    eps = 1e-6                                       # derivative from the output
    numeric = (row.forward(np, x + eps, np.empty_like(x)) - row.forward(np, x - eps, np.empty_like(x))) / (2 * eps)
    smooth = np.abs(numeric - np.round(numeric, 6)) < 1e-3
    np.testing.assert_allclose(row.grad_from_output(np, kernel)[smooth], numeric[smooth], atol=1e-6)
    fwd, deriv = row.cuda
    assert "x" in fwd and ("y" in deriv or deriv == "(T)1")
    t = tg.placeholder((5, 7), "float64")
    m = row.pattern(V("inner")).first(row.graph(t))
    assert m is not None and m.bindings["inner"] is t


def test_linear_never_reads_another_activation_as_its_input():
    t = tg.placeholder((2, 2), "float64")
    linear = ACTIVATIONS["linear"].pattern(V("x"))
    assert linear.first(t) is not None
    for name in FUSABLE:
        if name != "linear":
            assert linear.first(ACTIVATIONS[name].graph(t)) is None, name


def test_the_sigmoid_op_and_the_kernels_share_one_formula(rng):
    x = rng.uniform(-30, 30, size=50)
    op_value = NumpyBackend().kernel(tg.sigmoid(tg.placeholder((50,), "float64")).op)(x)
    np.testing.assert_array_equal(op_value, ACTIVATIONS["sigmoid"].forward(np, x, np.empty_like(x)))


# ----------------------------------------------------------------------- the LSTM step

@pytest.mark.parametrize("math", [LSTMMath(), LSTMMath("relu", "hard_sigmoid", 1.0, "ijfo", 0.7, True)],
                         ids=["keras", "tf1-options"])
def test_the_cell_pattern_reads_the_one_lstm_step(math):
    z, c = tg.placeholder((2, 12), "float64"), tg.placeholder((2, 3), "float64")
    peep = [tg.placeholder((3,), "float64") for _ in range(3)] if math.peepholes else None
    step = lstm_step(z, c, math, peep)
    m = CELL.first(step.h)
    assert m is not None and m.bindings["c"] is step.c and m.bindings["c_prev"] is c
    assert (m.bindings["act_c"], m.bindings["ra_o"]) == (math.activation, math.recurrent_activation)
    pieces = [m.bindings[k] for k in ("zi", "zf", "zg", "zo")]
    assert all(p.op.name == "split" and p.node.inputs[0] is z for p in pieces)
    if math.peepholes:
        assert [m.bindings[k] for k in ("p_i", "p_f", "p_o")] == peep
        assert float(m.bindings["forget_bias"].op.value) == 1.0
        assert float(m.bindings["clip_hi"].op.value) == 0.7
    else:
        assert pieces == list(step.pre) and "forget_bias" not in m.bindings
