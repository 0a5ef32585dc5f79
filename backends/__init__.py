"""Backends: an array namespace (``xp``), host<->device transfer, random streams and
optional kernel overrides. Ops are written once against ``xp``.

``available()`` lists the usable backends, ``get(name)`` returns a fresh instance,
``register(name, factory)`` adds one.
"""
from .base import Backend, BackendUnavailable
from .numpy_backend import NumpyBackend

_factories = {}


def register(name, factory):
    """Make ``factory`` (a Backend subclass or a callable returning a Backend) the
    backend called ``name``. The factory may define ``is_available()`` returning
    ``(ok, reason)``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend name must be a non-empty string, got {name!r}")
    _factories[name] = factory


def _status(name):
    probe = getattr(_factories[name], "is_available", None)
    return probe() if probe else (True, "")


def available():
    """Names of the backends that can run on this machine."""
    return [n for n in _factories if _status(n)[0]]


def get(name="numpy"):
    """A new instance of backend ``name`` (each Session has its own)."""
    if isinstance(name, Backend):
        return name
    if name not in _factories:
        raise ValueError(f"unknown backend {name!r}; registered backends: "
                         + ", ".join(sorted(_factories)))
    ok, reason = _status(name)
    if not ok:
        raise BackendUnavailable(f"backend {name!r} cannot run here: {reason}")
    return _factories[name]()


register("numpy", NumpyBackend)

from .cupy_backend import CupyBackend  # noqa: E402

register("cupy", CupyBackend)

__all__ = ["Backend", "BackendUnavailable", "available", "get", "register"]
