"""MessageStoreConfig: every store key of a broker .properties file, with 4.9's defaults.

Mirrors ``MessageStoreConfig`` (store.md §8.2, owner S). Bound from the broker's file by
``common.config``; derived paths follow ``StorePathConfigHelper``. pyrmq honours the old
``maped*`` size spellings that the tutorial's files use (4.5.2+ Java brokers ignore them
silently, which leaves 1 GiB commitlog segments instead of what the file says).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

CQ_STORE_UNIT_SIZE = 20


class BrokerRole(enum.Enum):
    ASYNC_MASTER = "ASYNC_MASTER"
    SYNC_MASTER = "SYNC_MASTER"
    SLAVE = "SLAVE"


class FlushDiskType(enum.Enum):
    SYNC_FLUSH = "SYNC_FLUSH"
    ASYNC_FLUSH = "ASYNC_FLUSH"


DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"


def _home_store() -> str:
    return str(Path.home() / "store")


@dataclass(slots=True)
class MessageStoreConfig:
    store_path_root_dir: str = field(default_factory=_home_store)
    store_path_commit_log: str = ""
    mapped_file_size_commit_log: int = field(
        default=1024 * 1024 * 1024, metadata={"aliases": ("mapedFileSizeCommitLog",)}
    )
    mapped_file_size_consume_queue: int = field(
        default=300_000 * CQ_STORE_UNIT_SIZE, metadata={"aliases": ("mapedFileSizeConsumeQueue",)}
    )
    # ------------------------------------------------------------------ cleanup
    delete_when: str = "04"
    file_reserved_time: int = 72
    disk_max_used_space_ratio: int = 75
    destroy_maped_file_interval_forcibly: int = 120_000
    redelete_hanged_file_interval: int = 120_000
    clean_resource_interval: int = 10_000
    delete_commit_log_files_interval: int = 100
    delete_consume_queue_files_interval: int = 100
    clean_file_forcibly_enable: bool = True
    #: 4.x reads these two from system properties (fractions); 5.x keys are percents.
    disk_space_warning_level_ratio: int = 90
    disk_space_clean_forcibly_ratio: int = 85
    # ------------------------------------------------------------------ messages
    max_message_size: int = 4 * 1024 * 1024
    check_crc_on_recover: bool = True
    message_delay_level: str = DEFAULT_DELAY_LEVELS
    # ------------------------------------------------------------------ role and flush
    broker_role: BrokerRole = BrokerRole.ASYNC_MASTER
    flush_disk_type: FlushDiskType = FlushDiskType.ASYNC_FLUSH
    flush_interval_commit_log: int = 500
    flush_commit_log_timed: bool = True
    flush_commit_log_least_pages: int = 4
    flush_commit_log_thorough_interval: int = 10_000
    sync_flush_timeout: int = 5000
    slave_timeout: int = 3000
    flush_interval_consume_queue: int = 1000
    flush_consume_queue_least_pages: int = 2
    flush_consume_queue_thorough_interval: int = 60_000
    flush_delay_offset_interval: int = 10_000
    transient_store_pool_enable: bool = False
    transient_store_pool_size: int = 5
    commit_interval_commit_log: int = 200
    commit_commit_log_least_pages: int = 4
    commit_commit_log_thorough_interval: int = 200
    use_reentrant_lock_when_put_message: bool = True
    os_page_cache_busy_time_out_mills: int = 1000
    warm_maped_file_enable: bool = False
    # ------------------------------------------------------------------ index
    message_index_enable: bool = True
    message_index_safe: bool = False
    max_hash_slot_num: int = 5_000_000
    max_index_num: int = 20_000_000
    max_msgs_num_batch: int = 64
    enable_consume_queue_ext: bool = False
    # ------------------------------------------------------------------ reads
    max_transfer_count_on_message_in_memory: int = 32
    max_transfer_bytes_on_message_in_memory: int = 262_144
    max_transfer_count_on_message_in_disk: int = 8
    max_transfer_bytes_on_message_in_disk: int = 65_536
    access_message_in_memory_max_ratio: int = 40
    # ------------------------------------------------------------------ HA
    ha_listen_port: int = 10912
    ha_master_address: str | None = None
    ha_send_heartbeat_interval: int = 5000
    ha_housekeeping_interval: int = 20_000
    ha_transfer_batch_size: int = 32_768
    ha_slave_fallbehind_max: int = 268_435_456
    # ------------------------------------------------------------------ DLedger
    enable_d_leger_commit_log: bool = False
    d_leger_group: str | None = None
    d_leger_peers: str | None = None
    d_leger_self_id: str | None = None
    preferred_leader_id: str | None = None
    enable_batch_push: bool = False
    store_path_d_ledger_commit_log: str | None = None

    #: Keys that stopped being settable in RocketMQ 3.x (paths derive from the root) but still
    #: appear in sample configs, the tutorial's among them.
    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"storePathConsumeQueue", "storePathIndex", "storeCheckpoint", "abortFile"}
    )

    # ------------------------------------------------------------------ derived

    @property
    def root(self) -> Path:
        return Path(self.store_path_root_dir)

    @property
    def commit_log_path(self) -> Path:
        return (
            Path(self.store_path_commit_log)
            if self.store_path_commit_log
            else self.root / "commitlog"
        )

    @property
    def consume_queue_path(self) -> Path:
        return self.root / "consumequeue"

    @property
    def index_path(self) -> Path:
        return self.root / "index"

    @property
    def checkpoint_path(self) -> Path:
        return self.root / "checkpoint"

    @property
    def abort_path(self) -> Path:
        return self.root / "abort"

    @property
    def lock_path(self) -> Path:
        return self.root / "lock"

    @property
    def config_path(self) -> Path:
        return self.root / "config"

    @property
    def consume_queue_file_size(self) -> int:
        """getMappedFileSizeConsumeQueue: rounded up to a whole number of 20-byte units."""
        units = -(-self.mapped_file_size_consume_queue // CQ_STORE_UNIT_SIZE)
        return units * CQ_STORE_UNIT_SIZE

    @property
    def disk_max_used_space_ratio_clamped(self) -> int:
        return max(10, min(95, self.disk_max_used_space_ratio))

    def delay_levels_ms(self) -> list[int]:
        """messageDelayLevel parsed: level i (1-based) is element i-1, in ms."""
        units = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
        return [int(token[:-1]) * units[token[-1]] for token in self.message_delay_level.split()]
