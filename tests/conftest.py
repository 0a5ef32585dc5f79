"""Shared fixtures. Every test runs once per backend (the ``backend`` fixture, autouse):
``Session()`` without a backend, and example or CLI subprocesses, use that backend.
Backends that cannot run here are skipped with the reason.

``TINYGRAPH_TEST_EMULATE_CUPY=1`` runs the "cupy" half of the suite on the CPU with
tests/cuda_emulation.py standing in for CuPy (a check of the CuPy backend's code on
machines without a GPU; see docs/backends.md)."""
import os
import sys

import numpy as np
import pytest

EMULATED_CUPY = os.environ.get("TINYGRAPH_TEST_EMULATE_CUPY") == "1"
if EMULATED_CUPY:
    from cuda_emulation import fake_cupy, fake_cupyx
    sys.modules["cupy"], sys.modules["cupyx"] = fake_cupy(), fake_cupyx()

import tinygraph as tg  # noqa: E402

BACKENDS = ("numpy", "cupy")


def pytest_configure(config):
    config.addinivalue_line("markers", "single_backend: the test picks its backends itself; "
                            "it runs once, not once per backend")


def pytest_generate_tests(metafunc):
    single = metafunc.definition.get_closest_marker("single_backend")
    if "backend" in metafunc.fixturenames and not single:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def backend(request, monkeypatch):
    """The backend this run of the test uses (its name)."""
    name = getattr(request, "param", "numpy")
    ok, reason = tg.backends._status(name)
    if not ok:
        pytest.skip(f"backend {name!r} unavailable: {reason}")
    if not EMULATED_CUPY:        # subprocesses cannot see the emulation: they use numpy
        monkeypatch.setenv(tg.backends.ENV_VAR, name)
    tg.backends.set_default(name)
    yield name
    tg.backends.set_default(None)


@pytest.fixture(autouse=True)
def fresh_graph():
    """Each test builds in its own default graph (names, variable store)."""
    tg.reset_default_graph()
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
