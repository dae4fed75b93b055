"""The Mbed plugin through the real Project API, against the fixture mbed-os trees.

mbed-tools, pyOCD and cmake are replaced on the server's PATH by recorders
(tests/fixtures/mbed/fake_tool.py) that log their argv, leave behind what the real tool
would, and fail like it when UTVM_FAKE_FAIL says so. A real build runs when MBED_OS_PATH names
a real mbed-os tree and its tools are installed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.cli import main
from utvm.demo import make_demo_model
from utvm.project_api import (
    BoardNotFound,
    BuildFailed,
    DoesNotFit,
    FlashFailed,
    InvalidOption,
    ProjectError,
    TransportError,
    UnsupportedOption,
    connect,
    parse_cli_options,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mbed"
MBED_OS = FIXTURES / "mbed-os"
MBED_CE = FIXTURES / "mbed-ce"
ARGV = [sys.executable, "-m", "utvm.platforms.mbed.server"]
OS_OPTS = {"mbed_os_path": str(MBED_OS)}
CE_OPTS = {"mbed_os_path": str(MBED_CE)}


class Fakes:
    """A bin folder of recorder tools, their call log and the listing `mbed-tools detect` prints."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        body = (FIXTURES / "fake_tool.py").read_text()
        for name in ("mbed-tools", "pyocd", "cmake"):
            tool = self.bin / name
            tool.write_text(f"#!{sys.executable}\n{body}")
            tool.chmod(0o755)
        self.log = root / "calls.jsonl"
        self.log.touch()
        self.detect_file = root / "detect.json"

    def env(self, path_first: bool = True, **extra: str) -> dict[str, str]:
        path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}" if path_first else str(self.root / "empty")
        return {**os.environ, "PATH": path, "UTVM_FAKE_LOG": str(self.log), "UTVM_FAKE_DETECT": str(self.detect_file),
                **extra}

    def calls(self) -> list[dict]:
        """The tool runs since the last call (argv without the tool's own path)."""
        lines = self.log.read_text().splitlines()
        self.log.write_text("")
        return [json.loads(line) for line in lines if line.strip()]

    def set_detect(self, rows: list[dict] | None) -> None:
        if rows is None:
            self.detect_file.unlink(missing_ok=True)
        else:
            self.detect_file.write_text(json.dumps(rows, indent=4))


def canned_detect(mount: Path | None = None, port: str | None = None) -> list[dict]:
    rows = json.loads((FIXTURES / "detect.json").read_text())
    if mount is not None:
        rows[0]["mount_points"] = [str(mount)]
    if port is not None:
        rows[0]["serial_port"] = port
    return rows


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return Fakes(tmp_path_factory.mktemp("mbed-fakes"))


@pytest.fixture(scope="module")
def client(fakes):
    with connect(ARGV, env=fakes.env()) as c:
        yield c


@pytest.fixture(autouse=True)
def clean_log(fakes):
    fakes.calls()
    fakes.set_detect(None)


