"""Values shown on a picture: node id -> mean |x| of the arrays a user passes."""
import numpy as np

from tinygraph.ir import nest
from tinygraph.ir.graph import Node, Tensor


def magnitudes(values, fetches, nodes):
    """Node id -> mean |x| of ``values``: a dict Tensor (or Node, or tensor name) ->
    array, or the result of running ``fetches``."""
    mags = {}
    for node, a in node_arrays(values, fetches, nodes):
        m = float(np.mean(np.abs(a))) if a.size else 0.0
        mags[node.id] = m if node.id not in mags or not m <= mags[node.id] else mags[node.id]
    return mags


def node_arrays(values, fetches, nodes):
    """(node, float64 array) for each numeric value given in ``values`` (either form)."""
    if values is None:
        return
    for k, v in value_pairs(values, fetches, nodes):
        if k is None or v is None:
            continue
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        yield (k if isinstance(k, Node) else k.node), a


def value_pairs(values, fetches, nodes):
    """[(Tensor or Node, array)] from either form of ``values``."""
    if isinstance(values, dict) and not (isinstance(fetches, dict) and set(values) == set(fetches)):
        by_name = {t.name: t for n in nodes for t in n.outputs}
        pairs = []
        for k, v in values.items():
            if isinstance(k, str):
                if k not in by_name:
                    raise ValueError(f"to_dot: values names {k!r}, which is not in the picture")
                k = by_name[k]
            elif not isinstance(k, (Tensor, Node)):
                raise TypeError(f"to_dot: values keys must be Tensors, Nodes or tensor names, "
                                f"got {type(k).__name__}")
            pairs.append((k, v))
        return pairs
    keys, vals = nest.flatten(fetches), nest.flatten(values)
    if len(keys) != len(vals):
        raise ValueError(f"to_dot: values must be a dict Tensor -> array or the result of "
                         f"running the fetches ({len(keys)} leaves), got {len(vals)} leaves")
    return list(zip(keys, vals))
