"""The files a project server generated, and regenerating a project in place.

``generate_project`` (:class:`~utvm.project_api.server.ProjectServer`) has the plugin write the
project into an empty staging folder, then :func:`update_project` brings the project folder to
that content: a file is written only when its bytes differ from what the folder holds (so its
modification time, which make and ninja go by, changes only then), a file or link generated the
last time and not this time is deleted, and nothing else is touched: the build folder and the
user's own files stay. The project records what was generated in :data:`MANIFEST`, with the
platform and board it was generated for: a folder holding the manifest of the same platform and
board is the only non-empty folder ``generate_project`` accepts (docs/project-api.md).

:func:`generate_in_place` is that whole step; :func:`write_if_changed` is the rule for a single
file; :func:`make_command_files` gives generated Makefiles the rules that rebuild on new flags.
Nothing here imports numpy or the compiler.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable, Mapping

from .errors import ProjectError

#: The record of a generated project's files, in the project folder (not itself listed).
MANIFEST = "utvm-generated.json"
MANIFEST_FORMAT = 1

#: A memory file system, where there is one: staging there costs no disk writes.
SHM = "/dev/shm"


@dataclass(frozen=True)
class Manifest:
    """What a server generated into a project folder: for which platform and board, which files."""

    platform: str
    board: str
    files: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "platform": self.platform, "board": self.board,
                "files": sorted(self.files)}


def read_manifest(project_dir: str | os.PathLike) -> Manifest | None:
    """The folder's manifest, or None when it has none (or one this version cannot read)."""
    try:
        doc = json.loads((Path(project_dir) / MANIFEST).read_text())
        if doc.get("format") != MANIFEST_FORMAT:
            return None
        files = tuple(str(f) for f in doc["files"])
        return Manifest(str(doc["platform"]), str(doc["board"]), files)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def generated_for(project_dir: str | os.PathLike, platform: str, board: str) -> bool:
    """Whether ``project_dir`` holds a project generated for ``platform`` and ``board``."""
    manifest = read_manifest(project_dir)
    return manifest is not None and (manifest.platform, manifest.board) == (platform, board)


def write_if_changed(path: str | os.PathLike, data: str | bytes, mode: int | None = None) -> bool:
    """Give ``path`` the content ``data``; write it only if it differs. Returns whether it wrote.

    A write goes to a temporary file beside ``path`` that then replaces it, so that ``path``
    never holds part of a content. ``mode`` (permission bits) is set either way when given.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if not path.is_symlink() and path.is_file() and path.stat().st_size == len(raw) and path.read_bytes() == raw:
        if mode is not None and (path.stat().st_mode & 0o7777) != mode:
            os.chmod(path, mode)
        return False
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        raise ProjectError(f"cannot write {path}: a folder is in the way", path=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to any new file
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def _link_if_changed(path: Path, target: str) -> bool:
    if path.is_symlink() and os.readlink(path) == target:
        return False
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        raise ProjectError(f"cannot link {path}: a folder is in the way", path=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)
    return True


@dataclass
class Update:
    """What :func:`update_project` did, as paths relative to the project folder."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _entries(root: Path, rel: str = "") -> Iterable[tuple[str, os.DirEntry]]:
    """(relative path, entry) of every file, link and folder under ``root``; links are not followed."""
    with os.scandir(root / rel if rel else root) as it:
        for entry in sorted(it, key=lambda e: e.name):
            path = f"{rel}/{entry.name}" if rel else entry.name
            yield path, entry
            if entry.is_dir(follow_symlinks=False):
                yield from _entries(root, path)


def _relocate(data: bytes, old: bytes, new: bytes) -> bytes:
    return data.replace(old, new) if old in data else data


def generate_in_place(generate: Callable[[Path], dict[str, Any]], project_dir: Path, platform: str,
                      board: str) -> tuple[dict[str, Any], Update]:
    """``generate(staging)`` into an empty staging folder named as ``project_dir``, then :func:`update_project`.

    Returns what ``generate`` returned, its paths under the staging folder moved to
    ``project_dir``, and the update. The staging folder is in memory (:data:`SHM`) where the
    system has it (again in the temporary folder if that one fills up), else in the temporary
    folder; it is removed afterwards.
    """
    parents: list[str | None] = [SHM] if os.path.isdir(SHM) and os.access(SHM, os.W_OK | os.X_OK) else []
    parents.append(None)
    for k, parent in enumerate(parents):
        root = Path(tempfile.mkdtemp(prefix="utvm-generate-", dir=parent))
        try:
            staging = root / (project_dir.name or "project")
            staging.mkdir()
            try:
                result = generate(staging)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT) and k + 1 < len(parents):
                    continue
                raise
            update = update_project(staging, project_dir, platform, board)
            return _relocated(result, str(staging), str(project_dir)), update
        finally:
            shutil.rmtree(root, ignore_errors=True)
    raise AssertionError("unreachable")


