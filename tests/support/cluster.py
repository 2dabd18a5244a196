"""In-process NameServer + broker on 127.0.0.1 (OS-chosen ports, temp store) for broker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.controller import BrokerController
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.controller import NamesrvController
from pyrmq.store.config import MessageStoreConfig


@dataclass
class LocalCluster:
    namesrv: NamesrvController
    broker: BrokerController

    @property
    def namesrv_addr(self) -> str:
        return f"127.0.0.1:{self.namesrv.port}"

    @property
    def broker_addr(self) -> str:
        return self.broker.broker_config.broker_addr


def broker_configs(
    root: Path, namesrv_addr: str, name: str = "broker-a", **store: object
) -> tuple[BrokerConfig, MessageStoreConfig]:
    broker = BrokerConfig(
        broker_name=name, broker_i_p1="127.0.0.1", listen_port=0, namesrv_addr=namesrv_addr
    )
    store_config = MessageStoreConfig(
        store_path_root_dir=str(root / name),
        mapped_file_size_commit_log=1024 * 1024,
        max_hash_slot_num=1000,
        max_index_num=4000,
    )
    for key, value in store.items():
        setattr(store_config, key, value)
    return broker, store_config


@asynccontextmanager
async def local_cluster(
    root: Path, broker_overrides: dict[str, object] | None = None, **store: object
) -> AsyncIterator[LocalCluster]:
    namesrv = NamesrvController(
        NamesrvConfig(
            listen_port=0, bind_address="127.0.0.1", kv_config_path=str(root / "kvConfig.json")
        )
    )
    await namesrv.start()
    broker_config, store_config = broker_configs(root, f"127.0.0.1:{namesrv.port}", **store)
    for key, value in (broker_overrides or {}).items():
        setattr(broker_config, key, value)
    broker = BrokerController(broker_config, store_config)
    try:
        broker.load()
        await broker.start()
        yield LocalCluster(namesrv, broker)
    finally:
        if broker.started:
            await broker.shutdown()
        await namesrv.stop()
