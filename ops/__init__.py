"""Primitive ops (installed as ``tinygraph.ops``); every public name is also ``tg.<name>``.

Each op is one class in one module: its shape/dtype rule, its kernel against
``be.xp``, its VJP in tinygraph ops, and its test specs. Composites (softmax,
hard_sigmoid, clip_by_value, square, reduce_mean, ...) are plain functions.

The modules from the bottom up (a module imports only modules above it here):
dtypes, shape_rules    dtype defaults; static shape rules (broadcasting, axes)
activation_kernels     the activations' array kernels (no graph)
constant               constants; ``convert_to_tensor`` turns any value into a tensor
elementwise            the Unary/Binary shape rules and the function of each op
cast, compare          dtype changes: cast; comparisons and logical_not
sources, array         placeholders, fills, shapes; shape ops (reshape, concat, ...)
indexing               x[index], slice, gather
reduce                 reductions, and broadcasting, the gradient of a sum (unbroadcast)
math, linalg, nn       elementwise math; matmul and einsum; the softmax family
reductions             reduce_min/prod/any/all, argmax/argmin, cumsum
pad_tile               tile and pad
activations, random, scan, state, lstm_step, lstm_kernels, lstm, gru_step, gru_kernels,
gru, variables
"""
import types as _types

from .array import (concat, expand_dims, one_hot, reshape, reshape_like, reverse, split,
                    squeeze, stack, transpose, unstack)
from .cast import cast
from .compare import (equal, greater, greater_equal, less, less_equal, logical_and,
                      logical_not, logical_or, logical_xor, not_equal)
from .constant import constant, convert_to_tensor
from .gru import gru_cell, gru_sequence
from .indexing import gather, getitem, slice  # noqa: A004 -- tg.slice, as in TF
from .linalg import einsum, matmul
from .lstm import lstm_cell, lstm_sequence
from .math import (abs, add, add_n, clip_by_value, divide, exp, floor, hard_sigmoid,
                   hard_sigmoid_v1, identity, log, maximum, minimum, multiply, negative, power,
                   relu, round, sigmoid, sign, softplus, sqrt, square, stop_gradient, subtract,
                   tanh, where)
from .nn import log_softmax, logsumexp, softmax
from .pad_tile import pad, tile
from .random import (dropout_mask, random_bernoulli, random_normal, random_uniform,
                     set_random_seed)
from .reduce import reduce_max, reduce_mean, reduce_sum, unbroadcast
from .reductions import (argmax, argmin, cumsum, reduce_all, reduce_any, reduce_min,
                         reduce_prod)
from .sources import fill, ones, ones_like, placeholder, shape, zeros, zeros_like
from .scan import scan
from .state import group

__all__ = [n for n, v in dict(globals()).items()
           if not n.startswith("_") and not isinstance(v, _types.ModuleType)]

# Tensor's operators are ops: set on Tensor here, once every op exists
from .operators import install_tensor_operators  # noqa: E402

install_tensor_operators()
