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
from utvm.ops.dsp import fully_connected_dsp
from utvm.tune import REFERENCE, coordinate_descent, read_tuning, tune

FEATURE = "dsp"  # the host has no ISA features; the test target claims one so its variants apply


@pytest.fixture
def test_variants(monkeypatch):
    """Three FULLY_CONNECTED variants for the test target: one that cannot link, one that is the
    reference under another name, and the real DSP kernel (its portable C runs on the host)."""
    registry = {}

    def broken(op, graph, call):
        # A call of a kernel that exists nowhere: the build fails at link time, for real.
        return base.KernelCall(**{**call.__dict__, "function": "utvm_fully_connected_s8_missing"})

    def same(op, graph, call):
        return call

    registry["FULLY_CONNECTED"] = [(FEATURE, "broken", broken), (FEATURE, "same", same),
                                   (FEATURE, "dsp", fully_connected_dsp)]
    monkeypatch.setattr(base, "_VARIANTS", registry)


def host_target():
    from utvm.cli_project import fetch_target

    return {**fetch_target("host", "native"), "features": [FEATURE]}


def test_tune_survives_build_failure_and_hung_device(test_variants, tmp_path):
    devices = []  # (pid, process group) of every device started: the group is its project server's

    def on_device(project, opened):
        devices.append((opened["pid"], os.getpgid(opened["pid"])))
        if len(devices) == 2:  # the first trial after the baseline that runs: its device hangs
            os.kill(opened["pid"], signal.SIGSTOP)

    lines = []
    result = tune(make_demo_model(), "host", "native", host_target(), timeout_s=2.0, log=lines.append,
                  on_device=on_device)
    trials = result.trials
    errors = [t.error for t in trials if t.error]
    # 3 FC layers x (broken, same, dsp): every broken build failed and was skipped; the first dsp
    # trial's device hung and was skipped; "same" compiles to the code already measured: not rebuilt.
    assert len(trials) == 1 + 3 * 3
    assert sum("BuildFailed" in e for e in errors) == 3
    assert sum("DeviceTimeout" in e or "no answer" in e for e in errors) == 1
    assert len(errors) == 4
    repeats = [t for t in trials if t.kernel == "same"]
    assert len(repeats) == 3 and all(t.same_as is not None and t.seconds == 0 for t in repeats)
    assert all(t.ticks == trials[t.same_as].ticks for t in repeats)
    assert len(devices) == 1 + 3  # the baseline and the dsp trials: nothing else started a device
    # A server that reported a failed build serves on; one whose device hung is replaced.
    assert devices[2][1] == devices[3][1] != devices[1][1]
    assert result.kernels[0] == REFERENCE  # its dsp trial hung
    assert set(result.kernels.values()) <= {REFERENCE, "dsp"} and result.best_ticks <= result.baseline_ticks
    for layer in result.layers:
        assert layer.ticks <= layer.reference
        assert set(layer.candidates) == {"broken", "same", "dsp"}
    for pid, _ in devices:  # no device process is left behind, stopped or not
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_trials_rebuild_one_project_incrementally_and_a_failure_starts_afresh(monkeypatch):
    """Each trial regenerates the same project folder and recompiles only what changed; after a
    failed build the folder is gone, so the next trial builds everything again."""

    def broken(op, graph, call):
        return base.KernelCall(**{**call.__dict__, "function": "utvm_fully_connected_s8_missing"})

    monkeypatch.setattr(base, "_VARIANTS", {"FULLY_CONNECTED": [(FEATURE, "dsp", fully_connected_dsp),
                                                                (FEATURE, "broken", broken)]})
    lines, projects = [], []
    result = tune(make_demo_model(), "host", "native", host_target(), timeout_s=10.0, on_stderr=lines.append,
                  on_device=lambda project, opened: projects.append(project.path))
    # Each build is one make run ("Entering directory"); its compiles are the lines with "-c".
    builds: list[int] = []
    for line in lines:
        if "Entering directory" in line:
            builds.append(0)
        elif " -c " in line and builds:
            builds[-1] += 1
    assert [t.kernel for t in result.trials] == [None, "dsp", "broken", "dsp", "broken", "dsp", "broken"]
    assert [bool(t.error) for t in result.trials] == [False, False, True, False, True, False, True]
    assert len(set(projects)) == 1  # one folder for every trial
    full = builds[0]
    # The baseline builds everything; the first dsp trial only the model, the glue and the dsp kernel;
    # a broken build only the model and the glue; the dsp trial after it everything again (and one
    # kernel more than the baseline: the dsp one beside the reference one).
    assert len(builds) == 7 and builds[1] == 3 and builds[2] == 2 and builds[3] == builds[5] == full + 1 >= 7, builds


def test_coordinate_descent_keeps_only_strict_improvements():
    costs = {REFERENCE: 100, "fast": 60, "slow": 140}

    def measure(kernels):
        return sum(costs[v] for v in kernels.values())

    kernels, best, trials = coordinate_descent({0: [REFERENCE, "slow", "fast"], 1: [REFERENCE, "slow"]}, measure)
    assert kernels == {0: "fast", 1: REFERENCE} and best == 160
    assert [t.ticks for t in trials] == [200, 240, 160, 200]


def test_coordinate_descent_does_not_measure_the_same_code_twice():
    costs = {REFERENCE: 100, "alias": 100, "fast": 60}
    measured = []

    def measure(kernels):
        measured.append(dict(kernels))
        return sum(costs[v] for v in kernels.values())

    def fingerprint(kernels):  # "alias" compiles to the reference kernel's code
        return repr(sorted((i, REFERENCE if v == "alias" else v) for i, v in kernels.items()))

    kernels, best, trials = coordinate_descent({0: [REFERENCE, "alias", "fast"], 1: [REFERENCE, "alias"]}, measure,
                                               fingerprint=fingerprint)
    assert kernels == {0: "fast", 1: REFERENCE} and best == 160
    assert [t.same_as for t in trials] == [None, 0, None, 2]
    assert [t.ticks for t in trials] == [200, 200, 160, 160]
    assert len(measured) == 2  # the baseline and "fast": each "alias" took the figure of the code it repeats
    assert [(t.operator, t.kernel, t.against) for t in trials[1:]] == [(0, "alias", 200), (0, "fast", 200),
                                                                       (1, "alias", 160)]


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
