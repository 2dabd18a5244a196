"""The frames real clients sent (C++ 1.x, C++ 2.1, ali-ons) replayed byte for byte.

Each captured flow (produce, then consume) is replayed against a fresh NameServer + broker:
route queries go to the NameServer, everything else to the broker, on one raw connection per
captured connection. Every request that expects an answer must get one with a code a Java
broker would give, and every sent message must be stored.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyrmq.remoting.codes import FLAG_ONEWAY, RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.framing import FrameDecoder
from tests.support.cluster import local_cluster
from tests.support.vectors import CLIENTS

FLOWS = sorted(CLIENTS.glob("flow-*.jsonl")) if CLIENTS.exists() else []

OK = {ResponseCode.SUCCESS}
ACCEPTED: dict[int, set[int]] = {
    RequestCode.GET_ROUTEINFO_BY_TOPIC: {ResponseCode.SUCCESS, ResponseCode.TOPIC_NOT_EXIST},
    RequestCode.SEND_MESSAGE: OK,
    RequestCode.SEND_MESSAGE_V2: OK,
    RequestCode.HEART_BEAT: OK,
    RequestCode.GET_CONSUMER_LIST_BY_GROUP: OK,
    RequestCode.QUERY_CONSUMER_OFFSET: {ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND},
    RequestCode.PULL_MESSAGE: {
        ResponseCode.SUCCESS,
        ResponseCode.PULL_NOT_FOUND,
        ResponseCode.PULL_RETRY_IMMEDIATELY,
        ResponseCode.PULL_OFFSET_MOVED,
    },
    RequestCode.UPDATE_CONSUMER_OFFSET: OK,
    RequestCode.UNREGISTER_CLIENT: OK,
    RequestCode.GET_MAX_OFFSET: OK,
    RequestCode.LOCK_BATCH_MQ: OK,
    RequestCode.UNLOCK_BATCH_MQ: OK,
}


def expected_codes(broker: Any, frame: dict[str, Any]) -> set[int]:
    """What a Java broker in our broker's state would answer. The captures were answered by
    another broker, whose retry topics had more queues: a pull of a queue our topic does not
    have gets Java's SYSTEM_ERROR "queueId[..] is illegal"."""
    if frame["code"] == RequestCode.PULL_MESSAGE:
        ext = frame["extFields"]
        topic_config = broker.topic_config_manager.select(ext["topic"])
        if topic_config is not None and int(ext["queueId"]) >= topic_config.read_queue_nums:
            return {ResponseCode.SYSTEM_ERROR}
    return ACCEPTED[frame["code"]]


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()
        self.pending: list[RemotingCommand] = []

    async def response_to(self, opaque: int, timeout_s: float = 5.0) -> RemotingCommand:
        async with asyncio.timeout(timeout_s):
            while True:
                for cmd in self.pending:
                    if cmd.is_response and cmd.opaque == opaque:
                        self.pending.remove(cmd)
                        return cmd
                data = await self.reader.read(65536)
                assert data, "the server closed the connection"
                self.pending += self.decoder.feed(data)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def load_flow(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("flow", FLOWS, ids=[p.stem for p in FLOWS])
async def test_captured_flow_is_answered(flow: Path, tmp_path: Path) -> None:
    frames = load_flow(flow)
    # Short polling keeps held pulls brief: the captured consumers pulled at the queue's end.
    overrides: dict[str, object] = {"long_polling_enable": False, "short_polling_time_mills": 50}
    async with local_cluster(tmp_path, overrides) as cluster:
        conns: dict[tuple[int, bool], RawConnection] = {}
        sends = 0
        try:
            for frame in frames:
                to_namesrv = frame["code"] == RequestCode.GET_ROUTEINFO_BY_TOPIC
                key = (frame["conn"], to_namesrv)
                if key not in conns:
                    port = cluster.namesrv.port if to_namesrv else cluster.broker.server.port
                    conns[key] = RawConnection(*await asyncio.open_connection("127.0.0.1", port))
                conn = conns[key]
                conn.writer.write(bytes.fromhex(frame["frameHex"]))
                await conn.writer.drain()
                if frame["code"] in (RequestCode.SEND_MESSAGE, RequestCode.SEND_MESSAGE_V2):
                    sends += 1
                if frame["flag"] & FLAG_ONEWAY:
                    continue
                response = await conn.response_to(frame["opaque"])
                accepted = expected_codes(cluster.broker, frame)
                assert response.code in accepted, (
                    f"{frame['codeName']} got {response.code} {response.remark}"
                )
                pull_codes = ACCEPTED[RequestCode.PULL_MESSAGE]
                if frame["code"] == RequestCode.PULL_MESSAGE and response.code in pull_codes:
                    assert response.ext("nextBeginOffset") is not None
            cluster.broker.message_store.reput.do_reput()
            stored = sum(
                queue.max_offset_in_queue
                for queue in cluster.broker.message_store.consume_queues
                if not queue.topic.startswith("%RETRY%")
            )
            assert stored == sends
        finally:
            for conn in conns.values():
                await conn.close()


def test_flows_are_present() -> None:
    if not CLIENTS.exists():
        pytest.skip("client captures are missing")
    assert len(FLOWS) == 11
