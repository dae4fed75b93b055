"""Cortex-M benchmark under QEMU: instructions, RAM and code per model and board, against the targets.

For each shared model and emulated board it compiles the model for the board's
target, generates a standalone baremetal_cmsis project with a seeded random
input and TFLite Micro's output as the expected result, builds it, and runs it
to the end in QEMU with -icount shift=0 (one instruction per virtual
nanosecond, so SysTick ticks convert to instructions exactly).

Figures, beside TFLite Micro + CMSIS-NN's (../shared/models/README.md):
  instructions  per inference;
  RAM           arena + the runtime's statics (.data + .bss) + the measured stack
                (painted, high-water mark of the whole program). The model is compiled
                with its inputs and outputs in the arena (utvm.compile io_in_arena, as
                TFLite Micro keeps them in its arena); --io caller keeps them in .bss
                buffers of the application instead;
  code          flash minus the weights, the built-in test data and the .data load image.
Where a (model, board) has targets (TARGETS_* below), each figure is marked met
or MISSED; a figure is met only by a run whose outputs matched TFLM's.

    python3 bench/cortex_m.py [--models kws_ref_model.tflite ...] [--boards mps2-an386 ...] [--io arena|caller]
                              [--json] [--check]

Exit status: 1 when a run did not end "ok" or, with --check, when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import utvm
from utvm.cli_project import fetch_target
from utvm.project import create_project
from utvm.reference import tflm_run

MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "models"
PLATFORM = "baremetal_cmsis"
BOARDS = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]
KWS, VWW, RESNET, AD01 = "kws_ref_model.tflite", "vww_96_int8.tflite", "pretrainedResnet_quant.tflite", "ad01_int8.tflite"
DEFAULT_MODELS = [KWS, VWW, RESNET, AD01, "person_detect.tflite", "micro_speech_quantized.tflite",
                  "hello_world_int8.tflite"]

# ---- TFLite Micro's figures (../shared/models/README.md) -------------------------------------------

#: TFLM + CMSIS-NN instructions per inference (millions).
TFLM_CMSIS_NN = {
    (KWS, "mps2-an386"): 7.70, (VWW, "mps2-an386"): 24.10, (RESNET, "mps2-an386"): 29.86, (AD01, "mps2-an386"): 0.58,
    (KWS, "mps3-an547"): 1.81, (VWW, "mps3-an547"): 6.56, (RESNET, "mps3-an547"): 4.91, (AD01, "mps3-an547"): 0.29,
}
#: TFLM's reference kernels on the M4 (mps2-an386), instructions per inference (millions).
TFLM_REFERENCE_M4 = {KWS: 43.1, VWW: 100.4, RESNET: 107.4, AD01: 1.95}
#: TFLM's arena total on the M4 with CMSIS-NN (bytes).
TFLM_ARENA = {KWS: 22916, VWW: 100804, RESNET: 55092, AD01: 2676}
TFLM_CODE_NOTE = "TFLM + CMSIS-NN code on the M4, models excluded: 43 KB interpreter + 54 KB CMSIS-NN + 17 KB libc"

# ---- the targets -------------------------------------------------------------------------------------

#: At most this many instructions per inference (millions), per board.
TARGETS_INSTRUCTIONS_M = {
    "mps2-an386": {KWS: 5.2, VWW: 16.1, RESNET: 20.0, AD01: 0.39},
    "mps3-an547": {KWS: 1.21, VWW: 4.4, RESNET: 3.3, AD01: 0.19},
}
#: At most this much RAM (bytes), on every board with instruction targets.
TARGETS_RAM = {KWS: 16_000, VWW: 70_500, RESNET: 38_500, AD01: 1_870}
#: At most this much code (bytes), likewise.
TARGET_CODE = 20 * 1024


def targets_for(model: str, board: str) -> dict[str, int]:
    """The targets of ``model`` on ``board`` as figure -> bound (instructions, ram, code); {} if none."""
    instructions_m = TARGETS_INSTRUCTIONS_M.get(board, {}).get(model)
    if instructions_m is None:
        return {}
    return {"instructions": round(instructions_m * 1e6), "ram": TARGETS_RAM[model], "code": TARGET_CODE}


# ---- one run -----------------------------------------------------------------------------------------


def measure(model_path: Path, board: str, target: dict, tmp: Path, io_in_arena: bool) -> dict[str, Any]:
    """Compile, build and run ``model_path`` standalone on ``board``: the figures of that run."""
    data = model_path.read_bytes()
    compiled = utvm.compile(data, name="m", target=target, io_in_arena=io_in_arena)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, size=e["shape"]).astype(e["dtype"]) for e in compiled.metadata["inputs"]]
    expected = tflm_run(data, inputs)
    work = tmp / f"{model_path.stem}-{board}"
    work.mkdir()
    np.savez(work / "inputs.npz", *inputs)
    np.savez(work / "expected.npz", *expected)
    mlf = compiled.export(work / "m.tar")
    project = create_project(work / "p", mlf, PLATFORM, board, {
        "project_type": "standalone", "inputs": work / "inputs.npz", "expected_outputs": work / "expected.npz"})
    with project.connect() as client:
        sizes = client.build(project.path, {}).get("sizes", {})
        run = client.flash(project.path, {})
    stack = run.get("stack_used")
    statics = sizes.get("data", 0) + sizes.get("bss", 0)
    return {
        "status": run.get("status") or (f"fault {run['fault']}" if run.get("fault") else "no status"),
        "instructions": run.get("instructions"),
        "arena": sizes.get("arena"),
        "statics": statics,
        "stack_used": stack,
        "ram": None if stack is None else sizes.get("arena", 0) + statics + stack,
        "code": sizes.get("code"),
        "weights": sizes.get("weights"),
        "test_data": sizes.get("test_data"),
    }


def bench_one(model_path: Path, board: str, target: dict, tmp: Path, io_in_arena: bool = True) -> dict[str, Any]:
    """One row: the run's figures (or its error as the status), TFLM's, the targets and which are met."""
    row: dict[str, Any] = {"model": model_path.name, "board": board, "io": "arena" if io_in_arena else "caller"}
    try:
        row.update(measure(model_path, board, target, tmp, io_in_arena))
    except Exception as exc:  # one failing run must not end the sweep: it is reported as its status
        row["status"] = f"error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    row["tflm_cmsis_nn_M"] = TFLM_CMSIS_NN.get((model_path.name, board))
    row["tflm_reference_m4_M"] = TFLM_REFERENCE_M4.get(model_path.name) if board == "mps2-an386" else None
    row["tflm_arena"] = TFLM_ARENA.get(model_path.name)
    row["targets"] = targets_for(model_path.name, board)
    ok = row["status"] == "ok"
    row["met"] = {k: ok and row.get(k) is not None and row[k] <= bound for k, bound in row["targets"].items()}
    return row


# ---- the table ---------------------------------------------------------------------------------------


def _num(v: Any, fmt: str = "{:,}") -> str:
    return "-" if v is None else fmt.format(v)


def _against(row: dict, figure: str) -> str:
    """The target of ``figure`` with its mark, e.g. '5.20 met', '16,000 MISSED'; '' without a target."""
    bound = row["targets"].get(figure)
    if bound is None:
        return ""
    text = f"{bound / 1e6:.2f}" if figure == "instructions" else f"{bound:,}"
    return f"{text} {'met' if row['met'][figure] else 'MISSED'}"


#: (header, width, cell) per column; widths include the space before the column.
COLUMNS = [
    ("model", 31, lambda r: r["model"]),
    ("board", 11, lambda r: r["board"]),
    ("instr M", 9, lambda r: _num(None if r.get("instructions") is None else r["instructions"] / 1e6, "{:.3f}")),
    ("TFLM+NN M", 10, lambda r: _num(r["tflm_cmsis_nn_M"], "{:.2f}")),
    ("target M", 13, lambda r: _against(r, "instructions")),
    ("arena B", 9, lambda r: _num(r.get("arena"))),
    ("TFLM arena B", 13, lambda r: _num(r["tflm_arena"])),
    ("stack B", 8, lambda r: _num(r.get("stack_used"))),
    ("RAM B", 8, lambda r: _num(r.get("ram"))),
    ("target RAM B", 15, lambda r: _against(r, "ram")),
    ("code B", 8, lambda r: _num(r.get("code"))),
    ("target code B", 15, lambda r: _against(r, "code")),
    ("weights B", 10, lambda r: _num(r.get("weights"))),
    ("test data B", 12, lambda r: _num(r.get("test_data"))),
]


def table(rows: list[dict]) -> str:
    def line(cells: list[str]) -> str:
        return "".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, (_h, w, _f)) in enumerate(zip(cells, COLUMNS)))

    header = line([h for h, _w, _f in COLUMNS]) + "  status"
    body = [line([f(r) for _h, _w, f in COLUMNS]) + f"  {r['status']}" for r in rows]
    return "\n".join([header, "-" * len(header), *body])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument("--boards", nargs="*", default=BOARDS)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (with targets and met flags)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--io", choices=("arena", "caller"), default="arena",
                        help="where the model's inputs and outputs live (default: in its arena)")
    args = parser.parse_args()
    if not MODELS_DIR.is_dir():
        print(f"the shared models folder {MODELS_DIR} is missing", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="utvm-bench-") as tmp:
        for board in args.boards:
            target = fetch_target(PLATFORM, board)
            for m in args.models:
                rows.append(bench_one(MODELS_DIR / m, board, target, Path(tmp), args.io == "arena"))
                print(f"  {m} on {board}: {rows[-1].get('instructions')} instructions, {rows[-1]['status']}",
                      file=sys.stderr)
    met = [ok for r in rows for ok in r["met"].values()]
    failed = [r for r in rows if r["status"] != "ok"]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
        print(TFLM_CODE_NOTE)
    print(f"targets met: {sum(met)} of {len(met)}" + (f"; {len(failed)} run(s) failed" if failed else ""),
          file=sys.stderr if args.json else sys.stdout)
    return 1 if failed or (args.check and not all(met)) else 0


if __name__ == "__main__":
    sys.exit(main())
