"""In-test fake NameServer and broker: real RemotingServers on 127.0.0.1 with scripted handlers.

They answer the client's requests the way protocol.md §3.1-§3.3 and §6.3 say a 4.9 server does
(response codes, ext fields, bodies), keep just enough state for the client to run against them
(routes; per-queue stored records; consumer offsets; consumer groups from heartbeats) and record
what they received. Answers can be scripted per request (``send_codes``, ``pull_script``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pyrmq.common.message import MessageExt, string_to_properties
from pyrmq.common.message_codec import decode_batch, encode_stored_message, offset_msg_id
from pyrmq.remoting import fastjson
from pyrmq.remoting.bodies import (
    BrokerData,
    ClusterInfo,
    MessageQueue,
    QueueData,
    TopicRouteData,
    encode_cluster_info,
    encode_topic_route_data,
)
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand, request
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import (
    ConsumerSendMsgBackRequestHeader,
    PullMessageRequestHeader,
    SendMessageRequestHeaderV2,
    from_ext_fields,
)
from pyrmq.remoting.heartbeat import HeartbeatData, decode_heartbeat, encode_consumer_id_list
from pyrmq.remoting.server import Handler, RemotingServer

TINY_S = 0.002


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll until ``condition`` holds; fail (not hang) after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(TINY_S)


def dead_addr() -> str:
    """An address nobody listens on (port 1 is privileged and unused in test hosts)."""
    return "127.0.0.1:1"


class FakeNamesrv:
    """GET_ROUTEINFO_BY_TOPIC from ``routes``; GET_BROKER_CLUSTER_INFO from ``cluster``."""

    def __init__(self) -> None:
        self.routes: dict[str, TopicRouteData] = {}
        self.cluster = ClusterInfo()
        self.route_requests: list[str] = []
        handlers: dict[int, Handler] = {
            RequestCode.GET_ROUTEINFO_BY_TOPIC: self._route,
            RequestCode.GET_BROKER_CLUSTER_INFO: self._cluster_info,
        }
        self.server = RemotingServer(handlers, host="127.0.0.1", port=0)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def start(self) -> FakeNamesrv:
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.server.stop()

    def _route(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        topic = cmd.ext("topic") or ""
        self.route_requests.append(topic)
        route = self.routes.get(topic)
        if route is None:
            return cmd.response(
                ResponseCode.TOPIC_NOT_EXIST,
                f"No topic route info in name server for the topic: {topic}",
            )
        standard = cmd.ext("acceptStandardJsonOnly") == "true"
        return cmd.response(ResponseCode.SUCCESS, body=encode_topic_route_data(route, standard))

    def _cluster_info(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.response(ResponseCode.SUCCESS, body=encode_cluster_info(self.cluster))


@dataclass
class ReceivedSend:
    code: int
    header: SendMessageRequestHeaderV2
    body: bytes


@dataclass
class StoredQueue:
    records: list[bytes] = field(default_factory=list)
    messages: list[MessageExt] = field(default_factory=list)


class FakeBroker:
    """A master (or slave) that stores sends, serves pulls, keeps offsets and consumer groups."""

    def __init__(self, name: str = "broker-a", *, hold_s: float = 0.05, version: int = 409) -> None:
        self.name = name
        self.hold_s = hold_s
        self.version = version
        #: Codes for the next SEND answers (popped from the front); empty = store and SUCCESS.
        self.send_codes: list[int] = []
        self.sends: list[ReceivedSend] = []
        #: Scripted pull answers (code, nextBeginOffset) per (topic, queue), popped in order.
        self.pull_script: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self.pulls: list[PullMessageRequestHeader] = []
        self.queues: dict[tuple[str, int], StoredQueue] = {}
        self.commit_offset = 0
        self.offsets: dict[tuple[str, str, int], int] = {}
        self.offset_updates: list[tuple[str, str, int, int, bool]] = []
        self.heartbeats: list[HeartbeatData] = []
        self.consumers: dict[str, dict[str, RemotingConnection]] = {}
        self.consumer_ids: dict[str, list[str]] = {}
        self.unregisters: list[tuple[str, str | None, str | None]] = []
        self.created_topics: list[dict[str, str]] = []
        self.min_offsets: dict[tuple[str, int], int] = {}
        self.requests: list[int] = []
        #: CONSUMER_SEND_MSG_BACK answered (stored into %RETRY%/%DLQ% like a 4.9 broker, without
        #: the delay) when True; REQUEST_CODE_NOT_SUPPORTED (an old broker) when False.
        self.send_back_supported = False
        self.send_backs: list[ConsumerSendMsgBackRequestHeader] = []
        #: LOCK_BATCH_MQ: (group, queue) -> client id holding it; queues in ``refuse_locks``
        #: are never granted.
        self.locks: dict[tuple[str, MessageQueue], str] = {}
        self.refuse_locks: set[MessageQueue] = set()
        self.lock_requests: list[tuple[str, list[MessageQueue]]] = []
        self.unlock_requests: list[tuple[str, list[MessageQueue]]] = []
        self._arrival = asyncio.Event()
        self.server = RemotingServer(self._handlers(), host="127.0.0.1", port=0)

    def _handlers(self) -> dict[int, Handler]:
        codes = RequestCode
        table: dict[int, Handler] = {
            codes.SEND_MESSAGE_V2: self._send,
            codes.SEND_BATCH_MESSAGE: self._send,
            codes.PULL_MESSAGE: self._pull,
            codes.QUERY_CONSUMER_OFFSET: self._query_offset,
            codes.UPDATE_CONSUMER_OFFSET: self._update_offset,
            codes.GET_MAX_OFFSET: self._max_offset,
            codes.GET_MIN_OFFSET: self._min_offset,
            codes.SEARCH_OFFSET_BY_TIMESTAMP: self._search_offset,
            codes.HEART_BEAT: self._heartbeat,
            codes.UNREGISTER_CLIENT: self._unregister,
            codes.GET_CONSUMER_LIST_BY_GROUP: self._consumer_list,
            codes.UPDATE_AND_CREATE_TOPIC: self._create_topic,
            codes.CONSUMER_SEND_MSG_BACK: self._send_back,
            codes.LOCK_BATCH_MQ: self._lock,
            codes.UNLOCK_BATCH_MQ: self._unlock,
        }
        return {code: self._recorded(handler) for code, handler in table.items()}

    def _recorded(self, handler: Handler) -> Handler:
        def wrapped(conn: RemotingConnection, cmd: RemotingCommand) -> object:
            self.requests.append(cmd.code)
            return handler(conn, cmd)

        return wrapped  # type: ignore[return-value]

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def start(self) -> FakeBroker:
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.server.stop()

    # ------------------------------------------------------------------ routes

    def queue_data(self, read: int = 4, write: int | None = None, perm: int = 6) -> QueueData:
        return QueueData(self.name, read, read if write is None else write, perm)

    def broker_data(self, cluster: str = "DefaultCluster", broker_id: int = 0) -> BrokerData:
        return BrokerData(cluster, self.name, {broker_id: self.addr})

    # ------------------------------------------------------------------ store

    def store(self, topic: str, queue_id: int, body: bytes, **props: str) -> MessageExt:
        return self._store(topic, queue_id, body, dict(props), 0, 0)

    def _store(
        self,
        topic: str,
        queue_id: int,
        body: bytes,
        props: dict[str, str],
        sys_flag: int,
        flag: int,
        reconsume_times: int = 0,
    ) -> MessageExt:
        queue = self.queues.setdefault((topic, queue_id), StoredQueue())
        msg = MessageExt(
            topic=topic,
            body=body,
            flag=flag,
            properties=props,
            queue_id=queue_id,
            queue_offset=len(queue.records),
            sys_flag=sys_flag,
            born_timestamp=1_700_000_000_000,
            born_host=("127.0.0.1", 50000),
            store_timestamp=1_700_000_000_000 + len(queue.records),
            store_host=("127.0.0.1", self.server.port),
            commit_log_offset=self.commit_offset,
            reconsume_times=reconsume_times,
        )
        record = encode_stored_message(msg)
        msg.msg_id = offset_msg_id(msg.store_host, self.commit_offset)
        self.commit_offset += len(record)
        queue.records.append(record)
        queue.messages.append(msg)
        self._arrival.set()
        return msg

    def max_offset(self, topic: str, queue_id: int) -> int:
        return len(self.queues.get((topic, queue_id), StoredQueue()).records)

    # ------------------------------------------------------------------ handlers

    def _send(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(SendMessageRequestHeaderV2, cmd.ext_fields)
        body = cmd.body or b""
        self.sends.append(ReceivedSend(cmd.code, header, body))
        code = self.send_codes.pop(0) if self.send_codes else ResponseCode.SUCCESS
        if code not in (0, 10, 11, 12):
            return cmd.response(code, f"scripted failure {code}")
        queue_id = max(header.e, 0)
        props = string_to_properties(header.i or "")
        if cmd.code == RequestCode.SEND_BATCH_MESSAGE:
            stored = [
                self._store(header.b, queue_id, m.body, {**m.properties, **props}, 0, m.flag)
                for m in decode_batch(body, topic=header.b)
            ]
        else:
            stored = [
                self._store(header.b, queue_id, body, props, header.f, header.h, header.j or 0)
            ]
        ext = {
            "msgId": ",".join(m.msg_id for m in stored),
            "queueId": str(queue_id),
            "queueOffset": str(stored[0].queue_offset),
            "MSG_REGION": "DefaultRegion",
            "TRACE_ON": "true",
        }
        return cmd.response(code, ext_fields=ext)

    async def _pull(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        header = from_ext_fields(PullMessageRequestHeader, cmd.ext_fields)
        self.pulls.append(header)
        if header.sys_flag & 0x1:
            key = (header.consumer_group, header.topic, header.queue_id)
            self.offsets[key] = header.commit_offset
        script = self.pull_script.get((header.topic, header.queue_id))
        if script:
            code, next_offset = script.pop(0)
            return self._pull_response(cmd, code, header, next_offset)
        if header.queue_offset == self.max_offset(header.topic, header.queue_id):
            # Long polling, shortened: hold until something arrives or hold_s is over.
            self._arrival.clear()
            try:
                async with asyncio.timeout(self.hold_s):
                    await self._arrival.wait()
            except TimeoutError:
                pass
        return self._serve_pull(cmd, header)

    def _serve_pull(
        self, cmd: RemotingCommand, header: PullMessageRequestHeader
    ) -> RemotingCommand:
        offset, max_offset = header.queue_offset, self.max_offset(header.topic, header.queue_id)
        min_offset = self.min_offsets.get((header.topic, header.queue_id), 0)
        if offset > max_offset:
            return self._pull_response(cmd, ResponseCode.PULL_OFFSET_MOVED, header, max_offset)
        if offset < min_offset:
            return self._pull_response(cmd, ResponseCode.PULL_OFFSET_MOVED, header, min_offset)
        if offset == max_offset:
            return self._pull_response(cmd, ResponseCode.PULL_NOT_FOUND, header, offset)
        records = self.queues[(header.topic, header.queue_id)].records
        chosen = records[offset : offset + header.max_msg_nums]
        response = self._pull_response(cmd, ResponseCode.SUCCESS, header, offset + len(chosen))
        response.body = b"".join(chosen)
        return response

    def _pull_response(
        self, cmd: RemotingCommand, code: int, header: PullMessageRequestHeader, next_offset: int
    ) -> RemotingCommand:
        ext = {
            "suggestWhichBrokerId": "0",
            "nextBeginOffset": str(next_offset),
            "minOffset": str(self.min_offsets.get((header.topic, header.queue_id), 0)),
            "maxOffset": str(self.max_offset(header.topic, header.queue_id)),
        }
        return cmd.response(code, ResponseCode(code).name, ext_fields=ext)

    def _key(self, cmd: RemotingCommand) -> tuple[str, str, int]:
        return (
            cmd.ext("consumerGroup") or "",
            cmd.ext("topic") or "",
            int(cmd.ext("queueId") or 0),
        )

    def _query_offset(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        offset = self.offsets.get(self._key(cmd))
        if offset is None:
            return cmd.response(
                ResponseCode.QUERY_NOT_FOUND, "Not found, maybe this group consumer boot first"
            )
        return cmd.response(ResponseCode.SUCCESS, ext_fields={"offset": str(offset)})

    def _update_offset(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        key = self._key(cmd)
        offset = int(cmd.ext("commitOffset") or 0)
        self.offsets[key] = offset
        self.offset_updates.append((*key, offset, cmd.is_oneway))
        return cmd.response(ResponseCode.SUCCESS)

    def _offset_reply(self, cmd: RemotingCommand, offset: int) -> RemotingCommand:
        return cmd.response(ResponseCode.SUCCESS, ext_fields={"offset": str(offset)})

    def _max_offset(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        return self._offset_reply(
            cmd, self.max_offset(cmd.ext("topic") or "", int(cmd.ext("queueId") or 0))
        )

    def _min_offset(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        key = (cmd.ext("topic") or "", int(cmd.ext("queueId") or 0))
        return self._offset_reply(cmd, self.min_offsets.get(key, 0))

    def _search_offset(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        key = (cmd.ext("topic") or "", int(cmd.ext("queueId") or 0))
        timestamp = int(cmd.ext("timestamp") or 0)
        messages = self.queues.get(key, StoredQueue()).messages
        found = [m.queue_offset for m in messages if m.store_timestamp >= timestamp]
        return self._offset_reply(cmd, found[0] if found else len(messages))

    def _heartbeat(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        heartbeat = decode_heartbeat(cmd.body or b"{}")
        self.heartbeats.append(heartbeat)
        for consumer in heartbeat.consumer_data_set:
            members = self.consumers.setdefault(consumer.group_name, {})
            if members.get(heartbeat.client_id) is not conn:
                members[heartbeat.client_id] = conn
                self._notify(consumer.group_name)
        response = cmd.response(ResponseCode.SUCCESS)
        response.version = self.version
        return response

    def _notify(self, group: str) -> None:
        """NOTIFY_CONSUMER_IDS_CHANGED (oneway) to every member of ``group``."""
        for member in self.consumers.get(group, {}).values():
            if member.is_open:
                member.oneway(
                    request(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {"consumerGroup": group})
                )

    def _unregister(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        client_id = cmd.ext("clientID") or ""
        group = cmd.ext("consumerGroup")
        self.unregisters.append((client_id, cmd.ext("producerGroup"), group))
        if group is not None and self.consumers.get(group, {}).pop(client_id, None) is not None:
            self._notify(group)
        return cmd.response(ResponseCode.SUCCESS)

    def _consumer_list(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        group = cmd.ext("consumerGroup") or ""
        ids = self.consumer_ids.get(group) or sorted(self.consumers.get(group, {}))
        if not ids:
            return cmd.response(ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {group}")
        return cmd.response(ResponseCode.SUCCESS, body=encode_consumer_id_list(ids))

    def _create_topic(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        self.created_topics.append(dict(cmd.ext_fields or {}))
        return cmd.response(ResponseCode.SUCCESS)

    def find_by_commit_offset(self, offset: int) -> MessageExt | None:
        for queue in self.queues.values():
            for msg in queue.messages:
                if msg.commit_log_offset == offset:
                    return msg
        return None

    def _send_back(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        if not self.send_back_supported:
            return cmd.response(ResponseCode.REQUEST_CODE_NOT_SUPPORTED, "not supported")
        header = from_ext_fields(ConsumerSendMsgBackRequestHeader, cmd.ext_fields)
        self.send_backs.append(header)
        msg = self.find_by_commit_offset(header.offset)
        if msg is None:
            return cmd.response(ResponseCode.SYSTEM_ERROR, "no such message")
        props = dict(msg.properties)
        props.setdefault("RETRY_TOPIC", msg.topic)
        max_times = 16 if header.max_reconsume_times is None else header.max_reconsume_times
        dead = msg.reconsume_times >= max_times or header.delay_level < 0
        topic = f"%DLQ%{header.group}" if dead else f"%RETRY%{header.group}"
        self._store(topic, 0, msg.body, props, msg.sys_flag, msg.flag, msg.reconsume_times + 1)
        return cmd.response(ResponseCode.SUCCESS)

    def _lock_body(self, cmd: RemotingCommand) -> tuple[str, str, list[MessageQueue]]:
        body = fastjson.loads(cmd.body or b"{}")
        mqs = [MessageQueue.from_wire(mq) for mq in body.get("mqSet") or []]
        return body["consumerGroup"], body["clientId"], mqs

    def _lock(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        group, client_id, mqs = self._lock_body(cmd)
        self.lock_requests.append((client_id, mqs))
        granted = []
        for mq in mqs:
            holder = self.locks.get((group, mq))
            if mq not in self.refuse_locks and holder in (None, client_id):
                self.locks[(group, mq)] = client_id
                granted.append(mq.to_wire())
        return cmd.response(
            ResponseCode.SUCCESS, body=fastjson.dumps_legacy({"lockOKMQSet": granted})
        )

    def _unlock(self, conn: RemotingConnection, cmd: RemotingCommand) -> RemotingCommand:
        group, client_id, mqs = self._lock_body(cmd)
        self.unlock_requests.append((client_id, mqs))
        for mq in mqs:
            if self.locks.get((group, mq)) == client_id:
                del self.locks[(group, mq)]
        return cmd.response(ResponseCode.SUCCESS)


def route_of(*brokers: FakeBroker, read: int = 4, perm: int = 6) -> TopicRouteData:
    """A route with ``read`` queues on each of ``brokers`` (all masters)."""
    return TopicRouteData(
        queue_datas=[b.queue_data(read, perm=perm) for b in brokers],
        broker_datas=[b.broker_data() for b in brokers],
    )
