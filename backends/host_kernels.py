"""The fused recurrent kernels' CUDA C source, compiled for the CPU.

The NumPy backend's sequence loops (backends/host_lstm.py) run each step's elementwise
gate math as one call into the same kernels the GPU runs (backends/cuda_lstm.py), so
the math has one C copy for both. A step is then one pass over its (batch, units)
elements, where NumPy needs ten to twenty ufunc calls with a pass over memory each.

How the source becomes CPU code: a prelude (below) defines the CUDA keywords away and
defines ``GRID_LOOP`` and ``ROW`` before the source's own prelude would
(backends/cuda_common.py): a loop over the batch rows and, inside it, a loop over a
row's units that the compiler vectorises (``omp simd``). ``tanh`` gets the SIMD
variants of glibc's libmvec (AVX2 / AVX-512 where the CPU has them), as accurate as
the scalar ones within a few ulp. No fast-math: only ``-fno-math-errno``
``-fno-trapping-math``, which change no result, and ``-ffp-contract=off``: no a*b+c fused into one
rounding, so every kernel rounds each operation as written (the cell and the sequence
kernels agree bit for bit, as the NumPy steps do). ``-march=native``: the library is
for this machine, so the cache key holds the CPU's flags.

Compiled once per source with the C++ compiler (``$CXX``, else ``c++`` / ``g++``),
kept in ``$TINYGRAPH_CACHE`` (default ``~/.cache/tinygraph``) by hash, loaded with
ctypes. Without a compiler, or with ``TINYGRAPH_HOST_KERNELS=0``, the NumPy ufunc
steps run (``status()`` says why), with the same results within float rounding.
"""
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import threading
import warnings

import numpy as np

from .base import BackendUnavailable

ENABLED = os.environ.get("TINYGRAPH_HOST_KERNELS", "1") != "0"
CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
         "-fopenmp-simd", "-shared", "-fPIC"]

_HOST = """\
#include <cmath>
#include <cstddef>
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
using std::fabs;
// fmin / fmax as one compare each, which vectorises (the C library's are calls). The
// kernels call them with a bound second: a NaN first argument passes through, as in
// NumPy's clip (the C library's fmin(NaN, 1) is 1)
template <typename F> static inline F tg_fmin(F a, F b) { return b < a ? b : a; }
template <typename F> static inline F tg_fmax(F a, F b) { return b > a ? b : a; }
#define fmin tg_fmin
#define fmax tg_fmax
// the elements of a kernel: rows of U units, each row's units one vectorised loop
#define GRID_LOOP(k, n) \\
    for (int tg_row = 0; tg_row * U < (n); ++tg_row) \\
        _Pragma("omp simd") for (int k = tg_row * U; k < tg_row * U + U; ++k)
#define ROW(k) tg_row
"""
# libmvec's SIMD tanh (glibc 2.35+); without it the scalar one (the second try)
_VECTOR_MATH = """\
extern "C" float tanhf(float) throw() __attribute__((simd("notinbranch")));
extern "C" double tanh(double) throw() __attribute__((simd("notinbranch")));
static inline float tanh(float x) { return tanhf(x); }
"""
_SCALAR_MATH = "using std::tanh;\n"

_lock = threading.Lock()
_state = {"reason": None}


def status():
    """(whether host kernels run, why not)."""
    if not ENABLED:
        return False, "TINYGRAPH_HOST_KERNELS=0"
    if CXX is None:
        return False, "no C++ compiler (c++ or g++; or set $CXX)"
    if _state["reason"]:
        return False, _state["reason"]
    return True, ""


def module(source):
    """The ctypes library of ``source`` (a kernel module's CUDA C), or None where host
    kernels do not run (``status()``); a failed build warns once and turns them off."""
    return _module(source) if status()[0] else None


