"""The pure parts of a push consumer's pull: request header, response reading, flow control.

Owns (protocol.md §3.3, §4.5, §6.3): the PULL_MESSAGE header a push consumer sends (SUSPEND,
COMMIT_OFFSET only towards a master, the subscription expression and version), the mapping of
the response code to a pull status, the decoding of the records (decompressed, compressed bit
cleared), the client-side tag re-filter, MIN_OFFSET/MAX_OFFSET properties, and the flow-control
rule that delays the next pull. Mirrors ``PullAPIWrapper.pullKernelImpl``/``processPullResult``,
``PullSysFlag`` and the checks at the top of ``DefaultMQPushConsumerImpl.pullMessage``. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from pyrmq.client.api import PullResponse
from pyrmq.client.consumer.process_queue import ProcessQueue
from pyrmq.common.message import (
    PROPERTY_MAX_OFFSET,
    PROPERTY_MIN_OFFSET,
    MessageExt,
    clear_compressed_flag,
)
from pyrmq.common.message_codec import MessageDecodeError, decode_stored_messages
from pyrmq.remoting.bodies import MessageQueue
from pyrmq.remoting.codes import ResponseCode
from pyrmq.remoting.headers import PullMessageRequestHeader
from pyrmq.remoting.heartbeat import SubscriptionData

__all__ = [
    "FLAG_COMMIT_OFFSET",
    "FLAG_LITE_PULL",
    "FLAG_SUBSCRIPTION",
    "FLAG_SUSPEND",
    "FlowLimits",
    "PullResult",
    "PullStatus",
    "build_active_pull_header",
    "build_pull_header",
    "flow_control_reason",
    "process_pull_response",
]

#: PullSysFlag bits.
FLAG_COMMIT_OFFSET = 0x1
FLAG_SUSPEND = 0x2
FLAG_SUBSCRIPTION = 0x4
FLAG_LITE_PULL = 0x10

#: brokerSuspendMaxTimeMillis: how long the broker may hold a pull without news.
BROKER_SUSPEND_MAX_MS = 15_000
#: The pull consumers' (``DefaultMQPullConsumer``, ``DefaultLitePullConsumer``) value.
ACTIVE_SUSPEND_MAX_MS = 20_000


class PullStatus(Enum):
    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


_STATUS_BY_CODE = {
    ResponseCode.SUCCESS: PullStatus.FOUND,
    ResponseCode.PULL_NOT_FOUND: PullStatus.NO_NEW_MSG,
    ResponseCode.PULL_RETRY_IMMEDIATELY: PullStatus.NO_MATCHED_MSG,
    ResponseCode.PULL_OFFSET_MOVED: PullStatus.OFFSET_ILLEGAL,
}


@dataclass(slots=True)
class PullResult:
    status: PullStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    suggest_which_broker_id: int
    #: Messages that passed the client's tag filter (FOUND only).
    messages: list[MessageExt] = field(default_factory=list)
    #: How many records the body held before filtering.
    decoded_count: int = 0

    @property
    def msgs(self) -> list[MessageExt]:
        """``msgFoundList`` (the name Java's ``PullResult`` uses)."""
        return self.messages


def build_pull_header(
    group: str,
    mq: MessageQueue,
    offset: int,
    subscription: SubscriptionData,
    max_msg_nums: int,
    commit_offset: int,
    *,
    to_master: bool = True,
    suspend_ms: int = BROKER_SUSPEND_MAX_MS,
) -> PullMessageRequestHeader:
    """A long-polling pull of ``mq`` from ``offset``; ``commit_offset`` > 0 piggy-backs the
    group's progress, but only towards a master (a slave must not store offsets)."""
    sys_flag = FLAG_SUSPEND
    if commit_offset > 0 and to_master:
        sys_flag |= FLAG_COMMIT_OFFSET
    return PullMessageRequestHeader(
        consumer_group=group,
        topic=mq.topic,
        queue_id=mq.queue_id,
        queue_offset=offset,
        max_msg_nums=max_msg_nums,
        sys_flag=sys_flag,
        commit_offset=commit_offset if sys_flag & FLAG_COMMIT_OFFSET else 0,
        suspend_timeout_millis=suspend_ms,
        sub_version=subscription.sub_version,
        subscription=subscription.sub_string,
        expression_type=subscription.expression_type,
    )


def build_active_pull_header(
    group: str,
    mq: MessageQueue,
    offset: int,
    subscription: SubscriptionData,
    max_msg_nums: int,
    *,
    block: bool,
    lite: bool = False,
    suspend_ms: int = ACTIVE_SUSPEND_MAX_MS,
) -> PullMessageRequestHeader:
    """A pull consumer's request: the subscription travels with it (SUBSCRIPTION, so the broker
    needs no heartbeat copy), no offset commit, SUSPEND only when ``block``; the lite pull
    consumer adds LITE_PULL (4.9 brokers ignore it). Like Java, TAG subscriptions send
    ``subVersion`` 0 and ``suspendTimeoutMillis`` goes out even for a non-blocking pull."""
    sys_flag = FLAG_SUBSCRIPTION | (FLAG_SUSPEND if block else 0) | (FLAG_LITE_PULL if lite else 0)
    return PullMessageRequestHeader(
        consumer_group=group,
        topic=mq.topic,
        queue_id=mq.queue_id,
        queue_offset=offset,
        max_msg_nums=max_msg_nums,
        sys_flag=sys_flag,
        commit_offset=0,
        suspend_timeout_millis=suspend_ms,
        sub_version=0 if subscription.is_tag_type else subscription.sub_version,
        subscription=subscription.sub_string,
        expression_type=subscription.expression_type,
    )


def process_pull_response(response: PullResponse, subscription: SubscriptionData) -> PullResult:
    """Read a pull response: status, offsets and (FOUND) the messages we subscribed to."""
    header = response.header
    result = PullResult(
        status=_STATUS_BY_CODE[ResponseCode(response.code)],
        next_begin_offset=header.next_begin_offset,
        min_offset=header.min_offset,
        max_offset=header.max_offset,
        suggest_which_broker_id=header.suggest_which_broker_id,
    )
    if result.status is not PullStatus.FOUND:
        return result
    try:
        # Like MessageDecoder.decodes: a bad record ends the list, the ones before it count.
        records = decode_stored_messages(response.body, decompress=True, stop_at_error=True)
    except MessageDecodeError:
        records = []
    result.decoded_count = len(records)
    min_text, max_text = str(header.min_offset), str(header.max_offset)
    for msg in records:
        # The broker filters by tag hash only: colliding tags must be dropped here.
        if not subscription.matches_tag(msg.tags):
            continue
        msg.sys_flag = clear_compressed_flag(msg.sys_flag)  # the body is plain text now
        msg.properties[PROPERTY_MIN_OFFSET] = min_text
        msg.properties[PROPERTY_MAX_OFFSET] = max_text
        result.messages.append(msg)
    return result


@dataclass(slots=True, frozen=True)
class FlowLimits:
    """Per-queue pull limits: ``pullThresholdForQueue``, ``pullThresholdSizeForQueue`` (MiB)
    and ``consumeConcurrentlyMaxSpan``."""

    max_cached_msgs: int = 1000
    max_cached_mib: int = 100
    max_span: int = 2000


def flow_control_reason(
    pq: ProcessQueue, limits: FlowLimits, *, check_span: bool = True
) -> str | None:
    """Why the next pull of this queue must wait (50 ms in Java), or None to pull now. The
    span rule is for concurrent consumption only (``check_span=False`` when orderly)."""
    if pq.msg_count > limits.max_cached_msgs:
        return f"{pq.msg_count} cached messages > {limits.max_cached_msgs}"
    if pq.msg_size > limits.max_cached_mib * 1024 * 1024:
        return f"{pq.msg_size} cached bytes > {limits.max_cached_mib} MiB"
    if check_span and pq.max_span > limits.max_span:
        return f"consume span {pq.max_span} > {limits.max_span}"
    return None