@pytest.fixture(scope="module")
def demo_mlf(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mbed-mlf")
    model = tmp / "sine.tflite"
    model.write_bytes(make_demo_model())
    return utvm.compile(model, name="sine").export(tmp / "sine.tar")


def _project(client, demo_mlf, tmp_path, board="NUCLEO_F746ZG", opts=OS_OPTS, name="app", **extra):
    project = tmp_path / name
    result = client.generate_project(demo_mlf, project, board, {**opts, **extra})
    return project, result


# ---- discovery ----------------------------------------------------------------------------------


def test_cli_lists_fixture_targets_with_facts(fakes, monkeypatch, capsys):
    monkeypatch.setenv("MBED_OS_PATH", str(MBED_OS))
    monkeypatch.setenv("PATH", fakes.env()["PATH"])
    monkeypatch.setenv("UTVM_FAKE_LOG", str(fakes.log))
    monkeypatch.setenv("UTVM_FAKE_DETECT", str(fakes.detect_file))
    fakes.set_detect(canned_detect())
    assert main(["boards", "--platform", "mbed", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == ["DISCO_F746NG", "FRDM_K64F", "LPC2368", "NUCLEO_F746ZG", "NUCLEO_F767ZI", "NU_M2354"]
    nucleo = rows["NUCLEO_F746ZG"]
    assert nucleo["platform"] == "mbed" and nucleo["cpu"] == "cortex-m7" and nucleo["core"] == "Cortex-M7F"
    assert nucleo["features"] == ["dsp", "fpu"] and nucleo["rom_bytes"] == 1 << 20 and nucleo["ram_bytes"] == 320 << 10
    assert nucleo["connected"] == [{"serial_number": "0672FF485550755187121723", "port": "/dev/ttyACM0",
                                    "mount_points": ["/media/utvm/NODE_F746ZG"], "board_name": "NUCLEO-F746ZG"}]
    assert rows["FRDM_K64F"]["connected"][0]["port"] == "/dev/ttyACM1"  # matched by detect_code 0240
    assert "connected" not in rows["NUCLEO_F767ZI"]
    assert [c["argv"] for c in fakes.calls()] == [["detect", "--format", "json"]]
    assert main(["boards", "--platform", "mbed"]) == 0
    assert "Cortex-M7FD, ROM 2048 KiB, RAM 384 KiB, STM32F767ZITx" in capsys.readouterr().out


def test_boards_of_an_mbed_ce_tree_without_detect(client, fakes):
    rows = client.boards({**CE_OPTS, "detect": False})
    assert [r["name"] for r in rows] == ["ARM_MPS3_AN547", "NUCLEO_F746ZG"]
    assert rows[1]["vendor"] == "STMicroelectronics" and rows[1]["device_name"] == "STM32F746ZGTx"
    assert fakes.calls() == []


def test_target_info(client):
    info = client.target_info("NUCLEO_F767ZI", OS_OPTS)
    assert (info["cpu"], info["arch"], info["features"], info["fpu"]) == ("cortex-m7", "armv7e-m", ["dsp", "fpu"], "dp")
    assert [(r["name"], r["origin"], r["length"], r["access"], r["primary"]) for r in info["memory_regions"]] == [
        ("IROM1", 0x08000000, 2 << 20, "rx", True), ("IRAM1", 0x20020000, 384 << 10, "rw", True),
        ("IRAM2", 0x20000000, 128 << 10, "rw", False)]
    assert info["mbed_os"]["flavor"] == "mbed-os" and info["device_name"] == "STM32F767ZITx"
    m2354 = client.target_info("NU_M2354", OS_OPTS)
    assert m2354["cpu"] == "cortex-m23" and m2354["trustzone"] == "non-secure" and m2354["features"] == []
    assert "no memory description" in client.target_info("LPC2368", OS_OPTS)["note"]
    ce = client.target_info("ARM_MPS3_AN547", CE_OPTS)
    assert ce["features"] == ["dsp", "mve", "fpu"] and ce["memory_regions"][1]["name"] == "DTCM"
    assert client.target_info("NUCLEO_F746ZG", CE_OPTS)["memory_regions"][1]["length"] == 320 << 10


def test_unknown_private_and_missing(client, tmp_path):
    with pytest.raises(BoardNotFound, match="no target 'NUCLEO_X'") as info:
        client.target_info("NUCLEO_X", OS_OPTS)
    assert "NUCLEO_F746ZG" in info.value.available
    with pytest.raises(BoardNotFound, match="public"):
        client.target_info("MCU_STM32F7", OS_OPTS)
    with pytest.raises(ProjectError, match="neither targets/targets.json"):
        client.boards({"mbed_os_path": str(tmp_path)})


def test_no_tree_anywhere(fakes):
    env = {k: v for k, v in fakes.env().items() if k != "MBED_OS_PATH"}
    with connect(ARGV, env=env) as c:
        with pytest.raises(ProjectError, match="mbed_os_path=.*MBED_OS_PATH"):
            c.boards()
    with connect(ARGV, env={**fakes.env(), "MBED_OS_PATH": str(MBED_CE)}) as c:
        assert [b["name"] for b in c.boards({"detect": False})] == ["ARM_MPS3_AN547", "NUCLEO_F746ZG"]


def test_option_validation(client, demo_mlf, tmp_path):
    with pytest.raises(InvalidOption, match="project_type"):
        client.generate_project(demo_mlf, tmp_path / "p", "NUCLEO_F746ZG", {**OS_OPTS, "project_type": "bogus"})
    with pytest.raises(InvalidOption, match="baud_rate"):
        client.generate_project(demo_mlf, tmp_path / "p", "NUCLEO_F746ZG", {**OS_OPTS, "baud_rate": "fast"})
    with pytest.raises(UnsupportedOption, match="open_transport"):
        client.build(tmp_path, {"port": "/dev/ttyACM0"})
    with pytest.raises(InvalidOption, match="flash_method"):
        client.flash(tmp_path, {"flash_method": "jtag"})
    with pytest.raises(ProjectError, match="baud_rate must be positive"):
        client.generate_project(demo_mlf, tmp_path / "p", "NUCLEO_F746ZG", {**OS_OPTS, "baud_rate": 0})
    assert not (tmp_path / "p").exists()
    typed = parse_cli_options(["baud_rate=0x1C200", "application_profile=bare-metal", "timer=microseconds"],
                              client.server_info_query().options)
    assert typed == {"baud_rate": 115200, "application_profile": "bare-metal", "timer": "microseconds"}


# ---- generate_project -------------------------------------------------------------------------


def test_generated_mbed_os_program(client, demo_mlf, tmp_path):
    project, result = _project(client, demo_mlf, tmp_path)
    assert result["flavor"] == "mbed-os" and result["program"] == "app"
    assert (project / "mbed-os").is_symlink() and (project / "mbed-os").resolve() == MBED_OS.resolve()
    assert (project / "mbed-os.lib").read_text().startswith("https://github.com/ARMmbed/mbed-os#")
    cmake = (project / "CMakeLists.txt").read_text()
    for line in ("set(MBED_PATH ${CMAKE_CURRENT_SOURCE_DIR}/mbed-os CACHE INTERNAL \"\")",
                 "include(${MBED_PATH}/tools/cmake/app.cmake)", "add_subdirectory(${MBED_PATH})",
                 "set(APP_TARGET app)", "    main.cpp", "    model/codegen/host/src/sine.c",
                 "    model/runtime/src/rpc/server.c", "    model/runtime/include",
                 "target_link_libraries(${APP_TARGET} mbed-os)", "mbed_set_post_build(${APP_TARGET})"):
        assert line in cmake.splitlines(), line
    for source in [s.strip() for s in cmake.split("add_executable(${APP_TARGET}")[1].split(")")[0].split()]:
        assert (project / source).is_file(), source
    app = json.loads((project / "mbed_app.json").read_text())
    assert app == {"target_overrides": {"*": {"platform.stdio-baud-rate": 115200,
                                              "platform.default-serial-baud-rate": 115200,
                                              "target.console-uart": False}}}
    main_cpp = (project / "main.cpp").read_text()
    assert "#define UTVM_MBED_STANDALONE 0\n#define UTVM_MBED_BAUD 115200\n" in main_cpp
    assert "mbed::BufferedSerial utvm_serial(UTVM_MBED_TX, UTVM_MBED_RX, UTVM_MBED_BAUD);" in main_cpp
    record = json.loads((project / "utvm_mbed.json").read_text())
    assert (record["target"], record["program"], record["pyocd_target"]) == ("NUCLEO_F746ZG", "app", None)
    placement = record["placement"]
    assert placement["ram"] == {"name": "RAM", "origin": 0x20000000, "length": 320 << 10}
    assert placement["ram_needed"] == placement["arena_bytes"] + placement["io_bytes"] + 20 * 1024
    assert ".bss.utvm_arena" in (project / "README.md").read_text()


def test_generated_mbed_ce_standalone_program(client, demo_mlf, tmp_path):
    np.save(tmp_path / "x.npy", np.array([[-77]], dtype=np.int8))
    project, result = _project(client, demo_mlf, tmp_path, opts=CE_OPTS, project_type="standalone",
                               inputs=str(tmp_path / "x.npy"), baud_rate=921600, timer="microseconds")
    assert result["flavor"] == "mbed-ce" and not (project / "mbed-os.lib").exists()
    cmake = (project / "CMakeLists.txt").read_text().splitlines()
    for line in ("set(MBED_TARGET NUCLEO_F746ZG CACHE STRING \"Mbed OS target\")",
                 "set(MBED_APP_JSON_PATH mbed_app.json)", "include(mbed-os/tools/cmake/mbed_toolchain_setup.cmake)",
                 "project(${APP_TARGET} LANGUAGES C CXX ASM)", "include(mbed_project_setup)",
                 "add_subdirectory(mbed-os)", "    model/utvm_standalone_data.c",
                 "    model/runtime/src/app/standalone.c", "mbed_set_post_build(${APP_TARGET})"):
        assert line in cmake, line
    assert "input_0[1] = {179}" in (project / "model" / "utvm_standalone_data.c").read_text()  # -77 as a byte
    main_cpp = (project / "main.cpp").read_text()
    assert "#define UTVM_MBED_STANDALONE 1\n#define UTVM_MBED_BAUD 921600\n#define UTVM_MBED_TIMER_US 1\n" in main_cpp
    record = json.loads((project / "utvm_mbed.json").read_text())
    assert record["pyocd_target"] == "stm32f746zg"  # from targets/upload_method_cfg/NUCLEO_F746ZG.cmake
    assert record["placement"]["rom"]["name"] == "ROM_VIA_AXIM_BUS" and record["placement"]["ram"]["name"] == "SRAM"


def test_bare_metal_and_custom_linker_script(client, demo_mlf, tmp_path):
    script = tmp_path / "placement.ld"
    script.write_text("/* the user's linker script */\n")
    project, result = _project(client, demo_mlf, tmp_path, application_profile="bare-metal",
                               linker_script=str(script))
    cmake = (project / "CMakeLists.txt").read_text()
    assert "target_link_libraries(${APP_TARGET} mbed-baremetal)" in cmake
    assert "mbed_set_post_build(${APP_TARGET} utvm_linker.ld)" in cmake
    assert (project / "utvm_linker.ld").read_text() == script.read_text()
    assert json.loads((project / "mbed_app.json").read_text())["requires"] == ["bare-metal"]
    assert result["placement"]["mechanism"].startswith("custom linker script")
    assert result["placement"]["ram_reserve"] == 6 * 1024
    ce, _ = _project(client, demo_mlf, tmp_path, opts=CE_OPTS, name="ce", application_profile="bare-metal")
    overrides = json.loads((ce / "mbed_app.json").read_text())["target_overrides"]["*"]
    assert overrides["target.application-profile"] == "bare-metal"


@pytest.mark.parametrize("option, region", [("ram_reserve", "RAM"), ("rom_reserve", "ROM")])
def test_model_that_does_not_fit_is_refused_with_numbers(client, demo_mlf, tmp_path, option, region):
    size = 320 << 10 if region == "RAM" else 1 << 20
    with pytest.raises(DoesNotFit) as info:
        _project(client, demo_mlf, tmp_path, **{option: size})
    exc = info.value
    assert exc.region == region and exc.available == size and exc.needed > size
    assert f"needs {exc.needed} bytes of {region}" in str(exc) and f"has {size}" in str(exc)
    assert not (tmp_path / "app").exists()


def test_model_compiled_for_another_core_is_refused(client, tmp_path):
    model = tmp_path / "sine.tflite"
    model.write_bytes(make_demo_model())
    target = client.target_info("ARM_MPS3_AN547", CE_OPTS)
    mlf = utvm.compile(model, name="sine", target=target).export(tmp_path / "m55.tar")
    with pytest.raises(ProjectError, match="lacks"):
        client.generate_project(mlf, tmp_path / "p", "NUCLEO_F746ZG", OS_OPTS)


# ---- build ------------------------------------------------------------------------------------


def test_build_runs_mbed_tools_compile(client, fakes, demo_mlf, tmp_path):
    project, _ = _project(client, demo_mlf, tmp_path)
    fakes.calls()
    result = client.build(project)
    (call,) = fakes.calls()
    assert call["tool"] == "mbed-tools" and call["cwd"] == str(project)
    assert call["argv"] == ["compile", "-m", "NUCLEO_F746ZG", "-t", "GCC_ARM", "-b", "develop"]
    out = project / "cmake_build" / "NUCLEO_F746ZG" / "develop" / "GCC_ARM"
    assert result["artifacts"] == [str(out / "app.bin"), str(out / "app.hex"), str(out / "app.elf")]
    client.build(project, {"profile": "release", "clean": True})
    assert fakes.calls()[0]["argv"] == ["compile", "-m", "NUCLEO_F746ZG", "-t", "GCC_ARM", "-b", "release", "-c"]


def test_build_mbed_ce_with_cmake(client, fakes, demo_mlf, tmp_path):
    project, _ = _project(client, demo_mlf, tmp_path, opts=CE_OPTS)
    fakes.calls()
    result = client.build(project, {"profile": "debug"})
    configure, build = fakes.calls()
    assert configure["tool"] == build["tool"] == "cmake"
    assert configure["argv"] == ["-S", str(project), "-B", str(project / "build"), "-G", "Ninja",
                                 "-DMBED_TARGET=NUCLEO_F746ZG", "-DCMAKE_BUILD_TYPE=Debug"]
    assert build["argv"] == ["--build", str(project / "build")]
    assert str(project / "build" / "app.bin") in result["artifacts"]
    with pytest.raises(BuildFailed, match="GCC_ARM only"):
        client.build(project, {"toolchain": "ARM"})


@pytest.mark.parametrize("fail, words", [
    ("mbed-tools:compile", ["mbed-tools compile failed with exit code 1", "CMake invocation failed"]),
    ("cmake:configure", ["cmake (configure) failed with exit code 1", "Configuring incomplete"]),
])
def test_build_failures_carry_the_log(fakes, demo_mlf, tmp_path, fail, words):
    opts = CE_OPTS if fail.startswith("cmake") else OS_OPTS
    with connect(ARGV, env=fakes.env(UTVM_FAKE_FAIL=fail)) as c:
        project, _ = _project(c, demo_mlf, tmp_path, opts=opts)
        with pytest.raises(BuildFailed) as info:
            c.build(project)
    assert words[0] in str(info.value) and info.value.returncode == 1
    assert words[1] in info.value.log_tail and Path(info.value.command[0]).name == fail.split(":")[0]


def test_without_the_tools(fakes, demo_mlf, tmp_path):
    with connect(ARGV, env=fakes.env(path_first=False)) as c:
        project, _ = _project(c, demo_mlf, tmp_path)
        with pytest.raises(BuildFailed, match="pip install mbed-tools"):
            c.build(project)
        with pytest.raises(ProjectError, match="not built yet"):
            c.flash(project)
        (project / "utvm_mbed_build.json").write_text(json.dumps({"build_dir": str(tmp_path)}))
        with pytest.raises(FlashFailed, match="mbed-tools is not on PATH"):
            c.flash(project, {"flash_method": "copy"})
        with pytest.raises(FlashFailed, match="pyocd is not on PATH"):
            c.flash(project)
        with pytest.raises(TransportError, match="give the option port"):
            c.open_transport(project)
    assert fakes.calls() == []


def test_mbed_ce_venv_tools_are_found(fakes, tmp_path):
    tree = tmp_path / "mbed-ce"
    shutil.copytree(MBED_CE, tree)
    (tree / "venv" / "bin").mkdir(parents=True)
    shutil.copy2(fakes.bin / "mbed-tools", tree / "venv" / "bin" / "mbed-tools")
    fakes.set_detect(canned_detect())
    with connect(ARGV, env=fakes.env(path_first=False)) as c:
        rows = {r["name"]: r for r in c.boards({"mbed_os_path": str(tree)})}
    assert rows["NUCLEO_F746ZG"]["connected"][0]["port"] == "/dev/ttyACM0"
    (call,) = fakes.calls()
    assert call["argv"] == ["detect", "--format", "json"]


# ---- flash ------------------------------------------------------------------------------------


@pytest.fixture
def built(client, fakes, demo_mlf, tmp_path):
    project, _ = _project(client, demo_mlf, tmp_path)
    client.build(project)
    fakes.calls()
    return project


def test_flash_copies_to_the_detected_drive(client, fakes, built, tmp_path):
    drive = tmp_path / "NODE_F746ZG"
    drive.mkdir()
    fakes.set_detect(canned_detect(mount=drive))
    result = client.flash(built, {"settle_time": 0.0})
    assert [c["argv"] for c in fakes.calls()] == [["detect", "--format", "json"]]
    assert result == {"method": "copy", "image": str(built / "cmake_build/NUCLEO_F746ZG/develop/GCC_ARM/app.bin"),
                      "mount_point": str(drive)}
    assert (drive / "app.bin").read_bytes() == b"fake app.bin\n"


def test_flash_to_a_given_drive_and_a_rejected_image(client, fakes, built, tmp_path):
    drive = tmp_path / "DRIVE"
    drive.mkdir()
    client.flash(built, {"mount_point": str(drive), "settle_time": 0.0})
    assert fakes.calls() == [] and (drive / "app.bin").is_file()
    (drive / "FAIL.TXT").write_text("The interface firmware FAILED to reset/halt the target MCU\r\n")
    with pytest.raises(FlashFailed, match="FAILED to reset/halt"):
        client.flash(built, {"mount_point": str(drive), "settle_time": 0.0})
    with pytest.raises(FlashFailed, match="not a mounted folder"):
        client.flash(built, {"mount_point": str(tmp_path / "nowhere"), "settle_time": 0.0})


def test_flash_with_pyocd(client, fakes, built, demo_mlf, tmp_path):
    fakes.set_detect(canned_detect())
    client.flash(built, {"flash_method": "pyocd"})
    detect, pyocd = fakes.calls()
    assert detect["argv"] == ["detect", "--format", "json"]
    hex_image = str(built / "cmake_build/NUCLEO_F746ZG/develop/GCC_ARM/app.hex")
    assert pyocd["tool"] == "pyocd"
    assert pyocd["argv"] == ["flash", "-t", "nucleo_f746zg", "-u", "0672FF485550755187121723", hex_image]
    client.flash(built, {"flash_method": "pyocd", "serial_number": "066EFF", "pyocd_target": "stm32f746zgtx"})
    assert [c["argv"] for c in fakes.calls()] == [["flash", "-t", "stm32f746zgtx", "-u", "066EFF", hex_image]]
    # no drive and no board listed: auto falls back to pyOCD, without a probe id
    fakes.set_detect(None)
    assert client.flash(built)["method"] == "pyocd"
    assert fakes.calls()[-1]["argv"] == ["flash", "-t", "nucleo_f746zg", hex_image]
    ce, _ = _project(client, demo_mlf, tmp_path, opts=CE_OPTS, name="ce")
    client.build(ce)
    client.flash(ce, {"flash_method": "pyocd", "serial_number": "0672FF"})
    assert fakes.calls()[-1]["argv"] == ["flash", "-t", "stm32f746zg", "-u", "0672FF", str(ce / "build" / "ce.hex")]


def test_flash_failures(fakes, demo_mlf, tmp_path):
    with connect(ARGV, env=fakes.env(UTVM_FAKE_FAIL="pyocd:flash")) as c:
        project, _ = _project(c, demo_mlf, tmp_path)
        c.build(project)
        with pytest.raises(FlashFailed, match="pyocd flash failed with exit code 1") as info:
            c.flash(project, {"flash_method": "pyocd", "serial_number": "X"})
        assert "No connected debug probes" in info.value.log_tail
        with pytest.raises(FlashFailed, match="no connected NUCLEO_F746ZG board"):
            c.flash(project, {"flash_method": "copy"})
    with connect(ARGV, env=fakes.env(UTVM_FAKE_FAIL="mbed-tools:detect")) as c:
        with pytest.raises(FlashFailed, match="udev is not available"):
            c.flash(project, {"flash_method": "copy"})


# ---- transport ----------------------------------------------------------------------------------


def test_transport_over_a_serial_url(client, fakes, demo_mlf, tmp_path):
    project, _ = _project(client, demo_mlf, tmp_path, baud_rate=230400)
    assert client.open_transport(project, {"port": "loop://"}) == {"port": "loop://", "baud_rate": 230400}
    client.write_transport(b"\x7eping\x7e", 1.0)
    assert client.read_transport(64, 1.0) == b"\x7eping\x7e"
    assert client.read_transport(64, 0.05) == b""
    client.close_transport()
    assert fakes.calls() == []


def test_transport_port_from_mbed_tools_detect(client, fakes, demo_mlf, tmp_path):
    project, _ = _project(client, demo_mlf, tmp_path)
    missing = tmp_path / "ttyACM-gone"
    fakes.set_detect(canned_detect(port=str(missing)))
    with pytest.raises(TransportError, match=f"cannot open {missing}"):
        client.open_transport(project)
    assert [c["argv"] for c in fakes.calls()] == [["detect", "--format", "json"]]
    fakes.set_detect(None)
    with pytest.raises(TransportError, match="no connected NUCLEO_F746ZG board"):
        client.open_transport(project)


# ---- a real build -------------------------------------------------------------------------------


def _real_tree_or_skip():
    root = os.environ.get("MBED_OS_PATH")
    if not root:
        pytest.skip("MBED_OS_PATH is not set: no mbed-os tree to build against")
    from utvm.platforms.mbed.targets import FLAVOR_MBED_CE, MbedTreeError, find_tree

    try:
        tree = find_tree(root)
    except MbedTreeError as exc:
        pytest.skip(f"MBED_OS_PATH is not usable: {exc}")
    if Path(tree.root).resolve() in (MBED_OS.resolve(), MBED_CE.resolve()):
        pytest.skip("MBED_OS_PATH names a test fixture, not a real mbed-os tree")
    needed = ["arm-none-eabi-gcc", "cmake", "ninja"] + ([] if tree.flavor == FLAVOR_MBED_CE else ["mbed-tools"])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not on PATH: needed for a real Mbed build")
    return tree


def test_real_build(demo_mlf, tmp_path):
    tree = _real_tree_or_skip()
    target = os.environ.get("UTVM_MBED_TARGET", "NUCLEO_F746ZG")
    with connect(ARGV, timeouts={"build": 1800}) as c:
        project = tmp_path / "real"
        c.generate_project(demo_mlf, project, target, {"mbed_os_path": str(tree.root)})
        result = c.build(project)
        image = next(Path(a) for a in result["artifacts"] if a.endswith(".bin"))
        assert image.stat().st_size > 1024
