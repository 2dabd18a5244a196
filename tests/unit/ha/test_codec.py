"""The classic HA wire format: exact bytes both ways, decoders fed in any chunking."""

from __future__ import annotations

import pytest

from pyrmq.ha.codec import (
    Frame,
    FrameDecoder,
    HAProtocolError,
    ReportDecoder,
    encode_frame_header,
    encode_heartbeat,
    encode_report,
)

REPORTS = [
    (0, b"\x00\x00\x00\x00\x00\x00\x00\x00"),
    (1, b"\x00\x00\x00\x00\x00\x00\x00\x01"),
    (0x0102030405060708, b"\x01\x02\x03\x04\x05\x06\x07\x08"),
    (1 << 30, b"\x00\x00\x00\x00\x40\x00\x00\x00"),
]

FRAMES = [
    (Frame(0, b""), b"\x00" * 8 + b"\x00\x00\x00\x00"),
    (Frame(65536, b"ab"), b"\x00\x00\x00\x00\x00\x01\x00\x00" + b"\x00\x00\x00\x02" + b"ab"),
    (
        Frame(0x0A0B0C0D0E0F1011, b"\x01\x02\x03"),
        b"\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x00\x00\x00\x03\x01\x02\x03",
    ),
]


def frame_bytes(frame: Frame) -> bytes:
    return encode_frame_header(frame.offset, len(frame.body)) + frame.body


@pytest.mark.parametrize(("offset", "wire"), REPORTS)
def test_report_encoding(offset: int, wire: bytes) -> None:
    assert encode_report(offset) == wire
    assert ReportDecoder().feed(wire) == [offset]


@pytest.mark.parametrize(("frame", "wire"), FRAMES)
def test_frame_encoding(frame: Frame, wire: bytes) -> None:
    assert frame_bytes(frame) == wire
    assert FrameDecoder().feed(wire) == [frame]


def test_heartbeat_is_an_empty_frame() -> None:
    assert encode_heartbeat(7) == b"\x00" * 7 + b"\x07" + b"\x00" * 4
    (frame,) = FrameDecoder().feed(encode_heartbeat(7))
    assert frame.is_heartbeat
    assert frame.offset == 7


def test_report_decoder_byte_by_byte() -> None:
    stream = b"".join(wire for _, wire in REPORTS)
    decoder = ReportDecoder()
    got = [value for i in range(len(stream)) for value in decoder.feed(stream[i : i + 1])]
    assert got == [offset for offset, _ in REPORTS]


def test_frame_decoder_byte_by_byte() -> None:
    stream = b"".join(wire for _, wire in FRAMES)
    decoder = FrameDecoder()
    got = [frame for i in range(len(stream)) for frame in decoder.feed(stream[i : i + 1])]
    assert got == [frame for frame, _ in FRAMES]


def test_frame_decoder_many_frames_in_one_chunk_with_a_partial_tail() -> None:
    stream = b"".join(wire for _, wire in FRAMES)
    decoder = FrameDecoder()
    assert decoder.feed(stream + stream[:5]) == [frame for frame, _ in FRAMES]
    assert decoder.feed(stream[5:]) == [frame for frame, _ in FRAMES]


def test_report_decoder_keeps_partial_value() -> None:
    decoder = ReportDecoder()
    assert decoder.feed(b"\x00" * 7) == []
    assert decoder.feed(b"\x05\x00") == [5]
    assert decoder.feed(b"\x00" * 6 + b"\x09") == [9]


@pytest.mark.parametrize(
    "wire",
    [
        b"\x00" * 8 + b"\xff\xff\xff\xff",  # negative size
        b"\x00" * 8 + b"\x00\x40\x00\x01",  # 4 MiB + 1
        b"\x80" + b"\x00" * 7 + b"\x00\x00\x00\x00",  # negative offset
    ],
)
def test_frame_decoder_rejects_bad_headers(wire: bytes) -> None:
    with pytest.raises(HAProtocolError):
        FrameDecoder().feed(wire)


def test_report_decoder_rejects_negative_offset() -> None:
    with pytest.raises(HAProtocolError):
        ReportDecoder().feed(b"\xff" * 8)
