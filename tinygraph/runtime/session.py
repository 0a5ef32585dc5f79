"""Sessions: running graphs.

A ``Session`` validates feeds, runs the passes (``optimize=True``), caches one Plan
(tinygraph.runtime.plan) per (fetches, fed keys), and commits Variable updates
only when a run succeeds.
"""
import collections
import collections.abc
import threading

import tinygraph.backends as backends
from tinygraph.compile.pipeline import optimize_for_run
from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor, fmt_shape, get_default_graph, topo_nodes
from tinygraph.ops.dtypes import lossless_cast, user_array
from tinygraph.runtime.explain import Explanation
from tinygraph.runtime.plan import Plan

_default_sessions = []

# Runs that update Variables hold this lock from their first read of a Variable to
# their commit, so concurrent updating runs (any Session, any thread) never lose an
# update; runs that only read take no lock and run concurrently.
_UPDATE_LOCK = threading.RLock()

MAX_PLANS = 64      # compiled plans a Session keeps (least recently used go first)


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
        self._plans = collections.OrderedDict()     # key -> (graph, Plan), LRU order
        self._compile_lock = threading.Lock()
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
        what = f"feed for {t.name!r}"
        if isinstance(value, Tensor):
            raise TypeError(f"{what}: got the symbolic tensor {value.name!r}; feed arrays "
                            "or numbers (run the tensor first to get its value)")
        try:
            arr = value if on_device else user_array(value, what)
        except TypeError as e:
            raise ValueError(str(e)) from None
        if arr.ndim != len(t.shape) or any(d is not None and d != a for d, a in zip(t.shape, arr.shape)):
            raise ValueError(f"{what}: expected shape {fmt_shape(t.shape)}, "
                             f"got {tuple(arr.shape)}")
        if arr.dtype != t.dtype:
            arr = lossless_cast(arr, t.dtype, what)
        return arr

    # ------------------------------------------------------------------ compile
    def _plan(self, flat, fed):
        key = (tuple((f.node.id, f.index) if isinstance(f, Tensor) else ("node", f.id)
                     for f in flat), tuple(sorted((t.node.id, t.index) for t in fed)))
        with self._compile_lock:        # passes build nodes: one compile at a time
            hit = self._plans.get(key)
            if hit is not None:
                self._plans.move_to_end(key)
                return hit[1]
            plan = self._compile(flat, fed)
            # bounded: graphs a user dropped (or left by reset_default_graph) go first
            for k in [k for k, (g, _) in self._plans.items() if g is not None and g.retired]:
                del self._plans[k]
            self._plans[key] = (_graph_of(flat[0]) if flat else None, plan)
            while len(self._plans) > MAX_PLANS:
                self._plans.popitem(last=False)
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
        if feed_dict is not None and not isinstance(feed_dict, collections.abc.Mapping):
            raise TypeError(f"Session.run: feed_dict must be a dict mapping placeholders "
                            f"(or their names) to values, got {type(feed_dict).__name__}")
        feeds = {}
        for k, v in (feed_dict or {}).items():
            t = self._resolve_key(k)
            feeds[t] = self._check_feed(t, v)
        fed = list(feeds)
        plan = self._plan(flat, fed)
        be = self.backend
        inputs = [be.asarray(feeds[t]) for t in fed]
        if plan.updates:
            with _UPDATE_LOCK:
                values = self._run_and_commit(plan, inputs)
        else:
            values = self._run_and_commit(plan, inputs)
        values = [None if v is None else be.result(v, keep_on_device) for v in values]
        return nest.pack_as(fetches, values)

    def _run_and_commit(self, plan, inputs):
        """Run ``plan``; commit its Variable updates only if the whole run succeeded,
        and leave the seeded random streams as they were if it failed."""
        be = self.backend
        streams = be.save_streams()
        updates = {}
        try:
            values = plan.run(inputs, updates)
        except BaseException:
            be.restore_streams(streams)
            raise
        for var, value in updates.items():        # staged and checked: none can fail
            be.write_variable(var, value)
        self.last_run_stats = dict(plan.stats)
        return values

    def explain(self, fetches, feed_dict=None):
        """What running ``fetches`` would do: the kernels in order, fused kernels, and
        for every LSTM-like subgraph left unfused, why."""
        flat = nest.flatten(fetches)
        for f in flat:
            if not isinstance(f, (Tensor, Node)):
                raise TypeError(f"Session.explain: cannot explain {type(f).__name__} {f!r}; "
                                "pass Tensors or ops")
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
