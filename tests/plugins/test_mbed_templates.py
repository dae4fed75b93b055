"""The generated main.cpp compiles, for both project types and several cores.

main.cpp is compiled with arm-none-eabi-g++ (C++14, -Wall -Wextra -Werror, no exceptions or RTTI,
as Mbed OS builds) against the project's own runtime headers and, for Mbed, only the declarations
in tests/fixtures/mbed/include/mbed.h, written from Mbed OS 6's documented API. Then it is linked
with the model, the runtime and tests/fixtures/mbed/stubs.cpp, which proves every symbol main.cpp
takes from the C runtime resolves with C linkage.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.project_api import connect

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mbed"
ARGV = [sys.executable, "-m", "utvm.platforms.mbed.server"]
CXX = shutil.which("arm-none-eabi-g++")
CC = shutil.which("arm-none-eabi-gcc")
CXXFLAGS = ["-std=c++14", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti"]

#: (name, compiler flags, RTOS present): the cores Mbed builds for, as its GCC_ARM core files set them.
CORES = [
    ("cortex-m7f-rtos", ["-mthumb", "-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=softfp", "-D__CORTEX_M=7U"],
     True),
    ("cortex-m0plus-baremetal", ["-mthumb", "-mcpu=cortex-m0plus"], False),
    ("cortex-m33-rtos", ["-mthumb", "-mcpu=cortex-m33+nodsp", "-mfpu=fpv5-sp-d16", "-mfloat-abi=softfp"], True),
]

pytestmark = pytest.mark.skipif(CXX is None or CC is None,
                                reason="arm-none-eabi-gcc/g++ not installed (apt-get install gcc-arm-none-eabi)")


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mbed-templates")
    model = tmp / "sine.tflite"
    model.write_bytes(make_demo_model())
    mlf = utvm.compile(model, name="sine").export(tmp / "sine.tar")
    out = {}
    with connect(ARGV) as client:
        for kind in ("host_driven", "standalone"):
            out[kind] = tmp / kind
            client.generate_project(mlf, out[kind], "NUCLEO_F746ZG",
                                    {"mbed_os_path": str(FIXTURES / "mbed-os"), "project_type": kind})
    return out


def _sources(project: Path) -> list[str]:
    text = (project / "CMakeLists.txt").read_text()
    block = re.search(r"add_executable\(\$\{APP_TARGET\}(.*?)\)", text, re.S).group(1)
    return block.split()


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stdout}{proc.stderr}"


def _includes(project: Path) -> list[str]:
    return [f"-I{project / 'model' / 'runtime' / 'include'}", f"-I{project / 'model' / 'codegen' / 'host' / 'include'}"]


@pytest.mark.parametrize("kind", ["host_driven", "standalone"])
@pytest.mark.parametrize("core, flags, rtos", CORES, ids=[c[0] for c in CORES])
def test_main_cpp_compiles(projects, tmp_path, kind, core, flags, rtos):
    project = projects[kind]
    defines = ["-DMBED_CONF_RTOS_PRESENT=1"] if rtos else []
    _run([CXX, *CXXFLAGS, *flags, *defines, f"-I{FIXTURES / 'include'}", *_includes(project),
          "-c", str(project / "main.cpp"), "-o", str(tmp_path / "main.o")])


@pytest.mark.parametrize("kind", ["host_driven", "standalone"])
def test_main_cpp_links_with_the_runtime(projects, tmp_path, kind):
    project = projects[kind]
    _, flags, _ = CORES[0]
    objects = []
    for source in _sources(project):
        obj = tmp_path / (Path(source).name + ".o")
        if source.endswith(".cpp"):
            _run([CXX, *CXXFLAGS, *flags, "-DMBED_CONF_RTOS_PRESENT=1", f"-I{FIXTURES / 'include'}",
                  *_includes(project), "-c", str(project / source), "-o", str(obj)])
        else:
            _run([CC, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", *flags, *_includes(project),
                  "-c", str(project / source), "-o", str(obj)])
        objects.append(str(obj))
    stubs = tmp_path / "stubs.o"
    _run([CXX, *CXXFLAGS, *flags, "-DMBED_CONF_RTOS_PRESENT=1", f"-I{FIXTURES / 'include'}",
          "-c", str(FIXTURES / "stubs.cpp"), "-o", str(stubs)])
    elf = tmp_path / "app.elf"
    _run([CXX, *flags, "--specs=nosys.specs", "-Wl,--gc-sections", *objects, str(stubs), "-o", str(elf)])
    symbols = subprocess.run([shutil.which("arm-none-eabi-nm") or "nm", str(elf)], capture_output=True,
                             text=True).stdout
    assert re.search(r" T main$", symbols, re.M) and re.search(r" [RDB] utvm_model$", symbols, re.M)
    assert (" T utvm_standalone_run" in symbols) == (kind == "standalone")
    assert (" T utvm_rpc_server_poll" in symbols) == (kind == "host_driven")


# ---- running it: QEMU's MPS2 AN386 with a stand-in for Mbed's UART and timer ---------------------

QEMU = shutil.which("qemu-system-arm")
M4 = ["-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=softfp"]


def _qemu_image(project: Path, out: Path) -> Path:
    """The project's main.cpp, model and runtime linked with tests/fixtures/mbed/qemu/ (not Mbed)."""
    out.mkdir()
    objects = []
    for source in _sources(project):
        obj = out / (Path(source).name + ".o")
        if source.endswith(".cpp"):
            _run([CXX, *CXXFLAGS, *M4, f"-I{FIXTURES / 'include'}", *_includes(project), "-c", str(project / source),
                  "-o", str(obj)])
        else:
            _run([CC, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", *M4, *_includes(project), "-c",
                  str(project / source), "-o", str(obj)])
        objects.append(str(obj))
    harness = out / "mps2_mbed.o"
    _run([CXX, *CXXFLAGS, *M4, f"-I{FIXTURES / 'include'}", "-c", str(FIXTURES / "qemu" / "mps2_mbed.cpp"), "-o",
          str(harness)])
    elf = out / "app.elf"
    _run([CXX, *M4, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-T",
          str(FIXTURES / "qemu" / "mps2.ld"), "-Wl,--gc-sections", *objects, str(harness), "-o", str(elf)])
    return elf


