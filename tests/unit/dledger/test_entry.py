"""DLedger record codec: byte-exact vectors for entry, index unit and filler, and every check."""

from __future__ import annotations

import pytest

from pyrmq.dledger.entry import (
    BODY_OFFSET,
    INDEX_UNIT_SIZE,
    EntryDecodeError,
    IndexUnit,
    body_crc,
    decode_entry,
    decode_filler,
    decode_header,
    decode_index_unit,
    encode_entry,
    encode_filler,
    encode_index_unit,
    index_unit_of,
    is_filler,
    needs_filler,
)
from pyrmq.dledger.log_store import Entry


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# (entry, hex of the record): magic | size | index | term | pos | channel | chainCrc | bodyCrc
# | bodyLen | body. CRC32("123456789") = 0xCBF43926 is the standard check value.
ENTRY_VECTORS = [
    (
        Entry(index=0, term=1, body=b"", pos=0),
        "00000001 00000030 0000000000000000 0000000000000001 0000000000000000"
        " 00000000 00000000 00000000 00000000",
    ),
    (
        Entry(index=5, term=3, body=b"123456789", pos=0x1000),
        "00000001 00000039 0000000000000005 0000000000000003 0000000000001000"
        " 00000000 00000000 cbf43926 00000009 313233343536373839",
    ),
    (
        Entry(index=0x0102030405060708, term=7, body=b"hello", pos=0x40000000, magic=2, channel=9),
        "00000002 00000035 0102030405060708 0000000000000007 0000000040000000"
        " 00000009 00000000 3610a686 00000005 68656c6c6f",
    ),
]


@pytest.mark.parametrize(("entry", "hex_record"), ENTRY_VECTORS)
def test_encode_entry(entry: Entry, hex_record: str) -> None:
    assert encode_entry(entry) == h(hex_record)
    assert len(h(hex_record)) == entry.size == BODY_OFFSET + len(entry.body)


@pytest.mark.parametrize(("entry", "hex_record"), ENTRY_VECTORS)
def test_decode_entry(entry: Entry, hex_record: str) -> None:
    # Embedded in a larger buffer, at an offset, followed by other bytes.
    data = b"\xee" * 7 + h(hex_record) + b"\xdd" * 5
    assert decode_entry(data, entry.pos, offset=7) == entry
    header = decode_header(data, entry.pos, offset=7)
    assert (header.size, header.body_len, header.body_crc) == (
        entry.size,
        len(entry.body),
        body_crc(entry.body),
    )


def test_decode_accepts_a_zero_body_crc_as_written_by_java() -> None:
    # DLedger never computes bodyCrc: its records carry 0 there, and must read back.
    record = bytearray(encode_entry(Entry(index=1, term=1, body=b"java", pos=96)))
    record[40:44] = b"\0\0\0\0"
    assert decode_entry(bytes(record), 96).body == b"java"


GOOD = encode_entry(Entry(index=2, term=4, body=b"abcdef", pos=480))


def patched(at: int, data: bytes, base: bytes = GOOD) -> bytes:
    return base[:at] + data + base[at + len(data) :]


@pytest.mark.parametrize(
    ("data", "pos", "field"),
    [
        (GOOD[:47], 480, "header"),
        (patched(0, h("00000000")), 480, "magic"),  # zeros: never written
        (patched(0, h("ffffffff")), 480, "magic"),  # a filler is not an entry
        (patched(0, h("00000009")), 480, "magic"),
        (patched(44, h("ffffffff")), 480, "bodyLen"),
        (patched(4, h("00000037")), 480, "size"),
        (patched(44, h("00000005")), 480, "size"),
        (GOOD, 481, "pos"),  # read at another place than it was written for
        (patched(8, h("ffffffffffffffff")), 480, "index"),
        (patched(16, h("ffffffffffffffff")), 480, "term"),
        (GOOD[:-1], 480, "body"),  # torn: last byte missing
        (patched(50, b"X"), 480, "bodyCrc"),
        (patched(40, h("12345678")), 480, "bodyCrc"),
    ],
)
def test_decode_entry_rejects(data: bytes, pos: int, field: str) -> None:
    with pytest.raises(EntryDecodeError) as info:
        decode_entry(data, pos)
    assert info.value.field == field
    assert info.value.pos == pos
    assert f"pos {pos}" in str(info.value) and field in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "entry",
    [
        Entry(index=0, term=0, body=b"x", pos=-1),
        Entry(index=-1, term=0, body=b"x", pos=0),
        Entry(index=0, term=-1, body=b"x", pos=0),
        Entry(index=0, term=0, body=b"x", pos=0, magic=0),
        Entry(index=0, term=0, body=b"x", pos=0, magic=-1),
    ],
)
def test_encode_refuses_what_cannot_be_read_back(entry: Entry) -> None:
    with pytest.raises(ValueError):
        encode_entry(entry)


