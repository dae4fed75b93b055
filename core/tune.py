"""Kernel tuning on a board through the Project API: the compiler-invoked use of it.

For every operator that has more than one kernel for the target (the
reference and its ISA variants), :func:`tune` builds, flashes and runs the
whole model with that operator's candidates in turn, the others held at their
best so far (coordinate descent), and keeps a candidate only when it measures
strictly faster. So every layer's recorded kernel measured no slower than its
reference kernel in the same surroundings, and the tuned model no slower than
the one on reference kernels.

It runs unattended: a candidate whose compile or build fails, whose device
stops answering or whose outputs differ from the reference run is recorded as
failed and skipped, and the loop goes on (with a fresh project server where
the old one may have left a device running: closing it stops the device). A
candidate that compiles to the same code as a configuration already measured
(a variant that does not apply to the layer and falls back to the reference
kernel) is not built again: it gets that configuration's figure.

One project server serves the trials in turn, and one project folder: each
trial regenerates the project in it, which rewrites only the files whose
content changed (the model's C, header and metadata, the build files when the
kernel sources differ), so the build recompiles the model's C, what includes
its header and a variant's kernel source the first time it is used, not the
whole firmware. So the cost of a trial is that build and the run, not the
server's start nor a clean build. The server is replaced after any failure
other than a generate or build error the server reported; the folder is
removed after any failed trial, so the next trial builds from scratch and
inherits nothing of a broken build.

The result is a tuning file (JSON) that ``utvm compile --tuning`` and
``utvm deploy --tuning`` read: the kernel per operator index; beside it what
was measured (every trial, and per layer its reference and candidates'
figures in the device's timer unit, with the wall time each took).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .compiler import CompiledModel
from .compiler import compile as compile_model
from .compiler import load_model_bytes
from .errors import UtvmError
from .frontend.tflite_reader import read_tflite
from .ops import variants_of
from .passes import run_passes
from .project import Project, ProjectTransport
from .project_api import ProjectClient, connect, get_platform
from .project_api.generated import generated_for
from .session import Session

TUNING_VERSION = 1
REFERENCE = "reference"

#: What a trial may fail with and still leave the tuning going: every error utvm raises on purpose
#: (compile, build, flash, server and session errors all derive from UtvmError) and OS errors.
TRIAL_ERRORS = (UtvmError, OSError)


@dataclass
class Trial:
    """One configuration: measured, failed, or the repeat of an earlier one's code."""

    kernels: dict[int, str]
    ticks: int | None
    error: str | None = None
    #: The operator whose kernel this trial changed, and to which kernel (None for the baseline).
    operator: int | None = None
    kernel: str | None = None
    #: The figure it had to beat: the best so far (at an operator's first candidate, the same configuration
    #: with that operator on its reference kernel).
    against: int | None = None
    #: Wall time of the trial: compile, generate, build, flash, run (0 when not rebuilt).
    seconds: float = 0.0
    #: The earlier trial whose generated code this one repeats (not rebuilt: its figure is reused).
    same_as: int | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kernels": {str(k): v for k, v in sorted(self.kernels.items())},
            "ticks": self.ticks,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }
        if self.operator is not None:
            doc.update(operator=self.operator, kernel=self.kernel, against=self.against)
        if self.same_as is not None:
            doc["same_as"] = self.same_as
        return doc


