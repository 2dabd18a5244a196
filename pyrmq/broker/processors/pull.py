"""PULL_MESSAGE (11): read a queue for a consumer, hold the request while there is nothing new.

Mirrors 4.9.8 ``PullMessageProcessor`` (protocol.md §3.3, §6.3, §6.4): permission, group,
topic and subscription checks (the heartbeat's copy, or the request's with the SUBSCRIPTION
flag), tag filtering by hash code, the store status -> response code table, the response header
on every answer, ``suggestWhichBrokerId``, the commit-offset piggy-back, and long polling:
a PULL_NOT_FOUND with the SUSPEND flag is parked in ``long_polling`` and answered when a message
arrives or the hold time is over (re-executed without suspending again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyrmq.broker.filter import (
    ExpressionMessageFilter,
    SqlFilterCache,
    build_filter,
    filter_error_code,
)
from pyrmq.common.constants import MASTER_ID, PERM_READ
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import RemotingCommand
from pyrmq.remoting.connection import RemotingConnection
from pyrmq.remoting.headers import (
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    from_ext_fields,
    to_ext_fields,
)
from pyrmq.remoting.heartbeat import SubscriptionData, build_subscription_data
from pyrmq.store.config import BrokerRole
from pyrmq.store.results import GetMessageResult, GetMessageStatus

if TYPE_CHECKING:
    from pyrmq.broker.controller import BrokerController

log = logging.getLogger(__name__)

FLAG_COMMIT_OFFSET = 0x1
FLAG_SUSPEND = 0x2
FLAG_SUBSCRIPTION = 0x4
#: Some Go clients send a Go Duration (ns) as suspendTimeoutMillis; hold at most this long.
MAX_SUSPEND_MS = 30_000
APPLY_TOPIC_FAQ = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."

_STATUS_TO_CODE = {
    GetMessageStatus.FOUND: ResponseCode.SUCCESS,
    GetMessageStatus.MESSAGE_WAS_REMOVING: ResponseCode.PULL_RETRY_IMMEDIATELY,
    GetMessageStatus.NO_MATCHED_MESSAGE: ResponseCode.PULL_RETRY_IMMEDIATELY,
    GetMessageStatus.OFFSET_FOUND_NULL: ResponseCode.PULL_NOT_FOUND,
    GetMessageStatus.OFFSET_OVERFLOW_BADLY: ResponseCode.PULL_OFFSET_MOVED,
    GetMessageStatus.OFFSET_OVERFLOW_ONE: ResponseCode.PULL_NOT_FOUND,
    GetMessageStatus.OFFSET_TOO_SMALL: ResponseCode.PULL_OFFSET_MOVED,
}


@dataclass(frozen=True, slots=True)
class _Refused:
    code: int
    remark: str


@dataclass(slots=True)
class PullRequest:
    """A held pull (``longpolling.PullRequest``)."""

    conn: RemotingConnection
    request: RemotingCommand
    suspend_timestamp_ms: int
    timeout_ms: int
    pull_from_this_offset: int
    message_filter: ExpressionMessageFilter


class PullMessageProcessor:
    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        self._filter_cache = SqlFilterCache()

    def handlers(self) -> dict[int, object]:
        return {RequestCode.PULL_MESSAGE: self.process}

    def process(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand | None:
        return self.process_request(conn, req, broker_allow_suspend=True)

    def process_request(
        self, conn: RemotingConnection, req: RemotingCommand, broker_allow_suspend: bool
    ) -> RemotingCommand | None:
        header = from_ext_fields(PullMessageRequestHeader, req.ext_fields)
        response = req.response(ResponseCode.SYSTEM_ERROR)
        checked = self._check(conn, header)
        if isinstance(checked, _Refused):
            response.code, response.remark = checked.code, checked.remark
            return response
        _, group_config, message_filter = checked
        store = self.broker.message_store
        result = store.get_message(
            header.consumer_group,
            header.topic,
            header.queue_id,
            header.queue_offset,
            header.max_msg_nums,
            message_filter,
        )
        if result is None:
            response.code = ResponseCode.SYSTEM_ERROR
            response.remark = "store getMessage return null"
            return response
        try:
            answered = self._answer(
                conn,
                req,
                header,
                response,
                result,
                group_config,
                message_filter,
                broker_allow_suspend,
            )
        finally:
            result.release()
        self._commit_offset(conn, header, broker_allow_suspend)
        return answered

    # ------------------------------------------------------------------ checks

    def _check(
        self, conn: RemotingConnection, header: PullMessageRequestHeader
    ) -> _Refused | tuple[SubscriptionData, object, ExpressionMessageFilter]:
        broker = self.broker
        if not broker.broker_config.broker_permission & PERM_READ:
            return _Refused(
                ResponseCode.NO_PERMISSION,
                f"the broker[{broker.broker_config.broker_i_p1}] pulling message is forbidden",
            )
        group = header.consumer_group
        group_config = broker.subscription_group_manager.find_subscription_group_config(group)
        if group_config is None:
            return _Refused(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group [{group}] does not exist, apply first please!"
                f"{APPLY_TOPIC_FAQ}",
            )
        if not group_config.consume_enable:
            return _Refused(
                ResponseCode.NO_PERMISSION, f"subscription group no permission, {group}"
            )
        topic_config = broker.topic_config_manager.select(header.topic)
        if topic_config is None:
            return _Refused(
                ResponseCode.TOPIC_NOT_EXIST,
                f"topic[{header.topic}] not exist, apply first please!{APPLY_TOPIC_FAQ}",
            )
        if not topic_config.perm & PERM_READ:
            return _Refused(
                ResponseCode.NO_PERMISSION,
                f"the topic[{header.topic}] pulling message is forbidden",
            )
        if header.queue_id < 0 or header.queue_id >= topic_config.read_queue_nums:
            return _Refused(
                ResponseCode.SYSTEM_ERROR,
                f"queueId[{header.queue_id}] is illegal, topic:[{header.topic}] "
                f"topicConfig.readQueueNums:[{topic_config.read_queue_nums}] "
                f"consumer:[{conn.peer}]",
            )
        subscription = self._subscription(header)
        if isinstance(subscription, _Refused):
            return subscription
        built = build_filter(
            subscription,
            broker.broker_config.enable_property_filter,
            group=header.consumer_group,
            cache=self._filter_cache,
        )
        if isinstance(built, str):
            return _Refused(filter_error_code(built), built)
        return subscription, group_config, built

    def _subscription(self, header: PullMessageRequestHeader) -> SubscriptionData | _Refused:
        if header.sys_flag & FLAG_SUBSCRIPTION:
            try:
                return build_subscription_data(
                    header.topic,
                    header.subscription or "*",
                    expression_type=header.expression_type or "TAG",
                    sub_version=header.sub_version,
                )
            except ValueError:  # an empty SQL92 expression
                return _Refused(
                    ResponseCode.SUBSCRIPTION_PARSE_FAILED,
                    "parse the consumer's subscription failed",
                )
        group_info = self.broker.consumer_manager.get_consumer_group_info(header.consumer_group)
        if group_info is None:
            return _Refused(
                ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's group info not exist"
            )
        subscription = group_info.subscription_table.get(header.topic)
        if subscription is None:
            return _Refused(
                ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist"
            )
        # subVersion 0 (some Go clients) means "no version"; otherwise ours must be as new.
        if header.sub_version and subscription.sub_version < header.sub_version:
            return _Refused(
                ResponseCode.SUBSCRIPTION_NOT_LATEST, "the consumer's subscription not latest"
            )
        return subscription

    # ------------------------------------------------------------------ answer

    def _answer(
        self,
        conn: RemotingConnection,
        req: RemotingCommand,
        header: PullMessageRequestHeader,
        response: RemotingCommand,
        result: GetMessageResult,
        group_config: object,
        message_filter: ExpressionMessageFilter,
        broker_allow_suspend: bool,
    ) -> RemotingCommand | None:
        code = _STATUS_TO_CODE.get(result.status)
        if code is None:  # NO_MATCHED_LOGIC_QUEUE / NO_MESSAGE_IN_QUEUE
            code = (
                ResponseCode.PULL_OFFSET_MOVED
                if header.queue_offset != 0
                else ResponseCode.PULL_NOT_FOUND
            )
        suggest = self._suggest_broker_id(result, group_config)
        if (
            code == ResponseCode.PULL_OFFSET_MOVED
            and self.broker.store_config.broker_role is BrokerRole.SLAVE
        ):
            # A slave may just be behind: 4.9 answers "retry" and points back at the group's
            # broker instead of moving the consumer's offset (offsetCheckInSlave is false).
            code = ResponseCode.PULL_RETRY_IMMEDIATELY
            suggest = int(getattr(group_config, "broker_id", MASTER_ID))
        response.code = code
        response.remark = result.status.value
        response.ext_fields = to_ext_fields(
            PullMessageResponseHeader(
                suggest,
                result.next_begin_offset,
                result.min_offset,
                result.max_offset,
            )
        )
        if code == ResponseCode.SUCCESS:
            response.body = result.body()
        elif (
            code == ResponseCode.PULL_NOT_FOUND
            and broker_allow_suspend
            and header.sys_flag & FLAG_SUSPEND
        ):
            self._suspend(conn, req, header, message_filter)
            return None
        elif code == ResponseCode.PULL_OFFSET_MOVED:
            log.warning(
                "PULL_OFFSET_MOVED: group %s topic %s queue %d offset %d -> %d",
                header.consumer_group,
                header.topic,
                header.queue_id,
                header.queue_offset,
                result.next_begin_offset,
            )
        return response

    def _suggest_broker_id(self, result: GetMessageResult, group_config: object) -> int:
        if not self.broker.broker_config.slave_read_enable:
            return MASTER_ID
        if result.suggest_pulling_from_slave:
            return int(getattr(group_config, "which_broker_when_consume_slowly", 1))
        return int(getattr(group_config, "broker_id", MASTER_ID))

    def _suspend(
        self,
        conn: RemotingConnection,
        req: RemotingCommand,
        header: PullMessageRequestHeader,
        message_filter: ExpressionMessageFilter,
    ) -> None:
        config = self.broker.broker_config
        timeout_ms = min(max(header.suspend_timeout_millis, 0), MAX_SUSPEND_MS)
        if not config.long_polling_enable:
            timeout_ms = config.short_polling_time_mills
        pull_request = PullRequest(
            conn,
            req,
            self.broker.clock.now_ms(),
            timeout_ms,
            header.queue_offset,
            message_filter,
        )
        self.broker.long_polling.suspend(header.topic, header.queue_id, pull_request)

    def _commit_offset(
        self, conn: RemotingConnection, header: PullMessageRequestHeader, allow_suspend: bool
    ) -> None:
        """The COMMIT_OFFSET piggy-back: first execution only, masters only."""
        if (
            allow_suspend
            and header.sys_flag & FLAG_COMMIT_OFFSET
            and self.broker.store_config.broker_role is not BrokerRole.SLAVE
        ):
            self.broker.consumer_offset_manager.commit_offset(
                conn.peer,
                header.consumer_group,
                header.topic,
                header.queue_id,
                header.commit_offset,
            )

    def execute_request_when_wakeup(self, pull_request: PullRequest) -> None:
        """Answer a held pull now (it cannot be held again)."""
        conn = pull_request.conn
        if not conn.is_open:
            return
        try:
            response = self.process_request(conn, pull_request.request, broker_allow_suspend=False)
        except Exception:
            log.exception("woken pull from %s failed", conn.peer)
            return
        if response is not None and not pull_request.request.is_oneway:
            response.opaque = pull_request.request.opaque
            conn.send(response)
