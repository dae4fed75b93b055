"""A small project server for the Project API tests: a real ProjectServer subclass.

Run as a program (``[sys.executable, <this file>]``). Its ``build`` misbehaves on request
(option ``mode``) so the tests can exercise every fault the client must survive.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

from utvm.project_api import BoardNotFound, BuildFailed, ProjectOption, ProjectServer, TransportClosed

BOARDS = {
    "demo_m4": {"cpu": "cortex-m4", "arch": "armv7e-m", "features": ["dsp", "fpu"]},
    "demo_m0": {"cpu": "cortex-m0", "arch": "armv6-m", "features": []},
}


class DemoServer(ProjectServer):
    platform_name = "demo"
    description = "Test platform of tests/project_api"
    version = "1.0"
    options = [
        ProjectOption("project_type", "choice", required_for=["generate_project"], choices=["host_driven", "standalone"], help="kind of project"),
        ProjectOption("verbose", "bool", optional_for=["generate_project", "build"], default=False, help="more output"),
        ProjectOption("jobs", "int", optional_for=["build"], default=1, help="parallel jobs"),
        ProjectOption("sleep", "float", optional_for=["build"], default=60.0, help="seconds mode=hang sleeps"),
        ProjectOption(
            "mode",
            "choice",
            optional_for=["build"],
            default="ok",
            choices=["ok", "noise", "crash", "exit", "hang", "raise", "fail", "stdin"],
            help="how build behaves",
        ),
        ProjectOption("log", "path", optional_for=["flash"], help="file flash appends to"),
        ProjectOption("vendor", "str", optional_for=["boards"], help="only boards of this vendor"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()

    def boards(self, options):
        return [{"name": name, "description": f"{info['cpu']} demo board"} for name, info in sorted(BOARDS.items())]

    def target_info(self, board, options):
        if board not in BOARDS:
            raise BoardNotFound(f"no board {board!r}; available: {', '.join(sorted(BOARDS))}", board=board, available=sorted(BOARDS))
        info = BOARDS[board]
        return {
            **info,
            "memory_regions": [
                {"name": "FLASH", "origin": 0, "length": 262144, "access": "rx"},
                {"name": "RAM", "origin": 0x20000000, "length": 65536, "access": "rw"},
            ],
        }

    def generate_project(self, model_library_format_path, project_dir, board, options):
        (project_dir / "board.txt").write_text(board)
        (project_dir / "type.txt").write_text(options["project_type"])
        return {"files": ["board.txt", "type.txt"], "verbose": options["verbose"]}

    def build(self, project_dir, options):
        mode = options["mode"]
        if mode == "noise":
            # Everything a build tool might do to stdout: none of it may reach the protocol.
            print("noise from print()")
            sys.stdout.write("noise without newline")
            os.write(1, b"noise written to fd 1\n")
            logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True)
            logging.info("noise from logging")
            subprocess.run(["echo", "noise"], check=True)
            subprocess.run(["sh", "-c", "echo more noise; echo {not json; echo '{\"id\": 99}'"], check=True)
            print("noise on stderr", file=sys.stderr)
        elif mode == "stdin":
            # A tool that reads stdin must get EOF, not the client's next request.
            out = subprocess.run(["cat"], capture_output=True, timeout=10)
            return {"stdin_bytes": len(out.stdout)}
        elif mode == "crash":
            print("about to crash", file=sys.stderr, flush=True)
            os._exit(3)
        elif mode == "exit":
            sys.exit(4)
        elif mode == "hang":
            print("hanging", file=sys.stderr, flush=True)
            time.sleep(options["sleep"])
        elif mode == "raise":
            raise ValueError("demo build exploded")
        elif mode == "fail":
            raise BuildFailed("make failed with code 2", command=["make"], returncode=2, log_tail="error: x")
        artifact = project_dir / "firmware.bin"
        artifact.write_bytes(b"\x7fELF" + bytes(options["jobs"]))
        return {"artifacts": [artifact], "jobs": options["jobs"], "verbose": options["verbose"]}

    def flash(self, project_dir, options):
        if options["log"] is not None:
            with open(options["log"], "a") as fh:
                fh.write(f"flashed {project_dir}\n")
        return {"log_is_path": type(options["log"]).__name__}

    def open_transport(self, project_dir, options):
        self._buffer = bytearray()
        return {"kind": "echo"}

    def close_transport(self):
        self._buffer = bytearray()

    def read_transport(self, n, timeout):
        if not self._buffer:
            time.sleep(min(timeout, 0.05))
            if not self._buffer:
                return b""
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def write_transport(self, data, timeout):
        if data == b"CLOSE":
            raise TransportClosed("device hung up")
        self._buffer += data


if __name__ == "__main__":
    if os.environ.get("DEMO_BANNER"):
        # Written (and flushed) before serve() guards stdout: the client must skip it.
        print("demo server banner", flush=True)
    DemoServer().serve()
