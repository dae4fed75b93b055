"""What a board target is: read from a configured build, or hinted by the tree's yaml.

A *configured* answer comes from a configure-only build of a tiny probe
application (``west build -b TARGET -d BUILD --cmake-only APP``, or plain
``cmake -S APP -B BUILD -DBOARD=TARGET`` when west is absent) and reads what
Zephyr itself generated:

- ``BUILD/zephyr/zephyr.dts``: the chosen ``zephyr,flash``, ``zephyr,sram``,
  ``zephyr,dtcm``/``zephyr,itcm``, ``zephyr,code-partition`` and
  ``zephyr,console`` nodes and their ``reg``;
- ``BUILD/zephyr/.config``: the CPU (``CONFIG_CPU_CORTEX_M4``...), its
  architecture (``CONFIG_ARMV8_1_M_MAINLINE``...), FPU
  (``CONFIG_CPU_HAS_FPU``, ``CONFIG_ARMV7_M_ARMV8_M_FP``), DSP
  (``CONFIG_ARMV8_M_DSP``; always present on v7E-M cores) and MVE
  (``CONFIG_ARMV8_1_M_MVEI``/``MVEF``), the clock, QEMU targets;
- ``BUILD/zephyr/runners.yaml``: the runners ``board.cmake`` configured, the
  default ``flash-runner`` and each runner's arguments.

Without a way to configure, the answer is the twister yaml's hints (RAM and
flash sizes in KiB) and the CPU found in the board's devicetree sources,
marked ``"source": "twister-yaml"`` with a note saying why.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import dts, yamlish
from .boards import BoardTarget

#: Kconfig symbol of each Cortex-M core -> the CPU name the compiler uses.
_CPU_SYMBOL = re.compile(r"CONFIG_CPU_CORTEX_(M\d+(?:PLUS)?)\Z")


def read_config(path: Path) -> dict[str, Any]:
    """``.config`` as a dict: ``y`` -> True, numbers as int, strings unquoted; ``# X is not set`` -> False."""
    out: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        m = re.match(r"# (CONFIG_\w+) is not set", line)
        if m:
            out[m.group(1)] = False
            continue
        if not line.startswith("CONFIG_") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if value == "y":
            out[key] = True
        elif value == "n":
            out[key] = False
        elif value.startswith('"') and value.endswith('"'):
            out[key] = value[1:-1].encode("utf-8").decode("unicode_escape")
        else:
            try:
                out[key] = int(value, 0)
            except ValueError:
                out[key] = value
    return out


def cpu_from_config(config: dict[str, Any]) -> str | None:
    for key, value in config.items():
        m = _CPU_SYMBOL.match(key)
        if m and value is True:
            core = m.group(1).lower().replace("plus", "+")
            return f"cortex-{core}"
    return None


def arch_from_config(config: dict[str, Any], cpu: str | None) -> str | None:
    on = lambda k: config.get(k) is True  # noqa: E731
    if on("CONFIG_ARMV8_1_M_MAINLINE"):
        return "armv8.1-m.main"
    if on("CONFIG_ARMV8_M_MAINLINE"):
        return "armv8-m.main"
    if on("CONFIG_ARMV8_M_BASELINE"):
        return "armv8-m.base"
    if on("CONFIG_ARMV7_M_ARMV8_M_MAINLINE"):
        return "armv7e-m" if cpu in ("cortex-m4", "cortex-m7") else "armv7-m"
    if on("CONFIG_ARMV6_M_ARMV8_M_BASELINE"):
        return "armv6-m"
    if on("CONFIG_ARM"):
        return "arm"
    return config.get("CONFIG_ARCH") if isinstance(config.get("CONFIG_ARCH"), str) else None


def features_from_config(config: dict[str, Any], cpu: str | None) -> list[str]:
    on = lambda k: config.get(k) is True  # noqa: E731
    feats = []
    # v7E-M cores (M4, M7) always have the DSP extension; v8-M says so in Kconfig.
    if cpu in ("cortex-m4", "cortex-m7") or on("CONFIG_ARMV8_M_DSP"):
        feats.append("dsp")
    if on("CONFIG_CPU_HAS_FPU") or on("CONFIG_ARMV7_M_ARMV8_M_FP"):
        feats.append("fpu")
        if on("CONFIG_CPU_HAS_FPU_DOUBLE_PRECISION"):
            feats.append("fpu_dp")
    if on("CONFIG_ARMV8_1_M_MVEI"):
        feats.append("mve")
    if on("CONFIG_ARMV8_1_M_MVEF"):
        feats.append("mve_fp")
    if on("CONFIG_ARMV8_M_SE") and not on("CONFIG_ARM_NONSECURE_FIRMWARE"):
        feats.append("trustzone")
    return feats


