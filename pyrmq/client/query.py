"""Message queries: by key, by offset msgId, by client msgId (UNIQ_KEY), offset by time.

Mirrors the query half of 4.9.8 ``MQAdminImpl`` (``queryMessage``, ``viewMessage``,
``queryMessageByUniqKey``, ``searchOffset``) and the ``viewMessage(topic, msgId)`` of the Java
producer and consumers (protocol.md §3.3 QUERY_MESSAGE / VIEW_MESSAGE_BY_ID /
SEARCH_OFFSET_BY_TIMESTAMP, §4.7 ids). Queries go to one broker of every broker name in the
topic's route (the master if it is up), concurrently; the index is hash based, so answers are
filtered again here: a key query keeps messages of the topic whose KEYS hold the key, a
uniq-key query keeps the earliest stored message whose client msgId is the key. Works over a
``ClientInstance`` (routes, connections) whether or not it was started; ``QueryClient`` owns
one. Returned messages are decoded as a consumer sees them (body decompressed); ``msg_id`` is
the offset msgId, the client msgId is ``uniq_key``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance
from pyrmq.common.message import (
    KEY_SEPARATOR,
    PROPERTY_KEYS,
    MessageExt,
    clear_compressed_flag,
)
from pyrmq.common.message_codec import (
    MessageDecodeError,
    decode_offset_msg_id,
    decode_stored_message,
    decode_stored_messages,
    unique_id_timestamp,
)
from pyrmq.remoting.bodies import MessageQueue, TopicRouteData
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import request
from pyrmq.remoting.errors import RemotingError
from pyrmq.remoting.headers import (
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    ViewMessageRequestHeader,
    from_ext_fields,
    to_ext_fields,
)

__all__ = [
    "QueryClient",
    "client_msg_id",
    "query_message",
    "query_message_by_uniq_key",
    "search_offset",
    "view_message",
    "view_message_by_id",
]

log = logging.getLogger(__name__)

#: MixAll.UNIQUE_MSG_QUERY_FLAG: the ext field that marks a uniq-key query.
UNIQUE_KEY_QUERY: Final = "_UNIQUE_KEY_QUERY"
#: queryMessageByUniqKey: how many candidates to ask for, and the open end of the range.
UNIQ_KEY_MAX_NUM: Final = 32
LONG_MAX: Final = 2**63 - 1
#: The uniq key's own timestamp is approximate; Java starts the range 1 s before it.
UNIQ_KEY_SLACK_MS: Final = 1000
#: Java gives each broker's QUERY_MESSAGE three times the client timeout.
QUERY_TIMEOUT_FACTOR: Final = 3


# ----------------------------------------------------------------------------------- helpers


def _decode_records(body: bytes) -> list[MessageExt]:
    """Records of a query/view body as ``MessageDecoder.decodes`` gives them to the client:
    bodies inflated, a bad record ends the list."""
    messages = decode_stored_messages(body, decompress=True, stop_at_error=True)
    for msg in messages:
        msg.sys_flag = clear_compressed_flag(msg.sys_flag)  # the body is plain now
    return messages


def client_msg_id(msg: MessageExt) -> str:
    """``MessageClientExt.getMsgId``: the UNIQ_KEY, or the offset msgId without one."""
    return msg.uniq_key or msg.msg_id


def _has_key(msg: MessageExt, topic: str, key: str) -> bool:
    keys = msg.properties.get(PROPERTY_KEYS)
    return keys is not None and msg.topic == topic and key in keys.split(KEY_SEPARATOR)


def _query_addrs(route: TopicRouteData) -> list[str]:
    """One address per broker name: its master, else a slave (``selectBrokerAddr``)."""
    addrs = (broker.select_broker_addr() for broker in route.broker_datas)
    return [addr for addr in addrs if addr is not None]


async def _route(instance: ClientInstance, topic: str) -> TopicRouteData:
    route = instance.route_table.get(topic)
    if route is None and await instance.update_topic_route(topic):
        route = instance.route_table.get(topic)
    if route is None:
        raise MQClientError(
            f"The topic[{topic}] not matched route info", ResponseCode.TOPIC_NOT_EXIST
        )
    return route


async def _query_broker(
    instance: ClientInstance, addr: str, header: QueryMessageRequestHeader, unique: bool
) -> list[MessageExt]:
    """One broker's candidates; a broker that fails or finds nothing gives none (Java logs
    and goes on with the others)."""
    ext = to_ext_fields(header)
    ext[UNIQUE_KEY_QUERY] = "true" if unique else "false"
    timeout_s = instance.config.api_timeout_s * QUERY_TIMEOUT_FACTOR
    try:
        response = await instance.remoting.invoke(
            addr, request(RequestCode.QUERY_MESSAGE, ext), timeout_s
        )
    except RemotingError as exc:
        log.warning("QUERY_MESSAGE %s on %s failed: %s", header.key, addr, exc)
        return []
    if response.code != ResponseCode.SUCCESS:
        log.debug("QUERY_MESSAGE %s on %s: %s %s", header.key, addr, response.code, response.remark)
        return []
    try:
        from_ext_fields(QueryMessageResponseHeader, response.ext_fields)
    except ValueError as exc:  # Java drops an answer whose header does not decode
        log.warning("QUERY_MESSAGE answer from %s has a bad header: %s", addr, exc)
        return []
    return _decode_records(response.body or b"")


async def _query(
    instance: ClientInstance,
    topic: str,
    key: str,
    max_num: int,
    begin_ms: int,
    end_ms: int,
    unique: bool,
) -> list[MessageExt]:
    """Every broker's candidates for ``topic#key``, in route order."""
    route = await _route(instance, topic)
    header = QueryMessageRequestHeader(topic, key, max_num, begin_ms, end_ms)
    answers = await asyncio.gather(
        *(_query_broker(instance, addr, header, unique) for addr in _query_addrs(route))
    )
    return [msg for answer in answers for msg in answer]


