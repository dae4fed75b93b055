"""The project commands of the ``utvm`` CLI, in the order of the workflow:
platforms, boards, create-project, build, flash, run, and deploy (all of them).

Each handler takes the parsed arguments and a :class:`utvm.cli.Progress` and
returns the exit code; errors are raised as UtvmError for ``cli.main``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .errors import UtvmError
from .project import Project, ProjectTransport, create_project
from .project_api import ProjectAPIError, connect, get_platform, load_platforms, parse_cli_options
from .session import Session

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2



#: The help of --io-in-arena (utvm compile and deploy).
IO_IN_ARENA_HELP = ("put the model's inputs and outputs in its arena, as TFLite Micro does: less RAM, and a run "
                    "may overwrite its inputs")

def _server_log(args: argparse.Namespace):
    """With --verbose, the project server's stderr (tool output) is shown as it comes."""
    if not args.verbose:
        return None
    return lambda line: print(f"  | {line.rstrip()}", file=sys.stderr, flush=True)


def cmd_platforms(args: argparse.Namespace, progress: Any) -> int:
    platforms = load_platforms()
    if args.json:
        print(json.dumps([{"name": d.name, "description": d.description, "plugin": d.distribution}
                          for d in platforms.values()], indent=2))
    else:
        for d in platforms.values():
            print(f"{d.name:<18} {d.description}")
    return EXIT_OK


