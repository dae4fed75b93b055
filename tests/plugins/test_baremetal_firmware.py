"""baremetal_cmsis firmware side: placement, refusal, runners, QEMU ownership, standalone builds.

What runs where: placement rules and runner command lines are checked everywhere; building
needs arm-none-eabi-gcc, running needs qemu-system-arm (tests skip, saying so, without them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.project import create_project
from utvm.project_api import BuildFailed, DoesNotFit, FlashFailed, TransportClosed, connect, get_platform
from utvm.platforms.baremetal_cmsis import boards as boards_mod
from utvm.platforms.baremetal_cmsis import packs
from utvm.platforms.baremetal_cmsis.project import PROJECT_RECORD, plan_placement, statics_estimate
from utvm.platforms.baremetal_cmsis.runners import (
    OpenOcdRunner,
    PyOcdRunner,
    QemuRunner,
    qemu_standalone_argv,
    runner_for,
)
from utvm.project_api.standalone import parse_standalone_output
from utvm.platforms.baremetal_cmsis.targets import Board, Device, MemoryRegion

GCC = shutil.which("arm-none-eabi-gcc")
QEMU = shutil.which("qemu-system-arm")
needs_gcc = pytest.mark.skipif(
    GCC is None, reason="arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
)
needs_qemu = pytest.mark.skipif(
    GCC is None or QEMU is None,
    reason="arm-none-eabi-gcc and qemu-system-arm are needed (apt-get install gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi qemu-system-arm)",
)

PLATFORM = "baremetal_cmsis"
CLEAN_ENV = {"PATH": "/usr/bin:/bin"}  # no Python, no utvm: what a user's plain shell has
KiB = 1024


def server_argv():
    return get_platform(PLATFORM).server_argv


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No user packs or boards of the machine running the tests leak in."""
    monkeypatch.delenv(packs.ENV_PACKS, raising=False)
    monkeypatch.delenv(boards_mod.ENV_BOARDS, raising=False)
    monkeypatch.setenv(packs.ENV_PACK_ROOT, str(tmp_path / "empty-pack-root"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo model, its MLF, one input and TFLM's output for it (None without tflite-micro)."""
    from utvm import reference

    tmp = tmp_path_factory.mktemp("demo")
    model = tmp / "sine.tflite"
    model.write_bytes(make_demo_model())
    mlf = utvm.compile(model, name="sine").export(tmp / "sine.tar")
    x = np.array([[-77]], dtype=np.int8)
    want = reference.tflm_run(model.read_bytes(), [x])[0] if reference.tflm_available() else None
    return {"model": model, "mlf": mlf, "x": x, "want": want, "dir": tmp}


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _tool(name: str) -> str:
    return shutil.which(f"arm-none-eabi-{name}") or pytest.skip(f"arm-none-eabi-{name} is not installed")


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    """Section name -> (address, size) from objdump -h."""
    out = subprocess.run([_tool("objdump"), "-h", str(elf)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[0].isdigit():
            found[parts[1]] = (int(parts[3], 16), int(parts[2], 16))
    return found


def _symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run([_tool("nm"), str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    return syms


def _symbols_in_section(elf: Path, section: str) -> dict[str, int]:
    out = subprocess.run([_tool("objdump"), "-t", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and section in parts and re.fullmatch(r"[0-9a-f]{8}", parts[0]):
            syms[parts[-1]] = int(parts[0], 16)
    return syms


# ---- placement rules (no toolchain needed) ----------------------------------------------------


def _device(*regions: MemoryRegion, name="TEST_DEV") -> Device:
    return Device(name, "Test:0", "Cortex-M55", "DP_FPU", True, "FP_MVE", True, 32_000_000, tuple(regions),
                  Path("/nowhere/test.pdsc"))


def _board(extra=None) -> Board:
    return Board("test-board", "a test board", "TEST_DEV",
                 {"driver": "cmsdk_uart", "base": 0x40004000, "baud": 115200, "clock_hz": 25_000_000},
                 emulator={"kind": "qemu", "machine": "mps2-an386"}, extra=dict(extra or {}))


def _metadata(weights: int, arena: int, io: int = 16) -> dict:
    return {"model": "m", "inputs": [{"bytes": io}], "outputs": [{"bytes": io}],
            "memory": {"constants_bytes": weights, "arena_bytes": arena, "arena_alignment": 16,
                       "arena_section": ".bss.utvm_arena", "constants_section": ".rodata.utvm_weights"}}


ITCM = MemoryRegion("ITCM", 0x1000_0000, 512 * KiB, "rx", startup=True, default=True)
QSPI = MemoryRegion("QSPI", 0x3800_0000, 8192 * KiB, "rx")
DTCM = MemoryRegion("DTCM", 0x3000_0000, 64 * KiB, "rw")
SRAM = MemoryRegion("SRAM", 0x3100_0000, 4096 * KiB, "rw", default=True)


def test_placement_prefers_dtcm_for_the_arena_then_falls_back():
    dev = _device(ITCM, QSPI, DTCM, SRAM)
    p = plan_placement(dev, _board(), _metadata(100 * KiB, 40 * KiB))
    assert (p.startup.name, p.weights.name, p.data.name, p.arena.name) == ("ITCM", "ITCM", "SRAM", "DTCM")
    assert "TCM" in p.reason["arena"]
    # an arena larger than the DTCM goes to the default RAM
    p = plan_placement(dev, _board(), _metadata(100 * KiB, 200 * KiB))
    assert p.arena.name == "SRAM"
    # weights larger than the startup region go to the next read-only region
    p = plan_placement(dev, _board(), _metadata(600 * KiB, 1 * KiB))
    assert p.weights.name == "QSPI"


def test_placement_hints_from_the_board_file_or_the_option():
    dev = _device(ITCM, QSPI, DTCM, SRAM)
    assert plan_placement(dev, _board({"arena_region": "SRAM"}), _metadata(1, 1)).arena.name == "SRAM"
    assert plan_placement(dev, _board(), _metadata(1, 1), arena_region="SRAM").arena.name == "SRAM"
    with pytest.raises(Exception, match="not a writable region.*DTCM, SRAM"):
        plan_placement(dev, _board(), _metadata(1, 1), arena_region="QSPI")


def test_placement_refuses_with_the_numbers():
    dev = _device(MemoryRegion("FLASH", 0, 1 * KiB, "rx", startup=True),
                  MemoryRegion("RAM", 0x2000_0000, 16 * KiB, "rw", default=True))
    with pytest.raises(DoesNotFit) as err:
        plan_placement(dev, _board(), _metadata(2000, 10))
    e = err.value
    assert (e.region, e.needed, e.available, e.what) == ("FLASH", 2000, 1024, "weights")
    assert "2000 B" in str(e) and "1024 B" in str(e)
    with pytest.raises(DoesNotFit) as err:
        plan_placement(dev, _board(), _metadata(100, 13 * KiB), stack_size=2048)
    e = err.value
    statics = statics_estimate(_metadata(100, 13 * KiB), "host_driven")
    assert e.what == "arena" and e.region == "RAM" and e.available == 16 * KiB
    assert e.needed == 13 * KiB + statics + 2048 > 16 * KiB
    assert "13312 B" in str(e) and "2048 B" in str(e) and f"{statics} B" in str(e) and "16384 B" in str(e)
    with pytest.raises(DoesNotFit, match="of stack") as err:
        plan_placement(dev, _board(), _metadata(100, 10), stack_size=32 * KiB)
    assert err.value.what == "ram"


# ---- runners: exact command lines ---------------------------------------------------------------


def test_pyocd_argv_is_built_from_the_probe_data(tmp_path):
    image = tmp_path / "firmware.hex"
    r = PyOcdRunner({"kind": "pyocd", "target": "stm32f429xi"})
    assert r.flash_argv(image) == ["pyocd", "flash", "-t", "stm32f429xi", str(image)]
    r = PyOcdRunner({"kind": "pyocd", "target": "nrf52840", "frequency_hz": 4000000, "extra_args": ["-v"]},
                    {"serial_number": "0240000034544e45"})
    assert r.flash_argv(image) == ["pyocd", "flash", "-t", "nrf52840", "-u", "0240000034544e45", "-f", "4000000",
                                   "-v", str(image)]
    assert r.caps.image == "hex" and r.caps.dev_id and not r.caps.emulated


def test_openocd_argv_is_built_from_the_probe_data(tmp_path):
    image = tmp_path / "firmware.elf"
    probe = {"kind": "openocd", "interface": "interface/stlink.cfg", "target": "target/stm32f4x.cfg"}
    assert OpenOcdRunner(probe).flash_argv(image) == [
        "openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg",
        "-c", f"program {image} verify reset exit"]
    r = OpenOcdRunner({**probe, "frequency_hz": 1800000}, {"serial_number": "066DFF54"})
    assert r.flash_argv(image) == [
        "openocd", "-f", "interface/stlink.cfg", "-c", "adapter serial 066DFF54", "-c", "adapter speed 1800",
        "-f", "target/stm32f4x.cfg", "-c", f"program {image} verify reset exit"]


def test_qemu_argv_and_runner_choice(tmp_path):
    emulator = {"kind": "qemu", "machine": "mps2-an386", "binary": "qemu-system-arm", "extra_args": []}
    assert QemuRunner(emulator).argv(Path("/p/firmware.elf"), 4321) == [
        "qemu-system-arm", "-machine", "mps2-an386", "-nographic", "-icount", "shift=0",
        "-semihosting-config", "enable=on,target=native", "-kernel", "/p/firmware.elf",
        "-serial", "tcp:127.0.0.1:4321,server=on,wait=on,nodelay=on", "-monitor", "none"]
    assert qemu_standalone_argv(emulator, "x.elf")[-4:] == ["-serial", "stdio", "-monitor", "none"]
    both = {"board": "b", "emulator": emulator, "probe": {"kind": "pyocd", "target": "t"}}
    assert isinstance(runner_for(both), QemuRunner)
    assert isinstance(runner_for(both, {"runner": "pyocd"}), PyOcdRunner)
    with pytest.raises(FlashFailed, match="no openocd entry"):
        runner_for(both, {"runner": "openocd"})


def test_missing_flash_tool_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither pyocd nor openocd here
    image = tmp_path / "firmware.hex"
    image.write_text(":00000001FF\n")
    with pytest.raises(FlashFailed, match=r"pyocd is not installed.*pip install pyocd") as err:
        PyOcdRunner({"kind": "pyocd", "target": "stm32f429xi"}).flash(image)
    assert err.value.tool == "pyocd"
    with pytest.raises(FlashFailed, match=r"openocd is not installed"):
        OpenOcdRunner({"kind": "openocd", "interface": "i.cfg", "target": "t.cfg"}).flash(image)


def test_flash_through_the_server_names_the_missing_probe_tool(demo, tmp_path, monkeypatch):
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "probe-m4.json").write_text(json.dumps({
        "name": "probe-m4", "device": "MPS2_AN386",
        "console": {"driver": "cmsdk_uart", "base": "0x40004000", "clock_hz": 25000000},
        "probe": {"kind": "pyocd", "target": "mps2_an386"}}))
    project = create_project(tmp_path / "p", demo["mlf"], PLATFORM, "probe-m4", {"board_dirs": str(boards)})
    (project.path / "build").mkdir()
    (project.path / "build" / "firmware.hex").write_text(":00000001FF\n")
    monkeypatch.setenv("PATH", "/nonexistent" + os.pathsep + str(Path(sys.executable).parent))
    with connect(server_argv()) as client:
        with pytest.raises(FlashFailed, match="pyocd is not installed"):
            client.flash(project.path, {})
    record = json.loads((project.path / PROJECT_RECORD).read_text())
    assert record["semihosting"] is False  # a real board: exit must not trap into a missing debugger


def test_standalone_output_parser():
    text = "utvm: output 0: -1 2 0x3f800000\nutvm: ticks 113\nutvm: status ok\nutvm: clock_hz 25000000\n" \
           "utvm: stack_used 228 of 8192\n"
    facts = parse_standalone_output(text)
    assert facts == {"outputs": {0: [-1, 2, 0x3F800000]}, "ticks": 113, "status": "ok", "clock_hz": 25000000,
                     "stack_used": 228, "stack_size": 8192}


# ---- refusal and the linker's check through the server --------------------------------------------


TINY_PACK = """<?xml version="1.0" encoding="UTF-8"?>
<package schemaVersion="1.7.36">
  <vendor>Test</vendor><name>Tiny</name><description>tiny test devices</description><url></url>
  <releases><release version="1.0.0">test</release></releases>
  <devices><family Dfamily="Tiny" Dvendor="Test:0">
    <processor Dcore="Cortex-M4" Dfpu="SP_FPU" Ddsp="DSP" Dclock="25000000"/>
    <device Dname="TINY_ROM">
      <memory name="FLASH" access="rx" start="0x00000000" size="0x100" startup="1"/>
      <memory name="RAM" access="rw" start="0x20000000" size="0x10000" default="1"/>
    </device>
    <device Dname="TINY_RAM">
      <memory name="FLASH" access="rx" start="0x00000000" size="0x10000" startup="1"/>
      <memory name="RAM" access="rw" start="0x20000000" size="0x800" default="1"/>
    </device>
    <device Dname="TINY_CODE">
      <memory name="FLASH" access="rx" start="0x00000000" size="0x400" startup="1"/>
      <memory name="RAM" access="rw" start="0x20000000" size="0x10000" default="1"/>
    </device>
  </family></devices>
</package>
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Boards on three tiny devices: too little ROM, too little RAM, room for the weights but not the code."""
    pack_dir = tmp_path / "packs"
    pack_dir.mkdir()
    (pack_dir / "Test.Tiny.pdsc").write_text(TINY_PACK)
    monkeypatch.setenv(packs.ENV_PACKS, str(pack_dir))
    boards = tmp_path / "tiny-boards"
    boards.mkdir()
    for dev in ("TINY_ROM", "TINY_RAM", "TINY_CODE"):
        name = dev.lower().replace("_", "-")
        (boards / f"{name}.json").write_text(json.dumps({
            "name": name, "device": dev, "semihosting": True,
            "console": {"driver": "cmsdk_uart", "base": "0x40004000", "clock_hz": 25000000},
            "emulator": {"kind": "qemu", "machine": "mps2-an386"}}))
    return {"board_dirs": str(boards)}


def test_model_that_does_not_fit_is_refused_before_building(demo, tmp_path, tiny):
    with connect(server_argv()) as client:
        with pytest.raises(DoesNotFit) as err:
            client.generate_project(demo["mlf"], tmp_path / "rom", "tiny-rom", tiny)
        e = err.value
        assert (e.region, e.available, e.what) == ("FLASH", 256, "weights") and e.needed > 256
        assert f"{e.needed} B" in str(e) and "256 B" in str(e)
        with pytest.raises(DoesNotFit) as err:
            client.generate_project(demo["mlf"], tmp_path / "ram", "tiny-ram", {**tiny, "stack_size": 1024})
        e = err.value
        assert e.region == "RAM" and e.available == 2048 and e.needed > 2048 and "1024 B" in str(e)
    assert not (tmp_path / "rom").exists() or not any((tmp_path / "rom").iterdir())


@needs_gcc
def test_the_linker_catches_what_the_estimate_does_not(demo, tmp_path, tiny):
    with connect(server_argv()) as client:
        client.generate_project(demo["mlf"], tmp_path / "code", "tiny-code", tiny)
        with pytest.raises(BuildFailed) as err:
            client.build(tmp_path / "code")
    assert "overflowed" in err.value.log_tail and "FLASH" in err.value.log_tail


# ---- placement in built images ------------------------------------------------------------------


@needs_gcc
@pytest.mark.parametrize("board, weights_region, arena_region", [
    ("mps3-an547", "ITCM", "DTCM"),
    ("mps2-an386", "SSRAM1", "SSRAM2_3"),
    ("mps2-an505", "SSRAM1", "SSRAM2_3"),
])
def test_weights_and_arena_land_in_the_intended_regions(demo, tmp_path, board, weights_region, arena_region):
    with connect(server_argv()) as client:
        info = client.target_info(board)
        project = tmp_path / "p"
        gen = client.generate_project(demo["mlf"], project, board, {})
        built = client.build(project)
    regions = {r["name"]: r for r in info["memory_regions"]}
    assert gen["placement"]["weights"] == weights_region and gen["placement"]["arena"] == arena_region

    def inside(addr, name):
        r = regions[name]
        return r["origin"] <= addr < r["origin"] + r["length"]

    elf = Path(built["artifacts"][0])
    sections = _sections(elf)
    md = json.loads((project / "model" / "metadata.json").read_text())["memory"]
    w_addr, w_size = sections[".utvm_weights"]
    a_addr, a_size = sections[".utvm_arena"]
    assert w_size >= md["constants_bytes"] > 0 and a_size >= md["arena_bytes"] > 0
    assert inside(w_addr, weights_region) and inside(w_addr + w_size - 1, weights_region)
    assert inside(a_addr, arena_region) and inside(a_addr + a_size - 1, arena_region)
    # the model's own symbols: the arena array and every weight array
    assert inside(_symbols(elf)["sine_arena"], arena_region)
    weights = _symbols_in_section(elf, ".utvm_weights")
    assert len(weights) >= 4 and all(inside(a, weights_region) for a in weights.values())
    assert built["sizes"]["weights"] == w_size and built["sizes"]["arena"] == a_size
    script = (project / "linker.ld").read_text()
    assert f"-> {arena_region}" in script and ".rodata.utvm_weights" in script


# ---- standalone projects: plain make, QEMU status -------------------------------------------------


@needs_qemu
def test_standalone_builds_with_plain_make_and_exits_with_its_status(demo, tmp_path, tflm):
    np.save(tmp_path / "x.npy", demo["x"])
    np.save(tmp_path / "good.npy", demo["want"])
    np.save(tmp_path / "bad.npy", (demo["want"].astype(np.int16) + 1).clip(-128, 127).astype(np.int8))
    for expected, status in (("good.npy", 0), ("bad.npy", 1)):
        project = tmp_path / f"standalone-{status}"
        create_project(project, demo["mlf"], PLATFORM, "mps2-an386", {
            "project_type": "standalone", "inputs": tmp_path / "x.npy", "expected_outputs": tmp_path / expected})
        subprocess.run(["make", "-s"], cwd=project, env=CLEAN_ENV, check=True, capture_output=True)
        assert (project / "build" / "firmware.elf").is_file() and (project / "build" / "firmware.hex").is_file()
        proc = subprocess.run(["make", "-s", "run"], cwd=project, env=CLEAN_ENV, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode != 0 if status else proc.returncode == 0, proc.stdout + proc.stderr
        assert f"utvm: output 0: {int(demo['want'].reshape(-1)[0])}" in proc.stdout
        assert ("utvm: status ok" if status == 0 else "utvm: status mismatch 1") in proc.stdout
        with connect(server_argv()) as client:
            run = client.flash(project)
        assert run["exit_status"] == status and run["status"] == ("ok" if status == 0 else "mismatch 1")
        assert run["instructions"] == run["ticks"] * 40 and run["ticks"] > 0
        assert 0 < run["stack_used"] < run["stack_size"] == 8192


@needs_gcc
def test_standalone_builds_with_cmake(demo, tmp_path):
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed")
    project = tmp_path / "p"
    create_project(project, demo["mlf"], PLATFORM, "mps3-an547", {"project_type": "standalone"})
    env = {**CLEAN_ENV, "PATH": f"{Path(cmake).parent}{os.pathsep}/usr/bin:/bin"}
    subprocess.run([cmake, "-S", ".", "-B", "build"], cwd=project, env=env, check=True, capture_output=True)
    subprocess.run([cmake, "--build", "build"], cwd=project, env=env, check=True, capture_output=True)
    elf = project / "build" / "firmware.elf"
    assert elf.is_file() and (project / "build" / "firmware.hex").is_file()
    assert ".utvm_arena" in _sections(elf)


def _max_pool_model() -> bytes:
    """MAX_POOL_2D 2x2 on 1x64x64x4 int8: 16 KiB in, 4 KiB out, no weights; output = the max of each block."""
    from utvm.frontend.model_builder import ModelBuilder

    mb = ModelBuilder("pool")
    x = mb.input("x", (1, 64, 64, 4), "int8", scale=0.05, zero_point=-3)
    y = mb.tensor("y", (1, 32, 32, 4), "int8", scale=0.05, zero_point=-3)
    mb.op("MAX_POOL_2D", [x], [y], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
          fused_activation_function="NONE")
    mb.output(y)
    return mb.build()


@needs_qemu
def test_standalone_test_data_is_sized_apart_from_code(tmp_path):
    """Built-in inputs and expected outputs: section .utvm_standalone, reported as test_data, not code.

    The model's input and output buffers are .bss: the application copies the inputs into them.
    """
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 64, 64, 4)).astype(np.int8)
    y = x.reshape(1, 32, 2, 32, 2, 4).max(axis=(2, 4))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    mlf = utvm.compile(_max_pool_model(), name="pool").export(tmp_path / "pool.tar")
    project = tmp_path / "p"
    create_project(project, mlf, PLATFORM, "mps2-an386", {
        "project_type": "standalone", "inputs": tmp_path / "x.npy", "expected_outputs": tmp_path / "y.npy"})
    with connect(server_argv()) as client:
        built = client.build(project)
        run = client.flash(project)
    assert run["status"] == "ok", run["output"]
    sizes, elf = built["sizes"], Path(built["artifacts"][0])
    sections = {name: size for name, (_addr, size) in _sections(elf).items()}
    assert sizes["test_data"] == sections[".utvm_standalone"] >= x.nbytes + y.nbytes
    assert sizes["code"] == sum(sections.get(s, 0) for s in (".vectors", ".text", ".ARM.extab", ".ARM.exidx"))
    assert sizes["code"] < x.nbytes  # a few KiB of code; the 20 KiB of test data are not in it
    assert sizes["flash"] == sizes["code"] + sizes["weights"] + sizes["test_data"] + sizes["data"]
    assert {"input_0", "expected_0"} <= set(_symbols_in_section(elf, ".utvm_standalone"))
    # the model's I/O buffers are RAM: .bss, or the arena for a model compiled with its I/O there
    md = json.loads((project / "model" / "metadata.json").read_text())
    bss = set(_symbols_in_section(elf, ".bss"))
    for name, entry in (("utvm_glue_in0", md["inputs"][0]), ("utvm_glue_out0", md["outputs"][0])):
        assert name in bss if entry.get("arena_offset") is None else sizes["arena"] >= entry["bytes"]
    assert ".rodata.utvm_standalone" in (project / "linker.ld").read_text()


@needs_gcc
def test_host_driven_image_has_no_test_data(demo, tmp_path):
    project = tmp_path / "p"
    with connect(server_argv()) as client:
        client.generate_project(demo["mlf"], project, "mps2-an386", {})
        built = client.build(project)
    assert built["sizes"]["test_data"] == 0 and built["sizes"]["code"] > 0


@needs_qemu
def test_timer_counts_instructions_deterministically(demo, tmp_path):
    """SysTick under -icount shift=0: the same image gives the same count; ticks x 1e9/clock = instructions."""
    project = tmp_path / "p"
    create_project(project, demo["mlf"], PLATFORM, "mps3-an547", {"project_type": "standalone"})
    with connect(server_argv()) as client:
        client.build(project)
        runs = [client.flash(project) for _ in range(2)]
    assert runs[0]["ticks"] == runs[1]["ticks"] > 0
    assert runs[0]["clock_hz"] == 32_000_000
    assert runs[0]["instructions"] == round(runs[0]["ticks"] * 31.25)


CALIBRATION_MAIN = r"""
#include "utvm_firmware.h"
int main(void) {
  uint32_t n = 2000000u;
  uint64_t t0, t1;
  utvm_console_init();
  utvm_timer_init();
  t0 = utvm_cycles();
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc"); /* 2 instructions a turn */
  t1 = utvm_cycles();
  utvm_print("utvm: ticks ");
  utvm_print_u32((uint32_t)(t1 - t0));
  utvm_print("\nutvm: clock_hz ");
  utvm_print_u32(UTVM_CPU_CLOCK_HZ);
  utvm_print("\n");
  return 0;
}
"""


@needs_qemu
@pytest.mark.parametrize("board, per_tick", [("mps2-an386", 40), ("mps2-an505", 50), ("mps3-an547", 31.25)])
def test_systick_ticks_are_instructions_over_the_clock(demo, tmp_path, board, per_tick):
    """A loop of 4,000,000 instructions: ticks x 1e9 / clock must give it back (QEMU -icount shift=0)."""
    project = tmp_path / "p"
    create_project(project, demo["mlf"], PLATFORM, board, {"project_type": "standalone"})
    (project / "src" / "main_standalone.c").write_text(CALIBRATION_MAIN)
    with connect(server_argv()) as client:
        client.build(project)
        run = client.flash(project)
    assert run["exit_status"] == 0
    assert 1e9 / run["clock_hz"] == per_tick
    assert abs(run["instructions"] - 4_000_000) <= 2 * per_tick + 16, run


# ---- QEMU never outlives its session -------------------------------------------------------------


@pytest.fixture(scope="module")
def host_driven_demo(demo, tmp_path_factory):
    if GCC is None or QEMU is None:
        pytest.skip("arm-none-eabi-gcc and qemu-system-arm are needed")
    project = tmp_path_factory.mktemp("hd") / "p"
    create_project(project, demo["mlf"], PLATFORM, "mps2-an386", {})
    with connect(server_argv()) as client:
        client.build(project)
    return project


PING = bytes.fromhex("7e0d00 07 00 00000000 0000 68656c6c6f")  # a frame, not a valid session: any answer will do


@needs_qemu
def test_qemu_is_stopped_by_close_transport_and_by_server_exit(host_driven_demo):
    project = host_driven_demo
    with connect(server_argv()) as client:
        flashed = client.flash(project)
        qemu = flashed["pid"]
        assert _alive(qemu)
        opened = client.open_transport(project)
        assert opened["pid"] == qemu  # the emulator flash started serves the first session
        client.close_transport()
        assert _wait_gone(qemu), "QEMU survived close_transport"
        # the next session gets a fresh emulator
        second = client.open_transport(project)["pid"]
        assert second != qemu and _alive(second)
        third = client.flash(project)["pid"]  # flashing again replaces it
        assert _wait_gone(second) and _alive(third)
    assert _wait_gone(third), "QEMU survived the server's normal exit"


@needs_qemu
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_qemu_dies_with_a_killed_server(host_driven_demo, how):
    project = host_driven_demo
    client = connect(server_argv())
    try:
        client.flash(project)
        qemu = client.open_transport(project)["pid"]
        client.write_transport(PING, 2.0)
        assert _alive(qemu)
        os.kill(client.pid, how)  # the server alone, not its process group
        assert _wait_gone(qemu, 5.0), f"QEMU (pid {qemu}) outlived its server killed with {how.name}"
    finally:
        client.close()


@needs_qemu
def test_firmware_crash_reports_the_fault_and_ends_the_session(demo, tmp_path):
    project = tmp_path / "p"
    create_project(project, demo["mlf"], PLATFORM, "mps2-an386", {})
    main = project / "src" / "main_host_driven.c"
    main.write_text(main.read_text().replace(
        "  utvm_rpc_server_run();", '  __asm__ volatile("udf #7");\n  utvm_rpc_server_run();'))
    with connect(server_argv()) as client:
        client.build(project)
        qemu = client.open_transport(project)["pid"]
        text = b""
        with pytest.raises(TransportClosed):
            for _ in range(100):
                text += client.read_transport(4096, 2.0)
        assert b"utvm: fault UsageFault" in text and b"cfsr=0x00010000" in text  # UNDEFINSTR
        assert _wait_gone(qemu)
        client.close_transport()
    # standalone: the same fault is the run's result, with QEMU's exit status 32 + 6
    project2 = tmp_path / "s"
    create_project(project2, demo["mlf"], PLATFORM, "mps2-an386", {"project_type": "standalone"})
    main = project2 / "src" / "main_standalone.c"
    main.write_text(main.read_text().replace("  utvm_timer_init();", '  utvm_timer_init();\n  __asm__ volatile("udf #7");'))
    with connect(server_argv()) as client:
        client.build(project2)
        run = client.flash(project2)
    assert run["exit_status"] == 38 and run["fault"].startswith("UsageFault") and "status" not in run
    assert "fault UsageFault" in run["message"]


# ---- real boards: the serial port ---------------------------------------------------------------


def test_serial_port_found_by_probe_serial_number(monkeypatch):
    from serial.tools import list_ports

    from utvm.project_api.serial_console import find_serial_port
    from utvm.project_api import TransportError

    class Port:
        def __init__(self, device, serial_number, vid, pid):
            self.device, self.serial_number, self.vid, self.pid = device, serial_number, vid, pid

    ports = [Port("/dev/ttyACM0", "0672FF485550755187", 0x0483, 0x374B),
             Port("/dev/ttyACM1", "000440112138", 0x1366, 0x0105)]
    monkeypatch.setattr(list_ports, "comports", lambda: ports)
    assert find_serial_port("000440112138") == "/dev/ttyACM1"
    assert find_serial_port("0672ff485550755187") == "/dev/ttyACM0"  # case does not matter
    assert find_serial_port(None, 0x0483, 0x374B) == "/dev/ttyACM0"
    with pytest.raises(TransportError, match=r"no serial port with serial number 42.*ttyACM0.*port="):
        find_serial_port("42")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_open_transport_on_a_serial_port_reads_in_bulk(demo, tmp_path):
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "probe-m4.json").write_text(json.dumps({
        "name": "probe-m4", "device": "MPS2_AN386",
        "console": {"driver": "cmsdk_uart", "base": "0x40004000", "clock_hz": 25000000},
        "probe": {"kind": "openocd", "interface": "interface/cmsis-dap.cfg", "target": "target/x.cfg"}}))
    project = create_project(tmp_path / "p", demo["mlf"], PLATFORM, "probe-m4", {"board_dirs": str(boards)})
    master, slave = os.openpty()
    import tty

    tty.setraw(master)
    tty.setraw(slave)
    try:
        with connect(server_argv()) as client:
            opened = client.open_transport(project.path, {"port": os.ttyname(slave)})
            assert opened == {"kind": "serial", "port": os.ttyname(slave)}
            assert client.read_transport(100, 0.2) == b""  # nothing yet: waits, then returns empty
            os.write(master, bytes(range(200)))
            time.sleep(0.1)
            got = client.read_transport(4096, 2.0)
            assert got == bytes(range(200))  # everything that arrived, in one call
            client.write_transport(b"\x7ehello", 2.0)
            time.sleep(0.1)
            assert os.read(master, 100) == b"\x7ehello"
            client.close_transport()
    finally:
        os.close(master)
        os.close(slave)