# ----------------------------------------------------------------------------------- API


async def query_message(
    instance: ClientInstance, topic: str, key: str, max_num: int, begin_ms: int, end_ms: int
) -> list[MessageExt]:
    """Messages of ``topic`` with ``key`` among their KEYS, stored in [begin_ms, end_ms]
    (``MQAdminImpl.queryMessage``); each broker returns at most ``max_num``. Empty when none
    (Java throws NO_MESSAGE); MQClientError when the topic has no route."""
    candidates = await _query(instance, topic, key, max_num, begin_ms, end_ms, unique=False)
    matched = [msg for msg in candidates if _has_key(msg, topic, key)]
    if len(matched) < len(candidates):
        log.debug(
            "query %s#%s: %d hash collisions dropped", topic, key, len(candidates) - len(matched)
        )
    return matched


async def query_message_by_uniq_key(
    instance: ClientInstance, topic: str, uniq_key: str
) -> MessageExt | None:
    """The message whose client msgId (UNIQ_KEY) is ``uniq_key``: the earliest stored one if
    it was stored more than once (a retried send), None if none is found."""
    try:
        begin_ms = unique_id_timestamp(uniq_key, instance.clock.now_ms()) - UNIQ_KEY_SLACK_MS
    except (ValueError, IndexError):  # not a pyrmq/Java uniq key: search all the index
        begin_ms = 0
    candidates = await _query(
        instance, topic, uniq_key, UNIQ_KEY_MAX_NUM, begin_ms, LONG_MAX, unique=True
    )
    earliest: MessageExt | None = None
    for msg in candidates:
        if client_msg_id(msg) != uniq_key:
            continue  # another key with the same hash
        if earliest is None or msg.store_timestamp < earliest.store_timestamp:
            earliest = msg
    return earliest


async def view_message(instance: ClientInstance, offset_msg_id: str) -> MessageExt:
    """The message an offset msgId names, from the broker the id names
    (``MQAdminImpl.viewMessage``). MQClientError (NO_MESSAGE) if it is not an offset msgId;
    the broker's error (``MQResponseError``) if it no longer has the message."""
    try:
        host, port, offset = decode_offset_msg_id(offset_msg_id)
    except MessageDecodeError as exc:
        raise MQClientError(
            f"query message by id finished, but no message: {exc}", ResponseCode.NO_MESSAGE
        ) from None
    cmd = request(RequestCode.VIEW_MESSAGE_BY_ID, to_ext_fields(ViewMessageRequestHeader(offset)))
    response = await instance.remoting.invoke_ok(
        f"{host}:{port}", cmd, instance.config.api_timeout_s
    )
    try:
        msg, _ = decode_stored_message(response.body or b"", decompress=True)
    except MessageDecodeError as exc:
        raise MQClientError(f"VIEW_MESSAGE_BY_ID answer does not decode: {exc}") from None
    msg.sys_flag = clear_compressed_flag(msg.sys_flag)
    return msg


async def view_message_by_id(instance: ClientInstance, topic: str, msg_id: str) -> MessageExt:
    """Either kind of id (the producer's/consumer's ``viewMessage(topic, msgId)``): as an
    offset msgId first, then as a UNIQ_KEY. MQClientError (NO_MESSAGE) when neither finds it."""
    try:
        return await view_message(instance, msg_id)
    except (MQClientError, RemotingError) as exc:
        log.debug("%s is not a viewable offset msgId (%s): trying it as a uniq key", msg_id, exc)
    msg = await query_message_by_uniq_key(instance, topic, msg_id)
    if msg is None:
        raise MQClientError(
            f"query message by id finished, but no message: {msg_id}", ResponseCode.NO_MESSAGE
        )
    return msg


async def search_offset(instance: ClientInstance, mq: MessageQueue, timestamp_ms: int) -> int:
    """SEARCH_OFFSET_BY_TIMESTAMP on ``mq``'s master: the first offset stored at or after
    ``timestamp_ms`` (the max offset if all are older)."""
    return await instance.search_offset(mq, timestamp_ms)


class QueryClient:
    """``async with QueryClient("127.0.0.1:9876") as q: await q.query_message(...)``.

    Owns a ``ClientInstance`` it never starts (no heartbeat, no timers): routes are fetched on
    demand, connections opened on first use.
    """

    def __init__(self, namesrv_addr: str, *, timeout_s: float = 3.0) -> None:
        self.instance = ClientInstance(namesrv_addr, "query")
        self.instance.config.api_timeout_s = timeout_s

    async def close(self) -> None:
        await self.instance.shutdown()

    async def __aenter__(self) -> QueryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def query_message(
        self, topic: str, key: str, max_num: int, begin_ms: int, end_ms: int
    ) -> list[MessageExt]:
        return await query_message(self.instance, topic, key, max_num, begin_ms, end_ms)

    async def query_message_by_uniq_key(self, topic: str, uniq_key: str) -> MessageExt | None:
        return await query_message_by_uniq_key(self.instance, topic, uniq_key)

    async def view_message(self, offset_msg_id: str) -> MessageExt:
        return await view_message(self.instance, offset_msg_id)

    async def view_message_by_id(self, topic: str, msg_id: str) -> MessageExt:
        return await view_message_by_id(self.instance, topic, msg_id)

    async def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> int:
        return await search_offset(self.instance, mq, timestamp_ms)
