"""Variables: tensors whose value persists between runs."""
import numpy as np

from tinygraph.ir.graph import Tensor, apply, topo_nodes
from tinygraph.ir.nest import flatten

from .constant import convert_to_tensor
from .dtypes import as_dtype, lossless_cast, user_array
from .state import Assign, AssignAdd, ReadVariable


class Variable(Tensor):
    """A tensor whose value persists between runs.

    ``var.value`` is its NumPy value; ``var.assign_value(array)`` sets it now;
    ``var.assign(t)`` and ``var.assign_add(t)`` are graph ops that update it when run.
    In a graph it reads the value current at the start of each run. A device backend
    may hold the newest value on its device (``_set_device_value``); reading
    ``var.value`` copies it to the host then, once.
    """

    def __init__(self, initial_value, name=None, trainable=True, dtype=None):
        if isinstance(initial_value, Tensor):
            raise TypeError("Variable: initial_value must be a NumPy array or scalar, not a "
                            f"Tensor ({initial_value.name!r}); evaluate it first")
        if callable(initial_value):
            initial_value = initial_value()
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Variable: name must be a string, got {name!r}")
        what = f"Variable {name or ''}".rstrip()
        value = np.array(user_array(initial_value, what))
        if dtype is not None:
            value = np.array(lossless_cast(value, as_dtype(dtype, what), what))
        elif value.dtype == np.float64 and not isinstance(initial_value, np.ndarray):
            value = value.astype(np.float32)          # Python floats -> float32, as in TF
        self.trainable = bool(trainable)
        self.constraint = None     # set by layers: applied after optimizer updates
        self.regularizer = None
        self._value = value
        self._version = 0
        self._device_value = None       # (backend, array) newer than _value, or None
        node = apply(ReadVariable(var=self), [], name=name or "Variable")
        Tensor.__init__(self, node, 0, value.shape, value.dtype)
        node.outputs = (self,)

    @property
    def value(self):
        if self._device_value is not None:
            backend, array = self._device_value
            self._value = np.asarray(backend.to_host(array), dtype=self.dtype)
            self._device_value = None
        return self._value

    def _set_device_value(self, backend, array):
        """A run on ``backend`` stored ``array`` (a device array of the right shape and
        dtype): it is the value now, copied to the host only when someone reads it."""
        self._device_value = (backend, array)
        self._version += 1

    def assign_value(self, value):
        """Set the value now (shape and dtype must match; a safe cast is done)."""
        arr = user_array(value, f"Variable {self.name!r}")
        if arr.shape != self.shape:
            raise ValueError(f"Variable {self.name!r}: expected shape {self.shape}, got {arr.shape}")
        arr = lossless_cast(arr, self.dtype, f"Variable {self.name!r} ({self.dtype.name})")
        self._value = np.array(arr, dtype=self.dtype)
        self._device_value = None
        self._version += 1

    def assign(self, value, name=None):
        return apply(Assign(var=self), [convert_to_tensor(value, self.dtype)], name=name or "assign")

    def assign_add(self, delta, name=None):
        return apply(AssignAdd(var=self), [convert_to_tensor(delta, self.dtype)], name=name or "assign_add")

    def __repr__(self):
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype.name}>"

    __hash__ = Tensor.__hash__
    __eq__ = Tensor.__eq__


def assign_all(variables, values, what):
    """Set each Variable to its value, all or none: every value is converted and
    checked (numeric, shape, a cast that keeps values) before any is stored.
    Errors name ``what`` (the caller) and the Variable."""
    variables, values = list(variables), list(values)
    if len(values) != len(variables):
        names = ", ".join(f"{v.name} {v.shape}" for v in variables)
        raise ValueError(f"{what}: expected {len(variables)} arrays ({names}), got {len(values)}")
    staged = []
    for var, value in zip(variables, values):
        arr = user_array(value, f"{what}: weight {var.name!r}")
        if arr.shape != var.shape:
            raise ValueError(f"{what}: weight {var.name!r} has shape {var.shape}, the array "
                             f"given for it has shape {arr.shape}")
        staged.append(lossless_cast(arr, var.dtype, f"{what}: weight {var.name!r} ({var.dtype.name})"))
    for var, arr in zip(variables, staged):
        var.assign_value(arr)


def trainable_variables(fetches):
    """The trainable Variables that ``fetches`` read, in graph order."""
    out = []
    for node in topo_nodes(flatten(fetches)):
        if isinstance(node.op, ReadVariable) and node.op.var.trainable:
            out.append(node.op.var)
    return out
