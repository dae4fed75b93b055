"""Models on the emulated Cortex-M boards, bit-exact with TFLite Micro, in both project types.

Each model is compiled for the board's own target (its target_info), so the kernel variants for
the board's ISA features replace the reference kernels: MVE on the Cortex-M55 (mps3-an547), DSP
on the Cortex-M4/M7/M33.

host_driven: utvm.project.create_project, the server's build and flash, then
utvm.cli_project.run_project (one inference over the UART, compared with TFLM).
standalone: the inputs and TFLM's outputs built into the image; QEMU runs it to its end and
the image must print "utvm: status ok" and exit 0 (semihosting).

Coverage: the demo model and all seven shared models on all five machines, in both types
(80 cases). Measured: about two minutes with -n 2 (each case generates, builds and runs its
own image: 1-5 s). UTVM_BAREMETAL_QUICK=1 keeps the large models (vww, person_detect, resnet)
to the Cortex-M4 and Cortex-M55 only (62 cases).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.cli_project import fetch_target, run_project
from utvm.demo import make_demo_model
from utvm.project import create_project
from utvm.mlf import read_mlf

from ..conftest import SHARED_MODELS, shared_model

PLATFORM = "baremetal_cmsis"
ALL_BOARDS = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]
WIDE_BOARDS = ["mps2-an386", "mps3-an547"]  # the large models, with UTVM_BAREMETAL_QUICK=1
SMALL_MODELS = ["hello_world_int8.tflite", "ad01_int8.tflite", "micro_speech_quantized.tflite",
                "kws_ref_model.tflite"]
LARGE_MODELS = sorted(set(SHARED_MODELS) - set(SMALL_MODELS))
DEMO = "demo"

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc and qemu-system-arm are needed (apt-get install gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi qemu-system-arm)",
)


def _cases():
    quick = os.environ.get("UTVM_BAREMETAL_QUICK", "") not in ("", "0")
    cases = []
    for model in [DEMO] + SMALL_MODELS:
        cases += [(model, board) for board in ALL_BOARDS]
    for model in LARGE_MODELS:
        cases += [(model, board) for board in (WIDE_BOARDS if quick else ALL_BOARDS)]
    return cases


CASES = _cases()
IDS = [f"{m.split('.')[0]}-{b}" for m, b in CASES]


class Quiet:
    def step(self, message):
        return lambda: None


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(name, board) -> (model path, MLF path), compiled for the board's target once (per test worker)."""
    cache: dict[tuple[str, str], tuple[Path, Path]] = {}
    targets: dict[str, dict] = {}
    root = tmp_path_factory.mktemp("models")

    def get(name: str, board: str) -> tuple[Path, Path]:
        if (name, board) not in cache:
            if name == DEMO:
                model = root / "sine.tflite"
                model.write_bytes(make_demo_model())
            else:
                model = shared_model(name)
            if board not in targets:
                targets[board] = fetch_target(PLATFORM, board)
            stem = model.stem.replace("-", "_")
            compiled_model = utvm.compile(model, name=stem, target=targets[board])
            cache[(name, board)] = (model, compiled_model.export(root / f"{stem}-{board}.tar"))
        return cache[(name, board)]

    return get


def _inputs(mlf: Path, seed: int = 7) -> list[np.ndarray]:
    md = read_mlf(mlf).metadata
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=e["shape"]).astype(e["dtype"]) for e in md["inputs"]]


@pytest.mark.parametrize("model_name, board", CASES, ids=IDS)
def test_host_driven_bit_exact(model_name, board, compiled, tmp_path, tflm):
    model, mlf = compiled(model_name, board)
    started = time.monotonic()
    project = create_project(tmp_path / "p", mlf, PLATFORM, board, {})
    with project.connect() as client:
        client.build(project.path, client.select_options("build", project.options))
        client.flash(project.path, client.select_options("flash", project.options))
    result = run_project(project, None, str(model), seed=3, timeout_s=60.0, progress=Quiet())
    assert result["bit_exact"] is True, (result["outputs"], result["reference"])
    assert result["timer_unit"] == "cycles" and result["ticks"] > 0
    print(f"{model_name} {board} host_driven: {result['ticks']} ticks, {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("model_name, board", CASES, ids=IDS)
def test_standalone_status_ok(model_name, board, compiled, tmp_path, tflm):
    model, mlf = compiled(model_name, board)
    started = time.monotonic()
    xs = _inputs(mlf)
    want = tflm(model.read_bytes(), xs)
    np.savez(tmp_path / "x.npz", *xs)
    np.savez(tmp_path / "y.npz", *want)
    project = create_project(tmp_path / "p", mlf, PLATFORM, board, {
        "project_type": "standalone", "inputs": tmp_path / "x.npz", "expected_outputs": tmp_path / "y.npz"})
    with project.connect() as client:
        client.build(project.path)
        run = client.flash(project.path)
    assert run["exit_status"] == 0 and run["status"] == "ok", run["output"]
    assert "utvm: status ok" in run["output"]
    for k, w in enumerate(want):
        assert run["outputs"][k] == [int(v) for v in np.asarray(w).reshape(-1)]
    assert run["instructions"] > 0 and 0 < run["stack_used"] < run["stack_size"]
    print(f"{model_name} {board} standalone: {run['instructions']} instructions, stack {run['stack_used']} B, "
          f"{time.monotonic() - started:.1f} s")
