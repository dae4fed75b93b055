"""The Mbed OS platform's project server.

Boards are the public targets of the user's mbed-os tree (option ``mbed_os_path`` or the
``MBED_OS_PATH`` environment variable), read from ``targets/targets.json`` (Mbed OS) or
``targets/targets.json5`` (Mbed CE) with inheritance resolved as mbed-tools does (targets.py).
Connected boards, their serial ports and USB drives come from ``mbed-tools detect``.

- ``generate_project``: an Mbed program (generate.py) with the model, a BufferedSerial
  platform layer and a memory check against the target's ROM and RAM banks;
- ``build``: ``mbed-tools compile -m TARGET -t GCC_ARM -b PROFILE`` in the project (Mbed OS), or
  ``cmake -S . -B build -G Ninja -DMBED_TARGET=TARGET`` and ``cmake --build build`` (Mbed CE,
  which has no compile command);
- ``flash``: copy the image to the board's USB drive (DAPLink/ST-Link mass storage), or
  ``pyocd flash -t PYOCD_TARGET -u SERIAL IMAGE.hex``;
- ``open_transport``: the board's serial port (pyserial) at the project's baud rate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from utvm.errors import UtvmError
from utvm.mlf import read_mlf
from utvm.project_api import (
    BoardNotFound,
    BuildFailed,
    DoesNotFit,
    FlashFailed,
    ProjectError,
    ProjectOption,
    ProjectServer,
    TransportClosed,
    TransportError,
    TransportTimeout,
)
from utvm.project_api.standalone import standalone_options
from utvm.project_files import install_model

from . import generate
from .devices import DetectError, DeviceNotFound, detect, mbed_tools_executable, select_device
from .targets import (
    FLAVOR_MBED_CE,
    MbedTreeError,
    TargetDatabase,
    TargetDescription,
    TargetError,
    find_tree,
    target_facts,
)

VERSION = "1"
PROFILES = ("develop", "release", "debug")


def _options() -> list[ProjectOption]:
    return [
        ProjectOption("mbed_os_path", "path", optional_for=["boards", "target_info", "generate_project"],
                      help="the mbed-os tree (ARMmbed or Mbed CE); default: $MBED_OS_PATH"),
        ProjectOption("detect", "bool", optional_for=["boards"], default=True,
                      help="mark the targets of connected boards (runs mbed-tools detect when it is installed)"),
        *standalone_options(host_driven="the host sends inputs over the UART", standalone="inputs built in",
                            image="board"),
        ProjectOption("baud_rate", "int", optional_for=["generate_project"], default=115200,
                      help="UART baud rate of the model's serial link"),
        ProjectOption("application_profile", "choice", optional_for=["generate_project"], default="full",
                      choices=["full", "bare-metal"], help="Mbed OS with the RTOS, or Mbed's bare-metal profile"),
        ProjectOption("timer", "choice", optional_for=["generate_project"], default="auto",
                      choices=["auto", "microseconds"],
                      help="auto: the DWT cycle counter where the core has one, else microseconds"),
        ProjectOption("rom_reserve", "int", optional_for=["generate_project"],
                      help="bytes of ROM left for Mbed OS and code (default: 64 KiB full, 24 KiB bare-metal)"),
        ProjectOption("ram_reserve", "int", optional_for=["generate_project"],
                      help="bytes of RAM left for Mbed OS stacks, heap and data (default: 20 KiB full, 6 KiB bare-metal)"),
        ProjectOption("linker_script", "path", optional_for=["generate_project"],
                      help="a GCC linker script placing .bss.utvm_arena/.rodata.utvm_weights; used via mbed_set_post_build"),
        ProjectOption("toolchain", "choice", optional_for=["build"], default="GCC_ARM", choices=["GCC_ARM", "ARM"],
                      help="Mbed toolchain (Mbed CE: GCC_ARM only)"),
        ProjectOption("profile", "choice", optional_for=["build"], default="develop", choices=list(PROFILES),
                      help="Mbed build profile"),
        ProjectOption("clean", "bool", optional_for=["build"], default=False, help="rebuild from scratch"),
        ProjectOption("flash_method", "choice", optional_for=["flash"], default="auto",
                      choices=["auto", "copy", "pyocd"],
                      help="copy: to the board's USB drive; pyocd: through the debug probe; auto: copy if a drive is known"),
        ProjectOption("mount_point", "path", optional_for=["flash"],
                      help="the board's USB drive (default: from mbed-tools detect)"),
        ProjectOption("pyocd_target", "str", optional_for=["flash"],
                      help="pyOCD target type (default: Mbed CE's upload config, else the target name in lower case)"),
        ProjectOption("settle_time", "float", optional_for=["flash"], default=2.0,
                      help="seconds to wait after copying before looking for the drive's FAIL.TXT"),
        ProjectOption("serial_number", "str", optional_for=["flash", "open_transport"],
                      help="the board's serial number (probe UID) when several are connected"),
        ProjectOption("port", "str", optional_for=["open_transport"],
                      help="serial port or pyserial URL (default: the board's port from mbed-tools detect)"),
    ]


class MbedServer(ProjectServer):
    platform_name = "mbed"
    description = "Mbed OS programs built with mbed-tools (Mbed OS 6) or CMake (Mbed CE)"
    version = VERSION
    options = _options()

    def __init__(self) -> None:
        super().__init__()
        self._serial: Any = None
        self._db_cache: dict[Path, TargetDatabase] = {}

    # ---- targets ------------------------------------------------------------------------------

    def _database(self, options: dict) -> TargetDatabase:
        try:
            tree = find_tree(options.get("mbed_os_path"))
        except MbedTreeError as exc:
            raise ProjectError(str(exc)) from None
        if tree.root not in self._db_cache:
            try:
                self._db_cache[tree.root] = TargetDatabase(tree)
            except MbedTreeError as exc:
                raise ProjectError(str(exc)) from None
        return self._db_cache[tree.root]

    def _describe(self, db: TargetDatabase, board: str) -> TargetDescription:
        try:
            return db.describe(board)
        except TargetError as exc:
            raise BoardNotFound(str(exc), board=board, available=exc.available or db.public_names()) from None
        except MbedTreeError as exc:
            raise ProjectError(str(exc)) from None

    def boards(self, options: dict) -> list[dict[str, Any]]:
        db = self._database(options)
        rows = []
        for name in db.public_names():
            try:
                rows.append(target_facts(db.describe(name)))
            except (TargetError, MbedTreeError) as exc:
                rows.append({"name": name, "description": f"unreadable: {exc}", "error": str(exc)})
        tool = mbed_tools_executable(db.tree.root) if options.get("detect") else None
        if tool:
            try:
                devices = detect(tool)
            except DetectError as exc:
                print(f"utvm mbed: cannot list connected boards: {exc}", file=sys.stderr)
                devices = []
            for row in rows:
                found = [d.to_json() for d in devices if d.matches(row["name"], row.get("detect_code", []))]
                if found:
                    row["connected"] = found
        return rows

    def target_info(self, board: str, options: dict) -> dict[str, Any]:
        db = self._database(options)
        desc = self._describe(db, board)
        info: dict[str, Any] = {
            "board": desc.name,
            "cpu": desc.core.cpu,
            "arch": desc.core.arch,
            "features": list(desc.core.features),
            "fpu": desc.core.fpu,
            "core": desc.core.mbed_name,
            "memory_regions": [b.to_json() for b in desc.banks],
            "memory_source": desc.memory_source,
            "mbed_os": {"path": str(db.tree.root), "flavor": db.tree.flavor},
        }
        if desc.core.trustzone_ns:
            info["trustzone"] = "non-secure"
        if desc.device_name:
            info["device_name"] = desc.device_name
        if desc.vendor:
            info["vendor"] = desc.vendor
        if desc.memory_note:
            info["note"] = desc.memory_note
        if not desc.core.known:
            info["note"] = (info.get("note", "") + f"; core {desc.core.mbed_name!r} is not one utvm decodes").lstrip("; ")
        return info

    # ---- generate_project ---------------------------------------------------------------------

    def generate_project(self, model_library_format_path: Path, project_dir: Path, board: str, options: dict) -> dict:
        db = self._database(options)
        desc = self._describe(db, board)
        tree = db.tree
        kind = options["project_type"]
        profile = options["application_profile"]
        baud = options["baud_rate"]
        if baud <= 0:
            raise ProjectError(f"baud_rate must be positive, not {baud}")
        for opt in ("rom_reserve", "ram_reserve"):
            if options.get(opt) is not None and options[opt] < 0:
                raise ProjectError(f"{opt} must be >= 0, not {options[opt]}")
        script = options.get("linker_script")
        if script is not None and not script.is_file():
            raise ProjectError(f"linker_script {script} is not a file")
        try:
            compiled = read_mlf(model_library_format_path)
        except (UtvmError, OSError) as exc:
            raise ProjectError(f"cannot read {model_library_format_path}: {exc}") from None
        metadata = compiled.metadata
        self._check_compiled_target(metadata, desc)

        placement = None
        if desc.primary("rom") is not None or desc.primary("ram") is not None:
            try:
                placement = generate.plan_memory(metadata, desc, kind, profile, options.get("rom_reserve"),
                                                 options.get("ram_reserve"), script is not None)
            except generate.FitError as exc:
                raise DoesNotFit(str(exc), region=exc.region, needed=exc.needed, available=exc.available) from None
        else:
            print(f"utvm mbed: {desc.name}: memory not checked ({desc.memory_note})", file=sys.stderr)

        try:
            model = install_model(model_library_format_path, project_dir, kind, options.get("inputs"),
                                  options.get("expected_outputs"))
        except UtvmError as exc:
            raise ProjectError(str(exc)) from None
        name = generate.program_name(project_dir)
        sources = list(model.sources)
        files = ["CMakeLists.txt", "mbed_app.json", "main.cpp", "README.md", generate.RECORD_FILE, "model/", "mbed-os"]
        (project_dir / "main.cpp").write_text(generate.main_cpp(desc.name, kind, baud, options["timer"]))
        (project_dir / "mbed_app.json").write_text(generate.mbed_app_json(desc, tree.flavor, baud, profile))
        (project_dir / "CMakeLists.txt").write_text(
            generate.cmakelists(tree.flavor, name, desc.name, sources, model.include_dirs, profile, script is not None))
        if tree.flavor != FLAVOR_MBED_CE:
            (project_dir / "mbed-os.lib").write_text(generate.mbed_os_reference(tree))
            files.append("mbed-os.lib")
        if script is not None:
            generate.copy_linker_script(script, project_dir)
            files.append(generate.LINKER_SCRIPT)
        (project_dir / ".gitignore").write_text("cmake_build/\nbuild/\nmbed-os\n")
        try:
            (project_dir / "mbed-os").symlink_to(tree.root, target_is_directory=True)
        except OSError as exc:
            raise ProjectError(f"cannot link {project_dir / 'mbed-os'} to {tree.root}: {exc}") from None
        upload = generate.read_upload_cfg(tree, desc.name)
        record = {
            "target": desc.name,
            "flavor": tree.flavor,
            "mbed_os_path": str(tree.root),
            "program": name,
            "project_type": kind,
            "baud_rate": baud,
            "application_profile": profile,
            "output_ext": str(desc.attributes.get("OUTPUT_EXT") or "bin").lower() or "bin",
            "device_name": desc.device_name,
            "detect_code": desc.attributes.get("detect_code") or [],
            "pyocd_target": upload.get("PYOCD_TARGET_NAME"),
            "placement": placement.to_json() if placement else None,
        }
        (project_dir / generate.RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
        (project_dir / "README.md").write_text(
            generate.readme(desc, tree.flavor, name, kind, placement, baud, desc.memory_note))
        result: dict[str, Any] = {"project_type": kind, "target": desc.name, "flavor": tree.flavor,
                                  "program": name, "files": files}
        if placement is not None:
            result["placement"] = placement.to_json()
        return result

    @staticmethod
    def _check_compiled_target(metadata: dict, desc: TargetDescription) -> None:
        # Kernels may be chosen for the ISA extensions (DSP, MVE) the compile target had; a board
        # without them cannot run that code. FPU use is left to Mbed's compiler flags.
        target = metadata.get("target") or {}
        have = set(desc.core.features)
        needed = [f for f in target.get("features", []) if f.split(".")[0] in ("dsp", "mve") and
                  f.split(".")[0] not in have]
        if target.get("cpu") not in (None, "host") and needed:
            raise ProjectError(
                f"the model was compiled for {target.get('cpu')} with {', '.join(needed)}, which {desc.name} "
                f"({desc.core.mbed_name}) lacks; compile it for this board (--platform mbed --board {desc.name}) "
                "or as portable C")

    # ---- build --------------------------------------------------------------------------------

    @staticmethod
    def _record(project_dir: Path) -> dict[str, Any]:
        path = project_dir / generate.RECORD_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ProjectError(f"{project_dir} is not an Mbed project generated by utvm ({path}: {exc})") from None

    @staticmethod
    def _build_dir(project_dir: Path, record: dict, toolchain: str, profile: str) -> Path:
        if record["flavor"] == FLAVOR_MBED_CE:
            return project_dir / "build"
        return project_dir / "cmake_build" / record["target"].upper() / profile / toolchain.upper()

    def build(self, project_dir: Path, options: dict) -> dict:
        record = self._record(project_dir)
        toolchain, profile = options["toolchain"], options["profile"]
        target = record["target"]
        if record["flavor"] == FLAVOR_MBED_CE:
            if toolchain != "GCC_ARM":
                raise BuildFailed(f"Mbed CE builds with GCC_ARM only, not {toolchain}", command=[])
            cmake = shutil.which("cmake")
            if cmake is None:
                raise BuildFailed("cmake is not on PATH: Mbed CE builds with CMake and Ninja "
                                  "(apt-get install cmake ninja-build)", command=["cmake"])
            build_dir = project_dir / "build"
            configure = [cmake, "-S", str(project_dir), "-B", str(build_dir), "-G", "Ninja",
                         f"-DMBED_TARGET={target}", f"-DCMAKE_BUILD_TYPE={profile.capitalize()}"]
            _run_tool(configure, project_dir, BuildFailed, "cmake (configure)")
            compile_argv = [cmake, "--build", str(build_dir)] + (["--clean-first"] if options["clean"] else [])
            _run_tool(compile_argv, project_dir, BuildFailed, "cmake --build")
            commands = [configure, compile_argv]
        else:
            tool = mbed_tools_executable()
            if tool is None:
                raise BuildFailed("mbed-tools is not on PATH: pip install mbed-tools (it also needs cmake, ninja and "
                                  "arm-none-eabi-gcc)", command=["mbed-tools"])
            argv = [tool, "compile", "-m", target, "-t", toolchain, "-b", profile] + (["-c"] if options["clean"] else [])
            _run_tool(argv, project_dir, BuildFailed, "mbed-tools compile")
            commands = [argv]
        build_dir = self._build_dir(project_dir, record, toolchain, profile)
        images = [build_dir / f"{record['program']}{ext}" for ext in (".bin", ".hex", ".elf")]
        present = [str(p) for p in images if p.is_file()]
        if not any(p.endswith((".bin", ".hex")) for p in present):
            raise BuildFailed(f"the build finished but made no {record['program']}.bin or .hex in {build_dir}",
                              command=commands[-1], returncode=0)
        (project_dir / "utvm_mbed_build.json").write_text(
            json.dumps({"build_dir": str(build_dir), "toolchain": toolchain, "profile": profile}) + "\n")
        return {"artifacts": present, "commands": commands}

    # ---- flash --------------------------------------------------------------------------------

    def _built(self, project_dir: Path, record: dict) -> Path:
        try:
            info = json.loads((project_dir / "utvm_mbed_build.json").read_text())
        except (OSError, ValueError):
            raise ProjectError(f"{project_dir} is not built yet: run build first") from None
        return Path(info["build_dir"])

    def flash(self, project_dir: Path, options: dict) -> dict:
        record = self._record(project_dir)
        build_dir = self._built(project_dir, record)
        program = record["program"]
        method = options["flash_method"]
        mount = options.get("mount_point")
        serial = options.get("serial_number")
        device = None
        if (method in ("auto", "copy") and mount is None) or (method == "pyocd" and serial is None):
            device = self._find_device(record, serial, required=method == "copy")
            if device is not None:
                serial = serial or device.serial_number or None
                if mount is None and device.mount_points:
                    mount = Path(device.mount_points[0])
        if method == "auto":
            method = "copy" if mount is not None else "pyocd"
        if method == "copy":
            if mount is None:
                raise FlashFailed("no USB drive for the board: connect it, or give the option mount_point", command=[])
            ext = ".hex" if record.get("output_ext") == "hex" else ".bin"
            image = build_dir / f"{program}{ext}"
            if not image.is_file():
                raise ProjectError(f"{image} is missing: run build first")
            return self._copy_flash(image, Path(mount), options["settle_time"])
        pyocd = shutil.which("pyocd")
        if pyocd is None:
            raise FlashFailed("no USB drive for the board and pyocd is not on PATH (pip install pyocd), "
                              "or give the option mount_point", command=["pyocd"])
        image = build_dir / f"{program}.hex"
        if not image.is_file():
            raise ProjectError(f"{image} is missing: pyOCD flashes the .hex image; run build first")
        target = options.get("pyocd_target") or record.get("pyocd_target") or record["target"].lower()
        argv = [pyocd, "flash", "-t", target] + (["-u", serial] if serial else []) + [str(image)]
        _run_tool(argv, project_dir, FlashFailed, "pyocd flash")
        return {"method": "pyocd", "image": str(image), "command": argv}

    def _find_device(self, record: dict, serial: str | None, required: bool):
        tool = mbed_tools_executable(record.get("mbed_os_path"))
        if tool is None:
            if required:
                raise FlashFailed("mbed-tools is not on PATH to find the board's USB drive: install it, or give "
                                  "the option mount_point", command=["mbed-tools"])
            return None
        try:
            devices = detect(tool)
            return select_device(devices, record["target"], serial, record.get("detect_code") or [])
        except DetectError as exc:
            raise FlashFailed(str(exc), command=exc.command, returncode=exc.returncode, log_tail=exc.log_tail) from None
        except DeviceNotFound as exc:
            if required or serial:
                raise FlashFailed(str(exc), command=[]) from None
            print(f"utvm mbed: {exc}", file=sys.stderr)
            return None

    @staticmethod
    def _copy_flash(image: Path, mount: Path, settle: float) -> dict:
        if not mount.is_dir():
            raise FlashFailed(f"the board's drive {mount} is not a mounted folder", command=[])
        dest = mount / image.name
        try:
            shutil.copyfile(image, dest)
            if hasattr(os, "sync"):
                os.sync()
        except OSError as exc:
            raise FlashFailed(f"cannot copy {image} to {mount}: {exc}", command=["copy", str(image), str(mount)]) from None
        if settle > 0:
            time.sleep(settle)
        fail = mount / "FAIL.TXT"
        if fail.is_file():
            try:
                reason = fail.read_text(errors="replace").strip()
            except OSError:
                reason = "(unreadable)"
            raise FlashFailed(f"the board rejected {image.name}: {mount}/FAIL.TXT says {reason!r}",
                              command=["copy", str(image), str(mount)], log_tail=reason)
        return {"method": "copy", "image": str(image), "mount_point": str(mount)}

    # ---- transport ----------------------------------------------------------------------------

    def open_transport(self, project_dir: Path, options: dict) -> dict:
        record = self._record(project_dir)
        port = options.get("port")
        if port is None:
            tool = mbed_tools_executable(record.get("mbed_os_path"))
            if tool is None:
                raise TransportError("no serial port: give the option port, or install mbed-tools to find the board")
            try:
                device = select_device(detect(tool), record["target"], options.get("serial_number"),
                                       record.get("detect_code") or [])
            except (DetectError, DeviceNotFound) as exc:
                raise TransportError(f"{exc}; or give the option port") from None
            if not device.serial_port:
                raise TransportError(f"mbed-tools detect lists no serial port for {record['target']} "
                                     f"(serial {device.serial_number}); give the option port")
            port = device.serial_port
        import serial  # pyserial

        try:
            self._serial = serial.serial_for_url(port, baudrate=int(record.get("baud_rate", 115200)), timeout=0,
                                                 write_timeout=5)
        except (serial.SerialException, ValueError) as exc:
            raise TransportError(f"cannot open {port}: {exc}") from None
        try:
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass
        return {"port": port, "baud_rate": record.get("baud_rate", 115200)}

    def close_transport(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None

    def read_transport(self, n: int, timeout: float) -> bytes:
        import serial

        if n <= 0:
            return b""
        try:
            self._serial.timeout = timeout
            first = self._serial.read(1)
            if not first:
                return b""
            self._serial.timeout = 0
            return first + (self._serial.read(n - 1) if n > 1 else b"")
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"the serial link closed: {exc}") from None

    def write_transport(self, data: bytes, timeout: float) -> None:
        import serial

        try:
            self._serial.write_timeout = timeout
            self._serial.write(data)
            self._serial.flush()
        except serial.SerialTimeoutException as exc:
            raise TransportTimeout(f"the serial link took more than {timeout} s to accept {len(data)} bytes: {exc}") from None
        except (serial.SerialException, OSError) as exc:
            raise TransportClosed(f"the serial link closed: {exc}") from None


def _run_tool(argv: list[str], cwd: Path, error: type, what: str) -> None:
    """Run a tool with its output streamed to stderr; raise ``error`` with the log tail on failure."""
    tail: deque[str] = deque(maxlen=80)
    print(f"utvm mbed: {' '.join(argv)}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.Popen(argv, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
    except OSError as exc:
        raise error(f"cannot run {argv[0]}: {exc}", command=argv) from None
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(line)
        tail.append(line)
    code = proc.wait()
    if code != 0:
        log = "".join(tail)
        last = next((line.strip() for line in reversed(tail) if line.strip()), "")
        raise error(f"{what} failed with exit code {code}: {last}", command=argv, returncode=code, log_tail=log[-4000:])


if __name__ == "__main__":
    MbedServer().serve()
