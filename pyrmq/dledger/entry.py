"""DLedger's on-disk records, as bytes: the entry, the 32-byte index unit and the file-end filler.

Sans-IO: this module only turns records into bytes and back, checking every field it reads.
Mirrors DLedger's ``DLedgerEntryCoder`` (``encode``, ``decode``, ``encodeIndex``,
``decodeIndex``) and the layouts fixed by ``DLedgerEntry``, ``DLedgerMmapFileStore`` and
``MmapFileList`` (0.3.1.2, as store.md §7 describes; 0.2.7 is byte-identical). Integers are
big-endian, as Java's ``ByteBuffer``.

Entry (``BODY_OFFSET`` = 48 bytes of header, then the body)::

    0 magic 4 | 4 size 4 | 8 index 8 | 16 term 8 | 24 pos 8 | 32 channel 4 | 36 chainCrc 4
    | 40 bodyCrc 4 | 44 bodyLen 4 | 48 body

``size`` is the whole record (48 + bodyLen); ``pos`` is the record's absolute position in the
data log, so a record read at the wrong place is detected.

Index unit (32 bytes; the unit of entry ``i`` is at byte ``i * 32`` of the index log)::

    0 magic 4 | 4 pos 8 | 12 size 4 | 16 index 8 | 24 term 8

File-end filler: when ``entry size + 8 > free bytes`` of the segment (``MmapFileList.preAppend``
with ``MIN_BLANK_LEN`` = 8), the rest of the segment becomes one filler record, magic ``-1``
*then* its length (the reverse of RocketMQ's BLANK record), and the entry starts the next file.
Because 8 bytes always stay free after an entry, a filler header always fits.

CRC decision: no DLedger version computes ``bodyCrc`` or ``chainCrc`` (``setBodyCrc`` and
``setChainCrc`` are only called by the decoder, in 0.2.7, 0.3.1.2, 0.4.0 and master), so Java
writes 0 in both. pyrmq writes ``bodyCrc`` = CRC32 of the body (``zlib.crc32``, the same
polynomial as ``java.util.zip.CRC32``) so that a torn or corrupted body is caught, and verifies
it on read when it is non-zero; 0 means "written by a DLedger that does not compute it" and is
accepted (a real CRC of 0 then goes unchecked, one body in 2**32). Java readers ignore the
field, so the files stay readable by DLedger. ``chainCrc`` stays 0, as in DLedger.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from pyrmq.dledger.log_store import ENTRY_HEADER_SIZE, ENTRY_MAGIC, Entry

#: ``DLedgerEntry.POS_OFFSET``: where ``pos`` sits in the header (patched by the leader).
POS_OFFSET = 24
#: ``DLedgerEntry.HEADER_SIZE``: the header without ``bodyLen`` (a valid size is larger).
HEADER_SIZE = 44
#: ``DLedgerEntry.BODY_OFFSET``: the header with ``bodyLen``; the body starts here.
BODY_OFFSET = ENTRY_HEADER_SIZE
#: ``DLedgerMmapFileStore.INDEX_UNIT_SIZE``.
INDEX_UNIT_SIZE = 32
#: ``MmapFileList.BLANK_MAGIC_CODE``: the magic of a file-end filler.
BLANK_MAGIC = -1
#: ``MmapFileList.MIN_BLANK_LEN``: room always left after an entry for a filler header.
MIN_BLANK_LEN = 8
#: ``DLedgerEntryType``: NORMAL (1, the only one 0.3.1.2 writes), NOOP (2), CONFIG_CHANGE (3).
VALID_MAGICS = frozenset({ENTRY_MAGIC, 2, 3})

#: Largest body: the size field is a Java int.
MAX_BODY_SIZE = 0x7FFFFFFF - BODY_OFFSET

_HEADER = struct.Struct(">iiqqqiIIi")
_INDEX_UNIT = struct.Struct(">iqiqq")
_FILLER = struct.Struct(">ii")

assert _HEADER.size == BODY_OFFSET
assert _INDEX_UNIT.size == INDEX_UNIT_SIZE
assert _FILLER.size == MIN_BLANK_LEN

Buffer = bytes | bytearray | memoryview


class EntryDecodeError(ValueError):
    """A record that does not read back as written; names its position and the bad field."""

    def __init__(self, kind: str, pos: int, field: str, detail: str) -> None:
        super().__init__(f"DLedger {kind} at pos {pos}: bad {field}: {detail}")
        self.kind = kind
        self.pos = pos
        self.field = field


def body_crc(body: Buffer) -> int:
    """CRC32 of the body as an unsigned 32-bit value (``java.util.zip.CRC32.getValue``)."""
    return zlib.crc32(body) & 0xFFFFFFFF


# --------------------------------------------------------------------------- entry


@dataclass(frozen=True, slots=True)
class EntryHeader:
    """The 48 bytes before the body, as read (``DLedgerEntryCoder.decode(buf, false)``)."""

    magic: int
    size: int
    index: int
    term: int
    pos: int
    channel: int
    chain_crc: int
    body_crc: int
    body_len: int


def encode_entry(entry: Entry) -> bytes:
    """The record of ``entry`` (which must carry its ``pos``), with ``bodyCrc`` computed."""
    _check_writable(entry)
    header = _HEADER.pack(
        entry.magic,
        entry.size,
        entry.index,
        entry.term,
        entry.pos,
        entry.channel,
        0,  # chainCrc: reserved, never computed by DLedger
        body_crc(entry.body),
        len(entry.body),
    )
    return header + entry.body


def _check_writable(entry: Entry) -> None:
    # Refuse to write what the reader would reject: a bad record must never reach the disk.
    if entry.magic not in VALID_MAGICS:
        raise ValueError(f"entry {entry.index}: magic {entry.magic} is not a DLedger entry type")
    if entry.pos < 0:
        raise ValueError(f"entry {entry.index}: pos {entry.pos} is not a data log position")
    if entry.index < 0 or entry.term < 0:
        raise ValueError(f"entry index {entry.index} / term {entry.term} must be >= 0")
    if len(entry.body) > MAX_BODY_SIZE:
        raise ValueError(f"entry {entry.index}: body of {len(entry.body)} bytes is too large")


def decode_header(data: Buffer, pos: int, offset: int = 0) -> EntryHeader:
    """Read and check the header at ``data[offset:]``, the record at absolute ``pos``.

    Checks: 48 bytes present, magic a DLedger entry type (a filler is refused), bodyLen >= 0,
    size == 48 + bodyLen, the stored pos == ``pos``, index and term >= 0.
    """
    if len(data) - offset < BODY_OFFSET:
        raise EntryDecodeError("entry", pos, "header", f"{len(data) - offset} of 48 bytes")
    header = EntryHeader(*_HEADER.unpack_from(data, offset))
    _check_header(header, pos)
    return header


def _check_header(h: EntryHeader, pos: int) -> None:
    if h.magic == BLANK_MAGIC:
        raise EntryDecodeError("entry", pos, "magic", "a file-end filler, not an entry")
    if h.magic not in VALID_MAGICS:
        raise EntryDecodeError("entry", pos, "magic", f"{h.magic} is not a DLedger entry type")
    if h.body_len < 0:
        raise EntryDecodeError("entry", pos, "bodyLen", f"{h.body_len} < 0")
    if h.size != BODY_OFFSET + h.body_len:
        raise EntryDecodeError("entry", pos, "size", f"{h.size} != 48 + bodyLen {h.body_len}")
    if h.pos != pos:
        raise EntryDecodeError("entry", pos, "pos", f"stored pos {h.pos} != {pos}")
    if h.index < 0:
        raise EntryDecodeError("entry", pos, "index", f"{h.index} < 0")
    if h.term < 0:
        raise EntryDecodeError("entry", pos, "term", f"{h.term} < 0")


def decode_entry(data: Buffer, pos: int, offset: int = 0) -> Entry:
    """Read the whole record at ``data[offset:]`` (absolute ``pos``): header checks, the body
    present in full, and the body CRC when one was written (non-zero)."""
    header = decode_header(data, pos, offset)
    start = offset + BODY_OFFSET
    body = bytes(data[start : start + header.body_len])
    if len(body) != header.body_len:
        detail = f"{len(body)} of {header.body_len} bytes present"
        raise EntryDecodeError("entry", pos, "body", detail)
    check_body_crc(header, body, pos)
    return Entry(
        index=header.index,
        term=header.term,
        body=body,
        pos=header.pos,
        magic=header.magic,
        channel=header.channel,
    )


def check_body_crc(header: EntryHeader, body: Buffer, pos: int) -> None:
    """``ValueError`` when a non-zero ``bodyCrc`` does not match (0: not computed, accepted)."""
    if header.body_crc != 0:
        actual = body_crc(body)
        if actual != header.body_crc:
            detail = f"stored {header.body_crc:#010x} != computed {actual:#010x}"
            raise EntryDecodeError("entry", pos, "bodyCrc", detail)


# --------------------------------------------------------------------------- index unit


@dataclass(frozen=True, slots=True)
class IndexUnit:
    """Where entry ``index`` lives in the data log (``DLedgerIndexEntry``)."""

    magic: int
    pos: int
    size: int
    index: int
    term: int


def encode_index_unit(unit: IndexUnit) -> bytes:
    return _INDEX_UNIT.pack(unit.magic, unit.pos, unit.size, unit.index, unit.term)


def index_unit_of(entry: Entry) -> IndexUnit:
    """The unit that points at ``entry`` (which must carry its ``pos``)."""
    return IndexUnit(entry.magic, entry.pos, entry.size, entry.index, entry.term)


def decode_index_unit(data: Buffer, offset_in_log: int, offset: int = 0) -> IndexUnit:
    """Read the unit at ``data[offset:]``, found at byte ``offset_in_log`` of the index log.

    Checks: 32 bytes present, a DLedger entry magic (a zero unit was never written), pos >= 0,
    size >= 48, term >= 0 and ``index * 32 == offset_in_log``.
    """
    if len(data) - offset < INDEX_UNIT_SIZE:
        detail = f"{len(data) - offset} of 32 bytes"
        raise EntryDecodeError("index unit", offset_in_log, "unit", detail)
    unit = IndexUnit(*_INDEX_UNIT.unpack_from(data, offset))
    _check_index_unit(unit, offset_in_log)
    return unit


def _check_index_unit(unit: IndexUnit, where: int) -> None:
    if unit.magic not in VALID_MAGICS:
        detail = f"{unit.magic} is not a DLedger entry type"
        raise EntryDecodeError("index unit", where, "magic", detail)
    if unit.pos < 0:
        raise EntryDecodeError("index unit", where, "pos", f"{unit.pos} < 0")
    if unit.size < BODY_OFFSET:
        raise EntryDecodeError("index unit", where, "size", f"{unit.size} < 48")
    if unit.index * INDEX_UNIT_SIZE != where:
        detail = f"{unit.index} is not the unit at byte {where}"
        raise EntryDecodeError("index unit", where, "index", detail)
    if unit.term < 0:
        raise EntryDecodeError("index unit", where, "term", f"{unit.term} < 0")


# --------------------------------------------------------------------------- file-end filler


def needs_filler(entry_size: int, free_bytes: int) -> bool:
    """``MmapFileList.preAppend``: ``len + MIN_BLANK_LEN > fileSize - wrotePosition``."""
    return entry_size + MIN_BLANK_LEN > free_bytes


def encode_filler(remaining: int) -> bytes:
    """The filler header for the last ``remaining`` bytes of a segment (magic -1, then size).

    DLedger writes the whole rest of the segment (this header, then zeros)."""
    if remaining < MIN_BLANK_LEN:
        raise ValueError(f"a filler needs at least {MIN_BLANK_LEN} bytes, not {remaining}")
    return _FILLER.pack(BLANK_MAGIC, remaining)


def is_filler(data: Buffer, offset: int = 0) -> bool:
    """Whether the record at ``data[offset:]`` starts with the filler magic."""
    return len(data) - offset >= 4 and bytes(data[offset : offset + 4]) == b"\xff\xff\xff\xff"


def decode_filler(data: Buffer, pos: int, remaining: int, offset: int = 0) -> int:
    """Check the filler at ``data[offset:]`` (absolute ``pos``) covers exactly the ``remaining``
    bytes of its segment; returns that length."""
    if len(data) - offset < MIN_BLANK_LEN:
        raise EntryDecodeError("filler", pos, "header", f"{len(data) - offset} of 8 bytes")
    magic, size = _FILLER.unpack_from(data, offset)
    if magic != BLANK_MAGIC:
        raise EntryDecodeError("filler", pos, "magic", f"{magic} != -1")
    if size != remaining:
        detail = f"{size} != the {remaining} bytes left in the segment"
        raise EntryDecodeError("filler", pos, "size", detail)
    return int(size)
