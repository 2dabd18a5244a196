"""store.index: IndexFile layout and IndexService build/query/rollover/load/cleanup (§4).

Geometry is tiny (100 slots, a handful of entries). File bytes are checked with a decoder and a
Java String.hashCode written here from the spec, not with the module's own readers.
"""

from __future__ import annotations

import datetime
import struct
from pathlib import Path

from pyrmq.common.clock import FakeClock
from pyrmq.common.message import (
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
)
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.dispatch_request import DispatchRequest
from pyrmq.store.index import IndexFile, IndexService

SLOTS = 100
ENTRIES = 400
T0 = 1_700_000_000_000


# ============================================================================== spec decoder


def java_hash(text: str) -> int:
    """String.hashCode over UTF-16 code units, wrapped to a signed 32-bit int."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (h * 31 + int.from_bytes(data[i : i + 2], "big")) % 2**32
    return h - 2**32 if h >= 2**31 else h


def key_hash(text: str) -> int:
    h = java_hash(text)
    return 0 if h == -(2**31) else abs(h)


def header(data: bytes) -> dict[str, int]:
    def i64(at: int) -> int:
        return int.from_bytes(data[at : at + 8], "big", signed=True)

    def i32(at: int) -> int:
        return int.from_bytes(data[at : at + 4], "big", signed=True)

    return {
        "begin_ts": i64(0),
        "end_ts": i64(8),
        "begin_phy": i64(16),
        "end_phy": i64(24),
        "slot_count": i32(32),
        "index_count": i32(36),
    }


def slot(data: bytes, number: int) -> int:
    at = 40 + number * 4
    return int.from_bytes(data[at : at + 4], "big", signed=True)


def entry(data: bytes, number: int, slots: int = SLOTS) -> tuple[int, int, int, int]:
    at = 40 + slots * 4 + number * 20
    raw = data[at : at + 20]
    fields = (
        int.from_bytes(raw[0:4], "big", signed=True),
        int.from_bytes(raw[4:12], "big", signed=True),
        int.from_bytes(raw[12:16], "big", signed=True),
        int.from_bytes(raw[16:20], "big", signed=True),
    )
    assert struct.unpack(">iqii", raw) == fields
    return fields


def colliding_keys(prefix: str, slots: int) -> tuple[str, str]:
    """Two keys with different hashes that land in the same slot."""
    seen: dict[int, str] = {}
    for n in range(10_000):
        key = f"{prefix}{n}"
        h = key_hash(key)
        other = seen.get(h % slots)
        if other is not None and key_hash(other) != h:
            return other, key
        seen[h % slots] = key
    raise AssertionError("no collision found")


def new_file(tmp_path: Path, name: str = "20240101000000000", entries: int = ENTRIES) -> IndexFile:
    return IndexFile(tmp_path / name, SLOTS, entries)


# ============================================================================== IndexFile


def test_java_hash_vectors() -> None:
    assert java_hash("polygenelubricants") == -(2**31)
    assert java_hash("Aa") == java_hash("BB")
    assert java_hash("hello") == 99162322
    assert key_hash("polygenelubricants") == 0


def test_layout_of_header_slots_and_entries(tmp_path: Path) -> None:
    f = new_file(tmp_path)
    assert f.path.stat().st_size == 40 + SLOTS * 4 + ENTRIES * 20
    assert f.put_key("T#a", 100, T0)
    assert f.put_key("T#b", 250, T0 + 1500)
    assert f.put_key("T#c", 400, T0 + 4999)
    f.flush()
    data = f.path.read_bytes()
    assert header(data) == {
        "begin_ts": T0,
        "end_ts": T0 + 4999,
        "begin_phy": 100,
        "end_phy": 400,
        "slot_count": len({key_hash(k) % SLOTS for k in ("T#a", "T#b", "T#c")}),
        "index_count": 4,  # starts at 1: entries + 1
    }
    assert entry(data, 0) == (0, 0, 0, 0)  # entry 0 is never used
    # timeDiff is whole seconds since the header's begin timestamp.
    assert entry(data, 1) == (key_hash("T#a"), 100, 0, 0)
    assert entry(data, 2)[:3] == (key_hash("T#b"), 250, 1)
    assert entry(data, 3)[:3] == (key_hash("T#c"), 400, 4)
    for number, key in enumerate(("T#a", "T#b", "T#c"), start=1):
        assert slot(data, key_hash(key) % SLOTS) == number
    f.close()


def test_fresh_file_header_and_flush(tmp_path: Path) -> None:
    f = new_file(tmp_path)
    assert f.index_count == 1
    assert header(f.path.read_bytes())["index_count"] == 0  # in memory only until written
    f.flush()
    assert header(f.path.read_bytes())["index_count"] == 1
    assert f.select_phy_offset("T#a", 10, 0, 2**62) == []
    f.close()


def test_hash_collisions_chain_and_are_both_found(tmp_path: Path) -> None:
    k1, k2 = colliding_keys("T#key", SLOTS)
    f = new_file(tmp_path)
    f.put_key(k1, 1000, T0)
    f.put_key("T#other", 1100, T0 + 1000)
    f.put_key(k2, 1200, T0 + 2000)
    f.put_key(k1, 1300, T0 + 3000)
    f.flush()
    data = f.path.read_bytes()
    shared = key_hash(k1) % SLOTS
    # The slot holds the newest entry; each entry links to the previous one of its slot.
    assert slot(data, shared) == 4
    assert entry(data, 4)[3] == 3
    assert entry(data, 3)[3] == 1
    assert entry(data, 1)[3] == 0
    assert header(data)["slot_count"] == 2 - (key_hash("T#other") % SLOTS == shared)
    assert f.select_phy_offset(k1, 10, 0, 2**62) == [1300, 1000]
    assert f.select_phy_offset(k2, 10, 0, 2**62) == [1200]
    f.close()


def test_equal_hashes_are_not_filtered(tmp_path: Path) -> None:
    """Full-hash collisions come back for both keys: the client checks the real key."""
    f = new_file(tmp_path)
    f.put_key("T#Aa", 10, T0)
    f.put_key("T#BB", 20, T0)
    assert f.select_phy_offset("T#Aa", 10, 0, 2**62) == [20, 10]
    assert f.select_phy_offset("T#BB", 10, 0, 2**62) == [20, 10]
    f.close()


def test_abs_min_value_quirk_goes_to_hash_zero(tmp_path: Path) -> None:
    f = new_file(tmp_path)
    assert f.put_key("polygenelubricants", 77, T0)
    data = f.path.read_bytes()
    assert slot(data, 0) == 1
    assert entry(data, 1) == (0, 77, 0, 0)
    assert f.select_phy_offset("polygenelubricants", 5, 0, 2**62) == [77]
    f.close()


def test_time_range_and_max_num(tmp_path: Path) -> None:
    f = new_file(tmp_path)
    for i in range(6):
        f.put_key("T#k", 100 * i, T0 + i * 10_000)
    everything = f.select_phy_offset("T#k", 100, 0, 2**62)
    assert everything == [500, 400, 300, 200, 100, 0]
    assert f.select_phy_offset("T#k", 2, 0, 2**62) == [500, 400]
    assert f.select_phy_offset("T#k", 100, T0 + 15_000, T0 + 40_000) == [400, 300, 200]
    assert f.select_phy_offset("T#k", 100, T0 + 60_000, T0 + 90_000) == []
    assert f.is_time_matched(T0 - 5, T0 + 10**9)  # covers the file
    assert f.is_time_matched(T0 + 5, T0 + 6)  # inside
    assert f.is_time_matched(T0 - 5, T0)  # touches the begin
    assert not f.is_time_matched(T0 + 50_001, T0 + 60_000)
    f.close()


def test_time_diff_is_clamped_at_zero(tmp_path: Path) -> None:
    f = new_file(tmp_path)
    f.put_key("T#a", 1, T0)
    f.put_key("T#b", 2, T0 - 5000)  # clock went back
    assert entry(f.path.read_bytes(), 2)[2] == 0
    f.close()


def test_full_file_refuses_keys(tmp_path: Path) -> None:
    f = new_file(tmp_path, entries=5)  # capacity 4: entry 0 is never used
    assert all(f.put_key(f"T#{i}", i, T0) for i in range(4))
    assert f.is_full
    assert not f.put_key("T#x", 9, T0)
    assert header(f.path.read_bytes())["index_count"] == 5
    f.close()


def test_preseeded_follow_on_file(tmp_path: Path) -> None:
    f = IndexFile(tmp_path / "20240101000000001", SLOTS, ENTRIES, 5000, T0)
    h = header(f.path.read_bytes())
    assert (h["begin_ts"], h["end_ts"], h["begin_phy"], h["end_phy"]) == (T0, T0, 5000, 5000)
    assert h["index_count"] == 0
    # The first entry's timeDiff is taken against the pre-seeded begin (Java quirk), then the
    # header begin becomes the entry's own time.
    f.put_key("T#k", 5100, T0 + 7500)
    data = f.path.read_bytes()
    assert entry(data, 1)[2] == 7
    assert header(data)["begin_ts"] == T0 + 7500
    assert header(data)["begin_phy"] == 5100
    f.close()


def test_reopen_loads_the_header(tmp_path: Path) -> None:
    f = new_file(tmp_path)
    f.put_key("T#k", 10, T0)
    f.put_key("T#k", 20, T0 + 2000)
    f.flush()
    f.close()
    again = new_file(tmp_path)
    assert (again.index_count, again.begin_timestamp, again.end_phy_offset) == (3, T0, 20)
    assert again.select_phy_offset("T#k", 10, 0, 2**62) == [20, 10]
    again.put_key("T#k", 30, T0 + 3000)
    assert again.select_phy_offset("T#k", 10, 0, 2**62) == [30, 20, 10]
    again.destroy()
    assert not again.path.exists()


# ============================================================================== IndexService


def make_service(tmp_path: Path, entries: int = ENTRIES, batch: int = 64) -> IndexService:
    config = MessageStoreConfig(
        store_path_root_dir=str(tmp_path),
        max_hash_slot_num=SLOTS,
        max_index_num=entries,
        max_msgs_num_batch=batch,
    )
    return IndexService(config, FakeClock(T0))


def req(
    offset: int,
    ts: int,
    keys: str | None = None,
    uniq: str | None = None,
    topic: str = "T",
    sys_flag: int = 0,
) -> DispatchRequest:
    return DispatchRequest(
        msg_size=100,
        success=True,
        topic=topic,
        commit_log_offset=offset,
        store_timestamp=ts,
        keys=keys,
        uniq_key=uniq,
        sys_flag=sys_flag,
    )


def human(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y%m%d%H%M%S%f")[:-3]


def everything(service: IndexService, key: str, topic: str = "T") -> list[int]:
    return service.query_offset(topic, key, 64, 0, 2**62).phy_offsets


def test_uniq_key_and_every_keys_token_are_indexed(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    assert service.build_index(req(100, T0, keys="k1  k2 ", uniq="U1")) == ()
    [f] = service.files
    assert f.path.name == human(T0)
    assert len(f.path.name) == 17
    data = f.path.read_bytes()
    assert header(data)["index_count"] == 4
    # UNIQ_KEY first, then the tokens; empty tokens (double and trailing spaces) skipped.
    assert [entry(data, n)[0] for n in (1, 2, 3)] == [key_hash(k) for k in ("T#U1", "T#k1", "T#k2")]
    assert everything(service, "U1") == [100]
    assert everything(service, "k2") == [100]
    assert everything(service, "k1", topic="Other") == []
    service.close()


def test_rollback_is_not_indexed_prepared_and_commit_are(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    service.build_index(req(100, T0, keys="r", sys_flag=TRANSACTION_ROLLBACK_TYPE))
    service.build_index(req(200, T0, keys="p", sys_flag=TRANSACTION_PREPARED_TYPE))
    service.build_index(req(300, T0, keys="c", sys_flag=TRANSACTION_COMMIT_TYPE))
    assert everything(service, "r") == []
    assert everything(service, "p") == [200]
    assert everything(service, "c") == [300]
    service.close()


def test_already_indexed_offsets_are_skipped(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    service.build_index(req(100, T0, keys="a"))
    service.build_index(req(500, T0, keys="b"))
    service.build_index(req(100, T0, keys="a"))  # re-dispatch after recovery
    service.build_index(req(500, T0, keys="b"))  # equal to end offset: indexed again (Java)
    assert everything(service, "a") == [100]
    assert everything(service, "b") == [500, 500]
    service.close()


def test_rollover_preseeds_the_next_file(tmp_path: Path) -> None:
    service = make_service(tmp_path, entries=4)  # three entries per file
    clock = service.clock
    assert isinstance(clock, FakeClock)
    for i in range(3):
        assert service.build_index(req(1000 + i * 100, T0 + i * 1000, keys=f"k{i}")) == ()
    first = service.files[0]
    assert first.is_full
    clock.advance(10)
    filled = service.build_index(req(1300, T0 + 9000, keys="k3"))
    assert filled == (first,)
    assert service.flush_file(first) == T0 + 2000
    assert service.last_full_file_end_timestamp == T0 + 2000
    assert [f.path.name for f in service.files] == [human(T0), human(T0 + 10)]
    data = service.files[1].path.read_bytes()
    # timeDiff of the first entry counted from the previous file's end (T0 + 2000).
    assert entry(data, 1) == (key_hash("T#k3"), 1300, 7, 0)
    h = header(data)
    assert (h["begin_ts"], h["begin_phy"], h["index_count"]) == (T0 + 9000, 1300, 2)
    assert [everything(service, f"k{i}") for i in range(4)] == [[1000], [1100], [1200], [1300]]
    service.close()


def test_rollover_in_the_same_millisecond_gets_a_new_name(tmp_path: Path) -> None:
    service = make_service(tmp_path, entries=2)  # one entry per file
    for i in range(3):
        service.build_index(req(i * 100, T0, keys=f"k{i}"))
    assert [f.path.name for f in service.files] == [human(T0 + i) for i in range(3)]
    service.close()


def test_one_message_can_span_two_files(tmp_path: Path) -> None:
    service = make_service(tmp_path, entries=3)  # two entries per file
    service.build_index(req(100, T0, keys="a b c", uniq="U"))
    assert len(service.files) == 2
    assert [everything(service, k) for k in ("U", "a", "b", "c")] == [[100]] * 4
    service.close()


def test_query_walks_files_newest_first_with_limits(tmp_path: Path) -> None:
    service = make_service(tmp_path, entries=4, batch=3)
    clock = service.clock
    assert isinstance(clock, FakeClock)
    for i in range(9):  # 3 files of 3 entries, 10 s apart
        clock.advance(1)
        service.build_index(req(i * 100, T0 + i * 10_000, keys="k"))
    assert len(service.files) == 3
    result = service.query_offset("T", "k", 100, 0, 2**62)
    assert result.phy_offsets == [800, 700, 600]  # capped at maxMsgsNumBatch
    assert result.index_last_update_timestamp == T0 + 80_000
    assert result.index_last_update_phyoffset == 800
    assert service.query_offset("T", "k", 2, 0, 2**62).phy_offsets == [800, 700]
    window = service.query_offset("T", "k", 3, T0 + 15_000, T0 + 45_000).phy_offsets
    assert window == [400, 300, 200]
    # Java quirk: a follow-on file's first entry (offset 300, stored at T0+30s) took its
    # timeDiff from the pre-seeded begin (T0+20s), so it reads back as T0+40s.
    assert service.query_offset("T", "k", 3, T0 + 25_000, T0 + 35_000).phy_offsets == []
    assert service.query_offset("T", "k", 3, T0 + 35_000, T0 + 45_000).phy_offsets == [400, 300]
    assert service.query_offset("T", "k", 3, T0 + 100_000, T0 + 200_000).phy_offsets == []
    service.close()


def test_query_on_empty_service(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    result = service.query_offset("T", "k", 10, 0, 2**62)
    assert (result.phy_offsets, result.index_last_update_timestamp) == ([], 0)


def build_three_files(tmp_path: Path) -> list[str]:
    service = make_service(tmp_path, entries=3)  # two entries per file
    clock = service.clock
    assert isinstance(clock, FakeClock)
    for i in range(6):
        clock.advance(1)
        service.build_index(req(i * 100, T0 + i * 1000, keys=f"k{i}"))
    names = [f.path.name for f in service.files]
    service.flush()
    service.close()
    return names


def test_load_after_crash_drops_files_newer_than_the_checkpoint(tmp_path: Path) -> None:
    names = build_three_files(tmp_path)  # end timestamps T0+1000, +3000, +5000
    (tmp_path / "index" / "not-an-index").write_bytes(b"x")
    service = make_service(tmp_path, entries=3)
    service.load(last_exit_ok=False, index_msg_timestamp=T0 + 3000)
    assert [f.path.name for f in service.files] == names[:2]
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == [*names[:2], "not-an-index"]
    assert everything(service, "k3") == [300]
    assert everything(service, "k5") == []
    service.close()


def test_load_after_clean_exit_keeps_every_file(tmp_path: Path) -> None:
    names = build_three_files(tmp_path)
    service = make_service(tmp_path, entries=3)
    service.load(last_exit_ok=True, index_msg_timestamp=0)
    assert [f.path.name for f in service.files] == names
    assert everything(service, "k5") == [500]
    # Building continues in the loaded last file (full here: a new one is created).
    service.build_index(req(600, T0 + 6000, keys="k6"))
    assert len(service.files) == 4
    service.close()


def test_delete_expired_file_keeps_the_last(tmp_path: Path) -> None:
    names = build_three_files(tmp_path)  # end offsets 100, 300, 500
    service = make_service(tmp_path, entries=3)
    service.load(last_exit_ok=True, index_msg_timestamp=0)
    assert service.delete_expired_file(100) == 0
    assert service.delete_expired_file(101) == 1
    assert service.delete_expired_file(10**9) == 1
    assert [f.path.name for f in service.files] == names[2:]
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == names[2:]
    service.destroy()
    assert list((tmp_path / "index").iterdir()) == []
