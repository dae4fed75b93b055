"""The Arduino tools this plugin drives: arduino-cli, arduino-builder, the core's compiler and uploader.

- :func:`choose_builder`: arduino-cli where it is on PATH and knows the core (its data folder or
  the sketchbook), else arduino-builder (Debian's package), which takes any hardware folder.
- :func:`builder_hardware`: the folders arduino-builder needs besides the core's own
  (its platform.txt with the ctags recipe: Debian's /usr/share/arduino-builder, or the IDE's
  hardware folder).
- :func:`needs_decimal_dig`: gcc-avr 5.4 (Debian) does not define DECIMAL_DIG for C++ while the
  AVR core's WString.cpp uses it; probed on the core's own C++ compiler, so the workaround
  ``-DDECIMAL_DIG=__DECIMAL_DIG__`` is applied only where that toolchain needs it.
- :func:`upload_command`: the core's upload recipe from platform.txt, expanded for a board.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

from .cores import Board, expand
from .target import compiler_command

ARDUINO_CLI = "arduino-cli"
ARDUINO_BUILDER = "arduino-builder"
DECIMAL_DIG_FLAG = "-DDECIMAL_DIG=__DECIMAL_DIG__"
#: Origins of cores arduino-cli itself knows (cores.search_folders).
CLI_ORIGINS = ("arduino-cli's data folder", "the sketchbook")


def which(tool: str) -> str | None:
    return shutil.which(tool)


def choose_builder(board: Board, wanted: str = "auto") -> str:
    """"arduino-cli" or "arduino-builder" for this board's core."""
    if wanted in (ARDUINO_CLI, ARDUINO_BUILDER):
        return wanted
    if which(ARDUINO_CLI) and board.core.origin in CLI_ORIGINS:
        return ARDUINO_CLI
    return ARDUINO_BUILDER


def builder_hardware() -> list[Path]:
    """arduino-builder's own hardware folder (its platform.txt holds the ctags recipe)."""
    exe = which(ARDUINO_BUILDER)
    candidates = []
    if exe:
        real = Path(os.path.realpath(exe))
        candidates += [real.parent.parent / "share" / "arduino-builder", real.parent / "hardware"]
    candidates += [Path("/usr/share/arduino-builder")]
    for c in candidates:
        if (c / "platform.txt").is_file():
            return [c]
    return []


def builder_tools(board: Board) -> list[Path]:
    """-tools folders: arduino-builder's own, and a packages layout's tools."""
    tools = builder_hardware()
    if board.core.layout == "packages":
        tools.append(board.core.hardware_root)
    return tools or [board.core.path]


def builder_hardware_folders(board: Board) -> list[Path]:
    folders = [board.core.hardware_root]
    for extra in builder_hardware():
        if extra not in folders:
            folders.append(extra)
    return folders


@functools.lru_cache(maxsize=16)
def _cxx_lacks_decimal_dig(compiler: str, std: str) -> bool:
    exe = shutil.which(compiler)
    if exe is None:
        return False
    try:
        proc = subprocess.run(
            [exe, *( [std] if std else []), "-x", "c++", "-dM", "-E", "-"],
            input="#include <float.h>\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    if proc.returncode != 0:
        return False
    return re.search(r"^#define DECIMAL_DIG\b", proc.stdout, re.M) is None


def needs_decimal_dig(board: Board) -> bool:
    """True when the core's C++ compiler, in the core's C++ dialect, has no DECIMAL_DIG."""
    flags = board.expanded("compiler.cpp.flags") or ""
    std = next((f for f in flags.split() if f.startswith("-std=")), "")
    return _cxx_lacks_decimal_dig(compiler_command(board, "cpp"), std)


def size_command(board: Board) -> str:
    props = board.build_properties()
    return expand(props.get("compiler.path", ""), props) + expand(props.get("compiler.size.cmd", "size"), props)


def nm_command(board: Board) -> str | None:
    """The core's nm, next to its size tool (avr-size -> avr-nm)."""
    size = size_command(board)
    if size.endswith("size"):
        return size[: -len("size")] + "nm"
    return None


# ---- upload ---------------------------------------------------------------------------------


def upload_tool(board: Board) -> str | None:
    for key in ("upload.tool.serial", "upload.tool.default", "upload.tool"):
        value = board.get(key)
        if value:
            return value
    return None


def upload_properties(board: Board, port: str, build_path: str, project_name: str,
                      verbose: bool = False) -> tuple[str | None, dict[str, str]]:
    """(the upload tool, the properties its recipe is expanded with)."""
    tool = upload_tool(board)
    props = board.build_properties()
    if tool is None:
        return None, props
    if ":" in tool:  # VENDOR:TOOL refers to another core's tool; its properties are looked up the same way
        tool = tool.split(":", 1)[1]
    tool_props = {k[len(f"tools.{tool}."):]: v for k, v in props.items() if k.startswith(f"tools.{tool}.")}
    merged = dict(props)
    merged.update(tool_props)
    merged.setdefault("path", merged.get(f"runtime.tools.{tool}.path", ""))
    params = "upload.params.verbose" if verbose else "upload.params.quiet"
    merged["upload.verbose"] = tool_props.get(params, "")
    merged["upload.verify"] = tool_props.get("upload.params.verify", tool_props.get("upload.verify", ""))
    merged["serial.port"] = port
    merged["serial.port.file"] = Path(port).name if port else ""
    merged["upload.port.address"] = port
    merged["build.path"] = build_path
    merged["build.project_name"] = project_name
    return tool, merged


def upload_command(board: Board, port: str, build_path: str, project_name: str, verbose: bool = False) -> list[str]:
    """The argv of the core's serial upload recipe for this board, or [] when the core has none."""
    tool, props = upload_properties(board, port, build_path, project_name, verbose)
    if tool is None:
        return []
    pattern = props.get("upload.pattern")
    if not pattern:
        return []
    return shlex.split(expand(pattern, props))


def cli_upload_command(fqbn: str, port: str, build_path: str, sketch: str) -> list[str]:
    return [ARDUINO_CLI, "upload", "--fqbn", fqbn, "--port", port, "--input-dir", build_path, sketch]


def run_logged(argv: list[str], cwd: Path | None = None, timeout: float | None = None,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a tool with its output captured (and copied to our stderr, which the client shows)."""
    import sys

    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=dict(env) if env else None)
    sys.stderr.write(proc.stdout)
    return proc


def list_ports() -> list[Any]:
    from serial.tools import list_ports as lp

    return list(lp.comports())
