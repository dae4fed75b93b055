"""The wire: JSON-RPC 2.0 lines, sent raw to a server (in-process, and to a real process)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

import pytest

from utvm.project_api import PROTOCOL_VERSION, connect
from utvm.project_api import errors as E
from utvm.project_api.errors import UnsupportedProtocolVersion

from .conftest import DEMO_ARGV
from .demo_server import DemoServer


def request(method, params=None, rid=1):
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg)


@pytest.fixture
def server():
    return DemoServer()


def answer(server, line):
    text = server.handle_line(line)
    assert text is not None and "\n" not in text
    return json.loads(text)


def test_server_info_query(server):
    reply = answer(server, request("server_info_query", {"protocol_version": PROTOCOL_VERSION}))
    assert reply["jsonrpc"] == "2.0" and reply["id"] == 1
    info = reply["result"]
    assert info["protocol_version"] == 1
    assert info["platform_name"] == "demo"
    assert info["methods"][0] == "server_info_query" and "flash" in info["methods"]
    assert {o["name"] for o in info["options"]} >= {"project_type", "mode", "log"}


@pytest.mark.parametrize("version", [2, 0, "1", None, True])
def test_wrong_protocol_version_names_both(server, version):
    reply = answer(server, request("server_info_query", {"protocol_version": version}))
    error = reply["error"]
    assert error["code"] == UnsupportedProtocolVersion.code
    assert f"client speaks Project API protocol version {version!r}" in error["data"]["message"]
    assert "speaks version 1" in error["data"]["message"]
    assert error["data"]["type"] == "UnsupportedProtocolVersion"
    assert error["data"]["details"] == {"client_version": version, "server_versions": [1]}


def test_error_data_format(server):
    reply = answer(server, request("target_info", {"board": "nope"}, rid="abc"))
    assert reply["id"] == "abc"
    error = reply["error"]
    assert error["code"] == E.BoardNotFound.code
    assert error["message"].startswith("BoardNotFound: no board 'nope'")
    data = error["data"]
    assert data["type"] == "BoardNotFound"
    assert data["mro"][:3] == ["BoardNotFound", "ProjectAPIError", "UtvmError"]
    assert data["message"] == "no board 'nope'; available: demo_m0, demo_m4"
    assert data["details"] == {"board": "nope", "available": ["demo_m0", "demo_m4"]}
    assert "Traceback" in data["traceback"] and "demo_server.py" in data["traceback"]


def test_parse_error_and_the_server_goes_on(server):
    reply = answer(server, "{this is not json")
    assert reply["error"]["code"] == -32700 and reply["id"] is None
    reply = answer(server, b"\xff\xfe not utf-8")
    assert reply["error"]["code"] == -32700
    assert answer(server, request("boards", {}))["result"][0]["name"] == "demo_m0"


def test_invalid_request(server):
    assert answer(server, json.dumps({"jsonrpc": "2.0", "id": 1, "method": 5}))["error"]["code"] == -32600
    assert answer(server, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "boards", "params": 3}))["error"]["code"] == -32600
    assert answer(server, "[]")["error"]["code"] == -32600


def test_unknown_method(server):
    reply = answer(server, request("erase_everything", {}))
    assert reply["error"]["code"] == -32601
    assert "'erase_everything' not found" in reply["error"]["message"]
    assert reply["error"]["data"]["type"] == "MethodNotFound"


@pytest.mark.parametrize(
    "method, params",
    [
        ("target_info", {}),
        ("target_info", {"board": "demo_m4", "colour": "red"}),
        ("target_info", {"board": 5}),
        ("build", {"project_dir": "relative/dir"}),
        ("read_transport", {"n": -1, "timeout": 1}),
        ("read_transport", {"n": 4, "timeout": "soon"}),
        ("write_transport", {"data": "%%%", "timeout": 1}),
    ],
)
def test_invalid_params(server, method, params):
    reply = answer(server, request(method, params))
    assert reply["error"]["code"] == -32602, reply


def test_positional_params_are_accepted(server):
    assert answer(server, request("target_info", ["demo_m0"]))["result"]["cpu"] == "cortex-m0"


def test_notification_gets_no_response(server):
    assert server.handle_line(json.dumps({"jsonrpc": "2.0", "method": "boards", "params": {}})) is None
    assert server.handle_line("   ") is None


def test_batch(server):
    batch = [json.loads(request("boards", {}, rid=1)), json.loads(request("nope", {}, rid=2))]
    replies = json.loads(server.handle_line(json.dumps(batch)))
    assert [r["id"] for r in replies] == [1, 2]
    assert "result" in replies[0] and replies[1]["error"]["code"] == -32601


def test_transport_base64_and_state(server, tmp_path):
    assert answer(server, request("read_transport", {"n": 4, "timeout": 0}))["error"]["data"]["type"] == "TransportClosed"
    assert answer(server, request("open_transport", {"project_dir": str(tmp_path)}))["result"] == {"kind": "echo"}
    again = answer(server, request("open_transport", {"project_dir": str(tmp_path)}))
    assert again["error"]["data"]["type"] == "TransportError"
    written = answer(server, request("write_transport", {"data": "AAEC/w==", "timeout": 1}))
    assert written["result"] == {"written": 4}
    assert answer(server, request("read_transport", {"n": 3, "timeout": 1}))["result"] == {"data": "AAEC"}
    assert answer(server, request("read_transport", {"n": 3, "timeout": 1}))["result"] == {"data": "/w=="}
    assert answer(server, request("read_transport", {"n": 3, "timeout": 0}))["result"] == {"data": ""}
    assert answer(server, request("close_transport"))["result"] is None
    assert answer(server, request("close_transport"))["result"] is None  # idempotent


def test_not_supported_methods_are_reported():
    class Partial(DemoServer):
        platform_name = "partial"

    bare = type("Bare", (DemoServer.__mro__[1],), {"platform_name": "bare"})()
    assert bare.implemented_methods() == ["server_info_query"]
    reply = answer(bare, request("flash", {"project_dir": "/tmp"}))
    assert reply["error"]["data"]["type"] == "NotSupported"
    assert "platform 'bare' does not implement flash" in reply["error"]["data"]["message"]
    assert Partial().implemented_methods()[-1] == "write_transport"


def test_generate_project_refuses_a_non_empty_directory(server, tmp_path, mlf):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    params = {"model_library_format_path": str(mlf), "board": "demo_m4", "options": {"project_type": "standalone"}}
    reply = answer(server, request("generate_project", {**params, "project_dir": str(tmp_path / "busy")}))
    assert reply["error"]["data"]["type"] == "ProjectError" and "not empty" in reply["error"]["message"]
    reply = answer(server, request("generate_project", {**params, "project_dir": str(tmp_path / "p"), "options": {}}))
    assert reply["error"]["data"]["type"] == "MissingOption"
    assert not (tmp_path / "p").exists()  # nothing left behind by a failed generate_project


# --- the same, against a real server process -------------------------------------------------


class Raw:
    """A server process driven with raw lines."""

    def __init__(self):
        self.proc = subprocess.Popen(DEMO_ARGV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def send(self, data: bytes) -> dict:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        assert ready, "the server did not answer"
        return json.loads(self.proc.stdout.readline())

    def close(self) -> int:
        self.proc.stdin.close()
        code = self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


def test_raw_malformed_lines_and_unknown_methods_keep_the_server_serving():
    raw = Raw()
    try:
        assert raw.send(b"{not json at all\n")["error"]["code"] == -32700
        assert raw.send(b"\x00\xff\n")["error"]["code"] == -32700
        assert raw.send(b'{"jsonrpc": "2.0", "id": 7, "method": "no_such_method", "params": {}}\n')["error"]["code"] == -32601
        assert raw.send(b'{"jsonrpc": "2.0", "id": 8, "method": "boards", "params": {"options": {"x": 1}}}\n')["error"]["data"]["type"] == "UnsupportedOption"
        reply = raw.send((request("server_info_query", {"protocol_version": 1}, rid=9) + "\n").encode())
        assert reply["id"] == 9 and reply["result"]["platform_name"] == "demo"
    finally:
        code = raw.close()
    assert code == 0  # EOF on stdin is a clean exit


def test_raw_eof_is_a_clean_exit():
    raw = Raw()
    start = time.monotonic()
    assert raw.close() == 0
    assert time.monotonic() - start < 10


def test_client_with_wrong_protocol_version(demo_argv):
    with connect(demo_argv) as client:
        with pytest.raises(UnsupportedProtocolVersion) as info:
            client.server_info_query(protocol_version=PROTOCOL_VERSION + 1)
        assert "version 2" in str(info.value) and "version 1" in str(info.value)
        assert info.value.server_versions == [1] and info.value.client_version == 2
        assert client.boards()  # still serving


def test_pending_output_never_reaches_the_channel():
    env = dict(os.environ, DEMO_BANNER="1")
    with connect(DEMO_ARGV, env=env) as client:  # the banner line precedes the first response
        assert client.info.platform_name == "demo"
        assert "demo server banner" in client.stderr_tail()
