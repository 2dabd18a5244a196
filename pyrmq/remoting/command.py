"""RemotingCommand and its two header codecs: JSON (type 0) and ROCKETMQ binary (type 1).

Owns the bytes of one frame (protocol.md §1.2-§1.10): the length word, the header word, both
header encodings in both directions, and the tolerant reading of what real clients send. Mirrors
``RemotingCommand`` and ``RocketMQSerializable`` without their process-global state: a command is
plain data, and the serialize type of a response is the one of its request.

Sans-IO: no sockets, no asyncio. Framing of a byte stream lives in ``framing.py``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from pyrmq.remoting.codes import (
    CURRENT_VERSION,
    FLAG_ONEWAY,
    FLAG_RESPONSE,
    LanguageCode,
    SerializeType,
)

#: A Java NettyDecoder refuses frames over 16 MiB (length word included).
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

_LENGTH = struct.Struct(">I")
_PREFIX = struct.Struct(">II")  # length word, header word
_RMQ_FIXED = struct.Struct(">hBhiii")  # code, language, version, opaque, flag, remark length
_I32 = struct.Struct(">i")
_H16 = struct.Struct(">H")

_LANGUAGE_BY_BYTE = {member.value: member.name for member in LanguageCode}
_BYTE_BY_LANGUAGE = {member.name: member.value for member in LanguageCode}
_SERIALIZE_NAME: dict[int, str] = {SerializeType.JSON: "JSON", SerializeType.ROCKETMQ: "ROCKETMQ"}


class CommandDecodeError(ValueError):
    """The bytes are not a valid remoting command; the connection that sent them is closed."""


@dataclass(slots=True)
class RemotingCommand:
    """One request or response. ``ext_fields`` values are always strings once decoded."""

    code: int
    opaque: int = 0
    flag: int = 0
    remark: str | None = None
    ext_fields: dict[str, str] | None = None
    body: bytes | None = None
    language: str = "PYTHON"
    version: int = CURRENT_VERSION
    serialize_type: int = SerializeType.JSON

    @property
    def is_response(self) -> bool:
        return bool(self.flag & FLAG_RESPONSE)

    @property
    def is_oneway(self) -> bool:
        return bool(self.flag & FLAG_ONEWAY)

    def ext(self, key: str, default: str | None = None) -> str | None:
        """One ext field, or ``default`` when absent."""
        if self.ext_fields is None:
            return default
        return self.ext_fields.get(key, default)

    def response(
        self,
        code: int,
        remark: str | None = None,
        ext_fields: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> RemotingCommand:
        """The response to this request: same opaque, same serialize type, RESPONSE flag."""
        return RemotingCommand(
            code=code,
            opaque=self.opaque,
            flag=FLAG_RESPONSE,
            remark=remark,
            ext_fields=ext_fields,
            body=body,
            language="JAVA",
            serialize_type=self.serialize_type,
        )


def request(
    code: int,
    ext_fields: dict[str, str] | None = None,
    body: bytes | None = None,
    *,
    oneway: bool = False,
    serialize_type: int = SerializeType.JSON,
) -> RemotingCommand:
    """A new request; the opaque is assigned by the connection that sends it."""
    return RemotingCommand(
        code=code,
        flag=FLAG_ONEWAY if oneway else 0,
        ext_fields=ext_fields,
        body=body,
        serialize_type=serialize_type,
    )


# --------------------------------------------------------------------------- encode


def encode(cmd: RemotingCommand) -> bytes:
    """The whole frame: length word, header word, header, body."""
    if cmd.serialize_type == SerializeType.ROCKETMQ:
        header = encode_rocketmq_header(cmd)
    else:
        header = encode_json_header(cmd)
    body = cmd.body or b""
    prefix = _PREFIX.pack(4 + len(header) + len(body), (cmd.serialize_type << 24) | len(header))
    return b"".join((prefix, header, body))


def encode_json_header(cmd: RemotingCommand) -> bytes:
    """Java's fastjson form: compact, keys in alphabetical order, nulls omitted."""
    header: dict[str, Any] = {"code": cmd.code}
    if cmd.ext_fields is not None:
        header["extFields"] = cmd.ext_fields
    header["flag"] = cmd.flag
    header["language"] = cmd.language
    header["opaque"] = cmd.opaque
    if cmd.remark is not None:
        header["remark"] = cmd.remark
    header["serializeTypeCurrentRPC"] = "JSON"
    header["version"] = cmd.version
    # Only the ext map needs sorting; Java writes it in HashMap order, so any order is legal,
    # and sorted output makes our bytes reproducible.
    return orjson.dumps(header, option=orjson.OPT_SORT_KEYS)


