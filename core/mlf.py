"""Model Library Format: a .tar holding a compiled model (docs/model-library-format.md).

Layout::

    metadata.json                       what the model is, its I/O, memory and operators
    codegen/host/src/NAME.c             the generated model
    codegen/host/include/NAME.h         its interface
    runtime/include/utvm/...            the runtime headers
    runtime/src/...                     the runtime sources (metadata lists the ones the model needs)
    src/graph.json                      the graph, without constant data

Reading refuses any member with an absolute path, a ``..`` component, or that
is not a regular file or directory (links, devices).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from .compiler import CompiledModel
from .errors import UtvmError

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
MLF_VERSION = 1
MAX_MEMBER_BYTES = 256 * 1024 * 1024


def runtime_files() -> dict[str, str]:
    """The runtime shipped with utvm, keyed by its path inside an archive (``runtime/...``)."""
    files = {}
    for path in sorted(RUNTIME_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".c", ".h"):
            files["runtime/" + path.relative_to(RUNTIME_DIR).as_posix()] = path.read_text()
    return files


def write_mlf(model: CompiledModel, path: Path, force: bool = False) -> Path:
    """Write ``model`` to ``path`` atomically; refuses to replace a file unless ``force``."""
    if path.exists() and not force:
        raise UtvmError(f"{path} already exists; pass --force (force=True) to overwrite it")
    if path.is_dir():
        raise UtvmError(f"{path} is a directory; give the path of the .tar to write")
    files = {"metadata.json": json.dumps(model.metadata, indent=2) + "\n"}
    files.update(runtime_files())
    files.update(model.files)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            for name in sorted(files):
                data = files[name].encode("utf-8")
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_member(member: tarfile.TarInfo) -> str:
    name = member.name
    pure = PurePosixPath(name)
    if name.startswith(("/", "\\")) or pure.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UtvmError(f"refusing archive member with an absolute path: {name!r}")
    if ".." in pure.parts:
        raise UtvmError(f"refusing archive member that climbs out with '..': {name!r}")
    if not (member.isfile() or member.isdir()):
        raise UtvmError(f"refusing archive member {name!r}: only regular files and folders are allowed, not links")
    if member.size > MAX_MEMBER_BYTES:
        raise UtvmError(f"refusing archive member {name!r}: {member.size} bytes is too large")
    return pure.as_posix()


def read_mlf(path: str | os.PathLike) -> CompiledModel:
    """Load a Model Library Format archive written by :func:`write_mlf`."""
    path = Path(path)
    try:
        tar = tarfile.open(path, mode="r:*")
    except FileNotFoundError:
        raise UtvmError(f"Model Library Format archive not found: {path}") from None
    except (tarfile.TarError, OSError) as exc:
        raise UtvmError(f"{path} is not a Model Library Format archive (.tar): {exc}") from None
    files: dict[str, str] = {}
    with tar:
        for member in tar.getmembers():
            name = _check_member(member)
            if member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                try:
                    files[name] = f.read().decode("utf-8")
                except UnicodeDecodeError:
                    raise UtvmError(f"{path}: member {name!r} is not UTF-8 text") from None
    if "metadata.json" not in files:
        raise UtvmError(f"{path} has no metadata.json: not a Model Library Format archive")
    try:
        metadata = json.loads(files.pop("metadata.json"))
        name = metadata["model"]
        for key in ("source", "header"):
            if metadata["files"][key] not in files:
                raise UtvmError(f"{path}: metadata names {metadata['files'][key]!r}, which the archive lacks")
    except (ValueError, KeyError, TypeError) as exc:
        raise UtvmError(f"{path}: metadata.json is malformed ({type(exc).__name__}: {exc})") from None
    if metadata.get("version") != MLF_VERSION:
        raise UtvmError(f"{path}: Model Library Format version {metadata.get('version')!r}, expected {MLF_VERSION}")
    return CompiledModel(name=name, metadata=metadata, files=files, graph=None)
