"""The standalone application's test data (utvm.project_files): its own section where the compiler allows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.host import c_compiler
from utvm.project_files import STANDALONE_DATA_SECTION, standalone_data_source

RUNTIME_INCLUDE = Path(utvm.__file__).resolve().parent / "runtime" / "include"

METADATA = {
    "inputs": [{"name": "x", "shape": [1, 300], "dtype": "int8", "bytes": 300}],
    "outputs": [{"name": "y", "shape": [1, 2], "dtype": "int16", "bytes": 4}],
}


def _source(tmp_path: Path) -> Path:
    x = np.arange(300).astype(np.int8).reshape(1, 300)
    y = np.array([[-2, 513]], dtype=np.int16)
    path = tmp_path / "utvm_standalone_data.c"
    path.write_text(standalone_data_source(METADATA, [x], [y]))
    return path


def _section_sizes(objdump: str, obj: Path) -> dict[str, int]:
    out = subprocess.run([objdump, "-h", str(obj)], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[0].isdigit():
            sizes[parts[1]] = int(parts[2], 16)
    return sizes


def test_arrays_are_marked_for_the_test_data_section(tmp_path):
    text = _source(tmp_path).read_text()
    assert text.count("UTVM_STANDALONE_DATA") == 2  # input_0 and expected_0, not the pointer tables
    assert '#include "utvm/app/standalone.h"' in text
    header = (RUNTIME_INCLUDE / "utvm" / "app" / "standalone.h").read_text()
    assert f'UTVM_SECTION("{STANDALONE_DATA_SECTION}")' in header


@pytest.mark.skipif(sys.platform != "linux", reason="reads an ELF object")
def test_host_compiler_puts_the_test_data_in_its_section(tmp_path):
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump is not installed")
    obj = tmp_path / "data.o"
    subprocess.run([c_compiler(), "-c", "-O2", "-std=c99", "-Wall", "-Werror", "-fdata-sections", "-fPIC",
                    f"-I{RUNTIME_INCLUDE}", str(_source(tmp_path)), "-o", str(obj)], check=True)
    assert 300 + 4 <= _section_sizes(objdump, obj)[STANDALONE_DATA_SECTION] < 300 + 4 + 64  # + alignment


def test_avr_keeps_the_test_data_where_it_was(tmp_path):
    """On AVR the macro is empty: the arrays stay ordinary .rodata (which avr-ld copies to RAM)."""
    gcc, objdump = shutil.which("avr-gcc"), shutil.which("avr-objdump")
    if gcc is None or objdump is None:
        pytest.skip("avr-gcc is not installed (apt-get install gcc-avr binutils-avr avr-libc)")
    obj = tmp_path / "data.o"
    subprocess.run([gcc, "-mmcu=atmega328p", "-c", "-Os", "-std=gnu99", "-fdata-sections",
                    f"-I{RUNTIME_INCLUDE}", str(_source(tmp_path)), "-o", str(obj)], check=True)
    sections = _section_sizes(objdump, obj)
    assert STANDALONE_DATA_SECTION not in sections
    assert sections[".rodata.input_0"] == 300 and sections[".rodata.expected_0"] == 4
