"""The standalone project type, as plugins see it: its option declarations and its console output.

utvm projects are ``host_driven`` (the host sends the inputs over RPC) or ``standalone`` (the
inputs are built into the image, which runs the model once and prints what it found; the data
and the application come from :mod:`utvm.project_files` and the runtime's ``app/standalone.c``).
What every plugin repeats about that lives here, in a module that imports neither numpy nor
the compiler, so that a project server starts quickly:

- :data:`PROJECT_TYPES`: the project types (:mod:`utvm.project_files` uses this very tuple);
- :func:`standalone_options`: the ``project_type``, ``inputs`` and ``expected_outputs`` option
  declarations of ``generate_project``, with the plugin's own help texts;
- :func:`parse_standalone_output`: the facts in a standalone run's console text, from its
  ``utvm: KEY VALUE`` lines (the runtime's ``output``/``ticks``/``status`` and the platform
  layers' ``clock_hz``, ``stack_used``, ``timer``, ``exit``, ``fault``, ``abort``).
"""

from __future__ import annotations

import re
from typing import Any

from .options import ProjectOption

PROJECT_TYPES = ("host_driven", "standalone")

STANDALONE_LINE = re.compile(r"^utvm: (\w+)\s*(.*)$")


def standalone_options(host_driven: str, standalone: str, image: str) -> list[ProjectOption]:
    """``project_type`` (default host_driven), ``inputs`` and ``expected_outputs`` for generate_project.

    The help texts read ``host_driven: {host_driven}; standalone: {standalone}`` and
    ``standalone: .npy/.npz of the outputs the {image} must reproduce``.
    """
    return [
        ProjectOption("project_type", "choice", optional_for=["generate_project"], default="host_driven",
                      choices=list(PROJECT_TYPES), help=f"host_driven: {host_driven}; standalone: {standalone}"),
        ProjectOption("inputs", "path", optional_for=["generate_project"],
                      help="standalone: .npy/.npz of the model's inputs"),
        ProjectOption("expected_outputs", "path", optional_for=["generate_project"],
                      help=f"standalone: .npy/.npz of the outputs the {image} must reproduce"),
    ]


def parse_standalone_output(text: str) -> dict[str, Any]:
    """The facts a standalone image prints.

    ``outputs`` ({index: [values]}, always there), ``ticks``, ``status``, ``clock_hz``,
    ``stack_used`` and ``stack_size`` (``stack_used N of M``), ``timer_unit`` and
    ``ticks_per_second`` (``timer UNIT [RATE]``), ``status_code`` (``exit N``), ``fault``,
    ``abort``: each only when its line is there. Other lines are ignored.
    """
    out: dict[str, Any] = {"outputs": {}}
    for line in text.splitlines():
        m = STANDALONE_LINE.match(line.strip())
        if not m:
            continue
        key, rest = m.group(1), m.group(2)
        if key == "output":
            idx, _, values = rest.partition(":")
            try:
                out["outputs"][int(idx)] = [int(v, 0) for v in values.split()]
            except ValueError:
                pass
        elif key == "ticks":
            out["ticks"] = int(rest)
        elif key == "status":
            out["status"] = rest
        elif key == "clock_hz":
            out["clock_hz"] = int(rest)
        elif key == "stack_used":
            used, _, total = rest.partition(" of ")
            out["stack_used"] = int(used)
            if total.strip():
                out["stack_size"] = int(total)
        elif key == "timer":
            unit, _, rate = rest.partition(" ")
            out["timer_unit"] = unit
            if rate.strip().isdigit():
                out["ticks_per_second"] = int(rate)
        elif key == "exit":
            try:
                out["status_code"] = int(rest)
            except ValueError:
                pass
        elif key in ("fault", "abort"):
            out[key] = rest
    return out
