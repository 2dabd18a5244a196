"""DLedgerCommitLog and its reput over a real MmapLogStore, without the Raft node.

Puts append as leader straight into the log (what the node's ``propose`` does first); the
commit is driven by hand, so the tests can look at the store between append and commit: an
uncommitted record is neither readable nor dispatched; once committed it is both, at
``entry.pos + 48``, and no-op entries (empty bodies) are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrmq.common.clock import SystemClock
from pyrmq.common.message import Message
from pyrmq.common.message_codec import encode_batch
from pyrmq.dledger.commitlog import DLedgerCommitLog, DLedgerReputService
from pyrmq.dledger.log_store import ENTRY_HEADER_SIZE, AppendHook, Entry
from pyrmq.dledger.mmap_log import MmapLogStore
from pyrmq.store.commitlog import MessageExtBatch
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.message_store import MessageStore
from pyrmq.store.results import PutMessageStatus
from tests.support.store_writer import TOPIC, message

SEGMENT = 64 * 1024


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[MessageStore, MmapLogStore]]:
    config = MessageStoreConfig(
        store_path_root_dir=str(tmp_path),
        mapped_file_size_commit_log=SEGMENT,
        mapped_file_size_consume_queue=100 * 20,
        max_hash_slot_num=1000,
        max_index_num=4000,
    )
    log_store = MmapLogStore.open(tmp_path / "dledger-n0", SEGMENT)

    def propose(body: bytes, hook: AppendHook) -> Entry:
        return log_store.append_leader(max(1, log_store.end_term), body, hook)

    commitlog = DLedgerCommitLog(config, SystemClock(), log_store, propose, lambda: True)
    store = MessageStore(config, SystemClock(), None, commitlog, DLedgerReputService)
    store.load()
    try:
        yield store, log_store
    finally:
        store.shutdown_flag = True
        store._close()  # a store never started has no services to stop


def physical_offset(record: bytes) -> int:
    return int(struct.unpack_from(">q", record, 28)[0])


async def test_a_record_is_read_and_dispatched_only_once_committed(
    parts: tuple[MessageStore, MmapLogStore],
) -> None:
    store, log_store = parts
    store.shutdown_flag = False
    result = await store.put_message(message(0))
    assert result.status is PutMessageStatus.PUT_OK and result.append is not None
    entry = log_store.get(0)
    phy = entry.pos + ENTRY_HEADER_SIZE
    assert result.append.wrote_offset == phy == physical_offset(entry.body)
    assert result.append.msg_id.endswith(f"{phy:016X}")
    assert store.commitlog.get_message(phy, len(entry.body)) is None
    assert store.reput.do_reput() == 0
    assert store.get_max_offset_in_queue(TOPIC, 0) == 0
    log_store.update_committed_index(0)
    assert store.reput.do_reput() == 1
    assert store.get_max_offset_in_queue(TOPIC, 0) == 1
    view = store.commitlog.get_message(phy, len(entry.body))
    assert view is not None and bytes(view) == entry.body
    view.release()


async def test_noop_entries_are_skipped_and_offsets_follow_the_entries(
    parts: tuple[MessageStore, MmapLogStore],
) -> None:
    store, log_store = parts
    store.shutdown_flag = False
    await store.put_message(message(0))
    log_store.append_leader(2, b"")  # a new leader's no-op
    await store.put_message(message(4))
    log_store.update_committed_index(log_store.end_index)
    assert store.reput.do_reput() == 2
    assert store.get_max_offset_in_queue(TOPIC, 0) == 2
    queue = store.find_consume_queue(TOPIC, 0)
    assert queue is not None
    units = [queue.get_unit(i) for i in range(2)]
    assert [u[0] for u in units] == [
        log_store.get(0).pos + ENTRY_HEADER_SIZE,
        log_store.get(2).pos + ENTRY_HEADER_SIZE,
    ]


async def test_a_batch_is_one_entry_per_message(
    parts: tuple[MessageStore, MmapLogStore],
) -> None:
    store, log_store = parts
    store.shutdown_flag = False
    batch = batch_of(3)
    result = await store.put_messages(batch)
    assert result.status is PutMessageStatus.PUT_OK and result.append is not None
    assert log_store.end_index == 2
    phys = [log_store.get(i).pos + ENTRY_HEADER_SIZE for i in range(3)]
    assert [physical_offset(log_store.get(i).body) for i in range(3)] == phys
    assert [msg_id[-16:] for msg_id in result.append.msg_id.split(",")] == [
        f"{phy:016X}" for phy in phys
    ]
    assert result.append.next_offset == log_store.get(2).pos + log_store.get(2).size


def batch_of(count: int) -> MessageExtBatch:
    """A SEND_BATCH_MESSAGE body as a client encodes it."""
    body = encode_batch(Message(TOPIC, f"batched-{i}".encode()) for i in range(count))
    return MessageExtBatch(
        topic=TOPIC,
        queue_id=1,
        body=body,
        born_timestamp=1_700_000_000_000,
        born_host=("127.0.0.1", 50000),
        store_host=("127.0.0.1", 10911),
    )
