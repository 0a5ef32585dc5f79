"""What the CUDA kernels of the fused recurrent ops share (cuda_lstm.py, cuda_gru.py):
the element types they are compiled for, the launch of a grid-stride kernel over
(rows x units) elements, the contiguity they need, and the compiled modules a backend
instance keeps (one per kernel source)."""
import numpy as np

THREADS = 256            # threads per block
MAX_BLOCKS = 4096        # grid-stride loops cover the rest

C_TYPES = {np.dtype("float32"): "float", np.dtype("float64"): "double"}

# The end of every kernel module's header (a str.format template, after ``typedef ...
# T``): the cell's activation (act_c) and recurrent activation (act_r) with their
# derivatives from the output, C snippets of the activation table, and the grid-stride
# loop over a kernel's elements with ROW(k), the batch row of element k (U units a row).
# backends/host_kernels.py defines GRID_LOOP and ROW first, as loops over the rows and
# over a row's units, to compile the same source for the CPU.
PRELUDE = """\
__device__ __forceinline__ T act_c(T x) {{ return {act_c}; }}
__device__ __forceinline__ T act_c_d(T y) {{ return {act_c_d}; }}
__device__ __forceinline__ T act_r(T x) {{ return {act_r}; }}
__device__ __forceinline__ T act_r_d(T y) {{ return {act_r_d}; }}
#ifndef GRID_LOOP
#define GRID_LOOP(k, n) \\
    for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < (n); k += blockDim.x * gridDim.x)
#define ROW(k) ((k) / U)
#endif
"""


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
