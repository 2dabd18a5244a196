"""FrameDecoder: stream cutting, size limit, dead after an error."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.remoting.command import RemotingCommand, encode
from pyrmq.remoting.framing import FrameDecoder, FrameError, decode_commands
from tests.support.vectors import client_frames

FLOW = b"".join(
    bytes.fromhex(f["frameHex"]) for f in client_frames() if f["_id"].startswith("flow-cpp1-sync")
)


def test_a_whole_captured_flow_decodes_as_one_stream() -> None:
    if not FLOW:
        pytest.skip("client captures are missing")
    commands = decode_commands(FLOW)
    assert len(commands) == 41
    assert commands[0].code == 105


@given(st.lists(st.integers(1, 64), min_size=1, max_size=30))
def test_any_split_of_a_stream_gives_the_same_commands(cuts: list[int]) -> None:
    stream = b"".join(encode(RemotingCommand(code=i, opaque=i, body=b"x" * i)) for i in range(5))
    decoder = FrameDecoder()
    got: list[RemotingCommand] = []
    pos = 0
    for cut in cuts:
        got += decoder.feed(stream[pos : pos + cut])
        pos += cut
    got += decoder.feed(stream[pos:])
    assert [c.code for c in got] == list(range(5))
    assert decoder.buffered == 0


def test_oversized_frame_is_refused_before_its_bytes_arrive() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    with pytest.raises(FrameError, match="exceeds the limit"):
        decoder.feed(struct.pack(">I", 2 * 1024**3 - 1))
    with pytest.raises(FrameError, match="already failed"):
        decoder.feed(b"more")


def test_limit_counts_the_length_word_like_netty() -> None:
    frame = encode(RemotingCommand(code=1, body=b"x" * 100))
    assert FrameDecoder(max_frame_bytes=len(frame)).feed(frame)
    with pytest.raises(FrameError):
        FrameDecoder(max_frame_bytes=len(frame) - 1).feed(frame)


def test_tiny_length_and_garbage_header_are_errors() -> None:
    with pytest.raises(FrameError, match="too small"):
        FrameDecoder().feed(struct.pack(">I", 2) + b"ab")
    with pytest.raises(FrameError, match="invalid JSON"):
        FrameDecoder().feed(struct.pack(">II", 9, 5) + b"hello")


def test_frames_before_a_bad_one_are_kept() -> None:
    decoder = FrameDecoder()
    good = encode(RemotingCommand(code=7))
    commands = decoder.feed(good + struct.pack(">II", 9, 5) + b"hello" + good)
    assert [c.code for c in commands] == [7]
    assert decoder.error is not None and "invalid JSON" in decoder.error
    with pytest.raises(FrameError, match="already failed"):
        decoder.feed(good)


def test_trailing_partial_frame_is_reported() -> None:
    with pytest.raises(FrameError, match="trailing"):
        decode_commands(encode(RemotingCommand(code=1))[:-1])
