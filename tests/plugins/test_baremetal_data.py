"""baremetal_cmsis data: CMSIS pack devices, board files, target_info and GCC flags.

The shipped pack and boards are checked against the QEMU 7.2 machine models they describe
(addresses below are from hw/arm/mps2.c, hw/arm/mps2-tz.c, hw/arm/armsse.c); where QEMU and
arm-none-eabi-gcc are installed, each shipped board also boots on QEMU from its own data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from utvm.platforms.baremetal_cmsis import boards as boards_mod
from utvm.platforms.baremetal_cmsis import packs
from utvm.platforms.baremetal_cmsis.boards import (
    BoardFileError,
    board_device,
    get_board,
    load_boards,
    read_board,
)
from utvm.platforms.baremetal_cmsis.packs import (
    DeviceNotFound,
    PackError,
    PackWarning,
    find_device,
    load_devices,
    parse_pdsc,
    scan_packs,
)
from utvm.platforms.baremetal_cmsis.target_info import gcc_cpu_flags, target_info
from utvm.platforms.baremetal_cmsis.targets import Device
from utvm.project_api import BoardNotFound

GCC = shutil.which("arm-none-eabi-gcc")
QEMU = shutil.which("qemu-system-arm")
needs_gcc = pytest.mark.skipif(
    GCC is None, reason="arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)"
)

SHIPPED_BOARDS = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]
MiB = 1024 * 1024
KiB = 1024


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No user packs or boards of the machine running the tests leak in."""
    monkeypatch.delenv(packs.ENV_PACKS, raising=False)
    monkeypatch.delenv(boards_mod.ENV_BOARDS, raising=False)
    monkeypatch.setenv(packs.ENV_PACK_ROOT, str(tmp_path / "empty-pack-root"))


def regions(device: Device) -> dict[str, tuple]:
    return {r.name: (r.origin, r.length, r.access, r.startup, r.default) for r in device.memory}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def pdsc(devices_xml: str, vendor: str = "Test", name: str = "Pack", version: str = "1.0.0") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package schemaVersion="1.7.36">
  <vendor>{vendor}</vendor><name>{name}</name><description>test</description><url></url>
  <releases><release version="{version}">test</release></releases>
  <devices>{devices_xml}</devices>
</package>
"""


SIMPLE_DEVICE = """
<family Dfamily="F" Dvendor="ARM:82">
  <processor Dcore="Cortex-M4" Dfpu="SP_FPU" Dclock="{clock}"/>
  <device Dname="{name}">
    <memory name="FLASH" access="rx" start="0x08000000" size="0x100000" startup="1" default="1"/>
    <memory name="RAM" access="rw" start="0x20000000" size="0x20000" default="1"/>
  </device>
