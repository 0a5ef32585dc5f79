"""Keras weight files read into tinygraph layers (``load_keras_weights``), with h5py.

Two layouts, told apart by what the file holds, never by its name:

- Keras 3 (``.weights.h5``, and the ``model.weights.h5`` inside a ``.keras`` archive):
  a tree of groups that follows the model's structure. A model's layers sit under
  ``layers/``, each named after its CLASS in snake case, counted in layer order
  (``lstm``, ``lstm_1``, ...); a sublayer sits under the attribute that holds it
  (``cell``, ``forward_layer``, ``cells/lstm_cell_1``); a layer's own weights are the
  datasets ``vars/0``, ``vars/1``, ... (trainable first, in creation order).
- tf-keras / Keras 2 HDF5 (``save_weights("x.h5")``, and ``model_weights`` inside a
  ``.h5`` model file): one group per top-level layer, named after the LAYER, with a
  ``weight_names`` attribute listing its weights in ``layer.weights`` order. Layers are
  paired by name when every name is in the file, else in order of the layers that have
  weights (tf-keras' own rule); each weight is then checked by its own name.

Every weight is found and checked (shape, dtype) before any is assigned, and
``assign_all`` writes them all or none: a bad file leaves the model as it was.
"""
import re

import numpy as np

from tinygraph.ops.variables import assign_all


class KerasFileError(ValueError):
    """A Keras file that cannot be read into tinygraph layers: not a Keras file,
    truncated, refused content, or weights that do not fit. The message names the file
    and, where it is about one, the layer and the weight."""


def snake_case(name):
    """Keras' group name for a class: ``SimpleRNN`` -> ``simple_rnn``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def open_h5(source, path):
    """An h5py File on ``source`` (a path or a file object); KerasFileError naming
    ``path`` when it is not (or no longer) HDF5."""
    import h5py
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as err:
        raise KerasFileError(f"{path}: not a readable HDF5 file ({err})") from None


def children(layer):
    """``(group name, sublayer or list of sublayers)`` as Keras 3 saves them: a sublayer
    under the public attribute that holds it (``cell``, ``forward_layer``,
    ``backward_layer``, ``cells``); a model's layers, which no public attribute holds,
    under ``layers``."""
    subs = layer.sublayers
    is_sub = lambda v: any(v is s for s in subs)                      # noqa: E731
    found, named = [], []
    for attr, value in vars(layer).items():
        if attr.startswith("_"):
            continue
        if is_sub(value) and not any(value is n for n in named):
            found.append((attr, value))
            named.append(value)
        elif isinstance(value, (list, tuple)) and value and all(is_sub(v) for v in value):
            found.append((attr, list(value)))
            named.extend(value)
    rest = [s for s in subs if not any(s is n for n in named)]
    if rest:
        found.append(("layers", rest))
    return found


def class_group_names(layers):
    """Keras 3's names for the layers of one list: snake-case class, counted."""
    used, names = {}, []
    for layer in layers:
        base = snake_case(type(layer).__name__)
        n = used.get(base, -1) + 1
        used[base] = n
        names.append(base if n == 0 else f"{base}_{n}")
    return names


def _has_datasets(group):
    import h5py
    found = []
    group.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset)
                     else None)
    return bool(found)


def _checked(path, owner, var, dataset, where):
    """The dataset's array for ``var``, or KerasFileError naming file, layer (``owner``:
    its path of layer names, model layer first) and weight."""
    try:
        arr = np.asarray(dataset[()])
    except Exception as err:            # a truncated or corrupt dataset: h5py's own errors
        raise KerasFileError(f"{path}: layer {owner!r}: weight {var.name!r} at {where} "
                             f"cannot be read ({type(err).__name__}: {err})") from None
    if arr.shape != tuple(var.shape):
        raise KerasFileError(f"{path}: layer {owner!r}: weight {var.name!r} has shape "
                             f"{tuple(var.shape)}, the file's {where} has shape {arr.shape}")
    if arr.dtype != var.dtype:
        raise KerasFileError(f"{path}: layer {owner!r}: weight {var.name!r} is "
                             f"{var.dtype.name}, the file's {where} is {arr.dtype}; build the "
                             f"layer with dtype={arr.dtype.name!r} to load it")
    return arr


