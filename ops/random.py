"""Random ops. With a seed, a Session draws the same sequence every time it is
created: run k of a seeded op gives the same numbers in every new Session. Without
one, draws differ between Sessions (unless ``tg.set_random_seed`` was called, which
derives a seed per op, as TF's graph-level seed does)."""
import itertools

import numpy as np

from tinygraph.ir.graph import Op, apply1, get_default_graph, register_op
from tinygraph.ir.spec import Spec

from .cast import cast
from .compare import less
from .dtypes import as_dtype
from .sources import shape_tensor


def set_random_seed(seed):
    """Seed of the default graph (as TF's graph-level seed; a new graph has none): random
    ops built afterwards without a seed get one derived from it; weight initializers
    without a seed draw from a generator seeded with it."""
    if seed is not None:
        seed = _op_seed(seed)        # the same rule as an op's seed
    g = get_default_graph()
    g.random_seed = seed
    g.random_ops = itertools.count()
    g.initializer_rng = None if seed is None else np.random.default_rng(seed)


def _op_seed(seed):
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
                or not 0 <= int(seed) < 2 ** 64:
            raise ValueError(f"seed must be an integer in [0, 2**64) (what every backend's "
                             f"generator takes), got {seed!r}")
        return int(seed)
    g = get_default_graph()
    if g.random_seed is not None:
        return (g.random_seed * 1_000_003 + next(g.random_ops)) % (2 ** 31)
    return None


def _check_random(lo, hi):
    def check(out):
        assert np.all((out >= lo) & (out <= hi)), "random values out of range"
    return check


class Random(Op):
    stateful = True
    differentiable = False

    def infer(self, *dims):
        static = shape_tensor(dims[0])[0] if dims else self.shape
        return static, self.dtype

    def _shape(self, be, dims):
        return tuple(int(d) for d in be.to_host(dims[0])) if dims else self.shape

    def label(self):
        return f"{self.name} seed={self.seed}" if self.seed is not None else self.name


def _make(cls, shape, dtype, seed, **attrs):
    static, dyn = shape_tensor(shape)
    dtype = as_dtype(dtype, cls.name)
    if dtype.kind != "f":
        raise TypeError(f"{cls.name}: dtype must be a float dtype, got {dtype.name}")
    op = cls(shape=static, dtype=dtype, seed=_op_seed(seed), **attrs)
    return apply1(op, [] if dyn is None else [dyn])


@register_op
class RandomUniform(Random):
    name = "random_uniform"
    specs = [Spec(lambda: random_uniform((50,), -1.0, 2.0, "float64", seed=3), [], order=0,
                  check=_check_random(-1, 2))]

    def compute(self, be, *dims):
        rng = be.rng(self, self.seed)
        return be.asarray(rng.uniform(self.minval, self.maxval, self._shape(be, dims)).astype(self.dtype))


@register_op
class RandomNormal(Random):
    name = "random_normal"
    specs = [Spec(lambda: random_normal((50,), 1.0, 0.1, "float64", seed=3), [], order=0,
                  check=_check_random(0.0, 2.0))]

    def compute(self, be, *dims):
        rng = be.rng(self, self.seed)
        return be.asarray(rng.normal(self.mean, self.stddev, self._shape(be, dims)).astype(self.dtype))


@register_op
class DropoutMask(Random):
    """0 with probability ``rate``, else 1/(1-rate) (inverted dropout)."""
    name = "dropout_mask"
    specs = [Spec(lambda: dropout_mask((200,), 0.25, "float64", seed=1), [], order=0,
                  check=lambda m: set(np.unique(m)) <= {0.0, 1 / 0.75})]

    def compute(self, be, *dims):
        rng = be.rng(self, self.seed)
        keep = rng.uniform(0.0, 1.0, self._shape(be, dims)) >= self.rate
        return be.asarray((keep / (1.0 - self.rate)).astype(self.dtype))


def random_uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    return _make(RandomUniform, shape, dtype, seed, minval=float(minval), maxval=float(maxval))


def random_normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    return _make(RandomNormal, shape, dtype, seed, mean=float(mean), stddev=float(stddev))


def dropout_mask(shape, rate, dtype="float32", seed=None):
    """An inverted-dropout mask: multiply activations by it while training."""
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"dropout_mask: rate must be in [0, 1), got {rate}")
    return _make(DropoutMask, shape, dtype, seed, rate=float(rate))


def random_bernoulli(shape, p=0.5, dtype="float32", seed=None):
    """1 with probability ``p``, else 0 (a composite of random_uniform)."""
    return cast(less(random_uniform(shape, dtype="float64", seed=seed), float(p)), dtype)
