"""conf/dledger: the three node files load cleanly and describe one group consistently."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrmq.broker.startup import BrokerStartupConfig, load_broker_config
from pyrmq.dledger.peers import follower_broker_id, parse_peers, validate

CONF = Path(__file__).resolve().parents[3] / "conf" / "dledger"
NODES = ("n0", "n1", "n2")


def load(node: str) -> BrokerStartupConfig:
    return load_broker_config(str(CONF / f"broker-{node}.properties"))


@pytest.fixture(scope="module")
def configs() -> dict[str, BrokerStartupConfig]:
    return {node: load(node) for node in NODES}


@pytest.mark.parametrize("node", NODES)
def test_loads_without_warnings(node: str) -> None:
    config = load(node)
    assert config.warnings == []
    keys = [entry.key for entry in config.entries]
    assert len(keys) == len(set(keys)), "a key is set twice"


@pytest.mark.parametrize("node", NODES)
def test_each_node_is_a_valid_member_of_its_peers(
    configs: dict[str, BrokerStartupConfig], node: str
) -> None:
    store, broker = configs[node].store, configs[node].broker
    assert store.enable_d_leger_commit_log
    assert store.d_leger_peers is not None
    assert store.d_leger_self_id == node
    peers = parse_peers(store.d_leger_peers)
    validate(peers, node)
    # The DLedger port is on the node's own host, apart from the broker's listenPort.
    host, port = peers[node]
    assert host == broker.broker_i_p1 == broker.listen_host
    assert port != broker.listen_port
    assert follower_broker_id(node) == NODES.index(node) + 1


def test_the_three_files_describe_one_group(configs: dict[str, BrokerStartupConfig]) -> None:
    stores = [config.store for config in configs.values()]
    brokers = [config.broker for config in configs.values()]
    assert len({store.d_leger_peers for store in stores}) == 1
    assert {store.d_leger_self_id for store in stores} == set(NODES)
    assert set(parse_peers(stores[0].d_leger_peers or "")) == set(NODES)
    assert len({broker.broker_cluster_name for broker in brokers}) == 1
    assert {broker.broker_name for broker in brokers} == {store.d_leger_group for store in stores}
    assert len({broker.broker_name for broker in brokers}) == 1
    assert len({broker.namesrv_addr for broker in brokers}) == 1
    assert len({store.flush_disk_type for store in stores}) == 1  # any node may lead
    assert len({broker.broker_addr for broker in brokers}) == 3
    assert len({store.store_path_root_dir for store in stores}) == 3


def test_one_nameserver_per_host(configs: dict[str, BrokerStartupConfig]) -> None:
    broker = configs["n0"].broker
    hosts = {
        peer_host for peer_host, _ in parse_peers(configs["n0"].store.d_leger_peers or "").values()
    }
    assert broker.namesrv_addr_list() == [f"{host}:9876" for host in sorted(hosts)]


@pytest.mark.parametrize("node", NODES)
def test_store_path_is_relative_to_the_current_directory(node: str) -> None:
    entries = {entry.key: entry.value for entry in load(node).entries}
    assert entries["storePathRootDir"] == f"./data/dledger/broker-{node}"
    assert "flushDiskTyp" not in entries
    assert not any(key.startswith("maped") for key in entries)
