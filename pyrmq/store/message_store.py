"""MessageStore: the store's façade — load, recover, start, put, get, query, shut down.

Mirrors ``DefaultMessageStore`` (store.md §1-§5): the one place that knows the start-up order
(lock -> commitlog -> consume queues -> checkpoint -> index -> recovery -> reput catch-up ->
services -> abort file) and the shutdown order (services -> flush -> checkpoint -> abort file
removed only when dispatch caught up). Puts append synchronously (the event loop is the single
writer, like Java's put lock) and then wait, if asked, for the group commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyrmq.common.clock import Clock, SystemClock
from pyrmq.common.message import (
    PROPERTY_WAIT_STORE_MSG_OK,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    get_transaction_value,
)
from pyrmq.common.service import PeriodicTask
from pyrmq.store import checkpoint as ckpt
from pyrmq.store.cleanup import CleanupService
from pyrmq.store.commitlog import CommitLog, MessageExtBatch, MessageExtBrokerInner, check_message
from pyrmq.store.config import BrokerRole, FlushDiskType, MessageStoreConfig
from pyrmq.store.consume_queue import ConsumeQueue, ConsumeQueueTable
from pyrmq.store.dispatch import ReputMessageService
from pyrmq.store.dispatch_request import DispatchRequest
from pyrmq.store.flush import AsyncFlushService, GroupCommitService
from pyrmq.store.index import IndexFile, IndexService
from pyrmq.store.ports import MessageArrivingListener, MessageFilter, ReplicationGate
from pyrmq.store.reads import get_message
from pyrmq.store.results import (
    AppendMessageResult,
    AppendMessageStatus,
    GetMessageResult,
    PutMessageResult,
    PutMessageStatus,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class QueryMessageResult:
    records: list[memoryview]
    index_last_update_timestamp: int
    index_last_update_phy_offset: int


_APPEND_TO_PUT = {
    AppendMessageStatus.MESSAGE_SIZE_EXCEEDED: PutMessageStatus.MESSAGE_ILLEGAL,
    AppendMessageStatus.PROPERTIES_SIZE_EXCEEDED: PutMessageStatus.PROPERTIES_SIZE_EXCEEDED,
    AppendMessageStatus.UNKNOWN_ERROR: PutMessageStatus.UNKNOWN_ERROR,
}


class MessageStore:
    def __init__(
        self,
        config: MessageStoreConfig,
        clock: Clock | None = None,
        arrival_listener: MessageArrivingListener | None = None,
        commitlog: CommitLog | None = None,
        reput_class: type[ReputMessageService] = ReputMessageService,
    ) -> None:
        """``commitlog``/``reput_class``: another log under the same store (DLedger's, whose
        files it flushes, recovers and cleans itself: ``commitlog.self_managed``)."""
        self.config = config
        self.clock = clock or SystemClock()
        self.arrival_listener = arrival_listener
        self.replication_gate: ReplicationGate | None = None
        #: called after every successful append (the HA master wakes its senders with it)
        self.append_listener: Callable[[], None] | None = None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="store-flush")
        self.commitlog = commitlog if commitlog is not None else CommitLog(config, self.clock)
        self.consume_queues = ConsumeQueueTable(
            config.consume_queue_path, config.consume_queue_file_size
        )
        self.index_service = IndexService(config, self.clock)
        self.lock = ckpt.StoreLock(config.lock_path)
        self.checkpoint: ckpt.StoreCheckpoint | None = None
        self.reput = reput_class(
            self.commitlog, self._dispatchers(), self._is_master, self._notify_arrival
        )
        self.cleanup = CleanupService(self)
        self._flush_commitlog: AsyncFlushService | None = None
        self._group_commit: GroupCommitService | None = None
        self._flush_consume_queue: PeriodicTask | None = None
        self._last_cq_thorough_ms = 0
        self.last_exit_ok = True
        self.shutdown_flag = True
        #: set when a disk check finds the disk over the warning level: puts are refused.
        self.disk_full = False

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Lock the store, map every file, and recover (normal or abnormal by the abort file)."""
        self.config.root.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        self.last_exit_ok = not ckpt.abort_file_exists(self.config.abort_path)
        self.commitlog.load()
        self.consume_queues.load()
        self.checkpoint = ckpt.StoreCheckpoint(self.config.checkpoint_path)
        self.index_service.load(self.last_exit_ok, self.checkpoint.index_msg_timestamp)
        self._recover()
        log.info(
            "store loaded from %s (last exit %s), commitlog [%d, %d)",
            self.config.root,
            "ok" if self.last_exit_ok else "ABNORMAL",
            self.commitlog.min_offset(),
            self.commitlog.max_offset(),
        )

    def _recover(self) -> None:
        max_phy_offset_of_cq = max(self.consume_queues.recover(), 0)
        assert self.checkpoint is not None
        min_timestamp = (
            self.checkpoint.min_timestamp_index
            if self.config.message_index_enable and self.config.message_index_safe
            else self.checkpoint.min_timestamp
        )
        process_offset = self.commitlog.recover(
            self.last_exit_ok, max_phy_offset_of_cq, min_timestamp, self._dispatch
        )
        if not self.commitlog.has_data_files():
            self.consume_queues.destroy_all()
        elif max_phy_offset_of_cq >= process_offset:
            self.consume_queues.truncate_all(process_offset)
        self.commitlog.set_topic_queue_table(self.consume_queues.queue_offset_table())
        self.reput.reput_from_offset = max(
            self._max_physic_offset_of_consume_queues(), max(self.commitlog.min_offset(), 0)
        )

    def _max_physic_offset_of_consume_queues(self) -> int:
        return max((queue.max_physic_offset for queue in self.consume_queues), default=0)

    async def start(self) -> None:
        """Catch dispatch up, start the services, then mark the store as running (abort file)."""
        self.reput.do_reput()
        self.commitlog.set_topic_queue_table(self.consume_queues.queue_offset_table())
        self.shutdown_flag = False
        self._start_flush_services()
        self.reput.start()
        self.cleanup.start()
        ckpt.create_abort_file(self.config.abort_path)

    def _start_flush_services(self) -> None:
        queue = self.commitlog.mapped_file_queue
        if self.commitlog.self_managed:
            pass  # DLedger flushes its own files
        elif self.config.flush_disk_type is FlushDiskType.SYNC_FLUSH:
            self._group_commit = GroupCommitService(
                queue, self.config, self.executor, self._set_physic_timestamp
            )
            self._group_commit.start()
        else:
            self._flush_commitlog = AsyncFlushService(
                queue, self.config, self.executor, self.clock, self._set_physic_timestamp
            )
            self._flush_commitlog.start()
        self._flush_consume_queue = PeriodicTask(
            "flush-consume-queue",
            self._flush_consume_queues_once,
            self.config.flush_interval_consume_queue / 1000,
        )
        self._flush_consume_queue.start()

    async def shutdown(self) -> None:
        """Stop services, flush everything, write the checkpoint; a clean stop removes the
        abort file only if dispatch caught up (otherwise the next start recovers abnormally)."""
        if self.shutdown_flag and self.checkpoint is None:
            return
        self.shutdown_flag = True
        await self.cleanup.stop()
        await self.reput.stop()
        if self._flush_consume_queue is not None:
            await self._flush_consume_queue.stop()
        if self._group_commit is not None:
            await self._group_commit.stop()
        if self._flush_commitlog is not None:
            await self._flush_commitlog.stop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self._final_flush)
        if self.reput.behind() == 0 and not self.disk_full:
            ckpt.delete_abort_file(self.config.abort_path)
        self._close()

    def _final_flush(self) -> None:
        self.commitlog.flush_all()
        self._set_physic_timestamp(self.commitlog.mapped_file_queue.store_timestamp)
        self._flush_consume_queues(0)
        self.index_service.flush()
        assert self.checkpoint is not None
        self.checkpoint.flush()

    def _close(self) -> None:
        self.commitlog.shutdown()
        self.consume_queues.close()
        self.index_service.close()
        if self.checkpoint is not None:
            self.checkpoint.close()
            self.checkpoint = None
        self.lock.release()
        self.executor.shutdown(wait=True)

    # ------------------------------------------------------------------ dispatch

    def _dispatchers(self) -> list[Callable[[DispatchRequest], None]]:
        dispatchers: list[Callable[[DispatchRequest], None]] = [self._build_consume_queue]
        if self.config.message_index_enable:
            dispatchers.append(self._build_index)
        return dispatchers

    def _dispatch(self, req: DispatchRequest) -> None:
        for dispatcher in self.reput.dispatchers:
            dispatcher(req)

    def _build_consume_queue(self, req: DispatchRequest) -> None:
        """CommitLogDispatcherBuildConsumeQueue: prepared and rollback records get no unit."""
        if get_transaction_value(req.sys_flag) in (
            TRANSACTION_PREPARED_TYPE,
            TRANSACTION_ROLLBACK_TYPE,
        ):
            return
        queue = self.consume_queues.find_or_create(req.topic, req.queue_id)
        queue.put_message_position_info(
            req.commit_log_offset, req.msg_size, req.tags_code, req.consume_queue_offset
        )

    def _build_index(self, req: DispatchRequest) -> None:
        for full in self.index_service.build_index(req):
            # A full index file is flushed off the loop; its end time then goes to the checkpoint.
            self.executor.submit(self._flush_full_index_file, full)

    def _flush_full_index_file(self, index_file: IndexFile) -> None:
        end_timestamp = self.index_service.flush_file(index_file)
        if end_timestamp and self.checkpoint is not None:
            self.checkpoint.index_msg_timestamp = end_timestamp

    def _notify_arrival(self, req: DispatchRequest) -> None:
        if self.checkpoint is not None:
            self.checkpoint.logics_msg_timestamp = req.store_timestamp
            if not self._is_master():
                self.checkpoint.physic_msg_timestamp = req.store_timestamp
        if self.arrival_listener is not None and self._is_master():
            self.arrival_listener(
                req.topic,
                req.queue_id,
                req.consume_queue_offset + 1,
                req.tags_code,
                req.store_timestamp,
            )

    def _is_master(self) -> bool:
        return self.config.broker_role is not BrokerRole.SLAVE

    def _set_physic_timestamp(self, store_timestamp: int) -> None:
        if self.checkpoint is not None and store_timestamp:
            self.checkpoint.physic_msg_timestamp = store_timestamp

    # ------------------------------------------------------------------ consume queue flush

    def _flush_consume_queues_once(self) -> asyncio.Future[None]:
        now_ms = self.clock.now_ms()
        least_pages = self.config.flush_consume_queue_least_pages
        if now_ms >= self._last_cq_thorough_ms + self.config.flush_consume_queue_thorough_interval:
            self._last_cq_thorough_ms = now_ms
            least_pages = 0
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, self._flush_consume_queues, least_pages)

    def _flush_consume_queues(self, least_pages: int) -> None:
        # Java captures logicsMsgTimestamp before the flush and writes it after (conservative).
        assert self.checkpoint is not None
        logics_timestamp = self.checkpoint.logics_msg_timestamp
        for queue in list(self.consume_queues):
            queue.flush(least_pages)
        if least_pages == 0:
            self.checkpoint.logics_msg_timestamp = logics_timestamp
            self.checkpoint.flush()

    # ------------------------------------------------------------------ put

    def _refuse_put(self) -> PutMessageStatus | None:
        if self.shutdown_flag:
            return PutMessageStatus.SERVICE_NOT_AVAILABLE
        if self.config.broker_role is BrokerRole.SLAVE:
            return PutMessageStatus.SERVICE_NOT_AVAILABLE
        if self.disk_full:
            return PutMessageStatus.SERVICE_NOT_AVAILABLE
        if not self.commitlog.writable():
            return PutMessageStatus.SERVICE_NOT_AVAILABLE
        return None

    async def put_message(self, msg: MessageExtBrokerInner) -> PutMessageResult:
        refused = self._refuse_put() or check_message(msg)
        if refused is not None:
            return PutMessageResult(refused)
        result = self.commitlog.put_message(msg)
        wait = msg.properties.get(PROPERTY_WAIT_STORE_MSG_OK) != "false"
        return await self._after_append(result, wait)

    async def put_messages(self, batch: MessageExtBatch) -> PutMessageResult:
        refused = self._refuse_put()
        if refused is not None:
            return PutMessageResult(refused)
        result = self.commitlog.put_messages(batch)
        return await self._after_append(result, True)

    async def _after_append(self, result: AppendMessageResult, wait: bool) -> PutMessageResult:
        if result.status is not AppendMessageStatus.PUT_OK:
            return PutMessageResult(
                _APPEND_TO_PUT.get(result.status, PutMessageStatus.UNKNOWN_ERROR), result
            )
        self.reput.wake()
        if self.append_listener is not None:
            self.append_listener()
        status = PutMessageStatus.PUT_OK
        if self._group_commit is not None:
            if wait:
                status = await self._group_commit.wait_flushed(result.next_offset)
            else:
                self._group_commit.wake()
        if self.replication_gate is not None and wait:
            replicated = await self.replication_gate.wait_replicated(result.next_offset)
            if replicated is not PutMessageStatus.PUT_OK:
                status = replicated
        return PutMessageResult(status, result)

    # ------------------------------------------------------------------ reads

    def find_consume_queue(self, topic: str, queue_id: int) -> ConsumeQueue | None:
        return self.consume_queues.get(topic, queue_id)

    def get_message(
        self,
        group: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_msg_nums: int,
        message_filter: MessageFilter | None = None,
    ) -> GetMessageResult | None:
        """Messages of one queue from ``offset`` (None when shut down, as Java returns null)."""
        if self.shutdown_flag:
            return None
        return get_message(self, topic, queue_id, offset, max_msg_nums, message_filter)

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        queue = self.find_consume_queue(topic, queue_id)
        return queue.max_offset_in_queue if queue is not None else 0

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        queue = self.find_consume_queue(topic, queue_id)
        return queue.min_offset_in_queue if queue is not None else -1

    def get_commit_log_offset_in_queue(self, topic: str, queue_id: int, offset: int) -> int:
        queue = self.find_consume_queue(topic, queue_id)
        unit = queue.get_unit(offset) if queue is not None else None
        return unit[0] if unit is not None else 0

    def get_offset_in_queue_by_time(self, topic: str, queue_id: int, timestamp: int) -> int:
        queue = self.find_consume_queue(topic, queue_id)
        if queue is None:
            return 0
        return queue.get_offset_in_queue_by_time(
            timestamp, self.get_store_time, max(self.commitlog.min_offset(), 0)
        )

    def get_store_time(self, phy_offset: int, size: int) -> int:
        """storeTimestamp of the record at ``phy_offset`` (-1 if it is gone)."""
        return self.commitlog.pickup_store_timestamp(phy_offset, size)

    def get_message_store_timestamp(self, topic: str, queue_id: int, offset: int) -> int:
        queue = self.find_consume_queue(topic, queue_id)
        unit = queue.get_unit(offset) if queue is not None else None
        return self.get_store_time(unit[0], unit[1]) if unit is not None else -1

    def get_earliest_message_time(self, topic: str, queue_id: int) -> int:
        queue = self.find_consume_queue(topic, queue_id)
        if queue is None:
            return -1
        return self.get_message_store_timestamp(topic, queue_id, queue.min_offset_in_queue)

    def look_message_by_offset(self, phy_offset: int, size: int | None = None) -> memoryview | None:
        """The raw record at ``phy_offset`` (VIEW_MESSAGE_BY_ID); the size is read if not given."""
        if size is None:
            head = self.commitlog.get_message(phy_offset, 4)
            if head is None or len(head) < 4:
                return None
            size = int.from_bytes(head, "big")
            head.release()
        return self.commitlog.get_message(phy_offset, size)

    def query_message(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> list[memoryview]:
        """Records indexed under ``topic#key`` stored in [begin, end] (hash collisions included:
        the client checks the key, as with Java)."""
        return self.query_message_result(topic, key, max_num, begin, end).records

    def query_message_result(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> QueryMessageResult:
        """QUERY_MESSAGE: the records plus the index's last update (for the response header)."""
        found = self.index_service.query_offset(topic, key, max_num, begin, end)
        records = []
        for phy_offset in sorted(found.phy_offsets):
            record = self.look_message_by_offset(phy_offset)
            if record is not None:
                records.append(record)
        return QueryMessageResult(
            records, found.index_last_update_timestamp, found.index_last_update_phyoffset
        )

    def dispatch_behind_bytes(self) -> int:
        return self.reput.behind()
