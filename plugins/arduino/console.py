"""The byte channel to a running sketch: a serial port, or the emulator's TCP port, through pyserial."""

from __future__ import annotations

import socket
import time
from typing import Any

from utvm.project_api import TransportClosed, TransportError, TransportTimeout

#: After the first byte of a read, keep collecting while bytes keep coming this often (s).
READ_GAP = 0.002


class Console:
    """Bulk reads and writes over a pyserial port (a device path or a ``socket://`` URL)."""

    def __init__(self, ser: Any) -> None:
        self.ser = ser
        self._closed_by_peer = False

    @classmethod
    def open(cls, url: str, baud: int, connect_timeout: float = 5.0) -> "Console":
        import serial

        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                ser = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=5.0)
                sock = getattr(ser, "_socket", None)
                if sock is not None:  # small frames go out at once (no Nagle delay)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return cls(ser)
            except (serial.SerialException, OSError, ValueError) as exc:
                if time.monotonic() > deadline or not url.startswith("socket://"):
                    raise TransportError(f"cannot open {url}: {exc}", port=url) from None
                time.sleep(0.05)

    def read(self, n: int, timeout: float) -> bytes:
        import serial

        if self._closed_by_peer:
            raise TransportClosed("the sketch's console closed (the emulator stopped, or the board went away)")
        data = bytearray()
        try:
            self.ser.timeout = max(0.0, timeout)
            first = self.ser.read(1)
            if not first:
                return b""
            data += first
            while len(data) < n:
                self.ser.timeout = 0
                chunk = self.ser.read(n - len(data))
                if chunk:
                    data += chunk
                    continue
                self.ser.timeout = READ_GAP
                chunk = self.ser.read(1)
                if not chunk:
                    break
                data += chunk
        except (serial.SerialException, OSError) as exc:
            self._closed_by_peer = True
            if data:
                return bytes(data)
            raise TransportClosed(f"the console closed: {exc}") from None
        return bytes(data)

    def write(self, data: bytes, timeout: float) -> None:
        import serial

        if self._closed_by_peer:
            raise TransportClosed("the sketch's console closed (the emulator stopped, or the board went away)")
        try:
            self.ser.write_timeout = max(0.001, timeout)
            n = self.ser.write(data)
            self.ser.flush()
        except serial.SerialTimeoutException as exc:
            raise TransportTimeout(f"the board did not take {len(data)} bytes within {timeout:.1f} s: {exc}") from None
        except (serial.SerialException, OSError) as exc:
            self._closed_by_peer = True
            raise TransportClosed(f"the console closed: {exc}") from None
        if n is not None and n < len(data):
            raise TransportTimeout(f"the board took {n} of {len(data)} bytes within {timeout:.1f} s")

    def discard_input(self) -> None:
        try:
            self.ser.reset_input_buffer()
        except Exception:  # noqa: BLE001 - not every port can
            pass

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001 - closing a dead port is fine
            pass
