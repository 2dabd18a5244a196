"""RouteInfoManager: the NameServer tables, checked against RocketMQ 4.9.8's RouteInfoManager.

Sans-IO: time is the ``now_ms`` argument and a broker connection is any object used as a token
(compared by identity, like Java's ``Channel ==``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from pyrmq.common.constants import (
    MASTER_ID,
    PERM_INHERIT,
    PERM_READ,
    PERM_WRITE,
    TOPIC_SYS_FLAG_UNIT,
    TOPIC_SYS_FLAG_UNIT_SUB,
)
from pyrmq.namesrv.route_info import (
    BROKER_CHANNEL_EXPIRED_TIME_MS,
    BrokerLiveInfo,
    RegisterBrokerResult,
    RouteInfoManager,
)
from pyrmq.remoting.bodies import (
    BrokerData,
    DataVersion,
    QueueData,
    TopicConfig,
    TopicConfigSerializeWrapper,
)

T0 = 1_700_000_000_000
CLUSTER = "DefaultCluster"
V1 = DataVersion(T0, 1)
V2 = DataVersion(T0 + 5, 2)

A_MASTER = "10.0.0.1:10911"
A_SLAVE = "10.0.0.2:10911"
A_SLAVE2 = "10.0.0.3:10911"
B_MASTER = "10.0.1.1:10911"
C_MASTER = "10.0.2.1:10911"


def ha_of(addr: str) -> str:
    host, port = addr.rsplit(":", 1)
    return f"{host}:{int(port) + 1}"


class Channel:
    """An opaque connection token; equal to every other Channel, so only identity can tell."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Channel)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"Channel({self.name!r})"


def tc(name: str, read: int = 8, write: int = 8, perm: int = 6, sys_flag: int = 0) -> TopicConfig:
    return TopicConfig(
        topic_name=name,
        read_queue_nums=read,
        write_queue_nums=write,
        perm=perm,
        topic_sys_flag=sys_flag,
    )


def wrapper(
    topics: Iterable[TopicConfig | str] = (), version: DataVersion = V1
) -> TopicConfigSerializeWrapper:
    configs = [t if isinstance(t, TopicConfig) else tc(t) for t in topics]
    return TopicConfigSerializeWrapper(
        topic_config_table={c.topic_name: c for c in configs}, data_version=version
    )


@dataclass
class Net:
    """A RouteInfoManager plus one channel per broker address (as a real connection would be)."""

    rim: RouteInfoManager = field(default_factory=RouteInfoManager)
    channels: dict[str, Channel] = field(default_factory=dict)

    def channel(self, addr: str) -> Channel:
        return self.channels.setdefault(addr, Channel(addr))

    def register(
        self,
        addr: str,
        name: str = "broker-a",
        broker_id: int = MASTER_ID,
        topics: Iterable[TopicConfig | str] = (),
        version: DataVersion = V1,
        cluster: str = CLUSTER,
        filters: list[str] | None = None,
        now: int = T0,
        ha: str | None = None,
    ) -> RegisterBrokerResult:
        return self.rim.register_broker(
            cluster,
            addr,
            name,
            broker_id,
            ha if ha is not None else ha_of(addr),
            wrapper(topics, version),
            filters,
            self.channel(addr),
            now,
        )


@pytest.fixture
def net() -> Net:
    return Net()


def queue_brokers(rim: RouteInfoManager, topic: str) -> set[str]:
    return set(rim.topic_queue_table.get(topic, {}))


# ============================================================ register


def test_register_master_fills_every_table(net: Net) -> None:
    result = net.register(
        A_MASTER, topics=[tc("TopicA", read=4, write=2, perm=7, sys_flag=TOPIC_SYS_FLAG_UNIT)]
    )

    assert result == RegisterBrokerResult(ha_server_addr=None, master_addr=None)
    rim = net.rim
    assert rim.cluster_addr_table == {CLUSTER: {"broker-a"}}
    assert rim.broker_addr_table == {"broker-a": BrokerData(CLUSTER, "broker-a", {0: A_MASTER})}
    assert rim.topic_queue_table == {
        "TopicA": {"broker-a": QueueData("broker-a", 4, 2, 7, TOPIC_SYS_FLAG_UNIT)}
    }
    live = rim.broker_live_table[A_MASTER]
    assert live == BrokerLiveInfo(T0, V1, net.channel(A_MASTER), ha_of(A_MASTER))
    assert live.channel is net.channel(A_MASTER)
    assert rim.filter_server_table == {}
    assert rim.query_broker_topic_config(A_MASTER) == V1
    assert rim.query_broker_topic_config(A_SLAVE) is None


