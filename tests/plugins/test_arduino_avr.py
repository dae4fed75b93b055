"""The arduino plugin on AVR: sketches built with Debian's AVR core and run in simavr.

Every model here is compiled for the board's target_info (weights in __flash), built with
arduino-builder through the generated Makefile, run in the simavr harness with the UART on a TCP
port, and compared with TFLite Micro bit for bit; cycle counts come from Timer1 (the firmware)
and from the simulator (the harness), which must agree. Also: the sketch's own Makefile without
utvm, a standalone run, refusals, the harness dying with its server, and the const address space
switch of the code generator. About 30 s with -n 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.cli_project import project_session, run_project
from utvm.demo import make_demo_model
from utvm.errors import UtvmError
from utvm.frontend.model_builder import ModelBuilder
from utvm.project import create_project
from utvm.project_api import DoesNotFit, connect, get_platform
from utvm.platforms.arduino import cores, emulator, target

from ..conftest import shared_model

DEBIAN_AVR = Path("/usr/share/arduino/hardware/arduino/avr")
CLEAN_ENV = {"PATH": "/usr/bin:/bin"}  # no Python, no utvm: what a user's plain shell has


def _missing() -> list[str]:
    missing = [t for t in ("arduino-builder", "avr-gcc", "make", "cc") if shutil.which(t) is None]
    if not (DEBIAN_AVR / "boards.txt").is_file():
        missing.append("arduino-core-avr")
    if not any(Path(p, "simavr", "sim_avr.h").is_file() for p in ("/usr/include", "/usr/local/include")):
        missing.append("libsimavr-dev")
    return missing


pytestmark = pytest.mark.skipif(
    bool(_missing()),
    reason=f"needs {', '.join(_missing())} (apt-get install arduino-core-avr arduino-builder gcc-avr avr-libc "
    "simavr libsimavr-dev)",
)


class Quiet:
    def step(self, message):
        return lambda: None


def _target(fqbn: str) -> dict:
    return target.target_info(cores.get_board(fqbn))


def _project(tmp_path: Path, model, fqbn: str, name: str, options: dict | None = None, io_in_arena: bool = False):
    """Compile for the board, generate, build (returns the build's answer too)."""
    compiled = utvm.compile(model, name=name, target=_target(fqbn), io_in_arena=io_in_arena)
    mlf = compiled.export(tmp_path / f"{name}.tar")
    project = create_project(tmp_path / "project", mlf, "arduino", fqbn, {"emulate": True, **(options or {})})
    with project.connect() as client:
        built = client.build(project.path, {})
        client.flash(project.path, client.select_options("flash", project.options))
    return project, built


def _flash_symbols(elf: Path, prefix: str) -> dict[str, int]:
    nm = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True).stdout
    return {p[2]: int(p[0], 16) for p in (line.split() for line in nm.splitlines())
            if len(p) == 3 and p[2].startswith(prefix)}


def _harness_runs(project) -> list[int]:
    log = (project.path / "build" / "simavr.log").read_text()
    return [int(c) for c in re.findall(r"utvm-simavr: run \d+ cycles (\d+)", log)]


def test_demo_bit_exact_on_emulated_uno(tmp_path, tflm):
    model = make_demo_model()
    project, built = _project(tmp_path, model, "arduino:avr:uno", "sine")
    sizes = built["sizes"]
    assert sizes["flash"] <= 32256 and sizes["ram"] + 128 <= 2048
    # the weights live in flash: their symbols have program-memory addresses (data is at 0x800000+)
    symbols = _flash_symbols(project.path / "build" / "sine.ino.elf", "sine_")
    weights = {k: v for k, v in symbols.items() if k != "sine_arena"}
    assert len(weights) >= 4 and all(addr < 0x8000 for addr in weights.values()), weights
    assert symbols["sine_arena"] >= 0x800100
    md = json.loads((project.path / "model" / "metadata.json").read_text())
    assert md["memory"]["const_address_space"] == "__flash" and md["memory"]["ram_constants_bytes"] == 0
    ticks = []
    with project_session(project, 20.0, Quiet()) as session:
        assert session.info.timer_unit == "cycles" and session.info.ticks_per_second == 16_000_000
        assert session.info.max_payload == 128
        for v in range(-128, 128, 23):
            x = np.array([[v]], dtype=np.int8)
            assert np.array_equal(session.infer([x], md)[0], tflm(model, [x])[0])
            ticks.append(session.last_ticks)
    # Timer1's cycle count and the simulator's agree (the markers bracket the timer by a few cycles)
    runs = _harness_runs(project)
    assert len(runs) == len(ticks) and all(0 <= h - t < 64 for h, t in zip(runs, ticks)), (runs, ticks)
    assert all(20_000 < t < 500_000 for t in ticks)


