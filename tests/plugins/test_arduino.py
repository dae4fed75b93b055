"""The arduino plugin without building: cores, boards, FQBN options, target_info, generated sketches.

Two cores: Debian's AVR core (arduino-core-avr, /usr/share/arduino/hardware/arduino/avr), tests
skipped where it is not installed; and the fixture core tests/fixtures/arduino/ (a Cortex-M
Arduino in the real boards.txt/platform.txt format, nano33ble-style keys, as an arduino-cli data
folder). Builds and emulation are in test_arduino_avr.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.frontend.model_builder import ModelBuilder
from utvm.project_api import (
    BoardNotFound,
    DoesNotFit,
    FlashFailed,
    ProjectError,
    UnsupportedOption,
    connect,
    get_platform,
)
from utvm.platforms.arduino import cores, server, sketch, target, tools
from utvm.platforms.arduino.cores import CoreError, parse_properties

FIXTURE_DATA = Path(__file__).resolve().parent.parent / "fixtures" / "arduino" / "data"
FIXTURE = {"arduino_data_dir": str(FIXTURE_DATA)}
DEBIAN_AVR = Path("/usr/share/arduino/hardware/arduino/avr")

needs_debian_avr = pytest.mark.skipif(
    not (DEBIAN_AVR / "boards.txt").is_file(),
    reason="Debian's AVR core is not installed (apt-get install arduino-core-avr)",
)


@pytest.fixture(scope="module")
def client():
    with connect(get_platform("arduino").server_argv) as c:
        yield c


def _demo_mlf(tmp_path: Path, target_info: dict, name: str = "sine") -> Path:
    return utvm.compile(make_demo_model(), name=name, target=target_info).export(tmp_path / f"{name}.tar")


# ---- the file format --------------------------------------------------------------------------


def test_properties_format():
    text = """
# comment
menu.cpu=Processor
a.name=Board A
a.tool=avrdude
a.tool.linux=avrdude-linux
a.tool.windows=avrdude.exe
a.path={runtime.platform.path}/x
  spaced.key = value with = sign
