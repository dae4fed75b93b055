"""Regenerating a project in place, as ``utvm tune`` does between trials, and the incremental build.

On the host platform (the system C compiler) and on baremetal_cmsis (arm-none-eabi-gcc): the
same model regenerated writes nothing and the build compiles nothing; a changed model (the demo
model with other weights) writes only the model's files and the build recompiles only what they
touch, into the image a clean build makes. On the host also: what ``create-project --force``
keeps, and a regeneration that renames the model and changes the project type (stale files
deleted, new compile flags rebuilding every object).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import utvm
from utvm.cli import main
from utvm.demo import make_demo_model
from utvm.project import PROJECT_FILE, create_project
from utvm.project_api import connect, get_platform
from utvm.project_api.generated import MANIFEST, read_manifest

OLD_NS = 1_000_000_000 * 10**9  # a modification time long past: any write shows

PLATFORMS = {
    "host": ("native", "build/model"),
    "baremetal_cmsis": ("mps2-an386", "build/firmware.elf"),
}
COMPILE = re.compile(r"\s-c\s+(\S+\.c)\s")


@pytest.fixture(scope="module")
def models():
    return make_demo_model(seed=1), make_demo_model(seed=2)


def _target(platform: str, board: str) -> dict | str:
    if platform == "host":
        return "host"
    from utvm.cli_project import fetch_target

    return fetch_target(platform, board)


def _age(root: Path) -> dict[str, int]:
    """Every file's and folder's time set long past, outside build/; returns them by path."""
    for p in root.rglob("*"):
        if "build" not in p.relative_to(root).parts:
            os.utime(p, ns=(OLD_NS, OLD_NS), follow_symlinks=False)
    return _times(root)


def _times(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.lstat().st_mtime_ns for p in root.rglob("*")
            if "build" not in p.relative_to(root).parts}


class Builder:
    """One project server generating and building ``project``; each build's compiled sources."""

    def __init__(self, platform: str, board: str, project: Path) -> None:
        self.board, self.project, self.lines = board, project, []
        self.client = connect(get_platform(platform).server_argv, stderr_callback=self.lines.append)

    def generate(self, mlf: Path) -> dict:
        return self.client.generate_project(mlf, self.project, self.board, {})

    def build(self) -> list[str]:
        self.lines.clear()
        self.client.build(self.project, {})
        return sorted(m.group(1) for line in self.lines if (m := COMPILE.search(line + " ")))


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_regenerated_project_rebuilds_only_what_changed(platform, models, tmp_path):
    board, image = PLATFORMS[platform]
    if platform == "baremetal_cmsis" and shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    target = _target(platform, board)
    one, two = (utvm.compile(m, name="sine", target=target).export(tmp_path / f"{k}.tar")
                for k, m in enumerate(models))
    project = tmp_path / "p"
    builder = Builder(platform, board, project)
    with builder.client:
        builder.generate(one)
        clean = builder.build()
        assert len(clean) >= 7 and "model/codegen/host/src/sine.c" in clean

        # The same model again: nothing written, nothing compiled, not even relinked.
        before = _age(project)
        linked = (project / image).stat().st_mtime_ns
        again = builder.generate(one)
        assert again["written"] == [] and again["removed"] == []
        assert _times(project) == before
        assert builder.build() == [] and (project / image).stat().st_mtime_ns == linked

        # Other weights: only the model's own files change, and only what they touch is recompiled.
        changed = builder.generate(two)
        model_files = {"model/codegen/host/src/sine.c", "model/codegen/host/include/sine.h",
                       "model/src/graph.json", "model/metadata.json", "model/src/utvm_glue.c"}
        assert "model/codegen/host/src/sine.c" in changed["written"] and set(changed["written"]) <= model_files
        assert changed["removed"] == []
        now = _times(project)
        assert {p for p in before if now[p] != before[p]} <= set(changed["written"]) | {
            str(Path(p).parent) for p in changed["written"]}  # and the folders they were replaced in
        rebuilt = builder.build()
        assert "model/codegen/host/src/sine.c" in rebuilt and len(rebuilt) < len(clean)
        assert set(rebuilt) <= model_files, rebuilt
        incremental = (project / image).read_bytes()

        # The incremental build made the image a clean build makes.
        shutil.rmtree(project / "build")
        assert builder.build() == clean
        assert (project / image).read_bytes() == incremental


def test_create_project_force_regenerates_in_place_and_keeps_the_rest(models, tmp_path, capsys):
    one, two = (utvm.compile(m, name="sine").export(tmp_path / f"{k}.tar") for k, m in enumerate(models))
    project = tmp_path / "p"
    argv = ["create-project", str(project), "--platform", "host", "--board", "native"]
    assert main([*argv, "--mlf", str(one)]) == 0
    (project / "notes.txt").write_text("mine")
    (project / "build").mkdir()
    (project / "build" / "keep.o").write_bytes(b"")
    before = _age(project)
    assert main([*argv, "--mlf", str(two)]) == 2 and "--force" in capsys.readouterr().err  # as ever
    assert _times(project) == before
    assert main([*argv, "--mlf", str(one), "--force"]) == 0
    assert _times(project) == before  # the same project: nothing rewritten, utvm-project.json included
    assert main([*argv, "--mlf", str(two), "--force"]) == 0
    now = _times(project)
    written = {p for p in before if now[p] != before[p]}
    assert "model/codegen/host/src/sine.c" in written and PROJECT_FILE not in written and "Makefile" not in written
    assert (project / "notes.txt").read_text() == "mine" and (project / "build" / "keep.o").is_file()


def test_regenerating_another_model_and_type_deletes_stale_files_and_rebuilds_on_new_flags(models, tmp_path):
    x = tmp_path / "x.npy"
    import numpy as np

    np.save(x, np.array([[17]], dtype=np.int8))
    standalone = utvm.compile(models[0], name="sine").export(tmp_path / "sine.tar")
    host_driven = utvm.compile(models[0], name="wave").export(tmp_path / "wave.tar")
    project = tmp_path / "p"
    create_project(project, standalone, "host", "native", {"project_type": "standalone", "inputs": x})
    subprocess.run(["make", "-s", "-C", str(project)], check=True, capture_output=True)
    out = subprocess.run([str(project / "build" / "model")], capture_output=True, text=True)
    assert out.returncode == 0 and "utvm: output 0:" in out.stdout

    create_project(project, host_driven, "host", "native", {}, force=True)
    files = set(read_manifest(project).files)
    assert "model/codegen/host/src/wave.c" in files and not (project / "model/codegen/host/src/sine.c").exists()
    assert not (project / "model/utvm_standalone_data.c").exists() and (project / MANIFEST).is_file()
    log = subprocess.run(["make", "-C", str(project)], check=True, capture_output=True, text=True).stdout
    # No -DUTVM_POSIX_NO_MAIN any more: every object compiled again, the stale ones included.
    assert "posix_stdio.c" in log and "fully_connected.c" in log
    # A host-driven program: it waits for requests and exits at the end of its input.
    out = subprocess.run([str(project / "build" / "model")], input=b"", capture_output=True, timeout=10)
    assert b"utvm: output" not in out.stdout