# --------------------------------------------------------------------------- index unit

UNIT_VECTORS = [
    (
        IndexUnit(magic=1, pos=0x30, size=0x35, index=1, term=2),
        "00000001 0000000000000030 00000035 0000000000000001 0000000000000002",
    ),
    (
        IndexUnit(magic=1, pos=0x123456789A, size=0x7FFFFFFF, index=0x20, term=0x0A0B),
        "00000001 000000123456789a 7fffffff 0000000000000020 0000000000000a0b",
    ),
]


@pytest.mark.parametrize(("unit", "hex_unit"), UNIT_VECTORS)
def test_index_unit_bytes(unit: IndexUnit, hex_unit: str) -> None:
    assert encode_index_unit(unit) == h(hex_unit)
    assert len(h(hex_unit)) == INDEX_UNIT_SIZE
    assert decode_index_unit(b"\0" * 3 + h(hex_unit), unit.index * 32, offset=3) == unit


def test_index_unit_of_entry() -> None:
    entry = Entry(index=3, term=2, body=b"abc", pos=200)
    assert index_unit_of(entry) == IndexUnit(1, 200, 51, 3, 2)


UNIT = encode_index_unit(IndexUnit(1, 0x30, 0x35, 1, 2))


@pytest.mark.parametrize(
    ("data", "where", "field"),
    [
        (UNIT[:31], 32, "unit"),
        (bytes(32), 32, "magic"),  # a unit never written
        (patched(0, h("ffffffff"), UNIT), 32, "magic"),
        (patched(4, h("ffffffffffffffff"), UNIT), 32, "pos"),
        (patched(12, h("0000002f"), UNIT), 32, "size"),
        (UNIT, 64, "index"),  # unit of entry 1 found where entry 2's belongs
        (patched(24, h("ffffffffffffffff"), UNIT), 32, "term"),
    ],
)
def test_decode_index_unit_rejects(data: bytes, where: int, field: str) -> None:
    with pytest.raises(EntryDecodeError) as info:
        decode_index_unit(data, where)
    assert (info.value.kind, info.value.field, info.value.pos) == ("index unit", field, where)


# --------------------------------------------------------------------------- filler


@pytest.mark.parametrize(
    ("entry_size", "free", "filler"),
    [
        (48, 56, False),  # entry + 8 fits exactly
        (48, 55, True),
        (100, 108, False),
        (100, 107, True),
        (100, 100, True),  # fits, but would leave no room for a filler header
        (1048, 952, True),
    ],
)
def test_needs_filler(entry_size: int, free: int, filler: bool) -> None:
    assert needs_filler(entry_size, free) is filler


@pytest.mark.parametrize(
    ("remaining", "hex_filler"),
    [(8, "ffffffff 00000008"), (0x64, "ffffffff 00000064"), (0x3FFFFFF8, "ffffffff 3ffffff8")],
)
def test_filler_bytes(remaining: int, hex_filler: str) -> None:
    assert encode_filler(remaining) == h(hex_filler)
    assert is_filler(h(hex_filler))
    assert decode_filler(h(hex_filler) + bytes(8), 4096, remaining) == remaining


def test_filler_checks() -> None:
    with pytest.raises(ValueError):
        encode_filler(7)
    assert not is_filler(GOOD)
    assert not is_filler(b"\xff\xff\xff")
    with pytest.raises(EntryDecodeError, match="size") as info:
        decode_filler(encode_filler(100), 4000, 96)
    assert info.value.pos == 4000
    with pytest.raises(EntryDecodeError, match="magic"):
        decode_filler(GOOD, 0, 100)
    with pytest.raises(EntryDecodeError, match="header"):
        decode_filler(b"\xff\xff\xff\xff", 0, 100)
