"""What the CUDA kernels of the fused recurrent ops share (cuda_lstm.py, cuda_gru.py):
the element types they are compiled for, the launch of a grid-stride kernel over
(rows x units) elements, the contiguity they need, and the compiled modules a backend
instance keeps (one per kernel source)."""
import numpy as np

THREADS = 256            # threads per block
MAX_BLOCKS = 4096        # grid-stride loops cover the rest

C_TYPES = {np.dtype("float32"): "float", np.dtype("float64"): "double"}


def launch(kernel, n, U, *arrays):
    """Run ``kernel(*arrays, n, U)`` over n = rows * U elements."""
    blocks = max(1, min((n + THREADS - 1) // THREADS, MAX_BLOCKS))
    kernel((blocks,), (THREADS,), arrays + (np.int32(n), np.int32(U)))


def contiguous(xp, dtype, *arrays):
    """The kernels index raw memory: C-contiguous arrays of the kernel's dtype."""
    return [xp.ascontiguousarray(a, dtype=dtype) for a in arrays]


def compiled_module(be, source):
    """The module compiled from ``source``, once per backend instance."""
    modules = be.__dict__.setdefault("_cuda_modules", {})
    module = modules.get(source)
    if module is None:
        module = modules[source] = be.compile_module(source)
    return module