</family>
"""


# --------------------------------------------------------------------------------------------
# the shipped pack


# (core, fpu, dsp, mve, trustzone, clock) and regions: QEMU 7.2's machines
SHIPPED_DEVICES = {
    "MPS2_AN385": (
        ("Cortex-M3", "NO_FPU", False, "NO_MVE", False, 25_000_000),
        {
            "SSRAM1": (0x00000000, 4 * MiB, "rx", True, True),
            "SSRAM2_3": (0x20000000, 4 * MiB, "rw", False, True),
            "BRAM": (0x01000000, 16 * KiB, "rw", False, False),
            "PSRAM": (0x21000000, 16 * MiB, "rw", False, False),
        },
    ),
    "MPS2_AN386": (
        ("Cortex-M4", "SP_FPU", True, "NO_MVE", False, 25_000_000),
        {
            "SSRAM1": (0x00000000, 4 * MiB, "rx", True, True),
            "SSRAM2_3": (0x20000000, 4 * MiB, "rw", False, True),
            "BRAM": (0x01000000, 16 * KiB, "rw", False, False),
            "PSRAM": (0x21000000, 16 * MiB, "rw", False, False),
        },
    ),
    "MPS2_AN500": (
        ("Cortex-M7", "DP_FPU", True, "NO_MVE", False, 25_000_000),
        {
            "SSRAM1": (0x00000000, 4 * MiB, "rx", True, True),
            "SSRAM2_3": (0x20000000, 4 * MiB, "rw", False, True),
            "PSRAM": (0x60000000, 16 * MiB, "rw", False, False),
        },
    ),
    "MPS2_AN505": (
        ("Cortex-M33", "SP_FPU", True, "NO_MVE", True, 20_000_000),
        {
            "SSRAM1": (0x10000000, 4 * MiB, "rx", True, True),  # init-svtor 0x10000000
            "SSRAM2_3": (0x38000000, 4 * MiB, "rw", False, True),
            "ISRAM": (0x30000000, 32 * KiB, "rw", False, False),
            "PSRAM": (0x80000000, 16 * MiB, "rw", False, False),
        },
    ),
    "MPS3_AN547": (
        ("Cortex-M55", "DP_FPU", True, "FP_MVE", True, 32_000_000),
        {
            "ITCM": (0x10000000, 512 * KiB, "rx", True, True),
            "SRAM": (0x11000000, 2 * MiB, "rwx", False, False),
            "DTCM": (0x30000000, 512 * KiB, "rw", False, True),
            "ISRAM": (0x31000000, 4 * MiB, "rw", False, False),
            "QSPI": (0x38000000, 8 * MiB, "rx", False, False),
            "DDR": (0x70000000, 256 * MiB, "rw", False, False),
        },
    ),
}


def test_shipped_pack_describes_the_qemu_machines():
    devices = load_devices()
    assert set(SHIPPED_DEVICES) <= set(devices)
    for name, ((core, fpu, dsp, mve, tz, clock), want_regions) in SHIPPED_DEVICES.items():
        d = devices[name]
        assert (d.core, d.fpu, d.dsp, d.mve, d.trustzone, d.clock_hz) == (core, fpu, dsp, mve, tz, clock), name
        assert d.vendor == "ARM:82"
        assert d.pack == packs.SHIPPED_PACKS / "utvm.MPS_FPGA_Images.pdsc"
        assert regions(d) == want_regions, name


def test_shipped_devices_have_one_startup_region_and_no_overlaps():
    for name in SHIPPED_DEVICES:
        d = find_device(name)
        startup = [r for r in d.memory if r.startup]
        assert len(startup) == 1 and startup[0].executable, name
        assert any(r.default and r.writable for r in d.memory), name
        spans = sorted((r.origin, r.origin + r.length) for r in d.memory)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end <= start, f"{name}: regions overlap"


def test_shipped_pack_parses_without_problems():
    scan = scan_packs([packs.SHIPPED_PACKS])
    assert scan.problems == [] and len(scan.files) == 1


# --------------------------------------------------------------------------------------------
# the .pdsc reader


def test_inheritance_family_subfamily_device_variant(tmp_path):
    path = write(tmp_path / "Test.Inherit.pdsc", pdsc("""
      <family Dfamily="Fam" Dvendor="Vendor:1">
        <processor Dcore="Cortex-M33" Dclock="100000000" Dendian="Little-endian"/>
        <memory name="FLASH" access="rx" start="0x00000000" size="0x40000" startup="1" default="1"/>
        <subFamily DsubFamily="Sub">
          <processor Dfpu="SP_FPU" Dtz="TZ"/>
          <memory name="SRAM" access="rwxs" start="0x20000000" size="0x8000" default="1"/>
          <memory name="PERIPH" access="rwp" start="0x40000000" size="0x10000"/>
          <device Dname="DevA">
            <processor Ddsp="DSP"/>
            <memory name="FLASH" size="0x80000"/>
            <memory id="IRAM2" start="0x20100000" size="0x1000"/>
            <memory id="IROM2" start="0x10000000" size="0x2000"/>
            <variant Dvariant="DevA-fast">
              <processor Dclock="160000000"/>
              <memory name="EXTRA" access="r" start="0x90000000" size="0x100"/>
            </variant>
          </device>
        </subFamily>
        <device Dname="DevB">
          <processor Dfpu="1"/>
          <memory name="RAM" start="0x30000000" size="0x100"/>
        </device>
      </family>
    """))
    devices = {d.name: d for d in parse_pdsc(path)}
    assert set(devices) == {"DevA", "DevA-fast", "DevB"}
    a = devices["DevA"]
    assert (a.core, a.fpu, a.dsp, a.trustzone, a.clock_hz, a.vendor) == (
        "Cortex-M33", "SP_FPU", True, True, 100_000_000, "Vendor:1")
    assert regions(a) == {
        "FLASH": (0, 0x80000, "rx", True, True),  # size from the device, the rest inherited
        "SRAM": (0x20000000, 0x8000, "rwx", False, True),  # "s" is security, not access
        "IRAM2": (0x20100000, 0x1000, "rw", False, False),  # old-style ids
        "IROM2": (0x10000000, 0x2000, "rx", False, False),
    }  # the peripheral area is not a memory
    fast = devices["DevA-fast"]
    assert fast.clock_hz == 160_000_000 and fast.fpu == "SP_FPU" and fast.dsp
    assert regions(fast)["EXTRA"] == (0x90000000, 0x100, "r", False, False)
    assert set(regions(fast)) == set(regions(a)) | {"EXTRA"}
    b = devices["DevB"]  # a sibling of the subFamily: none of its properties
    assert (b.fpu, b.trustzone, b.dsp) == ("SP_FPU", False, False)
    assert regions(b) == {"FLASH": (0, 0x40000, "rx", True, True), "RAM": (0x30000000, 0x100, "r", False, False)}


def test_architecture_facts_fill_what_old_packs_omit(tmp_path):
    path = write(tmp_path / "Old.pdsc", pdsc("""
      <family Dfamily="Old" Dvendor="ARM:82">
        <processor Dcore="Cortex-M4" Dfpu="1"/>
        <device Dname="OldM4"><memory id="IROM1" start="0" size="0x1000" startup="true"/></device>
        <device Dname="OldM55"><processor Dcore="Cortex-M55" Dfpu="FPU" Dmve="MVE"/></device>
      </family>
    """))
    devices = {d.name: d for d in parse_pdsc(path)}
    assert devices["OldM4"].dsp and devices["OldM4"].fpu == "SP_FPU"  # v7E-M always has DSP
    assert devices["OldM4"].clock_hz == 0
    assert devices["OldM55"].fpu == "DP_FPU" and devices["OldM55"].mve == "MVE"


def test_multi_processor_device_describes_its_first_processor(tmp_path):
    path = write(tmp_path / "Dual.pdsc", pdsc("""
      <family Dfamily="Dual" Dvendor="ARM:82">
        <processor Pname="cm7" Dcore="Cortex-M7" Dfpu="DP_FPU" Dclock="480000000"/>
        <processor Pname="cm4" Dcore="Cortex-M4" Dfpu="SP_FPU" Dclock="240000000"/>
        <device Dname="DualCore">
          <memory name="ITCM" access="rwx" start="0" size="0x10000" Pname="cm7"/>
          <memory name="SRAM4" access="rw" start="0x38000000" size="0x10000" Pname="cm4"/>
          <memory name="AXI" access="rw" start="0x24000000" size="0x80000" default="1"/>
        </device>
      </family>
    """))
    (d,) = parse_pdsc(path)
    assert (d.core, d.fpu, d.clock_hz) == ("Cortex-M7", "DP_FPU", 480_000_000)
    assert set(regions(d)) == {"ITCM", "AXI"}


@pytest.mark.parametrize(
    "content, reason",
    [
        ("this is not XML", "not well-formed XML"),
        ("<package><devices><family", "not well-formed XML"),
        ('<?xml version="1.0"?><board/>', "not <package>"),
        (pdsc('<family Dfamily="F" Dvendor="ARM:82"><device Dname="NoCore"/></family>'), "no Dcore"),
        (pdsc('<family Dfamily="F" Dvendor="ARM:82"><processor Dcore="Cortex-M4"/>'
              '<device Dname="BadSize"><memory name="M" start="0x0" size="lots"/></device></family>'),
         "memory 'M': size is 'lots'"),
        (pdsc('<family Dfamily="F" Dvendor="ARM:82"><processor Dcore="Cortex-M4" Dfpu="HUGE"/>'
              '<device Dname="BadFpu"/></family>'), "Dfpu='HUGE'"),
        (pdsc('<family Dfamily="F" Dvendor="ARM:82"><processor Dcore="Cortex-M4"/>'
              '<device Dname="BadAccess"><memory name="M" access="rwz" start="0" size="1"/></device></family>'),
         "access 'rwz'"),
        (pdsc('<family Dfamily="F" Dvendor="ARM:82"><processor Dcore="Cortex-M4"/>'
              '<device Dname="Twice"/><device Dname="Twice"/></family>'), "described twice"),
    ],
)
def test_malformed_pdsc_is_reported_and_skipped(tmp_path, content, reason):
    bad = write(tmp_path / "packs" / "Bad.Pack.pdsc", content)
    write(tmp_path / "packs" / "Good.Pack.pdsc", pdsc(SIMPLE_DEVICE.format(name="GoodDev", clock=1000)))
    with pytest.raises(PackError) as excinfo:
        parse_pdsc(bad)
    assert reason in str(excinfo.value) and str(bad) in str(excinfo.value)
    with pytest.warns(PackWarning, match="Bad.Pack.pdsc"):
        devices = load_devices([tmp_path / "packs"])
    assert "GoodDev" in devices
    scan = scan_packs([tmp_path / "packs"], warn=False)
    assert [p.path for p in scan.problems] == [bad] and reason in scan.problems[0].reason


LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE package [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<package schemaVersion="1.7.36"><vendor>&d;</vendor><devices/></package>
"""


