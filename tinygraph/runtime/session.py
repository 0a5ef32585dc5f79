"""Sessions: running graphs.

A ``Session`` validates feeds, runs the passes (``optimize=True``), caches one Plan
(tinygraph.runtime.plan) per (fetches, fed keys), and commits Variable updates
only when a run succeeds.
"""
import numpy as np

import tinygraph.backends as backends
from tinygraph.compile.pipeline import optimize_for_run
from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor, fmt_shape, get_default_graph, topo_nodes
from tinygraph.runtime.explain import Explanation
from tinygraph.runtime.plan import Plan

_default_sessions = []


class Session:
    """Runs graphs: ``Session(backend=None, optimize=True, check_numerics=False)``.

    ``backend`` is a name from ``tg.backends.available()`` or a Backend instance;
    ``None`` means ``tg.backends.default()`` ("numpy" unless ``tg.backends.set_default``
    or the ``TINYGRAPH_BACKEND`` environment variable says otherwise).
    ``liveness=False`` keeps every intermediate buffer alive until the run ends (only
    useful to measure what liveness saves).
    """

    def __init__(self, backend=None, optimize=True, check_numerics=False, *, liveness=True):
        self.backend = backends.get(backend)
        self.optimize = bool(optimize)
        self.check_numerics = bool(check_numerics)
        self.liveness = bool(liveness)
        self._plans = {}
        self.last_run_stats = {}
        self.graph = get_default_graph()

    def __enter__(self):
        _default_sessions.append(self)
        return self

    def __exit__(self, *exc):
        _default_sessions.remove(self)
        self.close()

    def close(self):
        self._plans.clear()

    # ------------------------------------------------------------------ feeds
    def _resolve_key(self, key):
        if isinstance(key, Tensor):
            return key
        if isinstance(key, str):
            t = self.graph.placeholders.get(key)
            if t is None:
                t = get_default_graph().placeholders.get(key)
            if t is None:
                raise ValueError(f"feed_dict key {key!r} is not the name of a placeholder")
            return t
        raise ValueError(f"feed_dict keys must be Tensors or placeholder names, got "
                         f"{type(key).__name__} {key!r}")

    def _check_feed(self, t, value):
        """The fed value as an array of ``t``'s dtype; device arrays of this Session's
        backend (say, a ``keep_on_device`` result) are checked and stay on the device."""
        on_device = self.backend.owns(value)
        arr = value if on_device else np.asarray(value)
        if arr.dtype == object:
            raise ValueError(f"feed for {t.name!r}: cannot convert {type(value).__name__} to an array")
        if arr.ndim != len(t.shape) or any(d is not None and d != a for d, a in zip(t.shape, arr.shape)):
            raise ValueError(f"feed for {t.name!r}: expected shape {fmt_shape(t.shape)}, "
                             f"got {tuple(arr.shape)}")
        if arr.dtype != t.dtype:
            lossy_float = arr.dtype.kind == "f" and t.dtype.kind == "f"
            if not (lossy_float or np.can_cast(arr.dtype, t.dtype, casting="same_kind")):
                raise ValueError(f"feed for {t.name!r}: expected {t.dtype.name}, got "
                                 f"{arr.dtype.name}, which cannot be converted safely")
            arr = arr.astype(t.dtype)
        return arr

    # ------------------------------------------------------------------ compile
    def _plan(self, flat, fed):
        key = (tuple((f.node.id, f.index) if isinstance(f, Tensor) else ("node", f.id)
                     for f in flat), tuple(sorted((t.node.id, t.index) for t in fed)))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._compile(flat, fed)
            self._plans[key] = plan
        return plan

    def _compile(self, flat, fed):
        outputs, inputs = list(flat), list(fed)
        report = None
        if self.optimize and outputs:
            # rewrites build nodes in the fetches' graph, whatever the default is now
            with _graph_of(outputs[0]).as_default():
                outputs, inputs, report = optimize_for_run(outputs, inputs)
        plan = Plan(outputs, inputs, self.backend, self.check_numerics, self.liveness)
        plan.report = report
        return plan

    # ------------------------------------------------------------------ run
    def run(self, fetches, feed_dict=None, keep_on_device=False):
        """Evaluate ``fetches`` (a Tensor, a Node, or any nest of them)."""
        flat = nest.flatten(fetches)
        for f in flat:
            if not isinstance(f, (Tensor, Node)):
                raise TypeError(f"Session.run: cannot fetch {type(f).__name__} {f!r}; "
                                "fetch Tensors or ops")
        feeds = {}
        for k, v in (feed_dict or {}).items():
            t = self._resolve_key(k)
            feeds[t] = self._check_feed(t, v)
        fed = list(feeds)
        plan = self._plan(flat, fed)
        be = self.backend
        updates = {}
        values = plan.run([be.asarray(feeds[t]) for t in fed], updates)
        for var, value in updates.items():        # all-or-nothing: only after success
            be.write_variable(var, value)
        self.last_run_stats = dict(plan.stats)
        values = [None if v is None else be.result(v, keep_on_device) for v in values]
        return nest.pack_as(fetches, values)

    def explain(self, fetches, feed_dict=None):
        """What running ``fetches`` would do: the kernels in order, fused kernels, and
        for every LSTM-like subgraph left unfused, why."""
        flat = nest.flatten(fetches)
        if feed_dict is None:          # assume every placeholder the fetches read is fed
            fed = [n.outputs[0] for n in topo_nodes(flat) if n.op.is_placeholder]
        else:
            fed = [self._resolve_key(k) for k in feed_dict]
        return Explanation(self._plan(flat, fed), self.optimize)


def _graph_of(fetch):
    return (fetch.node if isinstance(fetch, Tensor) else fetch).graph


def get_default_session():
    return _default_sessions[-1] if _default_sessions else None


def evaluate(fetches, feed_dict=None, session=None, **session_kwargs):
    """Run ``fetches`` once: in ``session``, else the ``with``-entered default Session,
    else a new ``Session(**session_kwargs)``."""
    sess = session or (None if session_kwargs else get_default_session()) or Session(**session_kwargs)
    return sess.run(fetches, feed_dict)


def _tensor_eval(self, feed_dict=None, session=None):
    """The value of this tensor (``evaluate``: in ``session``, else the default
    Session, else a new one)."""
    return evaluate(self, feed_dict=feed_dict, session=session)


# Tensor.eval runs a Session: the IR cannot import the runtime, so the runtime sets it
Tensor.eval = _tensor_eval
