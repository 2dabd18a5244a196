"""Cuts a TCP byte stream into remoting commands; enforces the frame size limit.

Sans-IO (h11's receive_data/next_event shape): ``FrameDecoder.feed(data)`` returns the commands
completed by ``data``. Mirrors Netty's ``LengthFieldBasedFrameDecoder`` as ``NettyDecoder``
configures it (protocol.md §1.1-§1.2): a 4-byte big-endian length counting what follows it; a
frame larger than the limit (length word included) is an error, and so is any frame whose
header cannot be decoded. After an error the decoder is dead: the connection must be closed.
"""

from __future__ import annotations

from pyrmq.remoting.command import (
    DEFAULT_MAX_FRAME_BYTES,
    CommandDecodeError,
    RemotingCommand,
    decode_payload,
)

#: The smallest possible payload: the header word alone.
_MIN_PAYLOAD = 4


class FrameError(ValueError):
    """The stream is not a sequence of valid frames; nothing more can be read from it."""


class FrameDecoder:
    """Accumulates bytes and yields whole commands."""

    __slots__ = ("_buffer", "error", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        #: Why the stream became unreadable; None while it is fine.
        self.error: str | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[RemotingCommand]:
        """Add ``data``; return every command it completes, in order.

        Frames before a bad one are still returned (their senders get answers); the bad one
        sets ``error``, and the decoder takes no more bytes after it.
        """
        if self.error is not None:
            raise FrameError(f"decoder already failed: {self.error}")
        buffer = self._buffer
        buffer += data
        commands: list[RemotingCommand] = []
        pos = 0
        end = len(buffer)
        try:
            while end - pos >= 4:
                length = int.from_bytes(buffer[pos : pos + 4], "big")
                self._check_length(length)
                if end - pos - 4 < length:
                    break
                commands.append(decode_payload(bytes(buffer[pos + 4 : pos + 4 + length])))
                pos += 4 + length
        except (FrameError, CommandDecodeError) as exc:
            self.error = str(exc)
            buffer.clear()
            if not commands:
                raise FrameError(self.error) from None
            return commands
        if pos:
            del buffer[:pos]
        return commands

    def _check_length(self, length: int) -> None:
        if length + 4 > self.max_frame_bytes:
            raise FrameError(
                f"frame of {length + 4} bytes exceeds the limit of {self.max_frame_bytes}"
            )
        if length < _MIN_PAYLOAD:
            raise FrameError(f"frame length {length} is too small")


def decode_commands(
    data: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> list[RemotingCommand]:
    """Decode a complete byte string of frames (tests, captured client flows)."""
    decoder = FrameDecoder(max_frame_bytes)
    commands = decoder.feed(data)
    if decoder.error is not None:
        raise FrameError(decoder.error)
    if decoder.buffered:
        raise FrameError(f"{decoder.buffered} trailing bytes do not make a whole frame")
    return commands
