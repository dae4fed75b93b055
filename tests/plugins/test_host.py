"""The host plugin through the real Project API: projects generated, built with make, run host-driven."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

import utvm
from utvm.cli import main
from utvm.cli_project import run_project
from utvm.demo import make_demo_model
from utvm.errors import UtvmError
from utvm.project import create_project
from utvm.project_api import BoardNotFound, get_platform, connect

from ..conftest import SHARED_MODELS, shared_model


class Quiet:
    def step(self, message):
        return lambda: None


CLEAN_ENV = {"PATH": "/usr/bin:/bin"}  # no Python, no utvm: what a user's plain shell has


@pytest.fixture(scope="module")
def demo_mlf(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlf")
    model = tmp / "sine.tflite"
    model.write_bytes(make_demo_model())
    return model, utvm.compile(model, name="sine").export(tmp / "sine.tar")


def _build_and_flash(project):
    with project.connect() as client:
        client.build(project.path, client.select_options("build", project.options))
        return client.flash(project.path, {})


@pytest.mark.parametrize("io_in_arena", [False, True], ids=["io-caller", "io-arena"])
@pytest.mark.parametrize("name", sorted(SHARED_MODELS))
def test_shared_model_host_driven_bit_exact(name, io_in_arena, tmp_path, tflm):
    """Through the RPC glue: its own I/O buffers, or (io in the arena) the arena's input and output places."""
    model = shared_model(name)
    mlf = utvm.compile(model, io_in_arena=io_in_arena).export(tmp_path / "m.tar")
    project = create_project(tmp_path / "p", mlf, "host", "native", {})
    _build_and_flash(project)
    result = run_project(project, None, str(model), seed=3, timeout_s=20.0, progress=Quiet())
    assert result["bit_exact"] is True
    assert result["timer_unit"] == "ns" and result["ticks"] > 0


def test_deploy_demo_from_cli(demo_mlf, capsys, tflm):
    model, _ = demo_mlf
    assert main(["deploy", str(model), "--platform", "host", "--board", "native", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bit_exact"] is True and result["platform"] == "host"


def test_generated_projects_build_with_plain_make_without_utvm(demo_mlf, tmp_path, tflm):
    model, mlf = demo_mlf
    x = np.array([[-77]], dtype=np.int8)
    want = tflm(model.read_bytes(), [x])[0]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "good.npy", want)
    np.save(tmp_path / "bad.npy", (want.astype(np.int16) + 1).clip(-128, 127).astype(np.int8))
    for expected, status in (("good.npy", 0), ("bad.npy", 1)):
        project_dir = tmp_path / f"standalone-{status}"
        create_project(project_dir, mlf, "host", "native", {
            "project_type": "standalone", "inputs": tmp_path / "x.npy", "expected_outputs": tmp_path / expected})
        subprocess.run(["make", "-s"], cwd=project_dir, env=CLEAN_ENV, check=True)
        proc = subprocess.run(["./build/model"], cwd=project_dir, env=CLEAN_ENV, capture_output=True, text=True)
        assert proc.returncode == status
        assert f"utvm: output 0: {int(want.reshape(-1)[0])}" in proc.stdout
    host_driven = tmp_path / "hd"
    create_project(host_driven, mlf, "host", "native", {})
    subprocess.run(["make", "-s"], cwd=host_driven, env=CLEAN_ENV, check=True)
    assert os.access(host_driven / "build" / "model", os.X_OK)


def test_create_project_refuses_non_empty_folder(demo_mlf, tmp_path, capsys):
    _, mlf = demo_mlf
    target = tmp_path / "p"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    code = main(["create-project", str(target), "--mlf", str(mlf), "--platform", "host", "--board", "native"])
    assert code == 2 and "--force" in capsys.readouterr().err
    assert (target / "notes.txt").read_text() == "mine"
    assert main(["create-project", str(target), "--mlf", str(mlf), "--platform", "host", "--board", "native",
                 "--force"]) == 0
    assert not (target / "notes.txt").exists() and (target / "utvm-project.json").is_file()


@pytest.mark.parametrize(
    "pair, words",
    [("colour=red", ["unknown option 'colour'", "project_type", "jobs"]),
     ("project_type=bogus", ["project_type", "host_driven", "standalone"]),
     ("jobs=many", ["jobs", "int"])],
)
def test_bad_options_name_the_option(demo_mlf, tmp_path, capsys, pair, words):
    _, mlf = demo_mlf
    code = main(["create-project", str(tmp_path / "p"), "--mlf", str(mlf), "--platform", "host", "--board",
                 "native", "-o", pair])
    err = capsys.readouterr().err
    assert code == 2
    for w in words:
        assert w in err
    assert not (tmp_path / "p").exists()


def test_target_info_boards_and_unknown_board():
    with connect(get_platform("host").server_argv) as client:
        (board,) = client.boards()
        info = client.target_info(board["name"])
        assert info["memory_regions"][0]["length"] > 0 and info["cpu"]
        with pytest.raises(BoardNotFound, match="native"):
            client.target_info("teensy")


def test_build_run_need_a_project(tmp_path, capsys):
    assert main(["build", str(tmp_path)]) == 2
    assert "not a utvm project" in capsys.readouterr().err
    with pytest.raises(UtvmError):
        create_project(tmp_path / "p", tmp_path / "missing.tar", "host", "native", {})


def test_compile_for_a_board_records_its_target(demo_mlf, tmp_path, capsys):
    model, _ = demo_mlf
    out = tmp_path / "t.tar"
    assert main(["compile", str(model), "-o", str(out), "--platform", "host", "--board", "native"]) == 0
    from utvm.mlf import read_mlf

    target = read_mlf(out).metadata["target"]
    assert target["board"] == "native" and target["memory_regions"][0]["length"] > 0
    assert main(["compile", str(model), "-o", str(tmp_path / "u.tar"), "--platform", "host"]) == 2
    assert "--platform and --board go together" in capsys.readouterr().err