@dataclass
class Layer:
    """What was measured for one operator: the model's figure with it on each kernel, the others fixed."""

    index: int
    opcode: str
    reference: int
    candidates: dict[str, int | None]
    chosen: str
    seconds: float

    @property
    def ticks(self) -> int:
        """The model's figure with this layer on its chosen kernel (the others as when it was tuned)."""
        return self.reference if self.chosen == REFERENCE else int(self.candidates[self.chosen] or 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "opcode": self.opcode,
            "chosen": self.chosen,
            "reference_ticks": self.reference,
            "chosen_ticks": self.ticks,
            "candidates": dict(self.candidates),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class TuningResult:
    model_sha256: str
    platform: str
    board: str
    kernels: dict[int, str]
    baseline_ticks: int
    best_ticks: int
    timer_unit: str
    ticks_per_second: int | None = None
    seed: int = 0
    seconds: float = 0.0
    trials: list[Trial] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": TUNING_VERSION,
            "model_sha256": self.model_sha256,
            "platform": self.platform,
            "board": self.board,
            "timer_unit": self.timer_unit,
            "ticks_per_second": self.ticks_per_second,
            "seed": self.seed,
            "baseline_ticks": self.baseline_ticks,
            "best_ticks": self.best_ticks,
            "seconds": round(self.seconds, 3),
            "kernels": {str(k): v for k, v in sorted(self.kernels.items())},
            "layers": [layer.to_json() for layer in self.layers],
            "trials": [t.to_json() for t in self.trials],
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


def measurement_inputs(metadata: Mapping[str, Any], seed: int) -> list[np.ndarray]:
    """The inputs every trial runs: uniform random over each input's type, from ``seed``."""
    rng = np.random.default_rng(seed)
    inputs = []
    for entry in metadata["inputs"]:
        info = np.iinfo(entry["dtype"]) if np.issubdtype(np.dtype(entry["dtype"]), np.integer) else None
        lo, hi = (info.min, info.max + 1) if info is not None else (-128, 128)
        inputs.append(rng.integers(lo, hi, size=entry["shape"]).astype(entry["dtype"]))
    return inputs


def code_digest(compiled: CompiledModel) -> str:
    """A digest of everything a build takes from the compiled model: two equal digests build the same image."""
    h = hashlib.sha256()
    for path, text in sorted(compiled.files.items()):
        h.update(path.encode() + b"\0" + text.encode() + b"\0")
    h.update(json.dumps(compiled.metadata, sort_keys=True, default=str).encode())
    return h.hexdigest()


Measure = Callable[[Mapping[int, str]], int]


class BoardMeasure:
    """Builds, flashes and runs one kernel configuration on the board and returns its ticks.

    Calling it measures ``kernels`` in the project folder ``workdir/project``,
    regenerated in place for each trial (an incremental build), and removed
    after a failed trial (the next one starts from a clean build); outputs that
    differ from ``expected`` are an error (a faster wrong kernel is never kept).
    One project server is kept across trials; after a failure past the build, or
    one the server did not report itself, it is closed (stopping whatever it
    started) and the next trial starts a fresh one. ``on_device``
    is called with the project and the open_transport answer (tests use it).
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        model_bytes: bytes,
        platform: str,
        board: str,
        target: Mapping[str, Any],
        inputs: list[np.ndarray],
        expected: list[np.ndarray],
        workdir: Path,
        timeout_s: float,
        options: Mapping[str, Any] | None = None,
        on_device: Callable[[Project, Mapping[str, Any]], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> None:
        self.model_bytes = model_bytes
        self.platform, self.board, self.target = platform, board, target
        self.inputs, self.expected = inputs, expected
        self.workdir, self.timeout_s = Path(workdir), timeout_s
        self.options = dict(options or {})
        self.on_device, self.on_stderr = on_device, on_stderr
        self.timer_unit = "ticks"
        self.ticks_per_second: int | None = None
        self._client: ProjectClient | None = None
        self._compiled: dict[tuple, CompiledModel] = {}
        self._device_started = False

    def compiled(self, kernels: Mapping[int, str]) -> CompiledModel:
        key = tuple(sorted(kernels.items()))
        if key not in self._compiled:
            self._compiled = {key: compile_model(self.model_bytes, name="tuned", target=self.target, kernels=kernels)}
        return self._compiled[key]

    def fingerprint(self, kernels: Mapping[int, str]) -> str:
        """The digest of the code ``kernels`` compile to (compiled once for the measurement that follows)."""
        return code_digest(self.compiled(kernels))

    @property
    def project_dir(self) -> Path:
        """The project folder every trial regenerates and builds."""
        return self.workdir / "project"

    def __call__(self, kernels: Mapping[int, str]) -> int:
        compiled = self.compiled(kernels)
        mlf = compiled.export(self.workdir / "model.tar")
        self._device_started = False
        try:
            return self._run(compiled, mlf, self.project_dir)
        except BaseException as exc:
            # A server that reported a failed generate or build (BuildFailed...) serves on; after
            # anything else (a device started, a crashed or silent server) a fresh server for the
            # next trial: closing this one stops whatever it left running.
            if self._device_started or getattr(exc, "remote_type", None) is None:
                self.close()
            # Whatever the failure left in the folder (objects of a failed build, logs), the next
            # trial does not build on it.
            shutil.rmtree(self.project_dir, ignore_errors=True)
            raise
        finally:
            mlf.unlink(missing_ok=True)

    def _run(self, compiled: CompiledModel, mlf: Path, project_dir: Path) -> int:
        client = self._connect()
        options = self.options
        if project_dir.exists() and not generated_for(project_dir, self.platform, self.board):
            # A server that does not regenerate in place (it keeps no record of what it generated)
            # gets an empty folder every trial.
            shutil.rmtree(project_dir)
        client.generate_project(mlf, project_dir, self.board, client.select_options("generate_project", options))
        client.build(project_dir, client.select_options("build", options))
        self._device_started = True
        client.flash(project_dir, client.select_options("flash", options))
        opened = client.open_transport(project_dir, client.select_options("open_transport", options))
        with Session(ProjectTransport(client), timeout_s=self.timeout_s) as session:
            if self.on_device is not None:
                self.on_device(Project(project_dir, self.platform, self.board, compiled.name, dict(options)),
                               opened or {})
            info = session.start()
            outputs = session.infer(self.inputs, compiled.metadata)
            ticks = int(session.last_ticks or 0)
        self.timer_unit, self.ticks_per_second = info.timer_unit, info.ticks_per_second
        for got, want in zip(outputs, self.expected):
            if not np.array_equal(got, np.asarray(want).reshape(got.shape)):
                raise UtvmError("outputs differ from the reference kernels' outputs")
        return ticks

    def _connect(self) -> ProjectClient:
        if self._client is None:
            kwargs = {"stderr_callback": self.on_stderr} if self.on_stderr is not None else {}
            self._client = connect(get_platform(self.platform).server_argv, **kwargs)
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> "BoardMeasure":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def coordinate_descent(
    choices: Mapping[int, list[str]],
    measure: Measure,
    log: Callable[[str], None] = lambda s: None,
    fingerprint: Callable[[Mapping[int, str]], str] | None = None,
) -> tuple[dict[int, str], int, list[Trial]]:
    """Try each operator's candidates with the others fixed; keep strict improvements only.

    Returns (kernels, best ticks, trials). The baseline (every operator on its
    reference kernel) must measure; any other failing trial is skipped. With
    ``fingerprint`` (kernels -> digest of their code) a configuration whose code
    was measured before takes that figure without being measured again.
    """
    current = {index: REFERENCE for index in choices}
    trials: list[Trial] = []
    seen: dict[str, int] = {}

    def run(kernels: dict[int, str], operator: int | None, against: int | None) -> Trial:
        start = time.perf_counter()
        trial = Trial(kernels, None, operator=operator, kernel=kernels.get(operator) if operator is not None else None,
                      against=against)
        try:
            digest = fingerprint(kernels) if fingerprint is not None else None
            if digest is not None and digest in seen:
                trial.same_as = seen[digest]
                trial.ticks = trials[trial.same_as].ticks
            else:
                trial.ticks = measure(kernels)
                if digest is not None:
                    seen[digest] = len(trials)
        finally:
            trial.seconds = time.perf_counter() - start if trial.same_as is None else 0.0
        return trial

    baseline = run(dict(current), None, None)
    trials.append(baseline)
    best = int(baseline.ticks or 0)
    log(f"baseline (reference kernels): {best} ticks ({baseline.seconds:.1f} s)")
    for index, names in choices.items():
        for name in names:
            if name == current[index]:
                continue
            config = {**current, index: name}
            try:
                trial = run(config, index, best)
            except TRIAL_ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"
                trials.append(Trial(config, None, error, index, name, best))
                log(f"operator {index} with {name}: failed ({error}); skipped")
                continue
            trials.append(trial)
            ticks = int(trial.ticks or 0)
            if trial.same_as is not None:
                log(f"operator {index} with {name}: the same code as trial {trial.same_as} "
                    f"({ticks} ticks, not rebuilt)")
            else:
                verdict = "kept" if ticks < best else "not faster"
                log(f"operator {index} with {name}: {ticks} ticks against {best} ({verdict}; {trial.seconds:.1f} s)")
            if ticks < best:
                best, current = ticks, config
    return current, best, trials


def layer_results(choices: Mapping[int, list[str]], opcodes: Mapping[int, str], kernels: Mapping[int, str],
                  trials: list[Trial]) -> list[Layer]:
    """Per operator with a choice: the figures of its trials beside the one it was compared with."""
    layers = []
    for index in choices:
        mine = [t for t in trials if t.operator == index]
        reference = mine[0].against if mine else trials[0].ticks
        layers.append(Layer(
            index=index,
            opcode=opcodes.get(index, "?"),
            reference=int(reference or 0),
            candidates={t.kernel: t.ticks for t in mine if t.kernel is not None},
            chosen=kernels[index],
            seconds=sum(t.seconds for t in mine),
        ))
    return layers


def tune(
    model: str | Path | bytes,
    platform: str,
    board: str,
    target: Mapping[str, Any],
    seed: int = 0,
    timeout_s: float = 30.0,
    log: Callable[[str], None] = lambda s: None,
    on_device: Callable[[Project, Mapping[str, Any]], None] | None = None,
    options: Mapping[str, Any] | None = None,
    on_stderr: Callable[[str], None] | None = None,
) -> TuningResult:
    """Tune ``model``'s kernels on ``board``; every candidate must give the reference kernels' outputs.

    ``options`` are the platform's options (each method gets its share); the
    project must be host-driven.
    """
    start = time.perf_counter()
    if (options or {}).get("project_type", "host_driven") != "host_driven":
        raise UtvmError("tune measures through host-driven projects; leave project_type at host_driven")
    data, _ = load_model_bytes(model)
    features = tuple(target.get("features", ()))
    choices = candidates(data, features)
    if not choices:
        raise UtvmError(f"nothing to tune: no operator of this model has a variant for {board}'s features {features}")
    reference = compile_model(data, name="tuned", target=target, kernels={i: REFERENCE for i in choices})
    inputs = measurement_inputs(reference.metadata, seed)
    # The reference kernels (bit-exact with TFLite Micro) run on the host give the outputs every
    # candidate must reproduce on the board.
    from . import host

    expected = host.run(reference, inputs)
    with tempfile.TemporaryDirectory(prefix="utvm-tune-") as tmp:
        with BoardMeasure(data, platform, board, target, inputs, expected, Path(tmp), timeout_s, options,
                          on_device, on_stderr) as measure:
            kernels, best, trials = coordinate_descent(choices, measure, log, fingerprint=measure.fingerprint)
    opcodes = {op["index"]: op["opcode"] for op in reference.metadata["operators"]}
    return TuningResult(
        model_sha256=hashlib.sha256(data).hexdigest(),
        platform=platform,
        board=board,
        kernels=kernels,
        baseline_ticks=trials[0].ticks or 0,
        best_ticks=best,
        timer_unit=measure.timer_unit,
        ticks_per_second=measure.ticks_per_second,
        seed=seed,
        seconds=time.perf_counter() - start,
        trials=trials,
        layers=layer_results(choices, opcodes, kernels, trials),
    )
