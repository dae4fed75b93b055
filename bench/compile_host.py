"""Compiler benchmark on the shared reference models, run on the host.

Prints one row per model: compile time, our activation arena beside TFLite
Micro's activation memory (from ../shared/models/README.md), constants bytes,
generated code size (.text of the model and its kernels at -O2), and host
latency of our C beside TFLite Micro's Python interpreter invoke() measured in
the same run, as a ratio (timings on shared machines are noisy; the ratio is
what to compare).

    python3 bench/compile_host.py [--models kws_ref_model.tflite ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import utvm
from utvm.host import CFLAGS, c_compiler
from utvm.mlf import runtime_files
from utvm.reference import tflm_available

MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "models"

#: TFLite Micro's activation memory per model (bytes), from ../shared/models/README.md.
TFLM_ACTIVATION_BYTES = {
    "kws_ref_model.tflite": 16000,
    "vww_96_int8.tflite": 73728,
    "pretrainedResnet_quant.tflite": 49152,
    "ad01_int8.tflite": 768,
    "person_detect.tflite": 55296,
    "micro_speech_quantized.tflite": 5968,
    "hello_world_int8.tflite": 32,
}


def code_size(compiled: utvm.CompiledModel) -> int:
    """Bytes of .text of the model and the kernels it uses, compiled with the host compiler at -O2."""
    with tempfile.TemporaryDirectory() as tmp:
        files = runtime_files()
        files.update(compiled.files)
        for path, text in files.items():
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_text(text)
        sources = [compiled.source_path] + ["runtime/src/" + s for s in compiled.metadata["runtime_sources"]]
        total = 0
        for src in sources:
            obj = Path(tmp) / (Path(src).stem + ".o")
            subprocess.run(
                [c_compiler(), *CFLAGS, "-Iruntime/include", f"-I{Path(compiled.header_path).parent}", "-c", src,
                 "-o", str(obj)],
                cwd=tmp,
                check=True,
            )
            out = subprocess.run(["size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
            total += sum(int(line.split()[1]) for line in out.splitlines() if line.startswith(".text"))
        return total


def tflm_latency_ns(data: bytes, inputs: list[np.ndarray], iterations: int) -> float:
    from tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(data, arena_size=4 * 1024 * 1024)
    for i, x in enumerate(inputs):
        interpreter.set_input(x, i)
    interpreter.invoke()
    start = time.perf_counter_ns()
    for _ in range(iterations):
        interpreter.invoke()
    return (time.perf_counter_ns() - start) / iterations


def bench_model(path: Path) -> dict:
    data = path.read_bytes()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        compiled = utvm.compile(data, name="m")
        times.append(time.perf_counter() - start)
    runner = utvm.host.build(compiled)
    rng = np.random.default_rng(0)
    inputs = [
        rng.integers(-128, 128, size=e["shape"]).astype(e["dtype"]) for e in compiled.metadata["inputs"]
    ]
    _, probe_ns = runner.run(inputs, iterations=1)
    iterations = max(5, min(2000, int(0.3e9 / max(probe_ns, 1.0))))
    _, ours_ns = runner.run(inputs, iterations=iterations)
    ref_ns = tflm_latency_ns(data, inputs, iterations) if tflm_available() else None
    md = compiled.metadata["memory"]
    return {
        "model": path.name,
        "compile_s": statistics.median(times),
        "arena_bytes": md["arena_bytes"],
        "tflm_activation_bytes": TFLM_ACTIVATION_BYTES.get(path.name),
        "constants_bytes": md["constants_bytes"],
        "code_bytes": code_size(compiled),
        "utvm_us": ours_ns / 1000,
        "tflm_us": ref_ns / 1000 if ref_ns else None,
        "speedup": (ref_ns / ours_ns) if ref_ns else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=sorted(TFLM_ACTIVATION_BYTES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not MODELS_DIR.is_dir():
        print(f"the shared models folder {MODELS_DIR} is missing", file=sys.stderr)
        return 2
    rows = [bench_model(MODELS_DIR / m) for m in args.models]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = (
        f"{'model':<31}{'compile s':>10}{'arena B':>9}{'TFLM B':>8}{'consts B':>10}{'code B':>8}"
        f"{'utvm us':>10}{'TFLM us':>10}{'TFLM/utvm':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        tflm_us = f"{r['tflm_us']:.1f}" if r["tflm_us"] else "-"
        speedup = f"{r['speedup']:.2f}x" if r["speedup"] else "-"
        print(
            f"{r['model']:<31}{r['compile_s']:>10.3f}{r['arena_bytes']:>9}{r['tflm_activation_bytes'] or '-':>8}"
            f"{r['constants_bytes']:>10}{r['code_bytes']:>8}{r['utvm_us']:>10.1f}{tflm_us:>10}{speedup:>10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
