"""SubscriptionGroupManager: 4.9.8 system groups, auto-creation, admin changes, the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.subscription_group import SubscriptionGroupManager, is_sys_consumer_group
from pyrmq.common.clock import FakeClock
from pyrmq.remoting.bodies import DataVersion
from pyrmq.remoting.fastjson import loads
from pyrmq.store.metadata import SubscriptionGroupConfig, SubscriptionGroupFile

START_MS = 1_700_000_000_000

SYSTEM_GROUPS = {
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
}


def _manager(tmp_path: Path, **overrides: Any) -> tuple[SubscriptionGroupManager, FakeClock]:
    clock = FakeClock(START_MS)
    config = BrokerConfig(broker_name="broker-a", broker_i_p1="127.0.0.1", **overrides)
    path = tmp_path / "config" / "subscriptionGroup.json"
    return SubscriptionGroupManager(config, path, clock), clock


def test_system_groups_of_a_49_broker(tmp_path: Path) -> None:
    manager, _ = _manager(tmp_path)
    assert set(manager.subscription_group_table) == SYSTEM_GROUPS
    assert all(
        config == SubscriptionGroupConfig(name)
        for name, config in manager.subscription_group_table.items()
    )
    assert "CID_RMQ_SYS_TRANS" not in manager.subscription_group_table  # 5.x only
    assert manager.data_version == DataVersion(START_MS, 0)


@pytest.mark.parametrize(
    ("auto_create", "group", "created"),
    [
        (True, "GroupA", True),
        (False, "GroupA", False),
        (False, "CID_RMQ_SYS_TRANS", True),  # system consumer groups: always
        (False, "CID_RMQ_SYS_anything", True),
        (True, "CID_RMQ_SYS_TRANS", True),
    ],
)
def test_find_auto_creates(tmp_path: Path, auto_create: bool, group: str, created: bool) -> None:
    manager, clock = _manager(tmp_path, auto_create_subscription_group=auto_create)
    clock.advance(9)

    found = manager.find_subscription_group_config(group)

    if not created:
        assert found is None and not manager.contains(group)
        assert manager.data_version.counter == 0 and not manager.path.exists()
        return
    assert found == SubscriptionGroupConfig(group)
    assert manager.data_version == DataVersion(START_MS + 9, 1)
    assert SubscriptionGroupFile.load(manager.path).subscription_group_table[group] == found
    assert manager.find_subscription_group_config(group) is found  # second lookup: no change
    assert manager.data_version.counter == 1


def test_find_system_group_changes_nothing(tmp_path: Path) -> None:
    manager, _ = _manager(tmp_path)
    assert manager.find_subscription_group_config("TOOLS_CONSUMER") is not None
    assert manager.data_version.counter == 0


def test_is_sys_consumer_group() -> None:
    assert is_sys_consumer_group("CID_RMQ_SYS_TRANS")
    assert not is_sys_consumer_group("CID_ONSAPI_OWNER")


def test_update_disable_delete(tmp_path: Path) -> None:
    manager, clock = _manager(tmp_path)
    config = SubscriptionGroupConfig("G", retry_queue_nums=3, retry_max_times=5)
    clock.advance(1)
    manager.update_subscription_group_config(config)
    assert manager.find_subscription_group_config("G") is config
    assert manager.data_version == DataVersion(START_MS + 1, 1)
    on_disk = SubscriptionGroupFile.load(manager.path).subscription_group_table["G"]
    assert on_disk.retry_queue_nums == 3 and on_disk.retry_max_times == 5

    manager.disable_consume("G")
    assert config.consume_enable is False and manager.data_version.counter == 2
    manager.disable_consume("Missing")
    assert manager.data_version.counter == 2

    assert manager.delete_subscription_group_config("G") is True
    assert not manager.contains("G") and manager.data_version.counter == 3
    assert "G" not in SubscriptionGroupFile.load(manager.path).subscription_group_table
    assert manager.delete_subscription_group_config("G") is False
    assert manager.data_version.counter == 3


def test_persist_then_load_gives_the_same_state(tmp_path: Path) -> None:
    manager, clock = _manager(tmp_path)
    manager.update_subscription_group_config(SubscriptionGroupConfig("G", consume_enable=False))
    manager.find_subscription_group_config("H")
    manager.delete_subscription_group_config("TOOLS_CONSUMER")

    reloaded = SubscriptionGroupManager(manager.broker_config, manager.path, clock)
    reloaded.load()

    # The deleted system group comes back from the constructor, as in Java.
    assert reloaded.subscription_group_table == manager.subscription_group_table | {
        "TOOLS_CONSUMER": SubscriptionGroupConfig("TOOLS_CONSUMER")
    }
    assert reloaded.data_version == manager.data_version


JAVA_FILE = (
    b'{\n\t"dataVersion":{\n\t\t"counter":4,\n\t\t"timestamp":1690000000000\n\t},\n'
    b'\t"subscriptionGroupTable":{\n\t\t"GroupA":{\n\t\t\t"brokerId":0,\n'
    b'\t\t\t"consumeBroadcastEnable":true,\n\t\t\t"consumeEnable":true,\n'
    b'\t\t\t"consumeFromMinEnable":true,\n\t\t\t"groupName":"GroupA",\n'
    b'\t\t\t"notifyConsumerIdsChangedEnable":false,\n\t\t\t"retryMaxTimes":3,\n'
    b'\t\t\t"retryQueueNums":2,\n\t\t\t"whichBrokerWhenConsumeSlowly":1\n\t\t}\n\t}\n}'
)


def test_a_java_file_loads(tmp_path: Path) -> None:
    manager, _ = _manager(tmp_path)
    manager.path.parent.mkdir(parents=True)
    manager.path.write_bytes(JAVA_FILE)
    manager.load()
    assert manager.data_version == DataVersion(1690000000000, 4)
    assert manager.find_subscription_group_config("GroupA") == SubscriptionGroupConfig(
        "GroupA", retry_queue_nums=2, retry_max_times=3, notify_consumer_ids_changed_enable=False
    )
    assert set(manager.subscription_group_table) == SYSTEM_GROUPS | {"GroupA"}


def test_encode_all_is_the_compact_body(tmp_path: Path) -> None:
    manager, _ = _manager(tmp_path)
    body = manager.encode_all()
    assert body.startswith(b'{"dataVersion":{"counter":0,"timestamp":1700000000000},')
    decoded = loads(body)
    assert set(decoded["subscriptionGroupTable"]) == SYSTEM_GROUPS
    assert decoded["subscriptionGroupTable"]["TOOLS_CONSUMER"]["retryMaxTimes"] == 16
