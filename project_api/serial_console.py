"""A plugin's byte channel to a device over pyserial: a serial port, or an emulator's TCP port.

Project servers whose firmware talks over a UART all need the same few things, and this module
is their one home (used by the arduino and baremetal_cmsis plugins; a third-party plugin may
use it as it is):

- :class:`SerialConsole`: bulk reads and writes over a pyserial port, opened from a device path
  (``/dev/ttyACM0``) or a ``socket://127.0.0.1:PORT`` URL (an emulator's console; Nagle is
  turned off so that small RPC frames go out at once, and the connection is retried until the
  emulator listens). ``read(n, timeout)`` waits up to ``timeout`` for the first byte, then
  keeps collecting while bytes keep coming (gaps under :data:`READ_GAP`), so one call returns
  a whole frame rather than a byte; ``write(data, timeout)`` raises ``TransportTimeout`` when
  the device does not take the bytes in time. A port that fails (the emulator stopped, the
  board went away) raises ``TransportClosed`` then and at every later call. The texts name the
  other end as the plugin chooses (``peer``, ``closed_message``).
- :func:`find_serial_port`: the device path of a USB serial port by its serial number (a
  probe's UID) or VID:PID; ``TransportError`` listing the ports seen when none or several match.

pyserial is imported when a console is opened, not when this module is.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from .errors import TransportClosed, TransportError, TransportTimeout

#: After the first byte of a read, keep collecting while bytes keep coming this often (s).
READ_GAP = 0.002

DEFAULT_CLOSED_MESSAGE = "the device closed the console (the firmware exited, or the emulator stopped)"


def find_serial_port(serial_number: str | None = None, vid: int | None = None, pid: int | None = None) -> str:
    """The device path of the USB serial port with this serial number (or VID:PID, if only one matches)."""
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    if serial_number:
        wanted = str(serial_number).lower()
        matches = [p for p in ports if (p.serial_number or "").lower() == wanted]
    elif vid is not None:
        matches = [p for p in ports if p.vid == vid and (pid is None or p.pid == pid)]
    else:
        matches = []
    if len(matches) == 1:
        return matches[0].device
    seen = ", ".join(f"{p.device} (serial {p.serial_number}, {p.vid or 0:04x}:{p.pid or 0:04x})" for p in ports)
    what = f"serial number {serial_number}" if serial_number else f"USB {vid or 0:04x}:{pid or 0:04x}"
    if not matches:
        raise TransportError(
            f"no serial port with {what}; ports: {seen or 'none'}; give the port with the option port=/dev/ttyACM0"
        )
    raise TransportError(f"several serial ports match {what}: {seen}; give one with the option port=...")


class SerialConsole:
    """Bulk reads and writes over a pyserial port (a device path or a ``socket://`` URL).

    ``peer`` names the other end in timeout messages ("the device did not take ..."), and
    ``closed_message`` is the TransportClosed text once the port has failed.
    """

    def __init__(self, ser: Any, peer: str = "device", closed_message: str = DEFAULT_CLOSED_MESSAGE) -> None:
        self.ser = ser
        self.peer = peer
        self.closed_message = closed_message
        self._closed_by_peer = False

    @classmethod
    def open(cls, url: str, baud: int = 115200, connect_timeout: float = 5.0, **kwargs: Any) -> "SerialConsole":
        """Open ``url``; a ``socket://`` URL is retried for ``connect_timeout`` s (the emulator may not listen yet).

        ``TransportError("cannot open URL: ...", port=URL)`` when it cannot be opened.
        """
        import serial

        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                ser = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=5.0)
                sock = getattr(ser, "_socket", None)
                if sock is not None:  # small frames go out at once (no Nagle delay)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return cls(ser, **kwargs)
            except (serial.SerialException, OSError, ValueError) as exc:
                if time.monotonic() > deadline or not url.startswith("socket://"):
                    raise TransportError(f"cannot open {url}: {exc}", port=url) from None
                time.sleep(0.05)

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes: b"" when none came within ``timeout`` s, else what kept coming after the first."""
        import serial

        if self._closed_by_peer:
            raise TransportClosed(self.closed_message)
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
        """All of ``data`` within ``timeout`` s, else TransportTimeout."""
        import serial

        if self._closed_by_peer:
            raise TransportClosed(self.closed_message)
        try:
            self.ser.write_timeout = max(0.001, timeout)
            n = self.ser.write(data)
            self.ser.flush()
        except serial.SerialTimeoutException as exc:
            raise TransportTimeout(
                f"the {self.peer} did not take {len(data)} bytes within {timeout:.1f} s: {exc}"
            ) from None
        except (serial.SerialException, OSError) as exc:
            self._closed_by_peer = True
            raise TransportClosed(f"the console closed: {exc}") from None
        if n is not None and n < len(data):
            raise TransportTimeout(f"the {self.peer} took {n} of {len(data)} bytes within {timeout:.1f} s")

    def discard_input(self) -> None:
        """Drop what the port has buffered (e.g. a board's boot messages)."""
        try:
            self.ser.reset_input_buffer()
        except Exception:  # noqa: BLE001 - not every port can
            pass

    def close(self) -> None:
        sock = getattr(self.ser, "_socket", None)
        if sock is not None:
            # pyserial's socket:// close() sleeps 0.3 s afterwards for a quick reconnect to the same
            # server; an emulator's console is never reopened (the next run starts a new emulator),
            # so close the socket here and mark the port closed.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            self.ser._socket = None
            self.ser.is_open = False
            return
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001 - closing a dead port is fine
            pass
