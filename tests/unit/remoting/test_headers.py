"""Header dataclasses <-> extFields: Java's parse rules, required fields, odd dialects."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.remoting.command import decode_frame
from pyrmq.remoting.headers import (
    GetRouteInfoRequestHeader,
    HeaderError,
    RegisterBrokerRequestHeader,
    SendMessageRequestHeaderV2,
    ext_key,
    from_ext_fields,
    to_ext_fields,
)
from tests.support.vectors import client_frames


@dataclass(slots=True)
class Sample:
    name: str
    count: int
    client_id: str | None = field(default=None, metadata=ext_key("clientID"))
    is_force: bool | None = None
    offset: int = -1


PARSE_CASES = [
    ({"name": "a", "count": "3"}, Sample("a", 3)),
    ({"name": "a", "count": "-7", "offset": "+5"}, Sample("a", -7, offset=5)),
    ({"name": "a", "count": "0", "clientID": "c1"}, Sample("a", 0, client_id="c1")),
    # Boolean.parseBoolean: only "true" (any case) is true; cpp's "1" is false, as in Java.
    ({"name": "a", "count": "1", "isForce": "TRUE"}, Sample("a", 1, is_force=True)),
    ({"name": "a", "count": "1", "isForce": "1"}, Sample("a", 1, is_force=False)),
    ({"name": "a", "count": "1", "isForce": "yes"}, Sample("a", 1, is_force=False)),
    # unknown keys (bname, AccessKey, OnsChannel, ...) are ignored
    ({"name": "a", "count": "1", "bname": "b", "AccessKey": ""}, Sample("a", 1)),
]


@pytest.mark.parametrize(("ext", "header"), PARSE_CASES)
def test_from_ext_fields(ext: dict[str, str], header: Sample) -> None:
    assert from_ext_fields(Sample, ext) == header


BAD_CASES = [
    ({"count": "1"}, "<name> is null"),
    ({"name": "a"}, "<count> is null"),
    (None, "<name> is null"),
    ({"name": "a", "count": "1.0"}, "bad value for <count>"),
    ({"name": "a", "count": " 1"}, "bad value for <count>"),
    ({"name": "a", "count": "x"}, "bad value for <count>"),
]


@pytest.mark.parametrize(("ext", "message"), BAD_CASES)
def test_bad_ext_fields(ext: dict[str, str] | None, message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        from_ext_fields(Sample, ext)


def test_to_ext_fields_writes_java_forms_and_omits_none() -> None:
    header = Sample("a", 2, client_id="c", is_force=False)
    assert to_ext_fields(header) == {
        "name": "a",
        "count": "2",
        "clientID": "c",
        "isForce": "false",
        "offset": "-1",
    }
    assert to_ext_fields(GetRouteInfoRequestHeader("T")) == {"topic": "T"}


@given(
    st.text(min_size=1),
    st.integers(-(2**63), 2**63 - 1),
    st.none() | st.text(min_size=1),
    st.none() | st.booleans(),
)
def test_round_trip(name: str, count: int, client_id: str | None, force: bool | None) -> None:
    header = Sample(name, count, client_id, force)
    assert from_ext_fields(Sample, to_ext_fields(header)) == header


def test_register_broker_header_keys_are_java_field_names() -> None:
    ext = to_ext_fields(RegisterBrokerRequestHeader("b", "1.2.3.4:10911", "c", "1.2.3.4:10912", 0))
    assert sorted(ext) == [
        "bodyCrc32",
        "brokerAddr",
        "brokerId",
        "brokerName",
        "clusterName",
        "compressed",
        "haServerAddr",
    ]


SENDS = [f for f in client_frames() if f["code"] == 310]


@pytest.mark.parametrize("frame", SENDS[:40], ids=[f["_id"] for f in SENDS[:40]])
def test_captured_v2_sends_bind_to_the_v2_header(frame: dict[str, object]) -> None:
    cmd = decode_frame(bytes.fromhex(str(frame["frameHex"])))
    header = from_ext_fields(SendMessageRequestHeaderV2, cmd.ext_fields)
    assert header.b == dict(frame["extFields"])["b"]  # type: ignore[call-overload]
    assert isinstance(header.e, int) and isinstance(header.g, int)
