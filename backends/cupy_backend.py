"""CuPy backend: every op runs on the GPU through ``xp = cupy``; the fused LSTM ops
and GRU ops run as CUDA kernels (backends/cuda_lstm.py, cuda_gru.py) around cuBLAS
GEMMs.

Feeds are copied to the device at the start of a run and fetches back to the host
at the end (``Session.run(..., keep_on_device=True)`` skips the copy back; device
arrays can be fed). Variables are copied to the device once and kept there while
their value is unchanged; updates stay on the device, and reading ``var.value``
(get_weights, save_weights, another Session) copies the newest value to the host
then. Graph constants are uploaded once. Random ops draw from CuPy's generator
(cuRAND), one stream per op, seeded ops replaying the same stream in every new
Session: the same contract as on NumPy, though not the same numbers.
"""
import weakref

import numpy as np

from . import cuda_gru, cuda_lstm
from .base import Backend, BackendUnavailable

INSTALL_HINT = "install CuPy for your CUDA version, e.g. pip install '.[cuda]' (cupy-cuda12x)"


_device_probe = weakref.WeakKeyDictionary()     # cupy module -> its device check


def _import_cupy():
    """(cupy, "") when CuPy imports and sees a CUDA device, else (None, the reason)."""
    try:
        import cupy
    except ImportError:
        return None, f"CuPy is not installed; {INSTALL_HINT}"
    if cupy not in _device_probe:     # asking the driver is slow when it fails: once
        try:
            n = cupy.cuda.runtime.getDeviceCount()
            reason = "" if n else "CuPy is installed but this machine has no CUDA GPU"
        except Exception as e:   # the driver or runtime is missing: CuPy raises its own types
            reason = f"CuPy is installed but no CUDA device is usable ({e})"
        _device_probe[cupy] = reason
    reason = _device_probe[cupy]
    return (None, reason) if reason else (cupy, "")


class CupyBackend(Backend):
    name = "cupy"
    kernels = {**cuda_lstm.KERNELS, **cuda_gru.KERNELS}

    def fused_kernels(self):
        return "CUDA kernels (backends/cuda_lstm.py, cuda_gru.py), compiled with NVRTC"

    @staticmethod
    def is_available():
        cupy, reason = _import_cupy()
        return cupy is not None, reason

    def __init__(self):
        super().__init__()
        cupy, reason = _import_cupy()
        if cupy is None:
            raise BackendUnavailable(f"backend 'cupy' cannot run here: {reason}")
        self.xp = cupy
        self._device_vars = {}      # id(var) -> (version, device array)
        # id(host array) -> (weak reference to it, device array): an entry goes when the
        # graph constant that owns the host array goes
        self._device_consts = {}

    def asarray(self, host_array):
        return self.xp.asarray(host_array)

    def owns(self, value):
        return isinstance(value, self.xp.ndarray)

    def to_host(self, array):
        return self.xp.asnumpy(array) if isinstance(array, self.xp.ndarray) else np.asarray(array)

    def constant(self, host_array):
        # graph constants are frozen: upload each once per backend, not once per run
        key = id(host_array)
        hit = self._device_consts.get(key)
        if hit is None or hit[0]() is not host_array:
            consts = self._device_consts
            ref = weakref.ref(host_array, lambda _, k=key: consts.pop(k, None))
            hit = consts[key] = (ref, self.xp.asarray(host_array))
        return hit[1]

    def read_variable(self, var):
        cached = self._device_vars.get(id(var))
        if cached is None or cached[0] != var._version:
            cached = (var._version, self.xp.asarray(var.value))
            self._device_vars[id(var)] = cached
        return cached[1]

    def write_variable(self, var, array):
        # the device array is the value now; the host copy is made when var.value is read
        var._set_device_value(self, array)
        self._device_vars[id(var)] = (var._version, array)

    def result(self, array, keep_on_device=False):
        if not keep_on_device:
            return self.to_host(array)
        # a fetch that is (a view of) a Variable's or a constant's cached device array:
        # the caller's own copy, so that writing into it cannot change them
        root = _root(array)
        cached = list(self._device_vars.values()) + list(self._device_consts.values())
        if any(root is _root(dev) for _, dev in cached):
            return array.copy()
        return array

    def make_rng(self, seed):
        # RandomState: NumPy's uniform/normal signatures, on cuRAND
        return self.xp.random.RandomState(seed)

    def compile_module(self, source):
        return self.xp.RawModule(code=source)

    def scatter_add(self, out, indices, values):
        import cupyx
        cupyx.scatter_add(out, indices, values)


def _root(array):
    while getattr(array, "base", None) is not None:
        array = array.base
    return array
