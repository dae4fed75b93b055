"""The ``utvm`` command line.

Exit codes: 0 success, 1 a check failed (outputs differ from the reference),
2 a usage or input error (one line on stderr, prefixed ``utvm: error:``).
Progress of long steps goes to stderr; ``--json`` puts a machine-readable
result on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__
from .errors import UtvmError

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


class Progress:
    """Step messages on stderr, with timings under --verbose."""

    def __init__(self, verbose: bool, quiet: bool = False) -> None:
        self.verbose = verbose
        self.quiet = quiet

    def step(self, message: str) -> Callable[[], None]:
        start = time.monotonic()
        if not self.quiet:
            print(f"utvm: {message} ...", file=sys.stderr, flush=True)

        def done() -> None:
            if self.verbose and not self.quiet:
                print(f"utvm:   done in {time.monotonic() - start:.2f} s", file=sys.stderr, flush=True)

        return done


def _summary(compiled: Any) -> dict[str, Any]:
    md = compiled.metadata
    return {
        "model": md["model"],
        "inputs": md["inputs"],
        "outputs": md["outputs"],
        "arena_bytes": md["memory"]["arena_bytes"],
        "constants_bytes": md["memory"]["constants_bytes"],
        "operators": len(md["operators"]),
    }


def cmd_compile(args: argparse.Namespace, progress: Progress) -> int:
    from .compiler import compile as compile_model

    out = Path(args.output) if args.output else Path(Path(args.model).stem + ".tar")
    if out.exists() and not args.force:
        raise UtvmError(f"{out} already exists; pass --force to overwrite it")
    target: object = "host"
    if args.platform or args.board:
        if not (args.platform and args.board):
            raise UtvmError("--platform and --board go together: the target is read from the board's platform")
        from .cli_project import fetch_target

        done = progress.step(f"reading the target of {args.board} from the {args.platform} platform")
        target = fetch_target(args.platform, args.board)
        done()
    from .cli_project import tuning_choices

    done = progress.step(f"compiling {args.model}")
    compiled = compile_model(args.model, name=args.name, target=target, kernels=tuning_choices(args.tuning, args.model),
                             io_in_arena=args.io_in_arena)
    done()
    compiled.export(out, force=args.force)
    summary = dict(_summary(compiled), archive=str(out))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{out}: model '{summary['model']}', {summary['operators']} operators, "
            f"arena {summary['arena_bytes']} B, constants {summary['constants_bytes']} B"
        )
    return EXIT_OK


def cmd_demo_model(args: argparse.Namespace, progress: Progress) -> int:
    from .demo import make_demo_model

    out = Path(args.output)
    if out.exists() and not args.force:
        raise UtvmError(f"{out} already exists; pass --force to overwrite it")
    done = progress.step("training and quantizing the sine demo model")
    data = make_demo_model()
    done()
    out.write_bytes(data)
    print(f"{out}: {len(data)} bytes")
    return EXIT_OK


#: Where `utvm demo` runs when no --platform is given: the emulated Cortex-M4, when its
#: platform and tools are installed; otherwise the host.
DEMO_DEFAULT = ("baremetal_cmsis", "mps2-an386", ("arm-none-eabi-gcc", "qemu-system-arm"))


def _demo_target(args: argparse.Namespace) -> tuple[str, str]:
    import shutil

    from .project_api import load_platforms

    if args.platform:
        return args.platform, args.board or _only_board(args.platform)
    platform, board, tools = DEMO_DEFAULT
    missing = [t for t in tools if shutil.which(t) is None]
    if platform in load_platforms() and not missing:
        return platform, board
    why = f"{', '.join(missing)} not on PATH" if missing else f"platform {platform} not installed"
    print(f"utvm: {why}: running the demo on the host (bash scripts/setup.sh installs them)", file=sys.stderr)
    return "host", "native"


def _only_board(platform: str) -> str:
    from .project_api import connect, get_platform

    with connect(get_platform(platform).server_argv) as client:
        boards = client.boards()
    if len(boards) != 1:
        raise UtvmError(f"platform {platform} has {len(boards)} boards: choose one with --board")
    return boards[0]["name"]


def cmd_demo(args: argparse.Namespace, progress: Progress) -> int:
    import tempfile

    from .cli_project import deploy_project, project_metadata, project_session
    from .demo import X_MAX, dequantize, make_demo_model, quantize_input
    from .reference import tflm_available, tflm_run

    platform, board = _demo_target(args)
    done = progress.step("training and quantizing the sine demo model")
    model = make_demo_model()
    done()
    have_tflm = tflm_available()
    rows = []
    with tempfile.TemporaryDirectory(prefix="utvm-demo-") as tmp:
        project = deploy_project(model, platform, board, {}, Path(tmp) / "project", False, progress, name="sine")
        md = project_metadata(project)
        md_in, md_out = md["inputs"][0], md["outputs"][0]
        emulated = md["target"].get("emulator") == "qemu"
        with project_session(project, args.timeout, progress) as session:
            done = progress.step(f"running {args.points} inferences on {platform}/{board}")
            for x in np.linspace(0.0, X_MAX, args.points):
                q = quantize_input(np.array([[x]]), md_in["scale"], md_in["zero_point"])
                ours = int(session.infer([q], md)[0].reshape(-1)[0])
                ticks = int(session.last_ticks or 0)
                rows.append({
                    "x": float(x),
                    "sin_x": float(np.sin(x)),
                    "input_q": int(q.reshape(-1)[0]),
                    "utvm_q": ours,
                    "utvm": float(dequantize(ours, md_out["scale"], md_out["zero_point"])),
                    "tflm_q": int(tflm_run(model, [q])[0].reshape(-1)[0]) if have_tflm else None,
                    "ticks": ticks,
                    # Under QEMU -icount shift=0 one instruction is one virtual nanosecond.
                    "instructions": round(ticks * 1e9 / session.info.ticks_per_second) if emulated else None,
                })
            done()
            unit = session.info.timer_unit
    mismatches = sum(1 for r in rows if r["tflm_q"] is not None and r["tflm_q"] != r["utvm_q"])
    result = {"model": "sine", "platform": platform, "board": board, "arena_bytes": md["memory"]["arena_bytes"],
              "constants_bytes": md["memory"]["constants_bytes"], "timer_unit": unit, "rows": rows,
              "mismatches": mismatches, "reference": have_tflm}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"sine demo on {platform}/{board}: arena {result['arena_bytes']} B, "
              f"constants {result['constants_bytes']} B")
        count = "instructions" if emulated else f"{unit}"
        print(f"{'x':>7} {'sin(x)':>8} {'utvm':>8} {'q':>5} {'TFLM q':>7} {count:>13}")
        for r in rows:
            ref = "-" if r["tflm_q"] is None else str(r["tflm_q"])
            cost = r["instructions"] if emulated else r["ticks"]
            print(f"{r['x']:7.3f} {r['sin_x']:8.4f} {r['utvm']:8.4f} {r['utvm_q']:5d} {ref:>7} {cost:>13}")
        if have_tflm:
            verdict = "bit-exact with TFLite Micro" if not mismatches else f"{mismatches} MISMATCHES with TFLite Micro"
            print(f"{len(rows)} inferences, {verdict}")
        else:
            print(f"{len(rows)} inferences (TFLite Micro not installed: no reference comparison)")
    return EXIT_MISMATCH if mismatches else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="utvm", description="Compile int8 TFLite models to C and run them on microcontrollers."
    )
    from .cli_project import IO_IN_ARENA_HELP, add_project_commands

    parser.add_argument("--version", action="version", version=f"utvm {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="more detail, with timings")
    common.add_argument("--json", action="store_true", help="print a machine-readable result on stdout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("compile", parents=[common], help="compile a .tflite model to a Model Library Format .tar")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("-o", "--output", help="the .tar to write (default: MODEL_STEM.tar)")
    p.add_argument("--name", help="C name of the model (default: from the file name)")
    p.add_argument("--platform", help="compile for a board of this platform (with --board)")
    p.add_argument("--board", help="the board whose target_info the compiler uses")
    p.add_argument("--tuning", help="kernel choices from utvm tune (a JSON file)")
    p.add_argument("--io-in-arena", action="store_true", help=IO_IN_ARENA_HELP)
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser(
        "demo", parents=[common], help="make the sine demo model, deploy it (emulated Cortex-M4 by default) and run it"
    )
    p.add_argument("--points", type=int, default=9, help="how many x values to run (default 9)")
    p.add_argument("--platform", help="run on this platform (default: baremetal_cmsis if its tools are installed)")
    p.add_argument("--board", help="the board (default: mps2-an386, or the platform's only board)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the device per step")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("demo-model", parents=[common], help="write the sine demo model as a .tflite file")
    p.add_argument("-o", "--output", default="sine.tflite", help="where to write it (default sine.tflite)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_demo_model)

    add_project_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    progress = Progress(verbose=args.verbose, quiet=args.json and not args.verbose)
    try:
        return args.func(args, progress)
    except UtvmError as exc:
        print(f"utvm: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("utvm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (| head): not an error of ours
        sys.stdout = None  # type: ignore[assignment]  # nothing more can be written there
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
