"""Generated projects driven through their platform's project server.

A project folder records its platform, board and model in ``utvm-project.json``
so that build, flash and run need only the folder. :class:`ProjectTransport`
carries a host-driven session over the server's transport methods, in bulk.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import UtvmError
from .project_api import ProjectClient, TransportClosed, connect, get_platform
from .project_api.generated import generated_for, write_if_changed
from .transport import TransportClosed as LinkClosed
from .transport import TransportTimeout as LinkTimeout

PROJECT_FILE = "utvm-project.json"

#: Bytes asked for per read_transport call: one call usually carries a whole frame or more.
READ_BUDGET = 4096


class ProjectTransport:
    """The :class:`utvm.transport.Transport` of a running project, over its server's RPC."""

    def __init__(self, client: ProjectClient) -> None:
        self.client = client
        self._open = True

    def write(self, data: bytes, timeout_s: float) -> None:
        try:
            self.client.write_transport(data, timeout_s)
        except TransportClosed as exc:
            raise LinkClosed(str(exc)) from None

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        try:
            data = self.client.read_transport(max(max_bytes, READ_BUDGET), timeout_s)
        except TransportClosed as exc:
            raise LinkClosed(str(exc)) from None
        if not data:
            raise LinkTimeout(f"no byte from the device within {timeout_s:.1f} s")
        return data

    def close(self) -> None:
        if self._open:
            self._open = False
            self.client.close_transport()


@dataclass
class Project:
    """A generated project folder and what it records about itself."""

    path: Path
    platform: str
    board: str
    model: str
    options: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> "Project":
        path = Path(path).resolve()
        record = path / PROJECT_FILE
        if not record.is_file():
            raise UtvmError(f"{path} is not a utvm project (no {PROJECT_FILE}); make one with utvm create-project")
        try:
            data = json.loads(record.read_text())
            return cls(path, data["platform"], data["board"], data["model"], data.get("options", {}))
        except (ValueError, KeyError) as exc:
            raise UtvmError(f"{record} is damaged ({type(exc).__name__}: {exc}); generate the project again") from None

    def connect(self, on_stderr: Callable[[str], None] | None = None) -> ProjectClient:
        return connect(get_platform(self.platform).server_argv, **_stderr_kwargs(on_stderr))


def _stderr_kwargs(on_stderr: Callable[[str], None] | None) -> dict[str, Any]:
    return {"stderr_callback": on_stderr} if on_stderr is not None else {}


def create_project(
    project_dir: str | Path,
    mlf_path: str | Path,
    platform: str,
    board: str,
    options: Mapping[str, Any],
    force: bool = False,
    on_stderr: Callable[[str], None] | None = None,
) -> Project:
    """Generate a project for ``board`` of ``platform`` from an MLF archive into ``project_dir``.

    Refuses a non-empty ``project_dir`` unless ``force``. With ``force``, a folder holding a
    project generated for the same platform and board is regenerated in place: only the files
    whose content changed are written, generated files no longer part of the project are
    deleted, and the rest (the build folder, your own files) stays, so the next build is
    incremental. Any other non-empty folder is emptied first.
    """
    project_dir = Path(project_dir).resolve()
    mlf_path = Path(mlf_path).resolve()
    if not mlf_path.is_file():
        raise UtvmError(f"Model Library Format archive not found: {mlf_path}")
    if project_dir.exists():
        if not project_dir.is_dir():
            raise UtvmError(f"{project_dir} exists and is not a folder")
        if any(project_dir.iterdir()):
            if not force:
                raise UtvmError(f"{project_dir} is not empty; pass --force to replace its contents")
            if not generated_for(project_dir, platform, board):
                shutil.rmtree(project_dir)
    descriptor = get_platform(platform)
    from .mlf import read_mlf

    model = read_mlf(mlf_path).name
    with connect(descriptor.server_argv, **_stderr_kwargs(on_stderr)) as client:
        client.generate_project(mlf_path, project_dir, board, client.select_options("generate_project", options))
    project = Project(project_dir, platform, board, model, dict(options))
    record = {"platform": platform, "board": board, "model": model, "options": _jsonable(options)}
    write_if_changed(project_dir / PROJECT_FILE, json.dumps(record, indent=2) + "\n")
    return project


def _jsonable(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()}
