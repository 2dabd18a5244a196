"""ACL 1.0 signature (protocol.md §1.11): the vector, key order, body, add/verify."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.remoting.acl import add_signature, sign, signed_content, verify

SECRET = "12345678"
VECTOR_EXT = {"AccessKey": "RocketMQ", "topic": "TopicTest"}
VECTOR_SIGNATURE = "0jiwhsaYp5ObE5GObbZH1I8/FT4="


def reference(data: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha1).digest()).decode()


#: (ext, body, signed bytes, signature or None for "compute from the signed bytes").
SIGN_TABLE: list[tuple[dict[str, str], bytes | None, bytes, str | None]] = [
    (VECTOR_EXT, None, b"RocketMQTopicTest", VECTOR_SIGNATURE),
    (VECTOR_EXT, b"", b"RocketMQTopicTest", VECTOR_SIGNATURE),
    ({**VECTOR_EXT, "Signature": "stale"}, None, b"RocketMQTopicTest", VECTOR_SIGNATURE),
    (VECTOR_EXT, b"\x00body", b"RocketMQTopicTest\x00body", None),
    # Java String.compareTo orders by UTF-16 unit: U+10000 (D800 DC00) sorts before U+FFFF.
    ({"\uffff": "b", "\U00010000": "a"}, None, b"ab", None),
    ({"b": "2", "B": "1", "a": "3"}, None, b"132", None),
    ({"k": "中"}, None, "中".encode(), None),
]


@pytest.mark.parametrize(("ext", "body", "content", "signature"), SIGN_TABLE)
def test_sign(
    ext: dict[str, str], body: bytes | None, content: bytes, signature: str | None
) -> None:
    assert signed_content(ext, body) == content
    assert sign(ext, body, SECRET) == (signature or reference(content))


def test_add_signature_gives_the_vector_and_leaves_the_input_alone() -> None:
    ext = {"topic": "TopicTest"}
    signed = add_signature(ext, None, "RocketMQ", SECRET)
    assert signed == {**VECTOR_EXT, "Signature": VECTOR_SIGNATURE}
    assert ext == {"topic": "TopicTest"}


def test_security_token_is_added_and_signed() -> None:
    signed = add_signature({"topic": "TopicTest"}, b"x", "RocketMQ", SECRET, "tok")
    assert signed["SecurityToken"] == "tok"
    assert signed["Signature"] == reference(b"RocketMQtokTopicTestx")


def test_verify() -> None:
    signed = add_signature({"topic": "TopicTest"}, b"body", "RocketMQ", SECRET)
    assert verify(signed, b"body", SECRET)
    assert not verify(signed, b"other", SECRET)
    assert not verify(signed, b"body", "wrong")
    assert not verify({**signed, "topic": "Other"}, b"body", SECRET)
    assert not verify(VECTOR_EXT, None, SECRET)  # no Signature at all


@given(
    st.dictionaries(st.text(min_size=1), st.text(), max_size=6),
    st.one_of(st.none(), st.binary(max_size=32)),
    st.text(),
)
def test_any_signed_request_verifies(ext: dict[str, str], body: bytes | None, secret: str) -> None:
    assert verify(add_signature(ext, body, "ak", secret), body, secret)