def test_doctype_and_entities_are_refused(tmp_path):
    bomb = write(tmp_path / "p" / "Bomb.pdsc", LAUGHS)
    with pytest.raises(PackError, match="DOCTYPE"):
        parse_pdsc(bomb)
    external = write(tmp_path / "q" / "Ext.pdsc",
                     '<?xml version="1.0"?>\n<!DOCTYPE package SYSTEM "http://example.invalid/x.dtd">\n<package/>\n')
    with pytest.raises(PackError, match="refused"):
        parse_pdsc(external)
    with pytest.raises(PackError, match="DOCTYPE"):
        packs.parse_xml(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    with pytest.warns(PackWarning, match="Bomb.pdsc.*DOCTYPE"):
        assert load_devices([tmp_path / "p"]) == {}


def test_cmsis_pack_root_layout_newest_version_wins(tmp_path, monkeypatch):
    root = tmp_path / "packs"
    for version, clock in (("1.9.0", 9), ("1.10.0", 10), ("1.10.0-rc1", 8)):
        write(root / "Acme" / "Chips" / version / "Acme.Chips.pdsc",
              pdsc(SIMPLE_DEVICE.format(name="ACME1", clock=clock), "Acme", "Chips", version))
    write(root / "Other" / "Dfp" / "2.0.0" / "Other.Dfp.pdsc", pdsc(SIMPLE_DEVICE.format(name="OTHER1", clock=1)))
    # CMSIS-Toolbox's index and download folders are not packs
    write(root / ".Web" / "Acme.Chips.pdsc", pdsc(SIMPLE_DEVICE.format(name="WEBONLY", clock=1)))
    write(root / ".Download" / "x" / "y" / "z.pdsc", pdsc(SIMPLE_DEVICE.format(name="DLONLY", clock=1)))
    monkeypatch.setenv(packs.ENV_PACK_ROOT, str(root))
    assert packs.default_pack_root() == root
    files = packs.pack_root_files(root)
    assert files == [root / "Acme/Chips/1.10.0/Acme.Chips.pdsc", root / "Other/Dfp/2.0.0/Other.Dfp.pdsc"]
    devices = load_devices()
    assert devices["ACME1"].clock_hz == 10 and "OTHER1" in devices
    assert "WEBONLY" not in devices and "DLONLY" not in devices
    assert "MPS2_AN386" in devices  # the shipped pack is still on the path


def test_default_pack_root_follows_the_cmsis_toolbox(monkeypatch, tmp_path):
    monkeypatch.delenv(packs.ENV_PACK_ROOT)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(packs.sys, "platform", "linux")
    assert packs.default_pack_root() == tmp_path / ".cache" / "arm" / "packs"


def test_env_packs_searched_recursively_and_take_precedence(tmp_path, monkeypatch):
    user = tmp_path / "my packs"
    write(user / "deep" / "er" / "Mine.pdsc", pdsc(SIMPLE_DEVICE.format(name="MPS2_AN386", clock=123)))
    root = tmp_path / "root"
    write(root / "V" / "P" / "1.0.0" / "V.P.pdsc", pdsc(SIMPLE_DEVICE.format(name="MPS2_AN385", clock=456)))
    monkeypatch.setenv(packs.ENV_PACKS, os.pathsep.join([str(user), str(tmp_path / "missing")]))
    monkeypatch.setenv(packs.ENV_PACK_ROOT, str(root))
    devices = load_devices()
    assert devices["MPS2_AN386"].clock_hz == 123  # $UTVM_CMSIS_PACKS before the shipped pack
    assert devices["MPS2_AN385"].clock_hz == 456  # the pack root before the shipped pack
    assert devices["MPS2_AN500"].clock_hz == 25_000_000


def test_find_device_lists_close_names(tmp_path):
    assert find_device("mps2_an386").name == "MPS2_AN386"  # case-insensitive when unambiguous
    with pytest.raises(DeviceNotFound) as excinfo:
        find_device("MPS2_AN368")
    err = excinfo.value
    assert "MPS2_AN386" in err.close and "MPS2_AN386" in str(err)
    assert any("shipped" in s for s in err.searched)


# --------------------------------------------------------------------------------------------
# board files


SHIPPED_CONSOLES = {  # UART0 at its Secure alias on the TrustZone machines
    "mps2-an385": (0x40004000, 25_000_000, "MPS2_AN385", 25_000_000),
    "mps2-an386": (0x40004000, 25_000_000, "MPS2_AN386", 25_000_000),
    "mps2-an500": (0x40004000, 25_000_000, "MPS2_AN500", 25_000_000),
    "mps2-an505": (0x50200000, 20_000_000, "MPS2_AN505", 20_000_000),
    "mps3-an547": (0x59303000, 25_000_000, "MPS3_AN547", 32_000_000),
}


def test_shipped_boards():
    boards = load_boards()
    assert list(boards) == SHIPPED_BOARDS
    for name, (base, pclk, device, cpu_clock) in SHIPPED_CONSOLES.items():
        b = boards[name]
        assert b.console == {"driver": "cmsdk_uart", "base": base, "baud": 115200, "clock_hz": pclk}
        assert b.emulator == {"kind": "qemu", "binary": "qemu-system-arm", "machine": name, "extra_args": []}
        assert b.probe is None and b.device == device
        assert b.extra == {"vendor": "Arm", "cpu_clock_hz": cpu_clock, "semihosting": True, "arena_region": None}
        assert b.console["clock_hz"] // b.console["baud"] >= 16  # QEMU's CMSDK UART needs BAUDDIV >= 16
        assert board_device(b).name == device
        assert b.source == boards_mod.SHIPPED_BOARDS / f"{name}.json"


USER_PDSC = """
<family Dfamily="Acme M4" Dvendor="ARM:82">
  <processor Dcore="Cortex-M4" Dfpu="SP_FPU" Ddsp="DSP" Dclock="168000000"/>
  <device Dname="ACME_F4">
    <memory name="FLASH" access="rx" start="0x08000000" size="0x100000" startup="1" default="1"/>
    <memory name="SRAM" access="rwx" start="0x20000000" size="0x20000" default="1"/>
    <memory name="CCM" access="rw" start="0x10000000" size="0x10000"/>
  </device>
</family>
"""


def user_board(**changes) -> dict:
    board = {
        "name": "acme-f4-disco",
        "description": "a user's board",
        "device": "ACME_F4",
        "cpu_clock_hz": 84_000_000,
        "console": {"driver": "cmsdk_uart", "base": "0x40011000", "baud": 115200, "clock_hz": 84_000_000},
        "probe": {"kind": "openocd", "interface": "interface/stlink.cfg", "target": "target/stm32f4x.cfg",
                  "usb_vid": "0x0483", "usb_pid": "0x374b"},
    }
    board.update(changes)
    return board


def test_user_board_from_env_var_resolves_its_device(tmp_path, monkeypatch):
    write(tmp_path / "packs" / "Acme.F4.pdsc", pdsc(USER_PDSC, "Acme", "F4"))
    write(tmp_path / "boards" / "acme.json", json.dumps(user_board()))
    monkeypatch.setenv(packs.ENV_PACKS, str(tmp_path / "packs"))
    monkeypatch.setenv(boards_mod.ENV_BOARDS, os.pathsep.join([str(tmp_path / "boards")]))
    boards = load_boards()
    assert set(boards) == set(SHIPPED_BOARDS) | {"acme-f4-disco"}
    board = get_board("acme-f4-disco")
    assert board.source == tmp_path / "boards" / "acme.json"
    assert board.probe == {"kind": "openocd", "interface": "interface/stlink.cfg", "target": "target/stm32f4x.cfg",
                           "frequency_hz": None, "usb_vid": 0x0483, "usb_pid": 0x374B, "extra_args": []}
    device = board_device(board)
    info = target_info(board, device)
    assert info["board"] == "acme-f4-disco" and info["cpu"] == "cortex-m4" and info["features"] == ["dsp", "fpu"]
    assert info["clock_hz"] == 84_000_000  # the board's clock, not the pack's maximum
    assert info["probe"] == "openocd" and info["emulator"] is None
    assert [r["name"] for r in info["memory_regions"]] == ["FLASH", "SRAM", "CCM"]


def test_user_board_from_extra_dirs_and_overriding_a_shipped_one(tmp_path):
    folder = tmp_path / "my boards"
    write(folder / "a.json", json.dumps(user_board(device="MPS2_AN386")))
    override = user_board(name="mps2-an386", device="MPS2_AN386", description="my AN386",
                          emulator={"kind": "qemu", "machine": "mps2-an386", "extra_args": ["-d", "guest_errors"]})
    write(folder / "b.json", json.dumps(override))
    for extra in ([folder], [str(folder)], str(folder), os.pathsep.join([str(folder), str(boards_mod.SHIPPED_BOARDS)])):
        boards = load_boards(extra)
        assert "acme-f4-disco" in boards
        assert boards["mps2-an386"].description == "my AN386"
        assert boards["mps2-an386"].source == folder / "b.json"
        assert boards["mps2-an386"].emulator["binary"] == "qemu-system-arm"  # default filled in
    assert get_board("mps2-an386").source.parent == boards_mod.SHIPPED_BOARDS  # without extra_dirs


def test_unknown_board_lists_the_available_ones(tmp_path):
    with pytest.raises(BoardNotFound) as excinfo:
        get_board("mps2-an999")
    err = excinfo.value
    assert err.board == "mps2-an999" and err.available == SHIPPED_BOARDS
    assert "mps2-an386" in str(err) and "mps2-an999" in str(err)


def test_board_naming_an_unknown_device_says_which_file(tmp_path):
    write(tmp_path / "b" / "x.json", json.dumps(user_board(device="ACME_F5")))
    board = get_board("acme-f4-disco", [tmp_path / "b"])
    with pytest.raises(DeviceNotFound, match=r"x\.json.*ACME_F5"):
        board_device(board)


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"device": None}, "device", "is required"),
        ({"name": "bad name!"}, "name", "not a board name"),
        ({"consle": {}}, None, "unknown field 'consle'"),
        ({"console": None}, "console", "must be a JSON object"),
        ({"console": {"driver": "cmsdk_uart", "base": "0xZZ", "clock_hz": 1}}, "console.base", "hex string"),
        ({"console": {"driver": "cmsdk_uart", "base": 4.5, "clock_hz": 1}}, "console.base", "integer"),
        ({"console": {"driver": "cmsdk_uart", "base": "0x100000000", "clock_hz": 1}}, "console.base", "32 bits"),
        ({"console": {"driver": "pl011", "base": 0, "clock_hz": 1}}, "console.driver", "cmsdk_uart"),
        ({"console": {"driver": "cmsdk_uart", "base": 0, "clock_hz": 1, "baud": -9600}}, "console.baud", "greater than 0"),
        ({"console": {"driver": "cmsdk_uart", "base": 0}}, "console.clock_hz", "is required"),
        ({"emulator": {"kind": "renode", "machine": "x"}}, "emulator.kind", "qemu"),
        ({"emulator": {"kind": "qemu"}}, "emulator.machine", "is required"),
        ({"emulator": {"kind": "qemu", "machine": "m", "extra_args": "-s"}}, "emulator.extra_args", "list of strings"),
        ({"probe": {"kind": "openocd", "target": "t.cfg"}}, "probe.interface", "is required"),
        ({"probe": {"kind": "jlink", "target": "x"}}, "probe.kind", "pyocd, openocd"),
        ({"probe": {"kind": "pyocd", "target": "k64f", "usb_vid": "0x12345"}}, "probe.usb_vid", "16 bits"),
        ({"probe": None}, None, "needs an 'emulator' or a 'probe'"),
        ({"semihosting": "yes"}, "semihosting", "true or false"),
        ({"cpu_clock_hz": True}, "cpu_clock_hz", "integer"),
    ],
)
def test_board_validation_errors_name_file_and_field(tmp_path, changes, field, words):
    obj = {k: v for k, v in user_board(**changes).items() if not (v is None and k in ("device",))}
    path = write(tmp_path / "boards" / "broken.json", json.dumps(obj))
    with pytest.raises(BoardFileError) as excinfo:
        read_board(path)
    err = excinfo.value
    assert err.path == path and err.field == field
    assert str(path) in str(err) and words in str(err)
    if field:
        assert f"field '{field}'" in str(err)
    with pytest.raises(BoardFileError, match="broken.json"):  # and the listing says so too
        load_boards([tmp_path / "boards"])