def encode_rocketmq_header(cmd: RemotingCommand) -> bytes:
    """RocketMQSerializable layout; code and version are truncated to 16 bits as Java does."""
    remark = cmd.remark.encode() if cmd.remark else b""
    parts = [
        _RMQ_FIXED.pack(
            _to_i16(cmd.code),
            _BYTE_BY_LANGUAGE.get(cmd.language, LanguageCode.OTHER),
            _to_i16(cmd.version),
            _to_i32(cmd.opaque),
            _to_i32(cmd.flag),
            len(remark),
        ),
        remark,
    ]
    ext = _encode_rocketmq_ext(cmd.ext_fields) if cmd.ext_fields else b""
    parts.append(_I32.pack(len(ext)))
    parts.append(ext)
    return b"".join(parts)


def _encode_rocketmq_ext(ext_fields: dict[str, str]) -> bytes:
    parts: list[bytes] = []
    for key, value in ext_fields.items():
        key_bytes = key.encode()
        value_bytes = value.encode()
        parts.append(_H16.pack(len(key_bytes)))
        parts.append(key_bytes)
        parts.append(_I32.pack(len(value_bytes)))
        parts.append(value_bytes)
    return b"".join(parts)


def _to_i16(value: int) -> int:
    return ((value + 0x8000) & 0xFFFF) - 0x8000


def _to_i32(value: int) -> int:
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


# --------------------------------------------------------------------------- decode


def decode_frame(frame: bytes) -> RemotingCommand:
    """Decode one whole frame, length word included (as ``encode`` returns it)."""
    if len(frame) < 8:
        raise CommandDecodeError(f"frame of {len(frame)} bytes is shorter than 8")
    (length,) = _LENGTH.unpack_from(frame, 0)
    if length != len(frame) - 4:
        raise CommandDecodeError(f"length word {length} does not match {len(frame) - 4} bytes")
    return decode_payload(frame[4:])


def decode_payload(payload: bytes) -> RemotingCommand:
    """Decode what follows the length word: header word, header, body."""
    if len(payload) < 4:
        raise CommandDecodeError("frame has no header word")
    (header_word,) = _LENGTH.unpack_from(payload, 0)
    serialize_type = header_word >> 24
    header_length = header_word & 0xFFFFFF
    body_start = 4 + header_length
    if body_start > len(payload):
        raise CommandDecodeError(
            f"header length {header_length} exceeds the {len(payload) - 4} bytes of the frame"
        )
    header = payload[4:body_start]
    if serialize_type == SerializeType.JSON:
        cmd = decode_json_header(header)
    elif serialize_type == SerializeType.ROCKETMQ:
        cmd = decode_rocketmq_header(header)
    else:
        raise CommandDecodeError(f"unknown serialize type {serialize_type}")
    if body_start < len(payload):
        cmd.body = payload[body_start:]
    return cmd


def decode_json_header(header: bytes) -> RemotingCommand:
    """Accept every dialect seen from real clients (protocol.md §1.4 decoder rules)."""
    try:
        fields = orjson.loads(header)  # tolerates the trailing newline cpp writes
    except orjson.JSONDecodeError as exc:
        raise CommandDecodeError(f"invalid JSON header: {exc}") from None
    if not isinstance(fields, dict):
        raise CommandDecodeError("JSON header is not an object")
    try:
        return RemotingCommand(
            code=_int_field(fields, "code"),
            opaque=_int_field(fields, "opaque"),
            flag=_int_field(fields, "flag"),
            remark=_remark(fields.get("remark")),
            ext_fields=_ext_fields(fields.get("extFields")),
            language=str(fields.get("language") or "OTHER"),
            version=_int_field(fields, "version"),
            serialize_type=SerializeType.JSON,
        )
    except (TypeError, ValueError) as exc:
        raise CommandDecodeError(f"bad JSON header field: {exc}") from None