def test_register_slaves_add_ids_but_never_queue_data(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.register(A_SLAVE, broker_id=1, topics=["TopicA", "SlaveOnly"], version=V2)
    net.register(A_SLAVE2, broker_id=2, topics=["SlaveOnly2"], version=V2)

    rim = net.rim
    assert rim.broker_addr_table["broker-a"].broker_addrs == {
        0: A_MASTER,
        1: A_SLAVE,
        2: A_SLAVE2,
    }
    assert rim.cluster_addr_table == {CLUSTER: {"broker-a"}}
    assert set(rim.topic_queue_table) == {"TopicA"}
    assert set(rim.broker_live_table) == {A_MASTER, A_SLAVE, A_SLAVE2}
    # The slave's own DataVersion is remembered for its address.
    assert rim.query_broker_topic_config(A_SLAVE) == V2


def test_slave_alone_gives_no_routes(net: Net) -> None:
    net.register(A_SLAVE, broker_id=1, topics=["TopicA"])

    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {1: A_SLAVE}
    assert net.rim.topic_queue_table == {}
    assert net.rim.pickup_topic_route_data("TopicA") is None


def test_register_second_broker_name_in_same_and_other_cluster(net: Net) -> None:
    net.register(A_MASTER, topics=["Shared", "OnlyA"])
    net.register(B_MASTER, name="broker-b", topics=["Shared", "OnlyB"])
    net.register(C_MASTER, name="broker-c", cluster="OtherCluster", topics=["Shared"])

    rim = net.rim
    assert rim.cluster_addr_table == {
        CLUSTER: {"broker-a", "broker-b"},
        "OtherCluster": {"broker-c"},
    }
    assert set(rim.broker_addr_table) == {"broker-a", "broker-b", "broker-c"}
    assert rim.broker_addr_table["broker-c"].cluster == "OtherCluster"
    assert queue_brokers(rim, "Shared") == {"broker-a", "broker-b", "broker-c"}
    assert queue_brokers(rim, "OnlyA") == {"broker-a"}
    assert queue_brokers(rim, "OnlyB") == {"broker-b"}


def test_reregistration_refreshes_liveness_and_channel(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    new_channel = Channel("reconnected")
    net.rim.register_broker(
        CLUSTER, A_MASTER, "broker-a", 0, "ha:1", wrapper(["TopicA"]), None, new_channel, T0 + 30
    )

    live = net.rim.broker_live_table[A_MASTER]
    assert live.last_update_timestamp == T0 + 30
    assert live.channel is new_channel
    assert live.ha_server_addr == "ha:1"
    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {0: A_MASTER}


@pytest.mark.parametrize(
    ("second_version", "expect_new_topic", "expect_perm"),
    [
        pytest.param(V1, False, 6, id="same-version-ignored"),
        pytest.param(DataVersion(T0, 1, state_version=9), False, 6, id="stateVersion-not-compared"),
        pytest.param(DataVersion(T0, 2), True, 2, id="counter-changed"),
        pytest.param(DataVersion(T0 + 1, 1), True, 2, id="timestamp-changed"),
        pytest.param(V2, True, 2, id="both-changed"),
    ],
)
def test_queue_data_updated_only_when_data_version_changes(
    net: Net, second_version: DataVersion, expect_new_topic: bool, expect_perm: int
) -> None:
    net.register(A_MASTER, topics=[tc("TopicA", perm=6)], version=V1)
    net.register(
        A_MASTER,
        topics=[tc("TopicA", perm=2), tc("TopicB")],
        version=second_version,
        now=T0 + 30_000,
    )

    rim = net.rim
    assert ("TopicB" in rim.topic_queue_table) is expect_new_topic
    assert rim.topic_queue_table["TopicA"]["broker-a"].perm == expect_perm
    # Liveness is refreshed either way, with the version just sent.
    assert rim.broker_live_table[A_MASTER].last_update_timestamp == T0 + 30_000
    assert rim.query_broker_topic_config(A_MASTER) == second_version


def test_topics_missing_from_a_newer_body_are_kept(net: Net) -> None:
    """4.9.8 only creates/replaces QueueData; it never deletes topics on registration."""
    net.register(A_MASTER, topics=["TopicA", "TopicB"], version=V1)
    net.register(A_MASTER, topics=["TopicA"], version=V2)

    assert set(net.rim.topic_queue_table) == {"TopicA", "TopicB"}


def test_new_master_address_for_known_name_counts_as_first_registration(net: Net) -> None:
    """A master id filled for the first time loads topics even with an old DataVersion."""
    net.register(A_SLAVE, broker_id=1, topics=["TopicA"], version=V1)
    assert net.rim.topic_queue_table == {}

    # Same address, same DataVersion it sent as a slave: role switch slave -> master.
    net.register(A_SLAVE, broker_id=0, topics=["TopicA"], version=V1)

    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {0: A_SLAVE}
    assert queue_brokers(net.rim, "TopicA") == {"broker-a"}


def test_role_switch_removes_old_id_of_same_address(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.register(A_SLAVE, broker_id=1)
    net.register(A_SLAVE2, broker_id=2)
    net.rim.unregister_broker(CLUSTER, A_MASTER, "broker-a", 0)

    net.register(A_SLAVE, broker_id=0, topics=["TopicA"], version=V2)

    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {0: A_SLAVE, 2: A_SLAVE2}
    # Old master comes back as a slave: its address now holds only id 1.
    net.register(A_MASTER, broker_id=1)
    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {
        0: A_SLAVE,
        1: A_MASTER,
        2: A_SLAVE2,
    }


def test_new_master_replaces_old_master_address_at_id_0(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"], version=V1)
    net.register(A_SLAVE, broker_id=1, version=V1)

    net.register(A_SLAVE, broker_id=0, topics=["TopicA", "TopicB"], version=V1)

    rim = net.rim
    assert rim.broker_addr_table["broker-a"].broker_addrs == {0: A_SLAVE}
    # Not a first registration (id 0 was held) and A_SLAVE's stored version is unchanged.
    assert set(rim.topic_queue_table) == {"TopicA"}
    # Java leaves the replaced master's live entry until it expires or its channel closes.
    assert A_MASTER in rim.broker_live_table


def test_same_address_same_id_is_not_a_role_switch(net: Net) -> None:
    net.register(A_SLAVE, broker_id=1)
    net.register(A_SLAVE, broker_id=1, now=T0 + 1)

    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {1: A_SLAVE}


@pytest.mark.parametrize(
    ("master_state", "expected"),
    [
        pytest.param(
            "live",
            RegisterBrokerResult(ha_server_addr=ha_of(A_MASTER), master_addr=A_MASTER),
            id="master-live",
        ),
        pytest.param("absent", RegisterBrokerResult(), id="no-master"),
        pytest.param("not-live", RegisterBrokerResult(), id="master-known-not-live"),
    ],
)
def test_slave_register_result(net: Net, master_state: str, expected: RegisterBrokerResult) -> None:
    if master_state != "absent":
        net.register(A_MASTER, topics=["TopicA"])
    if master_state == "not-live":
        del net.rim.broker_live_table[A_MASTER]

    assert net.register(A_SLAVE, broker_id=1) == expected


def test_slave_result_carries_master_ha_address_not_its_own(net: Net) -> None:
    net.register(A_MASTER, ha="10.0.0.1:20000")

    result = net.register(A_SLAVE, broker_id=2, ha="10.0.0.2:30000")

    assert result == RegisterBrokerResult(ha_server_addr="10.0.0.1:20000", master_addr=A_MASTER)


def test_master_register_result_is_empty_even_with_slaves(net: Net) -> None:
    net.register(A_SLAVE, broker_id=1)
    assert net.register(A_MASTER) == RegisterBrokerResult()


def test_update_broker_info_update_timestamp(net: Net) -> None:
    net.register(A_MASTER)
    net.rim.update_broker_info_update_timestamp(A_MASTER, T0 + 99)
    net.rim.update_broker_info_update_timestamp("unknown:1", T0 + 99)

    assert net.rim.broker_live_table[A_MASTER].last_update_timestamp == T0 + 99
    assert "unknown:1" not in net.rim.broker_live_table


@pytest.mark.parametrize(
    ("stored", "sent", "changed"),
    [
        (None, V1, True),
        (V1, V1, False),
        (V1, DataVersion(T0, 1, state_version=3), False),
        (V1, DataVersion(T0, 2), True),
        (V1, DataVersion(T0 + 1, 1), True),
    ],
)
def test_is_broker_topic_config_changed(
    net: Net, stored: DataVersion | None, sent: DataVersion, changed: bool
) -> None:
    if stored is not None:
        net.register(A_MASTER, version=stored)
    assert net.rim.is_broker_topic_config_changed(A_MASTER, sent) is changed


# ============================================================ filter servers


def test_filter_server_table_follows_registrations(net: Net) -> None:
    rim = net.rim
    net.register(A_MASTER, topics=["TopicA"], filters=["fs:1", "fs:2"])
    assert rim.filter_server_table == {A_MASTER: ["fs:1", "fs:2"]}

    net.register(A_MASTER, topics=["TopicA"], filters=None)  # None: leave as is
    assert rim.filter_server_table == {A_MASTER: ["fs:1", "fs:2"]}

    net.register(A_MASTER, topics=["TopicA"], filters=["fs:3"])  # replaced
    assert rim.filter_server_table == {A_MASTER: ["fs:3"]}

    net.register(A_MASTER, topics=["TopicA"], filters=[])  # empty: removed
    assert rim.filter_server_table == {}


def test_route_filter_servers_only_for_route_addresses_with_a_list(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"], filters=["fs:a"])
    net.register(A_SLAVE, broker_id=1, filters=[])
    net.register(B_MASTER, name="broker-b", topics=["TopicB"], filters=["fs:b"])

    route = net.rim.pickup_topic_route_data("TopicA")

    assert route is not None
    assert route.filter_server_table == {A_MASTER: ["fs:a"]}
    route_b = net.rim.pickup_topic_route_data("TopicB")
    assert route_b is not None
    assert route_b.filter_server_table == {B_MASTER: ["fs:b"]}


def test_filter_servers_removed_with_their_broker(net: Net) -> None:
    net.register(A_MASTER, filters=["fs:a"])
    net.register(A_SLAVE, broker_id=1, filters=["fs:s"])
    net.register(B_MASTER, name="broker-b", filters=["fs:b"])

    net.rim.unregister_broker(CLUSTER, A_SLAVE, "broker-a", 1)
    assert set(net.rim.filter_server_table) == {A_MASTER, B_MASTER}

    net.rim.on_channel_destroy(net.channel(A_MASTER))
    assert set(net.rim.filter_server_table) == {B_MASTER}

    net.rim.scan_not_active_broker(T0 + BROKER_CHANNEL_EXPIRED_TIME_MS + 1)
    assert net.rim.filter_server_table == {}


# ============================================================ unregister


def test_unregister_slave_keeps_broker_name_and_routes(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.register(A_SLAVE, broker_id=1)

    net.rim.unregister_broker(CLUSTER, A_SLAVE, "broker-a", 1)

    rim = net.rim
    assert rim.broker_addr_table["broker-a"].broker_addrs == {0: A_MASTER}
    assert set(rim.broker_live_table) == {A_MASTER}
    assert rim.cluster_addr_table == {CLUSTER: {"broker-a"}}
    assert queue_brokers(rim, "TopicA") == {"broker-a"}


def test_unregister_master_with_live_slave_keeps_queue_data(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.register(A_SLAVE, broker_id=1)

    net.rim.unregister_broker(CLUSTER, A_MASTER, "broker-a", 0)

    route = net.rim.pickup_topic_route_data("TopicA")
    assert route is not None
    assert [bd.broker_addrs for bd in route.broker_datas] == [{1: A_SLAVE}]
    assert [qd.broker_name for qd in route.queue_datas] == ["broker-a"]


def test_unregister_last_address_removes_broker_name_cluster_and_orphan_topics(
    net: Net,
) -> None:
    net.register(A_MASTER, topics=["OnlyA", "Shared"])
    net.register(B_MASTER, name="broker-b", cluster="OtherCluster", topics=["Shared", "OnlyB"])

    net.rim.unregister_broker(CLUSTER, A_MASTER, "broker-a", 0)

    rim = net.rim
    assert rim.cluster_addr_table == {"OtherCluster": {"broker-b"}}
    assert set(rim.broker_addr_table) == {"broker-b"}
    assert set(rim.topic_queue_table) == {"Shared", "OnlyB"}
    assert queue_brokers(rim, "Shared") == {"broker-b"}
    assert set(rim.broker_live_table) == {B_MASTER}
    assert rim.pickup_topic_route_data("OnlyA") is None


def test_unregister_last_broker_name_keeps_cluster_with_other_members(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.register(B_MASTER, name="broker-b", topics=["TopicB"])

    net.rim.unregister_broker(CLUSTER, A_MASTER, "broker-a", 0)

    assert net.rim.cluster_addr_table == {CLUSTER: {"broker-b"}}
    assert set(net.rim.topic_queue_table) == {"TopicB"}
    assert net.rim.broker_addr_table["broker-b"].broker_addrs == {0: B_MASTER}


def test_unregister_removes_by_broker_id(net: Net) -> None:
    """Java removes ``brokerAddrs.remove(brokerId)`` and the live entry of the given address."""
    net.register(A_MASTER, topics=["TopicA"])
    net.register(A_SLAVE, broker_id=1)

    net.rim.unregister_broker(CLUSTER, A_SLAVE, "broker-a", 0)

    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {1: A_SLAVE}
    assert set(net.rim.broker_live_table) == {A_MASTER}


def test_unregister_unknown_broker_name_only_drops_liveness(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"], filters=["fs"])

    net.rim.unregister_broker(CLUSTER, A_MASTER, "no-such-broker", 0)

    rim = net.rim
    assert rim.broker_live_table == {}
    assert rim.filter_server_table == {}
    assert rim.broker_addr_table["broker-a"].broker_addrs == {0: A_MASTER}
    assert queue_brokers(rim, "TopicA") == {"broker-a"}


def test_unregister_twice_is_harmless(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.rim.unregister_broker(CLUSTER, A_MASTER, "broker-a", 0)
    net.rim.unregister_broker(CLUSTER, A_MASTER, "broker-a", 0)

    assert net.rim.broker_addr_table == {}
    assert net.rim.cluster_addr_table == {}
    assert net.rim.topic_queue_table == {}


# ============================================================ expiry


@pytest.mark.parametrize(
    ("elapsed", "expired"),
    [
        (0, False),
        (BROKER_CHANNEL_EXPIRED_TIME_MS - 1, False),
        (BROKER_CHANNEL_EXPIRED_TIME_MS, False),
        (BROKER_CHANNEL_EXPIRED_TIME_MS + 1, True),
        (10 * BROKER_CHANNEL_EXPIRED_TIME_MS, True),
    ],
)
def test_scan_not_active_broker_boundary(net: Net, elapsed: int, expired: bool) -> None:
    assert BROKER_CHANNEL_EXPIRED_TIME_MS == 120_000
    net.register(A_MASTER, topics=["TopicA"], now=T0)

    removed = net.rim.scan_not_active_broker(T0 + elapsed)

    if expired:
        assert removed == [(A_MASTER, net.channel(A_MASTER))]
        assert removed[0][1] is net.channel(A_MASTER)
        assert net.rim.broker_live_table == {}
        assert net.rim.broker_addr_table == {}
        assert net.rim.cluster_addr_table == {}
        assert net.rim.topic_queue_table == {}
    else:
        assert removed == []
        assert set(net.rim.broker_live_table) == {A_MASTER}
        assert queue_brokers(net.rim, "TopicA") == {"broker-a"}


def test_scan_uses_latest_registration_time(net: Net) -> None:
    net.register(A_MASTER, now=T0)
    net.register(A_MASTER, now=T0 + 30_000)

    assert net.rim.scan_not_active_broker(T0 + 30_000 + BROKER_CHANNEL_EXPIRED_TIME_MS) == []
    assert net.rim.scan_not_active_broker(T0 + 30_001 + BROKER_CHANNEL_EXPIRED_TIME_MS) == [
        (A_MASTER, net.channel(A_MASTER))
    ]


def test_scan_removes_only_expired_brokers(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA", "Shared"], now=T0)
    net.register(A_SLAVE, broker_id=1, now=T0 + 60_000)
    net.register(B_MASTER, name="broker-b", topics=["Shared"], now=T0)
    net.register(C_MASTER, name="broker-c", cluster="Other", topics=["TopicC"], now=T0 + 60_000)

    removed = net.rim.scan_not_active_broker(T0 + BROKER_CHANNEL_EXPIRED_TIME_MS + 1)

    assert sorted(removed, key=lambda pair: pair[0]) == [
        (A_MASTER, net.channel(A_MASTER)),
        (B_MASTER, net.channel(B_MASTER)),
    ]
    rim = net.rim
    assert set(rim.broker_live_table) == {A_SLAVE, C_MASTER}
    # broker-a keeps its slave, and its routes (readable from the slave).
    assert rim.broker_addr_table["broker-a"].broker_addrs == {1: A_SLAVE}
    assert "broker-b" not in rim.broker_addr_table
    assert rim.cluster_addr_table == {CLUSTER: {"broker-a"}, "Other": {"broker-c"}}
    assert queue_brokers(rim, "Shared") == {"broker-a"}
    assert queue_brokers(rim, "TopicA") == {"broker-a"}
    assert queue_brokers(rim, "TopicC") == {"broker-c"}


def test_scan_honours_configured_expiry() -> None:
    net = Net(RouteInfoManager(broker_expired_ms=10))
    net.register(A_MASTER, now=T0)

    assert net.rim.scan_not_active_broker(T0 + 10) == []
    assert [addr for addr, _ in net.rim.scan_not_active_broker(T0 + 11)] == [A_MASTER]


# ============================================================ channel destroy


def test_on_channel_destroy_removes_only_that_broker(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.register(A_SLAVE, broker_id=1)
    net.register(B_MASTER, name="broker-b", topics=["TopicB"])

    assert net.rim.on_channel_destroy(net.channel(A_SLAVE)) == A_SLAVE

    rim = net.rim
    assert set(rim.broker_live_table) == {A_MASTER, B_MASTER}
    assert rim.broker_addr_table["broker-a"].broker_addrs == {0: A_MASTER}
    assert rim.broker_addr_table["broker-b"].broker_addrs == {0: B_MASTER}
    assert set(rim.topic_queue_table) == {"TopicA", "TopicB"}

    assert rim.on_channel_destroy(net.channel(A_MASTER)) == A_MASTER
    assert set(rim.broker_addr_table) == {"broker-b"}
    assert rim.cluster_addr_table == {CLUSTER: {"broker-b"}}
    assert set(rim.topic_queue_table) == {"TopicB"}


def test_on_channel_destroy_last_broker_empties_everything(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"], filters=["fs"])

    assert net.rim.on_channel_destroy(net.channel(A_MASTER)) == A_MASTER

    rim = net.rim
    assert rim.broker_live_table == {}
    assert rim.broker_addr_table == {}
    assert rim.cluster_addr_table == {}
    assert rim.topic_queue_table == {}
    assert rim.filter_server_table == {}


def test_on_channel_destroy_unknown_channel(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    before = (
        dict(net.rim.broker_live_table),
        {k: dict(v.broker_addrs) for k, v in net.rim.broker_addr_table.items()},
        {k: set(v) for k, v in net.rim.cluster_addr_table.items()},
        {k: dict(v) for k, v in net.rim.topic_queue_table.items()},
    )

    # A Channel that compares equal to the broker's, but is another connection (e.g. a client).
    assert net.rim.on_channel_destroy(Channel("client")) is None

    after = (
        dict(net.rim.broker_live_table),
        {k: dict(v.broker_addrs) for k, v in net.rim.broker_addr_table.items()},
        {k: set(v) for k, v in net.rim.cluster_addr_table.items()},
        {k: dict(v) for k, v in net.rim.topic_queue_table.items()},
    )
    assert after == before


def test_on_channel_destroy_after_reconnect_ignores_old_channel(net: Net) -> None:
    old = net.channel(A_MASTER)
    net.register(A_MASTER, topics=["TopicA"])
    new = Channel("new")
    net.rim.register_broker(
        CLUSTER, A_MASTER, "broker-a", 0, "", wrapper(["TopicA"]), None, new, T0
    )

    assert net.rim.on_channel_destroy(old) is None
    assert set(net.rim.broker_live_table) == {A_MASTER}
    assert net.rim.on_channel_destroy(new) == A_MASTER
    assert net.rim.broker_live_table == {}


# ============================================================ routes


def test_pickup_unknown_topic(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    assert net.rim.pickup_topic_route_data("Nope") is None


def test_pickup_without_broker_data_is_none(net: Net) -> None:
    net.rim.topic_queue_table["Ghost"] = {"gone": QueueData("gone", 4, 4, 6)}
    assert net.rim.pickup_topic_route_data("Ghost") is None


def test_pickup_with_some_broker_data_missing_lists_only_known(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"])
    net.rim.topic_queue_table["TopicA"]["gone"] = QueueData("gone", 4, 4, 6)

    route = net.rim.pickup_topic_route_data("TopicA")

    assert route is not None
    assert [bd.broker_name for bd in route.broker_datas] == ["broker-a"]
    assert {qd.broker_name for qd in route.queue_datas} == {"broker-a", "gone"}


def test_pickup_route_content(net: Net) -> None:
    net.register(A_MASTER, topics=[tc("TopicA", read=4, write=4, perm=6)])
    net.register(A_SLAVE, broker_id=1)
    net.register(B_MASTER, name="broker-b", topics=[tc("TopicA", read=2, write=1, perm=4)])
    net.register(C_MASTER, name="broker-c", topics=["Other"])

    route = net.rim.pickup_topic_route_data("TopicA")

    assert route is not None
    assert sorted(route.queue_datas, key=lambda qd: qd.broker_name) == [
        QueueData("broker-a", 4, 4, 6, 0),
        QueueData("broker-b", 2, 1, 4, 0),
    ]
    assert sorted(route.broker_datas, key=lambda bd: bd.broker_name) == [
        BrokerData(CLUSTER, "broker-a", {0: A_MASTER, 1: A_SLAVE}),
        BrokerData(CLUSTER, "broker-b", {0: B_MASTER}),
    ]
    assert route.filter_server_table == {}
    assert route.order_topic_conf is None


def test_pickup_result_is_a_copy(net: Net) -> None:
    net.register(A_MASTER, topics=["TopicA"], filters=["fs:1"])
    net.register(A_SLAVE, broker_id=1)

    route = net.rim.pickup_topic_route_data("TopicA")
    assert route is not None
    route.broker_datas[0].broker_addrs[7] = "evil:1"
    route.broker_datas[0].broker_addrs.pop(0)
    route.broker_datas[0].cluster = "Evil"
    route.queue_datas[0].perm = 0
    route.filter_server_table[A_MASTER].append("evil-fs")
    route.queue_datas.clear()

    rim = net.rim
    assert rim.broker_addr_table["broker-a"] == BrokerData(
        CLUSTER, "broker-a", {0: A_MASTER, 1: A_SLAVE}
    )
    assert rim.topic_queue_table["TopicA"]["broker-a"].perm == 6
    assert rim.filter_server_table == {A_MASTER: ["fs:1"]}
    again = net.rim.pickup_topic_route_data("TopicA")
    assert again is not None
    assert again.broker_datas[0].broker_addrs == {0: A_MASTER, 1: A_SLAVE}


def test_route_of_slave_only_broker_name_has_no_master(net: Net) -> None:
    """Master gone, slave alive: the route still lists the broker name with only slave ids."""
    net.register(A_MASTER, topics=["TopicA"])
    net.register(A_SLAVE, broker_id=1)
    net.rim.on_channel_destroy(net.channel(A_MASTER))

    route = net.rim.pickup_topic_route_data("TopicA")

    assert route is not None
    assert route.broker_datas == [BrokerData(CLUSTER, "broker-a", {1: A_SLAVE})]
    assert MASTER_ID not in route.broker_datas[0].broker_addrs


# ============================================================ delete topic


@pytest.fixture
def two_clusters(net: Net) -> Net:
    net.register(A_MASTER, topics=["TopicX", "OnlyA"])
    net.register(B_MASTER, name="broker-b", topics=["TopicX"])
    net.register(C_MASTER, name="broker-c", cluster="Other", topics=["TopicX", "OnlyC"])
    return net


@pytest.mark.parametrize("cluster", [None, ""])
def test_delete_topic_everywhere(two_clusters: Net, cluster: str | None) -> None:
    two_clusters.rim.delete_topic("TopicX", cluster)

    assert set(two_clusters.rim.topic_queue_table) == {"OnlyA", "OnlyC"}
    assert two_clusters.rim.pickup_topic_route_data("TopicX") is None


def test_delete_topic_in_one_cluster(two_clusters: Net) -> None:
    rim = two_clusters.rim
    rim.delete_topic("TopicX", CLUSTER)
    assert queue_brokers(rim, "TopicX") == {"broker-c"}
    assert set(rim.topic_queue_table) == {"TopicX", "OnlyA", "OnlyC"}

    rim.delete_topic("TopicX", "Other")
    assert "TopicX" not in rim.topic_queue_table
    # Broker tables are untouched by topic deletion.
    assert set(rim.broker_addr_table) == {"broker-a", "broker-b", "broker-c"}


def test_delete_topic_unknown_cluster_or_topic(two_clusters: Net) -> None:
    rim = two_clusters.rim
    rim.delete_topic("TopicX", "NoSuchCluster")
    rim.delete_topic("NoSuchTopic", CLUSTER)
    rim.delete_topic("NoSuchTopic")

    assert queue_brokers(rim, "TopicX") == {"broker-a", "broker-b", "broker-c"}
    assert set(rim.topic_queue_table) == {"TopicX", "OnlyA", "OnlyC"}


# ============================================================ write perm


@pytest.mark.parametrize(
    ("perm", "after_wipe", "after_add"),
    [
        (PERM_READ | PERM_WRITE | PERM_INHERIT, 5, 6),  # 7
        (PERM_READ | PERM_WRITE, 4, 6),  # 6
        (PERM_READ | PERM_INHERIT, 5, 6),  # 5
        (PERM_READ, 4, 6),  # 4
        (PERM_WRITE | PERM_INHERIT, 1, 6),  # 3
        (PERM_WRITE, 0, 6),  # 2
        (PERM_INHERIT, 1, 6),  # 1
        (0, 0, 6),
    ],
)
def test_wipe_and_add_write_perm_values(perm: int, after_wipe: int, after_add: int) -> None:
    wiped = Net()
    wiped.register(A_MASTER, topics=[tc("T", perm=perm)])
    assert wiped.rim.wipe_write_perm_of_broker("broker-a") == 1
    assert wiped.rim.topic_queue_table["T"]["broker-a"].perm == after_wipe

    added = Net()
    added.register(A_MASTER, topics=[tc("T", perm=perm)])
    assert added.rim.add_write_perm_of_broker("broker-a") == 1
    assert added.rim.topic_queue_table["T"]["broker-a"].perm == after_add == PERM_READ | PERM_WRITE


def test_write_perm_counts_topics_and_touches_only_that_broker(net: Net) -> None:
    net.register(A_MASTER, topics=[tc("T1", perm=7), tc("T2", perm=6), tc("T3", perm=4)])
    net.register(B_MASTER, name="broker-b", topics=[tc("T1", perm=6), tc("T4", perm=6)])
    rim = net.rim

    assert rim.wipe_write_perm_of_broker("broker-a") == 3
    assert {t: rim.topic_queue_table[t]["broker-a"].perm for t in ("T1", "T2", "T3")} == {
        "T1": 5,
        "T2": 4,
        "T3": 4,
    }
    assert rim.topic_queue_table["T1"]["broker-b"].perm == 6
    assert rim.topic_queue_table["T4"]["broker-b"].perm == 6

    assert rim.add_write_perm_of_broker("broker-a") == 3
    assert {t: rim.topic_queue_table[t]["broker-a"].perm for t in ("T1", "T2", "T3")} == {
        "T1": 6,
        "T2": 6,
        "T3": 6,
    }

    assert rim.wipe_write_perm_of_broker("no-such-broker") == 0
    assert rim.add_write_perm_of_broker("no-such-broker") == 0


def test_wiped_perm_survives_unchanged_reregistration(net: Net) -> None:
    """Same DataVersion: the NameServer keeps its (wiped) QueueData."""
    net.register(A_MASTER, topics=["TopicA"], version=V1)
    net.rim.wipe_write_perm_of_broker("broker-a")

    net.register(A_MASTER, topics=["TopicA"], version=V1, now=T0 + 30_000)
    assert net.rim.topic_queue_table["TopicA"]["broker-a"].perm == 4

    net.register(A_MASTER, topics=["TopicA"], version=V2, now=T0 + 60_000)
    assert net.rim.topic_queue_table["TopicA"]["broker-a"].perm == 6


# ============================================================ topic lists


def test_get_all_topic_list(net: Net) -> None:
    assert net.rim.get_all_topic_list().topic_list == []
    net.register(A_MASTER, topics=["T1", "T2"])
    net.register(B_MASTER, name="broker-b", cluster="Other", topics=["T2", "T3"])

    topics = net.rim.get_all_topic_list()

    assert sorted(topics.topic_list) == ["T1", "T2", "T3"]
    assert topics.broker_addr is None


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (CLUSTER, ["Shared", "T1", "T2"]),
        ("Other", ["Shared", "T3"]),
        ("NoSuchCluster", []),
    ],
)
def test_get_topics_by_cluster(net: Net, cluster: str, expected: list[str]) -> None:
    net.register(A_MASTER, topics=["T1", "Shared"])
    net.register(B_MASTER, name="broker-b", topics=["T2", "Shared"])
    net.register(C_MASTER, name="broker-c", cluster="Other", topics=["T3", "Shared"])

    topics = net.rim.get_topics_by_cluster(cluster)

    assert sorted(topics.topic_list) == expected  # no duplicates for "Shared"
    assert topics.broker_addr is None


def test_get_system_topic_list(net: Net) -> None:
    empty = net.rim.get_system_topic_list()
    assert (empty.topic_list, empty.broker_addr) == ([], None)

    net.register(A_MASTER, topics=["T1"])
    net.register(A_SLAVE, broker_id=1)
    net.register(C_MASTER, name="broker-c", cluster="Other", topics=["T3"])

    topics = net.rim.get_system_topic_list()

    assert sorted(topics.topic_list) == sorted([CLUSTER, "broker-a", "Other", "broker-c"])
    assert topics.broker_addr in {A_MASTER, A_SLAVE, C_MASTER}


def test_system_topic_list_broker_addr_is_lowest_id(net: Net) -> None:
    net.register(A_SLAVE, broker_id=1)
    net.register(A_MASTER, broker_id=0)

    assert net.rim.get_system_topic_list().broker_addr == A_MASTER


@pytest.mark.parametrize("case", ["cluster-named-like-broker", "broker-in-two-clusters"])
def test_system_topic_list_has_no_duplicates(net: Net, case: str) -> None:
    if case == "cluster-named-like-broker":
        net.register(A_MASTER, name="same", cluster="same")
    else:
        net.register(A_MASTER, cluster="c1")
        net.register(A_MASTER, cluster="c2", now=T0 + 1)  # restarted with another cluster name

    topic_list = net.rim.get_system_topic_list().topic_list

    assert len(topic_list) == len(set(topic_list))


@pytest.mark.parametrize(
    ("sys_flag", "unit", "unit_sub", "unit_sub_not_unit"),
    [
        (0, False, False, False),
        (TOPIC_SYS_FLAG_UNIT, True, False, False),
        (TOPIC_SYS_FLAG_UNIT_SUB, False, True, True),
        (TOPIC_SYS_FLAG_UNIT | TOPIC_SYS_FLAG_UNIT_SUB, True, True, False),
    ],
)
def test_unit_topic_lists(
    net: Net, sys_flag: int, unit: bool, unit_sub: bool, unit_sub_not_unit: bool
) -> None:
    net.register(A_MASTER, topics=[tc("Flagged", sys_flag=sys_flag), tc("Plain")])
    rim = net.rim

    for topic_list, expected in (
        (rim.get_unit_topics(), unit),
        (rim.get_has_unit_sub_topic_list(), unit_sub),
        (rim.get_has_unit_sub_un_unit_topic_list(), unit_sub_not_unit),
    ):
        assert topic_list.topic_list == (["Flagged"] if expected else [])
        assert topic_list.broker_addr is None


def test_unit_topic_lists_look_at_one_queue_data_per_topic(net: Net) -> None:
    net.register(A_MASTER, topics=[tc("Mixed", sys_flag=TOPIC_SYS_FLAG_UNIT)])
    net.register(B_MASTER, name="broker-b", topics=[tc("Mixed", sys_flag=0)])
    net.register(C_MASTER, name="broker-c", topics=[tc("Mixed", sys_flag=TOPIC_SYS_FLAG_UNIT)])

    first = next(iter(net.rim.topic_queue_table["Mixed"].values()))
    expected = ["Mixed"] if first.topic_sys_flag & TOPIC_SYS_FLAG_UNIT else []
    assert net.rim.get_unit_topics().topic_list == expected


# ============================================================ cluster info


def test_get_all_cluster_info(net: Net) -> None:
    assert net.rim.get_all_cluster_info().broker_addr_table == {}
    net.register(A_MASTER)
    net.register(A_SLAVE, broker_id=1)
    net.register(B_MASTER, name="broker-b")
    net.register(C_MASTER, name="broker-c", cluster="Other")

    info = net.rim.get_all_cluster_info()

    assert info.broker_addr_table == {
        "broker-a": BrokerData(CLUSTER, "broker-a", {0: A_MASTER, 1: A_SLAVE}),
        "broker-b": BrokerData(CLUSTER, "broker-b", {0: B_MASTER}),
        "broker-c": BrokerData("Other", "broker-c", {0: C_MASTER}),
    }
    assert {k: sorted(v) for k, v in info.cluster_addr_table.items()} == {
        CLUSTER: ["broker-a", "broker-b"],
        "Other": ["broker-c"],
    }

    info.broker_addr_table["broker-a"].broker_addrs.clear()
    info.cluster_addr_table[CLUSTER].clear()
    assert net.rim.broker_addr_table["broker-a"].broker_addrs == {0: A_MASTER, 1: A_SLAVE}
    assert net.rim.cluster_addr_table[CLUSTER] == {"broker-a", "broker-b"}
