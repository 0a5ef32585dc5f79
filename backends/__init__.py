"""Backends: an array namespace (``xp``), host<->device transfer, random streams and
optional kernel overrides. Ops are written once against ``xp``.

``available()`` lists the usable backends, ``get(name)`` returns a fresh instance,
``register(name, factory)`` adds one, ``set_default(name)`` picks the backend of every
``Session()`` that names none (the ``TINYGRAPH_BACKEND`` environment variable does
the same without code changes; ``set_default`` wins over it).
"""
import os

from .base import Backend, BackendUnavailable
from .numpy_backend import NumpyBackend

ENV_VAR = "TINYGRAPH_BACKEND"
_factories = {}
_default = None


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


def status():
    """Every registered backend: name -> (usable here, why not)."""
    return {n: _status(n) for n in _factories}


def _check(name, source):
    if name not in _factories:
        raise ValueError(f"unknown backend {name!r}{source}; registered backends: "
                         + ", ".join(sorted(_factories)))
    ok, reason = _status(name)
    if not ok:
        raise BackendUnavailable(f"backend {name!r}{source} cannot run here: {reason}")


def default():
    """The name of the backend a ``Session()`` without one uses."""
    return _default or os.environ.get(ENV_VAR) or "numpy"


def set_default(name):
    """Make ``name`` the backend of every Session that names none (``None``: back to
    the environment variable, else "numpy"). Checked now: an unknown or unusable
    backend raises here, and the default stays as it was."""
    global _default
    if name is not None:
        _check(name, "")
    _default = name


def get(name=None):
    """A new instance of backend ``name`` (each Session has its own); ``None`` means
    ``default()``."""
    if isinstance(name, Backend):
        return name
    source = ""
    if name is None:
        name = default()
        if _default is None and os.environ.get(ENV_VAR):
            source = f" (from the {ENV_VAR} environment variable)"
    _check(name, source)
    return _factories[name]()


register("numpy", NumpyBackend)

from .cupy_backend import CupyBackend  # noqa: E402

register("cupy", CupyBackend)

__all__ = ["Backend", "BackendUnavailable", "available", "default", "get", "register",
           "set_default", "status"]