def test_io_in_the_arena_on_emulated_uno(tmp_path, tflm):
    """The glue's I/O places are the arena's: less static RAM, the same outputs."""
    model = make_demo_model()
    _, apart = _project(tmp_path / "apart", model, "arduino:avr:uno", "sine")
    project, inside = _project(tmp_path / "inside", model, "arduino:avr:uno", "sine", io_in_arena=True)
    md = json.loads((project.path / "model" / "metadata.json").read_text())
    assert md["memory"]["io"] == "arena"
    assert inside["sizes"]["ram"] < apart["sizes"]["ram"]
    with project_session(project, 20.0, Quiet()) as session:
        for v in (-128, -3, 0, 77, 127):
            x = np.array([[v]], dtype=np.int8)
            assert np.array_equal(session.infer([x], md)[0], tflm(model, [x])[0])


def test_hello_world_bit_exact_on_emulated_uno(tmp_path, tflm):
    model = shared_model("hello_world_int8.tflite")
    project, _ = _project(tmp_path, model, "arduino:avr:uno", "hello_world")
    result = run_project(project, None, str(model), seed=5, timeout_s=20.0, progress=Quiet())
    assert result["bit_exact"] is True and result["timer_unit"] == "cycles" and result["ticks"] > 0


def test_micro_speech_bit_exact_on_emulated_mega(tmp_path, tflm):
    model = shared_model("micro_speech_quantized.tflite")
    project, built = _project(tmp_path, model, "arduino:avr:mega", "micro_speech")
    md = json.loads((project.path / "model" / "metadata.json").read_text())
    assert built["sizes"]["data"] < 1024 < md["memory"]["constants_bytes"]  # 16 KiB of weights stay in flash
    result = run_project(project, None, str(model), seed=1, timeout_s=60.0, progress=Quiet())
    assert result["bit_exact"] is True and result["ticks"] > 1_000_000


def test_micro_speech_refused_on_the_uno(tmp_path):
    model = shared_model("micro_speech_quantized.tflite")
    mlf = utvm.compile(model, name="micro_speech", target=_target("arduino:avr:uno")).export(tmp_path / "m.tar")
    with pytest.raises(DoesNotFit) as exc:
        create_project(tmp_path / "p", mlf, "arduino", "arduino:avr:uno", {})
    assert exc.value.region == "RAM" and exc.value.available == 2048 and exc.value.needed > 6000
    assert "arena 4016" in str(exc.value) and "model I/O buffers 1964" in str(exc.value)


