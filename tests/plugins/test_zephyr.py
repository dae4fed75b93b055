"""The zephyr plugin through the real Project API, on a fixture Zephyr tree, with west faked.

tests/fixtures/zephyr/ holds a small Zephyr tree in the real formats (HWMv2 board.yml and
soc.yml, an HWMv1 board, twister yaml, devicetree sources), a module board root, the canned
output of ``west boards`` and canned configure-only builds (zephyr.dts, .config,
runners.yaml). The server runs with only a temporary bin/ folder on PATH, holding recorders
in place of west and cmake (fake_west.py, fake_cmake.py) that log their argv as JSON lines
and fail like the real tools when told to; every west/cmake call is checked on its argv.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

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
    TransportClosed,
    TransportError,
    UnsupportedOption,
    connect,
    get_platform,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zephyr"
TREE = FIXTURES / "tree"
ARGV = [sys.executable, "-m", "utvm.platforms.zephyr.server"]
TEMPLATES = Path(__file__).resolve().parents[2] / "plugins" / "zephyr" / "templates"


# ---- the fake tools and the server's environment ------------------------------------------------


class Tools:
    """A bin/ folder with the fake tools, the log they write, and the server environment."""

    def __init__(self, root: Path, tools=("west",), **env: str) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        os.symlink(sys.executable, self.bin / "python3")
        for tool in tools:
            dest = self.bin / tool
            shutil.copy(FIXTURES / f"fake_{tool}.py", dest)
            dest.chmod(0o755)
        self.log = root / "tools.jsonl"
        self.cache = root / "cache"
        self.env = {
            "PATH": str(self.bin),
            "HOME": str(root),
            "ZEPHYR_BASE": str(TREE),
            "UTVM_CACHE_DIR": str(self.cache),
            "FAKE_TOOLS_LOG": str(self.log),
            "FAKE_ZEPHYR_FIXTURES": str(FIXTURES),
            **env,
        }
        self.stderr: list[str] = []

    def connect(self, **env: str):
        merged = {k: v for k, v in {**self.env, **env}.items() if v is not None}
        return connect(ARGV, env=merged, stderr_callback=self.stderr.append)

    def calls(self, tool: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in rows if tool is None or r["tool"] == tool]

    def argvs(self, tool: str = "west") -> list[list[str]]:
        return [r["argv"] for r in self.calls(tool)]

    def clear(self) -> None:
        if self.log.exists():
            self.log.unlink()


@pytest.fixture
def tools(tmp_path):
    return Tools(tmp_path / "t")


@pytest.fixture(scope="module")
def demo_mlf(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlf")
    return utvm.compile(make_demo_model(), name="sine").export(tmp / "sine.tar")


@pytest.fixture(scope="module")
def big_mlf(demo_mlf, tmp_path_factory):
    """The demo archive with metadata claiming a 3 MiB arena and 2 MiB of weights."""
    out = tmp_path_factory.mktemp("big") / "big.tar"
    with tarfile.open(demo_mlf) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name == "metadata.json":
                md = json.loads(data)
                md["memory"]["arena_bytes"] = 3 * 1024 * 1024
                md["memory"]["constants_bytes"] = 2 * 1024 * 1024
                data = json.dumps(md).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    return out


def configure_dir(tools: Tools, target: str) -> Path:
    from utvm.platforms.zephyr.facts import configure_dir as cd

    os.environ["UTVM_CACHE_DIR"], saved = str(tools.cache), os.environ.get("UTVM_CACHE_DIR")
    try:
        return cd(TREE, target)
    finally:
        if saved is None:
            del os.environ["UTVM_CACHE_DIR"]
        else:
            os.environ["UTVM_CACHE_DIR"] = saved


# ---- discovery -------------------------------------------------------------------------------


def test_registered_like_any_plugin_with_typed_options():
    desc = get_platform("zephyr")
    assert desc.server_argv[0] == sys.executable and desc.server_argv[-1] == "utvm.platforms.zephyr.server"
    with connect(desc.server_argv) as client:
        info = client.info
        assert info.platform_name == "zephyr"
        assert set(info.methods) >= {"boards", "target_info", "generate_project", "build", "flash",
                                     "open_transport", "read_transport", "write_transport", "close_transport"}
        opts = {o.name: o for o in info.options}
        from utvm.platforms.zephyr.server import PROJECT_TYPES
        from utvm.project_files import PROJECT_TYPES as CORE_TYPES

        assert PROJECT_TYPES == CORE_TYPES
        assert list(opts["project_type"].choices) == ["host_driven", "standalone"]
        assert list(opts["runner"].optional_for) == ["flash"] and opts["zephyr_base"].type == "path"


def test_boards_from_the_tree_and_west_boards(tools):
    with tools.connect() as client:
        boards = {b["name"]: b for b in client.boards()}
    assert tools.argvs() == [["boards", "--format", "{name}|{dir}|{qualifiers}"]]
    assert tools.calls()[0]["ZEPHYR_BASE"] == str(TREE)
    expected = {"qemu_cortex_m3", "mps2/an385", "mps2/an521/cpu0", "mps2/an521/cpu0/ns", "mps2/an521/cpu1",
                "mps3/corstone300/an547", "mps3/corstone300/an547/ns", "mps3/corstone300/fvp",
                "nucleo_f746zg", "stm32f4_disco", "acme_m4"}
    assert expected <= set(boards)
    m3 = boards["qemu_cortex_m3"]
    assert (m3["ram_kb"], m3["flash_kb"], m3["simulation"], m3["hwm"]) == (64, 256, ["qemu"], "v2")
    assert m3["aliases"] == ["qemu_cortex_m3/ti_lm3s6965"] and m3["description"] == "QEMU Emulation for Cortex-M3"
    an521 = boards["mps2/an521/cpu0"]
    assert (an521["board"], an521["qualifiers"], an521["vendor"]) == ("mps2", "an521/cpu0", "arm")
    assert boards["mps2/an521/cpu0/ns"]["ram_kb"] == 2048
    assert boards["mps3/corstone300/fvp"]["simulation"] == ["armfvp"]
    nucleo = boards["nucleo_f746zg"]
    assert (nucleo["ram_kb"], nucleo["flash_kb"], nucleo["simulation"]) == (256, 1024, [])
    ext = boards["nucleo_f746zg/stm32f746xx/lowpower"]  # a variant another folder's board.yml adds (extend:)
    assert ext["dir"].endswith("extensions/nucleo_f746zg_lowpower") and ext["ram_kb"] == 256
    v1 = boards["stm32f4_disco"]
    assert (v1["hwm"], v1["arch"], v1["ram_kb"]) == ("v1", "arm", 128)
    acme = boards["acme_m4"]  # from a module's board root: only west boards knows it
    assert (acme["source"], acme["ram_kb"], acme["vendor"]) == ("west", 96, "acme")
    assert {b["source"] for n, b in boards.items() if n != "acme_m4"} == {"tree"}


def test_boards_without_west_or_when_west_fails(tools):
    os.unlink(tools.bin / "west")
    with tools.connect() as client:
        names = {b["name"] for b in client.boards()}
    assert "nucleo_f746zg" in names and "mps3/corstone300/an547" in names and "acme_m4" not in names
    assert any("west is not on PATH" in line for line in tools.stderr)

    fail = Tools(tools.root.parent / "f", FAKE_WEST_FAIL="boards")
    with fail.connect() as client:
        names = {b["name"] for b in client.boards()}
    assert "qemu_cortex_m3" in names and "acme_m4" not in names
    assert any('west boards failed with status 1 (west: unknown command "boards"' in line for line in fail.stderr)


def test_no_zephyr_tree_is_a_clear_error(tools, tmp_path):
    with tools.connect(ZEPHYR_BASE=None) as client:
        with pytest.raises(ProjectError, match="set ZEPHYR_BASE"):
            client.boards()
        with pytest.raises(ProjectError, match="is not a Zephyr tree: it has no boards/ folder"):
            client.boards({"zephyr_base": str(tmp_path)})
        assert "nucleo_f746zg" in {b["name"] for b in client.boards({"zephyr_base": str(TREE)})}


def test_cli_lists_the_boards(tools, monkeypatch, capsys):
    for k, v in tools.env.items():
        monkeypatch.setenv(k, v)
    assert main(["boards", "--platform", "zephyr", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["mps2/an521/cpu0"]["platform"] == "zephyr" and by_name["mps2/an521/cpu0"]["ram_kb"] == 4096


def test_a_broken_yaml_file_is_named_with_its_line(tmp_path):
    from utvm.platforms.zephyr import yamlish

    bad = tmp_path / "board.yml"
    bad.write_text("board:\n  name: x\n   vendor: y\n")
    with pytest.raises(yamlish.YamlError, match=r"(?s)board\.yml.*line 3"):
        yamlish.load(bad)


# ---- target_info -----------------------------------------------------------------------------


def test_target_info_configures_and_reads_the_build(tools):
    with tools.connect() as client:
        info = client.target_info("nucleo_f746zg")
        again = client.target_info("nucleo_f746zg")
        fresh = client.target_info("nucleo_f746zg", {"refresh": True})
    build = configure_dir(tools, "nucleo_f746zg")
    probe = tools.cache / "zephyr" / "probe-app"
    configure = ["build", "-b", "nucleo_f746zg", "-d", str(build), "--cmake-only", str(probe)]
    assert tools.argvs() == [configure, configure]  # the second call came from the cache
    assert (probe / "CMakeLists.txt").read_text().startswith("# utvm's probe application")
    assert info["source"] == "configured-build" and info["configure"] == {"tool": "west", "cached": False}
    assert again["configure"]["cached"] is True and fresh["configure"]["cached"] is False
    assert (info["board"], info["cpu"], info["arch"]) == ("nucleo_f746zg", "cortex-m7", "armv7e-m")
    assert info["features"] == ["dsp", "fpu", "fpu_dp"]
    regions = {r["name"]: (r["origin"], r["length"], r["access"]) for r in info["memory_regions"]}
    assert regions == {"FLASH": (0x08000000, 1024 * 1024, "rx"), "SRAM": (0x20010000, 256 * 1024, "rwx"),
                       "DTCM": (0x20000000, 64 * 1024, "rw")}
    assert info["console"] == {"node": "/soc/serial@40004800", "address": 0x40004800, "label": "usart3",
                               "compatible": ["st,stm32-usart", "st,stm32-uart"], "current_speed": 115200}
    assert info["runners"]["flash_runner"] == "stm32cubeprogrammer"
    assert info["runners"]["runners"] == ["stm32cubeprogrammer", "openocd", "jlink"]
    assert info["runners"]["args"]["jlink"] == ["--dt-flash=y", "--device=STM32F746ZG", "--speed=4000"]
    assert info["clock_hz"] == 216_000_000 and info["emulators"] == []
    assert info["twister"]["ram_kb"] == 256 and info["kconfig"]["CONFIG_CPU_CORTEX_M7"] is True


def test_target_info_old_name_and_armv8_1m_features(tools):
    with tools.connect() as client:
        info = client.target_info("mps3_an547")
    assert tools.argvs()[-1][:3] == ["build", "-b", "mps3/corstone300/an547"]
    assert (info["board"], info["requested_as"], info["resolved_by"]) == ("mps3/corstone300/an547", "mps3_an547",
                                                                            "old name")
    assert (info["cpu"], info["arch"]) == ("cortex-m55", "armv8.1-m.main")
    assert info["features"] == ["dsp", "fpu", "mve", "mve_fp", "trustzone"]
    regions = {r["name"]: (r["origin"], r["length"]) for r in info["memory_regions"]}
    assert regions == {"FLASH": (0x10000000, 512 * 1024), "SRAM": (0x30000000, 512 * 1024)}
    assert info["console"]["node"] == "/soc/peripheral@50000000/uart@9303000"
    assert info["console"]["address"] == 0x59303000  # through the peripheral bus's ranges
    assert info["emulators"] == ["qemu"] and info["runners"]["flash_runner"] == "qemu"


def test_target_info_falls_back_to_twister_yaml_when_configuring_fails(tools):
    with tools.connect() as client:
        info = client.target_info("mps2_an521")  # the HWMv1-era name of mps2/an521/cpu0
        with pytest.raises(ProjectError, match="configuring mps2/an521/cpu0 failed"):
            client.target_info("mps2/an521/cpu0", {"configure": "always"})
    build = configure_dir(tools, "mps2/an521/cpu0")
    assert tools.argvs()[0] == ["build", "-b", "mps2/an521/cpu0", "-d", str(build), "--cmake-only",
                                str(tools.cache / "zephyr" / "probe-app")]
    assert not build.exists()  # a failed configure leaves nothing to be mistaken for a cache
    assert info["board"] == "mps2/an521/cpu0" and info["source"] == "twister-yaml"
    assert "configuring with west failed" in info["note"] and "FATAL ERROR: command exited with status 1" in info["note"]
    assert info["configure"]["returncode"] == 1
    assert (info["cpu"], info["arch"], info["features"]) == ("cortex-m33", "armv8-m.main", ["fpu"])
    assert info["memory_regions"] == [
        {"name": "FLASH", "origin": None, "length": 4096 * 1024, "access": "rx", "from": "twister yaml 'flash: 4096' (KiB)"},
        {"name": "SRAM", "origin": None, "length": 4096 * 1024, "access": "rwx", "from": "twister yaml 'ram: 4096' (KiB)"},
    ]
    assert info["emulators"] == ["qemu"]


def test_target_info_hints_only(tools):
    with tools.connect() as client:
        m3 = client.target_info("qemu_cortex_m3/ti_lm3s6965", {"configure": "never"})
        v1 = client.target_info("stm32f4_disco", {"configure": "never"})
        ns = client.target_info("mps2_an521_nonsecure", {"configure": "never"})
        rev = client.target_info("nucleo_f746zg@B", {"configure": "never"})
        assert tools.argvs() == []  # nothing configured; names the tree resolves need no west boards
        acme = client.target_info("acme_m4", {"configure": "never"})  # a module's board: west boards finds it
    assert tools.argvs() == [["boards", "--format", "{name}|{dir}|{qualifiers}"]]
    assert (acme["board"], acme["twister"]["ram_kb"], acme["cpu"]) == ("acme_m4", 96, "unknown")
    assert (m3["board"], m3["resolved_by"], m3["source"], m3["cpu"]) == ("qemu_cortex_m3", "alias", "twister-yaml",
                                                                          "cortex-m3")
    assert "configure=never" in m3["note"] and [r["length"] for r in m3["memory_regions"]] == [256 * 1024, 64 * 1024]
    assert (v1["hwm"], v1["cpu"], v1["arch"], v1["features"]) == ("v1", "cortex-m4", "armv7e-m", ["dsp", "fpu"])
    assert (ns["board"], ns["resolved_by"]) == ("mps2/an521/cpu0/ns", "deprecated.cmake")
    assert (rev["board"], rev["resolved_by"], rev["twister"]["ram_kb"]) == ("nucleo_f746zg@B", "revision", 256)


def test_target_info_with_plain_cmake_when_west_is_absent(tmp_path):
    tools = Tools(tmp_path / "c", tools=("cmake",), FAKE_CMAKE_ZEPHYR="1")
    with tools.connect() as client:
        info = client.target_info("qemu_cortex_m3")
        tools2 = Tools(tmp_path / "d", tools=("cmake",))
        with tools2.connect() as client2:
            hint = client2.target_info("qemu_cortex_m3")
    build = configure_dir(tools, "qemu_cortex_m3")
    probe = tools.cache / "zephyr" / "probe-app"
    assert tools.argvs("cmake") == [["-S", str(probe), "-B", str(build), "-DBOARD=qemu_cortex_m3"]]
    assert info["source"] == "configured-build" and info["configure"]["tool"] == "cmake"
    assert (info["cpu"], info["features"], info["clock_hz"]) == ("cortex-m3", [], 12_000_000)
    assert info["emulators"] == ["qemu"]
    assert hint["source"] == "twister-yaml" and "configuring with cmake failed" in hint["note"]


def test_unknown_board_lists_the_available_ones(tools):
    with tools.connect() as client:
        with pytest.raises(BoardNotFound) as err:
            client.target_info("nrf52840dk/nrf52840")
    assert "no board target 'nrf52840dk/nrf52840'" in str(err.value)
    assert "mps2/an521/cpu0" in err.value.details["available"] and "nucleo_f746zg" in str(err.value)


# ---- generate_project ------------------------------------------------------------------------


def _sources_in(cmakelists: str) -> list[str]:
    block = cmakelists.split("target_sources(app PRIVATE", 1)[1].split(")", 1)[0]
    return block.split()


def test_generate_host_driven_for_a_board_with_dtcm(tools, demo_mlf, tmp_path):
    project = tmp_path / "p"
    with tools.connect() as client:
        result = client.generate_project(demo_mlf, project, "nucleo_f746zg", {})
    assert result["target"] == "nucleo_f746zg" and result["emulator"] is None
    assert result["memory"]["arena_region"] == "dtcm" and result["facts_source"] == "configured-build"
    cm = (project / "CMakeLists.txt").read_text()
    assert "find_package(Zephyr REQUIRED HINTS $ENV{ZEPHYR_BASE})" in cm
    assert "west build -b nucleo_f746zg -d build ." in cm
    sources = _sources_in(cm)
    assert sources[:2] == ["src/main.c", "model/codegen/host/src/sine.c"]
    assert "model/runtime/src/rpc/server.c" in sources and all((project / s).is_file() for s in sources)
    assert "zephyr_code_relocate(FILES model/codegen/host/src/sine.c LOCATION DTCM_BSS)" in cm
    assert "zephyr_linker_sources(ROM_SECTIONS utvm/weights.ld)" in cm and "RAM_SECTIONS" not in cm.split("#")[-1]
    assert "if(Zephyr_VERSION VERSION_GREATER_EQUAL 3.7)" in cm
    conf = (project / "prj.conf").read_text().splitlines()
    for line in ("CONFIG_SERIAL=y", "CONFIG_UART_INTERRUPT_DRIVEN=y", "CONFIG_RING_BUFFER=y", "CONFIG_UART_CONSOLE=n",
                 "CONFIG_PRINTK=n", "CONFIG_MAIN_STACK_SIZE=4096", "CONFIG_FPU=y", "CONFIG_CODE_DATA_RELOCATION=y",
                 "CONFIG_SPEED_OPTIMIZATIONS=y"):
        assert line in conf
    assert (project / "src" / "main.c").read_text() == (TEMPLATES / "main_host_driven.c").read_text()
    weights = (project / "utvm" / "weights.ld").read_text()
    assert 'KEEP(*(".rodata.utvm_weights"))' in weights and "GROUP_LINK_IN(ROMABLE_REGION)" in weights
    record = json.loads((project / "utvm-zephyr.json").read_text())
    assert record["target"] == "nucleo_f746zg" and record["runners"]["flash_runner"] == "stm32cubeprogrammer"
    assert record["console"]["current_speed"] == 115200 and record["zephyr_base"] == str(TREE)


def test_generate_standalone_for_qemu_with_the_arena_in_ram(tools, demo_mlf, tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.array([[5]], dtype=np.int8))
    project = tmp_path / "p"
    with tools.connect() as client:
        result = client.generate_project(demo_mlf, project, "qemu_cortex_m3",
                                         {"project_type": "standalone", "inputs": str(tmp_path / "x.npy"),
                                          "optimize": "size", "main_stack_size": 2048})
    assert result["emulator"] == "qemu" and result["memory"]["arena_region"] == "sram"
    cm = (project / "CMakeLists.txt").read_text()
    assert "zephyr_linker_sources(RAM_SECTIONS utvm/arena.ld)" in cm and "zephyr_code_relocate" not in cm
    assert "west build -d build -t run" in cm
    assert "model/utvm_standalone_data.c" in _sources_in(cm) and "model/runtime/src/app/standalone.c" in _sources_in(cm)
    conf = (project / "prj.conf").read_text()
    assert "CONFIG_PRINTK=y" in conf and "CONFIG_UART_CONSOLE=y" in conf and "CONFIG_SIZE_OPTIMIZATIONS=y" in conf
    assert "CONFIG_FPU" not in conf and "CONFIG_MAIN_STACK_SIZE=2048" in conf and "RING_BUFFER" not in conf
    arena = (project / "utvm" / "arena.ld").read_text()
    assert "SECTION_PROLOGUE(.utvm_arena,(NOLOAD),)" in arena and '*(".bss.utvm_arena")' in arena
    assert "GROUP_NOLOAD_LINK_IN(RAMABLE_REGION, RAMABLE_REGION)" in arena
    assert (project / "src" / "main.c").read_text() == (TEMPLATES / "main_standalone.c").read_text()
    assert "5" in (project / "model" / "utvm_standalone_data.c").read_text()


def test_models_that_do_not_fit_are_refused_with_the_numbers(tools, demo_mlf, big_mlf, tmp_path):
    with tools.connect() as client:
        with pytest.raises(DoesNotFit) as err:
            client.generate_project(big_mlf, tmp_path / "a", "nucleo_f746zg", {"arena_region": "sram"})
        assert err.value.details["region"] == "SRAM" and err.value.details["available"] == 256 * 1024
        needed = err.value.details["needed"]
        assert needed == 3 * 1024 * 1024 + 2 + 4096 + 8192 + 4224  # arena, I/O, stack, reserve, UART/RPC buffers
        assert f"it needs {needed} bytes" in str(err.value) and "SRAM has 262144 bytes (256.0 KiB)" in str(err.value)
        assert "arena 3145728 + inputs and outputs 2 + main stack 4096" in str(err.value)
        with pytest.raises(DoesNotFit, match="DTCM of nucleo_f746zg has 65536 bytes"):
            client.generate_project(big_mlf, tmp_path / "b", "nucleo_f746zg", {"arena_region": "dtcm"})
        with pytest.raises(DoesNotFit, match="has no chosen zephyr,dtcm"):
            client.generate_project(demo_mlf, tmp_path / "c", "qemu_cortex_m3", {"arena_region": "dtcm"})
        with pytest.raises(DoesNotFit) as err:  # the twister yaml's 256 KiB of flash, for an unconfigurable board
            client.generate_project(demo_mlf, tmp_path / "d", "mps2/an521/cpu0/ns", {"flash_reserve_bytes": 600_000})
        assert err.value.details["region"] == "FLASH" and err.value.details["available"] == 512 * 1024
        assert "from twister yaml 'flash: 512' (KiB)" in str(err.value)
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_options_are_validated_with_names(tools, demo_mlf, tmp_path):
    with tools.connect() as client:
        with pytest.raises(InvalidOption, match="project_type.*host_driven.*standalone"):
            client.generate_project(demo_mlf, tmp_path / "a", "qemu_cortex_m3", {"project_type": "bogus"})
        with pytest.raises(InvalidOption, match="main_stack_size"):
            client.generate_project(demo_mlf, tmp_path / "b", "qemu_cortex_m3", {"main_stack_size": "big"})
        with pytest.raises(InvalidOption, match="main_stack_size' must be at least 512"):
            client.generate_project(demo_mlf, tmp_path / "c", "qemu_cortex_m3", {"main_stack_size": 100})
        with pytest.raises(UnsupportedOption, match="generate_project has no option 'port'.*open_transport"):
            client.generate_project(demo_mlf, tmp_path / "d", "qemu_cortex_m3", {"port": "/dev/ttyACM0"})
        with pytest.raises(InvalidOption, match="emulator=qemu, but nucleo_f746zg is not a QEMU target"):
            client.generate_project(demo_mlf, tmp_path / "e", "nucleo_f746zg", {"emulator": "qemu"})
        with pytest.raises(UnsupportedOption, match="build has no option 'runner'"):
            client.build(tmp_path, {"runner": "jlink"})
        with pytest.raises(InvalidOption, match="configure"):
            client.target_info("qemu_cortex_m3", {"configure": "sometimes"})
        with pytest.raises(ProjectError, match="not a utvm Zephyr project"):
            client.build(tmp_path, {})
        with pytest.raises(ProjectError, match="archive"):
            client.generate_project(tmp_path / "missing.tar", tmp_path / "f", "qemu_cortex_m3", {})


# ---- build, flash --------------------------------------------------------------------------


def test_build_and_flash_a_board_with_a_probe(tools, demo_mlf, tmp_path):
    project = tmp_path / "p"
    build = project / "build"
    with tools.connect() as client:
        client.generate_project(demo_mlf, project, "nucleo_f746zg", {})
        with pytest.raises(ProjectError, match="build the project first"):
            client.flash(project, {})
        tools.clear()
        result = client.build(project, {})
        assert result["artifacts"] == [str(build / "zephyr" / n) for n in ("zephyr.elf", "zephyr.hex", "zephyr.bin")]
        client.build(project, {"pristine": "always"})
        client.flash(project, {})
        client.flash(project, {"runner": "jlink", "dev_id": "000683451234"})
        with pytest.raises(InvalidOption, match="runner 'pyocd' is not configured for nucleo_f746zg; its runners.yaml "
                                                "lists: stm32cubeprogrammer, openocd, jlink"):
            client.flash(project, {"runner": "pyocd"})
    assert tools.argvs() == [
        ["build", "-b", "nucleo_f746zg", "-d", str(build), str(project)],
        ["build", "-b", "nucleo_f746zg", "-d", str(build), "-p", "always", str(project)],
        ["flash", "-d", str(build), "--runner", "stm32cubeprogrammer"],
        ["flash", "-d", str(build), "--runner", "jlink", "--dev-id", "000683451234"],
    ]
    assert {c["ZEPHYR_BASE"] for c in tools.calls()} == {str(TREE)}
    assert {c["cwd"] for c in tools.calls()} == {str(project)}


def test_tool_failures_are_reported_like_the_tool_said(tools, demo_mlf, tmp_path):
    project = tmp_path / "p"
    with tools.connect() as client:
        client.generate_project(demo_mlf, project, "nucleo_f746zg", {})
    with tools.connect(FAKE_WEST_FAIL="build") as client:
        with pytest.raises(BuildFailed) as err:
            client.build(project, {})
    assert err.value.details["returncode"] == 1
    assert err.value.details["command"][1:] == ["build", "-b", "nucleo_f746zg", "-d", str(project / "build"),
                                                str(project)]
    assert "'UTVM_UART_NODE' undeclared" in err.value.details["log_tail"]
    assert "FATAL ERROR: command exited with status 1" in str(err.value)
    with tools.connect() as client:
        client.build(project, {})
    with tools.connect(FAKE_WEST_FAIL="flash") as client:
        with pytest.raises(FlashFailed, match="STM32_Programmer_CLI not found"):
            client.flash(project, {})
    os.unlink(tools.bin / "west")
    with tools.connect() as client:
        with pytest.raises(BuildFailed, match="west is not on PATH"):
            client.build(project, {})


def test_qemu_targets_build_with_the_console_on_a_pipe_and_need_no_flash(tools, demo_mlf, tmp_path):
    project = tmp_path / "p"
    build = project / "build"
    with tools.connect() as client:
        client.generate_project(demo_mlf, project, "mps3_an547", {})
        tools.clear()
        client.build(project, {})
        result = client.flash(project, {})
    assert tools.argvs() == [["build", "-b", "mps3/corstone300/an547", "-d", str(build), str(project), "--",
                              f"-DQEMU_PIPE={build / 'qemu-fifo'}"]]
    assert result["emulator"] == "qemu" and "nothing to flash" in result["message"]


# ---- transports -----------------------------------------------------------------------------


def _read_exactly(client, n: int, timeout: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < n and time.monotonic() < deadline:
        data += client.read_transport(n - len(data), 0.5)
    return data


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("mux", ["0", "1"])
def test_qemu_runs_under_the_server_and_stops_with_the_transport(tools, demo_mlf, tmp_path, mux):
    project = tmp_path / "p"
    build = project / "build"
    with tools.connect(FAKE_WEST_MUX=mux) as client:
        client.generate_project(demo_mlf, project, "qemu_cortex_m3", {})
        client.build(project, {})
        tools.clear()
        opened = client.open_transport(project, {})
        assert opened["emulator"] == "qemu" and opened["mux_escape"] is (mux == "1")
        payload = bytes(range(256)) + b"\x01x\x01\x01c" + b"\x7e" * 10
        client.write_transport(payload, 5.0)
        assert _read_exactly(client, len(payload)) == payload  # 0x01 survives the mux: sent doubled
        for _ in range(100):
            if (build / "qemu.pid").exists():
                break
            time.sleep(0.02)
        qemu_pid = int((build / "qemu.pid").read_text())
        client.close_transport()
        assert _dead(opened["pid"]) and _dead(qemu_pid)
        assert not (build / "qemu-fifo.in").exists() and not (build / "qemu-fifo.out").exists()
    assert tools.argvs() == [["build", "-d", str(build), "-t", "run"]]


def test_an_emulator_that_dies_closes_the_transport_with_its_output(tools, demo_mlf, tmp_path):
    project = tmp_path / "p"
    with tools.connect(FAKE_QEMU_EXIT="1") as client:
        client.generate_project(demo_mlf, project, "qemu_cortex_m3", {})
        client.build(project, {})
        client.open_transport(project, {})
        with pytest.raises(TransportClosed, match="fake emulator told to fail"):
            for _ in range(50):
                client.read_transport(16, 0.2)


def test_serial_transport_on_a_board_port(tools, demo_mlf, tmp_path):
    import pty

    project = tmp_path / "p"
    master, slave = pty.openpty()
    try:
        with tools.connect() as client:
            client.generate_project(demo_mlf, project, "nucleo_f746zg", {})
            client.build(project, {})
            with pytest.raises(TransportError, match="no serial port belongs to probe 'NOSUCHPROBE'"):
                client.open_transport(project, {"dev_id": "NOSUCHPROBE"})
            opened = client.open_transport(project, {"port": os.ttyname(slave)})
            assert opened == {"port": os.ttyname(slave), "found_by": "the port option", "baud": 115200}
            client.write_transport(b"\x7e\x01\x02hello", 2.0)
            got = b""
            while len(got) < 8:
                got += os.read(master, 64)
            assert got == b"\x7e\x01\x02hello"
            os.write(master, b"\x7eworld")
            assert _read_exactly(client, 6) == b"\x7eworld"
            assert client.read_transport(10, 0.05) == b""
            client.close_transport()
    finally:
        os.close(master)
        os.close(slave)


# ---- the whole workflow through the CLI ---------------------------------------------------------


def test_cli_create_build_flash(tools, demo_mlf, tmp_path, monkeypatch, capsys):
    for k, v in tools.env.items():
        monkeypatch.setenv(k, v)
    project = tmp_path / "proj"
    assert main(["create-project", str(project), "--mlf", str(demo_mlf), "--platform", "zephyr",
                 "--board", "nucleo_f746zg", "-o", "configure=never", "-o", "main_stack_size=3072",
                 "-o", "dev_id=0669FF"]) == 0
    assert main(["build", str(project)]) == 0
    assert main(["flash", str(project)]) == 0
    assert "CONFIG_MAIN_STACK_SIZE=3072" in (project / "prj.conf").read_text()
    build = project / "build"
    assert tools.argvs()[-2:] == [["build", "-b", "nucleo_f746zg", "-d", str(build), str(project)],
                                  ["flash", "-d", str(build), "--runner", "stm32cubeprogrammer", "--dev-id", "0669FF"]]
    capsys.readouterr()
    assert main(["create-project", str(tmp_path / "bad"), "--mlf", str(demo_mlf), "--platform", "zephyr",
                 "--board", "qemu_cortex_m3", "-o", "arena_region=itcm"]) == 2
    err = capsys.readouterr().err
    assert "arena_region" in err and "dtcm" in err


def test_deploy_runs_a_session_through_the_qemu_link(tools, tmp_path, monkeypatch, capsys, tflm):
    """utvm deploy, end to end: west (faked) really compiles the generated application for this
    machine (its sources, includes and definitions from CMakeLists.txt, Zephyr's calls from
    hostsim/zephyr_host.c) and its fake QEMU runs it with the UART on Zephyr's QEMU_PIPE FIFOs."""
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler (cc) on PATH")
    for k, v in {**tools.env, "FAKE_WEST_HOSTSIM": "1", "FAKE_CC": cc}.items():
        monkeypatch.setenv(k, v)
    model = tmp_path / "sine.tflite"
    model.write_bytes(make_demo_model())
    project = tmp_path / "proj"
    assert main(["deploy", str(model), "--platform", "zephyr", "--board", "qemu_cortex_m3", "--json",
                 "--project-dir", str(project)]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["bit_exact"] is True and result["platform"] == "zephyr" and result["timer_unit"] == "ticks"
    build = project / "build"
    assert [a[:2] + a[-1:] for a in tools.argvs()] == [
        ["build", "-b", str(tools.cache / "zephyr" / "probe-app")],  # target_info for the compiler's target
        ["build", "-b", f"-DQEMU_PIPE={build / 'qemu-fifo'}"],
        ["build", "-d", "run"],
    ]
