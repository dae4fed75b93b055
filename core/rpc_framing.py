"""The RPC frame format, host side: the same frames as ``utvm/rpc/framing.h``.

A frame on the wire::

    0x7E  escaped( LEN:u16le  PAYLOAD[LEN]  CRC:u16le )

``CRC`` is CRC-16-CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no
final XOR) over the two LEN bytes and the payload, unescaped. After the start
byte, 0x7E is sent as ``7D 5E`` and 0x7D as ``7D 5D``; any other byte after
0x7D is a bad escape. A start byte inside a frame abandons it and begins a new
one, so a receiver resynchronizes on the next frame after any damage.

:class:`FrameDecoder` takes bytes in bulk (whatever a transport read returned)
and returns the payloads of the complete, valid frames, counting what it drops.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, fields

START = 0x7E
ESCAPE = 0x7D
ESCAPE_XOR = 0x20
CRC_INIT = 0xFFFF
MAX_LEN = 0xFFFF

_START_B = bytes([START])
_ESCAPE_B = bytes([ESCAPE])


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16_table(data: bytes | bytearray | memoryview, crc: int = CRC_INIT) -> int:
    """CRC-16-CCITT-FALSE of ``data``, continuing from ``crc``, in pure Python (a byte table).

    The definition the other implementations are tested against (and against the C
    runtime's): ``crc16_table(b"123456789") == 0x29B1``.
    """
    table = _TABLE
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def crc16(data: bytes | bytearray | memoryview, crc: int = CRC_INIT) -> int:
    """CRC-16-CCITT-FALSE of ``data``, continuing from ``crc``; ``crc16(b"123456789") == 0x29B1``.

    The same function as :func:`crc16_table`, computed by the standard library's
    ``binascii.crc_hqx`` (poly 0x1021, MSB first, the initial value given), which is about
    40 times faster; the tests check that both agree with each other and with the C runtime.
    """
    return binascii.crc_hqx(data, crc)


def escape(body: bytes) -> bytes:
    """Escape 0x7D and 0x7E (the escape byte first, so it is not escaped twice)."""
    return body.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")


def encode_frame(payload: bytes | bytearray | memoryview) -> bytes:
    """The wire bytes of one frame carrying ``payload`` (at most 65535 bytes)."""
    payload = bytes(payload)
    if len(payload) > MAX_LEN:
        raise ValueError(f"a frame payload is at most {MAX_LEN} bytes, got {len(payload)}")
    body = struct.pack("<H", len(payload)) + payload
    body += struct.pack("<H", crc16(body))
    return _START_B + escape(body)


def encoded_size_max(length: int) -> int:
    """The most bytes a payload of ``length`` bytes can take on the wire."""
    return 1 + 2 * (length + 4)


@dataclass
class DecoderStats:
    """What a decoder has seen; the same counters as the C ``utvm_frame_stats``."""

    frames_ok: int = 0
    bad_crc: int = 0
    overlong: int = 0
    bad_escape: int = 0
    truncated: int = 0
    junk_bytes: int = 0

    @property
    def damaged(self) -> int:
        """Frames dropped for any reason."""
        return self.bad_crc + self.overlong + self.bad_escape + self.truncated

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Results of parsing one candidate frame.
_COMPLETE, _INCOMPLETE, _BAD_ESCAPE, _OVERLONG, _BAD_CRC = range(5)


class FrameDecoder:
    """Incremental frame decoder fed with chunks of any size.

    ``feed(data)`` returns the payloads of the frames completed by ``data``, in
    order. Damaged frames are dropped and counted in :attr:`stats`; the decoder
    then waits for the next start byte, exactly as the C decoder does.
    """

    def __init__(self, max_payload: int = MAX_LEN) -> None:
        if not 0 <= max_payload <= MAX_LEN:
            raise ValueError(f"max_payload must be in 0..{MAX_LEN}, got {max_payload}")
        self.max_payload = max_payload
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._min_len = 0  # while a frame is incomplete: raw bytes needed before it can be

    def reset(self) -> None:
        """Forget buffered bytes (a partial frame); the counters are kept."""
        self._buf.clear()
        self._min_len = 0

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        buf = self._buf
        if self._min_len and len(buf) + len(data) < self._min_len and START not in data:
            buf += data  # the pending frame cannot be complete yet, and nothing interrupts it
            return []
        buf += data
        self._min_len = 0
        frames: list[bytes] = []
        stats = self.stats
        pos = 0
        n = len(buf)
        while pos < n:
            s = buf.find(_START_B, pos)
            if s < 0:
                stats.junk_bytes += n - pos
                pos = n
                break
            stats.junk_bytes += s - pos
            nxt = buf.find(_START_B, s + 1)
            end = nxt if nxt >= 0 else n
            kind, payload, used, missing = self._parse(buf, s + 1, end)
            if kind == _INCOMPLETE:
                if nxt >= 0:
                    stats.truncated += 1
                    pos = nxt
                    continue
                pos = s
                self._min_len = (n - s) + missing
                break
            if kind == _COMPLETE:
                stats.frames_ok += 1
                frames.append(payload)
                stats.junk_bytes += end - used
            elif kind == _BAD_CRC:
                stats.bad_crc += 1
                stats.junk_bytes += end - used
            elif kind == _OVERLONG:
                stats.overlong += 1
                stats.junk_bytes += end - used
            else:
                stats.bad_escape += 1
                stats.junk_bytes += end - used
            pos = end
        del buf[:pos]
        return frames

    def _parse(self, buf: bytearray, a: int, b: int) -> tuple[int, bytes, int, int]:
        """Unescape buf[a:b] (no start byte inside) up to one frame's end.

        Returns (kind, payload, raw index just past what the frame used, bytes
        still missing when incomplete).
        """
        out = bytearray()
        target = 2
        i = a
        while True:
            want = target - len(out)
            if want > 0:
                j = buf.find(_ESCAPE_B, i, b)
                if j < 0 or j - i >= want:
                    take = min(want, b - i)
                    out += buf[i : i + take]
                    i += take
                    if take < want:
                        return _INCOMPLETE, b"", i, want - take
                else:
                    out += buf[i:j]
                    if j + 1 >= b:
                        return _INCOMPLETE, b"", j, target - len(out)
                    c = buf[j + 1]
                    if c != START ^ ESCAPE_XOR and c != ESCAPE ^ ESCAPE_XOR:
                        return _BAD_ESCAPE, b"", j + 2, 0
                    out.append(c ^ ESCAPE_XOR)
                    i = j + 2
                continue
            if target == 2:
                length = out[0] | (out[1] << 8)
                if length > self.max_payload:
                    return _OVERLONG, b"", i, 0
                target = length + 4
                continue
            length = target - 4
            if crc16(out[: 2 + length]) != (out[2 + length] | (out[3 + length] << 8)):
                return _BAD_CRC, b"", i, 0
            return _COMPLETE, bytes(out[2 : 2 + length]), i, 0
