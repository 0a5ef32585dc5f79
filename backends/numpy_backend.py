"""The default backend: NumPy on the host.

The fused LSTM and GRU ops run the CUDA backend's kernels (backends/cuda_lstm.py,
cuda_gru.py) with their CUDA C source compiled for the CPU where a C++ compiler is
found (backends/host_kernels.py): the same kernel overrides as on the GPU, NumPy
arrays and BLAS GEMMs around them; the LSTM sequence ops through host loops that
address the arrays by pointer (backends/host_lstm.py). Without a compiler, or with
``TINYGRAPH_HOST_KERNELS=0``, every op runs its NumPy ``compute``.
"""
import functools

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


class NumpyBackend(Backend):
    name = "numpy"
    xp = np
    kernels = {name: _on_host(kernel) for name, kernel in
               {**cuda_lstm.KERNELS, **cuda_gru.KERNELS, **host_lstm.KERNELS}.items()}

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
