"""Reading a consume queue's messages: the pull path's view of the store.

Mirrors ``DefaultMessageStore.getMessage`` (4.9.8) with its status rules (protocol.md §6.3):
NO_MATCHED_LOGIC_QUEUE / NO_MESSAGE_IN_QUEUE / OFFSET_TOO_SMALL / OFFSET_OVERFLOW_ONE /
OFFSET_OVERFLOW_BADLY / OFFSET_FOUND_NULL / NO_MATCHED_MESSAGE / MESSAGE_WAS_REMOVING / FOUND,
the in-memory vs on-disk batch limits, and the suggestion to pull from a slave. Records are
returned as views of the commitlog map: no copy until the response is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyrmq.store.config import BrokerRole
from pyrmq.store.ports import MessageFilter
from pyrmq.store.results import GetMessageResult, GetMessageStatus

if TYPE_CHECKING:
    from pyrmq.store.message_store import MessageStore

CQ_STORE_UNIT_SIZE = 20


def total_physical_memory() -> int:
    """StoreUtil.TOTAL_PHYSICAL_MEMORY_SIZE."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_MEMORY = total_physical_memory()


def _next_offset_correction(store: MessageStore, old_offset: int, new_offset: int) -> int:
    """A slave does not correct a consumer's offset (offsetCheckInSlave is false)."""
    return old_offset if store.config.broker_role is BrokerRole.SLAVE else new_offset


def _memory_window(store: MessageStore) -> int:
    return int(_MEMORY * store.config.access_message_in_memory_max_ratio / 100)


@dataclass(slots=True)
class _Limits:
    """isTheBatchFull's limits for one pull: the count asked, and bytes/count by location."""

    max_msg_nums: int
    memory_bytes: int
    memory_count: int
    disk_bytes: int
    disk_count: int

    @classmethod
    def of(cls, store: MessageStore, max_msg_nums: int) -> _Limits:
        config = store.config
        return cls(
            max_msg_nums,
            config.max_transfer_bytes_on_message_in_memory,
            config.max_transfer_count_on_message_in_memory,
            config.max_transfer_bytes_on_message_in_disk,
            config.max_transfer_count_on_message_in_disk,
        )

    def is_full(self, size: int, total: int, count: int, in_disk: bool) -> bool:
        if total == 0 or count == 0:
            return False
        if self.max_msg_nums <= count:
            return True
        if in_disk:
            return total + size > self.disk_bytes or count > self.disk_count - 1
        return total + size > self.memory_bytes or count > self.memory_count - 1


def get_message(
    store: MessageStore,
    topic: str,
    queue_id: int,
    offset: int,
    max_msg_nums: int,
    message_filter: MessageFilter | None,
) -> GetMessageResult:
    queue = store.find_consume_queue(topic, queue_id)
    if queue is None:
        return GetMessageResult(
            GetMessageStatus.NO_MATCHED_LOGIC_QUEUE,
            next_begin_offset=_next_offset_correction(store, offset, 0),
        )
    min_offset = queue.min_offset_in_queue
    max_offset = queue.max_offset_in_queue
    result = GetMessageResult(GetMessageStatus.NO_MESSAGE_IN_QUEUE, offset, min_offset, max_offset)
    if max_offset == 0:
        result.next_begin_offset = _next_offset_correction(store, offset, 0)
    elif offset < min_offset:
        result.status = GetMessageStatus.OFFSET_TOO_SMALL
        result.next_begin_offset = _next_offset_correction(store, offset, min_offset)
    elif offset == max_offset:
        result.status = GetMessageStatus.OFFSET_OVERFLOW_ONE
        result.next_begin_offset = _next_offset_correction(store, offset, offset)
    elif offset > max_offset:
        result.status = GetMessageStatus.OFFSET_OVERFLOW_BADLY
        result.next_begin_offset = _next_offset_correction(store, offset, max_offset)
    else:
        _read_units(store, queue, offset, max_msg_nums, message_filter, result)
    return result


def _read_units(
    store: MessageStore,
    queue: ConsumeQueueLike,
    offset: int,
    max_msg_nums: int,
    message_filter: MessageFilter | None,
    result: GetMessageResult,
) -> None:
    max_filter_count = max(16000, max_msg_nums * CQ_STORE_UNIT_SIZE) // CQ_STORE_UNIT_SIZE
    # Units are read in chunks of what the pull asked for: most pulls need no more.
    chunk = min(max(max_msg_nums, 32), max_filter_count)
    units = queue.iter_units(offset, chunk)
    if not units:
        result.status = GetMessageStatus.OFFSET_FOUND_NULL
        units_per_file = queue.mapped_file_size // CQ_STORE_UNIT_SIZE
        roll_next_file = offset + units_per_file - offset % units_per_file
        result.next_begin_offset = _next_offset_correction(store, offset, roll_next_file)
        return
    commitlog = store.commitlog
    max_offset_py = commitlog.max_offset()
    memory = _memory_window(store)
    limits = _Limits.of(store, max_msg_nums)
    messages = result.messages
    queue_offsets = result.queue_offsets
    result.status = GetMessageStatus.NO_MATCHED_MESSAGE
    next_phy_file_start = -1
    max_phy_offset_pulling = 0
    total = 0
    scanned = 0
    full = False
    while units and not full:
        for offset_py, size_py, tags_code in units:
            max_phy_offset_pulling = offset_py
            if next_phy_file_start >= 0 and offset_py < next_phy_file_start:
                scanned += 1
                continue
            if total and limits.is_full(
                size_py, total, len(messages), max_offset_py - offset_py > memory
            ):
                full = True
                break
            scanned += 1
            if message_filter is not None and not message_filter.is_matched_by_consume_queue(
                tags_code
            ):
                continue
            record = commitlog.get_message(offset_py, size_py)
            if record is None:
                if total == 0:
                    result.status = GetMessageStatus.MESSAGE_WAS_REMOVING
                next_phy_file_start = commitlog.roll_next_file(offset_py)
                continue
            if message_filter is not None and not message_filter.is_matched_by_commit_log(record):
                record.release()
                continue
            messages.append(record)
            queue_offsets.append(offset + scanned - 1)
            total += size_py
            result.status = GetMessageStatus.FOUND
            next_phy_file_start = -1
        if full or scanned >= max_filter_count:
            break
        units = queue.iter_units(offset + scanned, min(chunk, max_filter_count - scanned))
    result.buffer_total_size = total
    result.next_begin_offset = offset + scanned
    result.suggest_pulling_from_slave = max_offset_py - max_phy_offset_pulling > memory


if TYPE_CHECKING:
    from pyrmq.store.consume_queue import ConsumeQueue as ConsumeQueueLike
