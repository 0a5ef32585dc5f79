"""Training basics (SPEC 6, last bullet): losses, SGD with momentum and Adam against
Keras' formulas computed by hand, and small models fitted to known targets."""
import numpy as np
import pytest

import tinygraph as tg


# ----------------------------------------------------------------- losses

def test_losses_match_numpy(rng):
    logits = rng.standard_normal((4, 5))
    labels = np.array([0, 3, 1, 4])
    onehot = np.eye(5)[labels]
    pred, target = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    lg = tg.placeholder((None, 5), "float64")
    lab = tg.placeholder((None,), "int32")
    mse = tg.losses.mean_squared_error(target, tg.constant(pred))
    ce = tg.losses.softmax_cross_entropy(onehot, lg)
    sce = tg.losses.sparse_softmax_cross_entropy(lab, lg)
    got = tg.Session().run([mse, ce, sce], {lg: logits, lab: labels})
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    want_ce = -np.mean(np.sum(onehot * logp, 1))
    np.testing.assert_allclose(got[0], np.mean((pred - target) ** 2), rtol=1e-12)
    np.testing.assert_allclose(got[1], want_ce, rtol=1e-12)
    np.testing.assert_allclose(got[2], want_ce, rtol=1e-12)
    (g,) = tg.gradients(ce, [lg])
    soft = np.exp(logp)
    np.testing.assert_allclose(tg.Session().run(g, {lg: logits}), (soft - onehot) / 4, rtol=1e-10)


def test_cross_entropy_is_stable_for_large_logits():
    lg = tg.constant(np.array([[1000.0, -1000.0, 0.0]]))
    loss = tg.losses.sparse_softmax_cross_entropy(np.array([0]), lg)
    with np.errstate(all="raise"):
        assert tg.Session(check_numerics=True).run(loss) == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------- optimizers by hand

def test_sgd_momentum_matches_two_hand_steps():
    """Keras SGD: m = momentum*m - lr*g; w += m. Loss sum(a*w**2) has g = 2*a*w."""
    a = np.array([1.0, 3.0, 0.5])
    w0 = np.array([1.0, -2.0, 4.0])
    w = tg.Variable(w0.copy(), name="w")
    loss = tg.reduce_sum(a * tg.square(w))
    step = tg.optimizers.SGD(learning_rate=0.1, momentum=0.9).minimize(loss)
    sess = tg.Session()
    lr, mu = 0.1, 0.9
    m, want = np.zeros(3), w0.copy()
    for _ in range(2):
        assert sess.run(step) is None
        g = 2 * a * want
        m = mu * m - lr * g
        want = want + m
        np.testing.assert_allclose(w.value, want, rtol=1e-12)
    # the hand result differs from plain SGD, so momentum did something
    plain = w0 - lr * 2 * a * w0
    plain = plain - lr * 2 * a * plain
    assert not np.allclose(want, plain)


def test_plain_sgd_one_step():
    w = tg.Variable(np.array([2.0, -1.0]), name="w")
    loss = tg.reduce_sum(tg.square(w)) * 0.5
    step = tg.optimizers.SGD(learning_rate=0.25).minimize(loss)
    tg.Session().run(step)
    np.testing.assert_allclose(w.value, [1.5, -0.75])


