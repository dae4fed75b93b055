"""The baremetal_cmsis project server: Cortex-M without an RTOS.

- ``boards`` / ``target_info``: board files (:mod:`.boards`) naming CMSIS-Pack devices (:mod:`.packs`);
- ``generate_project``: the platform-specific linking (:mod:`.project`): a linker script from the
  device's memory regions with the model's sections placed, startup code, platform layer,
  Makefile, CMakeLists.txt;
- ``build``: make with arm-none-eabi-gcc; reports section sizes;
- ``flash``: the board's runner (:mod:`.runners`): QEMU is started (host-driven: its console
  waits on a TCP port) or run to its end (standalone: the console text and exit status are
  returned); pyOCD or OpenOCD write a real board;
- ``open_transport``: pyserial, ``socket://`` to QEMU's console or the board's serial port.

Every QEMU this server starts dies with the session: at ``close_transport``, at exit, on a
signal, and (Linux) when the server itself is killed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from utvm.project_api import (
    BuildFailed,
    ProjectError,
    ProjectOption,
    ProjectServer,
)
from utvm.project_api.owned_process import install_reaper
from utvm.project_api.serial_console import SerialConsole, find_serial_port
from utvm.project_api.standalone import parse_standalone_output, standalone_options

from . import build_files, project
from .boards import board_device, board_summary, get_board, load_boards
from .runners import QemuRunner, runner_for
from .target_info import gcc_cpu_flags, target_info

SIZE_TOOL = "arm-none-eabi-size"
CC_TOOL = "arm-none-eabi-gcc"
TOOLCHAIN_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"


class BaremetalServer(ProjectServer):
    platform_name = "baremetal_cmsis"
    description = "Arm Cortex-M without an RTOS: arm-none-eabi-gcc, QEMU MPS2/MPS3, pyOCD or OpenOCD"
    version = "1"
    options = [
        ProjectOption(
            "board_dirs",
            "str",
            optional_for=["boards", "target_info", "generate_project"],
            help=f"more folders of board files ({os.pathsep}-separated), searched before the shipped ones",
        ),
        *standalone_options(
            host_driven="the host sends inputs over the UART", standalone="inputs built into the image", image="image"
        ),
        ProjectOption(
            "stack_size",
            "int",
            optional_for=["generate_project"],
            default=project.DEFAULT_STACK_SIZE,
            help="bytes of stack (painted at reset; standalone images print the high-water mark)",
        ),
        ProjectOption(
            "arena_region",
            "str",
            optional_for=["generate_project"],
            help="the memory region (a name from target_info) for the model's arena, instead of the rule",
        ),
        ProjectOption("jobs", "int", optional_for=["build"], default=2, help="parallel compile jobs for make"),
        ProjectOption(
            "runner",
            "choice",
            optional_for=["flash", "open_transport"],
            default="auto",
            choices=["auto", "qemu", "pyocd", "openocd"],
            help="how to run or reach the board; auto: the board file's emulator, else its probe",
        ),
        ProjectOption(
            "serial_number",
            "str",
            optional_for=["flash", "open_transport"],
            help="the probe's serial number: selects the probe, and finds its serial port",
        ),
        ProjectOption(
            "port", "str", optional_for=["open_transport"], help="the board's serial port (e.g. /dev/ttyACM0)"
        ),
        ProjectOption(
            "gdb_port", "int", optional_for=["flash", "open_transport"], help="QEMU: also serve gdb on this TCP port"
        ),
        ProjectOption(
            "run_timeout",
            "float",
            optional_for=["flash"],
            default=600.0,
            help="standalone on an emulator: seconds the image may run before it is stopped",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._qemu: QemuRunner | None = None
        self._qemu_image: Path | None = None
        self._console: SerialConsole | None = None

    # ---- boards ---------------------------------------------------------------------------

    def boards(self, options: dict) -> list[dict[str, Any]]:
        out = []
        for board in load_boards(options.get("board_dirs")).values():
            try:
                device = board_device(board)
            except Exception:  # noqa: BLE001 - a board whose pack is missing is still listed
                device = None
            out.append(board_summary(board, device))
        return out

    def _board_and_device(self, name: str, options: dict):
        board = get_board(name, options.get("board_dirs"))
        return board, board_device(board)

    def target_info(self, board: str, options: dict) -> dict[str, Any]:
        b, device = self._board_and_device(board, options)
        return target_info(b, device)

    # ---- generate and build ---------------------------------------------------------------

    def generate_project(self, model_library_format_path: Path, project_dir: Path, board: str, options: dict) -> dict:
        b, device = self._board_and_device(board, options)
        return project.generate(model_library_format_path, project_dir, b, device, gcc_cpu_flags(device), options)

    def build(self, project_dir: Path, options: dict) -> dict:
        record = project.load_record(project_dir)
        make = shutil.which("make")
        if make is None:
            raise BuildFailed("make is not on PATH: install it (apt-get install make)", command=["make"])
        if shutil.which(CC_TOOL) is None:
            raise BuildFailed(f"{CC_TOOL} is not on PATH: install the Arm toolchain ({TOOLCHAIN_HINT})",
                              command=[CC_TOOL])
        argv = [make, "-C", str(project_dir), f"-j{max(1, options.get('jobs') or 1)}"]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stderr.write(proc.stdout)
        if proc.returncode != 0:
            errors = [line for line in proc.stdout.splitlines() if "error" in line.lower()]
            raise BuildFailed(
                f"make failed with exit code {proc.returncode}: {(errors or proc.stdout.strip().splitlines() or [''])[-1]}",
                command=argv,
                returncode=proc.returncode,
                log_tail=proc.stdout[-4000:],
            )
        elf = project_dir / build_files.ELF
        result: dict[str, Any] = {
            "artifacts": [str(elf), str(project_dir / build_files.HEX), str(project_dir / build_files.BIN)],
            "board": record.get("board"),
            "project_type": record.get("project_type"),
        }
        result["sizes"] = image_sizes(elf)
        return result

    # ---- flash and run --------------------------------------------------------------------

    def _image(self, project_dir: Path, record: dict, fmt: str = "elf") -> Path:
        image = project_dir / (build_files.HEX if fmt == "hex" else build_files.ELF)
        if not image.is_file():
            raise ProjectError(f"{image} is not built yet: run build first")
        return image

    def flash(self, project_dir: Path, options: dict) -> dict:
        record = project.load_record(project_dir)
        runner = runner_for(record, options)
        image = self._image(project_dir, record, runner.caps.image)
        if runner.caps.emulated and record.get("project_type") == "standalone":
            return self._run_standalone(runner, image, record, options)
        if isinstance(runner, QemuRunner):
            self._stop_qemu()
            result = runner.flash(image, project_dir / "build" / "qemu.log")
            self._qemu, self._qemu_image = runner, image
            return result
        result = runner.flash(image, project_dir / "build" / f"{runner.name}.log")
        result["message"] = f"{image.name} written with {runner.name}"
        return result

    def _run_standalone(self, runner: QemuRunner, image: Path, record: dict, options: dict) -> dict:
        run = runner.run_to_end(image, float(options.get("run_timeout") or 600.0))
        facts = parse_standalone_output(run["output"])
        sys.stderr.write(run["output"])
        result: dict[str, Any] = {
            "runner": runner.name,
            "exit_status": run["exit_status"],
            "output": run["output"],
            "seconds": run["seconds"],
            "command": run["command"],
            **{k: v for k, v in facts.items() if k != "outputs"},
            "outputs": [facts["outputs"][k] for k in sorted(facts["outputs"])],
        }
        clock = facts.get("clock_hz") or record.get("cpu_clock_hz")
        if "ticks" in facts and clock:
            result["instructions"] = instructions_from_ticks(facts["ticks"], clock, record)
        if "status" in facts:
            line = f"utvm: status {facts['status']}"
        elif "fault" in facts:
            line = f"utvm: fault {facts['fault']}"
        else:
            line = "no status line on the console"
        count = f", {result['instructions']} instructions" if "instructions" in result else ""
        result["message"] = f"standalone run on {record.get('board')}: {line}{count} (exit status {run['exit_status']})"
        if run["stderr"].strip():
            result["stderr"] = run["stderr"][-2000:]
        return result

    # ---- transport ------------------------------------------------------------------------

    def _stop_qemu(self) -> None:
        if self._qemu is not None:
            self._qemu.stop()
        self._qemu, self._qemu_image = None, None

    def open_transport(self, project_dir: Path, options: dict) -> dict:
        record = project.load_record(project_dir)
        runner = runner_for(record, options)
        if isinstance(runner, QemuRunner):
            image = self._image(project_dir, record)
            q = self._qemu
            if q is None or not q.running or q.connected or self._qemu_image != image:
                self._stop_qemu()
                runner.start(image, project_dir / "build" / "qemu.log")
                self._qemu, self._qemu_image = runner, image
            q = self._qemu
            try:
                self._console = SerialConsole.open(f"socket://127.0.0.1:{q.port}", int(record["console"]["baud"]))
            except BaseException:
                self._stop_qemu()
                raise
            q.connected = True
            return {"kind": "qemu", "port": q.port, "pid": q.proc.pid if q.proc else None}
        port = options.get("port")
        if not port:
            probe = record.get("probe") or {}
            serial_number = options.get("serial_number") or probe.get("serial_number")
            port = find_serial_port(serial_number, probe.get("usb_vid"), probe.get("usb_pid"))
        self._console = SerialConsole.open(port, int(record["console"]["baud"]))
        return {"kind": "serial", "port": port}

    def close_transport(self) -> None:
        console, self._console = self._console, None
        if console is not None:
            console.close()
        self._stop_qemu()

    def read_transport(self, n: int, timeout: float) -> bytes:
        assert self._console is not None
        data = self._console.read(n, timeout)
        return data

    def write_transport(self, data: bytes, timeout: float) -> None:
        assert self._console is not None
        self._console.write(data, timeout)


def instructions_from_ticks(ticks: int, clock_hz: int, record: dict) -> int:
    """Instructions under QEMU -icount shift=S: one instruction is 2^S virtual ns, SysTick ticks at clock_hz."""
    shift = int((record.get("emulator") or {}).get("icount_shift", 0))
    return round(ticks * 1e9 / clock_hz / (1 << shift))


_SIZE_LINE = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s*$")


def image_sizes(elf: Path) -> dict[str, Any]:
    """Section sizes of the image (bytes): code, weights, test_data, data, bss, arena, stack.

    ``code`` is the flash that is neither the weights, nor a standalone image's built-in inputs
    and expected outputs (``test_data``), nor the ``.data`` load image.
    """
    tool = shutil.which(SIZE_TOOL)
    if tool is None or not elf.is_file():
        return {}
    proc = subprocess.run([tool, "-A", "-d", str(elf)], capture_output=True, text=True)
    sections: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        m = _SIZE_LINE.match(line.strip())
        if m and m.group(1).startswith(".") and not m.group(1).startswith((".debug", ".comment", ".ARM.attributes")):
            sections[m.group(1)] = int(m.group(2))
    weights = sections.get(".utvm_weights", 0)
    test_data = sections.get(".utvm_standalone", 0)
    code = sum(sections.get(s, 0) for s in (".vectors", ".text", ".ARM.extab", ".ARM.exidx"))
    data = sections.get(".data", 0)
    bss = sections.get(".bss", 0)
    arena = sections.get(".utvm_arena", 0)
    stack = sections.get(".stack", 0)
    return {
        "text": code + weights + test_data,  # as arm-none-eabi-size counts it (flash: code, rodata, weights)
        "code": code,
        "weights": weights,
        "test_data": test_data,
        "data": data,
        "bss": bss,
        "arena": arena,
        "stack": stack,
        "flash": code + weights + test_data + data,
        "ram": data + bss + arena + stack,
        "sections": sections,
    }


if __name__ == "__main__":
    install_reaper()
    BaremetalServer().serve()