# ---------------------------------------------------------------------- Keras 3 layout

def _plan_keras3(layer, group, where, path, plan, owner):
    """Append (Variable, array) for ``layer`` and its sublayers, read from ``group``;
    ``owner`` names the layer in messages by its path of names (``lstm/lstm_cell``)."""
    own = layer.own_weights
    vars_group = group.get("vars") if group is not None else None
    stored = sorted((k for k in (vars_group or {}) if k.isdigit()), key=int)
    if own or stored:
        if vars_group is None:
            raise KerasFileError(f"{path}: layer {owner!r}: no group {where}/vars in the file "
                                 f"(it holds {', '.join(v.name for v in own)})")
        if len(stored) != len(own):
            raise KerasFileError(f"{path}: layer {owner!r}: the file's {where}/vars holds "
                                 f"{len(stored)} weights, the layer has {len(own)} ("
                                 + ", ".join(f"{v.name} {tuple(v.shape)}" for v in own) + ")")
        for k, var in zip(stored, own):
            plan.append((var, _checked(path, owner, var, vars_group[k], f"{where}/vars/{k}")))
    for attr, child in children(layer):
        sub = group.get(attr) if group is not None else None
        if isinstance(child, list):
            _plan_keras3_list(child, sub, f"{where}/{attr}", path, plan, owner)
        else:
            _need_group(child, sub, f"{where}/{attr}", path, f"{owner}/{child.name}")
            _plan_keras3(child, sub, f"{where}/{attr}", path, plan, f"{owner}/{child.name}")


def _need_group(layer, group, where, path, owner):
    if group is None and layer.weights:
        raise KerasFileError(f"{path}: layer {owner!r} ({type(layer).__name__}): no group "
                             f"{where} in the file, so none of its weights ("
                             + ", ".join(v.name for v in layer.weights) + ")")


def _plan_keras3_list(layers, group, where, path, plan, owner=None):
    names = class_group_names(layers)
    for layer, name in zip(layers, names):
        sub = group.get(name) if group is not None else None
        inner = layer.name if owner is None else f"{owner}/{layer.name}"
        _need_group(layer, sub, f"{where}/{name}", path, inner)
        _plan_keras3(layer, sub, f"{where}/{name}", path, plan, inner)
    extra = sorted(k for k in (group or {}) if k not in names and _has_datasets(group[k]))
    if extra:
        raise KerasFileError(f"{path}: the file has weights for layers the model lacks: "
                             + ", ".join(f"{where}/{k}" for k in extra)
                             + f" (the model's: {', '.join(names) or 'none'})")


def _single_layer_group(layer, root, path):
    """The group of a single (not model) layer in a model's Keras 3 file: the one whose
    layer name matches, else the only one of its class."""
    layers_group = root.get("layers")
    if layers_group is None:
        raise KerasFileError(f"{path}: no 'layers' group: not a Keras 3 weights file")
    by_name = [k for k in layers_group if "vars" in layers_group[k]
               and layers_group[k]["vars"].attrs.get("name") == layer.name]
    base = snake_case(type(layer).__name__)
    by_class = [k for k in layers_group if re.fullmatch(rf"{base}(_\d+)?", k)]
    found = by_name if len(by_name) == 1 else by_class
    if len(found) != 1:
        raise KerasFileError(f"{path}: cannot tell which group holds layer {layer.name!r} "
                             f"({type(layer).__name__}): the file's layers are "
                             f"{', '.join(sorted(layers_group))}; load the whole model instead")
    return layers_group[found[0]], f"layers/{found[0]}"


# ---------------------------------------------------------------------- tf-keras layout

def _strings(values):
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _short(name):
    """``lstm/lstm_cell/kernel:0`` -> ``kernel``."""
    return name.split("/")[-1].split(":")[0]


