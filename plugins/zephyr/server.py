"""The Zephyr platform's project server.

Boards come from the Zephyr tree (``zephyr_base`` option, else the
``ZEPHYR_BASE`` environment variable): see :mod:`.boards`. ``target_info``
configures the board when it can (west or cmake) and reads the build's
devicetree, Kconfig and runners (:mod:`.facts`). ``generate_project`` writes a
Zephyr application (:mod:`.project`); ``build`` runs ``west build``; ``flash``
runs ``west flash`` (QEMU targets have nothing to flash); ``open_transport``
starts QEMU with ``west build -t run`` or opens the board's serial port
(:mod:`.transport`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from utvm.errors import UtvmError
from utvm.project_api import (
    BoardNotFound,
    BuildFailed,
    DoesNotFit,
    FlashFailed,
    InvalidOption,
    ProjectError,
    ProjectOption,
    ProjectServer,
    TransportClosed,
    TransportError,
    TransportTimeout,
)
from utvm.project_api.standalone import PROJECT_TYPES, standalone_options  # noqa: F401 - numpy-free, unlike utvm.project_files

from . import boards as boards_mod
from . import facts as facts_mod
from . import project as project_mod
from . import transport as link_mod

BUILD_DIR = "build"
DEFAULT_BAUD = 115200
ALL_STEPS = ["boards", "target_info", "generate_project", "build", "flash", "open_transport"]


class ZephyrServer(ProjectServer):
    platform_name = "zephyr"
    description = "Zephyr applications built with west; boards read from the Zephyr tree (ZEPHYR_BASE)"
    version = "1"
    options = [
        ProjectOption("zephyr_base", "path", optional_for=ALL_STEPS,
                      help="the Zephyr tree (default: the ZEPHYR_BASE environment variable, or the project's record)"),
        ProjectOption("configure", "choice", optional_for=["target_info", "generate_project"], default="auto",
                      choices=["auto", "always", "never"],
                      help="configure the board (west/cmake --cmake-only) to read its devicetree, Kconfig and runners: "
                           "auto (when a tool is there), always (fail otherwise), never (twister yaml hints only)"),
        ProjectOption("refresh", "bool", optional_for=["target_info", "generate_project"], default=False,
                      help="configure again even if utvm's cache holds the board's configured build"),
        *standalone_options(host_driven="RPC server on the console UART",
                            standalone="built-in inputs, printk outputs", image="image"),
        ProjectOption("main_stack_size", "int", optional_for=["generate_project"], default=4096,
                      help="CONFIG_MAIN_STACK_SIZE in bytes (the model runs on the main thread)"),
        ProjectOption("arena_region", "choice", optional_for=["generate_project"], default="auto",
                      choices=["auto", "sram", "dtcm"],
                      help="where the activation arena goes: dtcm needs a chosen zephyr,dtcm node; auto uses it "
                           "when the arena fits"),
        ProjectOption("optimize", "choice", optional_for=["generate_project"], default="speed",
                      choices=["speed", "size", "debug"], help="CONFIG_SPEED/SIZE/DEBUG_OPTIMIZATIONS"),
        ProjectOption("ram_reserve_bytes", "int", optional_for=["generate_project"], default=8192,
                      help="RAM kept for the kernel and the rest of the application in the fit check"),
        ProjectOption("flash_reserve_bytes", "int", optional_for=["generate_project"], default=32768,
                      help="flash kept for code (kernel, runtime, kernels) in the fit check"),
        ProjectOption("emulator", "choice", optional_for=["generate_project"], default="auto",
                      choices=["auto", "qemu", "none"],
                      help="run in QEMU (auto: when the board's twister yaml or Kconfig says it is a QEMU target) "
                           "or on hardware (none)"),
        ProjectOption("pristine", "choice", optional_for=["build"], choices=["auto", "always", "never"],
                      help="west build -p: rebuild from scratch (default: west's own setting)"),
        ProjectOption("runner", "str", optional_for=["flash"],
                      help="west flash --runner (default: flash-runner of the build's runners.yaml)"),
        ProjectOption("dev_id", "str", optional_for=["flash", "open_transport"],
                      help="probe serial number: west flash --dev-id, and the USB serial port to open"),
        ProjectOption("port", "str", optional_for=["open_transport"],
                      help="the console's serial port (default: found from dev_id, or the only USB serial port)"),
        ProjectOption("baud", "int", optional_for=["open_transport"],
                      help="console baud rate (default: the console node's current-speed, else 115200)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._catalogs: dict[tuple[Path, bool], boards_mod.Catalog] = {}
        self._link: link_mod.QemuLink | link_mod.SerialLink | None = None

    # ---- the Zephyr tree and its boards --------------------------------------------------------

    @staticmethod
    def _zephyr_base(options: dict, record: dict | None = None) -> Path:
        value = options.get("zephyr_base") or os.environ.get("ZEPHYR_BASE") or (record or {}).get("zephyr_base")
        if not value:
            raise ProjectError(
                "no Zephyr tree: set ZEPHYR_BASE (for example ~/zephyrproject/zephyr) or give zephyr_base=PATH"
            )
        path = Path(value).expanduser().resolve()
        if not (path / "boards").is_dir():
            raise ProjectError(f"{path} is not a Zephyr tree: it has no boards/ folder (zephyr_base / ZEPHYR_BASE)",
                               path=str(path))
        return path

    @staticmethod
    def _env(zephyr_base: Path | None) -> dict[str, str]:
        env = dict(os.environ)
        if zephyr_base is not None:
            env["ZEPHYR_BASE"] = str(zephyr_base)
        return env

    def _catalog(self, zephyr_base: Path, use_west: bool = True) -> boards_mod.Catalog:
        """The tree's targets; with ``use_west``, plus what ``west boards`` lists (module board roots)."""
        key = (zephyr_base, use_west)
        if key in self._catalogs:
            return self._catalogs[key]
        notes: list[str] = []
        rows = None
        west = shutil.which("west") if use_west else None
        if use_west and west is None:
            notes.append("west is not on PATH: boards read from ZEPHYR_BASE/boards only "
                         "(boards of modules' board roots need west boards)")
        elif use_west:
            argv = [west, "boards", "--format", boards_mod.WEST_BOARDS_FORMAT]
            proc = subprocess.run(argv, env=self._env(zephyr_base), cwd=str(zephyr_base), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, errors="replace")
            if proc.returncode == 0:
                rows = boards_mod.parse_west_boards(proc.stdout)
            else:
                sys.stderr.write(proc.stderr)
                notes.append(f"west boards failed with status {proc.returncode} ({facts_mod.error_line(proc.stderr)}); "
                             "boards read from ZEPHYR_BASE/boards only")
        for n in notes:
            sys.stderr.write(f"utvm zephyr: {n}\n")
        cat = boards_mod.catalog(zephyr_base, rows, notes)
        self._catalogs[key] = cat
        return cat

    def _target(self, board: str, zephyr_base: Path) -> tuple[boards_mod.BoardTarget, str]:
        """The target ``board`` names: from the tree walk, else (module boards) with west boards."""
        try:
            target, how = self._catalog(zephyr_base, use_west=False).lookup(board)
        except boards_mod.UnknownBoard:
            try:
                target, how = self._catalog(zephyr_base).lookup(board)
            except boards_mod.UnknownBoard as exc:
                available = exc.available
                shown = ", ".join(available[:40]) + (f", ... ({len(available)} in all)" if len(available) > 40 else "")
                raise BoardNotFound(f"{exc}; available: {shown}", board=board, available=available) from None
        if how == "revision":  # same facts; west gets the revision as given (board@rev/qualifiers)
            target = dataclasses.replace(target, name=board, aliases=[])
        return target, how

    def boards(self, options: dict) -> list[dict[str, Any]]:
        zb = self._zephyr_base(options)
        cat = self._catalog(zb)
        return [t.summary() for t in sorted(cat.targets.values(), key=lambda t: t.name)]

    # ---- facts ---------------------------------------------------------------------------------

    def _configure_tool(self) -> tuple[str, str] | None:
        west = shutil.which("west")
        if west:
            return "west", west
        cmake = shutil.which("cmake")
        if cmake:
            return "cmake", cmake
        return None

    def _facts(self, target: boards_mod.BoardTarget, zb: Path, options: dict) -> dict[str, Any]:
        mode = options["configure"]
        tool = self._configure_tool()
        if mode == "never":
            return facts_mod.facts_from_yaml(target, zb, "configure=never")
        if tool is None:
            if mode == "always":
                raise ProjectError("configure=always, but neither west nor cmake is on PATH")
            return facts_mod.facts_from_yaml(target, zb, "neither west nor cmake is on PATH, so the board "
                                                         "could not be configured")
        build = facts_mod.configure_dir(zb, target.name)
        cached = facts_mod.configured_files_exist(build) and not options["refresh"]
        if not cached:
            if build.exists():
                shutil.rmtree(build)
            build.parent.mkdir(parents=True, exist_ok=True)
            argv = facts_mod.configure_command(tool[0], tool[1], target.name, build, facts_mod.probe_app())
            try:
                facts_mod.run_configure(argv, self._env(zb), build.parent)
                if not facts_mod.configured_files_exist(build):
                    raise facts_mod.ConfigureFailed(
                        f"{tool[0]} succeeded but wrote no {build}/zephyr/.config and zephyr.dts", argv, 0, "")
            except facts_mod.ConfigureFailed as exc:
                shutil.rmtree(build, ignore_errors=True)
                if mode == "always":
                    raise ProjectError(f"configuring {target.name} failed: {exc}", command=exc.command,
                                       returncode=exc.returncode, log_tail=exc.log_tail) from None
                out = facts_mod.facts_from_yaml(target, zb, f"configuring with {tool[0]} failed ({exc})")
                out["configure"] = {"command": exc.command, "returncode": exc.returncode}
                return out
        out = facts_mod.facts_from_build(build, target)
        out["configure"] = {"tool": tool[0], "cached": cached}
        return out

    def target_info(self, board: str, options: dict) -> dict[str, Any]:
        zb = self._zephyr_base(options)
        target, how = self._target(board, zb)
        info = self._facts(target, zb, options)
        info["board"] = target.name
        info["requested_as"] = board if board != target.name else None
        info["resolved_by"] = how
        info["zephyr_base"] = str(zb)
        info["hwm"] = target.hwm
        info["vendor"] = target.vendor or (target.twister or {}).get("vendor")
        return info

    # ---- the project ---------------------------------------------------------------------------

    def generate_project(self, model_library_format_path: Path, project_dir: Path, board: str, options: dict) -> dict:
        zb = self._zephyr_base(options)
        target, how = self._target(board, zb)
        kind = options["project_type"]
        for opt in ("main_stack_size", "ram_reserve_bytes", "flash_reserve_bytes"):
            if options[opt] < 0 or (opt == "main_stack_size" and options[opt] < 512):
                raise InvalidOption(f"option '{opt}' must be {'at least 512' if opt == 'main_stack_size' else '>= 0'}, "
                                    f"got {options[opt]}", option=opt)
        facts = self._facts(target, zb, options)
        emulators = facts.get("emulators") or []
        if options["emulator"] == "qemu":
            if "qemu" not in emulators:
                raise InvalidOption(f"emulator=qemu, but {target.name} is not a QEMU target (its twister yaml and "
                                    f"Kconfig name {emulators or 'no emulator'})", option="emulator")
            emulator = "qemu"
        elif options["emulator"] == "none":
            emulator = None
        else:
            emulator = "qemu" if "qemu" in emulators else None
        from utvm.project_files import install_model  # numpy and the compiler: only when needed

        try:
            model = install_model(model_library_format_path, project_dir, kind, options.get("inputs"),
                                  options.get("expected_outputs"))
        except UtvmError as exc:
            raise ProjectError(str(exc)) from None
        compiled_for = (model.metadata.get("target") or {}).get("board")
        if compiled_for and compiled_for != target.name:
            sys.stderr.write(f"utvm zephyr: warning: the model was compiled for {compiled_for}, not {target.name}: "
                             "its kernels may use ISA features this board lacks\n")
        try:
            plan = project_mod.memory_plan(model.metadata, facts, target.name, options)
        except project_mod.NoFit as exc:
            raise DoesNotFit(str(exc), region=exc.region, needed=exc.needed, available=exc.available) from None
        runners = facts.get("runners") or {}
        record = {
            "target": target.name,
            "requested_board": board,
            "resolved_by": how,
            "project_type": kind,
            "model": model.name,
            "emulator": emulator,
            "zephyr_base": str(zb),
            "facts_source": facts.get("source"),
            "cpu": facts.get("cpu"),
            "features": facts.get("features"),
            "console": facts.get("console"),
            "runners": {k: runners.get(k) for k in ("runners", "flash_runner") if k in runners},
            "memory": plan,
        }
        files = project_mod.write_project(project_dir, target.name, kind, model, facts, plan, options, record)
        return {
            "project_type": kind,
            "target": target.name,
            "emulator": emulator,
            "facts_source": facts.get("source"),
            "placement": {"weights": "ROM_SECTIONS utvm/weights.ld (flash)",
                          "arena": "DTCM via zephyr_code_relocate" if plan["arena_region"] == "dtcm"
                          else "RAM_SECTIONS utvm/arena.ld (NOLOAD)"},
            "memory": plan,
            "files": files,
        }

    @staticmethod
    def _record(project_dir: Path) -> dict[str, Any]:
        path = project_dir / project_mod.RECORD
        if not path.is_file():
            raise ProjectError(f"{project_dir} is not a utvm Zephyr project (no {project_mod.RECORD}); "
                               "generate it with generate_project")
        try:
            return json.loads(path.read_text())
        except ValueError as exc:
            raise ProjectError(f"{path} is damaged: {exc}") from None

    def _base_or_none(self, options: dict, record: dict) -> Path | None:
        try:
            return self._zephyr_base(options, record)
        except ProjectError:
            return None

    @staticmethod
    def _west_or_fail(exc_type: type, what: str) -> str:
        west = shutil.which("west")
        if west is None:
            raise exc_type(f"west is not on PATH: install it (pip install west) and the Zephyr SDK to {what}",
                           command=["west"])
        return west

    @staticmethod
    def _run_tool(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
        sys.stderr.write(f"utvm zephyr: {' '.join(argv)}\n")
        sys.stderr.flush()
        proc = subprocess.run(argv, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
        sys.stderr.write(proc.stdout)
        sys.stderr.flush()
        return proc

    def build(self, project_dir: Path, options: dict) -> dict:
        record = self._record(project_dir)
        west = self._west_or_fail(BuildFailed, "build Zephyr applications")
        zb = self._base_or_none(options, record)
        build = project_dir / BUILD_DIR
        argv = [west, "build", "-b", record["target"], "-d", str(build)]
        if options.get("pristine"):
            argv += ["-p", options["pristine"]]
        argv.append(str(project_dir))
        if record.get("emulator") == "qemu":
            # Zephyr's qemu.cmake: the console on FIFOs <pipe>.in/.out (see transport.py).
            argv += ["--", f"-DQEMU_PIPE={build / link_mod.FIFO_NAME}"]
        proc = self._run_tool(argv, self._env(zb), project_dir)
        if proc.returncode != 0:
            raise BuildFailed(f"west build failed with status {proc.returncode}: {facts_mod.error_line(proc.stdout)}",
                              command=argv, returncode=proc.returncode, log_tail=proc.stdout[-4000:])
        zdir = build / "zephyr"
        artifacts = [str(zdir / n) for n in ("zephyr.elf", "zephyr.hex", "zephyr.bin", "zephyr.exe")
                     if (zdir / n).is_file()]
        return {"artifacts": artifacts, "command": argv, "target": record["target"]}

    def flash(self, project_dir: Path, options: dict) -> dict:
        record = self._record(project_dir)
        build = project_dir / BUILD_DIR
        if not (build / "zephyr" / "zephyr.elf").is_file():
            raise ProjectError(f"{build}/zephyr/zephyr.elf does not exist: build the project first")
        if record.get("emulator") == "qemu":
            return {"emulator": "qemu", "message": f"{record['target']} runs in QEMU: nothing to flash; "
                    "open_transport starts the emulator (west build -t run)"}
        west = self._west_or_fail(FlashFailed, "flash boards")
        runners_yaml = build / "zephyr" / "runners.yaml"
        runners = facts_mod.read_runners(runners_yaml) if runners_yaml.is_file() else dict(record.get("runners") or {})
        runner = options.get("runner") or runners.get("flash_runner")
        known = runners.get("runners") or []
        if options.get("runner") and known and runner not in known:
            raise InvalidOption(f"runner {runner!r} is not configured for {record['target']}; its runners.yaml "
                                f"lists: {', '.join(known)}", option="runner", valid=known)
        argv = [west, "flash", "-d", str(build)]
        if runner:
            argv += ["--runner", runner]
        if options.get("dev_id"):
            argv += ["--dev-id", options["dev_id"]]
        proc = self._run_tool(argv, self._env(self._base_or_none(options, record)), project_dir)
        if proc.returncode != 0:
            raise FlashFailed(f"west flash failed with status {proc.returncode}: {facts_mod.error_line(proc.stdout)}",
                              command=argv, returncode=proc.returncode, log_tail=proc.stdout[-4000:])
        return {"runner": runner, "command": argv}

    # ---- the transport -------------------------------------------------------------------------

    def open_transport(self, project_dir: Path, options: dict) -> dict:
        record = self._record(project_dir)
        build = project_dir / BUILD_DIR
        if not (build / "zephyr" / "zephyr.elf").is_file():
            raise ProjectError(f"{build}/zephyr/zephyr.elf does not exist: build the project first")
        try:
            if record.get("emulator") == "qemu":
                west = shutil.which("west")
                if west is None:
                    raise TransportError("west is not on PATH: it runs QEMU (west build -t run)")
                link = link_mod.QemuLink(west, build, self._env(self._base_or_none(options, record)), project_dir)
                self._link = link
                return {"emulator": "qemu", "command": link.argv, "pid": link.pid, "console": str(link.pipe),
                        "mux_escape": link.escape_mux}
            port, how = options.get("port"), "the port option"
            if not port:
                port, how = link_mod.find_port(options.get("dev_id"))
            console = record.get("console") or {}
            baud = options.get("baud") or console.get("current_speed") or DEFAULT_BAUD
            self._link = link_mod.SerialLink(port, int(baud))
            return {"port": port, "found_by": how, "baud": int(baud)}
        except link_mod.LinkError as exc:
            raise TransportError(str(exc)) from None

    def close_transport(self) -> None:
        if self._link is not None:
            link, self._link = self._link, None
            link.close()

    def read_transport(self, n: int, timeout: float) -> bytes:
        assert self._link is not None
        try:
            return self._link.read(n, timeout) if n > 0 else b""
        except link_mod.LinkClosed as exc:
            raise TransportClosed(str(exc)) from None

    def write_transport(self, data: bytes, timeout: float) -> None:
        assert self._link is not None
        try:
            self._link.write(data, timeout)
        except link_mod.LinkTimeout as exc:
            raise TransportTimeout(str(exc)) from None
        except link_mod.LinkClosed as exc:
            raise TransportClosed(str(exc)) from None


if __name__ == "__main__":
    ZephyrServer().serve()
