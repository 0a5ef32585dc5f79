"""CUDA kernels and CuPy, emulated on the CPU, so that the CuPy backend's own code and
its CUDA kernels are tested on machines without a GPU.

- ``compile_module(source)`` compiles a CUDA module's source with the host C++
  compiler: ``__global__`` kernels become plain functions, and a launch with grid G and
  block B runs every one of the G*B threads in turn (``blockIdx``, ``threadIdx`` set
  for each), last thread first, so a kernel that misses elements with the launch's
  real geometry, or that depends on the order its threads run in, gives wrong numbers.
  Calls are checked more strictly than a GPU would: every array must be C-contiguous
  with the kernel's element type, every array a kernel writes must be writable, and
  scalars must be NumPy scalars of the parameter's C type (a GPU reads wrong memory
  instead).
- ``fake_cupy()`` is a module that stands in for ``cupy``: arrays are a "device"
  subclass of ndarray that refuses to mix with host arrays in one operation (CuPy
  raises TypeError there too), ``asnumpy`` copies back, ``RawModule`` is the CPU
  compiler above, ``random.RandomState`` draws with NumPy's Philox generator.

What this cannot show: GPU speed, cuBLAS rounding, and races between threads that run
at the same time (threads run one after another here).
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types

import numpy as np

CXX = shutil.which("g++") or shutil.which("c++")
SKIP_REASON = "no C++ compiler (g++) to run the CUDA kernels on the CPU"

PRELUDE = """\
#include <cmath>
#include <cstddef>
using std::tanh; using std::fmin; using std::fmax; using std::fabs;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
struct tg_emulated_dim3 { unsigned int x; };
static tg_emulated_dim3 blockIdx = {0}, blockDim = {1}, threadIdx = {0}, gridDim = {1};
"""

# One driver per kernel: runs all grid * block threads, last first.
DRIVER = """
extern "C" void tg_emulate_{name}(unsigned int grid, unsigned int block, {params}) {{
    gridDim.x = grid; blockDim.x = block;
    for (long t = (long)grid * block - 1; t >= 0; --t) {{
        blockIdx.x = (unsigned int)(t / block); threadIdx.x = (unsigned int)(t % block);
        {name}({args});
    }}
}}
"""

_C_SCALARS = {"int": (np.int32, ctypes.c_int), "float": (np.float32, ctypes.c_float),
              "double": (np.float64, ctypes.c_double)}
_CACHE = os.path.join(tempfile.gettempdir(), f"tinygraph-cuda-emulation-{os.getuid()}")
_built = {}


class Param:
    def __init__(self, text, ctype_of_T):
        text = " ".join(text.replace("__restrict", " ").split())
        self.pointer = "*" in text
        self.const = text.startswith("const ")
        base = text.replace("const ", "").split("*")[0].split()[0]
        self.ctype = ctype_of_T if base == "T" else base
        self.name = text.split()[-1].lstrip("*")


class EmulatedKernel:
    def __init__(self, lib, name, params, dtype):
        self.name, self.params, self.dtype = name, params, dtype
        self.fn = getattr(lib, "tg_emulate_" + name)
        self.fn.restype = None
        self.fn.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
            ctypes.c_void_p if p.pointer else _C_SCALARS[p.ctype][1] for p in params]
        self.launches = 0

    def __call__(self, grid, block, args):
        if not (isinstance(grid, tuple) and isinstance(block, tuple) and grid and block
                and all(isinstance(g, int) and g > 0 for g in grid + block)
                and int(np.prod(block)) <= 1024):
            raise ValueError(f"{self.name}: bad launch configuration grid={grid} block={block}")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(self.params)} arguments expected, got {len(args)}")
        c_args = []
        for p, a in zip(self.params, args):
            if p.pointer:
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{self.name}: argument {p.name!r} must be an array, "
                                    f"got {type(a).__name__}")
                if a.dtype != np.dtype(_C_SCALARS[p.ctype][0]):
                    raise TypeError(f"{self.name}: argument {p.name!r} is {a.dtype}, the kernel "
                                    f"reads {p.ctype}")
                if not a.flags.c_contiguous:
                    raise ValueError(f"{self.name}: argument {p.name!r} is not C-contiguous")
                if not p.const and not a.flags.writeable:
                    raise ValueError(f"{self.name}: argument {p.name!r} is written but read-only")
                c_args.append(a.ctypes.data)
            else:
                want = _C_SCALARS[p.ctype][0]
                if type(a) is not want:
                    raise TypeError(f"{self.name}: scalar {p.name!r} must be {want.__name__}, "
                                    f"got {type(a).__name__}")
                c_args.append(a)
        self.launches += 1
        self.fn(int(np.prod(grid)), int(np.prod(block)), *c_args)


def _build(source):
    """(library, kernel signatures, dtype) of ``source``, compiled once per process
    (and kept on disk between runs, by hash of the source)."""
    if source in _built:
        return _built[source]
    full = PRELUDE + source
    expanded = subprocess.run([CXX, "-E", "-P", "-x", "c++", "-"], input=full, check=True,
                              capture_output=True, text=True).stdout
    ctype_of_T = re.search(r"typedef\s+(\w+)\s+T\s*;", expanded).group(1)
    found = re.findall(r'extern\s+"C"\s+void\s+(\w+)\s*\(([^)]*)\)', expanded)
    signatures = {name: [Param(p, ctype_of_T) for p in params.split(",") if p.strip()]
                  for name, params in found}
    full += "".join(DRIVER.format(name=name, params=" ".join(params.split()),
                                  args=", ".join(p.name for p in signatures[name]))
                    for name, params in found)
    key = hashlib.sha1(full.encode()).hexdigest()[:16]
    os.makedirs(_CACHE, exist_ok=True)
    src, lib = os.path.join(_CACHE, key + ".cpp"), os.path.join(_CACHE, key + ".so")
    if not os.path.exists(lib):
        with open(src, "w") as f:
            f.write(full)
        tmp = lib + f".{os.getpid()}.tmp"
        subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-o", tmp, src], check=True,
                       capture_output=True, text=True)
        os.replace(tmp, lib)
    _built[source] = (ctypes.CDLL(lib), signatures, np.dtype(_C_SCALARS[ctype_of_T][0]))
    return _built[source]


class EmulatedModule:
    """What ``cupy.RawModule(code=source)`` gives: kernels by name (each counts its
    launches)."""

    def __init__(self, source):
        self.source = source
        self.lib, self.signatures, self.dtype = _build(source)
        self.kernels = {}

    def get_function(self, name):
        if name not in self.signatures:
            raise AttributeError(f"the module has no kernel {name!r}")
        if name not in self.kernels:
            self.kernels[name] = EmulatedKernel(self.lib, name, self.signatures[name], self.dtype)
        return self.kernels[name]


compile_module = EmulatedModule


# ------------------------------------------------------------------------ fake cupy

class DeviceArray(np.ndarray):
    """An array "on the device": operations with host (plain ndarray) arrays raise;
    indexing and reductions give 0-d device arrays, not NumPy scalars (as in CuPy)."""

    def __getitem__(self, key):
        return _device(super().__getitem__(key))

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kw):
        _no_host_arrays(ufunc.__name__, inputs + (out or ()))
        inputs = tuple(_host_view(x) for x in inputs)
        if out is not None:
            kw["out"] = tuple(_host_view(x) for x in out)
        return _device(getattr(ufunc, method)(*inputs, **kw))

    def __array_function__(self, func, types_, args, kwargs):
        _no_host_arrays(func.__name__, list(args) + list(kwargs.values()))
        return _device(super().__array_function__(func, types_, args, kwargs))


def _no_host_arrays(what, values):
    for v in values:
        if isinstance(v, (list, tuple)):
            _no_host_arrays(what, v)
        elif type(v) is np.ndarray and v.ndim > 0:
            raise TypeError(f"emulated CuPy: {what} was given a host numpy array "
                            f"(shape {v.shape}) together with device arrays")


def _host_view(x):
    return x.view(np.ndarray) if isinstance(x, DeviceArray) else x


def _owned(host):
    """A DeviceArray that owns a copy of ``host`` (``base`` None, as a fresh CuPy array)."""
    out = np.ndarray.__new__(DeviceArray, host.shape, host.dtype)
    out.view(np.ndarray)[...] = host
    return out


def _device(result):
    if type(result) is np.ndarray:     # fresh results own their memory, views do not
        return _owned(result) if result.base is None else result.view(DeviceArray)
    if isinstance(result, np.generic):
        return _owned(np.asarray(result))
    if isinstance(result, (list, tuple)):
        return type(result)(_device(r) for r in result)
    return result


def _wrap(fn):
    def call(*args, **kwargs):
        return _device(fn(*args, **kwargs))
    call.__name__ = getattr(fn, "__name__", "function")
    return call


class _RandomState:
    """cupy.random.RandomState's interface and seed range (0 to 2**64 - 1); a stream
    of its own (Philox), not the NumPy backend's numbers."""

    def __init__(self, seed=None):
        self._rs = np.random.Generator(np.random.Philox(seed))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return _device(np.asarray(self._rs.uniform(low, high, size), dtype=dtype))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return _device(np.asarray(self._rs.normal(loc, scale, size), dtype=dtype))


def fake_cupy():
    """A module that passes for ``cupy`` with one CUDA device."""
    mod = types.ModuleType("cupy")
    mod.__emulated__ = True
    mod.ndarray = DeviceArray
    mod.asarray = lambda a, dtype=None: _owned(np.asarray(_host_view(a), dtype=dtype))
    mod.asnumpy = lambda a: np.array(a.view(np.ndarray) if isinstance(a, DeviceArray) else a)
    mod.RawModule = lambda code, **options: compile_module(code)
    mod.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    mod.random = types.SimpleNamespace(RandomState=_RandomState)

    def __getattr__(name):
        attr = getattr(np, name)
        if callable(attr) and not isinstance(attr, type):
            return _wrap(attr)
        return attr
    mod.__getattr__ = __getattr__
    return mod


def fake_cupyx():
    mod = types.ModuleType("cupyx")

    def scatter_add(out, indices, values):
        _no_host_arrays("scatter_add", [out, indices, values])
        np.add.at(_host_view(out), indices if not isinstance(indices, DeviceArray)
                  else _host_view(indices), _host_view(values))
    mod.scatter_add = scatter_add
    return mod
