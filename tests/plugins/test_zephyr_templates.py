"""The C of the zephyr plugin's templates: it compiles for Cortex-M, and it works.

Zephyr's headers are not here: tests/fixtures/zephyr/include/zephyr/ declares the parts of
Zephyr's documented API the templates include (kernel.h, device.h, devicetree.h,
drivers/uart.h, sys/ring_buffer.h, sys/printk.h). Against those and the project's runtime:

- both templates (and a whole generated project's C) compile with arm-none-eabi-gcc
  -std=c99 -Wall -Wextra -Werror for several Cortex-M cores;
- with tests/fixtures/zephyr/hostsim/zephyr_host.c (a POSIX stand-in that simulates the UART
  interrupts, ring buffers and semaphores), the host-driven template serves a real RPC
  session on this machine, and the standalone template prints the outputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.frontend.model_builder import ModelBuilder
from utvm.project_files import install_model
from utvm.session import Session
from utvm.transport import SubprocessTransport

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "zephyr"
ZEPHYR_INCLUDE = FIXTURES / "include"
HOSTSIM = FIXTURES / "hostsim" / "zephyr_host.c"
TEMPLATES = ROOT / "plugins" / "zephyr" / "templates"
RUNTIME_INCLUDE = ROOT / "core" / "runtime" / "include"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
ARM_GCC = "arm-none-eabi-gcc"


def arm_gcc() -> str:
    path = shutil.which(ARM_GCC)
    if path is None:
        pytest.skip(f"{ARM_GCC} is not on PATH (apt-get install gcc-arm-none-eabi)")
    return path


def host_cc() -> str:
    path = shutil.which(os.environ.get("CC", "cc"))
    if path is None:
        pytest.skip("no host C compiler (cc) on PATH")
    return path


CPUS = {  # -mcpu and float ABI flags of a few Zephyr targets' cores
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb"],
    "cortex-m3": ["-mcpu=cortex-m3", "-mthumb"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
}


@pytest.mark.parametrize("template", ["main_host_driven.c", "main_standalone.c"])
@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_templates_compile_for_cortex_m(template, cpu, tmp_path):
    gcc = arm_gcc()
    proc = subprocess.run(
        [gcc, *STRICT, *CPUS[cpu], "-O2", f"-I{RUNTIME_INCLUDE}", f"-I{ZEPHYR_INCLUDE}", "-c",
         str(TEMPLATES / template), "-o", str(tmp_path / "main.o")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    symbols = subprocess.run([shutil.which("arm-none-eabi-nm") or "nm", str(tmp_path / "main.o")],
                             capture_output=True, text=True).stdout
    for name in ("utvm_platform_write", "utvm_platform_read", "utvm_platform_timer_start",
                 "utvm_platform_timer_stop", "utvm_platform_abort", "main"):
        assert f" T {name}" in symbols


def test_the_uart_node_comes_from_the_chosen_console_or_the_project(tmp_path):
    gcc = arm_gcc()
    header = tmp_path / "zephyr" / "devicetree.h"
    header.parent.mkdir()
    header.write_text("#define DT_CHOSEN(prop) 0\n#define DT_HAS_CHOSEN(prop) 0\n")
    base = [gcc, *STRICT, *CPUS["cortex-m3"], f"-I{tmp_path}", f"-I{RUNTIME_INCLUDE}", f"-I{ZEPHYR_INCLUDE}", "-c",
            str(TEMPLATES / "main_host_driven.c"), "-o", str(tmp_path / "m.o")]
    proc = subprocess.run(base, capture_output=True, text=True)
    assert proc.returncode != 0 and "no chosen zephyr,console UART: define UTVM_UART_NODE" in proc.stderr
    assert subprocess.run(base + ["-DUTVM_UART_NODE=0"], capture_output=True, text=True).returncode == 0


def _project(tmp_path: Path, tflite: bytes, kind: str, **kw) -> tuple[Path, list[str], list[str], object]:
    compiled = utvm.compile(tflite, name="m")
    mlf = compiled.export(tmp_path / "m.tar")
    project = tmp_path / kind
    model = install_model(mlf, project, kind, **kw)
    (project / "src").mkdir()
    main = "main_host_driven.c" if kind == "host_driven" else "main_standalone.c"
    shutil.copy(TEMPLATES / main, project / "src" / "main.c")
    return project, ["src/main.c", *model.sources], [str(project / d) for d in model.include_dirs], compiled


def test_a_generated_projects_c_compiles_for_cortex_m(tmp_path):
    gcc = arm_gcc()
    project, sources, includes, _ = _project(tmp_path, make_demo_model(), "host_driven")
    for src in sources:
        proc = subprocess.run(
            [gcc, *STRICT, *CPUS["cortex-m7"], "-O2", "-ffunction-sections", "-fdata-sections",
             *[f"-I{d}" for d in includes], f"-I{ZEPHYR_INCLUDE}", "-DUTVM_RPC_MAX_PAYLOAD=512", "-c",
             str(project / src), "-o", str(tmp_path / (Path(src).stem + ".o"))],
            capture_output=True, text=True,
        )
        assert proc.returncode == 0, f"{src}:\n{proc.stderr}"
    sections = subprocess.run([shutil.which("arm-none-eabi-objdump") or "objdump", "-h", str(tmp_path / "m.o")],
                              capture_output=True, text=True).stdout
    assert ".bss.utvm_arena" in sections and ".rodata.utvm_weights" in sections  # what the .ld snippets place


def _relu_model(n: int) -> bytes:
    mb = ModelBuilder("wide_relu")
    x = mb.input("x", (1, n), "int8", scale=0.05, zero_point=-7)
    y = mb.tensor("y", (1, n), "int8", scale=0.05, zero_point=-7)
    mb.op("RELU", [x], [y])
    mb.output(y)
    return mb.build()


def _host_build(cc: str, project: Path, sources: list[str], includes: list[str], out: Path,
                defines: tuple[str, ...] = ()) -> None:
    proc = subprocess.run(
        [cc, *STRICT, "-O1", *[f"-I{d}" for d in includes], f"-I{ZEPHYR_INCLUDE}", "-DUTVM_RPC_MAX_PAYLOAD=512",
         *[f"-D{d}" for d in defines], "-o", str(out), *[str(project / s) for s in sources], str(HOSTSIM)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("defines", [
    # small rings, bytes arriving a 16-byte FIFO at a time: wrap-arounds, a full TX ring, partial FIFO fills
    ("UTVM_RX_RING_BYTES=256", "UTVM_TX_RING_BYTES=64", "UTVM_SIM_RX_FIFO=16"),
    # the generated project's ring sizes, a whole request arriving in one interrupt: the RX ring
    # (2048) holds the largest encoded frame (1033 bytes for a 512-byte payload)
    ("UTVM_RX_RING_BYTES=2048", "UTVM_TX_RING_BYTES=1024", "UTVM_SIM_RX_FIFO=8192"),
], ids=["small-rings", "burst"])
def test_host_driven_template_serves_a_session(tmp_path, defines):
    cc = host_cc()
    # 1500-byte input and output: several SET_INPUT / GET_OUTPUT frames through the rings
    tflite = _relu_model(1500)
    project, sources, includes, compiled = _project(tmp_path, tflite, "host_driven")
    exe = tmp_path / "device"
    _host_build(cc, project, sources, includes, exe, defines)
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, size=(1, 1500)).astype(np.int8)
    want = utvm.host.run(compiled, [x])[0]
    transport = SubprocessTransport([str(exe)])
    with Session(transport, timeout_s=10.0) as session:
        info = session.start()
        assert info.name == "m" and info.timer_unit == "ticks" and info.ticks_per_second == 1_000_000
        got = session.infer([x], compiled.metadata)[0]
        again = session.infer([x], compiled.metadata)[0]
        stats = session.device_stats()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(again, want)
    # every frame arrived whole through the simulated FIFO, ISR and rx ring: no loss, no retry
    assert session.link_stats.retransmissions == 0 and stats["frames_ok"] >= 10
    assert stats["bad_crc"] == stats["truncated"] == stats["junk_bytes"] == 0


def test_standalone_template_prints_the_outputs(tmp_path):
    cc = host_cc()
    tflite = make_demo_model()
    x = np.array([[-77]], dtype=np.int8)
    compiled = utvm.compile(tflite, name="m")
    want = utvm.host.run(compiled, [x])[0]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", want)
    project, sources, includes, _ = _project(tmp_path, tflite, "standalone", inputs_path=tmp_path / "x.npy",
                                             expected_path=tmp_path / "y.npy")
    exe = tmp_path / "standalone.exe"
    _host_build(cc, project, sources, includes, exe)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "utvm: model 'm', timer 1000000 ticks/s"
    assert f"utvm: output 0: {int(want.reshape(-1)[0])}" in lines
    assert lines[-2:] == ["utvm: status ok", "utvm: exit 0"]
