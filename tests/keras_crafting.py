"""Helpers for the Keras-file tests: the fixtures' paths and expectations, and files
crafted from them (edited configs, edited weights, extra archive members)."""
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras_models"
EXPECTED = FIXTURES / "expected.npz"


def fixture(name):
    """The path of a fixture model: ``.h5`` for tf-keras ones, else ``.keras``."""
    return FIXTURES / (name + (".h5" if name.startswith("tfk_") else ".keras"))


def expected(name):
    """(x, Keras' predict(x)) stored for a fixture model."""
    with np.load(EXPECTED, allow_pickle=False) as z:
        return z[name + "__x"], z[name + "__y"]


def model_names():
    with np.load(EXPECTED, allow_pickle=False) as z:
        return sorted({k.split("__")[0] for k in z.files if k.endswith("__y")})


def read_archive(path):
    """{member: bytes} of a .keras archive."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_archive(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def with_config(src, dst, edit):
    """A copy of the .keras archive ``src`` whose config.json is ``edit(config)``."""
    members = read_archive(src)
    config = json.loads(members["config.json"])
    members["config.json"] = json.dumps(edit(config) or config)
    return write_archive(dst, members)


def with_weights(src, dst, edit, tmp):
    """A copy of the .keras archive ``src`` whose model.weights.h5 went through
    ``edit(h5py.File)``."""
    import h5py
    members = read_archive(src)
    h5 = Path(tmp) / "edit.weights.h5"
    h5.write_bytes(members["model.weights.h5"])
    with h5py.File(h5, "r+") as f:
        edit(f)
    members["model.weights.h5"] = h5.read_bytes()
    return write_archive(dst, members)


def edited_h5(src, dst, edit):
    """A copy of the HDF5 file ``src`` after ``edit(h5py.File)``."""
    import h5py
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def replace_dataset(f, name, array):
    del f[name]
    f[name] = array
