"""ACL 1.0 request signature: what a client adds to a request's extFields, and its check.

Mirrors ``AclClientRPCHook.doBeforeRequest`` with ``AclUtils.combineRequestContent`` and
``AclSigner.calSignature`` (HmacSHA1, Base64) of RocketMQ 4.9.8 (protocol.md §1.11). The
broker-side check (``PlainAccessValidator``) recomputes the same signature, so ``verify`` is the
same computation. Stdlib only, sans-IO.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

__all__ = [
    "ACCESS_KEY",
    "SECURITY_TOKEN",
    "SIGNATURE",
    "add_signature",
    "sign",
    "signed_content",
    "verify",
]

#: SessionCredentials ext keys.
ACCESS_KEY: Final = "AccessKey"
SECURITY_TOKEN: Final = "SecurityToken"
SIGNATURE: Final = "Signature"


def _java_order(key: str) -> bytes:
    # Java's TreeMap sorts by String.compareTo, i.e. by UTF-16 code unit. Big-endian UTF-16
    # bytes compare in exactly that order; Python's str order (code points) differs once a
    # key holds a character above U+FFFF next to one in U+E000-U+FFFF.
    return key.encode("utf-16-be", "surrogatepass")


def signed_content(ext_fields: Mapping[str, str], body: bytes | None) -> bytes:
    """The signed bytes: every ext value but ``Signature``, in key order, UTF-8, then the body."""
    keys = sorted((key for key in ext_fields if key != SIGNATURE), key=_java_order)
    text = "".join(ext_fields[key] for key in keys)
    return text.encode() + (body or b"")


def sign(ext_fields: Mapping[str, str], body: bytes | None, secret_key: str) -> str:
    """Base64(HMAC-SHA1(secret_key, signed content)) for the request's ext map and body."""
    mac = hmac.new(secret_key.encode(), signed_content(ext_fields, body), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def add_signature(
    ext_fields: Mapping[str, str],
    body: bytes | None,
    access_key: str,
    secret_key: str,
    security_token: str | None = None,
) -> dict[str, str]:
    """A new ext map with ``AccessKey``, ``SecurityToken`` (if given) and ``Signature`` added.

    ``ext_fields`` must already hold the flattened custom header: the signature covers it.
    """
    signed = dict(ext_fields)
    signed[ACCESS_KEY] = access_key
    if security_token is not None:
        signed[SECURITY_TOKEN] = security_token
    signed[SIGNATURE] = sign(signed, body, secret_key)
    return signed


def verify(ext_fields: Mapping[str, str], body: bytes | None, secret_key: str) -> bool:
    """Whether the ext map's ``Signature`` matches (compared in constant time)."""
    claimed = ext_fields.get(SIGNATURE)
    if claimed is None:
        return False
    return hmac.compare_digest(claimed.encode(), sign(ext_fields, body, secret_key).encode())
