"""Disk reclaim: when commitlog segments are deleted, and what follows for CQ and index.

Mirrors ``DefaultMessageStore.CleanCommitLogService`` / ``CleanConsumeQueueService`` and the
disk checks (store.md §5.6). The decision is a pure function of the time, the disk usage and
the configuration (``cleanup_decision``); the service runs it every ``cleanResourceInterval``:
delete expired segments oldest first (never the current one, no holes, at most 10 a pass),
then consume-queue files and index files that only point below the new minimum offset. Above
the warning level the store refuses puts until usage drops; reads go on.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pyrmq.common.service import PeriodicTask
from pyrmq.store.config import MessageStoreConfig

if TYPE_CHECKING:
    from pyrmq.store.message_store import MessageStore

log = logging.getLogger(__name__)

#: DefaultMessageStore schedules the first cleanup a minute after start.
CLEAN_INITIAL_DELAY_S = 60.0
DELETE_FILES_BATCH_MAX = 10


def disk_usage_ratio(path: Path) -> float:
    """UtilAll.getDiskPartitionSpaceUsedPercent: used / total of the partition, 0..1."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return (usage.total - usage.free) / usage.total if usage.total else 0.0


@dataclass(frozen=True, slots=True)
class CleanupDecision:
    delete: bool
    clean_immediately: bool
    disk_full: bool
    reason: str


def is_time_to_delete(delete_when: str, hour: int) -> bool:
    """``deleteWhen``: hours of the day, ``;``-separated (``04`` = 04:00-04:59 local)."""
    hours = {int(part) for part in delete_when.split(";") if part.strip().isdigit()}
    return hour in hours


def cleanup_decision(
    config: MessageStoreConfig, hour: int, used_ratio: float, manual: bool = False
) -> CleanupDecision:
    """Whether to delete commitlog segments now, and whether regardless of their age."""
    used_percent = used_ratio * 100
    disk_full = used_percent > config.disk_space_warning_level_ratio
    forcibly = used_percent > config.disk_space_clean_forcibly_ratio
    space = used_percent > config.disk_max_used_space_ratio_clamped
    time_up = is_time_to_delete(config.delete_when, hour)
    reasons = [
        name
        for name, on in (("time", time_up), ("space", space or forcibly), ("manual", manual))
        if on
    ]
    return CleanupDecision(
        delete=bool(reasons),
        clean_immediately=(forcibly or disk_full) and config.clean_file_forcibly_enable,
        disk_full=disk_full,
        reason=",".join(reasons),
    )


class CleanupService:
    def __init__(
        self,
        store: MessageStore,
        disk_usage: Callable[[Path], float] = disk_usage_ratio,
        local_hour: Callable[[], int] = lambda: datetime.now().hour,
    ) -> None:
        self.store = store
        self.disk_usage = disk_usage
        self.local_hour = local_hour
        self.manual_deletes_left = 0
        self._last_min_offset = 0
        self._last_hanged_check = time.monotonic()
        interval_s = store.config.clean_resource_interval / 1000
        self._task = PeriodicTask("store-cleanup", self.run_once, interval_s, CLEAN_INITIAL_DELAY_S)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    def execute_delete_files_manually(self) -> None:
        """The admin command: the next 20 passes delete expired files whatever the hour."""
        self.manual_deletes_left = 20

    def run_once(self) -> int:
        """One pass: commitlog segments, then CQ and index files; the segments deleted."""
        deleted = self.clean_commit_log()
        self.clean_consume_queues()
        self._redelete_hanged()
        return deleted

    def clean_commit_log(self) -> int:
        store = self.store
        config = store.config
        decision = cleanup_decision(
            config,
            self.local_hour(),
            self.disk_usage(config.commit_log_path),
            manual=self.manual_deletes_left > 0,
        )
        if decision.disk_full != store.disk_full:
            log.warning(
                "disk %s: puts %s",
                "full" if decision.disk_full else "ok again",
                "refused" if decision.disk_full else "accepted",
            )
            store.disk_full = decision.disk_full
        if not decision.delete:
            return 0
        self.manual_deletes_left = max(0, self.manual_deletes_left - 1)
        if store.commitlog.self_managed:
            return 0  # DLedger's files: its own retention, not built (docs/deployments-dledger.md)
        deleted = store.commitlog.mapped_file_queue.delete_expired_by_time(
            config.file_reserved_time * 3_600_000,
            # File ages compare with file mtimes, which the OS stamps in wall-clock time.
            time.time_ns() // 1_000_000,
            decision.clean_immediately,
            DELETE_FILES_BATCH_MAX,
        )
        if deleted:
            log.info("deleted %d commitlog segments (%s)", deleted, decision.reason)
        return deleted

    def clean_consume_queues(self) -> None:
        min_offset = self.store.commitlog.min_offset()
        if min_offset <= self._last_min_offset:
            return
        self._last_min_offset = min_offset
        for queue in list(self.store.consume_queues):
            queue.delete_expired_file(min_offset)
            queue.correct_min_offset(min_offset)
        self.store.index_service.delete_expired_file(min_offset)

    def _redelete_hanged(self) -> None:
        interval_s = self.store.config.redelete_hanged_file_interval / 1000
        if time.monotonic() - self._last_hanged_check < interval_s:
            return
        self._last_hanged_check = time.monotonic()
        self.store.commitlog.mapped_file_queue.retry_hanged()
