"""Kernel tuning on a board through the Project API: the compiler-invoked use of it.

For every operator that has more than one kernel for the target (the
reference and its ISA variants), :func:`tune` builds, flashes and runs the
whole model with that operator's candidates in turn, the others held at their
best so far (coordinate descent), and keeps a candidate only when it measures
strictly faster. It runs unattended: a candidate whose build fails, whose
device stops answering or whose outputs differ from the reference run is
recorded as failed and skipped, and the loop goes on with a fresh server.

The result is a tuning file (JSON) that ``utvm compile --tuning`` and
``utvm deploy --tuning`` read: the kernel per operator index.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .compiler import compile as compile_model
from .compiler import load_model_bytes
from .errors import UtvmError
from .frontend.tflite_reader import read_tflite
from .ops import variants_of
from .passes import run_passes
from .project import Project, ProjectTransport, create_project
from .project_api import ProjectAPIError
from .session import Session, SessionError
from .transport import TransportError

TUNING_VERSION = 1
REFERENCE = "reference"


@dataclass
class Trial:
    """One measured configuration."""

    kernels: dict[int, str]
    ticks: int | None
    error: str | None = None


@dataclass
class TuningResult:
    model_sha256: str
    platform: str
    board: str
    kernels: dict[int, str]
    baseline_ticks: int
    best_ticks: int
    timer_unit: str
    trials: list[Trial] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": TUNING_VERSION,
            "model_sha256": self.model_sha256,
            "platform": self.platform,
            "board": self.board,
            "timer_unit": self.timer_unit,
            "baseline_ticks": self.baseline_ticks,
            "best_ticks": self.best_ticks,
            "kernels": {str(k): v for k, v in sorted(self.kernels.items())},
            "trials": [
                {"kernels": {str(k): v for k, v in t.kernels.items()}, "ticks": t.ticks, "error": t.error}
                for t in self.trials
            ],
        }


def read_tuning(path: str | Path, model_bytes: bytes | None = None) -> dict[int, str]:
    """The kernel choices of a tuning file; refuses one made for another model."""
    try:
        doc = json.loads(Path(path).read_text())
        kernels = {int(k): str(v) for k, v in doc["kernels"].items()}
    except FileNotFoundError:
        raise UtvmError(f"tuning file not found: {path}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UtvmError(f"{path} is not a utvm tuning file ({type(exc).__name__}: {exc})") from None
    if doc.get("version") != TUNING_VERSION:
        raise UtvmError(f"{path}: tuning file version {doc.get('version')!r}, expected {TUNING_VERSION}")
    if model_bytes is not None and doc.get("model_sha256") != hashlib.sha256(model_bytes).hexdigest():
        raise UtvmError(f"{path} was made for another model (its sha256 differs); tune this model again")
    return kernels


def candidates(model_bytes: bytes, features: tuple[str, ...]) -> dict[int, list[str]]:
    """Operator index -> its kernels for these features (reference first), for operators with a choice."""
    graph = run_passes(read_tflite(model_bytes))
    result = {}
    for op in graph.operators:
        names = [name for feature, name in variants_of(op.opcode) if feature in features]
        if names:
            result[op.index] = [REFERENCE, *names]
    return result


Measure = Callable[[Mapping[int, str]], int]


def measure_on_board(
    model_bytes: bytes,
    platform: str,
    board: str,
    target: Mapping[str, Any],
    inputs: list[np.ndarray],
    expected: list[np.ndarray],
    workdir: Path,
    timeout_s: float,
    on_device: Callable[[Project, Mapping[str, Any]], None] | None = None,
) -> Measure:
    """A function that builds, flashes and runs one kernel configuration and returns its ticks.

    Outputs that differ from ``expected`` are an error: a faster wrong kernel is never kept.
    ``on_device`` is called with the project and the open_transport answer (tests use it).
    """
    counter = iter(range(1 << 30))

    def measure(kernels: Mapping[int, str]) -> int:
        n = next(counter)
        compiled = compile_model(model_bytes, name="tuned", target=target, kernels=kernels)
        mlf = compiled.export(workdir / f"trial{n}.tar")
        project = create_project(workdir / f"trial{n}", mlf, platform, board, {})
        with project.connect() as client:
            client.build(project.path, {})
            client.flash(project.path, {})
            opened = client.open_transport(project.path, {})
            if on_device is not None:
                on_device(project, opened or {})
            with Session(ProjectTransport(client), timeout_s=timeout_s) as session:
                session.start()
                outputs = session.infer(inputs, compiled.metadata)
                ticks = int(session.last_ticks or 0)
        for got, want in zip(outputs, expected):
            if not np.array_equal(got, np.asarray(want).reshape(got.shape)):
                raise UtvmError("outputs differ from the reference kernels' outputs")
        return ticks

    return measure


def coordinate_descent(
    choices: Mapping[int, list[str]], measure: Measure, log: Callable[[str], None] = lambda s: None
) -> tuple[dict[int, str], int, list[Trial]]:
    """Try each operator's candidates with the others fixed; keep strict improvements only.

    Returns (kernels, best ticks, trials). The baseline (every operator on its
    reference kernel) must measure; any other failing trial is skipped.
    """
    current = {index: REFERENCE for index in choices}
    trials = []
    best = measure(current)
    trials.append(Trial(dict(current), best))
    log(f"baseline (reference kernels): {best} ticks")
    for index, names in choices.items():
        for name in names:
            if name == current[index]:
                continue
            trial = {**current, index: name}
            try:
                ticks = measure(trial)
            except (UtvmError, ProjectAPIError, SessionError, TransportError, OSError) as exc:
                trials.append(Trial(trial, None, f"{type(exc).__name__}: {exc}"))
                log(f"operator {index} with {name}: failed ({type(exc).__name__}: {exc}); skipped")
                continue
            trials.append(Trial(trial, ticks))
            verdict = "kept" if ticks < best else "not faster"
            log(f"operator {index} with {name}: {ticks} ticks ({verdict})")
            if ticks < best:
                best, current = ticks, trial
    return current, best, trials


def tune(
    model: str | Path | bytes,
    platform: str,
    board: str,
    target: Mapping[str, Any],
    seed: int = 0,
    timeout_s: float = 30.0,
    log: Callable[[str], None] = lambda s: None,
    on_device: Callable[[Project, Mapping[str, Any]], None] | None = None,
) -> TuningResult:
    """Tune ``model``'s kernels on ``board``; every candidate must give the reference kernels' outputs."""
    data, _ = load_model_bytes(model)
    features = tuple(target.get("features", ()))
    choices = candidates(data, features)
    if not choices:
        raise UtvmError(f"nothing to tune: no operator of this model has a variant for {board}'s features {features}")
    reference = compile_model(data, name="tuned", target=target, kernels={i: REFERENCE for i in choices})
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(-128, 128, size=e["shape"]).astype(e["dtype"]) for e in reference.metadata["inputs"]]
    # The reference kernels (bit-exact with TFLite Micro) run on the host give the outputs every
    # candidate must reproduce on the board.
    from . import host

    expected = host.run(reference, inputs)
    with tempfile.TemporaryDirectory(prefix="utvm-tune-") as tmp:
        measure = measure_on_board(data, platform, board, target, inputs, expected, Path(tmp), timeout_s, on_device)
        kernels, best, trials = coordinate_descent(choices, measure, log)
    return TuningResult(
        model_sha256=hashlib.sha256(data).hexdigest(),
        platform=platform,
        board=board,
        kernels=kernels,
        baseline_ticks=trials[0].ticks or 0,
        best_ticks=best,
        timer_unit="ticks",
        trials=trials,
    )