def mixed_model(seed: int = 3) -> bytes:
    """Eleven operators, ten kernels; ADD and MUL take constant operands (kept in RAM on AVR)."""
    rng = np.random.default_rng(seed)
    mb = ModelBuilder("mixed")
    x = mb.input("x", (1, 6, 6, 2), "int8", scale=0.05, zero_point=-3)
    w1s = (0.01 * 2.0 ** rng.uniform(-1, 1, 4)).astype(np.float32)
    w1 = mb.const("w1", rng.integers(-127, 128, (4, 3, 3, 2)).astype(np.int8), scale=w1s.tolist(), zero_point=0,
                  axis=0)
    b1 = mb.const("b1", rng.integers(-300, 300, 4).astype(np.int32), scale=(0.05 * w1s).tolist(), zero_point=0)
    c1 = mb.tensor("c1", (1, 6, 6, 4), "int8", scale=0.08, zero_point=-128)
    mb.op("CONV_2D", [x, w1, b1], [c1], padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1,
          dilation_w_factor=1, fused_activation_function="RELU")
    pads = mb.const("pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], dtype=np.int32))
    p = mb.tensor("p", (1, 8, 8, 4), "int8", scale=0.08, zero_point=-128)
    mb.op("PAD", [c1, pads], [p])
    w2s = (0.02 * 2.0 ** rng.uniform(-1, 1, 4)).astype(np.float32)
    w2 = mb.const("w2", rng.integers(-127, 128, (1, 3, 3, 4)).astype(np.int8), scale=w2s.tolist(), zero_point=0,
                  axis=3)
    b2 = mb.const("b2", rng.integers(-500, 500, 4).astype(np.int32), scale=(0.08 * w2s).tolist(), zero_point=0)
    d = mb.tensor("d", (1, 3, 3, 4), "int8", scale=0.1, zero_point=2)
    mb.op("DEPTHWISE_CONV_2D", [p, w2, b2], [d], padding="VALID", stride_h=2, stride_w=2, dilation_h_factor=1,
          dilation_w_factor=1, depth_multiplier=1, fused_activation_function="NONE")
    k = mb.const("k", rng.integers(-100, 100, (1, 3, 3, 4)).astype(np.int8), scale=0.07, zero_point=5)
    a = mb.tensor("a", (1, 3, 3, 4), "int8", scale=0.12, zero_point=-7)
    mb.op("ADD", [d, k], [a], fused_activation_function="NONE")
    k2 = mb.const("k2", rng.integers(-100, 100, (1, 3, 3, 4)).astype(np.int8), scale=0.03, zero_point=-2)
    m = mb.tensor("m", (1, 3, 3, 4), "int8", scale=0.09, zero_point=1)
    mb.op("MUL", [a, k2], [m], fused_activation_function="NONE")
    mp = mb.tensor("mp", (1, 2, 2, 4), "int8", scale=0.09, zero_point=1)
    mb.op("MAX_POOL_2D", [m], [mp], padding="VALID", stride_h=1, stride_w=1, filter_height=2, filter_width=2,
          fused_activation_function="NONE")
    t = mb.tensor("t", (1, 2, 2, 4), "int8", scale=1.0 / 128, zero_point=0)
    mb.op("TANH", [mp], [t])
    shape = mb.const("shape", np.array([1, 16], dtype=np.int32))
    r = mb.tensor("r", (1, 16), "int8", scale=1.0 / 128, zero_point=0)
    mb.op("RESHAPE", [t, shape], [r], new_shape=[1, 16])
    w3 = mb.const("w3", rng.integers(-127, 128, (5, 16)).astype(np.int8), scale=0.02, zero_point=0)
    b3 = mb.const("b3", rng.integers(-200, 200, 5).astype(np.int32), scale=0.02 / 128, zero_point=0)
    f = mb.tensor("f", (1, 5), "int8", scale=0.05, zero_point=4)
    mb.op("FULLY_CONNECTED", [r, w3, b3], [f], fused_activation_function="NONE", keep_num_dims=False,
          weights_format="DEFAULT", asymmetric_quantize_inputs=False)
    s = mb.tensor("s", (1, 5), "int8", scale=1.0 / 256, zero_point=-128)
    mb.op("SOFTMAX", [f], [s], beta=1.0)
    axes = mb.const("axes", np.array([1, 2], dtype=np.int32))
    mean = mb.tensor("mean", (1, 4), "int8", scale=0.05, zero_point=-1)
    mb.op("MEAN", [m, axes], [mean], keep_dims=False)
    mb.output(s)
    mb.output(mean)
    return mb.build()


def mixed_model_2() -> bytes:
    """Eleven more kernels: float QUANTIZE and DEQUANTIZE, requantize, resize, pooling, transpose, slice..."""
    mb = ModelBuilder("mixed2")
    x = mb.input("x", (1, 4, 6, 3), "float32")
    q = mb.tensor("q", (1, 4, 6, 3), "int8", scale=0.05, zero_point=-4)
    mb.op("QUANTIZE", [x], [q])
    q2 = mb.tensor("q2", (1, 4, 6, 3), "int8", scale=0.07, zero_point=3)
    mb.op("QUANTIZE", [q], [q2])
    size = mb.const("size", np.array([6, 9], dtype=np.int32))
    rz = mb.tensor("rz", (1, 6, 9, 3), "int8", scale=0.07, zero_point=3)
    mb.op("RESIZE_NEAREST_NEIGHBOR", [q2, size], [rz], align_corners=False, half_pixel_centers=True)
    ap = mb.tensor("ap", (1, 3, 4, 3), "int8", scale=0.07, zero_point=3)
    mb.op("AVERAGE_POOL_2D", [rz], [ap], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
          fused_activation_function="NONE")
    perm = mb.const("perm", np.array([0, 3, 1, 2], dtype=np.int32))
    tr = mb.tensor("tr", (1, 3, 3, 4), "int8", scale=0.07, zero_point=3)
    mb.op("TRANSPOSE", [ap, perm], [tr])
    begin = mb.const("begin", np.array([0, 0, 1, 0], dtype=np.int32))
    end = mb.const("end", np.array([1, 3, 3, 4], dtype=np.int32))
    strides = mb.const("strides", np.array([1, 1, 1, 2], dtype=np.int32))
    sl = mb.tensor("sl", (1, 3, 2, 2), "int8", scale=0.07, zero_point=3)
    mb.op("STRIDED_SLICE", [tr, begin, end, strides], [sl], begin_mask=0, end_mask=0, shrink_axis_mask=0,
          ellipsis_mask=0, new_axis_mask=0)
    lg = mb.tensor("lg", (1, 3, 2, 2), "int8", scale=1.0 / 256, zero_point=-128)
    mb.op("LOGISTIC", [sl], [lg])
    rl = mb.tensor("rl", (1, 3, 2, 2), "int8", scale=0.07, zero_point=3)
    mb.op("RELU", [sl], [rl])
    sb = mb.tensor("sb", (1, 3, 2, 2), "int8", scale=0.1, zero_point=0)
    mb.op("SUB", [rl, sl], [sb], fused_activation_function="NONE")
    cat = mb.tensor("cat", (1, 3, 2, 4), "int8", scale=0.1, zero_point=0)
    mb.op("CONCATENATION", [sb, sb], [cat], axis=3, fused_activation_function="NONE")
    y = mb.tensor("y", (1, 3, 2, 4), "float32")
    mb.op("DEQUANTIZE", [cat], [y])
    mb.output(y)
    mb.output(lg)
    return mb.build()


@pytest.mark.parametrize("which", ["mixed", "mixed2"])
def test_kernels_bit_exact_on_emulated_uno(which, tmp_path, tflm):
    """Twenty-one kernels in two models, on 16-bit-int AVR, against TFLite Micro."""
    model = mixed_model() if which == "mixed" else mixed_model_2()
    project, _ = _project(tmp_path, model, "arduino:avr:uno", which)
    md = json.loads((project.path / "model" / "metadata.json").read_text())
    if which == "mixed":
        assert md["memory"]["ram_constants_bytes"] == 72  # ADD's and MUL's constant operands
    rng = np.random.default_rng(7)
    with project_session(project, 20.0, Quiet()) as session:
        for _ in range(3):
            if which == "mixed":
                x = rng.integers(-128, 128, size=(1, 6, 6, 2)).astype(np.int8)
            else:
                x = (rng.standard_normal((1, 4, 6, 3)) * 3).astype(np.float32)
            for got, want in zip(session.infer([x], md), tflm(model, [x])):
                assert got.tobytes() == want.reshape(got.shape).tobytes()


def test_standalone_sketch_builds_and_runs_without_utvm(tmp_path, tflm):
    model = make_demo_model()
    x = np.array([[42]], dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", tflm(model, [x])[0])
    mlf = utvm.compile(model, name="sine", target=_target("arduino:avr:uno")).export(tmp_path / "sine.tar")
    project = create_project(tmp_path / "p", mlf, "arduino", "arduino:avr:uno",
                             {"project_type": "standalone", "inputs": str(tmp_path / "x.npy"),
                              "expected_outputs": str(tmp_path / "y.npy")})
    make = subprocess.run(["make"], cwd=project.path, env=CLEAN_ENV, capture_output=True, text=True, timeout=300)
    assert make.returncode == 0, make.stdout + make.stderr
    assert (project.path / "build" / "sine.ino.hex").is_file()
    run = subprocess.run(["make", "emulate"], cwd=project.path, env=CLEAN_ENV, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "utvm: status ok" in run.stdout and re.search(r"utvm-simavr: exit 0 cycles \d+", run.stderr)
    with project.connect() as client:
        result = client.flash(project.path, {"emulate": True})
    assert result["status"] == "ok" and result["outputs"] == [tflm(model, [x])[0].reshape(-1).tolist()]
    assert result["timer_unit"] == "cycles" and abs(result["cycles"] - result["ticks"]) < 64
    assert result["exit_status"] == 0 and 0 < result["stack_peak"] < 512
    # the harness stops a run whose stack reaches the static data (here: a limit set too high)
    elf = project.path / "build" / "sine.ino.elf"
    argv = emulator.harness_argv({"mcu": "atmega328p", "clock_hz": 16000000, "marker": "0x3e"}, elf, ["--stdio"])
    over = subprocess.run(argv[:-1] + ["--stack-limit", "0x8f8", argv[-1]], capture_output=True, text=True, timeout=60)
    assert over.returncode == 4 and "stack overflow" in over.stderr


def test_emulator_dies_with_its_server(tmp_path):
    project, _ = _project(tmp_path, make_demo_model(), "arduino:avr:uno", "sine")
    client = connect(get_platform("arduino").server_argv)
    try:
        opened = client.open_transport(project.path, {"emulate": True})
        pid = opened["pid"]
        assert Path(f"/proc/{pid}").exists()
        os.kill(client.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().split()[2]
            except OSError:
                break
            if state == "Z":  # killed, waiting for init to reap it
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the simavr harness {pid} outlived its server")
    finally:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - the server was killed on purpose
            pass


# ---- the code generator's constant address space ---------------------------------------------------


AVR_TARGET = {"cpu": "atmega328p", "features": [], "const_address_space": "__flash"}


def test_other_targets_untouched():
    model = mixed_model()
    host = utvm.compile(model, name="mixed")
    arm = utvm.compile(model, name="mixed", target={"cpu": "cortex-m0plus", "features": []})
    assert host.files[host.source_path] == arm.files[arm.source_path]
    assert "UTVM_CONST_AS" not in host.files[host.source_path] and ".progmem" not in host.files[host.source_path]
    assert "const_address_space" not in host.metadata["memory"]
    assert host.metadata["memory"]["constants_section"] == ".rodata.utvm_weights"


def test_const_address_space_places_only_kernel_weights(tflm):
    model = mixed_model()
    avr = utvm.compile(model, name="mixed", target=AVR_TARGET)
    src = avr.files[avr.source_path]
    mem = avr.metadata["memory"]
    assert mem["const_address_space"] == "__flash" and mem["constants_section"] == ".progmem.utvm_weights"
    assert mem["ram_constants_bytes"] == 72 and mem["constants_bytes"] == utvm.compile(model).metadata["memory"][
        "constants_bytes"]
    flash = re.findall(r"static const UTVM_CONST_AS (\w+) (\w+)\[", src)
    plain = re.findall(r"static const (int8_t|int32_t|int16_t|uint8_t|float) (\w+)\[\d+\] "
                       r"UTVM_SECTION\(\"\.rodata\.utvm_weights\"\)", src)
    assert len(flash) == 12 and len(plain) == 2  # 3 kernels x (weights, bias, multiplier, shift); ADD's, MUL's operand
    assert "#error" in src and "UTVM_CONST_AS_NAMED" in src
    # on the host UTVM_CONST_AS is empty: the same model runs there, bit-exact
    x = np.random.default_rng(2).integers(-128, 128, size=(1, 6, 6, 2)).astype(np.int8)
    for got, want in zip(utvm.host.run(avr, [x]), tflm(model, [x])):
        assert np.array_equal(got, want.reshape(got.shape))
    with pytest.raises(UtvmError, match="'__memx'; utvm supports __flash"):
        utvm.compile(model, name="mixed", target={**AVR_TARGET, "const_address_space": "__memx"})


def test_strict_iso_c_on_avr_is_refused(tmp_path):
    avr = utvm.compile(make_demo_model(), name="sine", target=AVR_TARGET)
    src = tmp_path / "sine.c"
    src.write_text(avr.files[avr.source_path])
    inc = Path(utvm.__file__).resolve().parent / "runtime" / "include"
    base = ["avr-gcc", "-mmcu=atmega328p", "-fsyntax-only", f"-I{inc}", f"-I{tmp_path}", str(src)]
    (tmp_path / "sine.h").write_text(avr.files[avr.header_path])
    strict = subprocess.run(base + ["-std=c99"], capture_output=True, text=True)
    assert strict.returncode != 0 and "keeps its weights in __flash" in strict.stderr
    gnu = subprocess.run(base + ["-std=gnu99", "-Wall", "-Werror"], capture_output=True, text=True)
    assert gnu.returncode == 0, gnu.stderr
