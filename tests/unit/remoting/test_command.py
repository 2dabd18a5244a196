"""RemotingCommand codecs: the shared vectors both ways, real client frames, round trips."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.remoting.codes import SerializeType
from pyrmq.remoting.command import (
    CommandDecodeError,
    RemotingCommand,
    decode_frame,
    decode_json_header,
    encode,
)
from tests.support.vectors import CLIENTS, client_frames, hex_bytes, require

JSON = SerializeType.JSON
ROCKETMQ = SerializeType.ROCKETMQ

# One table drives encode and decode: (vector file, the command it holds).
VECTOR_CASES = [
    (
        "get_routeinfo_json_request.hex",
        RemotingCommand(
            code=105,
            opaque=1,
            ext_fields={"topic": "TopicTest"},
            language="JAVA",
            version=479,
            serialize_type=JSON,
        ),
    ),
    (
        "get_routeinfo_rocketmq_request.hex",
        RemotingCommand(
            code=105,
            opaque=1,
            ext_fields={"topic": "TopicTest"},
            language="JAVA",
            version=479,
            serialize_type=ROCKETMQ,
        ),
    ),
    (
        "update_consumer_offset_oneway_json.hex",
        RemotingCommand(
            code=15,
            opaque=7,
            flag=2,
            language="JAVA",
            version=479,
            serialize_type=JSON,
            ext_fields={
                "commitOffset": "128",
                "consumerGroup": "GroupA",
                "queueId": "1",
                "topic": "TopicTest",
            },
        ),
    ),
    (
        "topic_not_exist_response_json.hex",
        RemotingCommand(
            code=17,
            opaque=1,
            flag=1,
            language="JAVA",
            version=479,
            serialize_type=JSON,
            remark="No topic route info in name server for the topic: TopicTest",
        ),
    ),
]


@pytest.mark.parametrize(("name", "cmd"), VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_vector_decodes(name: str, cmd: RemotingCommand) -> None:
    assert decode_frame(hex_bytes(name)) == cmd


@pytest.mark.parametrize(("name", "cmd"), VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_vector_encodes_byte_for_byte(name: str, cmd: RemotingCommand) -> None:
    assert encode(cmd) == hex_bytes(name)


def test_oneway_and_response_flags() -> None:
    oneway = decode_frame(hex_bytes("update_consumer_offset_oneway_json.hex"))
    response = decode_frame(hex_bytes("topic_not_exist_response_json.hex"))
    assert oneway.is_oneway and not oneway.is_response
    assert response.is_response and not response.is_oneway


def test_response_keeps_request_serialize_type_and_opaque() -> None:
    request = decode_frame(hex_bytes("get_routeinfo_rocketmq_request.hex"))
    response = request.response(17, "no route")
    assert (response.serialize_type, response.opaque, response.flag) == (ROCKETMQ, 1, 1)
    assert decode_frame(encode(response)).serialize_type == ROCKETMQ


# --------------------------------------------------------------------------- real clients

FRAMES = client_frames()


@pytest.mark.parametrize("frame", FRAMES, ids=[f["_id"] for f in FRAMES])
def test_every_captured_client_frame_decodes(frame: dict[str, object]) -> None:
    cmd = decode_frame(bytes.fromhex(str(frame["frameHex"])))
    assert cmd.code == frame["code"]
    assert cmd.opaque == frame["opaque"]
    assert cmd.flag == frame["flag"]
    assert cmd.language == frame["language"]
    assert cmd.version == frame["version"]
    assert cmd.remark == (frame["remark"] or None)
    assert cmd.serialize_type == JSON
    expected_ext = {k: _java_text(v) for k, v in dict(frame["extFields"] or {}).items()}  # type: ignore[call-overload]
    assert (cmd.ext_fields or {}) == expected_ext
    assert len(cmd.body or b"") == frame["bodyLen"]


def test_client_captures_are_present() -> None:
    # Guards the parametrised test above against silently running zero cases.
    require(CLIENTS)
    assert len(FRAMES) > 500


def _java_text(value: object) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


TOLERANT_HEADERS = [
    # cpp: jsoncpp output ends with a newline; ext numbers as JSON numbers; "remark":"".
    (
        b'{"code":10,"extFields":{"queueId":3,"sysFlag":0,"batch":"1"},"flag":0,'
        b'"language":"CPP","opaque":5,"remark":"","version":63}\n',
        {"queueId": "3", "sysFlag": "0", "batch": "1"},
        None,
    ),
    # ali-ons: key order of its own, booleans, no remark at all.
    (
        b'{"code":310,"language":"JAVA","opaque":2,"flag":0,"version":121,'
        b'"extFields":{"k":false,"d":4,"g":1795935440448}}',
        {"k": "false", "d": "4", "g": "1795935440448"},
        None,
    ),
    # unknown top-level keys, null ext values, surrounding whitespace.
    (
        b'  {"code":34,"flag":0,"opaque":1,"version":1,"zone":"x","remark":"hi",'
        b'"extFields":{"a":null,"b":"c"}}  ',
        {"b": "c"},
        "hi",
    ),
]


@pytest.mark.parametrize(("header", "ext", "remark"), TOLERANT_HEADERS)
def test_tolerant_json_header(
    header: bytes, ext: dict[str, str] | None, remark: str | None
) -> None:
    cmd = decode_json_header(header)
    assert cmd.ext_fields == ext
    assert cmd.remark == remark


BAD_FRAMES = [
    ("not json", b'{"code":'),
    ("json array", b"[1,2]"),
    ("code is a string of letters", b'{"code":"abc"}'),
    ("extFields is a list", b'{"code":1,"extFields":[1]}'),
]


@pytest.mark.parametrize(("why", "header"), BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_bad_json_header_is_a_decode_error(why: str, header: bytes) -> None:
    frame = struct.pack(">II", 4 + len(header), len(header)) + header
    with pytest.raises(CommandDecodeError):
        decode_frame(frame)


def test_bad_rocketmq_headers_are_decode_errors() -> None:
    good = hex_bytes("get_routeinfo_rocketmq_request.hex")
    header = good[8:]
    for cut in range(len(header)):
        frame = struct.pack(">II", 4 + cut, (1 << 24) | cut) + header[:cut]
        with pytest.raises(CommandDecodeError):
            decode_frame(frame)


def test_unknown_serialize_type_and_overlong_header_length() -> None:
    with pytest.raises(CommandDecodeError, match="serialize type"):
        decode_frame(struct.pack(">II", 6, (7 << 24) | 2) + b"{}")
    with pytest.raises(CommandDecodeError, match="header length"):
        decode_frame(struct.pack(">II", 6, 200) + b"{}")


def test_rocketmq_empty_strings_decode_as_absent() -> None:
    cmd = RemotingCommand(
        code=1, remark="", ext_fields={"a": "", "b": "x"}, serialize_type=ROCKETMQ
    )
    decoded = decode_frame(encode(cmd))
    assert decoded.remark is None
    assert decoded.ext_fields == {"b": "x"}


def test_rocketmq_truncates_code_and_version_to_16_bits() -> None:
    cmd = RemotingCommand(code=200050, version=70000, serialize_type=ROCKETMQ)
    decoded = decode_frame(encode(cmd))
    assert (decoded.code, decoded.version) == (200050 - 3 * 65536, 70000 - 65536)


# --------------------------------------------------------------------------- round trips

texts = st.text(st.characters(codec="utf-8"), max_size=20)
i32 = st.integers(-(2**31), 2**31 - 1)
i16 = st.integers(-(2**15), 2**15 - 1)
languages = st.sampled_from(["JAVA", "CPP", "GO", "PYTHON", "OTHER"])


@st.composite
def commands(draw: st.DrawFn, serialize_type: int) -> RemotingCommand:
    binary = serialize_type == ROCKETMQ
    # ROCKETMQ reads empty strings as null, so a round trip only holds for non-empty ones.
    text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20) if binary else texts
    number = i16 if binary else i32
    ext = draw(st.none() | st.dictionaries(text, text, min_size=1 if binary else 0, max_size=8))
    return RemotingCommand(
        code=draw(number),
        opaque=draw(i32),
        flag=draw(st.sampled_from([0, 1, 2, 3])),
        remark=draw(st.none() | text),
        ext_fields=ext,
        body=draw(st.none() | st.binary(min_size=1, max_size=64)),
        language=draw(languages),
        version=draw(number),
        serialize_type=serialize_type,
    )


@given(commands(JSON))
def test_json_round_trip(cmd: RemotingCommand) -> None:
    if cmd.remark == "":
        cmd.remark = None  # "remark":"" means no remark
    assert decode_frame(encode(cmd)) == cmd


@given(commands(ROCKETMQ))
def test_rocketmq_round_trip(cmd: RemotingCommand) -> None:
    assert decode_frame(encode(cmd)) == cmd
