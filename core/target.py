"""The target a model is compiled for.

``"host"`` is portable C for the development machine. A platform's
``target_info`` answer (a dict with at least ``cpu`` and ``features``, from the
RTOS's own metadata) describes a microcontroller board; the compiler records
it in the Model Library Format metadata and chooses kernels by its features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from .errors import UtvmError

TargetSpec = Union[str, Mapping[str, Any], "Target"]


@dataclass(frozen=True)
class Target:
    """A compilation target: its name, CPU, ISA features, and the platform's full description."""

    name: str
    cpu: str
    features: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "cpu": self.cpu, "features": list(self.features), **dict(self.info)}


HOST = Target(name="host", cpu="host")


def resolve_target(spec: TargetSpec) -> Target:
    """A Target from ``"host"``, a target_info dict, or a Target."""
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, str):
        if spec == "host":
            return HOST
        raise UtvmError(
            f"unknown target {spec!r}: use 'host', or give --platform and --board to read a board's target"
        )
    if isinstance(spec, Mapping):
        if not isinstance(spec.get("cpu"), str):
            raise UtvmError("a target description needs a 'cpu' string (the answer of a platform's target_info)")
        features = spec.get("features", [])
        if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) for f in features):
            raise UtvmError("a target description's 'features' must be a list of strings")
        name = str(spec.get("board") or spec["cpu"])
        info = {k: v for k, v in spec.items() if k not in ("name", "cpu", "features")}
        return Target(name=name, cpu=spec["cpu"], features=tuple(features), info=info)
    raise UtvmError(f"a target is 'host' or a target_info dict, not {type(spec).__name__}")
