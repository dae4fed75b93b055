"""Host-driven sessions end to end: a real compiled model served by the C RPC server in a
host program (runtime/src/platform/posix_stdio.c) over its stdin/stdout, with faults injected
on the link in both directions."""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.errors import UtvmError
from utvm.host import c_compiler
from utvm.rpc_framing import FrameDecoder, encode_frame
from utvm.project_files import model_files
from utvm.rpc_glue import POSIX_PLATFORM_SOURCE
from utvm.session import (
    CMD_GET_OUTPUT,
    CMD_RUN,
    CMD_SESSION_START,
    CMD_SET_INPUT,
    DeviceError,
    DeviceTimeout,
    LinkError,
    Session,
    SessionError,
)
from utvm.transport import SubprocessTransport, Transport, TransportClosed, TransportTimeout

from ..conftest import shared_model

FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


@dataclass
class Device:
    compiled: utvm.CompiledModel
    model: bytes
    exe: Path

    def transport(self) -> SubprocessTransport:
        return SubprocessTransport([str(self.exe)])

    def session(self, transport: Optional[Transport] = None, **kw) -> Session:
        kw.setdefault("timeout_s", 5.0)
        kw.setdefault("retry_interval_s", 0.5)  # no spurious retries on a loaded machine
        return Session(transport if transport is not None else self.transport(), **kw)