def test_board_file_errors_for_files_and_folders(tmp_path):
    bad_json = write(tmp_path / "a" / "bad.json", '{"name": "x",}')
    with pytest.raises(BoardFileError, match=r"bad\.json: is not valid JSON: .* line 1"):
        read_board(bad_json)
    not_object = write(tmp_path / "b" / "list.json", "[1, 2]")
    with pytest.raises(BoardFileError, match="must be a JSON object, not a list"):
        read_board(not_object)
    twice = tmp_path / "c"
    write(twice / "one.json", json.dumps(user_board()))
    write(twice / "two.json", json.dumps(user_board()))
    with pytest.raises(BoardFileError, match=r"two\.json: field 'name': .*also described by .*one\.json"):
        load_boards([twice])
    with pytest.raises(BoardFileError, match="is not a folder"):
        load_boards([tmp_path / "nowhere"])


def test_comments_are_allowed_everywhere(tmp_path):
    obj = user_board(console={"$comment": "UART1", "driver": "cmsdk_uart", "base": 0x40011000, "clock_hz": 1_000_000})
    obj["$comment"] = ["lines", "of text"]
    board = read_board(write(tmp_path / "c.json", json.dumps(obj)))
    assert board.console == {"driver": "cmsdk_uart", "base": 0x40011000, "baud": 115200, "clock_hz": 1_000_000}


