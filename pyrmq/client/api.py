"""One async method per request code a client sends: typed header in, result or error out.

Owns the request/response shapes of the client side (protocol.md §3.1-§3.3, §3.5.11): which
code, which header, which response codes are results and which are errors, how bodies decode.
Holds no state but the NameServer list; the caller chooses broker addresses. Mirrors
``MQClientAPIImpl``. Errors: transport failures raise ``RemotingError`` subclasses, unexpected
response codes raise the ``MQResponseError`` subclass ``error_for`` maps them to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyrmq.remoting import fastjson
from pyrmq.remoting.bodies import (
    ClusterInfo,
    MessageQueue,
    TopicRouteData,
    decode_cluster_info,
    decode_topic_route_data,
)
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand, request
from pyrmq.remoting.errors import (
    RemotingConnectError,
    RemotingError,
    RemotingTimeoutError,
    error_for,
)
from pyrmq.remoting.headers import (
    ConsumerSendMsgBackRequestHeader,
    CreateTopicRequestHeader,
    GetConsumerListByGroupRequestHeader,
    GetRouteInfoRequestHeader,
    OffsetResponseHeader,
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    SearchOffsetRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    TopicQueueRequestHeader,
    UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
    from_ext_fields,
    to_ext_fields,
)
from pyrmq.remoting.heartbeat import HeartbeatData, decode_consumer_id_list, encode_heartbeat

__all__ = [
    "PULL_RESULT_CODES",
    "SEND_RESULT_CODES",
    "ClientAPI",
    "PullResponse",
    "SendResponse",
    "decode_lock_batch_response",
    "encode_lock_batch_body",
    "parse_namesrv_addrs",
]

log = logging.getLogger(__name__)

#: mqClientApiTimeout: metadata calls.
API_TIMEOUT_S = 3.0
#: Send codes that carry a stored message (the rest are errors).
SEND_RESULT_CODES = (
    ResponseCode.SUCCESS,
    ResponseCode.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE,
)
#: Pull codes whose response header the client reads (protocol.md §3.3).
PULL_RESULT_CODES = (
    ResponseCode.SUCCESS,
    ResponseCode.PULL_NOT_FOUND,
    ResponseCode.PULL_RETRY_IMMEDIATELY,
    ResponseCode.PULL_OFFSET_MOVED,
)
DEFAULT_REGION = "DefaultRegion"


def parse_namesrv_addrs(namesrv_addr: str) -> list[str]:
    """``ip:port;ip:port`` (also comma separated) -> the addresses, in order."""
    addrs = [a.strip() for a in namesrv_addr.replace(",", ";").split(";") if a.strip()]
    if not addrs:
        raise ValueError(f"no NameServer address in {namesrv_addr!r}")
    return addrs


@dataclass(slots=True, frozen=True)
class SendResponse:
    """A send the broker stored: code 0, 10, 11 or 12, and what the header says."""

    code: int
    header: SendMessageResponseHeader
    region_id: str = DEFAULT_REGION
    trace_on: bool = True


@dataclass(slots=True, frozen=True)
class PullResponse:
    """A pull answered with 0, 19, 20 or 21; ``body`` holds the records (code 0 only)."""

    code: int
    header: PullMessageResponseHeader
    body: bytes


class ClientAPI:
    """The client's requests over one shared ``RemotingClient``."""

    def __init__(self, remoting: RemotingClient, namesrv_addrs: list[str]) -> None:
        self.remoting = remoting
        self.namesrv_addrs = list(namesrv_addrs)
        #: The NameServer that answered last; tried first next time (Java keeps one).
        self._namesrv_index = 0

    # ------------------------------------------------------------------ NameServer

    async def invoke_namesrv(
        self, cmd: RemotingCommand, timeout_s: float = API_TIMEOUT_S
    ) -> RemotingCommand:
        """Send to the current NameServer; on a transport failure try the others in order."""
        last: RemotingError | None = None
        count = len(self.namesrv_addrs)
        for step in range(count):
            index = (self._namesrv_index + step) % count
            addr = self.namesrv_addrs[index]
            try:
                response = await self.remoting.invoke(addr, _fresh(cmd), timeout_s)
            except (RemotingConnectError, RemotingTimeoutError) as exc:
                log.warning("NameServer %s failed: %s", addr, exc)
                last = exc
                continue
            self._namesrv_index = index
            return response
        assert last is not None
        raise last

    async def get_route_info(self, topic: str, timeout_s: float = API_TIMEOUT_S) -> TopicRouteData:
        """GET_ROUTEINFO_BY_TOPIC; TopicNotExistError when the NameServer has no route."""
        header = GetRouteInfoRequestHeader(topic, accept_standard_json_only=True)
        cmd = request(RequestCode.GET_ROUTEINFO_BY_TOPIC, to_ext_fields(header))
        response = _ok(await self.invoke_namesrv(cmd, timeout_s))
        if not response.body:
            raise error_for(ResponseCode.TOPIC_NOT_EXIST, f"empty route for {topic}")
        return decode_topic_route_data(response.body)

    async def get_cluster_info(self, timeout_s: float = API_TIMEOUT_S) -> ClusterInfo:
        cmd = request(RequestCode.GET_BROKER_CLUSTER_INFO)
        response = _ok(await self.invoke_namesrv(cmd, timeout_s))
        return decode_cluster_info(response.body or b"{}")

    # ------------------------------------------------------------------ producer

    async def send_message(
        self,
        addr: str,
        header: SendMessageRequestHeaderV2,
        body: bytes,
        timeout_s: float,
        *,
        batch: bool = False,
    ) -> SendResponse:
        """SEND_MESSAGE_V2 (310), or SEND_BATCH_MESSAGE (320) for an encoded batch body."""
        code = RequestCode.SEND_BATCH_MESSAGE if batch else RequestCode.SEND_MESSAGE_V2
        cmd = request(code, to_ext_fields(header), body)
        response = await self.remoting.invoke(addr, cmd, timeout_s)
        if response.code not in SEND_RESULT_CODES:
            raise error_for(response.code, response.remark)
        ext = response.ext_fields or {}
        return SendResponse(
            code=response.code,
            header=from_ext_fields(SendMessageResponseHeader, ext),
            region_id=ext.get("MSG_REGION") or DEFAULT_REGION,
            trace_on=ext.get("TRACE_ON", "true").lower() != "false",
        )

    async def send_message_oneway(
        self, addr: str, header: SendMessageRequestHeaderV2, body: bytes, *, batch: bool = False
    ) -> None:
        code = RequestCode.SEND_BATCH_MESSAGE if batch else RequestCode.SEND_MESSAGE_V2
        await self.remoting.oneway(addr, request(code, to_ext_fields(header), body, oneway=True))

    # ------------------------------------------------------------------ consumer

    async def pull_message(
        self, addr: str, header: PullMessageRequestHeader, timeout_s: float
    ) -> PullResponse:
        """PULL_MESSAGE (11); codes other than 0/19/20/21 raise."""
        cmd = request(RequestCode.PULL_MESSAGE, to_ext_fields(header))
        response = await self.remoting.invoke(addr, cmd, timeout_s)
        if response.code not in PULL_RESULT_CODES:
            raise error_for(response.code, response.remark)
        return PullResponse(
            response.code,
            from_ext_fields(PullMessageResponseHeader, response.ext_fields),
            response.body or b"",
        )

    async def query_consumer_offset(
        self,
        addr: str,
        header: QueryConsumerOffsetRequestHeader,
        timeout_s: float = API_TIMEOUT_S,
    ) -> int:
        """QUERY_CONSUMER_OFFSET (14); QueryNotFoundError when the group has no offset."""
        cmd = request(RequestCode.QUERY_CONSUMER_OFFSET, to_ext_fields(header))
        response = await self.remoting.invoke_ok(addr, cmd, timeout_s)
        return from_ext_fields(QueryConsumerOffsetResponseHeader, response.ext_fields).offset

    async def update_consumer_offset(
        self,
        addr: str,
        header: UpdateConsumerOffsetRequestHeader,
        timeout_s: float = API_TIMEOUT_S,
    ) -> None:
        """UPDATE_CONSUMER_OFFSET (15), waiting for the answer."""
        cmd = request(RequestCode.UPDATE_CONSUMER_OFFSET, to_ext_fields(header))
        await self.remoting.invoke_ok(addr, cmd, timeout_s)

    async def update_consumer_offset_oneway(
        self, addr: str, header: UpdateConsumerOffsetRequestHeader
    ) -> None:
        """UPDATE_CONSUMER_OFFSET (15) oneway, as the periodic persistence sends it."""
        cmd = request(RequestCode.UPDATE_CONSUMER_OFFSET, to_ext_fields(header), oneway=True)
        await self.remoting.oneway(addr, cmd)

    async def get_max_offset(
        self, addr: str, topic: str, queue_id: int, timeout_s: float = API_TIMEOUT_S
    ) -> int:
        """GET_MAX_OFFSET (30): the offset the next message of the queue will get."""
        return await self._offset(RequestCode.GET_MAX_OFFSET, addr, topic, queue_id, timeout_s)

    async def get_min_offset(
        self, addr: str, topic: str, queue_id: int, timeout_s: float = API_TIMEOUT_S
    ) -> int:
        """GET_MIN_OFFSET (31)."""
        return await self._offset(RequestCode.GET_MIN_OFFSET, addr, topic, queue_id, timeout_s)

    async def _offset(
        self, code: int, addr: str, topic: str, queue_id: int, timeout_s: float
    ) -> int:
        cmd = request(code, to_ext_fields(TopicQueueRequestHeader(topic, queue_id)))
        response = await self.remoting.invoke_ok(addr, cmd, timeout_s)
        return from_ext_fields(OffsetResponseHeader, response.ext_fields).offset

    async def search_offset(
        self,
        addr: str,
        topic: str,
        queue_id: int,
        timestamp_ms: int,
        timeout_s: float = API_TIMEOUT_S,
    ) -> int:
        """SEARCH_OFFSET_BY_TIMESTAMP (29): first offset stored at or after ``timestamp_ms``."""
        header = SearchOffsetRequestHeader(topic, queue_id, timestamp_ms)
        cmd = request(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, to_ext_fields(header))
        response = await self.remoting.invoke_ok(addr, cmd, timeout_s)
        return from_ext_fields(OffsetResponseHeader, response.ext_fields).offset

    async def consumer_send_msg_back(
        self,
        addr: str,
        header: ConsumerSendMsgBackRequestHeader,
        timeout_s: float = 5.0,
    ) -> None:
        """CONSUMER_SEND_MSG_BACK (36): the broker re-stores a failed message for a retry (or
        the DLQ). Any code but SUCCESS raises (REQUEST_CODE_NOT_SUPPORTED on old brokers)."""
        cmd = request(RequestCode.CONSUMER_SEND_MSG_BACK, to_ext_fields(header))
        await self.remoting.invoke_ok(addr, cmd, timeout_s)

    async def lock_batch_mq(
        self,
        addr: str,
        group: str,
        client_id: str,
        mqs: list[MessageQueue],
        timeout_s: float = 1.0,
    ) -> set[MessageQueue]:
        """LOCK_BATCH_MQ (41): the subset of ``mqs`` this client now holds (§3.5.6)."""
        body = encode_lock_batch_body(group, client_id, mqs)
        cmd = request(RequestCode.LOCK_BATCH_MQ, body=body)
        response = await self.remoting.invoke_ok(addr, cmd, timeout_s)
        return decode_lock_batch_response(response.body or b"{}")

    async def unlock_batch_mq(
        self,
        addr: str,
        group: str,
        client_id: str,
        mqs: list[MessageQueue],
        timeout_s: float = 1.0,
        *,
        oneway: bool = False,
    ) -> None:
        """UNLOCK_BATCH_MQ (42)."""
        body = encode_lock_batch_body(group, client_id, mqs)
        if oneway:
            cmd = request(RequestCode.UNLOCK_BATCH_MQ, body=body, oneway=True)
            await self.remoting.oneway(addr, cmd)
        else:
            cmd = request(RequestCode.UNLOCK_BATCH_MQ, body=body)
            await self.remoting.invoke_ok(addr, cmd, timeout_s)

    # ------------------------------------------------------------------ client registration

    async def send_heartbeat(
        self, addr: str, heartbeat: HeartbeatData, timeout_s: float = API_TIMEOUT_S
    ) -> int:
        """HEART_BEAT (34); returns the broker's version (the response's ``version``)."""
        cmd = request(RequestCode.HEART_BEAT, body=encode_heartbeat(heartbeat))
        response = await self.remoting.invoke_ok(addr, cmd, timeout_s)
        return response.version

    async def unregister_client(
        self,
        addr: str,
        client_id: str,
        producer_group: str | None = None,
        consumer_group: str | None = None,
        timeout_s: float = API_TIMEOUT_S,
    ) -> None:
        """UNREGISTER_CLIENT (35) for one group of this client."""
        header = UnregisterClientRequestHeader(client_id, producer_group, consumer_group)
        cmd = request(RequestCode.UNREGISTER_CLIENT, to_ext_fields(header))
        await self.remoting.invoke_ok(addr, cmd, timeout_s)

    async def get_consumer_id_list(
        self, addr: str, group: str, timeout_s: float = API_TIMEOUT_S
    ) -> list[str]:
        """GET_CONSUMER_LIST_BY_GROUP (38); SYSTEM_ERROR (raised) when nobody is online."""
        header = GetConsumerListByGroupRequestHeader(group)
        cmd = request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, to_ext_fields(header))
        response = await self.remoting.invoke_ok(addr, cmd, timeout_s)
        return decode_consumer_id_list(response.body or b"{}")

    # ------------------------------------------------------------------ admin

    async def create_topic(
        self, addr: str, header: CreateTopicRequestHeader, timeout_s: float = API_TIMEOUT_S
    ) -> None:
        """UPDATE_AND_CREATE_TOPIC (17), sent to a broker (master)."""
        cmd = request(RequestCode.UPDATE_AND_CREATE_TOPIC, to_ext_fields(header))
        await self.remoting.invoke_ok(addr, cmd, timeout_s)


