"""The arduino project server: sketches for any board of any installed Arduino core.

- ``boards`` / ``target_info``: the installed cores' boards.txt and platform.txt (:mod:`.cores`,
  :mod:`.target`); boards are FQBNs with menu options (``arduino:avr:nano:cpu=atmega168``);
- ``generate_project``: a sketch folder with the model, the runtime and a platform layer under
  ``src/``, a Makefile that builds, uploads and emulates it without utvm (:mod:`.sketch`); a model
  that does not fit the board is refused with the numbers;
- ``build``: the Makefile, with arduino-cli where it is on PATH and knows the core, else
  arduino-builder; the real section sizes are checked against the board's limits;
- ``flash``: arduino-cli upload, or the core's upload recipe (avrdude, bossac...) to the port given
  or found by the board's USB VID/PID; with ``emulate=true`` (AVR boards) the image runs in simavr
  instead: a standalone one to its end (console, status, cycles), a host-driven one when the
  transport opens;
- ``open_transport``: the serial port, or the emulator's UART on a TCP port (pyserial socket://).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from utvm.project_api import (
    BoardNotFound,
    BuildFailed,
    DoesNotFit,
    FlashFailed,
    ProjectError,
    ProjectOption,
    ProjectServer,
    TransportError,
)
from utvm.project_api.owned_process import install_reaper
from utvm.project_api.serial_console import SerialConsole
from utvm.project_api.standalone import parse_standalone_output, standalone_options

from . import cores, emulator, sketch, target, tools

#: How the console's errors name the other end.
CONSOLE_TEXTS = {
    "peer": "board",
    "closed_message": "the sketch's console closed (the emulator stopped, or the board went away)",
}

CORE_OPTIONS = ["boards", "target_info", "generate_project"]


class ArduinoServer(ProjectServer):
    platform_name = "arduino"
    description = "Arduino sketches for any installed core: arduino-cli or arduino-builder, AVR boards on simavr"
    version = "1"
    options = [
        ProjectOption("hardware_dirs", "str", optional_for=CORE_OPTIONS,
                      help="more folders of Arduino cores (hardware or packages layout, os.pathsep-separated), "
                           "searched first"),
        ProjectOption("arduino_data_dir", "path", optional_for=CORE_OPTIONS,
                      help="arduino-cli's data folder (default $ARDUINO_DIRECTORIES_DATA or ~/.arduino15)"),
        ProjectOption("sketchbook_dir", "path", optional_for=CORE_OPTIONS,
                      help="the sketchbook, whose hardware/ folder holds cores (default ~/Arduino)"),
        *standalone_options(host_driven="the host sends inputs over Serial",
                            standalone="inputs built into the sketch", image="sketch"),
        ProjectOption("baud", "int", optional_for=["generate_project"], default=sketch.DEFAULT_BAUD,
                      help="Serial's baud rate"),
        ProjectOption("rpc_payload", "int", optional_for=["generate_project"],
                      help="bytes per RPC frame (the server keeps two buffers of it); default 128 on boards "
                           "with at most 8 KiB of RAM, else 512"),
        ProjectOption("builder", "choice", optional_for=["generate_project", "build"], default="auto",
                      choices=["auto", tools.ARDUINO_CLI, tools.ARDUINO_BUILDER],
                      help="auto: arduino-cli where it is on PATH and knows the core, else arduino-builder"),
        ProjectOption("emulate", "bool", optional_for=["flash", "open_transport"], default=False,
                      help="AVR boards: run the image in simavr instead of a board"),
        ProjectOption("port", "str", optional_for=["flash", "open_transport"],
                      help="the board's serial port (default: found by the board's USB VID/PID)"),
        ProjectOption("run_timeout", "float", optional_for=["flash"], default=300.0,
                      help="emulated standalone run: seconds before it is stopped"),
        ProjectOption("reset_delay", "float", optional_for=["open_transport"], default=2.0,
                      help="real board: seconds to wait after opening the port (it resets into its bootloader)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._emulation: emulator.Emulation | None = None
        self._console: SerialConsole | None = None

    # ---- boards -----------------------------------------------------------------------------

    def boards(self, options: dict) -> list[dict[str, Any]]:
        out = []
        for board in cores.all_boards(options):
            flash, ram = target.limits(board)
            mcu = board.get("build.mcu") or "?"
            limits = ", ".join(
                [f"{flash} B flash" if flash is not None else "flash unknown",
                 f"{ram} B RAM" if ram is not None else "RAM unknown"])
            entry: dict[str, Any] = {
                "name": board.fqbn,
                "description": f"{board.name}: {mcu}, {limits} ({board.core.name} {board.core.version})",
                "vendor": board.core.vendor,
                "cpu": mcu,
                "family": target.family(board),
                "flash_bytes": flash,
                "ram_bytes": ram,
                "clock_hz": target.clock_hz(board),
                "core": board.core.id,
                "core_version": board.core.version,
                "core_path": str(board.core.path),
                "emulated": target.is_avr(board),
            }
            if board.menus:
                entry["options"] = {m: [v for v, _ in vals] for m, vals in board.menus.items()}
                entry["defaults"] = dict(board.options)
            out.append(entry)
        return out

    def target_info(self, board: str, options: dict) -> dict[str, Any]:
        return target.target_info(cores.get_board(board, options))

    # ---- generate and build -----------------------------------------------------------------

    def generate_project(self, model_library_format_path: Path, project_dir: Path, board: str, options: dict) -> dict:
        b = cores.get_board(board, options)
        return sketch.generate(model_library_format_path, project_dir, b, options)

    def _board_of(self, record: dict) -> cores.Board:
        opts = dict(record.get("options") or {})
        try:
            return cores.get_board(record["fqbn"], opts)
        except BoardNotFound as exc:
            raise ProjectError(f"the project's board {record['fqbn']} is no longer installed: {exc}") from None

    def build(self, project_dir: Path, options: dict) -> dict:
        record = sketch.load_record(project_dir)
        board = self._board_of(record)
        builder = tools.choose_builder(board, options.get("builder") or "auto")
        if tools.which(builder) is None:
            hint = ("apt-get install arduino-builder arduino-core-avr" if builder == tools.ARDUINO_BUILDER
                    else "see https://arduino.github.io/arduino-cli/")
            raise BuildFailed(f"{builder} is not on PATH: install it ({hint})", command=[builder])
        make = shutil.which("make")
        if make is None:
            raise BuildFailed("make is not on PATH: install it (apt-get install make)", command=["make"])
        argv = [make, "-C", str(project_dir), f"BUILDER={builder}"]
        proc = tools.run_logged(argv)
        if proc.returncode != 0:
            errors = [line for line in proc.stdout.splitlines() if "error" in line.lower()]
            raise BuildFailed(
                f"{builder} failed (exit code {proc.returncode}): "
                f"{(errors or proc.stdout.strip().splitlines() or [''])[-1]}",
                command=argv, returncode=proc.returncode, log_tail=proc.stdout[-4000:],
            )
        elf = project_dir / sketch.BUILD_DIR / f"{record['sketch']}.ino.elf"
        hexfile = project_dir / sketch.BUILD_DIR / f"{record['sketch']}.ino.hex"
        sizes = image_sizes(board, elf)
        check_sizes(sizes, record)
        if record.get("family") == "avr":
            check_low_flash(board, elf, record)
        message = f"built {hexfile.name} with {builder}"
        if sizes:
            message += (f": flash {sizes['flash']} of {record.get('flash_limit')} B, "
                        f"RAM {sizes['ram']} of {record.get('ram_limit')} B (static)")
        return {"artifacts": [str(elf), str(hexfile)], "builder": builder, "fqbn": record["fqbn"],
                "project_type": record["project_type"], "sizes": sizes, "message": message}

    # ---- flash ------------------------------------------------------------------------------

    def _elf(self, project_dir: Path, record: dict) -> Path:
        elf = project_dir / sketch.BUILD_DIR / f"{record['sketch']}.ino.elf"
        if not elf.is_file():
            raise ProjectError(f"{elf} is not built yet: run build first")
        return elf

    def _emulator(self, record: dict) -> dict:
        emu = record.get("emulator")
        if not emu:
            raise FlashFailed(
                f"emulate=true runs AVR boards in simavr; {record.get('board_name')} ({record['fqbn']}) is a "
                f"{record.get('family')} board ({record.get('mcu')}): flash it to the board instead",
                board=record["fqbn"],
            )
        return emu

    def flash(self, project_dir: Path, options: dict) -> dict:
        record = sketch.load_record(project_dir)
        if options.get("emulate"):
            emu = self._emulator(record)
            elf = self._elf(project_dir, record)
            emulator.harness_path()  # built now, so that a missing libsimavr shows up here
            if record["project_type"] == "standalone":
                return self._run_standalone(emu, elf, record, float(options.get("run_timeout") or 300.0))
            return {"emulated": True, "message": f"{elf.name} is ready for simavr ({emu['mcu']} at "
                                                 f"{emu['clock_hz']} Hz); it starts when the transport opens"}
        self._elf(project_dir, record)
        board = self._board_of(record)
        port = options.get("port") or find_port(board, record)
        build_path = str(project_dir / sketch.BUILD_DIR)
        builder = tools.choose_builder(board, "auto")
        if builder == tools.ARDUINO_CLI:
            argv = tools.cli_upload_command(record["fqbn"], port, build_path, str(project_dir / record["sketch"]))
        else:
            port = touch_for_upload(board, port)
            argv = tools.upload_command(board, port, build_path, f"{record['sketch']}.ino")
            if not argv:
                raise FlashFailed(f"core {board.core.id} has no serial upload recipe for {board.name} "
                                  f"(upload.tool {tools.upload_tool(board)!r}); install arduino-cli", board=board.fqbn)
        if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
            raise FlashFailed(f"{argv[0]} is not installed: the upload needs it", command=argv, tool=argv[0])
        proc = tools.run_logged(argv, timeout=300)
        if proc.returncode != 0:
            raise FlashFailed(f"upload failed (exit code {proc.returncode}): "
                              f"{(proc.stdout.strip().splitlines() or [''])[-1]}",
                              command=argv, returncode=proc.returncode, log_tail=proc.stdout[-4000:])
        return {"port": port, "command": argv, "message": f"uploaded to {port}"}

    def _run_standalone(self, emu: dict, elf: Path, record: dict, timeout: float) -> dict:
        run = emulator.run_to_end(emu, elf, timeout)
        sys.stderr.write(run["output"])
        facts = parse_standalone_output(run["output"])
        result: dict[str, Any] = {
            "emulated": True,
            "exit_status": run.get("exit_status", run["returncode"]),
            "output": run["output"],
            "seconds": run["seconds"],
            "command": run["command"],
            **{k: v for k, v in facts.items() if k != "outputs"},
            "outputs": [facts["outputs"][k] for k in sorted(facts["outputs"])],
        }
        if run.get("runs"):
            result["cycles"] = run["runs"][-1]["cycles"]
        for key in ("total_cycles", "stack_peak", "errors"):
            if key in run:
                result[key] = run[key]
        if "status" in facts:
            line = f"utvm: status {facts['status']}"
        elif run.get("errors"):
            line = f"simavr: {run['errors'][-1]}"
        else:
            line = "no status line on the console"
        cycles = f", {result['cycles']} cycles" if "cycles" in result else ""
        result["message"] = f"standalone run on simavr ({emu['mcu']}): {line}{cycles} (exit status {result['exit_status']})"
        if run["returncode"] == 124:
            raise FlashFailed(f"the emulated run did not end within {timeout:.0f} s; console so far: "
                              f"{run['output'][-500:]}", command=run["command"], timeout=timeout)
        return result

    # ---- transport --------------------------------------------------------------------------

    def open_transport(self, project_dir: Path, options: dict) -> dict:
        record = sketch.load_record(project_dir)
        if options.get("emulate"):
            try:
                emu = self._emulator(record)
            except FlashFailed as exc:
                raise TransportError(str(exc)) from None
            elf = self._elf(project_dir, record)
            self._stop_emulation()
            emulation = emulator.Emulation(emu, elf, project_dir / sketch.BUILD_DIR / "simavr.log")
            port = emulation.start()
            self._emulation = emulation
            try:
                self._console = SerialConsole.open(f"socket://127.0.0.1:{port}", int(record.get("baud", 115200)),
                                                   **CONSOLE_TEXTS)
            except BaseException:
                self._stop_emulation()
                raise
            return {"kind": "simavr", "port": port, "pid": emulation.proc.pid if emulation.proc else None}
        board = self._board_of(record)
        port = options.get("port") or find_port(board, record)
        self._console = SerialConsole.open(port, int(record.get("baud", 115200)), **CONSOLE_TEXTS)
        delay = float(options.get("reset_delay") if options.get("reset_delay") is not None else 2.0)
        if delay > 0:
            time.sleep(delay)  # opening the port resets most boards into their bootloader
        self._console.discard_input()
        return {"kind": "serial", "port": port}

    def _stop_emulation(self) -> None:
        emulation, self._emulation = self._emulation, None
        if emulation is not None:
            emulation.stop()

    def close_transport(self) -> None:
        console, self._console = self._console, None
        if console is not None:
            console.close()
        self._stop_emulation()

    def read_transport(self, n: int, timeout: float) -> bytes:
        assert self._console is not None
        return self._console.read(n, timeout)

    def write_transport(self, data: bytes, timeout: float) -> None:
        assert self._console is not None
        self._console.write(data, timeout)


# ---- sizes ----------------------------------------------------------------------------------------

_SIZE_LINE = re.compile(r"^(\.\S+)\s+(\d+)\s+(\d+)\s*$")


def image_sizes(board: cores.Board, elf: Path) -> dict[str, Any]:
    """flash (.text + .data) and static RAM (.data + .bss + .noinit) of the image, from the core's size tool."""
    size = tools.size_command(board)
    exe = shutil.which(size)
    if exe is None or not elf.is_file():
        return {}
    proc = subprocess.run([exe, "-A", str(elf)], capture_output=True, text=True)
    sections = {}
    for line in proc.stdout.splitlines():
        m = _SIZE_LINE.match(line.strip())
        if m:
            sections[m.group(1)] = int(m.group(2))
    text = sections.get(".text", 0)
    data = sections.get(".data", 0)
    bss = sections.get(".bss", 0) + sections.get(".noinit", 0)
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss, "sections": sections}