# --------------------------------------------------------------------------------------------
# target_info and GCC flags


TARGETS = {
    "mps2-an385": ("cortex-m3", "armv7-m", [], None, "soft", "SSRAM1"),
    "mps2-an386": ("cortex-m4", "armv7e-m", ["dsp", "fpu"], "fpv4-sp-d16", "hard", "SSRAM1"),
    "mps2-an500": ("cortex-m7", "armv7e-m", ["dsp", "fpu"], "fpv5-d16", "hard", "SSRAM1"),
    "mps2-an505": ("cortex-m33", "armv8-m.main", ["dsp", "fpu", "trustzone"], "fpv5-sp-d16", "hard", "SSRAM1"),
    "mps3-an547": ("cortex-m55", "armv8.1-m.main", ["dsp", "fpu", "mve", "mve.fp", "trustzone"], None, "hard", "ITCM"),
}


@pytest.mark.parametrize("name", SHIPPED_BOARDS)
def test_target_info_of_shipped_boards(name):
    board = get_board(name)
    device = board_device(board)
    info = target_info(board, device)
    cpu, arch, features, mfpu, abi, startup = TARGETS[name]
    assert (info["board"], info["cpu"], info["arch"], info["features"]) == (name, cpu, arch, features)
    assert (info["mfpu"], info["mfloat_abi"]) == (mfpu, abi)
    assert info["clock_hz"] == SHIPPED_CONSOLES[name][3] == device.clock_hz
    assert info["emulator"] == "qemu" and info["probe"] is None and info["semihosting"] is True
    want = SHIPPED_DEVICES[board.device][1]
    assert {r["name"]: (r["origin"], r["length"], r["access"], r["startup"], r["default"])
            for r in info["memory_regions"]} == want
    assert [r["name"] for r in info["memory_regions"] if r["startup"]] == [startup]
    assert info["gcc_flags"] == gcc_cpu_flags(device)
    json.dumps(info)  # the protocol carries it as JSON


