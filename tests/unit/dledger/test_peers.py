"""dLegerPeers / dLegerSelfId parsing and checks (pyrmq.dledger.peers), as tables."""

from __future__ import annotations

import pytest

from pyrmq.dledger.peers import (
    Address,
    follower_broker_id,
    format_peers,
    parse_peers,
    self_id_number,
    validate,
)

THREE = {"n0": ("127.0.0.1", 40911), "n1": ("127.0.0.1", 40912), "n2": ("127.0.0.1", 40913)}

PARSE_OK: list[tuple[str, dict[str, Address]]] = [
    ("n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913", THREE),
    ("n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913;", THREE),
    ("  n0-127.0.0.1:40911 ; n1-127.0.0.1:40912;\tn2-127.0.0.1:40913 ;  ", THREE),
    ("n0 - 127.0.0.1:40911;n1-127.0.0.1 : 40912;n2-127.0.0.1:40913", THREE),
    ("n0-localhost:1", {"n0": ("localhost", 1)}),
    ("n0-[::1]:65535", {"n0": ("::1", 65535)}),
    # The id is the text before the FIRST '-'; the host may contain more of them.
    ("a7-my-host.example:40911", {"a7": ("my-host.example", 40911)}),
]

PARSE_ERRORS: list[tuple[str, str]] = [
    ("", "dLegerPeers is empty"),
    ("  ;  ", "dLegerPeers is empty"),
    ("n0-127.0.0.1:1;;n1-127.0.0.1:2", "dLegerPeers entry 2 is empty"),
    ("n0 127.0.0.1:40911", "'n0 127.0.0.1:40911' has no '-'"),
    ("-127.0.0.1:40911", "'-127.0.0.1:40911' has an empty id"),
    ("n0-127.0.0.1", "'127.0.0.1' is not host:port"),
    ("n0-:40911", "':40911' is not host:port"),
    ("n0-127.0.0.1:", "port '' is not a number"),
    ("n0-127.0.0.1:0", "port '0' is not a number in 1..65535"),
    ("n0-127.0.0.1:65536", "port '65536'"),
    ("n0-127.0.0.1:4o911", "port '4o911'"),
    ("n0-127.0.0.1:-1", "port '-1'"),
    ("n0-127.0.0.1:1;n0-127.0.0.2:1", "names id 'n0' twice"),
]

VALIDATE_ERRORS: list[tuple[str, str, str]] = [
    ("n0-127.0.0.1:1;n1-127.0.0.1:2", "", "dLegerSelfId is empty"),
    ("n0-127.0.0.1:1;n1-127.0.0.1:2", "n9", "dLegerSelfId 'n9' is not among the dLegerPeers ids"),
    ("n0-127.0.0.1:1;node-127.0.0.1:2", "node", "dLegerSelfId 'node' is not a letter followed"),
    ("n0-127.0.0.1:1;x-127.0.0.1:2", "n0", "dLegerPeers id 'x' is not a letter followed"),
    ("n0-127.0.0.1:1;n1-127.0.0.1:2;m1-127.0.0.1:3", "n0", "ids 'n1' and 'm1' give the same"),
    ("n0-127.0.0.1:1;n1-127.0.0.1:2;n01-127.0.0.1:3", "n0", "ids 'n1' and 'n01' give the same"),
    ("n0-127.0.0.1:1;n1-127.0.0.1:1", "n0", "ids 'n0' and 'n1' share the address 127.0.0.1:1"),
]

SELF_IDS: list[tuple[str, int, int]] = [("n0", 0, 1), ("n1", 1, 2), ("N2", 2, 3), ("z10", 10, 11)]

BAD_SELF_IDS = ["", "n", "0", "00", "nn0", "n-1", "n+1", "n1a", "n 1", "é1", "n١"]


@pytest.mark.parametrize(("text", "expected"), PARSE_OK)
def test_parse_peers(text: str, expected: dict[str, Address]) -> None:
    assert parse_peers(text) == expected


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_peers_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="dLegerPeers") as info:
        parse_peers(text)
    assert message in str(info.value)


def test_parse_keeps_the_written_order() -> None:
    assert list(parse_peers("n2-h:3;n0-h:1;n1-h:2")) == ["n2", "n0", "n1"]


@pytest.mark.parametrize("text", [text for text, _ in PARSE_OK])
def test_format_is_the_inverse_of_parse(text: str) -> None:
    peers = parse_peers(text)
    assert parse_peers(format_peers(peers)) == peers


def test_format_peers() -> None:
    assert format_peers(THREE) == "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913"
    assert format_peers({"n0": ("::1", 1)}) == "n0-[::1]:1"


@pytest.mark.parametrize(("self_id", "number", "broker_id"), SELF_IDS)
def test_self_id_number_and_follower_broker_id(self_id: str, number: int, broker_id: int) -> None:
    assert self_id_number(self_id) == number
    assert follower_broker_id(self_id) == broker_id


@pytest.mark.parametrize("self_id", BAD_SELF_IDS)
def test_self_id_must_be_letter_then_integer(self_id: str) -> None:
    with pytest.raises(ValueError, match=r"dLegerSelfId .* is not a letter followed by an integer"):
        self_id_number(self_id)
    with pytest.raises(ValueError, match="dLegerSelfId"):
        follower_broker_id(self_id)


@pytest.mark.parametrize("self_id", ["n0", "n1", "n2", " n1 "])
def test_validate_accepts(self_id: str) -> None:
    validate(THREE, self_id)


@pytest.mark.parametrize(("text", "self_id", "message"), VALIDATE_ERRORS)
def test_validate_rejects(text: str, self_id: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        validate(parse_peers(text), self_id)
    assert message in str(info.value)
