"""Real Zephyr builds: run when a Zephyr tree (ZEPHYR_BASE) and west are installed, skip otherwise.

What they need: ``ZEPHYR_BASE`` pointing at a west workspace's zephyr/ folder, ``west`` on PATH,
the Zephyr SDK (or another toolchain Zephyr accepts) and, for the default QEMU target,
qemu-system-arm. ``UTVM_ZEPHYR_BOARD`` picks another QEMU board target (default
qemu_cortex_m3). The tests go through the project server exactly as utvm does: target_info
configures the board, generate_project writes the application, build runs ``west build``,
open_transport runs ``west build -t run`` with QEMU's console on a pipe.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.project import ProjectTransport
from utvm.project_api import connect
from utvm.session import Session

ARGV = [sys.executable, "-m", "utvm.platforms.zephyr.server"]
BOARD = os.environ.get("UTVM_ZEPHYR_BOARD", "qemu_cortex_m3")
TIMEOUTS = {"build": 1800, "target_info": 600, "generate_project": 600}


def _zephyr() -> Path:
    base = os.environ.get("ZEPHYR_BASE")
    if not base:
        pytest.skip("real Zephyr builds need ZEPHYR_BASE (a Zephyr tree) and west; ZEPHYR_BASE is not set")
    if not (Path(base) / "boards").is_dir():
        pytest.skip(f"ZEPHYR_BASE={base} is not a Zephyr tree (no boards/ folder)")
    if shutil.which("west") is None:
        pytest.skip("real Zephyr builds need west on PATH (pip install west)")
    return Path(base)


@pytest.fixture(scope="module")
def zephyr_env(tmp_path_factory):
    _zephyr()
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not on PATH (apt-get install qemu-system-arm)")
    env = dict(os.environ)
    env["UTVM_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlf")
    compiled = utvm.compile(make_demo_model(), name="sine")
    return compiled, compiled.export(tmp / "sine.tar")


def test_real_target_info_reads_the_configured_board(zephyr_env):
    with connect(ARGV, env=zephyr_env, timeouts=TIMEOUTS, stderr_callback=lambda line: None) as client:
        info = client.target_info(BOARD, {"configure": "always"})
    assert info["source"] == "configured-build"
    assert info["cpu"].startswith("cortex-m") and info["arch"].startswith("armv")
    names = {r["name"] for r in info["memory_regions"]}
    assert {"FLASH", "SRAM"} <= names and info["console"] is not None
    assert "qemu" in info["emulators"]


def test_real_host_driven_build_runs_bit_exact_in_qemu(zephyr_env, demo, tmp_path):
    compiled, mlf = demo
    project = tmp_path / "hd"
    lines: list[str] = []
    with connect(ARGV, env=zephyr_env, timeouts=TIMEOUTS, stderr_callback=lines.append) as client:
        client.generate_project(mlf, project, BOARD, {})
        result = client.build(project, {})
        assert any(a.endswith("zephyr.elf") for a in result["artifacts"]), "\n".join(lines[-40:])
        client.flash(project, {})
        client.open_transport(project, {})
        xs = [np.array([[v]], dtype=np.int8) for v in (-128, -77, 0, 42, 127)]
        with Session(ProjectTransport(client), timeout_s=30.0) as session:
            info = session.start()
            assert info.name == "sine" and info.timer_unit == "ticks"
            for x in xs:
                got = session.infer([x], compiled.metadata)[0]
                np.testing.assert_array_equal(got, utvm.host.run(compiled, [x])[0])


def test_real_standalone_build_prints_its_outputs(zephyr_env, demo, tmp_path):
    compiled, mlf = demo
    x = np.array([[-77]], dtype=np.int8)
    want = utvm.host.run(compiled, [x])[0]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", want)
    project = tmp_path / "sa"
    with connect(ARGV, env=zephyr_env, timeouts=TIMEOUTS, stderr_callback=lambda line: None) as client:
        client.generate_project(mlf, project, BOARD, {"project_type": "standalone", "inputs": str(tmp_path / "x.npy"),
                                                      "expected_outputs": str(tmp_path / "y.npy")})
        client.build(project, {})
        client.open_transport(project, {})
        text = b""
        deadline = time.monotonic() + 120
        while b"utvm: exit" not in text and time.monotonic() < deadline:
            text += client.read_transport(4096, 1.0)
        client.close_transport()
    out = text.decode(errors="replace")
    assert f"utvm: output 0: {int(want.reshape(-1)[0])}" in out and "utvm: status ok" in out, out
