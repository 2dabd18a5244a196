"""The classic HA wire format, sans IO (store.md §6.2; Java ``HAConnection``/``HAClient``).

Slave -> master: an 8-byte big-endian long, the slave's commitlog max offset ("report").
Master -> slave: frames of [8-byte physical offset][4-byte body size][body]; size 0 is a
heartbeat. Encoders return bytes; decoders are fed arbitrary chunks and return whole events.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "FRAME_HEADER_SIZE",
    "REPORT_SIZE",
    "Frame",
    "FrameDecoder",
    "HAProtocolError",
    "ReportDecoder",
    "encode_frame_header",
    "encode_heartbeat",
    "encode_report",
]

_REPORT: Final = struct.Struct(">q")
_HEADER: Final = struct.Struct(">qi")
REPORT_SIZE: Final = _REPORT.size
FRAME_HEADER_SIZE: Final = _HEADER.size
#: The Java slave's receive buffer is 4 MiB; a larger frame can never be valid.
MAX_BODY_SIZE: Final = 4 * 1024 * 1024


class HAProtocolError(Exception):
    """The peer sent something the protocol does not allow: the connection must be closed."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One master frame: ``body`` holds commitlog bytes starting at ``offset`` (b"" = heartbeat)."""

    offset: int
    body: bytes

    @property
    def is_heartbeat(self) -> bool:
        return not self.body


def encode_report(max_offset: int) -> bytes:
    return _REPORT.pack(max_offset)


def encode_frame_header(offset: int, body_size: int) -> bytes:
    return _HEADER.pack(offset, body_size)


def encode_heartbeat(offset: int) -> bytes:
    return _HEADER.pack(offset, 0)


class ReportDecoder:
    """Master side: turns the byte stream from a slave into its reported offsets."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[int]:
        self._buf += data
        whole = len(self._buf) - len(self._buf) % REPORT_SIZE
        values = [v for (v,) in _REPORT.iter_unpack(self._buf[:whole])]
        del self._buf[:whole]
        for value in values:
            if value < 0:
                raise HAProtocolError(f"negative slave offset {value}")
        return values


class FrameDecoder:
    """Slave side: turns the byte stream from the master into frames."""

    def __init__(self, max_body_size: int = MAX_BODY_SIZE) -> None:
        self._buf = bytearray()
        self._max_body_size = max_body_size

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        pos = 0
        while len(self._buf) - pos >= FRAME_HEADER_SIZE:
            offset, size = _HEADER.unpack_from(self._buf, pos)
            self._check(offset, size)
            end = pos + FRAME_HEADER_SIZE + size
            if end > len(self._buf):
                break
            frames.append(Frame(offset, bytes(self._buf[pos + FRAME_HEADER_SIZE : end])))
            pos = end
        del self._buf[:pos]
        return frames

    def _check(self, offset: int, size: int) -> None:
        if offset < 0:
            raise HAProtocolError(f"negative frame offset {offset}")
        if not 0 <= size <= self._max_body_size:
            raise HAProtocolError(f"frame body size {size} out of range")