def read_runners(path: Path) -> dict[str, Any]:
    """``runners.yaml``: runners, flash/debug runner, per-runner args, config."""
    doc = yamlish.load(path) or {}
    if not isinstance(doc, dict):
        return {}
    args = doc.get("args") if isinstance(doc.get("args"), dict) else {}
    return {
        "runners": [r for r in doc.get("runners") or [] if isinstance(r, str)],
        "flash_runner": doc.get("flash-runner"),
        "debug_runner": doc.get("debug-runner"),
        "sim_runner": doc.get("sim-runner"),
        "args": {k: [str(a) for a in (v or [])] for k, v in args.items()},
        "config": doc.get("config") if isinstance(doc.get("config"), dict) else {},
    }


def _region(name: str, node: dts.Node | None, access: str, via: str) -> dict[str, Any] | None:
    if node is None:
        return None
    regs = dts.reg_of(node)
    if not regs:
        return None
    origin, length = regs[0]
    return {"name": name, "origin": origin, "length": length, "access": access, "node": node.path, "from": via}


def facts_from_build(build: Path, target: BoardTarget) -> dict[str, Any]:
    """Everything utvm reads from a configured build folder."""
    zdir = build / "zephyr"
    config = read_config(zdir / ".config")
    tree = dts.Devicetree.from_file(zdir / "zephyr.dts")
    runners = read_runners(zdir / "runners.yaml") if (zdir / "runners.yaml").is_file() else {}

    cpu = cpu_from_config(config)
    if cpu is None:  # a non-Arm core: take the devicetree's CPU compatible
        cpus = tree.root.children.get("cpus")
        compat = next((n.string("compatible") for n in (cpus.walk() if cpus else []) if n.string("compatible")), None)
        cpu = compat.split(",")[-1] if compat else "unknown"
    regions = []
    flash = tree.chosen("zephyr,flash")
    code = tree.chosen("zephyr,code-partition")
    region = _region("FLASH", flash, "rx", "chosen zephyr,flash")
    if region and code is not None and code.cells("reg"):
        off, size = code.cells("reg")[0], code.cells("reg")[-1]
        region.update(origin=region["origin"] + off, length=size, node=code.path, **{"from": "chosen zephyr,code-partition"})
    if region is None and isinstance(config.get("CONFIG_FLASH_SIZE"), int) and config["CONFIG_FLASH_SIZE"] > 0:
        region = {"name": "FLASH", "origin": config.get("CONFIG_FLASH_BASE_ADDRESS", 0),
                  "length": config["CONFIG_FLASH_SIZE"] * 1024, "access": "rx", "from": "CONFIG_FLASH_SIZE"}
    if region:
        load_off = config.get("CONFIG_FLASH_LOAD_OFFSET")
        if code is None and isinstance(load_off, int) and 0 < load_off < region["length"]:
            region.update(origin=region["origin"] + load_off, length=region["length"] - load_off)
        regions.append(region)
    sram = _region("SRAM", tree.chosen("zephyr,sram"), "rwx", "chosen zephyr,sram")
    if sram is None and isinstance(config.get("CONFIG_SRAM_SIZE"), int):
        sram = {"name": "SRAM", "origin": config.get("CONFIG_SRAM_BASE_ADDRESS", 0),
                "length": config["CONFIG_SRAM_SIZE"] * 1024, "access": "rwx", "from": "CONFIG_SRAM_SIZE"}
    if sram:
        regions.append(sram)
    for prop, name, access in (("zephyr,dtcm", "DTCM", "rw"), ("zephyr,itcm", "ITCM", "rx")):
        r = _region(name, tree.chosen(prop), access, f"chosen {prop}")
        if r:
            regions.append(r)

    console_node = tree.chosen("zephyr,console")
    console = None
    if console_node is not None:
        regs = dts.reg_of(console_node)
        console = {
            "node": console_node.path,
            "address": regs[0][0] if regs else None,
            "label": console_node.labels[0] if console_node.labels else None,
            "compatible": console_node.strings("compatible"),
            "current_speed": console_node.num("current-speed"),
        }
    emulators = list(target.simulation)
    if config.get("CONFIG_QEMU_TARGET") is True and "qemu" not in emulators:
        emulators.append("qemu")
    if runners.get("flash_runner") == "qemu" and "qemu" not in emulators:
        emulators.append("qemu")
    clock = config.get("CONFIG_SYS_CLOCK_HW_CYCLES_PER_SEC")
    facts: dict[str, Any] = {
        "cpu": cpu,
        "arch": arch_from_config(config, cpu) or target.arch or "unknown",
        "features": features_from_config(config, cpu),
        "memory_regions": regions,
        "console": console,
        "runners": runners,
        "emulators": emulators,
        "clock_hz": clock if isinstance(clock, int) else None,
        "chosen": tree.chosen_names(),
        "kconfig": {k: v for k, v in config.items() if _interesting(k)},
        "source": "configured-build",
        "build_dir": str(build),
    }
    facts.update(_hints(target))
    return facts


