"""fastjson-flavoured JSON: one (value, bytes) table drives both writing and reading."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.remoting.fastjson import (
    FrozenKey,
    JsonError,
    dumps_legacy,
    dumps_standard,
    freeze,
    java_double,
    loads,
    thaw,
)

MQ = FrozenKey.of({"topic": "TopicTest", "brokerName": "broker-a", "queueId": 0})
MQ_JSON = b'{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}'

# fastjson's default output; loads(bytes) must give the value back.
LEGACY: list[tuple[Any, bytes]] = [
    ({}, b"{}"),
    ([], b"[]"),
    ("", b'""'),
    (None, b"null"),
    (True, b"true"),
    (False, b"false"),
    (0, b"0"),
    (-17, b"-17"),
    (2**63 - 1, b"9223372036854775807"),
    (2**70, b"1180591620717411303424"),
    (-(2**64), b"-18446744073709551616"),
    (0.0, b"0.0"),
    (-0.0, b"-0.0"),
    (1.0, b"1.0"),
    (1.5, b"1.5"),
    (123.456, b"123.456"),
    (0.001, b"0.001"),
    (0.0009, b"9.0E-4"),
    (1.25e-5, b"1.25E-5"),
    (9999999.0, b"9999999.0"),
    (1e7, b"1.0E7"),
    (-2.5e100, b"-2.5E100"),
    (5e-324, b"4.9E-324"),
    (1.7976931348623157e308, b"1.7976931348623157E308"),
    ({0: "a", 1: "b"}, b'{0:"a",1:"b"}'),
    ({-5: 1, 10: 2}, b"{-5:1,10:2}"),
    ({"topic@group": {0: 12, 1: 9}}, b'{"topic@group":{0:12,1:9}}'),
    ({MQ: 42}, b"{" + MQ_JSON + b":42}"),
    (
        {"offsetTable": {MQ: {"maxOffset": 10}}},
        b'{"offsetTable":{' + MQ_JSON + b':{"maxOffset":10}}}',
    ),
    ({"b": 1, "a": [1, "x", None, True]}, b'{"b":1,"a":[1,"x",null,true]}'),
    ({"s": 'q"b\\s/'}, b'{"s":"q\\"b\\\\s/"}'),
    (
        "\x00\x01\x07\b\t\n\x0b\f\r\x1f",
        b'"\\u0000\\u0001\\u0007\\b\\t\\n\\u000B\\f\\r\\u001F"',
    ),
    ("\x7f\x9f\xa0", b'"\\u007F\\u009F\xc2\xa0"'),
    ("\u2028\u2029", b'"\\u2028\\u2029"'),
    ("中文 é", '"中文 é"'.encode()),
    ("\U0001f600", b'"\xf0\x9f\x98\x80"'),
    ({"键": "值"}, '{"键":"值"}'.encode()),
    ([[[]], {"a": {}}], b'[[[]],{"a":{}}]'),
]

# BrowserCompatible + MapSortField: (value, bytes, what loads gives back).
STANDARD: list[tuple[Any, bytes, Any]] = [
    ({0: "a", 1: "b"}, b'{"0":"a","1":"b"}', {"0": "a", "1": "b"}),
    ({10: "x", 9: "y"}, b'{"9":"y","10":"x"}', {"9": "y", "10": "x"}),
    (
        {"b": 1, "a": {"d": 1, "c": 2}},
        b'{"a":{"c":2,"d":1},"b":1}',
        {"a": {"c": 2, "d": 1}, "b": 1},
    ),
    ("中/é", b'"\\u4E2D\\/\\u00E9"', "中/é"),
    ("\U0001f600", b'"\\uD83D\\uDE00"', "\U0001f600"),
    ('\x00\x7f\b\t\n\f\r"\\', b'"\\u0000\\u007F\\b\\t\\n\\f\\r\\"\\\\"', '\x00\x7f\b\t\n\f\r"\\'),
    (2**53 - 1, b"9007199254740991", 2**53 - 1),
    (2**53, b'"9007199254740992"', "9007199254740992"),
    (-(2**53), b'"-9007199254740992"', "-9007199254740992"),
    ([1.0, 1e7, None, False], b"[1.0,1.0E7,null,false]", [1.0, 1e7, None, False]),
    ({MQ: 5}, b'{"' + MQ_JSON.replace(b'"', b'\\"') + b'":5}', {MQ_JSON.decode(): 5}),
    (
        {"\U0001f600": 1, "\uffff": 2},
        b'{"\\uD83D\\uDE00":1,"\\uFFFF":2}',
        {"\U0001f600": 1, "\uffff": 2},
    ),
]

# Input only fastjson's lenient reader takes (or RFC input worth pinning): bytes -> value.
LENIENT: list[tuple[bytes | bytearray | memoryview | str, Any]] = [
    (b'  {\n\t"a" : [ 1 , 2 ] }\r\n', {"a": [1, 2]}),
    (b'{"0":"a"}', {"0": "a"}),  # quoted digits stay strings
    (b'{"a":{0:"x",-1:"y"}}', {"a": {0: "x", -1: "y"}}),
    (b"{1.5:1}", {1.5: 1}),
    (b"{'a':'b\"c'}", {"a": 'b"c'}),
    (b"{a:1,_b$:2,$c:3}", {"a": 1, "_b$": 2, "$c": 3}),
    (b"[1,2,]", [1, 2]),
    (b"[,1,,2]", [1, 2]),
    (b'{"a":1,}', {"a": 1}),
    (b'{,"a":1,,"b":2}', {"a": 1, "b": 2}),
    (b"{[1,2]:3}", {(1, 2): 3}),
    (b'{{"b":{"c":[1]},"a":1}:1}', {FrozenKey((("a", 1), ("b", FrozenKey((("c", (1,)),))))): 1}),
    (b'{{"topic":"TopicTest","queueId":0,"brokerName":"broker-a"}:1}', {MQ: 1}),
    (b'"\\u00e9\\ud83d\\ude00"', "é\U0001f600"),
    (b'"\\ud800x"', "\ud800x"),  # lone surrogate kept, as Java does
    (b'"\\/\\\'\\v\\0\\7\\x41"', "/'\x0b\x00\x07A"),
    (b"[12L,3F,4D,5S,6B,1.5e2]", [12, 3.0, 4.0, 5, 6, 150.0]),
    (b"123456789012345678901234567890", 123456789012345678901234567890),
    (b"-9223372036854775809", -9223372036854775809),
    (b"[18446744073709551615,-9223372036854775808]", [2**64 - 1, -(2**63)]),
    (b'{0:"a"}', {0: "a"}),
    ('{0:"中"}', {0: "中"}),
    (bytearray(b"[true]"), [True]),
    (memoryview(b"[null]"), [None]),
    (b'"\xff"', "\ufffd"),  # malformed UTF-8 is replaced, like new String(bytes, UTF_8)
]

# Malformed input: (bytes, position reported).
ERRORS: list[tuple[bytes, int]] = [
    (b"", 0),
    (b"   ", 3),
    (b'{"a":1', 6),
    (b"[1,2", 4),
    (b"tru", 0),
    (b"nul", 0),
    (b"[1,2] x", 6),
    (b'{"a":1}}', 7),
    (b'"abc', 0),
    (b'["abc', 1),
    (b'"\\q"', 1),
    (b'"\\u12G4"', 1),
    (b'"\\x4"', 1),
    (b'"\\', 1),
    (b'{"a" 1}', 5),
    (b"[1 2]", 3),
    (b'{"a":}', 5),
    (b"-", 0),
    (b"@", 0),
    (b"{:1}", 1),
    (b"[" * 5000, 0),
]


@pytest.mark.parametrize(("value", "wire"), LEGACY)
def test_legacy_encode(value: Any, wire: bytes) -> None:
    assert dumps_legacy(value) == wire


@pytest.mark.parametrize(("value", "wire"), LEGACY)
def test_legacy_decode(value: Any, wire: bytes) -> None:
    assert _same(loads(wire), value)


@pytest.mark.parametrize(("value", "wire", "decoded"), STANDARD)
def test_standard_encode(value: Any, wire: bytes, decoded: Any) -> None:
    assert dumps_standard(value) == wire
    assert wire.isascii()


@pytest.mark.parametrize(("value", "wire", "decoded"), STANDARD)
def test_standard_decode(value: Any, wire: bytes, decoded: Any) -> None:
    assert loads(wire) == decoded
    assert json.loads(wire) == decoded  # and it is RFC JSON


@pytest.mark.parametrize(("wire", "value"), LENIENT)
def test_lenient_decode(wire: bytes | bytearray | memoryview | str, value: Any) -> None:
    assert _same(loads(wire), value)


@pytest.mark.parametrize(("wire", "pos"), ERRORS)
def test_errors_report_position(wire: bytes, pos: int) -> None:
    with pytest.raises(JsonError) as info:
        loads(wire)
    if wire != b"[" * 5000:
        assert info.value.pos == pos
    assert f"position {info.value.pos}" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_frozen_key_behaves_as_a_key() -> None:
    a = FrozenKey.of({"topic": "t", "queueId": 1})
    b = FrozenKey.of({"queueId": 1, "topic": "t"})
    assert a == b and hash(a) == hash(b)
    assert a.get("topic") == "t" and a.get("missing", 7) == 7
    assert a.to_dict() == {"queueId": 1, "topic": "t"}
    assert freeze({"x": [1, {"y": 2}]}) == FrozenKey((("x", (1, FrozenKey((("y", 2),)))),))
    assert thaw(freeze({"x": [1, {"y": 2}]})) == {"x": [1, {"y": 2}]}


def test_frozen_key_writes_items_in_stored_order() -> None:
    key = FrozenKey((("z", 1), ("a", 2)))
    assert dumps_legacy({key: 0}) == b'{{"z":1,"a":2}:0}'
    assert dumps_legacy(key) == b'{"z":1,"a":2}'


def test_other_key_types_are_written_bare() -> None:
    assert dumps_legacy({True: 1, None: 2, 1.5: 3, (1, 2): 4}) == b"{true:1,null:2,1.5:3,[1,2]:4}"


def test_enums_by_name_and_unknown_types_rejected() -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 1

    assert dumps_legacy([Color.RED]) == b'["RED"]'
    with pytest.raises(TypeError):
        dumps_legacy(object())


def test_nan_and_infinity_are_written_as_null() -> None:
    assert [java_double(x) for x in (float("nan"), float("inf"), -float("inf"))] == ["null"] * 3


def test_lone_surrogate_is_written_like_java() -> None:
    assert dumps_legacy("a\ud800") == b'"a?"'  # String.getBytes(UTF_8) writes '?'
    assert dumps_standard("a\ud800") == b'"a\\uD800"'


# ----------------------------------------------------------------------------------- properties

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_legacy_round_trip(value: Any) -> None:
    assert _same(loads(dumps_legacy(value)), value)


@given(_json_values)
def test_standard_round_trip(value: Any) -> None:
    wire = dumps_standard(value)
    assert wire.isascii()
    assert _same(loads(wire), _as_standard(value), ordered=False)
    assert _same(json.loads(wire), _as_standard(value), ordered=False)


@given(st.dictionaries(st.integers(), _json_values, max_size=5))
def test_legacy_int_keys_round_trip(value: dict[int, Any]) -> None:
    assert _same(loads(dumps_legacy(value)), value)
    assert _same(loads(dumps_standard(value)), _as_standard(value), ordered=False)


_mq_keys = st.builds(
    lambda topic, broker, qid: FrozenKey.of({"brokerName": broker, "queueId": qid, "topic": topic}),
    st.text(),
    st.text(),
    st.integers(0, 1 << 20),
)


@given(st.dictionaries(_mq_keys, st.integers(), max_size=5))
def test_legacy_object_keys_round_trip(value: dict[FrozenKey, int]) -> None:
    assert loads(dumps_legacy(value)) == value


# ----------------------------------------------------------------------------------- helpers


def _as_standard(value: Any) -> Any:
    """What standard JSON turns a value into: keys become text, big integers strings."""
    if isinstance(value, dict):
        return {_key_text(k): _as_standard(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_standard(v) for v in value]
    if type(value) is int and abs(value) > 2**53 - 1:
        return str(value)
    return value


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else dumps_legacy(key).decode()


def _same(a: Any, b: Any, ordered: bool = True) -> bool:
    """Equality that also tells -0.0 from 0.0 and int from float (== does not), and with
    ``ordered`` the order of dict entries."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        keys_match = list(a) == list(b) if ordered else a.keys() == b.keys()
        return keys_match and all(_same(a[k], b[k], ordered) for k in a)
    if isinstance(a, list):
        pairs = zip(a, b, strict=False)
        return len(a) == len(b) and all(_same(x, y, ordered) for x, y in pairs)
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)
