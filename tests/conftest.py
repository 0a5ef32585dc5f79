import numpy as np
import pytest

import tinygraph as tg


@pytest.fixture(autouse=True)
def fresh_graph():
    """Each test builds in its own default graph (names, variable store)."""
    tg.reset_default_graph()
    yield


@pytest.fixture(params=tg.backends.available() + [b for b in ("cupy",) if b not in tg.backends.available()])
def backend(request):
    """Every backend; those that cannot run here are skipped with the reason."""
    name = request.param
    ok, reason = tg.backends._status(name)
    if not ok:
        pytest.skip(f"backend {name!r} unavailable: {reason}")
    return name


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
