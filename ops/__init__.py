"""Primitive ops (installed as ``tinygraph.ops``); every public name is also ``tg.<name>``.

Each op is one class in one module: its shape/dtype rule, its kernel against
``be.xp``, its VJP in tinygraph ops, and its test specs. Composites (softmax,
hard_sigmoid, clip_by_value, square, reduce_mean, ...) are plain functions.
"""
import types as _types

from .array import (concat, expand_dims, gather, getitem, one_hot, reshape, reshape_like,
                    reverse, split, squeeze, stack, transpose, unstack)
from .lstm import lstm_cell, lstm_sequence
from .math import (abs, add, add_n, cast, clip_by_value, divide, equal, exp, greater,
                   greater_equal, hard_sigmoid, hard_sigmoid_v1, identity, less, less_equal,
                   log, logical_not, maximum, minimum, multiply, negative, not_equal, power,
                   relu, sigmoid, sign, sqrt, square, stop_gradient, subtract, tanh,
                   unbroadcast, where)
from .random import (dropout_mask, random_bernoulli, random_normal, random_uniform,
                     set_random_seed)
from .reduce import (log_softmax, logsumexp, matmul, reduce_max, reduce_mean, reduce_sum,
                     softmax)
from .sources import (constant, fill, ones, ones_like, placeholder, shape, zeros,
                      zeros_like)
from .scan import scan
from .state import group
from .slicing import slice  # noqa: A004

__all__ = [n for n, v in dict(globals()).items()
           if not n.startswith("_") and not isinstance(v, _types.ModuleType)]

# Tensor's operators are ops: set on Tensor here, once every op exists
from .operators import install_tensor_operators  # noqa: E402

install_tensor_operators()