def _interesting(key: str) -> bool:
    return bool(_CPU_SYMBOL.match(key)) or key in {
        "CONFIG_CPU_HAS_FPU", "CONFIG_CPU_HAS_FPU_DOUBLE_PRECISION", "CONFIG_ARMV7_M_ARMV8_M_FP", "CONFIG_ARMV8_M_DSP",
        "CONFIG_ARMV8_1_M_MVEI", "CONFIG_ARMV8_1_M_MVEF", "CONFIG_ARMV8_M_SE", "CONFIG_XIP", "CONFIG_FLASH_SIZE",
        "CONFIG_SRAM_SIZE", "CONFIG_FLASH_BASE_ADDRESS", "CONFIG_SRAM_BASE_ADDRESS", "CONFIG_FLASH_LOAD_OFFSET",
        "CONFIG_SYS_CLOCK_HW_CYCLES_PER_SEC", "CONFIG_QEMU_TARGET", "CONFIG_QEMU_ICOUNT", "CONFIG_BOARD",
        "CONFIG_SOC", "CONFIG_UART_INTERRUPT_DRIVEN", "CONFIG_SERIAL_SUPPORT_INTERRUPT",
    }


def _hints(target: BoardTarget) -> dict[str, Any]:
    tw = target.twister or {}
    return {
        "twister": {
            "file": str(target.twister_file) if target.twister_file else None,
            "ram_kb": target.kib("ram"),
            "flash_kb": target.kib("flash"),
            "arch": tw.get("arch"),
            "toolchain": tw.get("toolchain") or [],
            "supported": tw.get("supported") or [],
            "simulation": target.simulation,
        }
    }


def board_dts_file(target: BoardTarget) -> Path | None:
    """The board's own .dts for this target (``<board>_<qualifiers>.dts``; short names try both)."""
    names = []
    if target.qualifiers:
        names.append(f"{target.board}_{target.qualifiers.replace('/', '_')}.dts")
    names.append(f"{target.board}.dts")
    for n in names:
        if (target.dir / n).is_file():
            return target.dir / n
    return None


