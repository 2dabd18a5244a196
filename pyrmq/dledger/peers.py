"""The DLedger group as a broker file names it: ``dLegerPeers`` and ``dLegerSelfId``.

Sans-IO. Mirrors how DLedger's ``DLedgerConfig.getPeers`` / ``MemberState`` split
``dLegerPeers`` (``n0-127.0.0.1:40911;n1-127.0.0.1:40912``: entries separated by ``;``, the id
is the text before the first ``-``, the rest is host:port) and how RocketMQ's
``DLedgerCommitLog`` turns ``dLegerSelfId`` into a brokerId (``parseInt(selfId.substring(1)) +
1``, used when the node follows; the leader registers as brokerId 0). See store.md §7.7-§7.8.

Where pyrmq is stricter than Java, which fails later and less clearly: spaces around entries,
ids and addresses are ignored (Java would keep them in the host name); an empty entry in the
middle, an empty id, a duplicate id, a port outside 1..65535, two ids sharing an address, an
id that is not a letter followed by an integer, and two ids giving the same brokerId are
errors. Every error is a ``ValueError`` whose message names the key and the bad part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "PEERS_KEY",
    "SELF_ID_KEY",
    "Address",
    "follower_broker_id",
    "format_peers",
    "parse_peers",
    "self_id_number",
    "validate",
]

PEERS_KEY = "dLegerPeers"
SELF_ID_KEY = "dLegerSelfId"

#: (host, port) of one peer's DLedger port.
Address = tuple[str, int]

#: RocketMQ reads the brokerId from ``selfId.substring(1)``: one character, then the number.
#: pyrmq wants that character to be an ASCII letter and the number to be plain digits.
_ID_PATTERN = re.compile(r"[A-Za-z]([0-9]+)")
_EXAMPLE = "n0-127.0.0.1:40911;n1-127.0.0.2:40911;n2-127.0.0.3:40911"


def parse_peers(text: str) -> dict[str, Address]:
    """``dLegerPeers`` -> {id: (host, port)}, in the order written.

    Raises ValueError for an empty value, an entry without ``-`` or ``host:port``, an empty
    id, a port that is not a number in 1..65535, or an id written twice. Trailing ``;`` are
    fine (Java's ``split`` drops them too); an empty entry elsewhere is not.
    """
    parts = [part.strip() for part in text.strip().split(";")]
    while parts and not parts[-1]:  # Java's split drops trailing empty strings too
        parts.pop()
    if not parts:
        raise ValueError(f"{PEERS_KEY} is empty: expected id-host:port entries, e.g. {_EXAMPLE}")
    peers: dict[str, Address] = {}
    for index, entry in enumerate(parts):
        peer_id, address = _parse_entry(entry, index)
        if peer_id in peers:
            raise ValueError(f"{PEERS_KEY} names id {peer_id!r} twice (again in {entry!r})")
        peers[peer_id] = address
    return peers


def _parse_entry(entry: str, index: int) -> tuple[str, Address]:
    if not entry:
        raise ValueError(f"{PEERS_KEY} entry {index + 1} is empty (two ';' in a row?)")
    peer_id, dash, address = entry.partition("-")
    if not dash:
        raise ValueError(f"{PEERS_KEY} entry {entry!r} has no '-': expected id-host:port")
    peer_id = peer_id.strip()
    if not peer_id:
        raise ValueError(f"{PEERS_KEY} entry {entry!r} has an empty id before the '-'")
    return peer_id, _parse_address(address.strip(), entry)


def _parse_address(address: str, entry: str) -> Address:
    host, colon, port = address.rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):  # [::1]:40911
        host = host[1:-1]
    if not colon or not host:
        raise ValueError(f"{PEERS_KEY} entry {entry!r}: {address!r} is not host:port")
    port = port.strip()
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) <= 65535:
        raise ValueError(f"{PEERS_KEY} entry {entry!r}: port {port!r} is not a number in 1..65535")
    return host, int(port)


def format_peers(peers: Mapping[str, Address]) -> str:
    """The inverse of ``parse_peers``: ``id-host:port`` entries joined by ``;``."""
    return ";".join(
        f"{peer_id}-{_host_text(host)}:{port}" for peer_id, (host, port) in peers.items()
    )


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def self_id_number(self_id: str) -> int:
    """The number RocketMQ reads from a DLedger id: ``n0`` -> 0, ``n12`` -> 12.

    Raises ValueError (naming ``dLegerSelfId``) unless the id is an ASCII letter followed by
    digits.
    """
    number = _id_number(self_id)
    if number is None:
        raise ValueError(
            f"{SELF_ID_KEY} {self_id!r} is not a letter followed by an integer (e.g. n0):"
            " RocketMQ reads the brokerId of a follower from the digits after the first character"
        )
    return number


def follower_broker_id(self_id: str) -> int:
    """The brokerId a node registers with while it follows: its id number + 1 (``n0`` -> 1).

    The leader registers with brokerId 0, so no follower may use 0.
    """
    return self_id_number(self_id) + 1


def _id_number(peer_id: str) -> int | None:
    match = _ID_PATTERN.fullmatch(peer_id)
    return int(match.group(1)) if match else None


def validate(peers: Mapping[str, Address], self_id: str) -> None:
    """Check a parsed ``dLegerPeers`` against ``dLegerSelfId``; ValueError on the first fault.

    The self id must be a letter followed by an integer and one of the peer ids; every peer
    id must have that form too (each peer is some node's self id), no two may give the same
    brokerId (``n1`` and ``m1``, ``n1`` and ``n01``), and no two peers may share an address.
    """
    self_id = self_id.strip()
    if not self_id:
        raise ValueError(f"{SELF_ID_KEY} is empty: expected one of the {PEERS_KEY} ids")
    self_id_number(self_id)
    if self_id not in peers:
        known = ", ".join(peers) or "none"
        raise ValueError(f"{SELF_ID_KEY} {self_id!r} is not among the {PEERS_KEY} ids ({known})")
    _check_peer_ids(peers)
    _check_addresses(peers)


def _check_peer_ids(peers: Mapping[str, Address]) -> None:
    by_number: dict[int, str] = {}
    for peer_id in peers:
        number = _id_number(peer_id)
        if number is None:
            raise ValueError(
                f"{PEERS_KEY} id {peer_id!r} is not a letter followed by an integer (e.g. n1):"
                f" every peer is some node's {SELF_ID_KEY}"
            )
        other = by_number.setdefault(number, peer_id)
        if other != peer_id:
            raise ValueError(
                f"{PEERS_KEY} ids {other!r} and {peer_id!r} give the same follower"
                f" brokerId {number + 1}"
            )


def _check_addresses(peers: Mapping[str, Address]) -> None:
    by_address: dict[Address, str] = {}
    for peer_id, address in peers.items():
        other = by_address.setdefault(address, peer_id)
        if other != peer_id:
            host, port = address
            raise ValueError(
                f"{PEERS_KEY} ids {other!r} and {peer_id!r} share the address"
                f" {_host_text(host)}:{port}"
            )