def cmd_boards(args: argparse.Namespace, progress: Any) -> int:
    """Boards of one platform (its errors are fatal) or of every platform (each error is reported, the rest listed)."""
    names = [args.platform] if args.platform else sorted(load_platforms())
    rows, failed = [], 0
    for name in names:
        try:
            with connect(get_platform(name).server_argv) as client:
                rows += [dict(board, platform=name) for board in client.boards()]
        except ProjectAPIError as exc:
            if args.platform:
                raise
            failed += 1
            print(f"utvm: {name}: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for b in rows:
            print(f"{b['platform']:<16} {b['name']:<24} {b.get('description', '')}")
    return EXIT_OK if rows or not failed else EXIT_ERROR


def fetch_target(platform: str, board: str) -> dict[str, Any]:
    """The ``target_info`` of ``board``, which the compiler takes as its target."""
    with connect(get_platform(platform).server_argv) as client:
        return client.target_info(board)


def _parse_options(platform: str, pairs: Sequence[str]) -> dict[str, Any]:
    if not pairs:
        return {}
    with connect(get_platform(platform).server_argv) as client:
        return parse_cli_options(pairs, client.server_info_query().options)


def cmd_create_project(args: argparse.Namespace, progress: Any) -> int:
    options = _parse_options(args.platform, args.option)
    done = progress.step(f"generating a {args.platform} project for {args.board} in {args.project_dir}")
    project = create_project(
        args.project_dir, args.mlf, args.platform, args.board, options, force=args.force, on_stderr=_server_log(args)
    )
    done()
    print(json.dumps({"project_dir": str(project.path)}) if args.json else f"project ready in {project.path}")
    return EXIT_OK


def _project_call(args: argparse.Namespace, progress: Any, method: str, verb: str) -> int:
    project = Project.load(args.project_dir)
    options = {**project.options, **_parse_options(project.platform, args.option)}
    done = progress.step(f"{verb} {project.path} ({project.platform}, {project.board})")
    with project.connect(_server_log(args)) as client:
        result = getattr(client, method)(project.path, client.select_options(method, options))
    done()
    if args.json:
        print(json.dumps(result or {}, indent=2))
    elif result and result.get("message"):
        print(result["message"])
    return EXIT_OK


def cmd_build(args: argparse.Namespace, progress: Any) -> int:
    return _project_call(args, progress, "build", "building")


def cmd_flash(args: argparse.Namespace, progress: Any) -> int:
    return _project_call(args, progress, "flash", "flashing")


def _load_inputs(path: str | None, metadata: dict[str, Any], seed: int) -> list[np.ndarray]:
    from .project_files import load_arrays

    if path is not None:
        return load_arrays(Path(path), len(metadata["inputs"]), "inputs")
    rng = np.random.default_rng(seed)
    arrays = []
    for e in metadata["inputs"]:
        if e["dtype"] == "float32":
            arrays.append(rng.standard_normal(e["shape"]).astype(np.float32))
        else:
            info = np.iinfo(e["dtype"])
            arrays.append(rng.integers(info.min, info.max + 1, size=e["shape"]).astype(e["dtype"]))
    return arrays


@contextlib.contextmanager
def project_session(project: Project, timeout_s: float, progress: Any, on_stderr: Any = None) -> Iterator[Session]:
    """A started host-driven session with the project's running firmware; closed on exit."""
    with project.connect(on_stderr) as client:
        done = progress.step("opening the transport and starting a session")
        client.open_transport(project.path, client.select_options("open_transport", project.options))
        with Session(ProjectTransport(client), timeout_s=timeout_s) as session:
            session.start()
            done()
            yield session


def project_metadata(project: Project) -> dict[str, Any]:
    return json.loads((project.path / "model" / "metadata.json").read_text())


def run_project(project: Project, inputs_path: str | None, compare: str | None, seed: int,
                timeout_s: float, progress: Any, on_stderr: Any = None) -> dict[str, Any]:
    """Run one inference host-driven on the project's firmware, and compare with TFLM if asked."""
    metadata = project_metadata(project)
    inputs = _load_inputs(inputs_path, metadata, seed)
    with project_session(project, timeout_s, progress, on_stderr) as session:
        done = progress.step("running one inference")
        outputs = session.infer(inputs, metadata)
        done()
        info = session.info
    result: dict[str, Any] = {
        "platform": project.platform,
        "board": project.board,
        "model": project.model,
        "ticks": session.last_ticks,
        "timer_unit": info.timer_unit,
        "ticks_per_second": info.ticks_per_second,
        "outputs": [o.tolist() for o in outputs],
    }
    if compare:
        from .compiler import load_model_bytes
        from .reference import tflm_run

        done = progress.step("running the TFLite Micro reference")
        reference = tflm_run(load_model_bytes(compare)[0], inputs)
        done()
        result["reference"] = [r.tolist() for r in reference]
        result["bit_exact"] = all(np.array_equal(o, r.reshape(o.shape)) for o, r in zip(outputs, reference))
    return result


def deploy_project(model: str | Path | bytes, platform: str, board: str, options: dict[str, Any], project_dir: Path,
                   force: bool, progress: Any, on_stderr: Any = None, name: str | None = None,
                   kernels: dict[int, str] | None = None, io_in_arena: bool = False) -> Project:
    """Compile ``model`` for the board's target, generate the project in ``project_dir``, build and flash it.

    ``kernels`` and ``io_in_arena`` are :func:`utvm.compile`'s."""
    from .compiler import compile as compile_model

    if options.get("project_type", "host_driven") != "host_driven":
        raise UtvmError("deploy runs host-driven projects; for a standalone one use create-project, build and flash")
    done = progress.step(f"reading the target of {board} and compiling the model")
    compiled = compile_model(model, name=name, target=fetch_target(platform, board), kernels=kernels,
                             io_in_arena=io_in_arena)
    done()
    with tempfile.TemporaryDirectory(prefix="utvm-mlf-") as tmp:
        mlf = compiled.export(Path(tmp) / f"{compiled.name}.tar")
        done = progress.step(f"generating a {platform} project for {board}")
        project = create_project(project_dir, mlf, platform, board, options, force=force, on_stderr=on_stderr)
        done()
    with project.connect(on_stderr) as client:
        for method, verb in (("build", "building"), ("flash", "flashing")):
            done = progress.step(f"{verb} the project")
            getattr(client, method)(project.path, client.select_options(method, options))
            done()
    return project


def _print_run(result: dict[str, Any]) -> None:
    print(f"{result['model']} on {result['platform']}/{result['board']}: "
          f"{result['ticks']} {result['timer_unit']} per inference")
    for k, out in enumerate(result["outputs"]):
        flat = np.asarray(out).reshape(-1)
        print(f"output {k}: {' '.join(str(v) for v in flat[:32])}{' ...' if flat.size > 32 else ''}")
        if "reference" in result:
            ref = np.asarray(result["reference"][k]).reshape(-1)
            print(f"TFLM   {k}: {' '.join(str(v) for v in ref[:32])}{' ...' if ref.size > 32 else ''}")
    if "bit_exact" in result:
        print("bit-exact with TFLite Micro" if result["bit_exact"] else "OUTPUTS DIFFER from TFLite Micro")


def cmd_run(args: argparse.Namespace, progress: Any) -> int:
    project = Project.load(args.project_dir)
    result = run_project(project, args.input, args.compare, args.seed, args.timeout, progress, _server_log(args))
    print(json.dumps(result, indent=2)) if args.json else _print_run(result)
    return EXIT_MISMATCH if result.get("bit_exact") is False else EXIT_OK


def cmd_deploy(args: argparse.Namespace, progress: Any) -> int:
    from .reference import tflm_available

    options = _parse_options(args.platform, args.option)
    log = _server_log(args)
    with tempfile.TemporaryDirectory(prefix="utvm-deploy-") as tmp:
        project_dir = Path(args.project_dir) if args.project_dir else Path(tmp) / "project"
        kernels = tuning_choices(args.tuning, args.model)
        project = deploy_project(args.model, args.platform, args.board, options, project_dir, args.force, progress,
                                 log, kernels=kernels, io_in_arena=args.io_in_arena)
        compare = args.model if tflm_available() and not args.no_compare else None
        result = run_project(project, args.input, compare, args.seed, args.timeout, progress, log)
    result["project_dir"] = str(project_dir) if args.project_dir else None
    print(json.dumps(result, indent=2)) if args.json else _print_run(result)
    return EXIT_MISMATCH if result.get("bit_exact") is False else EXIT_OK


def tuning_choices(path: str | None, model: str) -> dict[int, str] | None:
    """The kernel choices of ``--tuning FILE`` for ``model``, or None without one."""
    if path is None:
        return None
    from .compiler import load_model_bytes
    from .tune import read_tuning

    return read_tuning(path, load_model_bytes(model)[0])


def cmd_tune(args: argparse.Namespace, progress: Any) -> int:
    from .tune import tune

    out = Path(args.output)
    if out.exists() and not args.force:
        raise UtvmError(f"{out} already exists; pass --force to overwrite it")
    options = _parse_options(args.platform, args.option)
    target = fetch_target(args.platform, args.board)
    done = progress.step(f"tuning {args.model} on {args.platform}/{args.board}")
    result = tune(args.model, args.platform, args.board, target, seed=args.seed, timeout_s=args.timeout,
                  log=lambda line: print(f"utvm:   {line}", file=sys.stderr, flush=True), options=options,
                  on_stderr=_server_log(args))
    done()
    doc = result.to_json()
    out.write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        failed = sum(1 for t in result.trials if t.error)
        unit = result.timer_unit
        print(f"{out}: {result.baseline_ticks} {unit} on reference kernels -> {result.best_ticks} {unit} tuned; "
              f"{len(result.trials)} trials, {failed} failed and skipped, {result.seconds:.1f} s")
        for layer in result.layers:
            print(f"  operator {layer.index} ({layer.opcode}): {layer.chosen}, "
                  f"{layer.reference} -> {layer.ticks} {unit} ({layer.seconds:.1f} s)")
    return EXIT_OK


def add_project_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the project commands on the CLI's subparsers."""

    def option_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                       help="a platform option, typed as the platform declares it (repeatable)")

    def run_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--input", help=".npy (one input) or .npz (several) to run; default: random, seeded")
        p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the device per step")

    p = sub.add_parser("platforms", parents=[common], help="list the installed platforms")
    p.set_defaults(func=cmd_platforms)

    p = sub.add_parser("boards", parents=[common], help="list the boards of one or every platform")
    p.add_argument("--platform", help="only this platform")
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser("create-project", parents=[common], help="generate a firmware project from an MLF archive")
    p.add_argument("project_dir", help="the folder to create (must be absent or empty unless --force)")
    p.add_argument("--mlf", required=True, help="the Model Library Format .tar (from utvm compile)")
    p.add_argument("--platform", required=True)
    p.add_argument("--board", required=True)
    p.add_argument("--force", action="store_true",
                   help="replace the contents of a non-empty folder (a project of the same platform and board is "
                        "regenerated in place: only changed files are written, so the next build is incremental)")
    option_arg(p)
    p.set_defaults(func=cmd_create_project)

    for name, func, what in (("build", cmd_build, "build"), ("flash", cmd_flash, "flash (or start)")):
        p = sub.add_parser(name, parents=[common], help=f"{what} a generated project")
        p.add_argument("project_dir")
        option_arg(p)
        p.set_defaults(func=func)

    p = sub.add_parser("run", parents=[common], help="run one inference host-driven on a flashed project")
    p.add_argument("project_dir")
    p.add_argument("--compare", metavar="MODEL.tflite", help="compare the outputs with TFLite Micro's")
    run_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("deploy", parents=[common], help="compile, generate, build, flash and run a model")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--platform", required=True)
    p.add_argument("--board", required=True)
    p.add_argument("--project-dir", help="keep the project here (default: a temporary folder)")
    p.add_argument("--force", action="store_true",
                   help="replace the contents of a non-empty --project-dir (as create-project --force)")
    p.add_argument("--no-compare", action="store_true", help="do not run the TFLite Micro reference")
    p.add_argument("--tuning", help="kernel choices from utvm tune (a JSON file)")
    p.add_argument("--io-in-arena", action="store_true", help=IO_IN_ARENA_HELP)
    option_arg(p)
    run_args(p)
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("tune", parents=[common], help="measure kernel variants per layer on a board; write the best")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--platform", required=True)
    p.add_argument("--board", required=True)
    p.add_argument("-O", "--output", default="tuning.json", help="the tuning file to write (default tuning.json)")
    p.add_argument("--force", action="store_true", help="overwrite an existing tuning file")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input used for measuring")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a silent device counts as hung")
    option_arg(p)
    p.set_defaults(func=cmd_tune)
