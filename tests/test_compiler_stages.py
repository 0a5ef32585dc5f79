"""The compiler's stages: gradient records that die with their gradient graphs,
and gradients taken again of the optimized forward."""
import gc
import weakref

import numpy as np

import tinygraph as tg


def _build_and_drop_gradients(n):
    """Weak references to the forward nodes, gradient nodes and records of ``n``
    gradient graphs, all dropped again."""
    refs = []
    for _ in range(n):
        x = tg.placeholder((3,), "float64")
        y = tg.reduce_sum(tg.tanh(x) * x)
        (gx,) = tg.gradients(y, [x])
        refs += [weakref.ref(y.node), weakref.ref(gx.node), weakref.ref(gx.grad_record[0])]
    return refs


def test_dropped_gradient_graphs_are_freed():
    """The graph that built them stays; the gradient graphs and their records go."""
    graph = tg.Graph()
    with graph.as_default():
        refs = _build_and_drop_gradients(50)
    gc.collect()
    alive = [r for r in refs if r() is not None]
    assert not alive, f"{len(alive)} of {len(refs)} nodes and records outlive their graphs"
    assert not [name for name in vars(graph) if "record" in name]


def test_numpy_grad_ys_are_kept_when_gradients_are_taken_again():
    x = tg.placeholder((3,), "float64")
    (g,) = tg.gradients(tg.tanh(x) * 2.0, [x], grad_ys=np.array([1.0, 10.0, 100.0]))
    feed = {x: np.array([0.1, 0.2, 0.3])}
    np.testing.assert_allclose(tg.Session(optimize=True).run(g, feed),
                               tg.Session(optimize=False).run(g, feed), rtol=1e-12)
