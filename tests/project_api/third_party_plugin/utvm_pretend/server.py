"""The Pretend RTOS project server: a ProjectServer subclass run with ``python -m utvm_pretend.server``."""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from importlib import resources

from utvm.project_api import BoardNotFound, ProjectError, ProjectOption, ProjectServer, TransportClosed

PROJECT_FILE = "pretend-project.json"


def load_boards() -> dict:
    # Board data is read from a file, as a real plugin reads the RTOS's metadata.
    return json.loads(resources.files("utvm_pretend").joinpath("boards.json").read_text())


class PretendServer(ProjectServer):
    platform_name = "pretend"
    description = "Pretend RTOS applications (in-memory device)"
    version = "0.1.0"
    options = [
        ProjectOption("project_type", "choice", required_for=["generate_project"], choices=["host_driven", "standalone"],
                      help="host_driven: RPC server; standalone: runs built-in inputs"),
        ProjectOption("optimize", "choice", optional_for=["build"], choices=["size", "speed"], default="size",
                      help="compiler optimization goal"),
        ProjectOption("serial_number", "str", optional_for=["flash", "open_transport"], help="probe serial number"),
        ProjectOption("verify", "bool", optional_for=["flash"], default=True, help="read back after flashing"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._fifo = bytearray()

    def _board(self, board: str) -> dict:
        boards = load_boards()
        if board not in boards:
            raise BoardNotFound(f"Pretend RTOS has no board {board!r}; boards: {', '.join(sorted(boards))}",
                                board=board, available=sorted(boards))
        return boards[board]

    def boards(self, options):
        return [{"name": name, "description": b["description"], "cpu": b["cpu"]} for name, b in sorted(load_boards().items())]

    def target_info(self, board, options):
        b = self._board(board)
        return {k: b[k] for k in ("cpu", "arch", "features", "memory_regions")}

    def generate_project(self, model_library_format_path, project_dir, board, options):
        self._board(board)
        try:
            with tarfile.open(model_library_format_path) as tar:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                    tar.extractall(project_dir / "model", filter="data")
                else:
                    tar.extractall(project_dir / "model")
        except tarfile.TarError as exc:
            raise ProjectError(f"{model_library_format_path} is not a Model Library Format archive: {exc}") from None
        (project_dir / "src").mkdir()
        (project_dir / "src" / "main.c").write_text("int main(void) { return 0; }\n")
        (project_dir / PROJECT_FILE).write_text(json.dumps({"board": board, "project_type": options["project_type"]}))
        print(f"generated a {options['project_type']} project for {board}")  # goes to stderr
        return {"files": sorted(str(p.relative_to(project_dir)) for p in project_dir.rglob("*") if p.is_file())}

    def build(self, project_dir, options):
        project = json.loads((project_dir / PROJECT_FILE).read_text())
        digest = hashlib.sha256()
        for path in sorted(project_dir.rglob("*.c")):
            digest.update(path.read_bytes())
        out = project_dir / "build"
        out.mkdir(exist_ok=True)
        image = out / "firmware.bin"
        image.write_bytes(b"PRETEND" + project["board"].encode() + digest.digest())
        print(f"[pretend-cc] built {image} for {project['board']} ({options['optimize']})")
        return {"artifacts": [image], "size": image.stat().st_size}

    def flash(self, project_dir, options):
        image = project_dir / "build" / "firmware.bin"
        if not image.is_file():
            raise ProjectError(f"{image} does not exist: build first")
        with open(project_dir / "flash.log", "a") as log:
            log.write(json.dumps({"image": str(image), "serial_number": options["serial_number"], "verify": options["verify"]}) + "\n")
        return {"flashed": image}

    def open_transport(self, project_dir, options):
        self._fifo = bytearray()
        return {"device": "in-memory echo"}

    def close_transport(self):
        self._fifo = bytearray()

    def read_transport(self, n, timeout):
        deadline = time.monotonic() + timeout
        while not self._fifo and time.monotonic() < deadline:
            time.sleep(0.01)
        data = bytes(self._fifo[:n])
        del self._fifo[:n]
        return data

    def write_transport(self, data, timeout):
        if not isinstance(self._fifo, bytearray):
            raise TransportClosed("device gone")
        self._fifo += data


if __name__ == "__main__":
    PretendServer().serve()
