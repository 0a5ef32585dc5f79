"""The backend interface."""
import copy
import functools
import weakref

import numpy as np


class BackendUnavailable(RuntimeError):
    """The backend's library or device is missing on this machine."""


class Backend:
    """What a Session needs from a device.

    ``xp`` is the array namespace (numpy or cupy). ``kernels`` maps an op name to a
    function ``(op, backend, *arrays)`` that replaces ``op.compute`` on this backend
    (the CuPy backend's CUDA LSTM kernels use it; they also need the backend's
    ``compile_module(source)``). Each Session owns one instance, which holds the
    random streams of its seeded ops and any device copies of Variables and constants.
    """

    name = "base"
    xp = np
    kernels = {}

    def __init__(self):
        self._streams = {}
        self._function_plans = weakref.WeakKeyDictionary()   # dies with the loop body

    # transfer ------------------------------------------------------------
    def asarray(self, host_array):
        return self.xp.asarray(host_array)

    def to_host(self, array):
        return np.asarray(array)

    def constant(self, host_array):
        """A graph constant's array here (the graph's own frozen array on the host)."""
        return self.asarray(host_array)

    def owns(self, value):
        """Whether ``value`` is already an array of this backend's device (host
        backends say no: every value goes through ``np.asarray``)."""
        return False

    def result(self, array, keep_on_device=False):
        """A fetched value as the caller gets it: a host array of its own (values that
        alias a Variable or a constant are read-only here, so those are copied).
        ``keep_on_device`` matters only on device backends."""
        array = self.to_host(array)
        return array if array.flags.writeable else np.array(array)

    # variables -----------------------------------------------------------
    def read_variable(self, var):
        return var.value

    def write_variable(self, var, array):
        var.assign_value(self.to_host(array))

    # random --------------------------------------------------------------
    def rng(self, op, seed):
        """The generator of one random op: seeded ops replay the same stream in
        every new Session; unseeded ones start from fresh entropy."""
        key = id(op)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = (op, self.make_rng(seed))
        return stream[1]

    def make_rng(self, seed):
        return np.random.default_rng(seed)

    def save_streams(self):
        """A copy of the random streams, for ``restore_streams`` (a failed run must not
        advance them). A generator that cannot be copied keeps its place."""
        return dict(self._streams), {k: _copy(gen) for k, (_, gen) in self._streams.items()}

    def restore_streams(self, saved):
        entries, gens = saved
        self._streams.clear()
        self._streams.update({k: (op, gens[k]) for k, (op, _) in entries.items()})

    # compiled subgraphs ---------------------------------------------------
    # what compiles a Function here: the runtime's Plan, which tinygraph.runtime.plan
    # sets (backends sit below the runtime and do not import it)
    plan_class = None

    def plan_for(self, function):
        """The Plan of a Function (a loop body) on this backend, compiled once."""
        plan = self._function_plans.get(function)
        if plan is None:
            plan = self._function_plans[function] = self.plan_class(
                function.outputs, function.inputs, self)
        return plan

    # kernels -------------------------------------------------------------
    def kernel(self, op):
        """The function computing ``op`` here: an override, else ``op.compute``."""
        override = self.kernels.get(op.name)
        if override is None:
            return functools.partial(op.compute, self)
        return functools.partial(override, op, self)

    def fused_kernels(self):
        """How this backend runs the fused ops' gate math, in words (Session.explain)."""
        return None

    def scatter_add(self, out, indices, values):
        np.add.at(out, indices, values)


def _copy(gen):
    try:
        return copy.deepcopy(gen)
    except Exception:       # a device generator that cannot be copied keeps its place
        return gen
