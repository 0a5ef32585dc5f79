"""Backends (SPEC 10): the registry, kernel overrides, availability probes, and a
small end-to-end graph on every available backend in float32 and float64."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.backends import Backend, BackendUnavailable, NumpyBackend


@pytest.fixture
def registered():
    """Register backends for one test and remove them afterwards."""
    names = []

    def reg(name, factory):
        tg.backends.register(name, factory)
        names.append(name)

    yield reg
    for n in names:
        tg.backends._factories.pop(n, None)


def test_available_includes_numpy():
    names = tg.backends.available()
    assert "numpy" in names
    assert isinstance(tg.backends.get("numpy"), NumpyBackend)
    assert tg.backends.get("numpy") is not tg.backends.get("numpy")      # one per Session
    be = tg.backends.get("numpy")
    assert tg.backends.get(be) is be


def test_kernel_override_is_used(registered):
    calls = []

    def spy_tanh(op, be, x):
        calls.append(x.shape)
        return np.full_like(x, 42.0)          # obviously not tanh

    class Spy(NumpyBackend):
        name = "spy"
        kernels = {"tanh": spy_tanh}

    registered("spy", Spy)
    assert "spy" in tg.backends.available()
    x = tg.placeholder((None, 2), "float64")
    y = tg.tanh(x) + tg.exp(x * 0.0)
    for opt in (True, False):
        got = tg.Session(backend="spy", optimize=opt).run(y, {x: np.ones((3, 2))})
        np.testing.assert_array_equal(got, np.full((3, 2), 43.0))
    assert calls == [(3, 2), (3, 2)]
    # the default backend is unaffected
    np.testing.assert_allclose(tg.Session().run(y, {x: np.ones((3, 2))}), np.tanh(1.0) + 1.0)


def test_kernel_override_via_instance():
    class Doubler(NumpyBackend):
        kernels = {"exp": lambda op, be, x: 2 * np.exp(x)}

    x = tg.constant(np.zeros(2))
    got = tg.Session(backend=Doubler(), optimize=False).run(tg.exp(x))
    np.testing.assert_array_equal(got, [2.0, 2.0])


def test_backend_hooks_for_variables(registered):
    log = []

    class Recording(NumpyBackend):
        def read_variable(self, var):
            log.append(("read", var.name))
            return super().read_variable(var)

        def write_variable(self, var, array):
            log.append(("write", var.name))
            super().write_variable(var, array)

    registered("recording", Recording)
    v = tg.Variable(np.ones(2), name="v")
    tg.Session(backend="recording").run(v.assign(v * 3.0))
    assert ("read", "v") in log and log[-1] == ("write", "v")
    np.testing.assert_array_equal(v.value, [3.0, 3.0])


def test_unavailable_backend(registered):
    class Missing(Backend):
        name = "missing"

        @staticmethod
        def is_available():
            return False, "no such device here"

    registered("missing", Missing)
    assert "missing" not in tg.backends.available()
    with pytest.raises(BackendUnavailable, match="no such device"):
        tg.backends.get("missing")
    with pytest.raises(BackendUnavailable, match="missing"):
        tg.Session(backend="missing")


def test_register_validates_name():
    with pytest.raises(ValueError):
        tg.backends.register("", NumpyBackend)
    with pytest.raises(ValueError):
        tg.backends.register(None, NumpyBackend)


def test_factory_function(registered):
    registered("made", lambda: NumpyBackend())
    assert tg.Session(backend="made").run(tg.constant(2.0) * 3.0) == 6.0


# ----------------------------------------------------------------- every backend

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_graph_on_every_backend(backend, dtype, rng):
    x = tg.placeholder((None, 3), dtype)
    w = tg.Variable(rng.standard_normal((3, 2)).astype(dtype), name="w")
    y = tg.reduce_mean(tg.square(tg.sigmoid(x @ w) - 0.5))
    (g,) = tg.gradients(y, [w])
    a = rng.standard_normal((4, 3)).astype(dtype)
    got_y, got_g = tg.Session(backend=backend).run([y, g], {x: a})
    assert isinstance(got_g, np.ndarray)
    assert got_y.dtype == dtype and got_g.dtype == dtype
    s = 1 / (1 + np.exp(-(a.astype("float64") @ w.value.astype("float64"))))
    want_y = np.mean((s - 0.5) ** 2)
    want_g = a.T.astype("float64") @ (2 * (s - 0.5) * s * (1 - s) / s.size)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got_y, want_y, rtol=tol)
    np.testing.assert_allclose(got_g, want_g, rtol=tol * 10, atol=tol)


def test_training_step_on_every_backend(backend):
    w = tg.Variable(np.array([1.0, -2.0]), name="w")
    step = tg.optimizers.SGD(0.25).minimize(tg.reduce_sum(tg.square(w)) * 0.5)
    sess = tg.Session(backend=backend)
    sess.run(step)
    sess.run(step)
    assert isinstance(w.value, np.ndarray)
    np.testing.assert_allclose(w.value, [0.5625, -1.125])


def test_seeded_random_on_every_backend(backend):
    r = tg.random_uniform((6,), seed=11)
    a = tg.Session(backend=backend).run(r)
    b = tg.Session(backend=backend).run(r)
    np.testing.assert_array_equal(a, b)
    assert np.all((a >= 0) & (a < 1))
