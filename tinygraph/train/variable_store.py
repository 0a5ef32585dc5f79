"""The TF1 variable store: ``variable_scope`` and ``get_variable``."""
import contextlib

import numpy as np

from tinygraph.ir.graph import get_default_graph, name_scope
from tinygraph.ops.state import group
from tinygraph.ops.dtypes import as_dtype
from tinygraph.ops.shape_rules import user_shape
from tinygraph.ops.variables import Variable
from tinygraph.train import initializers

AUTO_REUSE = "auto_reuse"


@contextlib.contextmanager
def variable_scope(name, reuse=None):
    """TF1 variable scope: prefixes variable and node names; ``reuse=True`` makes
    ``get_variable`` return existing variables (and require that they exist);
    ``reuse=AUTO_REUSE`` creates or reuses. Reuse is inherited by inner scopes."""
    g = get_default_graph()
    if reuse not in (None, True, False, AUTO_REUSE):
        raise ValueError(f"variable_scope: reuse must be None, True, False or "
                         f"tg.AUTO_REUSE, got {reuse!r}")
    outer = g.variable_scopes[-1][1] if g.variable_scopes else None
    effective = reuse if reuse not in (None, False) else outer
    g.variable_scopes.append((name, effective))
    try:
        with name_scope(name):
            yield
    finally:
        g.variable_scopes.pop()


def get_variable(name, shape=None, dtype="float32", initializer=None, trainable=True):
    """Create or (under a reusing scope) fetch the Variable ``<scopes>/name``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"get_variable: name must be a non-empty string, got {name!r}")
    g = get_default_graph()
    full = "/".join([s for s, _ in g.variable_scopes] + [name])
    reuse = g.variable_scopes[-1][1] if g.variable_scopes else None
    dtype = as_dtype(dtype, f"get_variable({full!r})")
    if shape is not None:
        shape = user_shape(shape, f"get_variable({full!r})", allow_unknown=False)
    existing = g.variable_store.get(full)
    if existing is not None:
        if reuse not in (True, AUTO_REUSE):
            raise ValueError(f"Variable {full} already exists. To share it, open its scope "
                             "with reuse=True (or tg.AUTO_REUSE)")
        if shape is not None and tuple(shape) != existing.shape:
            raise ValueError(f"Variable {full}: asked for shape {tuple(shape)}, it has "
                             f"{existing.shape}")
        if dtype != existing.dtype:
            raise ValueError(f"Variable {full}: asked for dtype {dtype.name}, it has "
                             f"{existing.dtype.name}")
        return existing
    if reuse is True:
        raise ValueError(f"Variable {full} does not exist, and its scope has reuse=True; "
                         "create it first or use tg.AUTO_REUSE")
    if shape is None:
        raise ValueError(f"get_variable({full!r}): a new variable needs a shape")
    init = initializers.get(initializer if initializer is not None else "glorot_uniform")
    value = np.asarray(init(shape, dtype), dtype=dtype)
    saved = g._scope
    g._scope = []                        # the variable's name is its full store name
    try:
        var = Variable(value, name=full, trainable=trainable, dtype=dtype)
    finally:
        g._scope = saved
    g.variable_store[full] = var
    return var


def global_variables_initializer(name="init"):
    """TF1's ``tf.global_variables_initializer()``, so that ported code runs unchanged.

    In tinygraph a Variable holds its value from the moment it is created (its
    initializer ran then, on the host), so nothing is left to initialize: this returns
    an op that does nothing when run. Unlike TF1, running it again does NOT reset the
    variables; to restore values use ``layer.set_weights`` or ``tg.load_weights``
    (docs/porting-tf1.md)."""
    return group(name=name)
