"""Opening Keras model and weight files, safely: what a file is comes from its first
bytes (a zip archive is a Keras 3 ``.keras`` file, HDF5 a weights file or a tf-keras
``.h5`` model), never from its name, and nothing in it is executed, imported or
unpickled: configs are JSON, weights are HDF5 datasets read as plain arrays, and any
other member of an archive is never opened.

h5py (the optional extra ``keras``) reads HDF5; ``zipfile`` and ``json`` the rest.
"""
import contextlib
import io
import json
import zipfile

from .keras_weights import KerasFileError, assign, open_h5, weights_plan

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ARCHIVE_CONFIG, ARCHIVE_WEIGHTS = "config.json", "model.weights.h5"


def file_kind(path):
    """``"keras"`` (a zip archive) or ``"hdf5"``; KerasFileError naming ``path`` otherwise."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head == HDF5_MAGIC:
        return "hdf5"
    raise KerasFileError(f"{path}: not a Keras file: it is neither a .keras archive (zip) nor "
                         f"HDF5 (.h5, .weights.h5); it starts with {head!r}")


def _archive(path):
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise KerasFileError(f"{path}: a damaged or truncated .keras archive ({err})") from None
    return archive, names


def _member(archive, names, member, path):
    if member not in names:
        raise KerasFileError(f"{path}: the .keras archive has no {member} (it holds "
                             f"{', '.join(names) or 'nothing'})")
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise KerasFileError(f"{path}: {member} in the archive cannot be read ({err})") from None


def _json(text, what, path):
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise KerasFileError(f"{path}: {what} is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise KerasFileError(f"{path}: {what} is not a JSON object")
    return value


def _major(version, path):
    """The major version from a ``keras_version`` string (3 when absent: a .keras file)."""
    if version is None:
        return 3
    text = version.decode("utf8") if isinstance(version, bytes) else str(version)
    try:
        return int(text.split(".")[0])
    except ValueError:
        raise KerasFileError(f"{path}: keras_version {text!r} is not a version number") from None


def read_model_config(path):
    """``(config, keras major version)`` of a model file: a ``.keras`` archive's
    config.json (and metadata.json), or a ``.h5`` model file's ``model_config`` and
    ``keras_version`` attributes."""
    if file_kind(path) == "keras":
        archive, names = _archive(path)
        with archive:
            config = _json(_member(archive, names, ARCHIVE_CONFIG, path), ARCHIVE_CONFIG, path)
            meta = _json(archive.read("metadata.json"), "metadata.json", path) \
                if "metadata.json" in names else {}
        return config, _major(meta.get("keras_version"), path)
    with open_h5(path, path) as root:
        if "model_config" not in root.attrs:
            raise KerasFileError(f"{path}: an HDF5 file without a model_config attribute: a "
                                 "weights file, not a model; build the model in tinygraph and "
                                 "call its load_keras_weights")
        text = root.attrs["model_config"]
        version = root.attrs.get("keras_version")
    config = _json(text.decode("utf8") if isinstance(text, bytes) else str(text),
                   "the model_config attribute", path)
    return config, _major(version if version is not None else "2", path)


@contextlib.contextmanager
def weights_root(path):
    """The open HDF5 root that holds the weights: the archive's model.weights.h5 (read
    from memory) or the file itself."""
    if file_kind(path) == "keras":
        archive, names = _archive(path)
        with archive:
            data = _member(archive, names, ARCHIVE_WEIGHTS, path)
        with open_h5(io.BytesIO(data), f"{path} ({ARCHIVE_WEIGHTS})") as root:
            yield root
    else:
        with open_h5(path, path) as root:
            yield root


def load_weights_into(target, path, container):
    """Read the weights of ``path`` into ``target`` (a model when ``container``, else one
    layer): all checked, then all assigned, or none."""
    with weights_root(path) as root:
        try:
            plan = weights_plan(target, root, str(path), container)
        except (OSError, RuntimeError, KeyError) as err:      # h5py on a damaged file
            raise KerasFileError(f"{path}: a damaged or truncated HDF5 file ({err})") from None
    assign(plan, path)
