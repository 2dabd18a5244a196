"""Fixtures of the client tests: fake NameServer and brokers on 127.0.0.1, fast timers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyrmq.client.config import ClientConfig
from tests.unit.client.fakes import FakeBroker, FakeNamesrv


@pytest.fixture
async def namesrv() -> AsyncIterator[FakeNamesrv]:
    server = await FakeNamesrv().start()
    yield server
    await server.stop()


@pytest.fixture
async def broker_a() -> AsyncIterator[FakeBroker]:
    broker = await FakeBroker("broker-a").start()
    yield broker
    await broker.stop()


@pytest.fixture
async def broker_b() -> AsyncIterator[FakeBroker]:
    broker = await FakeBroker("broker-b").start()
    yield broker
    await broker.stop()


@pytest.fixture
def fast_config() -> ClientConfig:
    """Timers short enough for tests, long enough not to interfere unless asked to."""
    return ClientConfig(
        poll_name_server_interval_s=30.0,
        heartbeat_broker_interval_s=30.0,
        persist_consumer_offset_interval_s=0.05,
        persist_consumer_offset_initial_delay_s=0.05,
        rebalance_interval_s=0.1,
        api_timeout_s=1.0,
    )