class _Qemu:
    def __init__(self, elf: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [QEMU, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-kernel", str(elf),
             "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def open(self, client, project: Path) -> None:
        """open_transport on the UART's TCP socket, once QEMU listens."""
        import time

        from utvm.project_api import TransportError

        for _ in range(100):
            try:
                client.open_transport(project, {"port": f"socket://127.0.0.1:{self.port}"})
                return
            except TransportError:
                if self.proc.poll() is not None:
                    raise
                time.sleep(0.05)
        raise AssertionError("QEMU's UART socket never accepted a connection")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed (apt-get install qemu-system-arm)")
def test_generated_images_run_a_session_on_qemu(tmp_path):
    import json

    import numpy as np

    from utvm.project import ProjectTransport
    from utvm.session import Session

    model = tmp_path / "sine.tflite"
    model.write_bytes(make_demo_model())
    mlf = utvm.compile(model, name="sine").export(tmp_path / "sine.tar")
    x = np.array([[-77]], dtype=np.int8)
    want = utvm.host.run(mlf, [x])[0]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", want)
    base = {"mbed_os_path": str(FIXTURES / "mbed-os"), "timer": "microseconds"}  # QEMU has no DWT
    with connect(ARGV) as client:
        hd = tmp_path / "hd"
        client.generate_project(mlf, hd, "NUCLEO_F746ZG", base)
        sa = tmp_path / "sa"
        client.generate_project(mlf, sa, "NUCLEO_F746ZG", {**base, "project_type": "standalone",
                                                           "inputs": str(tmp_path / "x.npy"),
                                                           "expected_outputs": str(tmp_path / "y.npy")})
        qemu = _Qemu(_qemu_image(hd, tmp_path / "hd-build"))
        try:
            qemu.open(client, hd)
            metadata = json.loads((hd / "model" / "metadata.json").read_text())
            with Session(ProjectTransport(client), timeout_s=10.0) as session:
                info = session.start()
                assert (info.name, info.timer_unit, info.ticks_per_second) == ("sine", "us", 1000000)
                (got,) = session.infer([x], metadata)
            np.testing.assert_array_equal(got, want)
        finally:
            qemu.stop()

        qemu = _Qemu(_qemu_image(sa, tmp_path / "sa-build"))
        try:
            qemu.open(client, sa)
            text = b""
            for _ in range(2):  # the first run at boot, then one run per byte received
                while b"run again\n" not in text:
                    chunk = client.read_transport(256, 10.0)
                    assert chunk, f"no output from the standalone image; got {text!r}"
                    text += chunk
                lines = text.decode().splitlines()
                assert lines[:4] == ["utvm: timer us 1000000", f"utvm: output 0: {int(want.reshape(-1)[0])}",
                                     lines[2], "utvm: status ok"] and lines[2].startswith("utvm: ticks ")
                text = b""
                client.write_transport(b"\n", 1.0)
        finally:
            client.close_transport()
            qemu.stop()
