"""Composite ops (functions of primitives, no gradient code of their own): values
against NumPy and gradients to second order by finite differences."""
import warnings

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.testing import check_grads


def np_log_softmax(x, axis=-1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


CASES = {
    "softmax": (lambda x: tg.softmax(x), lambda x: np.exp(np_log_softmax(x))),
    "softmax_axis0": (lambda x: tg.softmax(x, axis=0), lambda x: np.exp(np_log_softmax(x, 0))),
    "log_softmax": (lambda x: tg.log_softmax(x), np_log_softmax),
    "logsumexp": (lambda x: tg.logsumexp(x, axis=1),
                  lambda x: np.log(np.exp(x).sum(1))),
    "logsumexp_keepdims": (lambda x: tg.logsumexp(x, axis=0, keepdims=True),
                           lambda x: np.log(np.exp(x).sum(0, keepdims=True))),
    "square": (lambda x: tg.square(x), np.square),
    "reduce_mean": (lambda x: tg.reduce_mean(x, axis=1), lambda x: x.mean(1)),
    # away from the kinks at +-3 / +-2.5 (the inputs are drawn in (-2, 2))
    "hard_sigmoid": (lambda x: tg.hard_sigmoid(x * 1.2), lambda x: np.clip(x * 1.2 / 6 + 0.5, 0, 1)),
    "hard_sigmoid_v1": (lambda x: tg.hard_sigmoid_v1(x), lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    "slice": (lambda x: tg.slice(x, [1, 0], [2, -1]), lambda x: x[1:3, :]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_composite_value_and_gradients(name, rng):
    build, ref = CASES[name]
    x = rng.uniform(-2, 2, (3, 4))
    ph = tg.placeholder((3, 4), "float64")
    got = tg.Session(optimize=False).run(build(ph), {ph: x})
    np.testing.assert_allclose(got, ref(x), rtol=1e-12, atol=1e-14)
    check_grads(build, [x], order=2)


def test_clip_by_value_passes_gradient_only_inside_the_range():
    x = tg.placeholder((4,), "float64")
    (g,) = tg.gradients(tg.reduce_sum(tg.clip_by_value(x, -1.0, 1.0)), [x])
    np.testing.assert_array_equal(tg.evaluate(g, {x: np.array([-3.0, -0.5, 0.5, 3.0])}),
                                  [0.0, 1.0, 1.0, 0.0])


def test_hard_sigmoid_is_keras_3_and_v1_is_keras_2():
    """At x = 1: 0.6667 (x/6 + 1/2) vs 0.7 (0.2x + 0.5); saturation at +-3 vs +-2.5."""
    x = tg.constant([1.0, 2.8, -2.8, 3.0], "float64")
    np.testing.assert_allclose(tg.evaluate(tg.hard_sigmoid(x)), [4 / 6, 2.8 / 6 + 0.5, 0.5 - 2.8 / 6, 1.0])
    np.testing.assert_allclose(tg.evaluate(tg.hard_sigmoid_v1(x)), [0.7, 1.0, 0.0, 1.0])


def test_sigmoid_and_log_softmax_are_stable_at_extremes():
    x = tg.constant([-1000.0, 0.0, 1000.0], "float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # an overflow warning fails the test
        s, ls = tg.evaluate([tg.sigmoid(x), tg.log_softmax(x)])
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(ls, [-2000.0, -1000.0, 0.0])


def test_random_bernoulli_draws_ones_with_probability_p():
    draws = tg.evaluate(tg.random_bernoulli((20000,), p=0.3, dtype="float64", seed=7))
    assert set(np.unique(draws)) == {0.0, 1.0}
    assert abs(draws.mean() - 0.3) < 0.02