def update_project(staging: Path, project_dir: Path, platform: str, board: str) -> Update:
    """Bring ``project_dir`` to the content of ``staging`` (a freshly generated project); see the module.

    The absolute path of ``staging`` is replaced by that of ``project_dir`` wherever the plugin
    wrote it (file contents and link targets), so that a plugin may record the folder it was
    given. Files generated the last time (``project_dir``'s manifest, if it is one of
    ``platform`` and ``board``) and not now are deleted, with the folders that leaves empty.
    """
    previous = read_manifest(project_dir)
    old_files = set(previous.files) if previous and (previous.platform, previous.board) == (platform, board) else set()
    old, new = os.fsencode(staging), os.fsencode(project_dir)
    entries = list(_entries(staging))
    files = [p for p, e in entries if not e.is_dir(follow_symlinks=False)]
    if MANIFEST in files:
        raise ProjectError(f"{platform}: the plugin wrote {MANIFEST}, which is the server's own record")
    project_dir.mkdir(parents=True, exist_ok=True)
    # First a manifest naming everything either generation made: if the update stops half way,
    # the next one still knows every file that came from a generator.
    _write_manifest(project_dir, Manifest(platform, board, tuple(sorted(old_files | set(files)))))
    update = Update()
    for rel, entry in entries:
        dest = project_dir / rel
        if entry.is_symlink():
            target = os.readlink(entry.path)
            target = os.fsdecode(_relocate(os.fsencode(target), old, new))
            (update.written if _link_if_changed(dest, target) else update.unchanged).append(rel)
        elif entry.is_dir():
            if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
                raise ProjectError(f"cannot make folder {dest}: a file is in the way", path=str(dest))
            dest.mkdir(exist_ok=True)
        else:
            data = _relocate(Path(entry.path).read_bytes(), old, new)
            mode = entry.stat(follow_symlinks=False).st_mode & 0o7777
            (update.written if write_if_changed(dest, data, mode) else update.unchanged).append(rel)
    keep = set(files)
    kept_dirs = {p for p, e in entries if e.is_dir(follow_symlinks=False)}
    for rel in sorted(old_files - keep):
        dest = project_dir / rel
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
            update.removed.append(rel)
        parent = Path(rel).parent
        while str(parent) not in (".", "") and parent.as_posix() not in kept_dirs:
            try:
                (project_dir / parent).rmdir()  # only when empty: a user's file keeps its folder
            except OSError:
                break
            parent = parent.parent
    _write_manifest(project_dir, Manifest(platform, board, tuple(files)))
    return update


def _relocated(value: Any, old: str, new: str) -> Any:
    """``value`` with every path under ``old`` (a string or a Path) moved to ``new``."""
    if isinstance(value, (str, PurePath)):
        text = str(value)
        return new + text[len(old):] if text == old or text.startswith(old + os.sep) else value
    if isinstance(value, Mapping):
        return {k: _relocated(v, old, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relocated(v, old, new) for v in value]
    return value


def _write_manifest(project_dir: Path, manifest: Manifest) -> None:
    write_if_changed(project_dir / MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n")


def make_command_files(compile_command: str, link_command: str) -> str:
    """Make rules for ``build/compile.cmd`` and ``build/link.cmd``: each holds a command line and
    is rewritten only when it changes.

    ``compile_command`` and ``link_command`` are make text (``$(CC) $(CFLAGS)``...). Objects that
    depend on ``build/compile.cmd`` are rebuilt when the compile flags change, in the Makefile or
    on make's command line; an image that depends on ``build/link.cmd`` (whose command should
    name the objects) is relinked when the link flags or the object list change. The Makefile
    declares ``FORCE`` phony.
    """
    return f"""
# Each command line is kept in a file rewritten only when the command changes: new compile flags
# rebuild every object; new link flags or another object list relink.
define command_file
@mkdir -p $(dir $@)
@printf '%s\\n' '$(subst ','\\'',$(1))' > $@.new; if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi
endef
build/compile.cmd: FORCE
\t$(call command_file,{compile_command})
build/link.cmd: FORCE
\t$(call command_file,{link_command})
FORCE:
"""
