"""store.consume_queue: 20-byte units in byte-offset-named files (RocketMQ ConsumeQueue, §3).

Geometry is tiny (10 units = 200 bytes per file) so that queues roll over files. File bytes are
checked with a decoder written here from the spec, not with the module's own readers.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.store.consume_queue import ConsumeQueue, ConsumeQueueTable
from pyrmq.store.dispatch_request import DispatchRequest

UNITS_PER_FILE = 10
FILE_SIZE = UNITS_PER_FILE * 20
BLANK = (0, 0x7FFFFFFF, 0)
BASE_PHY = 1000
MSG_SIZE = 100


def phy_of(i: int) -> int:
    """Commitlog offset of the i-th test message (messages are 100 bytes, back to back)."""
    return BASE_PHY + i * MSG_SIZE


def queue_dir(root: Path, topic: str = "T", qid: int = 0) -> Path:
    return root / topic / str(qid)


def decode_file(path: Path, units: int | None = None) -> list[tuple[int, int, int]]:
    """Spec decoder: big-endian long offset, int size, long tagsCode, field by field."""
    data = path.read_bytes()
    assert len(data) == FILE_SIZE
    count = len(data) // 20 if units is None else units
    out = []
    for i in range(count):
        unit = data[i * 20 : i * 20 + 20]
        offset = int.from_bytes(unit[0:8], "big", signed=True)
        size = int.from_bytes(unit[8:12], "big", signed=True)
        tags = int.from_bytes(unit[12:20], "big", signed=True)
        assert struct.unpack(">qiq", unit) == (offset, size, tags)
        out.append((offset, size, tags))
    return out


def make_queue(root: Path, topic: str = "T", qid: int = 0) -> ConsumeQueue:
    return ConsumeQueue(topic, qid, root, FILE_SIZE)


def fill(cq: ConsumeQueue, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        assert cq.put_message_position_info(phy_of(i), MSG_SIZE, i * 7 - 3, i)


def reopen(root: Path, topic: str = "T", qid: int = 0) -> ConsumeQueue:
    cq = make_queue(root, topic, qid)
    cq.load()
    cq.recover()
    return cq


# ============================================================================== writing


def test_units_roll_over_files_named_by_byte_offset(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 25)
    names = sorted(p.name for p in queue_dir(tmp_path).iterdir())
    assert names == ["00000000000000000000", "00000000000000000200", "00000000000000000400"]
    assert cq.max_offset_in_queue == 25
    assert cq.min_offset_in_queue == 0
    assert cq.max_physic_offset == phy_of(25)
    assert cq.last_offset() == phy_of(25)
    cq.flush(0)
    expected = [(phy_of(i), MSG_SIZE, i * 7 - 3) for i in range(25)]
    got = []
    for name in names:
        got += decode_file(queue_dir(tmp_path) / name)
    assert got[:25] == expected
    # The tail of the last file is untouched (zeros: an invalid unit ends recovery there).
    assert got[25:] == [(0, 0, 0)] * 5
    cq.close()


def test_put_dispatch_uses_request_fields(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    req = DispatchRequest(
        msg_size=123,
        success=True,
        topic="T",
        commit_log_offset=4096,
        tags_code=-5,
        consume_queue_offset=0,
    )
    assert cq.put_dispatch(req)
    assert cq.get_unit(0) == (4096, 123, -5)
    cq.close()


def test_empty_queue_creates_no_file(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    assert not (tmp_path / "T").exists()
    assert cq.max_offset_in_queue == 0
    assert cq.last_offset() == -1
    assert cq.get_unit(0) is None
    assert cq.iter_units(0, 10) == []
    assert cq.get_index_buffer(0) is None
    cq.recover()
    cq.truncate_dirty_logic_files(0)
    cq.correct_min_offset(0)
    assert cq.delete_expired_file(10**9) == 0
    assert not cq.flush(0)


@pytest.mark.parametrize(
    ("first", "file_name", "blanks"),
    [
        (5, "00000000000000000000", 5),
        (13, "00000000000000000200", 3),
        (20, "00000000000000000400", 0),
    ],
)
def test_first_unit_mid_stream_prefills_blank_units(
    tmp_path: Path, first: int, file_name: str, blanks: int
) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 3, start=first)
    assert [p.name for p in queue_dir(tmp_path).iterdir()] == [file_name]
    units = decode_file(queue_dir(tmp_path) / file_name, blanks + 3)
    assert units[:blanks] == [BLANK] * blanks
    assert units[blanks:] == [(phy_of(i), MSG_SIZE, i * 7 - 3) for i in range(first, first + 3)]
    assert cq.min_offset_in_queue == first
    assert cq.max_offset_in_queue == first + 3
    assert cq.get_unit(first - 1) is None  # below the min offset: blanks are not readable
    assert cq.get_unit(first) == (phy_of(first), MSG_SIZE, first * 7 - 3)
    cq.close()
    # Blank units are valid for recovery (positions), but are not built messages.
    again = reopen(tmp_path)
    assert again.max_offset_in_queue == first + 3
    assert again.max_physic_offset == phy_of(first + 3)
    again.correct_min_offset(BASE_PHY)
    assert again.min_offset_in_queue == first
    again.close()


def test_already_built_units_are_skipped(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 4)
    before = decode_file(queue_dir(tmp_path) / "00000000000000000000")
    # Same record again (re-dispatch after recovery): offset + size <= maxPhysicOffset.
    assert cq.put_message_position_info(phy_of(2), MSG_SIZE, 99, 2)
    # A newer record claiming an old queue offset: repeated build, skipped as well.
    assert cq.put_message_position_info(phy_of(10), MSG_SIZE, 99, 1)
    assert decode_file(queue_dir(tmp_path) / "00000000000000000000") == before
    assert cq.max_offset_in_queue == 4
    cq.close()


def test_queue_offset_ahead_is_appended_at_current_position(tmp_path: Path) -> None:
    """Java logs "[BUG] logic queue order maybe wrong" and appends where it is."""
    cq = make_queue(tmp_path)
    fill(cq, 2)
    assert cq.put_message_position_info(phy_of(5), MSG_SIZE, 1, 7)
    assert cq.max_offset_in_queue == 3
    assert cq.get_unit(2) == (phy_of(5), MSG_SIZE, 1)
    cq.close()


# ============================================================================== reading


def test_iter_units_crosses_files_and_respects_bounds(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 25)
    everything = [(phy_of(i), MSG_SIZE, i * 7 - 3) for i in range(25)]
    assert cq.iter_units(0, 100) == everything
    assert cq.iter_units(8, 5) == everything[8:13]
    assert cq.iter_units(20, 3) == everything[20:23]
    assert cq.iter_units(24, 10) == everything[24:]
    assert cq.iter_units(25, 10) == []
    assert cq.iter_units(-1, 10) == []
    assert cq.iter_units(3, 0) == []
    for i in range(25):
        assert cq.get_unit(i) == everything[i]
    assert cq.get_unit(25) is None
    cq.close()


def test_get_index_buffer_reaches_the_end_of_its_file(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 14)
    buf = cq.get_index_buffer(3)
    assert buf is not None
    with buf:
        assert len(buf) == 7 * 20
        assert struct.unpack_from(">qiq", buf, 0) == (phy_of(3), MSG_SIZE, 3 * 7 - 3)
    buf = cq.get_index_buffer(12)
    assert buf is not None
    with buf:
        assert [u[0] for u in struct.iter_unpack(">qiq", buf)] == [phy_of(12), phy_of(13)]
    assert cq.get_index_buffer(14) is None
    cq.close()


def test_get_offset_in_queue_by_time(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 25)
    cq.flush(0)

    def store_time(i: int) -> int:
        return 10_000 + i * 10

    times = {phy_of(i): store_time(i) for i in range(25)}
    # Java picks the first file modified at/after the time: give each file the store time of
    # its last unit (+0.5 ms so float seconds round-trip to the same millisecond).
    for n, mapped in enumerate(cq.files):
        last_ms = store_time(min(24, n * UNITS_PER_FILE + UNITS_PER_FILE - 1))
        os.utime(mapped.path, ns=(last_ms * 1_000_000 + 500_000,) * 2)

    def lookup(phy: int, size: int) -> int:
        assert size == MSG_SIZE
        return times[phy]

    for i in range(25):
        assert cq.get_offset_in_queue_by_time(store_time(i), lookup) == i
    assert cq.get_offset_in_queue_by_time(10_125, lookup) == 12  # tie: the left one
    assert cq.get_offset_in_queue_by_time(10_126, lookup) == 13
    assert cq.get_offset_in_queue_by_time(10_004, lookup) == 0
    assert cq.get_offset_in_queue_by_time(0, lookup) == 0
    assert cq.get_offset_in_queue_by_time(99_999, lookup) == 24
    # Units below the commitlog min offset count as too old.
    assert cq.get_offset_in_queue_by_time(0, lookup, min_phy_offset=phy_of(3)) == 3
    # A record the commitlog cannot read any more: 0.
    assert cq.get_offset_in_queue_by_time(10_050, lambda _p, _s: -1) == 0
    cq.close()


# ============================================================================== recovery


def cut_last_file(path: Path, at: int) -> None:
    """Zero the file from byte ``at`` on: what was never written (or was torn)."""
    data = bytearray(path.read_bytes())
    data[at:] = bytes(len(data) - at)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("cut", range(0, 5 * 20 + 1))
def test_recover_after_cutting_the_last_file(tmp_path: Path, cut: int) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 25)
    cq.flush(0)
    cq.close()
    cut_last_file(queue_dir(tmp_path) / "00000000000000000400", cut)
    # A unit survives when its size field (bytes 8..12, value 100 in the last byte) is whole.
    survivors = sum(1 for u in range(5) if u * 20 + 12 <= cut)
    cq = reopen(tmp_path)
    assert cq.max_offset_in_queue == 20 + survivors
    assert cq.max_physic_offset == phy_of(20 + survivors)
    # The queue continues right after the last good unit.
    assert cq.put_message_position_info(phy_of(40), MSG_SIZE, 0, 20 + survivors)
    assert cq.get_unit(20 + survivors) == (phy_of(40), MSG_SIZE, 0)
    cq.close()


def test_recover_drops_files_after_an_invalid_unit(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 45)  # five files
    cq.flush(0)
    cq.close()
    cut_last_file(queue_dir(tmp_path) / "00000000000000000600", 60)
    cq = reopen(tmp_path)
    assert cq.max_offset_in_queue == 33
    assert [m.path.name for m in cq.files][-1] == "00000000000000000600"
    assert not (queue_dir(tmp_path) / "00000000000000000800").exists()
    cq.close()


def test_recover_starts_at_the_third_to_last_file(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 45)  # files 0, 200, 400, 600, 800
    cq.flush(0)
    cq.close()
    # A hole in the first file is not looked at (Java scans the last three files only).
    cut_last_file(queue_dir(tmp_path) / "00000000000000000000", 40)
    cq = reopen(tmp_path)
    assert cq.max_offset_in_queue == 45
    assert len(cq.files) == 5
    cq.close()


def test_load_rejects_a_file_of_another_size(tmp_path: Path) -> None:
    queue_dir(tmp_path).mkdir(parents=True)
    (queue_dir(tmp_path) / "00000000000000000000").write_bytes(bytes(100))
    with pytest.raises(ValueError, match="size"):
        make_queue(tmp_path).load()


@settings(max_examples=40, deadline=None)
@given(total=st.integers(0, 45), cut=st.integers(0, 20 * 45))
def test_recover_keeps_the_valid_prefix_of_the_last_three_files(
    total: int, cut: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("cq")
    cq = make_queue(root)
    fill(cq, total)
    cq.flush(0)
    cq.close()
    files = sorted(queue_dir(root).iterdir()) if total else []
    for path in files:  # zero every queue byte from ``cut`` on
        start = int(path.name)
        if cut < start + FILE_SIZE:
            cut_last_file(path, max(0, cut - start))
    prefix = sum(1 for u in range(total) if u * 20 + 12 <= cut)
    # Recovery trusts files before the 3rd-to-last one as they are.
    first_scanned = max(0, len(files) - 3) * UNITS_PER_FILE
    cq = reopen(root)
    assert cq.max_offset_in_queue == max(prefix, first_scanned)
    cq.close()


# ============================================================================== truncation


@pytest.mark.parametrize("phy", range(BASE_PHY - 100, phy_of(26), 50))
def test_truncate_dirty_logic_files(tmp_path: Path, phy: int) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 25)
    cq.truncate_dirty_logic_files(phy)
    kept = sum(1 for i in range(25) if phy_of(i) < phy)
    assert cq.max_offset_in_queue == kept
    assert cq.max_physic_offset == (phy_of(kept) if kept else phy)
    # Files whose first unit points at/after phy are gone.
    assert len(cq.files) == -(-kept // UNITS_PER_FILE)
    assert sorted(p.name for p in queue_dir(tmp_path).iterdir()) == [m.path.name for m in cq.files]
    assert cq.iter_units(0, 100) == [(phy_of(i), MSG_SIZE, i * 7 - 3) for i in range(kept)]
    # Re-dispatch after the cut rebuilds the same queue offsets.
    for i in range(kept, 25):
        assert cq.put_message_position_info(phy_of(i), MSG_SIZE, i * 7 - 3, i)
    assert cq.max_offset_in_queue == 25
    assert cq.iter_units(0, 100) == [(phy_of(i), MSG_SIZE, i * 7 - 3) for i in range(25)]
    cq.close()


def test_truncate_keeps_blank_prefill_without_claiming_it_built(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 2, start=4)  # blanks 0..3, units 4 and 5
    cq.truncate_dirty_logic_files(phy_of(4))
    assert cq.max_offset_in_queue == 4
    # Java would leave maxPhysicOffset at 0x7FFFFFFF here and skip the re-dispatch.
    assert cq.max_physic_offset == phy_of(4)
    assert cq.put_message_position_info(phy_of(4), MSG_SIZE, 0, 4)
    assert cq.max_offset_in_queue == 5
    cq.close()


# ============================================================================== expiry


def test_delete_expired_files_and_min_offset(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 25)
    # File 0's last unit points at 1900 < 2000: deleted; file 200's last is 2900: kept.
    assert cq.delete_expired_file(phy_of(10)) == 1
    assert [m.path.name for m in cq.files] == ["00000000000000000200", "00000000000000000400"]
    assert not (queue_dir(tmp_path) / "00000000000000000000").exists()
    assert cq.min_offset_in_queue == 10
    assert cq.get_unit(9) is None
    assert cq.iter_units(0, 5) == []
    assert cq.get_unit(10) == (phy_of(10), MSG_SIZE, 67)
    # Min offset inside the next file: that file goes, min is the first unit >= it.
    assert cq.delete_expired_file(phy_of(19) + 50) == 1
    assert cq.min_offset_in_queue == 20
    # The last file is never deleted; the min offset stays when no unit qualifies.
    assert cq.delete_expired_file(10**12) == 0
    assert len(cq.files) == 1
    assert cq.min_offset_in_queue == 20
    assert cq.max_offset_in_queue == 25
    cq.close()


def test_correct_min_offset_within_the_first_file(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 8)
    cq.correct_min_offset(phy_of(5) - 1)
    assert cq.min_offset_in_queue == 5
    cq.correct_min_offset(0)
    assert cq.min_offset_in_queue == 0
    cq.close()


def test_destroy_removes_files_and_directory(tmp_path: Path) -> None:
    cq = make_queue(tmp_path)
    fill(cq, 12)
    cq.destroy()
    assert not queue_dir(tmp_path).exists()
    assert cq.max_offset_in_queue == 0
    assert cq.max_physic_offset == -1
    fill(cq, 1)  # usable again, from scratch
    assert cq.max_offset_in_queue == 1
    cq.close()


# ============================================================================== table


def test_table_load_recover_and_offset_table(tmp_path: Path) -> None:
    table = ConsumeQueueTable(tmp_path, FILE_SIZE)
    fill(table.find_or_create("TopicA", 0), 12)
    a1 = table.find_or_create("TopicA", 1)
    for i in range(3):
        a1.put_message_position_info(phy_of(100 + i), MSG_SIZE, 0, i)
    fill(table.find_or_create("%RETRY%group", 3), 4)
    table.find_or_create("Empty", 0)  # no messages: no directory
    assert table.find_or_create("TopicA", 0) is table.get("TopicA", 0)
    table.close()
    assert not (tmp_path / "Empty").exists()
    (tmp_path / "TopicA" / "junk").mkdir()
    (tmp_path / "TopicA" / "7").write_bytes(b"not a dir")
    (tmp_path / "stray-file").write_bytes(b"x")

    loaded = ConsumeQueueTable(tmp_path, FILE_SIZE)
    loaded.load()
    assert len(loaded) == 3
    assert loaded.recover() == phy_of(103)
    assert loaded.queue_offset_table() == {"TopicA-0": 12, "TopicA-1": 3, "%RETRY%group-3": 4}
    assert loaded.topics() == {"TopicA", "%RETRY%group"}
    loaded.truncate_all(phy_of(5))
    assert loaded.queue_offset_table() == {"TopicA-0": 5, "TopicA-1": 0, "%RETRY%group-3": 4}
    loaded.destroy_all()
    assert len(loaded) == 0
    assert not (tmp_path / "TopicA" / "0").exists()


def test_table_recover_without_queues(tmp_path: Path) -> None:
    table = ConsumeQueueTable(tmp_path / "absent", FILE_SIZE)
    table.load()
    assert table.recover() == -1
    assert table.queue_offset_table() == {}


def test_put_reports_a_file_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "T").write_bytes(b"a file where the topic directory should be")
    cq = make_queue(tmp_path)
    assert not cq.put_message_position_info(phy_of(0), MSG_SIZE, 0, 0)
    assert cq.max_offset_in_queue == 0