def _remark(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if type(value) is str else str(value)


def _int_field(fields: dict[str, Any], name: str) -> int:
    value = fields.get(name, 0)
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} is {value!r}")
    return int(value)  # fastjson also takes "105" and 105.0; so do we


def _ext_fields(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"extFields is {type(raw).__name__}, not an object")
    for value in raw.values():
        if type(value) is not str:
            return _stringify_ext(raw)
    return raw


def _stringify_ext(raw: dict[str, Any]) -> dict[str, str]:
    """What fastjson does filling a HashMap<String,String>: text of numbers, booleans, objects."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if type(value) is str:
            out[key] = value
        elif value is True or value is False:
            out[key] = "true" if value else "false"
        elif isinstance(value, int | float):
            out[key] = repr(value)
        else:
            out[key] = orjson.dumps(value).decode()
    return out


def decode_rocketmq_header(header: bytes) -> RemotingCommand:
    """RocketMQSerializable layout; a zero-length string decodes to None (Java null)."""
    end = len(header)
    if end < 21:
        raise CommandDecodeError(f"ROCKETMQ header of {end} bytes is shorter than 21")
    code, language, version, opaque, flag, remark_length = _RMQ_FIXED.unpack_from(header, 0)
    pos = 17
    remark = None
    if remark_length:
        remark = _utf8(header, pos, remark_length, end, "remark")
        pos += remark_length
    if pos + 4 > end:
        raise CommandDecodeError("ROCKETMQ header ends before the ext length")
    (ext_length,) = _I32.unpack_from(header, pos)
    pos += 4
    if ext_length < 0 or pos + ext_length != end:
        raise CommandDecodeError(f"ext length {ext_length} does not fill the header")
    return RemotingCommand(
        code=code,
        opaque=opaque,
        flag=flag,
        remark=remark,
        ext_fields=_decode_rocketmq_ext(header, pos, end) if ext_length else None,
        language=_LANGUAGE_BY_BYTE.get(language, "OTHER"),
        version=version,
        serialize_type=SerializeType.ROCKETMQ,
    )


def _decode_rocketmq_ext(header: bytes, pos: int, end: int) -> dict[str, str]:
    ext: dict[str, str] = {}
    i32 = _I32.unpack_from
    while pos < end:
        if pos + 2 > end:
            raise CommandDecodeError("ext entry cut inside its key length")
        key_length = (header[pos] << 8) | header[pos + 1]
        key_end = pos + 2 + key_length
        if key_end + 4 > end:
            raise CommandDecodeError("ext entry cut inside its key")
        (value_length,) = i32(header, key_end)
        value_start = key_end + 4
        pos = value_start + value_length
        if value_length < 0 or pos > end:
            raise CommandDecodeError(f"ext value length {value_length} overruns the header")
        if key_length and value_length:  # Java reads zero-length strings as null
            try:
                ext[header[key_end - key_length : key_end].decode()] = header[
                    value_start:pos
                ].decode()
            except UnicodeDecodeError as exc:
                raise CommandDecodeError(f"ext entry is not UTF-8: {exc}") from None
    return ext


def _utf8(data: bytes, pos: int, length: int, end: int, what: str) -> str:
    if length < 0 or pos + length > end:
        raise CommandDecodeError(f"{what} length {length} overruns the header")
    try:
        return data[pos : pos + length].decode()
    except UnicodeDecodeError as exc:
        raise CommandDecodeError(f"{what} is not UTF-8: {exc}") from None


def serialize_type_name(serialize_type: int) -> str:
    return _SERIALIZE_NAME.get(serialize_type, str(serialize_type))