def _plan_tf_keras_layer(layer, group, path, plan):
    names = _strings(group.attrs.get("weight_names", []))
    variables = layer.weights
    if len(names) != len(variables):
        raise KerasFileError(f"{path}: layer {layer.name!r}: the file's group {group.name} holds "
                             f"{len(names)} weights ({', '.join(names) or 'none'}), the layer has "
                             f"{len(variables)} ({', '.join(v.name for v in variables) or 'none'})")
    for name, var in zip(names, variables):
        ours = _short(var.name)       # a graph may have suffixed it: embeddings_1
        if _short(name) not in (ours, re.sub(r"_\d+$", "", ours)):
            raise KerasFileError(f"{path}: layer {layer.name!r}: the file's weight {name!r} "
                                 f"stands where the layer has {var.name!r}")
        if name not in group:
            raise KerasFileError(f"{path}: layer {layer.name!r}: weight {name!r} is listed but "
                                 f"missing from group {group.name}")
        plan.append((var, _checked(path, layer.name, var, group[name], f"{group.name}/{name}")))


def _tf_keras_pairs(layers, root, path):
    """(layer, the file's group name) for every model layer with weights."""
    file_names = _strings(root.attrs["layer_names"])
    weighted_file = [n for n in file_names
                     if n in root and len(root[n].attrs.get("weight_names", []))]
    weighted = [layer for layer in layers if layer.weights]
    if all(layer.name in weighted_file for layer in weighted):
        pairs = [(layer, layer.name) for layer in weighted]
    elif len(weighted) == len(weighted_file):
        pairs = list(zip(weighted, weighted_file))
    else:
        raise KerasFileError(f"{path}: the file has weights for {len(weighted_file)} layers ("
                             f"{', '.join(weighted_file)}), the model has {len(weighted)} layers "
                             f"with weights ({', '.join(layer.name for layer in weighted)})")
    used = {name for _, name in pairs}
    extra = [n for n in weighted_file if n not in used]
    if extra:
        raise KerasFileError(f"{path}: the file has weights for layers the model lacks: "
                             + ", ".join(extra))
    return pairs


def _tf_keras_single(layer, root, path):
    """[(layer, group name)] for one layer of a tf-keras file: by its name, else the only
    layer of its class."""
    names = [n for n in _strings(root.attrs["layer_names"]) if n in root]
    base = snake_case(type(layer).__name__)
    same = [layer.name] if layer.name in names else \
        [n for n in names if re.fullmatch(rf"{base}(_\d+)?", n)]
    if len(same) != 1:
        raise KerasFileError(f"{path}: cannot tell which layer of the file is {layer.name!r}: it "
                             f"holds {', '.join(names)}; load the whole model instead")
    return [(layer, same[0])]


# ---------------------------------------------------------------------- entry points

def weights_plan(target, root, path, container):
    """Every (Variable, array) that ``target`` (a model when ``container``, else one
    layer) takes from the open HDF5 ``root``, all checked; nothing assigned yet."""
    plan = []
    tf_root = root["model_weights"] if "model_weights" in root else root
    if "layer_names" in tf_root.attrs:
        pairs = _tf_keras_pairs(target.layers, tf_root, path) if container else \
            _tf_keras_single(target, tf_root, path)
        for layer, name in pairs:
            _plan_tf_keras_layer(layer, tf_root[name], path, plan)
    elif "layers" in root or "vars" in root:
        if container:
            _plan_keras3_list(target.layers, root.get("layers"), "layers", path, plan)
        else:
            group, where = _single_layer_group(target, root, path)
            _plan_keras3(target, group, where, path, plan, target.name)
    else:
        raise KerasFileError(f"{path}: an HDF5 file without Keras weights (no 'layers' group and "
                             "no 'layer_names' attribute)")
    return plan


def assign(plan, path):
    """All the weights of ``plan`` at once, or none."""
    if plan:
        variables, arrays = zip(*plan)
        assign_all(variables, arrays, f"load_keras_weights({path})")
