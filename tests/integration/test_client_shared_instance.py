"""Producers and consumers with the same instance name share one client instance (in-process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pyrmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from tests.support.cluster import local_cluster


async def test_same_instance_name_shares_routes_heartbeat_and_connections(tmp_path: Path) -> None:
    async with local_cluster(tmp_path) as cluster:
        first = Producer("g1", cluster.namesrv_addr, instance_name="app")
        second = Producer("g2", cluster.namesrv_addr, instance_name="app")
        other = Producer("g3", cluster.namesrv_addr)
        got: list[bytes] = []

        def listener(msgs: list[MessageExt]) -> ConsumeStatus:
            got.extend(m.body for m in msgs)
            return ConsumeStatus.CONSUME_SUCCESS

        consumer = PushConsumer(
            "cg",
            cluster.namesrv_addr,
            instance_name="app",
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        )
        consumer.subscribe("Shared", "*")
        consumer.register_listener(listener)
        assert first.instance is second.instance is consumer.instance
        assert other.instance is not first.instance
        for producer in (first, second, other):
            await producer.start()
        await first.send(Message("Shared", b"a"))
        await second.send(Message("Shared", b"b"))
        await consumer.start()
        await first.shutdown()  # the others still use the instance
        await second.send(Message("Shared", b"c"))
        for _ in range(100):
            if len(got) >= 3:
                break
            await asyncio.sleep(0.05)
        assert sorted(got) == [b"a", b"b", b"c"]
        assert first.instance.started
        await consumer.shutdown()
        await second.shutdown()
        assert first.instance.stopped  # the last user shut it down
        await other.shutdown()
