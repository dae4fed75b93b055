"""utvm tune runs unattended: it survives a failed build and a device that stops answering,
and keeps only strict improvements."""

from __future__ import annotations

import json
import os
import signal

import pytest

from utvm.cli import main
from utvm.demo import make_demo_model
from utvm.errors import UtvmError
from utvm.ops import base
from utvm.tune import REFERENCE, coordinate_descent, read_tuning, tune

FEATURE = "dsp"  # the host has no ISA features; the test target claims one so its variants apply


@pytest.fixture
def test_variants(monkeypatch):
    """Two FULLY_CONNECTED variants for the test target: one that cannot link, one that is the reference."""
    registry = {}

    def broken(op, graph, call):
        # A call of a kernel that exists nowhere: the build fails at link time, for real.
        return base.KernelCall(**{**call.__dict__, "function": "utvm_fully_connected_s8_missing"})

    def same(op, graph, call):
        return call

    registry["FULLY_CONNECTED"] = [(FEATURE, "broken", broken), (FEATURE, "same", same)]
    monkeypatch.setattr(base, "_VARIANTS", registry)


def host_target():
    from utvm.cli_project import fetch_target

    return {**fetch_target("host", "native"), "features": [FEATURE]}


def test_tune_survives_build_failure_and_hung_device(test_variants, tmp_path):
    devices = []

    def on_device(project, opened):
        devices.append(opened["pid"])
        if len(devices) == 2:  # the first trial after the baseline that builds: its device hangs
            os.kill(opened["pid"], signal.SIGSTOP)

    lines = []
    result = tune(make_demo_model(), "host", "native", host_target(), timeout_s=2.0, log=lines.append,
                  on_device=on_device)
    errors = [t.error for t in result.trials if t.error]
    # 3 FC layers x (broken, same): every broken build failed and was skipped; one device hung and was skipped.
    assert sum("BuildFailed" in e for e in errors) == 3
    assert sum("DeviceTimeout" in e or "no answer" in e for e in errors) == 1
    assert len(result.trials) == 1 + 3 * 2
    assert set(result.kernels.values()) <= {REFERENCE, "same"} and result.best_ticks <= result.baseline_ticks
    for pid in devices:  # no device process is left behind, stopped or not
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_coordinate_descent_keeps_only_strict_improvements():
    costs = {REFERENCE: 100, "fast": 60, "slow": 140}

    def measure(kernels):
        return sum(costs[v] for v in kernels.values())

    kernels, best, trials = coordinate_descent({0: [REFERENCE, "slow", "fast"], 1: [REFERENCE, "slow"]}, measure)
    assert kernels == {0: "fast", 1: REFERENCE} and best == 160
    assert [t.ticks for t in trials] == [200, 240, 160, 200]


def test_tuning_file_round_trip_and_model_check(test_variants, tmp_path, capsys):
    model = tmp_path / "sine.tflite"
    model.write_bytes(make_demo_model())
    doc = {"version": 1, "model_sha256": "0" * 64, "kernels": {"0": "same"}}
    (tmp_path / "t.json").write_text(json.dumps(doc))
    with pytest.raises(UtvmError, match="another model"):
        read_tuning(tmp_path / "t.json", model.read_bytes())
    assert read_tuning(tmp_path / "t.json") == {0: "same"}
    assert main(["compile", str(model), "-o", str(tmp_path / "m.tar"), "--tuning", str(tmp_path / "t.json")]) == 2
    assert "another model" in capsys.readouterr().err