def encode_lock_batch_body(group: str, client_id: str, mqs: list[MessageQueue]) -> bytes:
    """LockBatchRequestBody / UnlockBatchRequestBody as fastjson writes them (4.9.x fields)."""
    wire = {
        "clientId": client_id,
        "consumerGroup": group,
        "mqSet": [mq.to_wire() for mq in sorted(mqs)],
    }
    return fastjson.dumps_legacy(wire)


def decode_lock_batch_response(data: bytes) -> set[MessageQueue]:
    """LockBatchResponseBody: ``{"lockOKMQSet":[MessageQueue,...]}``."""
    body = fastjson.loads(data)
    if not isinstance(body, dict):
        raise ValueError("lock response body is not a JSON object")
    return {MessageQueue.from_wire(mq) for mq in body.get("lockOKMQSet") or []}


def _ok(response: RemotingCommand) -> RemotingCommand:
    if response.code != ResponseCode.SUCCESS:
        raise error_for(response.code, response.remark)
    return response


def _fresh(cmd: RemotingCommand) -> RemotingCommand:
    """A copy to send again: the connection stamps opaque and flag on what it sends."""
    return RemotingCommand(
        code=cmd.code,
        flag=cmd.flag,
        ext_fields=None if cmd.ext_fields is None else dict(cmd.ext_fields),
        body=cmd.body,
        serialize_type=cmd.serialize_type,
    )
