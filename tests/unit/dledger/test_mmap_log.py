"""MmapLogStore on small segments: append (leader, follower), get, roll-over, truncate, commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrmq.dledger.entry import (
    INDEX_UNIT_SIZE,
    EntryDecodeError,
    IndexUnit,
    encode_entry,
    encode_filler,
    encode_index_unit,
)
from pyrmq.dledger.log_store import Entry, LogStore
from pyrmq.dledger.mmap_log import MmapLogStore

DATA_SIZE = 4096
INDEX_SIZE = 32 * 16


def name(offset: int) -> str:
    return f"{offset:020d}"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "dledger-n0"


@pytest.fixture
def store(base: Path) -> Iterator[MmapLogStore]:
    s = MmapLogStore.open(base, DATA_SIZE, INDEX_SIZE)
    yield s
    s.close()


def body(i: int, size: int = 20) -> bytes:
    return bytes((i + k) % 251 + 1 for k in range(size))


def test_empty_store(store: MmapLogStore, base: Path) -> None:
    as_protocol: LogStore = store  # mypy checks MmapLogStore against the core's protocol
    assert as_protocol.end_index == -1
    assert (store.begin_index, store.end_index, store.end_term) == (-1, -1, -1)
    assert store.committed_index == -1
    assert (store.data_min_pos, store.data_max_pos, store.committed_pos) == (0, 0, 0)
    with pytest.raises(IndexError):
        store.get(0)
    assert list(store.entries_from(0)) == []
    assert store.read_data(0, 10) == b""
    store.update_committed_index(3)  # nothing to commit
    assert store.committed_index == -1


def test_append_leader_then_get(store: MmapLogStore, base: Path) -> None:
    first = store.append_leader(1, b"hello")
    second = store.append_leader(2, b"")
    assert first == Entry(index=0, term=1, body=b"hello", pos=0)
    assert second == Entry(index=1, term=2, body=b"", pos=53)
    assert (store.begin_index, store.end_index, store.end_term) == (0, 1, 2)
    assert store.get(0) == first and store.get(1) == second
    assert store.position_of(1) == (53, 48)
    assert store.data_max_pos == 101
    # The bytes on disk are the codec's, data and index alike.
    data = (base / "data" / name(0)).read_bytes()
    assert len(data) == DATA_SIZE
    assert data[:101] == encode_entry(first) + encode_entry(second)
    assert data[101:] == bytes(DATA_SIZE - 101)
    index = (base / "index" / name(0)).read_bytes()
    assert len(index) == INDEX_SIZE
    assert index[:64] == encode_index_unit(IndexUnit(1, 0, 53, 0, 1)) + encode_index_unit(
        IndexUnit(1, 53, 48, 1, 2)
    )
    with pytest.raises(IndexError):
        store.get(2)
    with pytest.raises(IndexError):
        store.get(-1)


def test_data_dir_override(tmp_path: Path) -> None:
    s = MmapLogStore.open(tmp_path / "base", DATA_SIZE, INDEX_SIZE, data_dir=tmp_path / "cl")
    s.append_leader(1, b"x")
    s.close()
    assert (tmp_path / "cl" / name(0)).exists()
    assert (tmp_path / "base" / "index" / name(0)).exists()
    assert (tmp_path / "base" / "checkpoint").exists()


def test_segment_sizes_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        MmapLogStore(tmp_path, 56, INDEX_SIZE)
    with pytest.raises(ValueError):
        MmapLogStore(tmp_path, DATA_SIZE, 100)


def test_entry_too_large_for_a_segment(store: MmapLogStore) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        store.append_leader(1, bytes(DATA_SIZE - 48 - 7))
    store.append_leader(1, bytes(DATA_SIZE - 48 - 8))  # exactly fits, 8 bytes left
    assert store.data_max_pos == DATA_SIZE - 8


def test_data_rolls_over_with_a_filler(store: MmapLogStore, base: Path) -> None:
    # 1048-byte entries: three fit (3144), the 4th needs 1048 + 8 > 952 free bytes.
    entries = [store.append_leader(1, body(i, 1000)) for i in range(5)]
    assert [e.pos for e in entries] == [0, 1048, 2096, 4096, 5144]
    data0 = (base / "data" / name(0)).read_bytes()
    assert data0[3144:3152] == encode_filler(952)
    assert data0[3152:] == bytes(944)
    assert (base / "data" / name(4096)).exists()
    assert list(store.entries_from(0)) == entries
    assert list(store.entries_from(2096)) == entries[2:]
    assert [store.get(i) for i in range(5)] == entries
    with pytest.raises(EntryDecodeError, match="filler"):
        store.entry_at_pos(3144)


def test_index_rolls_over(store: MmapLogStore, base: Path) -> None:
    entries = [store.append_leader(1, body(i)) for i in range(40)]
    assert sorted(p.name for p in (base / "index").iterdir()) == [name(0), name(512), name(1024)]
    assert [store.get(i) for i in range(40)] == entries
    index1 = (base / "index" / name(512)).read_bytes()
    assert index1[:32] == encode_index_unit(IndexUnit(1, entries[16].pos, 68, 16, 1))


def test_hook_patches_the_body_with_the_final_pos(store: MmapLogStore) -> None:
    seen: list[int] = []

    def hook(pos: int, payload: bytes) -> bytes:
        seen.append(pos)
        return (pos + 48).to_bytes(8, "big") + payload[8:]

    store.append_leader(1, body(0, 3000))
    entry = store.append_leader(1, body(1, 3000), hook)  # does not fit: next segment
    assert seen == [4096]
    assert entry.pos == 4096
    assert store.get(1).body[:8] == (4096 + 48).to_bytes(8, "big")
    assert store.get(1).body[8:] == body(1, 3000)[8:]


def test_hook_must_keep_the_length(store: MmapLogStore) -> None:
    with pytest.raises(ValueError, match="length"):
        store.append_leader(1, b"abc", lambda pos, payload: payload + b"x")
    assert store.end_index == -1
    assert store.append_leader(1, b"abc").pos == 0


def test_term_never_goes_down(store: MmapLogStore) -> None:
    store.append_leader(3, b"a")
    with pytest.raises(ValueError, match="term"):
        store.append_leader(2, b"b")
    with pytest.raises(ValueError, match="term"):
        store.append_follower(Entry(index=1, term=2, body=b"b", pos=49))


def test_follower_builds_a_byte_identical_log(tmp_path: Path) -> None:
    leader = MmapLogStore.open(tmp_path / "a", DATA_SIZE, INDEX_SIZE)
    follower = MmapLogStore.open(tmp_path / "b", DATA_SIZE, INDEX_SIZE)
    for i in range(12):
        entry = leader.append_leader(1 + i // 5, body(i, 700 + 37 * i))
        assert follower.append_follower(entry) == entry
    assert [follower.get(i) for i in range(12)] == [leader.get(i) for i in range(12)]
    leader.close()
    follower.close()
    for sub in ("data", "index"):
        names = sorted(p.name for p in (tmp_path / "a" / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "b" / sub).iterdir())
        for n in names:
            a = (tmp_path / "a" / sub / n).read_bytes()
            assert a == (tmp_path / "b" / sub / n).read_bytes()


def test_follower_append_checks_index_and_pos(store: MmapLogStore) -> None:
    store.append_follower(Entry(index=0, term=1, body=body(0, 3000), pos=0))
    with pytest.raises(ValueError, match="index"):
        store.append_follower(Entry(index=2, term=1, body=b"x", pos=3048))
    # 3048 is where it would go if it fitted; it does not: after the filler, at 4096.
    with pytest.raises(ValueError, match="pos"):
        store.append_follower(Entry(index=1, term=1, body=body(1, 3000), pos=3048))
    assert store.data_max_pos == 3048  # a refused entry writes nothing, not even the filler
    stored = store.append_follower(Entry(index=1, term=1, body=body(1, 3000), pos=4096))
    assert store.get(1) == stored
    with pytest.raises(ValueError, match="pos"):
        store.append_follower(Entry(index=2, term=1, body=b"x"))  # pos unknown (-1)


def test_truncate_after(store: MmapLogStore, base: Path) -> None:
    entries = [store.append_leader(1 + i // 4, body(i, 500)) for i in range(12)]
    files = sorted(p.name for p in (base / "data").iterdir())
    assert len(files) == 2
    store.truncate_after(5)
    assert (store.end_index, store.end_term) == (5, 2)
    assert store.data_max_pos == entries[5].pos + entries[5].size
    assert sorted(p.name for p in (base / "data").iterdir()) == [name(0)]
    data0 = (base / "data" / name(0)).read_bytes()
    assert data0[store.data_max_pos :] == bytes(DATA_SIZE - store.data_max_pos)  # zeroed
    with pytest.raises(IndexError):
        store.get(6)
    assert [store.get(i) for i in range(6)] == entries[:6]
    again = store.append_leader(7, b"new")
    assert again == Entry(index=6, term=7, body=b"new", pos=entries[6].pos)
    assert list(store.entries_from(0)) == [*entries[:6], again]


def test_truncate_across_index_files(store: MmapLogStore, base: Path) -> None:
    for i in range(40):
        store.append_leader(1, body(i))
    store.truncate_after(10)
    assert sorted(p.name for p in (base / "index").iterdir()) == [name(0)]
    index0 = (base / "index" / name(0)).read_bytes()
    assert index0[11 * INDEX_UNIT_SIZE :] == bytes(INDEX_SIZE - 11 * INDEX_UNIT_SIZE)
    assert store.append_leader(1, b"x").index == 11


def test_truncate_edges(store: MmapLogStore) -> None:
    store.truncate_after(-1)  # empty: nothing to drop
    for i in range(3):
        store.append_leader(1, body(i))
    store.truncate_after(2)  # == end index: no-op
    store.truncate_after(9)
    assert store.end_index == 2
    with pytest.raises(ValueError):
        store.truncate_after(-2)
    store.truncate_after(-1)  # drop all
    assert (store.begin_index, store.end_index, store.end_term) == (-1, -1, -1)
    assert store.data_max_pos == 0
    entry = store.append_leader(4, b"again")
    assert (entry.index, entry.pos, store.begin_index) == (0, 0, 0)


def test_truncate_at_a_segment_start_keeps_the_filler(store: MmapLogStore) -> None:
    entries = [store.append_leader(1, body(i, 1000)) for i in range(5)]
    store.truncate_after(2)  # entry 3 was the first of the second file
    assert store.data_max_pos == 4096
    entry = store.append_leader(2, body(9, 10))
    assert entry.pos == 4096
    assert list(store.entries_from(0)) == [*entries[:3], entry]


def test_committed_index_and_pos(store: MmapLogStore) -> None:
    entries = [store.append_leader(1, body(i)) for i in range(5)]
    assert store.committed_pos == 0  # nothing committed: the data begin
    store.update_committed_index(2)
    assert (store.committed_index, store.committed_pos) == (2, entries[2].pos + 68)
    store.update_committed_index(1)  # monotone
    assert store.committed_index == 2
    store.update_committed_index(99)  # capped at the end index
    assert (store.committed_index, store.committed_pos) == (4, store.data_max_pos)
    store.truncate_after(3)  # below the committed index (Raft never does): follows down
    assert (store.committed_index, store.committed_pos) == (3, store.data_max_pos)
    store.truncate_after(-1)
    assert (store.committed_index, store.committed_pos) == (-1, 0)


def test_checkpoint_file(store: MmapLogStore, base: Path) -> None:
    for i in range(3):
        store.append_leader(1, body(i))
    store.update_committed_index(1)
    store.flush_checkpoint()
    assert (base / "checkpoint").read_text() == "endIndex=2\ncommittedIndex=1\n"
    store.flush()


def test_read_data(store: MmapLogStore) -> None:
    entries = [store.append_leader(1, body(i, 1000)) for i in range(4)]
    assert bytes(store.read_data(0, 48 + 1000)) == encode_entry(entries[0])
    assert bytes(store.read_data(entries[1].pos + 48, 10)) == body(1, 1000)[:10]
    # Clipped at the end of its segment and at the write position.
    assert len(store.read_data(3000, 5000)) == DATA_SIZE - 3000
    assert len(store.read_data(4096, 5000)) == 1048
    assert bytes(store.read_data(6000, 10)) == b""
    assert store.read_data(0, 0) == b""


def test_entry_at_pos(store: MmapLogStore) -> None:
    entries = [store.append_leader(1, body(i)) for i in range(3)]
    assert store.entry_at_pos(entries[1].pos) == entries[1]
    with pytest.raises(EntryDecodeError, match="pos"):
        store.entry_at_pos(entries[1].pos + 1)
    with pytest.raises(EntryDecodeError, match="outside"):
        store.entry_at_pos(store.data_max_pos)


def test_get_cross_checks_data_and_index(store: MmapLogStore, base: Path) -> None:
    entries = [store.append_leader(1, body(i)) for i in range(3)]
    store.clear_recent()  # the newest entries are served as written: make get read the files
    data = base / "data" / name(0)
    index = base / "index" / name(0)
    with data.open("r+b") as f:  # flip a body byte of entry 1 (the page is shared with the map)
        f.seek(entries[1].pos + 50)
        f.write(b"\0")
    with pytest.raises(EntryDecodeError, match="bodyCrc"):
        store.get(1)
    with index.open("r+b") as f:  # entry 2's unit claims another term
        f.seek(2 * 32 + 24)
        f.write((5).to_bytes(8, "big"))
    with pytest.raises(EntryDecodeError, match="term"):
        store.get(2)
    assert store.get(0) == entries[0]


def test_the_newest_entries_are_served_as_written(store: MmapLogStore, base: Path) -> None:
    entries = [store.append_leader(1, body(i)) for i in range(3)]
    assert [store.get(i) for i in range(3)] == entries
    assert list(store.entries_from(entries[1].pos)) == entries[1:]
    store.truncate_after(0)
    with pytest.raises(IndexError):
        store.get(1)
    again = store.append_leader(2, b"other")
    assert store.get(1) == again and list(store.entries_from(again.pos)) == [again]
    store.clear_recent()
    assert store.get(1) == again and store.get(0) == entries[0]


def test_close_is_idempotent_and_final(base: Path) -> None:
    s = MmapLogStore.open(base, DATA_SIZE, INDEX_SIZE)
    s.append_leader(1, b"x")
    s.close()
    s.close()
    with pytest.raises(RuntimeError):
        s.append_leader(1, b"y")


def test_writes_need_recovery_first(base: Path) -> None:
    s = MmapLogStore(base, DATA_SIZE, INDEX_SIZE)
    with pytest.raises(RuntimeError, match="open"):
        s.append_leader(1, b"x")
    with pytest.raises(RuntimeError):
        s.append_follower(Entry(index=0, term=1, body=b"x", pos=0))
    s.recover()
    s.recover()  # once only
    assert s.append_leader(1, b"x").pos == 0
    s.close()
