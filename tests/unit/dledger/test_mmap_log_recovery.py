"""MmapLogStore recovery on real files: clean reopen, torn tails, garbage, lost or corrupt index
units, CRC mismatches, the checkpoint, and the cases recovery must refuse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyrmq.dledger.entry import INDEX_UNIT_SIZE, IndexUnit, encode_entry, encode_index_unit
from pyrmq.dledger.log_store import Entry
from pyrmq.dledger.mmap_log import LogCorruptionError, MmapLogStore

DATA_SIZE = 4096
INDEX_SIZE = 32 * 16


def name(offset: int) -> str:
    return f"{offset:020d}"


def body(i: int, size: int = 20) -> bytes:
    return bytes((i * 7 + k) % 251 + 1 for k in range(size))


def open_store(base: Path) -> MmapLogStore:
    return MmapLogStore.open(base, DATA_SIZE, INDEX_SIZE)


def build(base: Path, sizes: list[int], term_every: int = 4) -> list[Entry]:
    """A closed store holding entries with the given body sizes."""
    store = open_store(base)
    entries = [store.append_leader(1 + i // term_every, body(i, n)) for i, n in enumerate(sizes)]
    store.close()
    return entries


def write_at(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def data_file(base: Path, pos: int) -> tuple[Path, int]:
    start = pos - pos % DATA_SIZE
    return base / "data" / name(start), pos - start


def assert_log(store: MmapLogStore, entries: list[Entry]) -> None:
    """The store holds exactly ``entries``, by index and by position, and accepts appends."""
    assert store.end_index == len(entries) - 1
    assert store.begin_index == (0 if entries else -1)
    assert store.end_term == (entries[-1].term if entries else -1)
    assert [store.get(e.index) for e in entries] == entries
    assert list(store.entries_from(store.data_min_pos)) == entries
    end = entries[-1].pos + entries[-1].size if entries else 0
    assert store.data_max_pos == end


def test_clean_reopen(tmp_path: Path) -> None:
    entries = build(tmp_path, [900, 5, 1500, 700, 1200, 30, 2000, 60])  # three data files
    store = open_store(tmp_path)
    assert_log(store, entries)
    assert store.committed_index == -1
    nxt = store.append_leader(9, b"after")
    assert nxt.index == len(entries)
    store.close()
    store = open_store(tmp_path)
    assert_log(store, [*entries, nxt])
    store.close()


def test_empty_store_reopens_empty(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    store = open_store(tmp_path)
    assert_log(store, [])
    store.close()


@pytest.mark.parametrize("fill", [b"\0", b"\xab"])
@pytest.mark.parametrize("with_unit", [True, False])
def test_torn_tail_at_every_byte(tmp_path: Path, fill: bytes, with_unit: bool) -> None:
    """kill -9 mid-write: only the first ``cut`` bytes of the last entry reached the file (the
    rest is zeros, or garbage); its index unit may or may not have been written."""
    sizes = [300, 200, 40]
    template = tmp_path / "template"
    entries = build(template, sizes)
    last = entries[-1]
    data = (template / "data" / name(0)).read_bytes()
    index = (template / "index" / name(0)).read_bytes()
    for cut in range(last.size):
        base = tmp_path / f"cut{cut}"
        (base / "data").mkdir(parents=True)
        (base / "index").mkdir()
        torn = data[: last.pos + cut] + fill * (last.size - cut) + data[last.pos + last.size :]
        (base / "data" / name(0)).write_bytes(torn)
        unit_end = len(entries) * INDEX_UNIT_SIZE
        units = index if with_unit else index[: unit_end - 32] + bytes(len(index) - unit_end + 32)
        (base / "index" / name(0)).write_bytes(units)
        store = open_store(base)
        assert_log(store, entries[:-1])
        # The torn bytes are gone: a new entry lands on zeros and survives a reopen.
        raw = (base / "data" / name(0)).read_bytes()
        assert raw[last.pos :] == bytes(DATA_SIZE - last.pos), cut
        again = store.append_leader(5, b"again")
        assert again.pos == last.pos
        store.close()
        store = open_store(base)
        assert_log(store, [*entries[:-1], again])
        store.close()


def test_torn_tail_in_a_later_file(tmp_path: Path) -> None:
    entries = build(tmp_path, [1500, 1500, 1500, 1500])  # 3rd and 4th in the second file
    path, rel = data_file(tmp_path, entries[-1].pos)
    write_at(path, rel + 100, b"\0" * 50)
    store = open_store(tmp_path)
    assert_log(store, entries[:-1])
    store.close()


def test_garbage_after_the_tail(tmp_path: Path) -> None:
    entries = build(tmp_path, [100, 200, 300])
    end = entries[-1].pos + entries[-1].size
    path = tmp_path / "data" / name(0)
    write_at(path, end, os.urandom(200))
    write_at(path, 3000, b"\x01" * 16)  # stale bytes further on, after a hole
    store = open_store(tmp_path)
    assert_log(store, entries)
    assert path.read_bytes()[end:] == bytes(DATA_SIZE - end)
    store.close()


def test_stale_entries_past_a_truncation_are_not_resurrected(tmp_path: Path) -> None:
    """A failed leader's entries (term 3) are replaced by the new leader's entries of an older
    term (2) with the same sizes: the stale entry that follows would pass every recovery check
    if its bytes had been left on disk."""
    store = open_store(tmp_path)
    store.append_leader(1, body(0))
    for i in range(1, 4):
        store.append_leader(3, body(i))
    store.truncate_after(0)
    replaced = store.append_follower(Entry(index=1, term=2, body=body(9), pos=68))
    store.close()
    store = open_store(tmp_path)
    assert store.end_index == 1
    assert store.get(1) == replaced
    store.close()


def test_index_unit_corrupted_is_rebuilt(tmp_path: Path) -> None:
    entries = build(tmp_path, [50] * 10)
    index = tmp_path / "index" / name(0)
    write_at(index, 4 * 32 + 24, (99).to_bytes(8, "big"))  # unit 4 claims term 99
    write_at(index, 7 * 32, b"\0" * 32)  # unit 7 lost
    store = open_store(tmp_path)
    assert_log(store, entries)
    raw = index.read_bytes()
    for e in entries:
        unit = encode_index_unit(IndexUnit(1, e.pos, e.size, e.index, e.term))
        assert raw[e.index * 32 : e.index * 32 + 32] == unit
    store.close()


def test_index_files_deleted_are_rebuilt(tmp_path: Path) -> None:
    entries = build(tmp_path, [30 + i for i in range(40)])  # 3 index files, 2 data files
    expected = {p.name: p.read_bytes() for p in (tmp_path / "index").iterdir()}
    assert len(expected) == 3
    for p in (tmp_path / "index").iterdir():
        p.unlink()
    store = open_store(tmp_path)
    assert_log(store, entries)
    store.close()
    assert {p.name: p.read_bytes() for p in (tmp_path / "index").iterdir()} == expected


def test_middle_index_file_deleted_is_rebuilt(tmp_path: Path) -> None:
    entries = build(tmp_path, [30] * 40)
    (tmp_path / "index" / name(512)).unlink()
    store = open_store(tmp_path)
    assert_log(store, entries)
    store.close()


def test_index_short_is_completed(tmp_path: Path) -> None:
    """Data written, index units lost (crash between the two writes)."""
    entries = build(tmp_path, [30] * 20)
    (tmp_path / "index" / name(512)).unlink()  # units 16..19
    write_at(tmp_path / "index" / name(0), 14 * 32, bytes(64))  # and 14, 15
    store = open_store(tmp_path)
    assert_log(store, entries)
    store.close()


def test_index_longer_than_data_is_cut(tmp_path: Path) -> None:
    entries = build(tmp_path, [30] * 5)
    extra = encode_index_unit(IndexUnit(1, 250, 78, 5, 2))
    write_at(tmp_path / "index" / name(0), 5 * 32, extra)
    store = open_store(tmp_path)
    assert_log(store, entries)
    assert store.append_leader(2, bytes(30)).index == 5
    store.close()


def test_body_crc_mismatch_in_the_last_entry(tmp_path: Path) -> None:
    entries = build(tmp_path, [40, 40, 40])
    write_at(tmp_path / "data" / name(0), entries[-1].pos + 60, b"\xff")
    store = open_store(tmp_path)
    assert_log(store, entries[:-1])
    store.close()


def test_body_crc_mismatch_in_a_middle_entry_cuts_there(tmp_path: Path) -> None:
    entries = build(tmp_path, [40] * 6)
    write_at(tmp_path / "data" / name(0), entries[3].pos + 48, b"\0")
    store = open_store(tmp_path)
    assert_log(store, entries[:3])
    store.close()


def test_java_records_without_crc_recover(tmp_path: Path) -> None:
    """DLedger writes bodyCrc 0: such records are accepted (and a damaged body then goes
    unnoticed, as in Java)."""
    entries = build(tmp_path, [40, 40, 40])
    for e in entries:
        write_at(tmp_path / "data" / name(0), e.pos + 40, b"\0\0\0\0")
    store = open_store(tmp_path)
    assert_log(store, entries)
    store.close()


def test_filler_at_the_end_of_the_last_file(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    entries = [store.append_leader(1, body(i, 1000)) for i in range(3)]
    with pytest.raises(ValueError, match="length"):  # the filler is written, then refused
        store.append_leader(1, body(3, 1000), lambda pos, b: b"")
    store.close()
    store = open_store(tmp_path)
    assert store.end_index == 2
    assert [store.get(i) for i in range(3)] == entries
    assert store.data_max_pos == DATA_SIZE
    assert store.append_leader(1, b"next").pos == DATA_SIZE
    store.close()


def test_term_going_down_on_disk_cuts_there(tmp_path: Path) -> None:
    entries = build(tmp_path, [40] * 4, term_every=1)  # terms 1, 2, 3, 4
    record = encode_entry(Entry(index=3, term=1, body=body(3, 40), pos=entries[3].pos))
    write_at(tmp_path / "data" / name(0), entries[3].pos, record)
    store = open_store(tmp_path)
    assert_log(store, entries[:3])
    store.close()


def test_checkpoint_restores_committed_index(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    entries = [store.append_leader(1, body(i)) for i in range(5)]
    store.update_committed_index(3)
    store.close()
    assert (tmp_path / "checkpoint").read_text() == "endIndex=4\ncommittedIndex=3\n"
    store = open_store(tmp_path)
    assert store.committed_index == 3
    assert store.committed_pos == entries[3].pos + entries[3].size
    store.close()


def test_checkpoint_committed_index_capped_at_end(tmp_path: Path) -> None:
    entries = build(tmp_path, [20] * 5)
    (tmp_path / "checkpoint").write_text("committedIndex=100\nendIndex=100\n")
    store = open_store(tmp_path)
    assert store.committed_index == 4
    assert store.committed_pos == entries[4].pos + entries[4].size
    store.close()


def test_checkpoint_after_a_torn_tail_is_capped(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    entries = [store.append_leader(1, body(i)) for i in range(5)]
    store.update_committed_index(4)
    store.close()
    write_at(tmp_path / "data" / name(0), entries[4].pos + 50, b"\0")
    store = open_store(tmp_path)
    assert (store.end_index, store.committed_index) == (3, 3)
    store.close()


@pytest.mark.parametrize("text", ["", "endIndex=3\n", "committedIndex=\n", "committedIndex=x\n"])
def test_checkpoint_without_a_committed_index(tmp_path: Path, text: str) -> None:
    build(tmp_path, [20] * 5)
    (tmp_path / "checkpoint").write_text(text)
    store = open_store(tmp_path)
    assert store.committed_index == -1
    store.close()


def test_checkpoint_falls_back_to_bak(tmp_path: Path) -> None:
    build(tmp_path, [20] * 5)
    (tmp_path / "checkpoint").write_text("committedIndex=oops\n")
    (tmp_path / "checkpoint.bak").write_text("committedIndex=2\n")
    store = open_store(tmp_path)
    assert store.committed_index == 2
    store.close()


def test_recovery_starts_at_the_third_to_last_file(tmp_path: Path) -> None:
    """Files before the 3rd-to-last are trusted: a damaged index unit there is not seen by
    recovery (as in DLedger), while the later ones are checked and repaired."""
    entries = build(tmp_path, [1900] * 10)  # two entries per file: five files
    write_at(tmp_path / "index" / name(0), 0 * 32 + 24, (7).to_bytes(8, "big"))
    write_at(tmp_path / "index" / name(0), 9 * 32 + 24, (7).to_bytes(8, "big"))
    store = open_store(tmp_path)
    assert store.end_index == 9
    assert store.get(9) == entries[9]  # repaired
    with pytest.raises(ValueError, match="term"):
        store.get(0)  # not scanned
    store.close()


def test_too_much_lost_is_refused(tmp_path: Path) -> None:
    entries = build(tmp_path, [1900] * 8)  # four files
    write_at(tmp_path / "data" / name(0), entries[1].pos + 60, b"\0")
    for p in (tmp_path / "index").iterdir():
        p.unlink()  # the scan must start at the first file
    with pytest.raises(LogCorruptionError, match="by hand"):
        open_store(tmp_path)


def test_data_files_not_contiguous_are_refused(tmp_path: Path) -> None:
    build(tmp_path, [1900] * 6)
    (tmp_path / "data" / name(4096)).unlink()
    with pytest.raises(LogCorruptionError, match="contiguous"):
        open_store(tmp_path)


def test_data_file_of_another_size_is_refused(tmp_path: Path) -> None:
    build(tmp_path, [20] * 3)
    with pytest.raises(ValueError, match="segment size"):
        MmapLogStore.open(tmp_path, 8192, INDEX_SIZE)


def test_hand_made_java_files(tmp_path: Path) -> None:
    """Files laid out byte by byte as DLedger writes them (bodyCrc 0, filler, index units)."""
    data = bytearray(DATA_SIZE * 2)
    units = bytearray(INDEX_SIZE)
    pos = 0
    expected = []
    for i, size in enumerate([1500, 1500, 1500, 10]):
        if size + 48 + 8 > DATA_SIZE - pos % DATA_SIZE:
            remaining = DATA_SIZE - pos % DATA_SIZE
            data[pos : pos + 8] = b"\xff\xff\xff\xff" + remaining.to_bytes(4, "big")
            pos += remaining
        e = Entry(index=i, term=1, body=body(i, size), pos=pos)
        record = bytearray(encode_entry(e))
        record[40:44] = bytes(4)
        data[pos : pos + e.size] = record
        units[i * 32 : i * 32 + 32] = encode_index_unit(IndexUnit(1, pos, e.size, i, 1))
        expected.append(e)
        pos += e.size
    (tmp_path / "data").mkdir()
    (tmp_path / "index").mkdir()
    (tmp_path / "data" / name(0)).write_bytes(data[:DATA_SIZE])
    (tmp_path / "data" / name(DATA_SIZE)).write_bytes(data[DATA_SIZE:])
    (tmp_path / "index" / name(0)).write_bytes(units)
    (tmp_path / "checkpoint").write_text("endIndex=3\ncommittedIndex=2\n")
    store = open_store(tmp_path)
    assert_log(store, expected)
    assert store.committed_index == 2
    store.close()


def test_stale_bytes_far_past_the_tail_of_a_large_segment(tmp_path: Path) -> None:
    """The scrub covers the whole rest of the last file, holes skipped (SEEK_DATA)."""
    size = 1 << 20
    store = MmapLogStore.open(tmp_path, size, INDEX_SIZE)
    entries = [store.append_leader(1, body(i)) for i in range(3)]
    store.close()
    write_at(tmp_path / "data" / name(0), 700_000, b"\x07" * 100)
    store = MmapLogStore.open(tmp_path, size, INDEX_SIZE)
    assert [store.get(i) for i in range(3)] == entries
    raw = (tmp_path / "data" / name(0)).read_bytes()
    assert raw[store.data_max_pos :] == bytes(size - store.data_max_pos)
    store.close()


def test_first_data_file_gone(tmp_path: Path) -> None:
    """Files expired from the front: the log begins at the first entry of the first file."""
    entries = build(tmp_path, [1900] * 8)  # four files, two entries each
    (tmp_path / "data" / name(0)).unlink()
    store = open_store(tmp_path)
    assert (store.begin_index, store.end_index, store.data_min_pos) == (2, 7, DATA_SIZE)
    assert [store.get(i) for i in range(2, 8)] == entries[2:]
    with pytest.raises(IndexError):
        store.get(1)
    store.update_committed_index(0)  # below the begin: ignored
    assert (store.committed_index, store.committed_pos) == (-1, DATA_SIZE)
    store.truncate_after(1)  # drop all: empty, next index still 2
    assert (store.begin_index, store.end_index, store.end_term) == (2, 1, -1)
    assert store.data_max_pos == DATA_SIZE
    entry = store.append_follower(Entry(index=2, term=9, body=b"x", pos=DATA_SIZE))
    assert store.get(2) == entry
    store.close()