@functools.lru_cache(maxsize=None)
def _module(source):
    with _lock:
        errors = []
        for vector_math in (True, False):
            try:
                return ctypes.CDLL(_build(full_source(source, vector_math)))
            except (OSError, subprocess.CalledProcessError) as e:
                errors.append(getattr(e, "stderr", None) or str(e))
        _state["reason"] = "the C++ compiler failed on the kernels: " + errors[-1][-500:]
        warnings.warn(f"tinygraph: {_state['reason']}; the NumPy steps run instead",
                      RuntimeWarning, stacklevel=4)
        return None


class HostModule:
    """What ``cupy.RawModule(code=source)`` gives, on the CPU: kernels by name, each
    called as CuPy's are, ``kernel(grid, block, args)`` (the grid is ignored: a call
    runs every element). So the CUDA backend's kernel overrides run on the host as
    they are (backends/numpy_backend.py)."""

    def __init__(self, lib):
        self.lib, self.kernels = lib, {}

    def get_function(self, name):
        if name not in self.kernels:
            self.kernels[name] = HostKernel(getattr(self.lib, name), name)
        return self.kernels[name]


class HostKernel:
    """One kernel of a HostModule: called with NumPy arrays (passed by address, C-
    contiguous) and NumPy ints, in the kernel's parameter order."""

    def __init__(self, fn, name):
        self.fn, self.name, self.fn.restype = fn, name, None

    def __call__(self, grid, block, args):
        if self.fn.argtypes is None:       # arrays then the C ints, as the CUDA launch passes
            self.fn.argtypes = [ctypes.c_int if isinstance(a, np.integer) else ctypes.c_void_p
                                for a in args]
        c_args = []
        for a in args:
            if isinstance(a, np.ndarray):
                if not a.flags.c_contiguous:
                    raise ValueError(f"{self.name}: the host kernels index raw memory; an "
                                     f"argument of shape {a.shape} is not C-contiguous")
                a = a.__array_interface__["data"][0]
            c_args.append(a)
        self.fn(*c_args)


def compile_module(source):
    """The HostModule of ``source``; BackendUnavailable where host kernels do not run."""
    lib = module(source)
    if lib is None:
        raise BackendUnavailable(f"host kernels do not run: {status()[1]}")
    return HostModule(lib)


def full_source(source, vector_math=True):
    """What the compiler is given for ``source``: the host prelude, the math functions
    (libmvec's SIMD tanh, or the scalar one) and the source."""
    return _HOST + (_VECTOR_MATH if vector_math else _SCALAR_MATH) + source


def function(lib, name, pointers, ints=2):
    """Kernel ``name`` of ``lib``, called with ``pointers`` addresses then ``ints``
    C ints (a sequence kernel's n and U)."""
    fn = getattr(lib, name)
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p] * pointers + [ctypes.c_int] * ints
    return fn


def _build(full):
    """The path of the shared library of ``full``, compiled unless in the cache."""
    key = hashlib.sha1("\0".join([_compiler_id(), *FLAGS, _cpu(), full]).encode()).hexdigest()
    cache = os.environ.get("TINYGRAPH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tinygraph")
    os.makedirs(cache, exist_ok=True)
    lib = os.path.join(cache, f"host-kernels-{key[:20]}.so")
    if not os.path.exists(lib):
        src, tmp = lib[:-3] + f".{os.getpid()}.cpp", lib + f".{os.getpid()}.tmp"
        with open(src, "w") as f:
            f.write(full)
        try:
            subprocess.run([CXX, *FLAGS, "-o", tmp, src, "-lm"], check=True,
                           capture_output=True, text=True)
            os.replace(tmp, lib)            # atomic: another process may build it too
        finally:
            for path in (src, tmp):
                if os.path.exists(path):
                    os.remove(path)
    return lib


def compiler():
    """The C++ compiler's first line of ``--version``."""
    return _compiler_id().split(" ", 1)[1]


@functools.lru_cache(maxsize=None)
def _compiler_id():
    out = subprocess.run([CXX, "--version"], capture_output=True, text=True)
    return CXX + " " + out.stdout.split("\n")[0]


@functools.lru_cache(maxsize=None)
def _cpu():
    """What -march=native compiles for: the CPU's feature flags where Linux lists them."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return platform.machine() + " " + flags.strip()