def _device(core, fpu="NO_FPU", dsp=False, mve="NO_MVE", tz=False) -> Device:
    return Device(name="X", vendor="ARM:82", core=core, fpu=fpu, dsp=dsp, mve=mve, trustzone=tz,
                  clock_hz=1, memory=(), pack=Path("x.pdsc"))


FLAG_CASES = [
    (_device("Cortex-M3"), ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]),
    (_device("Cortex-M0+"), ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]),
    (_device("Cortex-M4", "SP_FPU", True), ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]),
    (_device("Cortex-M4", "NO_FPU", True), ["-mcpu=cortex-m4+nofp", "-mthumb", "-mfloat-abi=soft"]),
    (_device("Cortex-M7", "DP_FPU", True), ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"]),
    (_device("Cortex-M7", "SP_FPU", True), ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]),
    (_device("Cortex-M23", tz=True), ["-mcpu=cortex-m23", "-mthumb", "-mfloat-abi=soft"]),
    (_device("Cortex-M33", "SP_FPU", True, tz=True),
     ["-mcpu=cortex-m33", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]),
    (_device("Cortex-M33", "SP_FPU", False), ["-mcpu=cortex-m33+nodsp", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]),
    (_device("Cortex-M33", "NO_FPU", True), ["-mcpu=cortex-m33+nofp", "-mthumb", "-mfloat-abi=soft"]),
    (_device("Cortex-M55", "DP_FPU", True, "FP_MVE"), ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]),
    (_device("Cortex-M55", "DP_FPU", True, "MVE"), ["-mcpu=cortex-m55+nomve.fp", "-mthumb", "-mfloat-abi=hard"]),
    (_device("Cortex-M55", "DP_FPU", False, "NO_MVE"), ["-mcpu=cortex-m55+nomve+nodsp", "-mthumb", "-mfloat-abi=hard"]),
    (_device("Cortex-M55", "NO_FPU", True, "MVE"), ["-mcpu=cortex-m55+nofp", "-mthumb", "-mfloat-abi=hard"]),
    (_device("Cortex-M55", "NO_FPU", False, "NO_MVE"), ["-mcpu=cortex-m55+nofp+nomve+nodsp", "-mthumb", "-mfloat-abi=soft"]),
    (_device("Cortex-M55", "SP_FPU", True, "FP_MVE"),
     ["-march=armv8.1-m.main+dsp+mve.fp+fp", "-mtune=cortex-m55", "-mthumb", "-mfloat-abi=hard"]),
    (_device("Cortex-M85", "DP_FPU", True, "FP_MVE"), ["-march=armv8.1-m.main+dsp+mve.fp+fp.dp", "-mthumb", "-mfloat-abi=hard"]),
    (_device("Star-MC1", "SP_FPU", True), ["-march=armv8-m.main+dsp", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]),
]


