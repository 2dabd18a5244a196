"""MessageStoreConfig from broker .properties lines: both size spellings, ignored keys, enums."""

from __future__ import annotations

import pytest

from pyrmq.common.config import ConfigError, check_entries, from_properties_text, parse_properties
from pyrmq.store.config import BrokerRole, FlushDiskType, MessageStoreConfig


@pytest.mark.parametrize(
    ("line", "attr", "value"),
    [
        ("mapedFileSizeCommitLog=1048576", "mapped_file_size_commit_log", 1_048_576),
        ("mappedFileSizeCommitLog=2097152", "mapped_file_size_commit_log", 2_097_152),
        ("mapedFileSizeConsumeQueue=50000000", "mapped_file_size_consume_queue", 50_000_000),
        ("mappedFileSizeConsumeQueue = 6000000", "mapped_file_size_consume_queue", 6_000_000),
        ("brokerRole=SYNC_MASTER", "broker_role", BrokerRole.SYNC_MASTER),
        ("flushDiskType=SYNC_FLUSH", "flush_disk_type", FlushDiskType.SYNC_FLUSH),
        ("dLegerPeers=n0-127.0.0.1:40911", "d_leger_peers", "n0-127.0.0.1:40911"),
        ("enableDLegerCommitLog=true", "enable_d_leger_commit_log", True),
        (
            "destroyMapedFileIntervalForcibly=120000",
            "destroy_maped_file_interval_forcibly",
            120_000,
        ),
    ],
)
def test_store_keys_bind(line: str, attr: str, value: object) -> None:
    config, warnings = from_properties_text(MessageStoreConfig, line + "\n")
    assert getattr(config, attr) == value
    assert warnings == []


def test_defaults_are_rocketmq_49s() -> None:
    config = MessageStoreConfig()
    assert config.mapped_file_size_commit_log == 1024**3
    assert config.consume_queue_file_size == 300_000 * 20
    assert (config.flush_interval_commit_log, config.sync_flush_timeout) == (500, 5000)
    assert config.delay_levels_ms()[:4] == [1000, 5000, 10_000, 30_000]
    assert len(config.delay_levels_ms()) == 18


def test_consume_queue_size_rounds_up_to_whole_units() -> None:
    assert (
        MessageStoreConfig(mapped_file_size_consume_queue=50_000_001).consume_queue_file_size
        == 50_000_020
    )


def test_keys_java_ignores_are_accepted_silently() -> None:
    text = "storePathConsumeQueue=/x\nstorePathIndex=/y\nstoreCheckpoint=/z\nabortFile=/w\n"
    assert check_entries(parse_properties(text), MessageStoreConfig) == []


def test_bad_role_names_file_line_and_key() -> None:
    with pytest.raises(ConfigError, match=r"broker\.conf:2.*brokerRole.*SLAV"):
        from_properties_text(MessageStoreConfig, "# x\nbrokerRole=SLAV\n", source="broker.conf")