def facts_from_yaml(target: BoardTarget, zephyr_base: Path, why: str) -> dict[str, Any]:
    """The twister yaml's hints, plus the CPU the board's devicetree sources name."""
    regions = []
    for key, name, access in (("flash", "FLASH", "rx"), ("ram", "SRAM", "rwx")):
        kib = target.kib(key)
        if kib:
            regions.append({"name": name, "origin": None, "length": kib * 1024, "access": access,
                            "from": f"twister yaml '{key}: {kib}' (KiB)"})
    cpu, compat_file = "unknown", None
    features: list[str] = []
    dts_file = board_dts_file(target)
    if dts_file is not None:
        arch = target.arch or "arm"
        search = [zephyr_base / "dts" / arch, zephyr_base / "dts" / "common", zephyr_base / "dts",
                  zephyr_base / "include"]
        found = dts.cpu_compatible_hint(dts_file, search)
        if found:
            compat, compat_file = found
            core = compat.split(",", 1)[1]
            fpu = core.endswith("f") and re.match(r"cortex-m\d+f\Z", core) is not None
            cpu = core[:-1] if fpu else core
            if cpu in ("cortex-m4", "cortex-m7"):
                features.append("dsp")
            if fpu:
                features.append("fpu")
    arch_name = {"cortex-m0": "armv6-m", "cortex-m0+": "armv6-m", "cortex-m1": "armv6-m", "cortex-m3": "armv7-m",
                 "cortex-m4": "armv7e-m", "cortex-m7": "armv7e-m", "cortex-m23": "armv8-m.base",
                 "cortex-m33": "armv8-m.main", "cortex-m35p": "armv8-m.main", "cortex-m55": "armv8.1-m.main",
                 "cortex-m85": "armv8.1-m.main"}.get(cpu)
    facts: dict[str, Any] = {
        "cpu": cpu,
        "arch": arch_name or target.arch or "unknown",
        "features": features,
        "memory_regions": regions,
        "console": None,
        "runners": {},
        "emulators": list(target.simulation),
        "clock_hz": None,
        "source": "twister-yaml",
        "note": (
            f"{why}; these are hints: memory sizes from {target.twister_file.name if target.twister_file else 'no twister yaml'}"
            f" (origins unknown), CPU from {compat_file.name if compat_file else 'nothing found'}"
            " (FPU/DSP/MVE need a configured build to be exact)"
        ),
    }
    facts.update(_hints(target))
    return facts


# ---- configuring -------------------------------------------------------------------------------

PROBE_FILES = {
    "CMakeLists.txt": (
        "# utvm's probe application: configured (never built) to read a board's facts.\n"
        "cmake_minimum_required(VERSION 3.20.0)\n"
        "find_package(Zephyr REQUIRED HINTS $ENV{ZEPHYR_BASE})\n"
        "project(utvm_probe)\n"
        "target_sources(app PRIVATE src/main.c)\n"
    ),
    "prj.conf": "# the board's defaults only\n",
    "src/main.c": "int main(void)\n{\n\treturn 0;\n}\n",
}


def cache_root() -> Path:
    base = os.environ.get("UTVM_CACHE_DIR")
    if base:
        return Path(base) / "zephyr"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "utvm" / "zephyr"


def probe_app() -> Path:
    app = cache_root() / "probe-app"
    for rel, text in PROBE_FILES.items():
        p = app / rel
        if not p.is_file() or p.read_text() != text:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    return app


def configure_dir(zephyr_base: Path, target: str) -> Path:
    key = hashlib.sha1(str(zephyr_base.resolve()).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", target)
    return cache_root() / "configured" / key / safe


def configured_files_exist(build: Path) -> bool:
    z = build / "zephyr"
    return (z / ".config").is_file() and (z / "zephyr.dts").is_file()


class ConfigureFailed(RuntimeError):
    def __init__(self, message: str, command: list[str], returncode: int | None, log_tail: str) -> None:
        super().__init__(message)
        self.command, self.returncode, self.log_tail = command, returncode, log_tail


def configure_command(tool: str, tool_path: str, west_target: str, build: Path, app: Path) -> list[str]:
    if tool == "west":
        return [tool_path, "build", "-b", west_target, "-d", str(build), "--cmake-only", str(app)]
    argv = [tool_path, "-S", str(app), "-B", str(build), f"-DBOARD={west_target}"]
    if shutil.which("ninja"):
        argv[1:1] = ["-G", "Ninja"]
    return argv


def run_configure(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run a configure command; its output goes to our stderr (the client's progress)."""
    sys.stderr.write(f"utvm zephyr: configuring: {' '.join(argv)}\n")
    sys.stderr.flush()
    proc = subprocess.run(argv, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace")
    sys.stderr.write(proc.stdout)
    if proc.returncode != 0:
        raise ConfigureFailed(f"{Path(argv[0]).name} exited with status {proc.returncode}: {error_line(proc.stdout)}",
                              argv, proc.returncode, proc.stdout[-3000:])


def error_line(output: str) -> str:
    """The line of a tool's output that says what went wrong: the last one mentioning an error, else the last."""
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "not found" in ln.lower()]
    return (errors or lines or [""])[-1]