def _flag_id(value) -> str:
    if isinstance(value, Device):
        return f"{value.core}-{value.fpu}-{value.mve}-{'dsp' if value.dsp else 'nodsp'}"
    return ""


@pytest.mark.parametrize("device, flags", FLAG_CASES, ids=_flag_id)
def test_gcc_cpu_flags(device, flags):
    assert gcc_cpu_flags(device) == flags


def test_unknown_core_is_a_clear_error():
    from utvm.errors import UtvmError

    with pytest.raises(UtvmError, match="'Cortex-A53' is not a Cortex-M core.*Cortex-M4"):
        gcc_cpu_flags(_device("Cortex-A53"))


TRIVIAL_C = r"""
#include <stdint.h>
#include <string.h>
float f(float a, float b) { return a * b + 1.0f; }
int32_t dot(const int8_t *a, const int8_t *b, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
int main(void) { int8_t v[16]; memset(v, 1, sizeof v); return (int)f(2.0f, 3.0f) + dot(v, v, 16); }
"""


def _macros(flags: list[str]) -> dict[str, str]:
    argv = [GCC, *flags, "-dM", "-E", "-x", "c", os.devnull]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = (line.split(None, 2) for line in out.splitlines())
    return {parts[1]: parts[2] if len(parts) > 2 else "" for parts in rows}


