"""The NumPy backend keeps freed memory for reuse (backends/numpy_backend.tune_malloc):
a warm training step then reuses its arrays' pages instead of faulting in fresh ones."""
import os
import subprocess
import sys
import textwrap

import pytest

from tinygraph.backends import numpy_backend

pytestmark = pytest.mark.single_backend


class FakeLibc:
    def __init__(self, ok=1):
        self.calls, self.ok = [], ok

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.ok


@pytest.fixture
def untuned(monkeypatch):
    monkeypatch.setattr(numpy_backend, "_malloc", {"tuned": None})
    monkeypatch.setattr(sys, "platform", "linux")


def test_tuning_sets_glibc_thresholds_once(untuned, monkeypatch):
    monkeypatch.delenv("TINYGRAPH_MALLOC_TUNING", raising=False)
    libc = FakeLibc()
    assert numpy_backend.tune_malloc(libc) is True
    assert libc.calls == [(-3, 256 << 20), (-1, 1 << 30)]
    assert numpy_backend.tune_malloc(libc) is True and len(libc.calls) == 2     # once


def test_tuning_can_be_turned_off(untuned, monkeypatch):
    monkeypatch.setenv("TINYGRAPH_MALLOC_TUNING", "0")
    libc = FakeLibc()
    assert numpy_backend.tune_malloc(libc) is False and libc.calls == []


def test_a_libc_without_mallopt_or_refusing_it_is_left_alone(untuned):
    assert numpy_backend.tune_malloc(object()) is False              # musl: no mallopt
    numpy_backend._malloc["tuned"] = None
    assert numpy_backend.tune_malloc(FakeLibc(ok=0)) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts glibc's page faults")
def test_a_warm_training_step_reuses_its_memory():
    """Minor page faults of a warm LSTM training step, in fresh processes: with the
    tuning the step reuses the pages it freed (measured: ~190 against ~3000)."""
    code = textwrap.dedent("""
        import resource
        from tinygraph.tools.bench import tinygraph_step
        step, _ = tinygraph_step(32, 50, 64, 128, True, True)
        step(); step()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            step()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
    """)

    def faults(tuning):
        env = dict(os.environ, TINYGRAPH_MALLOC_TUNING=tuning, TINYGRAPH_BACKEND="numpy")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        return float(out.stdout.split()[-1])
    tuned, untuned = faults("1"), faults("0")
    assert tuned * 4 < untuned, (tuned, untuned)
