"""The host platform's project server.

Boards: one, ``native``, this machine. ``generate_project`` writes a project
that builds with ``make`` (or cmake) alone; ``build`` runs make; ``flash`` has
nothing to do; ``open_transport`` runs the built program as a child process
and talks to it over its stdin/stdout.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from utvm.project_api import (
    BoardNotFound,
    BuildFailed,
    ProjectError,
    ProjectOption,
    ProjectServer,
    TransportClosed,
    TransportTimeout,
)
from utvm.project_api.standalone import standalone_options
from utvm.project_files import install_model
from utvm.transport import SubprocessTransport
from utvm.transport import TransportClosed as PipeClosed
from utvm.transport import TransportTimeout as PipeTimeout

from .build_files import PROGRAM, cmakelists, makefile

BOARD = "native"
POSIX_PLATFORM = "runtime/src/platform/posix_stdio.c"
POSIX_STANDALONE_MAIN = "runtime/src/platform/posix_standalone_main.c"


class HostServer(ProjectServer):
    platform_name = "host"
    description = "a native program on this machine, built with the system C compiler"
    version = "1"
    options = [
        *standalone_options(
            host_driven="the host sends inputs over RPC", standalone="inputs built into the program", image="program"
        ),
        ProjectOption("jobs", "int", optional_for=["build"], default=2, help="parallel compile jobs for make"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._transport: SubprocessTransport | None = None

    def boards(self, options: dict) -> list[dict[str, Any]]:
        return [self._board()]

    def _board(self) -> dict[str, Any]:
        cc = os.environ.get("CC", "cc")
        return {
            "name": BOARD,
            "description": f"this machine: {platform.system()} {platform.machine()}, C compiler '{cc}'",
            "cpu": platform.machine() or "unknown",
        }

    def target_info(self, board: str, options: dict) -> dict[str, Any]:
        self._check_board(board)
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
        return {
            "board": BOARD,
            "cpu": platform.machine() or "unknown",
            "arch": platform.machine() or "unknown",
            "features": [],
            "endianness": sys.byteorder,
            "memory_regions": [{"name": "ram", "origin": 0, "length": int(ram), "access": "rwx"}],
            "timer_unit": "ns",
        }

    def _check_board(self, board: str) -> None:
        if board != BOARD:
            raise BoardNotFound(
                f"the host platform has one board, '{BOARD}', not {board!r}", board=board, available=[BOARD]
            )

    def generate_project(self, model_library_format_path: Path, project_dir: Path, board: str, options: dict) -> dict:
        self._check_board(board)
        kind = options["project_type"]
        model = install_model(
            model_library_format_path, project_dir, kind, options.get("inputs"), options.get("expected_outputs")
        )
        sources = list(model.sources)
        defines: list[str] = []
        if kind == "standalone":
            sources += [f"model/{POSIX_PLATFORM}", f"model/{POSIX_STANDALONE_MAIN}"]
            defines.append("UTVM_POSIX_NO_MAIN")
        else:
            sources.append(f"model/{POSIX_PLATFORM}")
        (project_dir / "Makefile").write_text(makefile(sources, model.include_dirs, defines))
        (project_dir / "CMakeLists.txt").write_text(cmakelists(model.name, sources, model.include_dirs, defines))
        return {"project_type": kind, "files": ["Makefile", "CMakeLists.txt", "model/"]}

    def build(self, project_dir: Path, options: dict) -> dict:
        make = shutil.which("make")
        if make is None:
            raise BuildFailed("make is not on PATH: install it (apt-get install make)", command=["make"])
        argv = [make, "-C", str(project_dir), f"-j{max(1, options['jobs'])}"]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stderr.write(proc.stdout)
        if proc.returncode != 0:
            raise BuildFailed(
                f"make failed with exit code {proc.returncode}: {proc.stdout.strip().splitlines()[-1:] or ''}",
                command=argv,
                returncode=proc.returncode,
                log_tail=proc.stdout[-4000:],
            )
        return {"artifacts": [str(project_dir / "build" / PROGRAM)]}

    def flash(self, project_dir: Path, options: dict) -> dict:
        program = project_dir / "build" / PROGRAM
        if not program.exists():
            raise ProjectError(f"{program} is not built yet: run build first")
        return {"message": "nothing to flash on the host: the program starts when the transport opens"}

    def open_transport(self, project_dir: Path, options: dict) -> dict:
        program = project_dir / "build" / PROGRAM
        if not program.exists():
            raise ProjectError(f"{program} is not built yet: run build first")
        self._transport = SubprocessTransport([str(program)])
        return {"pid": self._transport.pid}

    def close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def read_transport(self, n: int, timeout: float) -> bytes:
        assert self._transport is not None
        try:
            return self._transport.read(n, timeout)
        except PipeTimeout:
            return b""
        except PipeClosed as exc:
            raise TransportClosed(str(exc)) from None

    def write_transport(self, data: bytes, timeout: float) -> None:
        assert self._transport is not None
        try:
            self._transport.write(data, timeout)
        except PipeTimeout as exc:
            raise TransportTimeout(str(exc)) from None
        except PipeClosed as exc:
            raise TransportClosed(str(exc)) from None


if __name__ == "__main__":
    HostServer().serve()
