"""Weight initializers with Keras names, defaults and formulas. They return NumPy
arrays (weights start on the host). Used by layers and by ``tg.get_variable``."""
import math

import numpy as np

from tinygraph.ir.graph import get_default_graph
from tinygraph.ops.dtypes import as_dtype
from tinygraph.ops.shape_rules import user_shape

_global = [np.random.default_rng()]


def reseed(seed):
    """Seed the generator that unseeded initializers draw from in the default graph
    (None: back to fresh entropy). A new graph starts unseeded."""
    get_default_graph().initializer_rng = None if seed is None else np.random.default_rng(seed)


def _unseeded_rng():
    rng = get_default_graph().initializer_rng
    return _global[0] if rng is None else rng


def compute_fans(shape):
    """Keras fans: 1-D (n, n); 2-D (rows, cols); higher ranks multiply the receptive field."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Callable ``init(shape, dtype="float32") -> np.ndarray``."""

    name = None
    float_only = True        # draws real numbers: an integer dtype would truncate them

    def __init__(self, seed=None):
        self.seed = seed

    def _rng(self):
        return np.random.default_rng(self.seed) if self.seed is not None else _unseeded_rng()

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __call__(self, shape, dtype="float32"):
        what = f"initializer {self.name!r}"
        shape = user_shape(shape, what, allow_unknown=False)
        dtype = as_dtype(dtype, what)
        if self.float_only and dtype.kind != "f":
            raise TypeError(f"{what}: dtype must be a float dtype, got {dtype.name}")
        return np.asarray(self.sample(shape), dtype=dtype)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    name = "zeros"
    float_only = False

    def __init__(self):
        super().__init__(None)

    def get_config(self):
        return {}

    def sample(self, shape):
        return np.zeros(shape)


class Ones(Zeros):
    name = "ones"

    def sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    name = "constant"
    float_only = False

    def __init__(self, value=0.0):
        super().__init__(None)
        self.value = value

    def get_config(self):
        return {"value": self.value}

    def sample(self, shape):
        return np.broadcast_to(np.asarray(self.value, dtype=np.float64), shape).copy()


class RandomNormal(Initializer):
    name = "random_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}

    def sample(self, shape):
        return self._rng().normal(self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    name = "random_uniform"

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}

    def sample(self, shape):
        return self._rng().uniform(self.minval, self.maxval, shape)


class VarianceScaling(Initializer):
    """Keras VarianceScaling: scale / fan over a truncated normal, a normal or a uniform."""
    name = "variance_scaling"

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling: distribution must be truncated_normal, "
                             f"untruncated_normal or uniform, got {distribution!r}")
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(var), shape)
        # The constant is the stddev of a unit normal truncated at 2: the result has var.
        return truncated_normal(rng, 0.0, math.sqrt(var) / 0.87962566103423978, shape)


def truncated_normal(rng, mean, std, shape):
    """N(mean, std^2) with every value more than 2 std from the mean drawn again."""
    out = rng.normal(mean, std, shape)
    bad = np.abs(out - mean) > 2 * std
    while bad.any():
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = np.abs(out - mean) > 2 * std
    return out


class TruncatedNormal(Initializer):
    """Keras' TruncatedNormal: N(mean, stddev^2), values beyond 2 stddev drawn again."""
    name = "truncated_normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}

    def sample(self, shape):
        return truncated_normal(self._rng(), self.mean, self.stddev, shape)


class _Preset(VarianceScaling):
    """A VarianceScaling whose (scale, mode, distribution) Keras fixes; only the seed is
    an argument (and the config)."""
    preset = None

    def __init__(self, seed=None):
        super().__init__(*self.preset, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) over the whole kernel."""
    name, preset = "glorot_uniform", (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    name, preset = "glorot_normal", (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Preset):
    name, preset = "he_uniform", (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    name, preset = "he_normal", (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    name, preset = "lecun_uniform", (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    name, preset = "lecun_normal", (1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """QR of a normal matrix with the sign fix; rows orthonormal when rows < cols."""
    name = "orthogonal"

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}

    def sample(self, shape):
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer needs a shape of rank >= 2, got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


class Identity(Initializer):
    name = "identity"

    def __init__(self, gain=1.0):
        super().__init__(None)
        self.gain = gain

    def get_config(self):
        return {"gain": self.gain}

    def sample(self, shape):
        if len(shape) != 2:
            raise ValueError(f"identity initializer needs a 2-D shape, got {shape}")
        return self.gain * np.eye(*shape)


ALL = {cls.name: cls for cls in (Zeros, Ones, Constant, RandomNormal, RandomUniform,
                                  TruncatedNormal, VarianceScaling, GlorotUniform,
                                  GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
                                  Orthogonal, Identity)}


def get(identifier):
    """An initializer from a name, a config dict, an Initializer or a callable."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in ALL:
            raise ValueError(f"unknown initializer {identifier!r}; valid names: "
                             + ", ".join(sorted(ALL)))
        return ALL[key]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = get(identifier["class_name"]).__class__
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, (int, float, np.ndarray)):
        return Constant(identifier)
    raise ValueError(f"cannot interpret {identifier!r} as an initializer")


def serialize(init):
    if isinstance(init, Initializer):
        return {"class_name": init.name, "config": init.get_config()}
    raise ValueError(f"cannot serialize initializer {init!r}; use a named initializer")