def check_sizes(sizes: dict[str, Any], record: dict) -> None:
    """DoesNotFit when the built image exceeds the board's flash, or leaves too little RAM for the stack."""
    if not sizes:
        return
    flash_limit, ram_limit = record.get("flash_limit"), record.get("ram_limit")
    where = f"{record.get('board_name')} ({record['fqbn']})"
    if flash_limit is not None and sizes["flash"] > flash_limit:
        raise DoesNotFit(f"the image needs {sizes['flash']} B of flash (.text {sizes['text']} + .data "
                         f"{sizes['data']}), {where} has {flash_limit} B",
                         region="FLASH", needed=sizes["flash"], available=flash_limit)
    stack = int(record.get("min_stack") or 0)
    if ram_limit is not None and sizes["ram"] + stack > ram_limit:
        raise DoesNotFit(f"the image needs {sizes['ram']} B of static RAM (.data {sizes['data']} + .bss "
                         f"{sizes['bss']}) + at least {stack} B of stack = {sizes['ram'] + stack} B, {where} has "
                         f"{ram_limit} B", region="RAM", needed=sizes["ram"] + stack, available=ram_limit)


def check_low_flash(board: cores.Board, elf: Path, record: dict) -> None:
    """__flash data must end in the low 64 KiB (LPM); the linker puts .progmem right after the vectors."""
    nm = tools.nm_command(board)
    exe = shutil.which(nm) if nm else None
    if exe is None:
        return
    proc = subprocess.run([exe, str(elf)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "__ctors_start":
            end = int(parts[0], 16)
            if end > 0x10000:
                raise DoesNotFit(f"the weights and tables in program memory end at 0x{end:x}, beyond the 64 KiB "
                                 "that __flash pointers reach", region="FLASH_LOW64K", needed=end, available=0x10000)


# ---- ports ----------------------------------------------------------------------------------------


def find_port(board: cores.Board, record: dict) -> str:
    """The serial port of the board: arduino-cli's listing for this FQBN, else the board's USB VID/PID."""
    ids = [tuple(x) for x in record.get("usb_ids") or []] or board.usb_ids()
    if tools.which(tools.ARDUINO_CLI):
        try:
            proc = subprocess.run([tools.ARDUINO_CLI, "board", "list", "--format", "json"], capture_output=True,
                                  text=True, timeout=30)
            listing = json.loads(proc.stdout or "[]")
            ports = listing.get("detected_ports", listing) if isinstance(listing, dict) else listing
            matches = []
            for entry in ports:
                boards = entry.get("matching_boards") or entry.get("boards") or []
                address = (entry.get("port") or {}).get("address") or entry.get("address")
                if address and any(b.get("fqbn", "").split(":")[:3] == record["fqbn"].split(":")[:3] for b in boards):
                    matches.append(address)
            if len(matches) == 1:
                return matches[0]
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    ports = tools.list_ports()
    matches = [p.device for p in ports if p.vid is not None and (p.vid, p.pid) in ids]
    if len(matches) == 1:
        return matches[0]
    seen = ", ".join(f"{p.device} ({(p.vid or 0):04x}:{(p.pid or 0):04x})" for p in ports) or "none"
    wanted = ", ".join(f"{v:04x}:{p:04x}" for v, p in ids) or "none in boards.txt"
    if not matches:
        raise TransportError(f"no serial port of {record.get('board_name')} (USB ids {wanted}); ports: {seen}; "
                             "give it with the option port=/dev/ttyACM0", board=record["fqbn"])
    raise TransportError(f"several ports match {record.get('board_name')}: {', '.join(matches)}; "
                         "choose one with the option port=...", board=record["fqbn"])


def touch_for_upload(board: cores.Board, port: str) -> str:
    """Boards with ``upload.use_1200bps_touch`` reset into their bootloader when the port opens at 1200 baud;
    with ``upload.wait_for_upload_port`` the bootloader's port (possibly a new one) is the upload port."""
    if (board.get("upload.use_1200bps_touch") or "").lower() != "true":
        return port
    import serial

    before = {p.device for p in tools.list_ports()}
    try:
        serial.Serial(port, 1200).close()
    except (serial.SerialException, OSError) as exc:
        raise FlashFailed(f"cannot open {port} at 1200 baud to reset the board: {exc}", port=port) from None
    if (board.get("upload.wait_for_upload_port") or "").lower() != "true":
        time.sleep(0.5)
        return port
    deadline = time.monotonic() + 10.0
    time.sleep(0.5)
    while time.monotonic() < deadline:
        now = {p.device for p in tools.list_ports()}
        new = sorted(now - before)
        if new:
            return new[0]
        if port in now and time.monotonic() > deadline - 7.0:
            return port
        time.sleep(0.25)
    raise FlashFailed(f"{board.name} did not come back on a serial port after the 1200-baud reset of {port}",
                      port=port)


if __name__ == "__main__":
    install_reaper()
    ArduinoServer().serve()
