"""Host side of a host-driven session with a device running the utvm RPC server.

::

    from utvm.session import Session
    from utvm.transport import SubprocessTransport

    with Session(SubprocessTransport(["./device"])) as s:
        info = s.start()                       # handshake + model info
        outputs = s.infer([x], compiled.metadata)
        print(s.last_ticks, info.timer_unit)

The protocol (message layout, commands, status codes, sequence numbers) is
described in ``runtime/include/utvm/rpc/server.h``; frames in
:mod:`utvm.rpc_framing`.

Reliability: every request carries the session id and a sequence number. When
no valid answer comes (a frame lost or damaged either way), the host sends the
*same* frame again, same sequence number; the device recognizes the duplicate
and answers from its cache of the last response without executing it again. A
damaged frame is never taken for an answer (CRC-16), so a bad link ends in a
correct result after a retry, or in :class:`LinkError` / :class:`DeviceTimeout`.
"""

from __future__ import annotations

import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .errors import UtvmError
from .rpc_framing import FrameDecoder, encode_frame
from .rpc_glue import DTYPE_CODES, DTYPE_NAMES
from .transport import Transport, TransportTimeout

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBIH")  # command, flags/status, session id, sequence
HEADER_BYTES = HEADER.size
RESPONSE_FLAG = 0x80

CMD_SESSION_START = 0x01
CMD_MODEL_INFO = 0x02
CMD_SET_INPUT = 0x03
CMD_RUN = 0x04
CMD_GET_OUTPUT = 0x05
CMD_LAST_RUN = 0x06
CMD_PING = 0x07
CMD_STATS = 0x08
CMD_GET_INPUT = 0x09
CMD_NAK = 0xFF

STATUS_NAMES = {
    0: "OK",
    1: "UNKNOWN_COMMAND",
    2: "BAD_REQUEST",
    3: "NO_SESSION",
    4: "BAD_SEQUENCE",
    5: "BAD_INDEX",
    6: "BAD_RANGE",
    7: "TOO_LONG",
    8: "RUN_FAILED",
    9: "BAD_VERSION",
    10: "FRAME_ERROR",
}
STATUS_HELP = {
    1: "the device does not know this command",
    2: "the request's arguments are malformed",
    3: "the device has no such session (it restarted, or another host started a session); call start() again",
    4: "the sequence number is stale",
    5: "no input/output with that index",
    6: "offset and length reach beyond the tensor",
    7: "the answer would not fit in one frame",
    8: "the model's run function failed",
    9: "the device speaks another protocol version",
}
OK, NO_SESSION, RUN_FAILED, BAD_VERSION = 0, 3, 8, 9

TIMER_UNITS = {
    0: "unknown",
    1: "ns",
    2: "us",
    3: "ms",
    4: "cycles",
    5: "instructions",
    6: "ticks",
}

DEVICE_STATS = (
    "frames_ok",
    "bad_crc",
    "overlong",
    "bad_escape",
    "truncated",
    "junk_bytes",
    "duplicates",
    "stale",
    "bad_session",
    "malformed",
)

READ_CHUNK = 65536


class SessionError(UtvmError):
    """A session with a device failed."""


class DeviceTimeout(SessionError):
    """The device did not answer (or did not take a request) in time."""


class LinkError(SessionError):
    """Frames kept arriving damaged: the retries ran out."""


class ProtocolError(SessionError):
    """The device answered something this host cannot understand."""


class DeviceError(SessionError):
    """The device refused a request; ``status`` is its status code."""

    def __init__(self, message: str, status: int, step: str) -> None:
        super().__init__(message)
        self.status = status
        self.status_name = STATUS_NAMES.get(status, f"status {status}")
        self.step = step


class RunFailed(DeviceError):
    """The model's run function returned non-zero; ``return_code`` is its value."""

    def __init__(self, message: str, step: str, return_code: int, ticks: int) -> None:
        super().__init__(message, RUN_FAILED, step)
        self.return_code = return_code
        self.ticks = ticks


@dataclass(frozen=True)
class TensorInfo:
    """An input or output as the device describes it."""

    index: int
    bytes: int
    dtype: str  # "int8", ...; "code N" for a code this host does not know
    dtype_code: int


@dataclass(frozen=True)
class ModelInfo:
    """The answer to MODEL_INFO."""

    name: str
    protocol: int
    runtime_version: str
    max_payload: int
    timer_unit: str
    timer_unit_code: int
    ticks_per_second: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]


