"""The default backend: NumPy on the host.

The fused LSTM and GRU ops run the CUDA backend's kernels (backends/cuda_lstm.py,
cuda_gru.py) with their CUDA C source compiled for the CPU where a C++ compiler is
found (backends/host_kernels.py): the same kernel overrides as on the GPU, NumPy
arrays and BLAS GEMMs around them; the LSTM sequence ops through host loops that
address the arrays by pointer (backends/host_lstm.py). Without a compiler, or with
``TINYGRAPH_HOST_KERNELS=0``, every op runs its NumPy ``compute``.
"""
import ctypes
import functools
import os
import sys

import numpy as np

from . import cuda_gru, cuda_lstm, host_kernels, host_lstm
from .base import Backend, BackendUnavailable


def _on_host(kernel):
    """``kernel`` (a Backend.kernels override) where host kernels run, else the op's
    own NumPy compute (also when the first build of its kernels fails: a kernel
    override computes nothing before its module is built)."""
    @functools.wraps(kernel)
    def run(op, be, *arrays, **kw):
        if host_kernels.status()[0]:
            try:
                return kernel(op, be, *arrays, **kw)
            except BackendUnavailable:
                pass
        return op.compute(be, *arrays, **kw)
    return run


# glibc's malloc gives big freed blocks back to the OS at once (mmap'd above 128 KB to
# 32 MB, the heap's top trimmed beyond twice that), so every run's large arrays are
# fresh pages that the OS must fault in and zero again (3000 page faults a warm step at
# B32 T50 H128, 190 with the tuning; train-L 0.88x and long 0.79x the time with it).
# Like PyTorch's and TensorFlow's own allocators, keep freed memory for reuse instead:
# blocks up to MMAP_THRESHOLD come from the heap, and up to TRIM_THRESHOLD of free heap
# top stays. TINYGRAPH_MALLOC_TUNING=0 leaves malloc as it is.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # mallopt's parameters (malloc.h)
MMAP_THRESHOLD, TRIM_THRESHOLD = 256 << 20, 1 << 30
_malloc = {"tuned": None}


def tune_malloc(libc=None):
    """Once per process (the first NumPy Session): glibc's malloc keeps freed memory
    for reuse (see above). Returns whether it is tuned (False off glibc, or with
    TINYGRAPH_MALLOC_TUNING=0)."""
    if _malloc["tuned"] is None:
        _malloc["tuned"] = False
        wanted = os.environ.get("TINYGRAPH_MALLOC_TUNING", "1") != "0"
        if wanted and sys.platform.startswith("linux"):
            try:
                libc = libc or ctypes.CDLL(None)
                mallopt = libc.mallopt                # glibc's; absent from musl
            except (OSError, AttributeError):
                return False
            _malloc["tuned"] = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _malloc["tuned"]


class NumpyBackend(Backend):
    name = "numpy"
    xp = np
    kernels = {name: _on_host(kernel) for name, kernel in
               {**cuda_lstm.KERNELS, **cuda_gru.KERNELS, **host_lstm.KERNELS}.items()}

    def __init__(self):
        super().__init__()
        tune_malloc()

    def asarray(self, host_array):
        return host_array if isinstance(host_array, np.ndarray) else np.asarray(host_array)

    def fused_kernels(self):
        on, why = host_kernels.status()
        if on:
            return (f"host kernels: the CUDA kernels' C source compiled for this CPU "
                    f"({host_kernels.compiler()})")
        return f"NumPy ufunc steps (host kernels off: {why})"

    @staticmethod
    def compile_module(source):
        return host_kernels.compile_module(source)
