"""Nested structures of fetches: lists, tuples, namedtuples and dicts."""
import copy


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def flatten(structure):
    """Leaves in a fixed order (dicts by sorted key)."""
    if isinstance(structure, dict):
        return [leaf for k in sorted(structure, key=repr) for leaf in flatten(structure[k])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def pack_as(structure, leaves):
    """Rebuild ``structure`` with ``leaves`` (from ``flatten``) in place of its leaves."""
    it = iter(leaves)

    def build(s):
        if isinstance(s, dict):
            built = {k: build(s[k]) for k in sorted(s, key=repr)}
            if type(s) is dict:
                return {k: built[k] for k in s}
            out = copy.copy(s)          # keeps a subclass's own state (a defaultdict's factory)
            out.clear()
            out.update((k, built[k]) for k in s)
            return out
        if _is_namedtuple(s):
            return type(s)(*[build(v) for v in s])
        if isinstance(s, (list, tuple)):
            return type(s)(build(v) for v in s)
        return next(it)

    return build(structure)


def map_structure(fn, structure):
    return pack_as(structure, [fn(x) for x in flatten(structure)])
