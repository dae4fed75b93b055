"""The client against a real demo server process: round trip, typed errors, and every fault."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from utvm.project_api import (
    BoardNotFound,
    BuildFailed,
    InvalidOption,
    MissingOption,
    ProjectAPIError,
    ProjectClient,
    ServerCrashed,
    ServerError,
    ServerStartError,
    ServerTimeout,
    TransportClosed,
    UnsupportedOption,
    connect,
)

from .conftest import DEMO_ARGV


def test_round_trip(client, mlf, tmp_path):
    info = client.info
    assert info.platform_name == "demo" and info.protocol_version == 1 and info.version == "1.0"
    assert info.supports("flash") and [o.name for o in info.options_for("flash")] == ["log"]

    assert [b["name"] for b in client.boards()] == ["demo_m0", "demo_m4"]
    target = client.target_info("demo_m4")
    assert target["board"] == "demo_m4" and target["features"] == ["dsp", "fpu"]
    assert target["memory_regions"][1] == {"name": "RAM", "origin": 0x20000000, "length": 65536, "access": "rw"}

    project = tmp_path / "p"
    generated = client.generate_project(mlf, project, "demo_m4", {"project_type": "standalone", "verbose": True})
    assert generated == {"project_dir": str(project), "files": ["board.txt", "type.txt"], "verbose": True,
                         "written": ["board.txt", "type.txt"], "removed": []}
    assert (project / "type.txt").read_text() == "standalone"

    built = client.build(project, {"jobs": 3})
    assert built["artifacts"] == [str(project / "firmware.bin")] and built["jobs"] == 3 and built["verbose"] is False

    log = tmp_path / "flash.log"
    assert client.flash(project, {"log": str(log)}) == {"log_is_path": "PosixPath"}
    assert log.read_text() == f"flashed {project}\n"

    assert client.open_transport(project) == {"kind": "echo"}
    payload = bytes(range(256)) * 40
    assert client.write_transport(payload) == len(payload)
    received = b""
    while len(received) < len(payload):
        chunk = client.read_transport(4096, timeout=1.0)
        assert chunk, "echo data went missing"
        assert len(chunk) <= 4096
        received += chunk
    assert received == payload
    start = time.monotonic()
    assert client.read_transport(16, timeout=0.2) == b""  # nothing there: empty after the timeout
    assert time.monotonic() - start < 5
    client.close_transport()
    with pytest.raises(TransportClosed):
        client.read_transport(1, 0)
    assert client.close() == 0
    assert client.close() == 0  # twice is fine


def test_typed_errors_are_rebuilt(client, project):
    with pytest.raises(BoardNotFound) as info:
        client.target_info("nope")
    exc = info.value
    assert exc.board == "nope" and exc.available == ["demo_m0", "demo_m4"]
    assert exc.remote_type == "BoardNotFound" and exc.method == "target_info"
    assert "demo_server.py" in exc.remote_traceback

    with pytest.raises(BuildFailed) as info:
        client.build(project, {"mode": "fail"})
    assert info.value.returncode == 2 and info.value.command == ["make"] and info.value.log_tail == "error: x"

    with pytest.raises(ServerError) as info:
        client.build(project, {"mode": "raise"})
    exc = info.value
    assert exc.remote_type == "ValueError"
    assert str(exc) == "ValueError: demo build exploded"
    assert 'raise ValueError("demo build exploded")' in exc.remote_traceback
    # The server logged a line too (stderr is read by another thread: give it a moment).
    deadline = time.monotonic() + 5
    while "demo build exploded" not in client.stderr_tail() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "build failed: ValueError: demo build exploded" in client.stderr_tail()

    assert client.boards()  # errors do not end the session


def test_option_errors_come_back_typed(client, project):
    with pytest.raises(UnsupportedOption) as info:
        client.build(project, {"colour": "red"})
    assert info.value.option == "colour" and "mode" in info.value.valid and "valid options of build" in str(info.value)
    with pytest.raises(InvalidOption, match="option 'jobs' must be an integer"):
        client.build(project, {"jobs": "four"})
    with pytest.raises(MissingOption, match="generate_project requires option 'project_type'"):
        client.generate_project(project / "m.tar", project.parent / "q", "demo_m4")


def test_tool_output_on_stdout_does_not_corrupt_the_channel(client, project):
    lines = []
    with connect(DEMO_ARGV, stderr_callback=lines.append) as noisy:
        result = noisy.build(project, {"mode": "noise"})
        assert result["artifacts"] == [str(project / "firmware.bin")]
        assert noisy.boards()[0]["name"] == "demo_m0"
    tail = noisy.stderr_tail(50)  # after close: the stderr reader has seen everything
    for text in ("noise from print()", "noise written to fd 1", "noise from logging", "more noise", '{"id": 99}', "noise on stderr"):
        assert text in tail
    assert any(line == "noise" for line in lines)  # echo's output, forwarded to the callback


def test_a_tool_reading_stdin_gets_eof(client, project):
    assert client.build(project, {"mode": "stdin"}) == {"stdin_bytes": 0}
    assert client.target_info("demo_m0")["cpu"] == "cortex-m0"


def test_crash_mid_call(client, project):
    start = time.monotonic()
    with pytest.raises(ServerCrashed) as info:
        client.build(project, {"mode": "crash"})
    assert time.monotonic() - start < 2
    exc = info.value
    assert exc.exit_code == 3 and exc.method == "build"
    assert "exited with code 3 during build" in str(exc)
    assert "about to crash" in exc.stderr_tail and "about to crash" in str(exc)
    with pytest.raises(ServerCrashed, match="no longer running"):
        client.boards()
    assert client.close() == 3


def test_sys_exit_mid_call(client, project):
    with pytest.raises(ServerCrashed) as info:
        client.build(project, {"mode": "exit"})
    assert info.value.exit_code == 4


def test_hang_times_out_and_the_server_is_killed(client, project):
    start = time.monotonic()
    with pytest.raises(ServerTimeout) as info:
        client.build(project, {"mode": "hang", "sleep": 30}, timeout=1.0)
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 5
    exc = info.value
    assert exc.method == "build" and exc.timeout == 1.0
    assert "did not answer build within 1 s" in str(exc)
    assert "hanging" in exc.stderr_tail
    assert client.returncode is not None  # killed, not left behind
    with pytest.raises(ServerTimeout):
        client.boards()


def test_per_client_timeouts(demo_argv, project):
    with connect(demo_argv, timeout=12, timeouts={"build": 0.5}) as c:
        assert c.timeout_for("boards") == 12 and c.timeout_for("build") == 0.5 and c.timeout_for("flash") == 600
        with pytest.raises(ServerTimeout, match="within 0.5 s"):
            c.build(project, {"mode": "hang", "sleep": 30})
    with ProjectClient(demo_argv) as c:
        assert c.timeout_for("boards") == 30 and c.timeout_for("build") == 600


def test_server_dying_between_calls(client):
    os.kill(client.pid, 9)
    time.sleep(0.2)
    with pytest.raises(ServerCrashed, match="killed by SIGKILL"):
        client.boards()


def test_relative_argv_is_refused():
    with pytest.raises(ServerStartError, match="not an absolute path"):
        ProjectClient(["python3", "-m", "some.server"])
    with pytest.raises(ServerStartError, match="list of strings"):
        ProjectClient(sys.executable + " -m some.server")
    with pytest.raises(ServerStartError, match="does not exist"):
        ProjectClient(["/nonexistent/python"])


def test_server_that_fails_to_start(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('cannot import the SDK', file=sys.stderr)\nsys.exit(7)\n")
    start = time.monotonic()
    with pytest.raises(ServerCrashed) as info:
        connect([sys.executable, str(script)])
    assert info.value.exit_code == 7 and "cannot import the SDK" in info.value.stderr_tail
    assert time.monotonic() - start < 5


def test_clean_shutdown_escalates_for_a_server_ignoring_eof(tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n")
    client = ProjectClient([sys.executable, str(script)])
    start = time.monotonic()
    assert client.close(timeout=0.5) == -9
    assert time.monotonic() - start < 6


def test_calls_are_serialized_across_threads(client):
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(client.target_info("demo_m4")["cpu"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == ["cortex-m4"] * 20


def test_errors_are_utvm_errors(client):
    from utvm.errors import UtvmError

    with pytest.raises(UtvmError):
        client.target_info("nope")
    assert issubclass(ServerCrashed, ProjectAPIError)
