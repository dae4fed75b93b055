"""The Mbed plugin's readers, in-process: JSON5, target inheritance, cores, memory, mbed-tools detect."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from utvm.platforms.mbed import json5
from utvm.platforms.mbed.devices import DeviceNotFound, parse_detect_output, select_device
from utvm.platforms.mbed.targets import (
    FLAVOR_MBED_CE,
    FLAVOR_MBED_OS,
    MbedTreeError,
    TargetDatabase,
    TargetError,
    decode_core,
    find_tree,
    resolve_target,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mbed"
MBED_OS = FIXTURES / "mbed-os"
MBED_CE = FIXTURES / "mbed-ce"


@pytest.fixture(scope="module")
def mbed_os():
    return TargetDatabase(find_tree(MBED_OS))


@pytest.fixture(scope="module")
def mbed_ce():
    return TargetDatabase(find_tree(MBED_CE))


# ---- JSON5 ----------------------------------------------------------------------------------


def test_json5_reads_every_json5_form():
    text = """// leading comment
    {
      unquoted: 1, 'single': 'it\\'s', "hex": 0x1F, neg_hex: -0xA, plus: +3,
      lead: .5, trail: 5., exp: 1e3, inf: Infinity, ninf: -Infinity, nan: NaN,
      /* block
         comment */ "esc": "a\\x41\\u0042\\
c\\d\\0", list: [1, 2, 3,], nested: {a: [], b: {},},
      "t": true, f: false, "n": null, $dollar_1: "x",
    }"""
    got = json5.loads(text)
    assert got["unquoted"] == 1 and got["single"] == "it's" and got["hex"] == 31 and got["neg_hex"] == -10
    assert got["plus"] == 3 and got["lead"] == 0.5 and got["trail"] == 5.0 and got["exp"] == 1000.0
    assert got["inf"] == math.inf and got["ninf"] == -math.inf and math.isnan(got["nan"])
    assert got["esc"] == "aABcd\0"
    assert got["list"] == [1, 2, 3] and got["nested"] == {"a": [], "b": {}}
    assert (got["t"], got["f"], got["n"], got["$dollar_1"]) == (True, False, None, "x")
    assert list(got) == ["unquoted", "single", "hex", "neg_hex", "plus", "lead", "trail", "exp", "inf", "ninf",
                         "nan", "esc", "list", "nested", "t", "f", "n", "$dollar_1"]  # file order kept


def test_json5_plain_json_and_strings_with_comment_like_text():
    assert json5.loads('{"url": "http://x//y/*z*/", "s": "a,]"}') == {"url": "http://x//y/*z*/", "s": "a,]"}
    assert json5.loads(b"\xef\xbb\xbf[1]") == [1]


@pytest.mark.parametrize("text, where", [
    ("{\n  a: 1,\n  b: @\n}", "line 3, column 6"),
    ("{a: 1,, b: 2}", "line 1, column 7"),
    ("[1, 2", "line 1"),
    ("{a: undefined}", "line 1, column 5"),
    ('{"a": "\\1"}', "line 1"),
])
def test_json5_errors_name_the_place(text, where):
    with pytest.raises(json5.JSON5Error, match=where):
        json5.loads(text)


def test_json5_agrees_with_the_json5_package_on_the_fixtures():
    reference = pytest.importorskip("json5", reason="the json5 package is not installed (optional cross-check)")
    for path in (MBED_CE / "targets" / "targets.json5", MBED_CE / "targets" / "cmsis_mcu_descriptions.json5"):
        assert json5.loads(path.read_text()) == reference.loads(path.read_text())


# ---- inheritance ------------------------------------------------------------------------------


def test_chain_accumulates_in_order(mbed_os):
    t = resolve_target(mbed_os.data, "NUCLEO_F746ZG")
    assert t["extra_labels"] == ["STM", "STM32F7", "STM32F746xG", "STM32F746ZG"]
    assert t["macros"] == ["USE_HAL_DRIVER", "USE_FULL_LL_DRIVER", "HSE_VALUE=8000000", "STM32F746xx"]
    assert t["device_has"] == ["ANALOGIN", "I2C", "INTERRUPTIN", "SERIAL", "SERIAL_ASYNCH", "SLEEP", "SPI",
                               "STDIO_MESSAGES", "USTICKER", "FLASH", "MPU", "TRNG", "EMAC", "USBDEVICE"]
    assert t["features"] == [] and t["components"] == []
    assert t["core"] == "Cortex-M7F" and t["device_name"] == "STM32F746ZGTx"
    assert t["mbed_rom_size"] == "0x100000"
    # merging attributes: config from Target and MCU_STM32, overrides from the board
    assert set(t["config"]) == {"console-uart", "boot-stack-size", "network-default-interface-type", "lse-available"}
    assert t["overrides"] == {"network-default-interface-type": "ETHERNET"}
    assert t["public"] is True  # "public": false of its parents is not inherited
    assert "inherits" not in t and "extra_labels_add" not in t
    assert t["labels"] == ["MCU_STM32", "MCU_STM32F7", "MCU_STM32F746xG", "NUCLEO_F746ZG", "Target"]


def test_remove_drops_named_and_valued_entries(mbed_os):
    t = resolve_target(mbed_os.data, "DISCO_F746NG")
    assert "HSE_VALUE=8000000" not in t["macros"] and "LSE_STARTUP_TIMEOUT=100" in t["macros"]
    assert "SERIAL_ASYNCH" not in t["device_has"] and t["device_has"][-1] == "QSPI"
    assert t["components"] == ["QSPIF"]


def test_multiple_inheritance_follows_mbed_tools(mbed_os):
    t = resolve_target(mbed_os.data, "NU_M2354")
    # overriding: depth-first, so MCU_M2354's core beats Target's null reached through PSA_Target
    assert t["core"] == "Cortex-M23-NS"
    # accumulating: breadth-first from the nearest definition. features is first defined by Target
    # (reached after both parents), so both parents' features_add apply; extra_labels is defined by
    # MCU_M2354 (level 1), so PSA_Target's extra_labels_add (also level 1, after it) does not.
    assert t["features"] == ["PSA", "EXPERIMENTAL_API"]
    assert t["extra_labels"] == ["NUVOTON", "M2354", "NU_M2354"]


def test_diamond_orders():
    data = {
        "A": {"inherits": ["B", "C"], "extra_labels_add": ["a"]},
        "B": {"inherits": ["D"], "extra_labels_remove": ["e"]},
        "C": {"inherits": ["E"], "core": "Cortex-M3", "extra_labels_add": ["c"]},
        "D": {"core": "Cortex-M4", "extra_labels_add": ["d"]},
        "E": {"extra_labels": ["e", "e2"]},
    }
    t = resolve_target(data, "A")
    assert t["core"] == "Cortex-M4"  # depth-first: A, B, D, C, E
    assert t["extra_labels"] == ["e2", "d", "c", "a"]  # breadth-first A, B, C, D, E; applied D, C, B, A


@pytest.mark.parametrize("data, message", [
    ({"A": {"inherits": ["Nope"]}}, "inherits from 'Nope'"),
    ({"A": {"inherits": ["B"]}, "B": {"inherits": ["A"]}}, "loops"),
])
def test_broken_inheritance_is_reported(data, message):
    with pytest.raises(TargetError, match=message):
        resolve_target(data, "A")


def test_public_targets_only(mbed_os, mbed_ce):
    assert mbed_os.public_names() == ["DISCO_F746NG", "FRDM_K64F", "LPC2368", "NUCLEO_F746ZG", "NUCLEO_F767ZI",
                                      "NU_M2354"]
    assert mbed_ce.public_names() == ["ARM_MPS3_AN547", "NUCLEO_F746ZG"]
    with pytest.raises(TargetError, match="public"):
        mbed_os.describe("MCU_STM32F746xG")
    with pytest.raises(TargetError) as info:
        mbed_os.describe("NUCLEO_F999ZZ")
    assert "NUCLEO_F746ZG" in info.value.available


# ---- cores ------------------------------------------------------------------------------------


@pytest.mark.parametrize("core, cpu, arch, features, fpu", [
    ("Cortex-M0", "cortex-m0", "armv6-m", (), None),
    ("Cortex-M0+", "cortex-m0plus", "armv6-m", (), None),
    ("Cortex-M3", "cortex-m3", "armv7-m", (), None),
    ("Cortex-M4", "cortex-m4", "armv7e-m", ("dsp",), None),
    ("Cortex-M4F", "cortex-m4", "armv7e-m", ("dsp", "fpu"), "sp"),
    ("Cortex-M7F", "cortex-m7", "armv7e-m", ("dsp", "fpu"), "sp"),
    ("Cortex-M7FD", "cortex-m7", "armv7e-m", ("dsp", "fpu"), "dp"),
    ("Cortex-M23-NS", "cortex-m23", "armv8-m.base", (), None),
    ("Cortex-M33", "cortex-m33", "armv8-m.main", (), None),
    ("Cortex-M33F", "cortex-m33", "armv8-m.main", ("fpu",), "sp"),
    ("Cortex-M33FE-NS", "cortex-m33", "armv8-m.main", ("dsp", "fpu"), "sp"),
    ("Cortex-M55", "cortex-m55", "armv8.1-m.main", ("dsp", "mve", "fpu"), "sp"),
])
def test_core_names(core, cpu, arch, features, fpu):
    c = decode_core(core)
    assert (c.cpu, c.arch, c.features, c.fpu, c.known) == (cpu, arch, features, fpu, True)
    assert c.trustzone_ns == core.endswith("-NS")


def test_unknown_core_is_flagged():
    assert decode_core("ARM7TDMI-S").known is False
    assert decode_core(None).cpu == "unknown"


# ---- memory -----------------------------------------------------------------------------------


def _banks(desc):
    return [(b.name, b.kind, hex(b.origin), hex(b.length), b.primary) for b in desc.banks]


def test_memory_mbed_os(mbed_os):
    assert find_tree(MBED_OS).flavor == FLAVOR_MBED_OS
    # mbed_rom_*/mbed_ram_* alone (the device is not in arm_pack_manager's index)
    assert _banks(mbed_os.describe("NUCLEO_F746ZG")) == [
        ("ROM", "rom", "0x8000000", "0x100000", True), ("RAM", "ram", "0x20000000", "0x50000", True)]
    # the device's banks from index.json: IROM1, and the best read-write memory (default, then size)
    assert _banks(mbed_os.describe("NUCLEO_F767ZI")) == [
        ("IROM1", "rom", "0x8000000", "0x200000", True), ("IRAM1", "ram", "0x20020000", "0x60000", True),
        ("IRAM2", "ram", "0x20000000", "0x20000", False)]
    # the old index format (IROMn/IRAMn with hex strings)
    k64f = mbed_os.describe("FRDM_K64F")
    assert _banks(k64f) == [("IROM1", "rom", "0x0", "0x100000", True), ("IRAM2", "ram", "0x20000000", "0x30000", True),
                            ("IRAM1", "ram", "0x1fff0000", "0x10000", False)]
    assert k64f.vendor == "NXP"
    lpc = mbed_os.describe("LPC2368")
    assert lpc.banks == [] and "no memory description" in lpc.memory_note


def test_memory_mbed_ce(mbed_ce):
    assert find_tree(MBED_CE).flavor == FLAVOR_MBED_CE
    nucleo = mbed_ce.describe("NUCLEO_F746ZG")
    # first ROM and first RAM bank of cmsis_mcu_descriptions.json5; mbed_ram_size is ignored in CE
    assert _banks(nucleo) == [
        ("ROM_VIA_AXIM_BUS", "rom", "0x8000000", "0x100000", True), ("SRAM", "ram", "0x20000000", "0x50000", True),
        ("SRAM_BKUP", "ram", "0x40024000", "0x1000", False), ("ROM_VIA_ITCM_BUS", "rom", "0x200000", "0x100000", False)]
    assert nucleo.vendor == "STMicroelectronics"
    an547 = mbed_ce.describe("ARM_MPS3_AN547")
    assert _banks(an547)[:2] == [("ITCM", "rom", "0x0", "0x80000", True), ("DTCM", "ram", "0x20000000", "0x80000", True)]
    assert an547.core.features == ("dsp", "mve", "fpu")


def test_tree_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("MBED_OS_PATH", raising=False)
    with pytest.raises(MbedTreeError, match="MBED_OS_PATH"):
        find_tree(None)
    with pytest.raises(MbedTreeError, match="neither targets/targets.json"):
        find_tree(tmp_path)
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "targets.json5").write_text("{ broken: [1, }")
    with pytest.raises(MbedTreeError, match="targets.json5 is not valid JSON5"):
        TargetDatabase(find_tree(tmp_path))
    monkeypatch.setenv("MBED_OS_PATH", str(MBED_OS))
    assert find_tree(None).root == MBED_OS.resolve()


# ---- mbed-tools detect --------------------------------------------------------------------------


def test_detect_listing():
    devices = parse_detect_output((FIXTURES / "detect.json").read_text())
    assert [d.board_type for d in devices] == ["NUCLEO_F746ZG", "K64F"]
    nucleo = select_device(devices, "NUCLEO_F746ZG")
    assert (nucleo.serial_port, nucleo.mount_points) == ("/dev/ttyACM0", ("/media/utvm/NODE_F746ZG",))
    # a target whose name differs from mbed-tools' board type is matched by its detect_code
    assert select_device(devices, "FRDM_K64F", detect_codes=["0240"]).serial_port == "/dev/ttyACM1"
    assert parse_detect_output("No connected Mbed devices found.\n") == []
    with pytest.raises(DeviceNotFound, match="no connected NUCLEO_F767ZI board.*NUCLEO_F746ZG"):
        select_device(devices, "NUCLEO_F767ZI")


def test_detect_two_boards_of_one_type():
    row = json.loads((FIXTURES / "detect.json").read_text())[0]
    rows = []
    for i, serial in enumerate(("AAA", "BBB")):
        rows.append({**row, "serial_number": serial, "mbed_board": {**row["mbed_board"],
                                                                    "build_targets": [f"NUCLEO_F746ZG[{i}]"]}})
    devices = parse_detect_output(json.dumps(rows))
    with pytest.raises(DeviceNotFound, match="serial_number"):
        select_device(devices, "NUCLEO_F746ZG")
    assert select_device(devices, "NUCLEO_F746ZG", serial="bbb").serial_number == "BBB"