"""
    props = parse_properties(text, os_name="linux")
    assert props["a.tool"] == "avrdude-linux" and "a.tool.windows" not in props and "a.tool.linux" not in props
    assert props["spaced.key"] == "value with = sign"
    assert list(props)[:2] == ["menu.cpu", "a.name"]
    assert parse_properties(text, os_name="win32")["a.tool"] == "avrdude.exe"
    assert cores.expand("{a}-{b}-{missing}", {"a": "{b}", "b": "2"}) == "2-2-{missing}"
    assert cores.parse_int("16000000L") == 16000000 and cores.parse_int("0x2341") == 0x2341
    assert cores.parse_int("") is None
    with pytest.raises(CoreError, match="boards.txt:2: not a .key=value. line"):
        parse_properties("ok=1\nnot a property line\n", "boards.txt")


def test_fqbn_syntax():
    assert cores.parse_fqbn("arduino:avr:nano:cpu=atmega168") == ("arduino", "avr", "nano", {"cpu": "atmega168"})
    assert cores.parse_fqbn("a:b:c") == ("a", "b", "c", {})
    for bad in ("uno", "arduino:avr", "a:b:c:cpu", "a:b:c:cpu=x=y", "a:b:c:d:e"):
        with pytest.raises(BoardNotFound, match="FQBN|MENU=VALUE"):
            cores.parse_fqbn(bad)


# ---- Debian's AVR core ------------------------------------------------------------------------


@needs_debian_avr
def test_debian_avr_boards_listed_with_limits(client):
    boards = {b["name"]: b for b in client.boards()}
    uno, mega, nano = boards["arduino:avr:uno"], boards["arduino:avr:mega"], boards["arduino:avr:nano"]
    assert (uno["cpu"], uno["flash_bytes"], uno["ram_bytes"], uno["clock_hz"]) == ("atmega328p", 32256, 2048, 16000000)
    assert (mega["cpu"], mega["flash_bytes"], mega["ram_bytes"]) == ("atmega2560", 253952, 8192)
    assert mega["options"]["cpu"] == ["atmega2560", "atmega1280"] and mega["defaults"] == {"cpu": "atmega2560"}
    assert nano["options"]["cpu"] == ["atmega328", "atmega328old", "atmega168"]
    assert "32256 B flash, 2048 B RAM" in uno["description"] and uno["emulated"] is True
    assert all(b["core"] == "arduino:avr" for b in boards.values())


@needs_debian_avr
def test_debian_menu_options_change_the_board():
    nano168 = cores.get_board("arduino:avr:nano:cpu=atmega168")
    assert nano168.get("build.mcu") == "atmega168" and target.limits(nano168) == (14336, 1024)
    assert nano168.fqbn == "arduino:avr:nano:cpu=atmega168"
    nano = cores.get_board("arduino:avr:nano")
    assert nano.full_fqbn == "arduino:avr:nano:cpu=atmega328" and target.limits(nano) == (30720, 2048)
    mega1280 = cores.get_board("arduino:avr:mega:cpu=atmega1280")
    assert mega1280.get("build.mcu") == "atmega1280" and target.limits(mega1280)[0] == 126976
    assert (0x2341, 0x0043) in cores.get_board("arduino:avr:uno").usb_ids()
    with pytest.raises(BoardNotFound, match=r"cpu \(Processor\) is one of: atmega328 .*atmega168"):
        cores.get_board("arduino:avr:nano:cpu=atmega9")
    with pytest.raises(BoardNotFound, match="no menu 'cpu'; it has no menu options"):
        cores.get_board("arduino:avr:uno:cpu=atmega328")
    with pytest.raises(BoardNotFound, match="has no board 'unoo'.*uno"):
        cores.get_board("arduino:avr:unoo")


@needs_debian_avr
def test_debian_target_info(client):
    uno = client.target_info("arduino:avr:uno")
    assert uno["cpu"] == "atmega328p" and uno["family"] == "avr" and uno["features"] == []
    assert uno["const_address_space"] == "__flash" and uno["int_bits"] == 16 and uno["clock_hz"] == 16000000
    assert {r["name"]: r["length"] for r in uno["memory_regions"]} == {"FLASH": 32256, "RAM": 2048}
    mega = client.target_info("arduino:avr:mega:cpu=atmega2560")
    assert mega["cpu"] == "atmega2560" and mega["board"] == "arduino:avr:mega"
    if tools.which("avr-gcc"):  # the AVR architecture and RAM start come from avr-libc's device headers
        assert (uno["arch"], mega["arch"]) == ("avr5", "avr6")
        ram = {r["name"]: r for r in uno["memory_regions"]}["RAM"]
        assert ram["origin"] == 0x800100
    with pytest.raises(BoardNotFound) as exc:
        client.target_info("arduino:sam:arduino_due_x")
    assert "no Arduino core arduino:sam is installed" in str(exc.value) and "arduino:avr" in str(exc.value)


@needs_debian_avr
def test_debian_upload_recipe_and_decimal_dig():
    uno = cores.get_board("arduino:avr:uno")
    argv = tools.upload_command(uno, "/dev/ttyACM0", "/p/build", "sine.ino")
    assert argv == ["/usr/bin/avrdude", "-C/etc/avrdude.conf", "-q", "-q", "-patmega328p", "-carduino",
                    "-P/dev/ttyACM0", "-b115200", "-D", "-Uflash:w:/p/build/sine.ino.hex:i"]
    verbose = tools.upload_command(cores.get_board("arduino:avr:mega"), "/dev/ttyUSB0", "/b", "m.ino", verbose=True)
    assert "-v" in verbose and "-cwiring" in verbose and "-patmega2560" in verbose
    assert tools.choose_builder(uno) == tools.ARDUINO_BUILDER  # arduino-cli does not read /usr/share/arduino
    if tools.which("avr-g++"):
        version = subprocess.run(["avr-g++", "-dumpversion"], capture_output=True, text=True).stdout.strip()
        assert tools.needs_decimal_dig(uno) == version.startswith(("4.", "5.", "6."))


@needs_debian_avr
def test_cli_lists_arduino_boards():
    proc = subprocess.run([sys.executable, "-m", "utvm.cli", "boards", "--platform", "arduino", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    boards = {b["name"]: b for b in json.loads(proc.stdout)}
    assert boards["arduino:avr:uno"]["ram_bytes"] == 2048 and boards["arduino:avr:uno"]["platform"] == "arduino"


# ---- the fixture core: a Cortex-M Arduino --------------------------------------------------------


def test_fixture_core_found_in_a_data_folder(client):
    boards = {b["name"]: b for b in client.boards(FIXTURE)}
    ble = boards["arduino:mbed_nano:nano33ble"]
    assert (ble["cpu"], ble["flash_bytes"], ble["ram_bytes"], ble["family"]) == ("cortex-m4", 983040, 262144, "arm")
    assert ble["core_version"] == "4.1.1" and ble["emulated"] is False and "options" not in ble
    dual = boards["arduino:mbed_nano:dualcore"]
    assert dual["options"] == {"target_core": ["cm7", "cm4"], "flash_split": ["half", "most"]}
    assert "arduino:mbed_nano:dualcore_debug" not in boards  # hide=true
    core = cores.find_cores(FIXTURE)["arduino:mbed_nano"]
    assert core.layout == "packages" and core.origin == "arduino-cli's data folder"
    assert core.tools["bossac"].name == "1.9.1-arduino2" and "bossac-1.9.1-arduino2" in core.tools


def test_fixture_target_info_and_menus(client):
    ble = client.target_info("arduino:mbed_nano:nano33ble", FIXTURE)
    assert (ble["cpu"], ble["arch"], ble["features"]) == ("cortex-m4", "armv7e-m", ["dsp", "fpu"])
    assert "const_address_space" not in ble and ble["clock_hz"] == 64000000
    assert {r["name"]: r["length"] for r in ble["memory_regions"]} == {"FLASH": 983040, "RAM": 262144}
    m7 = client.target_info("arduino:mbed_nano:dualcore", FIXTURE)
    assert (m7["cpu"], m7["features"], m7["fqbn"]) == ("cortex-m7", ["dsp", "fpu"],
                                                       "arduino:mbed_nano:dualcore:target_core=cm7,flash_split=half")
    m4 = client.target_info("arduino:mbed_nano:dualcore:target_core=cm4,flash_split=most", FIXTURE)
    assert (m4["cpu"], m4["features"], m4["clock_hz"]) == ("cortex-m4", ["dsp"], 240000000)  # float-abi=soft
    assert {r["name"]: r["length"] for r in m4["memory_regions"]} == {"FLASH": 1441792, "RAM": 294248}
    with pytest.raises(BoardNotFound, match="flash_split"):
        client.target_info("arduino:mbed_nano:dualcore:flash_split=all", FIXTURE)


def test_fixture_upload_recipe_and_builder(monkeypatch):
    ble = cores.get_board("arduino:mbed_nano:nano33ble", FIXTURE)
    argv = tools.upload_command(ble, "/dev/ttyACM0", "/p/build", "sine.ino")
    assert argv == [str(FIXTURE_DATA / "packages/arduino/tools/bossac/1.9.1-arduino2/bossac"), "--port=ttyACM0",
                    "-U", "-i", "-e", "-w", "/p/build/sine.ino.bin", "-R"]
    assert ble.usb_ids() == [(0x2341, 0x005A), (0x2341, 0x805A)]
    monkeypatch.setattr(tools, "which", lambda tool: f"/usr/bin/{tool}")
    assert tools.choose_builder(ble) == tools.ARDUINO_CLI  # arduino-cli knows the cores of its data folder
    monkeypatch.setattr(tools, "which", lambda tool: None)
    assert tools.choose_builder(ble) == tools.ARDUINO_BUILDER
    assert tools.needs_decimal_dig(ble) is False  # the fixture has no compiler to probe: no workaround


def test_fixture_sketch_generated(tmp_path, client):
    info = client.target_info("arduino:mbed_nano:nano33ble", FIXTURE)
    mlf = _demo_mlf(tmp_path, info)
    project = tmp_path / "proj"
    result = client.generate_project(mlf, project, "arduino:mbed_nano:nano33ble",
                                     {**FIXTURE, "project_type": "host_driven", "baud": 230400})
    ino = (project / "sine" / "sine.ino").read_text()
    assert "utvm_rpc_server_poll" in ino and "arduino:mbed_nano:nano33ble" in ino
    src = project / "sine" / "src"
    assert (src / "utvm_platform.cpp").is_file() and "230400UL" in (src / "utvm_sketch_config.h").read_text()
    c_sources = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.c"))
    metadata = json.loads((project / "model" / "metadata.json").read_text())
    assert metadata["target"]["features"] == ["dsp", "fpu"]  # kernels chosen for the board's ISA
    kernels = [f"model/runtime/src/{k}" for k in metadata["runtime_sources"]]
    # only what the model needs: Arduino compiles every source under src/ (no POSIX platform files)
    assert c_sources == sorted(["model/codegen/host/src/sine.c", "model/runtime/src/rpc/crc16.c",
                                "model/runtime/src/rpc/framing.c", "model/runtime/src/rpc/server.c",
                                "model/src/utvm_glue.c", *kernels])
    assert "default_fqbn: arduino:mbed_nano:nano33ble" in (project / "sine" / "sketch.yaml").read_text()
    assert not (project / "tools").exists()  # no emulator for a Cortex-M board
    record = json.loads((project / "arduino-project.json").read_text())
    assert record["rpc_payload"] == 512 and record["family"] == "arm" and record["emulator"] is None
    assert "DECIMAL_DIG" not in record["cpp_extra_flags"]
    assert '"-I{build.source.path}/src/model/runtime/include"' in record["c_extra_flags"]
    makefile = (project / "Makefile").read_text()
    assert "FQBN := arduino:mbed_nano:nano33ble" in makefile and "--port=$(PORT)" in makefile
    recipes = [line for line in makefile.splitlines() if line.startswith("\t")]
    assert recipes and not any("python" in line.lower() or "utvm." in line for line in recipes)
    assert result["budget"]["ram_limit"] == 262144
    assert json.loads((project / "model" / "metadata.json").read_text())["model"] == "sine"
    # standalone
    x = np.array([[17]], dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    standalone = tmp_path / "standalone"
    client.generate_project(mlf, standalone, "arduino:mbed_nano:nano33ble",
                            {**FIXTURE, "project_type": "standalone", "inputs": str(tmp_path / "x.npy")})
    assert "utvm_standalone_run" in (standalone / "sine" / "sine.ino").read_text()
    data = (standalone / "sine" / "src" / "model" / "utvm_standalone_data.c").read_text()
    assert "{17}" in data
    assert not list((standalone / "sine" / "src").rglob("rpc/*.c"))


def test_options_are_checked(tmp_path, client):
    with pytest.raises(UnsupportedOption, match="emulate"):
        client.build(tmp_path, {"emulate": True})
    info = client.target_info("arduino:mbed_nano:nano33ble", FIXTURE)
    mlf = _demo_mlf(tmp_path, info)
    project = tmp_path / "p"
    client.generate_project(mlf, project, "arduino:mbed_nano:nano33ble", FIXTURE)
    with pytest.raises(FlashFailed, match="emulate=true runs AVR boards in simavr; .*cortex-m4"):
        client.flash(project, {"emulate": True})
    with pytest.raises(ProjectError, match="not built yet"):
        client.flash(project, {"port": "/dev/null"})
    with pytest.raises(ProjectError, match="not an arduino project"):
        client.build(tmp_path, {})


def test_port_found_by_usb_ids(monkeypatch):
    class Port:
        def __init__(self, device, vid, pid):
            self.device, self.vid, self.pid = device, vid, pid

    ble = cores.get_board("arduino:mbed_nano:nano33ble", FIXTURE)
    record = {"fqbn": ble.full_fqbn, "board_name": ble.name, "usb_ids": [[0x2341, 0x005A], [0x2341, 0x805A]]}
    monkeypatch.setattr(tools, "which", lambda tool: None)
    monkeypatch.setattr(tools, "list_ports", lambda: [Port("/dev/ttyS0", None, None), Port("/dev/ttyACM3", 0x2341, 0x805A)])
    assert server.find_port(ble, record) == "/dev/ttyACM3"
    monkeypatch.setattr(tools, "list_ports", lambda: [Port("/dev/ttyUSB0", 0x1A86, 0x7523)])
    with pytest.raises(Exception, match="no serial port of .*2341:005a.*ttyUSB0 \\(1a86:7523\\).*option port="):
        server.find_port(ble, record)


# ---- fitting ------------------------------------------------------------------------------------


def _fc_model(units: int, depth: int) -> bytes:
    rng = np.random.default_rng(0)
    mb = ModelBuilder("big")
    x = mb.input("x", (1, depth), "int8", scale=0.1, zero_point=0)
    w = mb.const("w", rng.integers(-127, 128, (units, depth)).astype(np.int8), scale=0.01, zero_point=0)
    y = mb.tensor("y", (1, units), "int8", scale=0.2, zero_point=0)
    mb.op("FULLY_CONNECTED", [x, w, -1], [y], fused_activation_function="NONE", keep_num_dims=False,
          weights_format="DEFAULT", asymmetric_quantize_inputs=False)
    mb.output(y)
    return mb.build()


@needs_debian_avr
def test_too_big_for_the_uno_is_refused_with_numbers(tmp_path, client):
    info = client.target_info("arduino:avr:uno")
    flash_heavy = utvm.compile(_fc_model(40, 1000), name="big", target=info).export(tmp_path / "f.tar")
    with pytest.raises(DoesNotFit) as exc:
        client.generate_project(flash_heavy, tmp_path / "f", "arduino:avr:uno", {})
    assert exc.value.region == "FLASH" and exc.value.available == 32256 and exc.value.needed > 40000
    assert re.search(r"weights 400\d\d \+ Arduino core", str(exc.value)) and not (tmp_path / "f").exists()
    ram_heavy = utvm.compile(_fc_model(900, 900), name="big", target=info).export(tmp_path / "r.tar")
    with pytest.raises(DoesNotFit) as exc:
        client.generate_project(ram_heavy, tmp_path / "r", "arduino:avr:uno", {})
    assert exc.value.region == "RAM" and exc.value.available == 2048
    assert "model I/O buffers 1800" in str(exc.value) and "RPC buffers 336" in str(exc.value)


@needs_debian_avr
def test_avr_needs_an_archive_compiled_for_the_board(tmp_path, client):
    host_mlf = utvm.compile(make_demo_model(), name="sine").export(tmp_path / "host.tar")
    with pytest.raises(ProjectError, match="compiled for target 'host'.*--platform arduino --board arduino:avr:uno"):
        client.generate_project(host_mlf, tmp_path / "p", "arduino:avr:uno", {})


@needs_debian_avr
def test_params_structs_sized_for_avr():
    from utvm.project_files import model_files

    info = target.target_info(cores.get_board("arduino:avr:uno"))
    compiled = utvm.compile(make_demo_model(), name="sine", target=info)
    files, _, _ = model_files(compiled, "host_driven")
    # 3 x utvm_fully_connected_params: 9 int32_t + 2 16-bit pointers = 40 B each on AVR
    assert sketch.avr_params_ram(files, compiled.source_path) == (120, 0)


@pytest.mark.skipif(tools.which("arduino-cli") is None, reason="arduino-cli is not on PATH (not packaged by Debian)")
def test_arduino_cli_agrees_with_what_we_read():
    """Where arduino-cli exists: its board listing and board details match the cores read here."""
    ours = {f"{b.core.id}:{b.id}": b for b in cores.all_boards() if b.core.origin in tools.CLI_ORIGINS}
    if not ours:
        pytest.skip("arduino-cli has no core installed")
    listing = json.loads(subprocess.run(["arduino-cli", "board", "listall", "--format", "json"], capture_output=True,
                                        text=True, timeout=120).stdout or "{}")
    theirs = {b["fqbn"] for b in listing.get("boards", []) if b.get("fqbn")}
    assert set(ours) <= theirs
    _, board = sorted(ours.items())[0]
    details = subprocess.run(["arduino-cli", "board", "details", "-b", board.full_fqbn, "--show-properties=expanded"],
                             capture_output=True, text=True, timeout=120)
    if details.returncode != 0:
        pytest.skip(f"this arduino-cli cannot show properties: {details.stderr.strip()}")
    props = dict(line.split("=", 1) for line in details.stdout.splitlines() if "=" in line)
    for key in ("build.mcu", "upload.maximum_size", "upload.maximum_data_size"):
        if key in props:
            assert board.expanded(key) == props[key], key