@dataclass
class LinkStats:
    """What the host side has seen in this session."""

    requests: int = 0
    retransmissions: int = 0
    naks: int = 0
    ignored_frames: int = 0  # valid frames that answered nothing pending (late duplicates)
    decoder: dict = field(default_factory=dict)


class Session:
    """A host-driven session over ``transport`` (see :class:`utvm.transport.Transport`).

    ``timeout_s`` bounds every call (``run_timeout_s`` the RUN command, default
    ``timeout_s``). A request without a valid answer is sent again after
    ``retry_interval_s`` (doubling each time), or at once when a damaged frame
    or a NAK arrives, at most ``retries`` times.
    """

    def __init__(
        self,
        transport: Transport,
        timeout_s: float = 5.0,
        run_timeout_s: Optional[float] = None,
        retries: int = 5,
        retry_interval_s: float = 0.25,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.transport = transport
        self.timeout_s = float(timeout_s)
        self.run_timeout_s = float(run_timeout_s) if run_timeout_s is not None else self.timeout_s
        self.retries = int(retries)
        self.retry_interval_s = float(retry_interval_s)
        self.info: Optional[ModelInfo] = None
        self.session_id: Optional[int] = None
        self.last_ticks: Optional[int] = None
        self._seq = 0
        self._decoder = FrameDecoder()
        self._backlog: list[bytes] = []
        self._link = LinkStats()
        self._closed = False

    # ---- public API ----

    def start(self, timeout_s: Optional[float] = None) -> ModelInfo:
        """Open a session (a new one, even if one was open) and read the model info."""
        timeout = self._timeout(timeout_s)
        deadline = time.monotonic() + timeout
        nonce = secrets.randbits(32) or 1
        self._decoder.reset()
        self._backlog = []
        self.session_id = None
        status, header, data = self._request(
            CMD_SESSION_START, struct.pack("<IB", nonce, PROTOCOL_VERSION), "session start", timeout,
            session=0, seq=0, match_nonce=nonce,
        )
        if status == BAD_VERSION:
            device_version = data[8] if len(data) >= 9 else "?"
            raise ProtocolError(
                f"the device speaks RPC protocol version {device_version}, this host version {PROTOCOL_VERSION}"
            )
        if status != OK or len(data) < 9:
            raise ProtocolError(f"the device answered the session start with {STATUS_NAMES.get(status, status)}")
        host_nonce, device_nonce = struct.unpack_from("<II", data)
        session_id = host_nonce ^ device_nonce
        if session_id == 0 or header[2] != session_id:
            raise ProtocolError("the device's session start answer has an inconsistent session id")
        self.session_id = session_id
        self._seq = 0
        self.info = self.model_info(timeout_s=max(0.001, deadline - time.monotonic()))
        return self.info

    def model_info(self, timeout_s: Optional[float] = None) -> ModelInfo:
        """Ask the device what it serves (chunked if its tensors do not fit one frame)."""
        timeout = self._timeout(timeout_s)
        deadline = time.monotonic() + timeout
        tensors: list[tuple[int, int]] = []
        while True:
            data = self._call(CMD_MODEL_INFO, bytes([len(tensors)]), "model info", deadline - time.monotonic())
            if len(data) < 17:
                raise ProtocolError(f"model info answer is {len(data)} bytes, too short")
            protocol, major, minor, patch, max_payload, unit, _r, tps, n_in, n_out, first, count, name_len = (
                struct.unpack_from("<BBBBHBBIBBBBB", data)
            )
            name = data[17 : 17 + name_len].decode("utf-8", "replace")
            pos = 17 + name_len
            if first != len(tensors) or len(data) < pos + 5 * count:
                raise ProtocolError("model info answer is inconsistent")
            for k in range(count):
                nbytes, code = struct.unpack_from("<IB", data, pos + 5 * k)
                tensors.append((nbytes, code))
            total = n_in + n_out
            if len(tensors) >= total:
                break
            if count == 0:
                raise ProtocolError("model info answer lists no tensors")
        if max_payload < 64:
            raise ProtocolError(f"the device's max payload {max_payload} is below the protocol's minimum 64")

        def tinfo(k: int, entry: tuple[int, int]) -> TensorInfo:
            return TensorInfo(k, entry[0], DTYPE_NAMES.get(entry[1], f"code {entry[1]}"), entry[1])

        info = ModelInfo(
            name=name,
            protocol=protocol,
            runtime_version=f"{major}.{minor}.{patch}",
            max_payload=max_payload,
            timer_unit=TIMER_UNITS.get(unit, f"unit {unit}"),
            timer_unit_code=unit,
            ticks_per_second=tps,
            inputs=tuple(tinfo(k, e) for k, e in enumerate(tensors[:n_in])),
            outputs=tuple(tinfo(k, e) for k, e in enumerate(tensors[n_in:total])),
        )
        self.info = info
        return info

    def set_input(self, index: int, array: Any, timeout_s: Optional[float] = None) -> None:
        """Send input ``index`` (a numpy array of the input's dtype and size, or bytes)."""
        info = self._need_info()
        if not 0 <= index < len(info.inputs):
            raise SessionError(f"input index {index} out of range: the device's model has {len(info.inputs)} input(s)")
        t = info.inputs[index]
        blob = _as_bytes(array, t, f"input {index}")
        timeout = self._timeout(timeout_s)
        deadline = time.monotonic() + timeout
        chunk = info.max_payload - HEADER_BYTES - 6
        offset = 0
        while True:
            part = blob[offset : offset + chunk]
            self._call(CMD_SET_INPUT, struct.pack("<BBI", index, 0, offset) + part, "set_input",
                       deadline - time.monotonic(), total_timeout=timeout)
            offset += len(part)
            if offset >= len(blob):
                break

    def run(self, timeout_s: Optional[float] = None) -> int:
        """Run the model once; returns the ticks it took (unit: ``info.timer_unit``)."""
        timeout = self.run_timeout_s if timeout_s is None else self._timeout(timeout_s)
        status, _, data = self._request(CMD_RUN, b"", "run", timeout)
        if len(data) < 8:
            raise ProtocolError(f"run answer is {len(data)} bytes, too short")
        ticks, rc = struct.unpack_from("<Ii", data)
        self.last_ticks = ticks
        if status == RUN_FAILED:
            raise RunFailed(f"the model's run function failed on the device with return code {rc}", "run", rc, ticks)
        self._check(status, "run")
        return ticks

    def get_output(self, index: int, timeout_s: Optional[float] = None) -> bytes:
        """The bytes of output ``index``."""
        return self._get_tensor(CMD_GET_OUTPUT, index, "get_output", timeout_s)

    def get_input(self, index: int, timeout_s: Optional[float] = None) -> bytes:
        """The bytes of input ``index`` as the device holds them."""
        return self._get_tensor(CMD_GET_INPUT, index, "get_input", timeout_s)

    def last_run(self, timeout_s: Optional[float] = None) -> tuple[int, int, int]:
        """(ticks, return code, number of runs) of the device's last run."""
        data = self._call(CMD_LAST_RUN, b"", "last_run", self._timeout(timeout_s))
        ticks, rc, runs = struct.unpack_from("<IiI", data)
        return ticks, rc, runs

    def ping(self, data: bytes = b"", timeout_s: Optional[float] = None) -> bytes:
        """A no-op round trip; the device echoes ``data``."""
        answer = self._call(CMD_PING, bytes(data), "ping", self._timeout(timeout_s))
        if answer != bytes(data):
            raise ProtocolError("the device's ping answer differs from what was sent")
        return answer

    def device_stats(self, timeout_s: Optional[float] = None) -> dict[str, int]:
        """The device's counters: frames received, dropped per cause, duplicates, stale requests..."""
        data = self._call(CMD_STATS, b"", "stats", self._timeout(timeout_s))
        values = struct.unpack_from("<10I", data)
        return dict(zip(DEVICE_STATS, values))

    @property
    def link_stats(self) -> LinkStats:
        """What this host has seen: retransmissions, NAKs, dropped frames."""
        self._link.decoder = self._decoder.stats.as_dict()
        return self._link

    def infer(self, inputs: Sequence[np.ndarray], metadata: Optional[Mapping[str, Any]] = None) -> list[np.ndarray]:
        """Set every input, run, and read every output.

        With ``metadata`` (a compiled model's ``metadata``) the device's model is
        checked against it and the outputs get its shapes; without, they are
        flat arrays of the device's dtypes.
        """
        info = self.info if self.info is not None else self.start()
        if metadata is not None:
            _check_metadata(info, metadata)
        if len(inputs) != len(info.inputs):
            raise SessionError(f"the device's model takes {len(info.inputs)} input(s), got {len(inputs)}")
        for k, x in enumerate(inputs):
            self.set_input(k, x)
        self.run()
        outputs = []
        for k, t in enumerate(info.outputs):
            raw = self.get_output(k)
            arr = np.frombuffer(raw, dtype=_np_dtype(t)).copy()
            if metadata is not None:
                arr = arr.reshape(metadata["outputs"][k]["shape"])
            outputs.append(arr)
        return outputs

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.transport.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals ----

    def _timeout(self, timeout_s: Optional[float]) -> float:
        t = self.timeout_s if timeout_s is None else float(timeout_s)
        if t <= 0:
            raise ValueError("timeout_s must be positive")
        return t

    def _need_info(self) -> ModelInfo:
        if self.info is None:
            raise SessionError("no session: call start() first")
        return self.info

    def _get_tensor(self, cmd: int, index: int, step: str, timeout_s: Optional[float]) -> bytes:
        info = self._need_info()
        table = info.outputs if cmd == CMD_GET_OUTPUT else info.inputs
        kind = "output" if cmd == CMD_GET_OUTPUT else "input"
        if not 0 <= index < len(table):
            raise SessionError(f"{kind} index {index} out of range: the device's model has {len(table)} {kind}(s)")
        size = table[index].bytes
        timeout = self._timeout(timeout_s)
        deadline = time.monotonic() + timeout
        chunk = info.max_payload - HEADER_BYTES
        parts = []
        offset = 0
        while offset < size:
            n = min(chunk, size - offset)
            data = self._call(cmd, struct.pack("<BBIH", index, 0, offset, n), step,
                              deadline - time.monotonic(), total_timeout=timeout)
            if len(data) != n:
                raise ProtocolError(f"'{step}' asked for {n} bytes at offset {offset}, the device sent {len(data)}")
            parts.append(data)
            offset += n
        return b"".join(parts)

    def _check(self, status: int, step: str) -> None:
        if status != OK:
            name = STATUS_NAMES.get(status, f"status {status}")
            help_ = STATUS_HELP.get(status, "")
            raise DeviceError(f"the device refused '{step}': {name}" + (f" ({help_})" if help_ else ""), status, step)

    def _call(self, cmd: int, args: bytes, step: str, timeout_s: float, total_timeout: Optional[float] = None) -> bytes:
        if self.session_id is None:
            raise SessionError(f"no session for '{step}': call start() first")
        status, _, data = self._request(cmd, args, step, timeout_s, total_timeout=total_timeout)
        self._check(status, step)
        return data

    def _request(
        self,
        cmd: int,
        args: bytes,
        step: str,
        timeout_s: float,
        session: Optional[int] = None,
        seq: Optional[int] = None,
        match_nonce: Optional[int] = None,
        total_timeout: Optional[float] = None,
    ) -> tuple[int, tuple, bytes]:
        """Send one request and return (status, header, data) of its answer.

        Retries with the same frame (so the same sequence number) until a
        matching answer arrives, the retries run out, or the time is up.
        """
        if self._closed:
            raise SessionError(f"'{step}' on a closed session")
        shown_timeout = total_timeout if total_timeout is not None else timeout_s
        if session is None:
            if self.session_id is None:
                raise SessionError(f"no session for '{step}': call start() first")
            session = self.session_id
        if seq is None:
            self._seq = (self._seq + 1) & 0xFFFF
            seq = self._seq
        payload = HEADER.pack(cmd, 0, session, seq) + args
        if self.info is not None and len(payload) > self.info.max_payload:
            raise SessionError(f"'{step}' request of {len(payload)} bytes exceeds the device's max payload")
        frame = encode_frame(payload)
        self._link.requests += 1

        now = time.monotonic()
        deadline = now + max(0.0, timeout_s)
        self._send(frame, step, deadline, shown_timeout)
        attempts = 1
        interval = self.retry_interval_s
        next_retry = time.monotonic() + interval
        damaged_before = self._decoder.stats.damaged
        damaged_seen = 0
        want = cmd | RESPONSE_FLAG
        while True:
            now = time.monotonic()
            if now >= deadline:
                detail = ""
                if damaged_seen or attempts > 1:
                    detail = f" ({attempts} attempt(s), {damaged_seen} damaged frame(s) received)"
                raise DeviceTimeout(f"no answer to '{step}' within {shown_timeout:.1f} s{detail}")
            if self._backlog:  # frames decoded after the answer to an earlier request
                frames, self._backlog = self._backlog, []
            else:
                try:
                    data = self.transport.read(READ_CHUNK, max(0.0, min(deadline, next_retry) - now))
                except TransportTimeout:
                    data = b""
                frames = self._decoder.feed(data) if data else []
            retry_now = False
            for k, fr in enumerate(frames):
                if len(fr) < HEADER_BYTES:
                    self._link.ignored_frames += 1
                    continue
                header = HEADER.unpack_from(fr)
                if header[0] == CMD_NAK:
                    self._link.naks += 1
                    damaged_seen += 1
                    retry_now = True
                    continue
                if header[0] != want or header[3] != seq:
                    self._link.ignored_frames += 1
                    continue
                body = fr[HEADER_BYTES:]
                if match_nonce is not None:
                    if len(body) < 4 or struct.unpack_from("<I", body)[0] != match_nonce:
                        self._link.ignored_frames += 1
                        continue
                elif header[2] != session:
                    self._link.ignored_frames += 1
                    continue
                if header[1] == NO_SESSION:
                    self._backlog = frames[k + 1 :]
                    self.session_id = None
                    raise SessionError(
                        f"the device refused '{step}': no such session ({STATUS_HELP[NO_SESSION]})"
                    )
                self._backlog = frames[k + 1 :]
                return header[1], header, body
            damaged = self._decoder.stats.damaged - damaged_before
            if damaged:
                damaged_seen += damaged
                damaged_before += damaged
                retry_now = True
            if retry_now or time.monotonic() >= next_retry:
                if attempts > self.retries:
                    if retry_now:
                        raise LinkError(
                            f"'{step}' failed: {damaged_seen} damaged frame(s) in {attempts} attempt(s); "
                            "the link to the device is corrupting data"
                        )
                    next_retry = deadline  # out of retries: wait for a late answer until the deadline
                    continue
                self._send(frame, step, deadline, shown_timeout)
                attempts += 1
                self._link.retransmissions += 1
                interval *= 2
                next_retry = time.monotonic() + interval

    def _send(self, frame: bytes, step: str, deadline: float, shown_timeout: float) -> None:
        try:
            self.transport.write(frame, max(0.001, deadline - time.monotonic()))
        except TransportTimeout:
            raise DeviceTimeout(f"the device did not take the '{step}' request within {shown_timeout:.1f} s") from None


def _np_dtype(t: TensorInfo) -> np.dtype:
    if t.dtype not in DTYPE_CODES:
        raise ProtocolError(f"tensor {t.index} has a data type this host does not know ({t.dtype})")
    return np.dtype(t.dtype)


def _as_bytes(array: Any, t: TensorInfo, what: str) -> bytes:
    if isinstance(array, (bytes, bytearray, memoryview)):
        blob = bytes(array)
    else:
        arr = np.asarray(array)
        want = _np_dtype(t)
        if arr.dtype != want:
            raise SessionError(f"{what} needs {t.dtype} data, got {arr.dtype}")
        blob = np.ascontiguousarray(arr).tobytes()
    if len(blob) != t.bytes:
        raise SessionError(f"{what} needs {t.bytes} bytes ({t.dtype}), got {len(blob)}")
    return blob


def _check_metadata(info: ModelInfo, metadata: Mapping[str, Any]) -> None:
    """Refuse, saying how, a device whose model does not match ``metadata``."""
    name = metadata.get("model")
    problems = []
    if name and info.name and name[:32] != info.name:
        problems.append(f"it serves model '{info.name}', not '{name}'")
    for kind, mine, theirs in (("input", metadata.get("inputs", []), info.inputs),
                               ("output", metadata.get("outputs", []), info.outputs)):
        if len(mine) != len(theirs):
            problems.append(f"it has {len(theirs)} {kind}(s), the metadata {len(mine)}")
            continue
        for k, (e, t) in enumerate(zip(mine, theirs)):
            if e.get("bytes") != t.bytes or e.get("dtype") != t.dtype:
                problems.append(
                    f"{kind} {k} is {t.bytes} bytes of {t.dtype} there, {e.get('bytes')} bytes of {e.get('dtype')} here"
                )
    if problems:
        raise SessionError("the device's model does not match: " + "; ".join(problems))
