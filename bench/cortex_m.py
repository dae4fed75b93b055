"""Cortex-M benchmark under QEMU: instructions, flash and RAM per model and board.

For each shared model and emulated board it compiles the model for the board's
target, generates a standalone baremetal_cmsis project with a seeded random
input and TFLite Micro's output as the expected result, builds it, and runs it
to the end in QEMU with -icount shift=0 (one instruction per virtual
nanosecond, so SysTick ticks convert to instructions exactly). Printed beside
TFLite Micro's own figures from ../shared/models/README.md.

    python3 bench/cortex_m.py [--models kws_ref_model.tflite ...] [--boards mps2-an386 ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

import utvm
from utvm.cli_project import fetch_target
from utvm.project import create_project
from utvm.reference import tflm_run

MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "models"
PLATFORM = "baremetal_cmsis"
BOARDS = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]

#: TFLite Micro + CMSIS-NN instructions per inference (millions) and TFLM's reference kernels on the M4,
#: from ../shared/models/README.md.
TFLM_CMSIS_NN = {
    ("kws_ref_model.tflite", "mps2-an386"): 7.70,
    ("vww_96_int8.tflite", "mps2-an386"): 24.10,
    ("pretrainedResnet_quant.tflite", "mps2-an386"): 29.86,
    ("ad01_int8.tflite", "mps2-an386"): 0.58,
    ("kws_ref_model.tflite", "mps3-an547"): 1.81,
    ("vww_96_int8.tflite", "mps3-an547"): 6.56,
    ("pretrainedResnet_quant.tflite", "mps3-an547"): 4.91,
    ("ad01_int8.tflite", "mps3-an547"): 0.29,
}
TFLM_REFERENCE_M4 = {
    "kws_ref_model.tflite": 43.1,
    "vww_96_int8.tflite": 100.4,
    "pretrainedResnet_quant.tflite": 107.4,
    "ad01_int8.tflite": 1.95,
}
TFLM_ARENA = {
    "kws_ref_model.tflite": 22916,
    "vww_96_int8.tflite": 100804,
    "pretrainedResnet_quant.tflite": 55092,
    "ad01_int8.tflite": 2676,
}
DEFAULT_MODELS = [
    "kws_ref_model.tflite",
    "vww_96_int8.tflite",
    "pretrainedResnet_quant.tflite",
    "ad01_int8.tflite",
    "person_detect.tflite",
    "micro_speech_quantized.tflite",
    "hello_world_int8.tflite",
]


def bench_one(model_path: Path, board: str, target: dict, tmp: Path) -> dict:
    data = model_path.read_bytes()
    compiled = utvm.compile(data, name="m", target=target)
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
        built = client.build(project.path, {})
        run = client.flash(project.path, {})
    sizes = built.get("sizes", {})
    ram = sizes.get("data", 0) + sizes.get("bss", 0) + sizes.get("arena", 0) + run.get("stack_used", 0)
    return {
        "model": model_path.name,
        "board": board,
        "status": run.get("status"),
        "instructions": run.get("instructions"),
        "tflm_cmsis_nn_M": TFLM_CMSIS_NN.get((model_path.name, board)),
        "tflm_reference_m4_M": TFLM_REFERENCE_M4.get(model_path.name) if board == "mps2-an386" else None,
        "arena": compiled.metadata["memory"]["arena_bytes"],
        "tflm_arena": TFLM_ARENA.get(model_path.name),
        "code": sizes.get("code"),
        "weights": sizes.get("weights"),
        "stack_used": run.get("stack_used"),
        "ram": ram,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument("--boards", nargs="*", default=BOARDS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not MODELS_DIR.is_dir():
        print(f"the shared models folder {MODELS_DIR} is missing", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="utvm-bench-") as tmp:
        for board in args.boards:
            target = fetch_target(PLATFORM, board)
            for m in args.models:
                rows.append(bench_one(MODELS_DIR / m, board, target, Path(tmp)))
                print(f"  {m} on {board}: {rows[-1]['instructions']} instructions, {rows[-1]['status']}",
                      file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0

    def num(v: object, fmt: str = "{:,}") -> str:
        return "-" if v is None else fmt.format(v)

    header = (f"{'model':<31}{'board':<12}{'instr M':>9}{'TFLM+NN M':>10}{'TFLM ref M':>11}{'arena B':>9}"
              f"{'TFLM arena':>11}{'code B':>8}{'weights B':>10}{'stack B':>8}{'RAM B':>8}  check")
    print(header)
    print("-" * len(header))
    for r in rows:
        instr = None if r["instructions"] is None else r["instructions"] / 1e6
        print(f"{r['model']:<31}{r['board']:<12}{num(instr, '{:.3f}'):>9}{num(r['tflm_cmsis_nn_M'], '{:.2f}'):>10}"
              f"{num(r['tflm_reference_m4_M'], '{:.2f}'):>11}{num(r['arena']):>9}{num(r['tflm_arena']):>11}"
              f"{num(r['code']):>8}{num(r['weights']):>10}{num(r['stack_used']):>8}{num(r['ram']):>8}  {r['status']}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