def _adam_reference(w, grads_fn, steps, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3 Adam (keras/src/optimizers/adam.py) written out in NumPy."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    out = []
    for t in range(1, steps + 1):
        g = grads_fn(w)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - m * alpha / (np.sqrt(v) + eps)
        out.append(w.copy())
    return out


def test_adam_matches_keras_formula():
    a = np.array([[1.0, 0.5], [-2.0, 3.0]])
    w0 = np.array([[0.3, -1.2], [2.0, 0.1]])
    w = tg.Variable(w0.copy(), name="w")
    loss = tg.reduce_sum(tg.square(w * a)) + tg.reduce_sum(w)
    opt = tg.optimizers.Adam(learning_rate=0.01)
    step = opt.minimize(loss)
    sess = tg.Session()
    want = _adam_reference(w0, lambda x: 2 * a * a * x + 1.0, 3)
    # the first step by hand: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1
    g = 2 * a * a * w0 + 1.0
    first = w0 - (0.1 * g) * (0.01 * np.sqrt(0.001) / 0.1) / (np.sqrt(0.001 * g * g) + 1e-7)
    np.testing.assert_allclose(want[0], first, rtol=1e-12)
    for k in range(3):
        sess.run(step)
        np.testing.assert_allclose(w.value, want[k], rtol=1e-10, atol=1e-12)
    assert opt.iterations.value == 3


def test_adam_float32_variable():
    w = tg.Variable(np.array([1.0, -1.0], "float32"), name="w")
    step = tg.optimizers.Adam(0.1).minimize(tg.reduce_sum(tg.square(w)))
    tg.Session().run(step)
    assert w.value.dtype == np.float32
    np.testing.assert_allclose(w.value, [0.9, -0.9], rtol=1e-5)      # first Adam step ~ lr*sign(g)


def test_constraint_applied_after_update():
    w = tg.Variable(np.array([0.5, -0.5]), name="w")
    w.constraint = lambda t: tg.maximum(t, 0.0)         # non_neg
    step = tg.optimizers.SGD(1.0).minimize(tg.reduce_sum(w * np.array([-1.0, 1.0])))
    tg.Session().run(step)
    np.testing.assert_allclose(w.value, [1.5, 0.0])


def test_minimize_errors():
    w = tg.Variable(np.ones(3), name="w")
    with pytest.raises(ValueError, match="scalar"):
        tg.optimizers.SGD(0.1).minimize(w * 2.0)
    with pytest.raises(ValueError, match="no trainable"):
        tg.optimizers.SGD(0.1).minimize(tg.reduce_sum(tg.constant(np.ones(2))))
    frozen = tg.Variable(np.ones(3), name="frozen", trainable=False)
    with pytest.raises(ValueError):
        tg.optimizers.Adam().minimize(tg.reduce_sum(frozen))
    with pytest.raises(ValueError, match="learning_rate"):
        tg.optimizers.SGD(learning_rate=0.0)
    with pytest.raises(ValueError, match="momentum"):
        tg.optimizers.SGD(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="beta_1"):
        tg.optimizers.Adam(beta_1=1.0)


def test_minimize_var_list_limits_updates():
    a = tg.Variable(np.ones(2), name="a")
    b = tg.Variable(np.ones(2), name="b")
    step = tg.optimizers.SGD(0.5).minimize(tg.reduce_sum(a * b), var_list=[a])
    tg.Session().run(step)
    np.testing.assert_allclose(a.value, [0.5, 0.5])
    np.testing.assert_allclose(b.value, [1.0, 1.0])


# ----------------------------------------------------------------- fitting

def test_linear_model_fitted_with_adam(rng):
    true_w = np.array([[1.5], [-2.0], [0.5]])
    true_b = np.array([0.3])
    xs = rng.standard_normal((64, 3))
    ys = xs @ true_w + true_b
    x = tg.placeholder((None, 3), "float64")
    y = tg.placeholder((None, 1), "float64")
    w = tg.Variable(np.zeros((3, 1)), name="w")
    b = tg.Variable(np.zeros(1), name="b")
    loss = tg.losses.mean_squared_error(y, x @ w + b)
    step = tg.optimizers.Adam(learning_rate=0.05).minimize(loss)
    sess = tg.Session()
    feed = {x: xs, y: ys}
    first = sess.run(loss, feed)
    for _ in range(400):
        sess.run(step, feed)
    last = sess.run(loss, feed)
    assert last < first / 1000, (first, last)
    np.testing.assert_allclose(w.value, true_w, atol=2e-2)
    np.testing.assert_allclose(b.value, true_b, atol=2e-2)


def test_mlp_fitted_with_adam(rng):
    xs = rng.uniform(-1, 1, (64, 2)).astype("float32")
    ys = (np.tanh(xs @ np.array([[1.0, -1.0], [0.5, 2.0]])) @ np.array([[1.0], [0.5]])).astype("float32")
    x = tg.placeholder((None, 2))
    y = tg.placeholder((None, 1))
    init = np.random.default_rng(0)
    w1 = tg.Variable(init.normal(0, 0.5, (2, 16)).astype("float32"), name="w1")
    b1 = tg.Variable(np.zeros(16, "float32"), name="b1")
    w2 = tg.Variable(init.normal(0, 0.5, (16, 1)).astype("float32"), name="w2")
    b2 = tg.Variable(np.zeros(1, "float32"), name="b2")
    pred = tg.tanh(x @ w1 + b1) @ w2 + b2
    loss = tg.losses.mean_squared_error(y, pred)
    step = tg.optimizers.Adam(learning_rate=0.02).minimize(loss)
    sess = tg.Session()
    feed = {x: xs, y: ys}
    first = float(sess.run(loss, feed))
    for _ in range(300):
        sess.run(step, feed)
    last = float(sess.run(loss, feed))
    assert last < first / 10, (first, last)
    assert w1.value.dtype == np.float32


def test_classifier_fitted_with_sgd_momentum(rng):
    xs = rng.standard_normal((90, 2))
    labels = (xs[:, 0] + 2 * xs[:, 1] > 0).astype("int32")
    x = tg.placeholder((None, 2), "float64")
    lab = tg.placeholder((None,), "int32")
    w = tg.Variable(np.zeros((2, 2)), name="w")
    b = tg.Variable(np.zeros(2), name="b")
    logits = x @ w + b
    loss = tg.losses.sparse_softmax_cross_entropy(lab, logits)
    step = tg.optimizers.SGD(0.5, momentum=0.9).minimize(loss)
    sess = tg.Session()
    feed = {x: xs, lab: labels}
    for _ in range(100):
        sess.run(step, feed)
    pred = np.argmax(sess.run(logits, feed), 1)
    assert np.mean(pred == labels) > 0.95