@needs_gcc
@pytest.mark.parametrize("device, flags", FLAG_CASES, ids=_flag_id)
def test_gcc_flags_compile_and_link(tmp_path, device, flags):
    src = tmp_path / "t.c"
    src.write_text(TRIVIAL_C)
    proc = subprocess.run([GCC, *flags, "-O2", "--specs=nosys.specs", str(src), "-o", str(tmp_path / "t.elf")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    macros = _macros(flags)  # the compiler's view agrees with the device's features
    assert ("__ARM_FP" in macros) == (device.fpu != "NO_FPU")
    assert ("__ARM_FEATURE_MVE" in macros) == (device.mve != "NO_MVE")
    if device.mve == "FP_MVE" and device.fpu != "NO_FPU":
        assert macros["__ARM_FEATURE_MVE"] == "3"
    if device.dsp or device.core in ("Cortex-M4", "Cortex-M7"):
        assert "__ARM_FEATURE_DSP" in macros
    if device.fpu == "DP_FPU":
        assert int(macros["__ARM_FP"]) & 8  # double precision


# --------------------------------------------------------------------------------------------
# the data against QEMU itself


BOOT_C = r"""
#include <stdint.h>
extern uint32_t __stack_top;
void reset(void);
__attribute__((section(".vectors"), used))
const void *const vectors[4] = {&__stack_top, (void *)reset, (void *)reset, (void *)reset};

static int semihost(int op, uintptr_t arg) {
    register int r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static volatile uint32_t *const uart = (volatile uint32_t *)UART_BASE;
static void put(char c) { while (uart[1] & 1u) {} uart[0] = (uint32_t)c; }
static volatile uint32_t *const syst = (volatile uint32_t *)0xE000E010u;

void reset(void) {
    uart[4] = UART_CLOCK / 115200u;  /* BAUDDIV */
    uart[2] = 3u;                    /* TX and RX enable */
    syst[1] = 0xFFFFFFu; syst[2] = 0u; syst[0] = 5u;  /* SysTick on the processor clock */
    uint32_t n = 100000u;
    uint32_t t0 = syst[2];
    __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n));  /* 200000 instructions */
    uint32_t t1 = syst[2];
    uint32_t ticks = (t0 - t1) & 0xFFFFFFu;
    char buf[16]; int i = 15; buf[i] = 0;
    do { buf[--i] = (char)('0' + ticks % 10u); ticks /= 10u; } while (ticks);
    for (const char *s = "ticks "; *s; s++) put(*s);
    for (const char *s = buf + i; *s; s++) put(*s);
    put('\n');
    semihost(0x18, 0x20026u);  /* SYS_EXIT, ADP_Stopped_ApplicationExit */
    for (;;) {}
}
"""


@pytest.mark.skipif(
    GCC is None or QEMU is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm (apt-get install gcc-arm-none-eabi qemu-system-arm)",
)
@pytest.mark.parametrize("name", SHIPPED_BOARDS)
def test_shipped_board_boots_on_qemu_from_its_data(tmp_path, name):
    """Vector table in the startup region, stack in the default RAM, UART and clock from the board file."""
    board = get_board(name)
    device = board_device(board)
    rom = next(r for r in device.memory if r.startup)
    ram = next(r for r in device.memory if r.default and r.writable and not r.startup)
    (tmp_path / "boot.c").write_text(BOOT_C)
    (tmp_path / "boot.ld").write_text(
        f"MEMORY {{ ROM (rx) : ORIGIN = {rom.origin:#x}, LENGTH = {rom.length:#x}\n"
        f"         RAM (rw) : ORIGIN = {ram.origin:#x}, LENGTH = {ram.length:#x} }}\n"
        "SECTIONS { .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > ROM\n"
        "           .data : { *(.data*) *(.bss*) } > RAM\n"
        "           __stack_top = ORIGIN(RAM) + LENGTH(RAM); }\n"
    )
    elf = tmp_path / "boot.elf"
    subprocess.run(
        [GCC, *gcc_cpu_flags(device), "-O1", "-nostdlib", "-T", str(tmp_path / "boot.ld"),
         f"-DUART_BASE={board.console['base']:#x}u", f"-DUART_CLOCK={board.console['clock_hz']}u",
         str(tmp_path / "boot.c"), "-o", str(elf)],
        check=True, capture_output=True, text=True,
    )
    emu = board.emulator
    proc = subprocess.run(
        [emu["binary"], "-M", emu["machine"], *emu["extra_args"], "-nographic", "-monitor", "none",
         "-semihosting", "-icount", "shift=0", "-serial", "stdio", "-kernel", str(elf)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ticks = int(proc.stdout.split("ticks ")[1].split()[0])
    # -icount shift=0: one instruction per ns, so 200000 instructions are 200000e-9 * clock ticks
    expected = 200_000 * target_info(board, device)["clock_hz"] / 1e9
    assert abs(ticks - expected) <= expected * 0.01, (ticks, expected)
