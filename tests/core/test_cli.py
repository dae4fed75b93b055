"""The utvm command line: exit codes, one-line errors, nothing overwritten without --force."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

import pytest

from utvm.cli import main
from utvm.demo import make_demo_model
from utvm.frontend.model_builder import ModelBuilder


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "sine.tflite"
    path.write_bytes(make_demo_model())
    return path


def test_compile_writes_archive_and_reports_json(tmp_path, demo_file, capsys):
    out = tmp_path / "sine.tar"
    assert main(["compile", str(demo_file), "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["archive"] == str(out) and result["operators"] == 3 and result["arena_bytes"] > 0
    assert tarfile.is_tarfile(out)


def test_compile_refuses_existing_output_and_keeps_it(tmp_path, demo_file, capsys):
    out = tmp_path / "sine.tar"
    out.write_text("mine")
    assert main(["compile", str(demo_file), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--force" in err[0]
    assert out.read_text() == "mine"
    assert main(["compile", str(demo_file), "-o", str(out), "--force"]) == 0
    assert tarfile.is_tarfile(out)


def test_malformed_model_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x18\x00\x00\x00TFL3" + bytes(range(40)))
    out = tmp_path / "bad.tar"
    assert main(["compile", str(bad), "-o", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.endswith("...")]
    assert len(err) == 1 and err[0].startswith("utvm: error: malformed TFLite model")
    assert not out.exists()


def test_unsupported_operator_names_op_and_writes_nothing(tmp_path, capsys):
    mb = ModelBuilder("m")
    x = mb.input("x", (1, 4), "float32")
    y = mb.tensor("y", (1, 4), "float32")
    mb.op("EXP", [x], [y])
    mb.output(y)
    model = tmp_path / "exp.tflite"
    model.write_bytes(mb.build())
    out = tmp_path / "exp.tar"
    assert main(["compile", str(model), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "EXP" in err and "operator 0" in err and "'x'" in err
    assert not out.exists()


def test_missing_model_file(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "nope.tflite")]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_unknown_option_exits_2():
    proc = subprocess.run([sys.executable, "-m", "utvm.cli", "compile", "m.tflite", "--frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--frobnicate" in proc.stderr


def test_demo_command_runs_bit_exact(capsys, tflm):
    assert main(["demo", "--platform", "host", "--points", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mismatches"] == 0 and result["reference"] is True
    assert len(result["rows"]) == 5
    assert all(abs(r["utvm"] - r["sin_x"]) < 0.1 for r in result["rows"])


def test_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "utvm.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("compile", "demo", "demo-model"):
        assert command in proc.stdout


def test_demo_defaults_to_the_emulated_cortex_m4(capsys, tflm):
    import shutil

    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("arm-none-eabi-gcc and qemu-system-arm are needed (bash scripts/setup.sh installs them)")
    assert main(["demo", "--points", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["platform"], result["board"]) == ("baremetal_cmsis", "mps2-an386")
    assert result["mismatches"] == 0
    # A 1-16-16-1 MLP is a few thousand instructions on a Cortex-M4, and QEMU icount counts them exactly.
    assert all(1000 < r["instructions"] < 20000 for r in result["rows"])
