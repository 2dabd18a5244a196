"""A push consumer with a SQL92 subscription receives exactly the matching messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pyrmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer
from tests.support.cluster import local_cluster


async def test_sql92_and_tag_subscriptions_get_exactly_their_messages(tmp_path: Path) -> None:
    async with local_cluster(tmp_path, {"enable_property_filter": True}) as cluster:
        producer = Producer("pg", cluster.namesrv_addr)
        await producer.start()
        for i in range(40):
            tag = "even" if i % 2 == 0 else "odd"
            msg = Message("Filtered", f"m{i}".encode(), properties={"TAGS": tag, "n": str(i)})
            await producer.send(msg)
        got: dict[str, list[int]] = {"sql": [], "tag": []}

        def collect(name: str) -> object:
            def listener(msgs: list[MessageExt]) -> ConsumeStatus:
                got[name].extend(int(m.properties["n"]) for m in msgs)
                return ConsumeStatus.CONSUME_SUCCESS

            return listener

        sql = PushConsumer(
            "sql-group", cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
        )
        sql.subscribe("Filtered", "n >= 10 AND n < 20 AND TAGS = 'odd'", expression_type="SQL92")
        sql.register_listener(collect("sql"))  # type: ignore[arg-type]
        tag = PushConsumer(
            "tag-group", cluster.namesrv_addr, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
        )
        tag.subscribe("Filtered", "even")
        tag.register_listener(collect("tag"))  # type: ignore[arg-type]
        await sql.start()
        await tag.start()
        try:
            for _ in range(200):
                if len(got["sql"]) >= 5 and len(got["tag"]) >= 20:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # nothing else may come
        finally:
            await sql.shutdown()
            await tag.shutdown()
            await producer.shutdown()
        assert sorted(got["sql"]) == [11, 13, 15, 17, 19]
        assert sorted(got["tag"]) == list(range(0, 40, 2))
