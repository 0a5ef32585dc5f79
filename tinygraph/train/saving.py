"""save_weights / load_weights: ``.npz`` files, read with ``allow_pickle=False``.

The file holds one array per weight under ``"<index>:<name>"`` plus a format tag, so
loading checks the count, each shape and dtype before changing anything."""
import os
import zipfile

import numpy as np

from tinygraph.ops.variables import Variable, assign_all

FORMAT = "tinygraph-weights-v1"


def _variables(layer_or_vars, what):
    if hasattr(layer_or_vars, "weights"):
        return list(layer_or_vars.weights)
    if isinstance(layer_or_vars, Variable):
        return [layer_or_vars]
    if not isinstance(layer_or_vars, (list, tuple)):
        raise TypeError(f"{what}: expected a layer, a Variable or a list of them, got "
                        f"{type(layer_or_vars).__name__} {layer_or_vars!r}")
    items = list(layer_or_vars)
    out = []
    for item in items:
        out.extend(_variables(item, what) if not isinstance(item, Variable) else [item])
    return out


def save_weights(path, layer_or_vars):
    """Write the weights of a layer (or a list of layers / Variables) to ``path``."""
    variables = _variables(layer_or_vars, "save_weights")
    arrays = {f"{i}:{v.name}": v.value for i, v in enumerate(variables)}
    arrays["__format__"] = np.array(FORMAT)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_weights(path, layer_or_vars):
    """Read weights written by ``save_weights`` into the same structure. Nothing is
    assigned unless every weight matches in count, order, shape and dtype kind
    (weights are matched by position, as in Keras; names only label errors)."""
    variables = _variables(layer_or_vars, "load_weights")
    if os.path.exists(path) and not zipfile.is_zipfile(path):    # a .npy, a pickle, junk
        raise ValueError(f"load_weights: {path!r} is not a .npz weights file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"load_weights: {path!r} is not a readable .npz weights file ({e})") from None
    except ValueError as e:          # object arrays refuse to load without pickle
        raise ValueError(f"load_weights: {path!r} holds data that needs unpickling, which "
                         f"tinygraph never does ({e})") from None
    if str(files.pop("__format__", "")) != FORMAT:
        raise ValueError(f"load_weights: {path!r} was not written by tinygraph.save_weights "
                         f"(no {FORMAT!r} tag)")
    keys = _ordered_keys(path, files)
    if len(keys) != len(variables):
        raise ValueError(f"load_weights: {path!r} holds {len(keys)} weights, the target has "
                         f"{len(variables)}")
    for key, var in zip(keys, variables):
        _, name = key.split(":", 1)
        arr = files[key]
        if arr.shape != var.shape:
            raise ValueError(f"load_weights: weight {name!r} in the file has shape {arr.shape}, "
                             f"{var.name!r} expects {var.shape}")
        if arr.dtype.kind not in "fiub":
            raise ValueError(f"load_weights: weight {name!r} has dtype {arr.dtype}, not numeric")
        if not np.can_cast(arr.dtype, var.dtype, casting="same_kind"):
            raise ValueError(f"load_weights: weight {name!r} in the file is {arr.dtype.name}, "
                             f"{var.name!r} is {var.dtype.name}")
    assign_all(variables, [files[k] for k in keys], f"load_weights({path!r})")


def _ordered_keys(path, files):
    """The weight keys ``"<index>:<name>"`` in index order (numeric: "10000" after
    "9999"; older files padded the index to four digits, which reads the same)."""
    indexed = []
    for key in files:
        index, sep, _ = key.partition(":")
        if not sep or not index.isdigit():
            raise ValueError(f"load_weights: {path!r} holds an entry {key!r} that is not a "
                             "weight written by tinygraph.save_weights")
        indexed.append((int(index), key))
    indexed.sort()
    if [i for i, _ in indexed] != list(range(len(indexed))):
        raise ValueError(f"load_weights: {path!r} has gaps or repeats in its weight indices")
    return [k for _, k in indexed]