def _build(tmp: Path, model: bytes, name: str) -> Device:
    compiled = utvm.compile(model, name=name)
    files, sources, includes = model_files(compiled, "host_driven")
    sources = sources + ["runtime/src/" + POSIX_PLATFORM_SOURCE]
    for path, text in files.items():
        (tmp / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp / path).write_text(text)
    argv = [c_compiler(), *FLAGS, *(f"-I{i}" for i in includes), "-o", "device", *sources]
    proc = subprocess.run(argv, cwd=tmp, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return Device(compiled, model, tmp / "device")


@pytest.fixture(scope="module")
def demo_device(tmp_path_factory) -> Device:
    return _build(tmp_path_factory.mktemp("demo_device"), make_demo_model(), "sine")


@pytest.fixture(scope="module")
def kws_device(tmp_path_factory) -> Device:
    path = shared_model("kws_ref_model.tflite")
    return _build(tmp_path_factory.mktemp("kws_device"), path.read_bytes(), "kws")


def _kws_input(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(1, 49, 10, 1), dtype=np.int8)


# ---- normal operation ----


def test_demo_model_bit_exact_with_tflm(demo_device, tflm):
    with demo_device.session() as s:
        info = s.start()
        assert info.name == "sine" and info.protocol == 1 and info.runtime_version == utvm.__version__
        assert info.timer_unit == "ns" and info.ticks_per_second == 1_000_000_000
        assert info.max_payload == 512
        assert [(t.bytes, t.dtype) for t in info.inputs] == [(1, "int8")]
        assert [(t.bytes, t.dtype) for t in info.outputs] == [(1, "int8")]
        for q in range(-128, 128, 8):
            x = np.array([[q]], dtype=np.int8)
            (y,) = s.infer([x], demo_device.compiled.metadata)
            (ref,) = tflm(demo_device.model, [x])
            assert y.shape == (1, 1) and y.dtype == np.int8
            assert np.array_equal(y, ref), q
        ticks, rc, runs = s.last_run()
        assert rc == 0 and runs == 32 and ticks == s.last_ticks and ticks > 0


def test_kws_model_bit_exact_with_tflm(kws_device, tflm):
    with kws_device.session() as s:
        s.start()
        for seed in range(3):
            x = _kws_input(seed)
            (y,) = s.infer([x], kws_device.compiled.metadata)
            assert np.array_equal(y, tflm(kws_device.model, [x])[0])
            assert s.get_input(0) == x.tobytes()  # read back, chunked
        stats = s.device_stats()
        assert stats["bad_crc"] == stats["duplicates"] == stats["stale"] == 0
        assert s.link_stats.retransmissions == 0


def test_errors_are_status_codes(kws_device):
    with kws_device.session() as s:
        info = s.start()
        with pytest.raises(SessionError, match="input index 3 out of range"):
            s.set_input(3, _kws_input(0))
        with pytest.raises(SessionError, match="needs int8 data"):
            s.set_input(0, _kws_input(0).astype(np.int16))
        with pytest.raises(SessionError, match="needs 490 bytes"):
            s.set_input(0, b"\x00" * 10)
        # Requests the host API would not make, straight to the device:
        status, _, _ = s._request(CMD_SET_INPUT, struct.pack("<BBI", 0, 0, 489) + b"ab", "set_input", 2.0)
        assert status == 6  # BAD_RANGE: 2 bytes at 489 of 490
        status, _, _ = s._request(CMD_GET_OUTPUT, struct.pack("<BBIH", 1, 0, 0, 1), "get_output", 2.0)
        assert status == 5  # BAD_INDEX
        status, _, _ = s._request(CMD_GET_OUTPUT, struct.pack("<BBIH", 0, 0, 0, 600), "get_output", 2.0)
        assert status == 7  # TOO_LONG
        status, _, _ = s._request(0x42, b"", "unknown", 2.0)
        assert status == 1
        status, _, _ = s._request(CMD_SET_INPUT, b"\x00", "set_input", 2.0)
        assert status == 2  # BAD_REQUEST: arguments too short
        with pytest.raises(DeviceError, match="BAD_RANGE"):
            s._call(CMD_GET_OUTPUT, struct.pack("<BBIH", 0, 0, 10, 5), "get_output", 2.0)
        assert info.outputs[0].bytes == 12
        assert s.ping(b"still fine") == b"still fine"


# ---- sessions, sequence numbers, duplicates ----


def test_wrong_session_is_refused_and_not_executed(kws_device):
    with kws_device.session() as s:
        s.start()
        x = _kws_input(1)
        s.set_input(0, x)
        good = s.session_id
        with pytest.raises(SessionError, match="no such session"):
            s._request(CMD_SET_INPUT, struct.pack("<BBI", 0, 0, 0) + b"\x11" * 10, "set_input", 2.0,
                       session=good ^ 0x5A5A)
        s.session_id = good  # the refusal made the host forget it; the device still has it
        assert s.get_input(0) == x.tobytes()  # the forged request changed nothing
        assert s.device_stats()["bad_session"] == 1


def test_a_new_session_ends_the_old_one(kws_device):
    transport = kws_device.transport()
    first = kws_device.session(transport)
    first.start()
    old_id = first.session_id
    second = kws_device.session(transport)
    second.start()
    assert second.session_id != old_id
    with pytest.raises(SessionError, match=r"no such session .*call start\(\) again"):
        first.ping()
    assert second.ping(b"x") == b"x"
    first.start()  # and the first one can take over again
    assert first.ping(b"y") == b"y"
    transport.close()


def test_duplicate_session_start_changes_nothing(kws_device):
    with kws_device.session() as s:
        s.start()
        start = struct.pack("<IB", 0x12345678, 1)  # a session start with a host nonce of our choosing

        def handshake():
            return s._request(CMD_SESSION_START, start, "session start", 2.0, session=0, seq=0, match_nonce=0x12345678)

        status, header, data = handshake()
        assert status == 0
        device_nonce = struct.unpack_from("<I", data, 4)[0]
        s.session_id, s._seq = 0x12345678 ^ device_nonce, 0
        assert header[2] == s.session_id
        assert s.ping(b"a") == b"a"
        x = _kws_input(2)
        s.set_input(0, x)
        # The same handshake again (a duplicated frame): the same answer, and the session,
        # its sequence numbers and the device's state go on untouched.
        assert handshake() == (status, header, data)
        assert s.device_stats()["duplicates"] == 1
        assert s.get_input(0) == x.tobytes()
        assert s.ping(b"b") == b"b"


def test_duplicated_run_is_executed_once_and_stale_requests_are_refused(kws_device):
    with kws_device.session() as s:
        s.start()
        s.set_input(0, _kws_input(3))
        seq = (s._seq + 1) & 0xFFFF
        first = s._request(CMD_RUN, b"", "run", 5.0, seq=seq)
        again = s._request(CMD_RUN, b"", "run", 5.0, seq=seq)  # the same request: answered from the cache
        s._seq = seq
        assert first == again and first[0] == 0
        assert s.last_run()[2] == 1
        assert s.device_stats()["duplicates"] == 1
        # The same sequence number with another request, and an old one: refused, not executed.
        for stale_seq in (s._seq, (s._seq - 5) & 0xFFFF):
            status, _, _ = s._request(CMD_RUN, b"\x01", "run", 5.0, seq=stale_seq)
            assert status == 4  # BAD_SEQUENCE
        assert s.last_run()[2] == 1
        assert s.device_stats()["stale"] == 2


def test_sequence_numbers_wrap(demo_device):
    with demo_device.session() as s:
        s.start()
        s._seq = 0xFFFF - 3
        # The device expects numbers ahead of its last one (0); jump forward in steps it accepts.
        for _ in range(3):
            s._seq = (s._seq + 0x5555) & 0xFFFF
            assert s.ping(b"j") == b"j"
        for _ in range(10):
            assert s.ping() == b""


# ---- faults on the link ----


class FaultyTransport:
    """Wraps a transport and damages one frame in one direction.

    direction "h2d" (host -> device: each write is one frame), "d2h" (the byte stream
    from the device, cut into frames again) or "both". kind: flip (xor a byte in the middle),
    flip_len (xor the length's low byte), to_start (a byte becomes 0x7E), drop (lose one
    byte), lose (lose the whole frame), dup (send the frame twice). The fault hits the
    occurrence-th frame whose payload satisfies match.
    """

    def __init__(self, inner: Transport, direction: str, kind: str, match: Callable[[bytes], bool],
                 occurrence: int = 1):
        self.inner, self.direction, self.kind, self.match = inner, direction, kind, match
        self.occurrence = occurrence
        self.seen = 0
        self.fired = 0
        self._dec = FrameDecoder()
        self._out = bytearray()

    def _damage(self, payload: bytes) -> bytes:
        raw = encode_frame(payload)
        if not self.match(payload):
            return raw
        self.seen += 1
        if self.seen != self.occurrence:
            return raw
        self.fired += 1
        return apply_fault(self.kind, raw)

    def write(self, data: bytes, timeout_s: float) -> None:
        if self.direction in ("h2d", "both"):
            (payload,) = FrameDecoder().feed(data)
            data = self._damage(payload)
            if not data:
                return
        self.inner.write(data, timeout_s)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if self.direction not in ("d2h", "both"):
            return self.inner.read(max_bytes, timeout_s)
        deadline = time.monotonic() + timeout_s
        while not self._out:
            data = self.inner.read(max_bytes, max(0.0, deadline - time.monotonic()))
            for payload in self._dec.feed(data):
                self._out += self._damage(payload)
            if not self._out and time.monotonic() >= deadline:
                raise TransportTimeout("nothing within the timeout")
        data = bytes(self._out[:max_bytes])
        del self._out[:max_bytes]
        return data

    def close(self) -> None:
        self.inner.close()


def apply_fault(kind: str, raw: bytes) -> bytes:
    data = bytearray(raw)
    mid = len(data) // 2
    if kind == "flip":
        data[mid] ^= 0x01
    elif kind == "flip_len":
        data[1] ^= 0x01
    elif kind == "to_start":
        data[mid] = 0x7E
    elif kind == "drop":
        del data[mid]
    elif kind == "lose":
        return b""
    elif kind == "dup":
        return bytes(data) * 2
    else:
        raise ValueError(kind)
    return bytes(data)


COMMANDS = {"set_input": CMD_SET_INPUT, "run": CMD_RUN, "get_output": CMD_GET_OUTPUT}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", ["flip", "flip_len", "to_start", "drop", "lose", "dup"])
@pytest.mark.parametrize("direction", ["h2d", "d2h"])
def test_a_damaged_frame_is_retried_to_the_right_result(kws_device, tflm, direction, kind, command):
    cmd = COMMANDS[command]
    if direction == "h2d":
        match = lambda p: p[0] == cmd  # noqa: E731
    else:
        match = lambda p: p[0] == cmd | 0x80  # noqa: E731
    faulty = FaultyTransport(kws_device.transport(), direction, kind, match)
    x = _kws_input(4)
    with kws_device.session(faulty, retry_interval_s=0.05) as s:
        s.start()
        (y,) = s.infer([x], kws_device.compiled.metadata)
        assert faulty.fired == 1
        assert np.array_equal(y, tflm(kws_device.model, [x])[0])
        assert s.last_run()[2] == 1  # the model ran exactly once, whatever was retried
        device, link = s.device_stats(), s.link_stats
        if kind == "dup" and direction == "h2d":
            assert device["duplicates"] >= 1
        elif kind == "dup":
            assert link.ignored_frames >= 1
        else:
            assert link.retransmissions >= 1
        if direction == "h2d" and kind in ("flip", "flip_len", "to_start", "drop"):
            assert device["bad_crc"] + device["truncated"] + device["bad_escape"] + device["overlong"] >= 1


class RandomFaults(FaultyTransport):
    """Damages each frame, either way, with probability p, choosing the fault at random."""

    def __init__(self, inner: Transport, p: float, seed: int):
        super().__init__(inner, "both", "", lambda payload: True)
        self.rng = random.Random(seed)
        self.p = p

    def _damage(self, payload: bytes) -> bytes:
        raw = encode_frame(payload)
        if self.rng.random() >= self.p:
            return raw
        self.fired += 1
        return apply_fault(self.rng.choice(["flip", "flip_len", "to_start", "drop", "lose", "dup"]), raw)


def test_a_noisy_link_never_gives_a_wrong_result(kws_device, tflm):
    x = [_kws_input(10 + k) for k in range(2)]
    want = [tflm(kws_device.model, [xi])[0] for xi in x]
    noisy = RandomFaults(kws_device.transport(), p=0.2, seed=5)
    right = failed = 0
    with kws_device.session(noisy, timeout_s=2.0, retries=6, retry_interval_s=0.02) as s:
        s.start()
        for k in range(24):
            try:
                (y,) = s.infer([x[k % 2]], kws_device.compiled.metadata)
            except (LinkError, DeviceTimeout):
                failed += 1
                continue
            assert np.array_equal(y, want[k % 2]), f"wrong result at inference {k}"
            right += 1
    assert noisy.fired >= 10
    assert right >= 20, (right, failed)


# ---- a device that stops answering, or goes away ----


@pytest.mark.parametrize("step", ["run", "get_output", "ping"])
def test_a_stopped_device_times_out_naming_the_step(kws_device, tflm, step):
    transport = kws_device.transport()
    x = _kws_input(6)
    with kws_device.session(transport, timeout_s=5.0, retry_interval_s=0.1) as s:
        s.start()
        s.set_input(0, x)
        if step == "get_output":
            s.run()
        os.kill(transport.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            call = {"run": s.run, "get_output": lambda **kw: s.get_output(0, **kw), "ping": s.ping}[step]
            with pytest.raises(DeviceTimeout, match=f"no answer to '{step}' within 0.8 s") as err:
                call(timeout_s=0.8)
            elapsed = time.monotonic() - t0
            assert 0.8 <= elapsed < 1.5
            assert isinstance(err.value, UtvmError)
        finally:
            os.kill(transport.pid, signal.SIGCONT)
        # Awake again: the retried requests were answered from the cache, never run twice.
        assert s.ping(b"back") == b"back"
        assert s.last_run()[2] == (0 if step == "ping" else 1)
        s.run()
        (y,) = [np.frombuffer(s.get_output(0), dtype=np.int8)]
        assert np.array_equal(y, tflm(kws_device.model, [x])[0].ravel())


def test_a_silent_program_times_out_at_session_start(tmp_path):
    with Session(SubprocessTransport(["sleep", "30"]), retry_interval_s=0.05) as s:
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout, match="no answer to 'session start' within 0.5 s"):
            s.start(timeout_s=0.5)
        assert time.monotonic() - t0 < 1.0


def test_a_device_that_exits_is_reported(kws_device):
    transport = kws_device.transport()
    with kws_device.session(transport) as s:
        s.start()
        os.kill(transport.pid, signal.SIGKILL)
        with pytest.raises(TransportClosed, match="exited with code -9"):
            s.run(timeout_s=2.0)


def test_a_garbage_talking_program_times_out(tmp_path):
    # `yes` writes endless junk without a start byte: nothing is ever taken for an answer.
    with Session(SubprocessTransport(["yes", "~}"]), retry_interval_s=0.05) as s:
        with pytest.raises((DeviceTimeout, LinkError)):
            s.start(timeout_s=0.5)


def test_ping_round_trips(demo_device):
    with demo_device.session() as s:
        s.start()
        payload = bytes(range(256)) + b"\x7e\x7d" * 100
        assert s.ping(payload) == payload
        assert s.ping(b"") == b""
        with pytest.raises(SessionError, match="exceeds the device's max payload"):
            s.ping(bytes(600))


# ---- a hand-written model descriptor: many tensors, a tiny max payload, a failing run ----

FAKE_MODEL_C = r"""
#include "utvm/rpc/server.h"

#define EXTRA 22
static int8_t in0[300];
static float in1[5];
static int8_t out0[300];
static int32_t out1[1];
static uint8_t extra[EXTRA][3];

static utvm_rpc_tensor outputs[2 + EXTRA];
static const utvm_rpc_tensor inputs[2] = {{in0, 300u, UTVM_DTYPE_INT8}, {in1, 20u, UTVM_DTYPE_FLOAT32}};

static int32_t fake_run(void) {
  int32_t i, sum = 0;
  if (in0[0] == 85) return 7;
  for (i = 0; i < 300; i++) {
    out0[i] = in0[299 - i];
    sum += in0[i];
  }
  out1[0] = sum + (int32_t)in1[4];
  for (i = 0; i < EXTRA; i++) extra[i][0] = extra[i][1] = extra[i][2] = (uint8_t)i;
  return 0;
}

static void init(void) {
  int i;
  outputs[0].data = out0; outputs[0].bytes = 300u; outputs[0].dtype = UTVM_DTYPE_INT8;
  outputs[1].data = out1; outputs[1].bytes = 4u; outputs[1].dtype = UTVM_DTYPE_INT32;
  for (i = 0; i < EXTRA; i++) {
    outputs[2 + i].data = extra[i]; outputs[2 + i].bytes = 3u; outputs[2 + i].dtype = UTVM_DTYPE_UINT8;
  }
}

/* Filled by init() before main() hands it to the server: a constructor keeps posix_stdio's main. */
const utvm_model_descriptor utvm_model = {
    "a_model_with_a_rather_long_name_that_is_cut", 2, 2 + EXTRA, inputs, outputs, fake_run};
__attribute__((constructor)) static void fake_init(void) { init(); }
"""


@pytest.fixture(scope="module")
def fake_device(tmp_path_factory) -> Path:
    import utvm.rpc_glue as glue

    tmp = tmp_path_factory.mktemp("fake_device")
    runtime = Path(utvm.__file__).resolve().parent / "runtime"
    (tmp / "fake.c").write_text(FAKE_MODEL_C)
    sources = [tmp / "fake.c"] + [runtime / "src" / s for s in (*glue.RPC_SOURCES, glue.POSIX_PLATFORM_SOURCE)]
    argv = [c_compiler(), "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-DUTVM_RPC_MAX_PAYLOAD=64",
            f"-I{runtime / 'include'}", "-o", str(tmp / "fake"), *map(str, sources)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return tmp / "fake"


def test_small_frames_many_tensors_and_a_failing_run(fake_device):
    with Session(SubprocessTransport([str(fake_device)]), timeout_s=5.0) as s:
        info = s.start()
        assert info.max_payload == 64
        assert info.name == "a_model_with_a_rather_long_name_"  # at most 32 bytes travel
        assert [(t.bytes, t.dtype) for t in info.inputs] == [(300, "int8"), (20, "float32")]
        assert [(t.bytes, t.dtype) for t in info.outputs[:2]] == [(300, "int8"), (4, "int32")]
        assert len(info.outputs) == 24 and all(t.bytes == 3 and t.dtype == "uint8" for t in info.outputs[2:])
        assert s.link_stats.requests >= 1 + 4  # the model info took several frames

        x = np.random.default_rng(0).integers(-128, 128, size=300, dtype=np.int8)
        x[0] = 1
        f = np.array([0, 0, 0, 0, 1000.0], dtype=np.float32)
        outputs = s.infer([x, f])
        assert np.array_equal(outputs[0], x[::-1])
        assert outputs[1].dtype == np.int32 and outputs[1][0] == int(x.astype(np.int32).sum()) + 1000
        assert [bytes(o) for o in outputs[2:]] == [bytes([k] * 3) for k in range(22)]

        x[0] = 85  # makes the fake model's run fail with 7
        s.set_input(0, x)
        with pytest.raises(DeviceError, match="return code 7") as err:
            s.run()
        assert err.value.return_code == 7 and err.value.status_name == "RUN_FAILED"
        assert s.last_run()[1:] == (7, 2)
