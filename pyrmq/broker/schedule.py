"""ScheduleMessageService: delivers delayed messages from SCHEDULE_TOPIC_XXXX when they are due.

Mirrors 4.9.8 ``store.schedule.ScheduleMessageService`` in its default synchronous-delivery mode
(protocol.md §6.7, store.md §5.5, §5.7). The commitlog has already parked a message with
``DELAY`` = level in ``SCHEDULE_TOPIC_XXXX`` queue level−1, its consume-queue tagsCode holding
the deliver time. Per level, one task walks that queue from the level's offset: every 100 ms
(``DELAY_FOR_A_WHILE``) it re-puts each due message into REAL_TOPIC/REAL_QID, advancing the
offset only after PUT_OK (a failed put is retried 100 ms later; an unexpected error pauses the
level for 10 s). Offsets (``delayOffset.json``) are persisted every ``flushDelayOffsetInterval``
and at stop, so a restart resumes there: at most what was delivered after the last persist is
delivered again (at-least-once). Only a master delivers.

Facts kept from Java: the deliver time is capped at now + the level's delay (a clock set back
does not hold messages for ever); the stored properties string is the parked record's, i.e. it
still holds ``DELAY`` (Java computes the string before clearing DELAY and setting WAIT=false in
the map, so consumers see DELAY, REAL_TOPIC and REAL_QID); body, flag, sysFlag, born data, store
host, UNIQ_KEY and reconsume times are kept; a message whose real topic is the transaction half
topic is dropped. Unlike Java, a parked record without a usable REAL_TOPIC/REAL_QID is skipped
with a log line instead of stalling its level for ever.

``look_message`` (a commitlog record by offset, decoded) is shared with the send-back processor.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from pyrmq.broker.topic_config import RMQ_SYS_TRANS_HALF_TOPIC
from pyrmq.common.clock import Clock
from pyrmq.common.message import (
    PROPERTY_DELAY_TIME_LEVEL,
    PROPERTY_REAL_QUEUE_ID,
    PROPERTY_REAL_TOPIC,
    PROPERTY_WAIT_STORE_MSG_OK,
    MessageExt,
    properties_to_string,
)
from pyrmq.common.message_codec import decode_stored_message
from pyrmq.common.service import PeriodicTask, TaskGroup
from pyrmq.store.commitlog import SCHEDULE_TOPIC, MessageExtBrokerInner
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.consume_queue import BLANK_UNIT_SIZE, ConsumeQueue
from pyrmq.store.message_store import MessageStore
from pyrmq.store.metadata import DelayOffsetFile

__all__ = [
    "DELAY_FOR_A_PERIOD_MS",
    "DELAY_FOR_A_WHILE_MS",
    "FIRST_DELAY_MS",
    "ScheduleMessageService",
    "look_message",
    "message_timeup",
]

log = logging.getLogger(__name__)

#: Java FIRST_DELAY_TIME: each level's first scan comes this long after start.
FIRST_DELAY_MS: Final = 1000
#: Java DELAY_FOR_A_WHILE: the pace of a level's scan, and the retry of a failed put.
DELAY_FOR_A_WHILE_MS: Final = 100
#: Java DELAY_FOR_A_PERIOD: the pause of a level after an unexpected error.
DELAY_FOR_A_PERIOD_MS: Final = 10_000
#: Units delivered before yielding to the event loop (a put with WAIT=false never suspends).
_YIELD_EVERY: Final = 32
_JAVA_INT: Final = re.compile(r"[+-]?[0-9]+")


def _parse_int(text: str | None) -> int | None:
    """``Integer.parseInt``, None where Java throws."""
    if text is None or not _JAVA_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**31) <= value < 2**31 else None


def look_message(
    store: MessageStore, phy_offset: int, size: int | None = None
) -> MessageExt | None:
    """The record at commitlog ``phy_offset`` decoded (``lookMessageByOffset``), None if it is
    gone or is not a message (body as stored: not inflated; msg_id = the offset msgId)."""
    if phy_offset < 0:
        return None
    view = store.look_message_by_offset(phy_offset, size)
    if view is None:
        return None
    try:
        with view:
            msg, _ = decode_stored_message(view)
    except ValueError:  # MessageDecodeError: Java's decode returns null
        return None
    return msg


def message_timeup(msg: MessageExt) -> MessageExtBrokerInner | None:
    """The message to put into its real topic/queue (Java ``messageTimeup``); None when the
    parked record has no usable REAL_TOPIC/REAL_QID."""
    real_topic = msg.properties.get(PROPERTY_REAL_TOPIC)
    real_queue_id = _parse_int(msg.properties.get(PROPERTY_REAL_QUEUE_ID))
    if not real_topic or real_queue_id is None:
        return None
    properties = dict(msg.properties)
    stored = properties_to_string(properties)  # taken before the two changes below, as Java
    properties[PROPERTY_WAIT_STORE_MSG_OK] = "false"
    properties.pop(PROPERTY_DELAY_TIME_LEVEL, None)
    return MessageExtBrokerInner(
        topic=real_topic,
        queue_id=real_queue_id,
        body=msg.body,
        flag=msg.flag,
        properties=properties,
        properties_string=stored,
        sys_flag=msg.sys_flag,
        born_timestamp=msg.born_timestamp,
        born_host=msg.born_host,
        store_host=msg.store_host,
        reconsume_times=msg.reconsume_times,
    )


class ScheduleMessageService:
    """Per-level delivery of due delayed messages; ``offset_table``: level → next CQ offset."""

    def __init__(
        self,
        store: MessageStore,
        store_config: MessageStoreConfig,
        delay_offset_path: Path,
        clock: Clock,
        is_master: Callable[[], bool],
        *,
        first_delay_ms: int = FIRST_DELAY_MS,
    ) -> None:
        self._store = store
        self._config = store_config
        self._path = delay_offset_path
        self._clock = clock
        self._is_master = is_master
        self._first_delay_s = first_delay_ms / 1000
        #: level (1-based) → delay in ms (``delayLevelTable``).
        self.delay_level_table: dict[int, int] = {}
        #: level → next offset to scan in SCHEDULE_TOPIC_XXXX queue level−1 (``offsetTable``).
        self.offset_table: dict[int, int] = {}
        self._tasks: TaskGroup | None = None
        self._persist_task: PeriodicTask | None = None

    @property
    def started(self) -> bool:
        return self._tasks is not None

    @property
    def max_delay_level(self) -> int:
        return len(self.delay_level_table)

    # ------------------------------------------------------------------ offsets

    def load(self) -> None:
        """delayOffset.json into the table (merged, as Java's putAll), the levels from
        ``messageDelayLevel``, then offsets clamped to their queues (``correctDelayOffset``).
        Calling it again re-reads the file (what a slave does after copying it)."""
        self.offset_table.update(DelayOffsetFile.load(self._path).offset_table)
        self._parse_delay_levels()
        self._correct_delay_offsets()

    def _parse_delay_levels(self) -> None:
        levels = self._config.delay_levels_ms()
        self.delay_level_table = {level: ms for level, ms in enumerate(levels, start=1)}

    def _correct_delay_offsets(self) -> None:
        for level in self.delay_level_table:
            queue = self._store.find_consume_queue(SCHEDULE_TOPIC, level - 1)
            if queue is not None and level in self.offset_table:
                self._clamp_offset(level, queue)

    def _clamp_offset(self, level: int, queue: ConsumeQueue) -> int:
        """The level's offset, moved into [min, max] of its queue (logged when it had to be)."""
        offset = self.offset_table.get(level, 0)
        low, high = queue.min_offset_in_queue, queue.max_offset_in_queue
        corrected = min(max(offset, low), high)
        if corrected != offset:
            log.error(
                "schedule CQ offset invalid: level %d offset %d, queue [%d, %d), corrected to %d",
                level, offset, low, high, corrected,
            )  # fmt: skip
            self.offset_table[level] = corrected
        return corrected

    def encode_offsets(self) -> bytes:
        """The GET_ALL_DELAY_OFFSET body: compact legacy JSON (``encode()`` = ``encode(false)``)."""
        return DelayOffsetFile(dict(self.offset_table)).encode(pretty=False)

    def persist(self) -> None:
        """Write delayOffset.json (crash-safe, keeps ``.bak``); blocks briefly."""
        DelayOffsetFile(dict(self.offset_table)).persist(self._path)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """One delivery task per level and the periodic persist; a no-op when running."""
        if self._tasks is not None:
            return
        if not self.delay_level_table:
            self._parse_delay_levels()
        self._tasks = TaskGroup("schedule-message")
        for level in self.delay_level_table:
            self._tasks.spawn(self._run_level(level), f"schedule-level-{level}")
        interval_s = self._config.flush_delay_offset_interval / 1000
        self._persist_task = PeriodicTask(
            "persist-delay-offset", self.persist, interval_s, interval_s
        )
        self._persist_task.start()

    async def stop(self) -> None:
        """Cancel the level tasks and persist the offsets; a no-op unless running."""
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        await tasks.close()
        if self._persist_task is not None:
            await self._persist_task.stop()
            self._persist_task = None
        self.persist()

    # ------------------------------------------------------------------ delivery

    async def _run_level(self, level: int) -> None:
        await asyncio.sleep(self._first_delay_s)
        while True:
            pause_ms = await self._tick(level)
            await asyncio.sleep(pause_ms / 1000)

    async def _tick(self, level: int) -> int:
        """One scan of a level; the pause in ms before the next."""
        if not self._is_master():
            return DELAY_FOR_A_WHILE_MS
        try:
            await self.deliver_due(level)
        except Exception:
            log.exception("schedule level %d: delivery failed", level)
            return DELAY_FOR_A_PERIOD_MS
        return DELAY_FOR_A_WHILE_MS

    async def deliver_due(self, level: int) -> int:
        """Deliver the level's due messages in queue order, stopping at the first one not yet
        due or whose put failed; the number of units passed (delivered or skipped)."""
        queue = self._store.find_consume_queue(SCHEDULE_TOPIC, level - 1)
        if queue is None:
            return 0
        offset = self._clamp_offset(level, queue)
        passed = 0
        while (unit := queue.get_unit(offset)) is not None:
            phy_offset, size, deliver_ms = unit
            if not self._is_due(level, deliver_ms):
                break
            if not await self._deliver_unit(level, phy_offset, size):
                break
            offset += 1
            self.offset_table[level] = offset
            passed += 1
            if passed % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return passed

    def _is_due(self, level: int, deliver_ms: int) -> bool:
        """``correctDeliverTimestamp``: a deliver time beyond now + delay counts as now."""
        now = self._clock.now_ms()
        if deliver_ms > now + self.delay_level_table.get(level, 0):
            deliver_ms = now
        return deliver_ms <= now

    async def _deliver_unit(self, level: int, phy_offset: int, size: int) -> bool:
        """Re-put one parked message; False (retry later) only when the put failed."""
        if size <= 0 or size == BLANK_UNIT_SIZE:
            return True  # a blank pre-fill unit
        msg = look_message(self._store, phy_offset, size)
        if msg is None:
            log.warning("schedule level %d: no message at commitlog offset %d", level, phy_offset)
            return True
        inner = message_timeup(msg)
        if inner is None or inner.topic == RMQ_SYS_TRANS_HALF_TOPIC:
            log.error("[BUG] schedule level %d: discarding %s (its real topic)", level, msg.msg_id)
            return True
        result = await self._store.put_message(inner)
        if not result.ok:
            log.warning(
                "schedule level %d: put of %s to %s failed: %s; retrying",
                level, msg.msg_id, inner.topic, result.status.name,
            )  # fmt: skip
        return result.ok
