"""Producer: send, send_async, send_oneway, send_batch — queue choice and retries.

Owns a producer group's send path (protocol.md §6.2): the per-topic publish info (route ->
queues, round-robin counter with a random start), finding a route (the topic's own, else the
TBW102 template so the broker auto-creates the topic), choosing a queue of another broker on a
retry, retrying network failures and the retriable codes within the total timeout, and the
results. FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE come back as a
``SendResult`` status, not as errors. Mirrors ``DefaultMQProducerImpl`` (``sendDefaultImpl``,
``tryToFindTopicPublishInfo``, ``sendSelectImpl``). Ordered sending: ``send_orderly`` (or
``send(selector=..., arg=...)``) lets a ``MessageQueueSelector`` pick the queue from the publish
list — one attempt, as Java, since another queue would break the order. Pure pieces live in
``sending.py``, ``route.py`` and ``selector.py``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
from collections.abc import Callable, Iterable, Sequence

from pyrmq.client.config import ClientConfig
from pyrmq.client.errors import MQClientError
from pyrmq.client.instance import ClientInstance, shared_instance
from pyrmq.client.route import TopicPublishInfo
from pyrmq.client.selector import MessageQueueSelector
from pyrmq.client.sending import (
    RETRIABLE_SEND_CODES,
    PreparedSend,
    SendResult,
    build_header,
    check_message,
    prepare_batch,
    prepare_message,
    send_result,
)
from pyrmq.common.clock import Clock
from pyrmq.common.constants import AUTO_CREATE_TOPIC_KEY_TOPIC
from pyrmq.common.message import Message
from pyrmq.common.message_codec import UniqueIdGenerator
from pyrmq.common.service import TaskGroup
from pyrmq.remoting.bodies import MessageQueue, TopicRouteData
from pyrmq.remoting.errors import MQResponseError, RemotingError, RemotingTimeoutError

__all__ = ["Producer", "SendCallback"]

log = logging.getLogger(__name__)

#: Called with (result, None) or (None, error) when an asynchronous send ends.
SendCallback = Callable[[SendResult | None, BaseException | None], object]

MAX_MESSAGE_SIZE = 4 * 1024 * 1024


class Producer:
    """A producer group member (``DefaultMQProducer``), asyncio-first.

    ``async with Producer("group", "127.0.0.1:9876") as p: await p.send(Message("T", b"x"))``
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        *,
        instance: ClientInstance | None = None,
        instance_name: str = "DEFAULT",
        send_timeout_s: float = 3.0,
        retry_times_when_send_failed: int = 2,
        retry_times_when_send_async_failed: int = 2,
        compress_over_bytes: int = 4096,
        compress_level: int = 5,
        max_message_size: int = MAX_MESSAGE_SIZE,
        create_topic_key: str = AUTO_CREATE_TOPIC_KEY_TOPIC,
        default_topic_queue_nums: int = 4,
        client_config: ClientConfig | None = None,
        clock: Clock | None = None,
        register: bool = True,
    ) -> None:
        self.group = group
        #: False for a client's internal producer (the consumer's retry re-sends): it is not
        #: heartbeated as a group of its own and reads routes from the instance's table.
        self.register = register
        self.send_timeout_s = send_timeout_s
        self.retry_times_when_send_failed = retry_times_when_send_failed
        self.retry_times_when_send_async_failed = retry_times_when_send_async_failed
        self.compress_over_bytes = compress_over_bytes
        self.compress_level = compress_level
        self.max_message_size = max_message_size
        self.create_topic_key = create_topic_key
        self.default_topic_queue_nums = default_topic_queue_nums
        self._owns_instance = instance is None
        self.instance = instance or shared_instance(
            namesrv_addr, instance_name, config=client_config, clock=clock
        )
        self._clock = self.instance.clock
        self._publish_info: dict[str, TopicPublishInfo] = {}
        self._ids: UniqueIdGenerator | None = None
        self._async_sends = TaskGroup(f"producer-{group}-async")
        #: Futures of asynchronous sends still running (shutdown lets them finish).
        self._pending: set[asyncio.Future[SendResult]] = set()
        self._state = "created"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._state != "created":
            raise MQClientError(f"producer {self.group} cannot start: it is {self._state}")
        if self.register:
            self.instance.register_producer(self)
        await self.instance.start()
        ip = ipaddress.ip_address(self.instance.client_ip).packed
        # Java hashes its class loader here; a random value keeps producers of one process
        # apart just as well.
        self._ids = UniqueIdGenerator(ip, os.getpid(), random.getrandbits(32), self._clock)
        self._state = "running"

    async def shutdown(self) -> None:
        """Let asynchronous sends finish (up to the send timeout), then unregister."""
        if self._state != "running":
            self._state = "stopped"
            if self._owns_instance:
                await self.instance.release()
            return
        self._state = "stopping"
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=self.send_timeout_s)
        await self._async_sends.close()
        if self.register:
            await self.instance.unregister_producer(self.group)
        if self._owns_instance:
            await self.instance.release()
        self._state = "stopped"

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ ProducerInner

    def publish_topics(self) -> Iterable[str]:
        return list(self._publish_info)

    def update_publish_info(self, topic: str, route: TopicRouteData) -> None:
        old = self._publish_info.get(topic)
        # Java starts each topic's counter at a random value so producers spread out.
        counter = old.counter if old is not None else random.randrange(1 << 16)
        self._publish_info[topic] = TopicPublishInfo.from_route(topic, route, counter)

    # ------------------------------------------------------------------ sending

    async def send(
        self,
        msg: Message,
        timeout_s: float | None = None,
        *,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> SendResult:
        """Send and wait for the broker; ``queue`` pins the queue and ``selector`` (called with
        ``arg``) picks it — either way there is no retry on another queue."""
        if selector is not None:
            if queue is not None:
                raise ValueError("give either queue or selector, not both")
            return await self.send_orderly(msg, selector, arg, timeout_s)
        prepared = self._prepare(msg)
        attempts = 1 if queue is not None else 1 + self.retry_times_when_send_failed
        result = await self._send(prepared, attempts, timeout_s, queue=queue)
        assert result is not None
        return result

    async def send_orderly(
        self,
        msg: Message,
        selector: MessageQueueSelector,
        arg: object,
        timeout_s: float | None = None,
    ) -> SendResult:
        """``send(msg, selector, arg)``: the queue is ``selector.select(publish queues, msg,
        arg)``; messages with equal ``arg`` (``SelectMessageQueueByHash``) keep their order."""
        prepared = self._prepare(msg)
        loop = asyncio.get_running_loop()
        start = loop.time()
        info = await self._publish_info_for(msg.topic)
        mq = selector.select(list(info.queues), msg, arg)
        if mq.topic != msg.topic:
            raise MQClientError(f"the selector chose {mq}, not a queue of {msg.topic}")
        total = self.send_timeout_s if timeout_s is None else timeout_s
        remaining = total - (loop.time() - start)
        if remaining <= 0:
            raise RemotingTimeoutError(f"send to {msg.topic} timed out")
        result = await self._send(prepared, 1, remaining, queue=mq)
        assert result is not None
        return result

    def send_async(
        self,
        msg: Message,
        callback: SendCallback | None = None,
        timeout_s: float | None = None,
    ) -> asyncio.Future[SendResult]:
        """Start a send; the future (and ``callback``, if given) get the outcome."""
        prepared = self._prepare(msg)
        future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        if callback is not None:
            future.add_done_callback(lambda fut: _call_back(callback, fut))
        attempts = 1 + self.retry_times_when_send_async_failed
        self._async_sends.spawn(self._run_async(prepared, attempts, timeout_s, future))
        return future

    async def send_oneway(self, msg: Message) -> None:
        """Fire and forget: one attempt, no response awaited."""
        await self._send(self._prepare(msg), 1, None, oneway=True)

    async def send_batch(
        self, msgs: Sequence[Message], timeout_s: float | None = None
    ) -> SendResult:
        """SEND_BATCH_MESSAGE: all messages to one queue, consecutive offsets."""
        self._check_running()
        for msg in msgs:
            self._set_uniq_key(msg)
        prepared = prepare_batch(msgs, self.max_message_size)
        result = await self._send(prepared, 1 + self.retry_times_when_send_failed, timeout_s)
        assert result is not None
        return result

    async def fetch_publish_queues(self, topic: str) -> list[MessageQueue]:
        """The queues ``send(queue=...)`` may use (for ordered sending)."""
        return list((await self._publish_info_for(topic)).queues)

    # ------------------------------------------------------------------ internals

    def _check_running(self) -> None:
        if self._state != "running":
            raise MQClientError(f"producer {self.group} is not running (state {self._state})")

    def _set_uniq_key(self, msg: Message) -> None:
        assert self._ids is not None
        if msg.uniq_key is None:  # a caller-chosen id is kept, as Java's setUniqID does
            msg.uniq_key = self._ids.next_id()

    def _prepare(self, msg: Message) -> PreparedSend:
        self._check_running()
        check_message(msg, self.max_message_size)
        self._set_uniq_key(msg)
        return prepare_message(msg, self.compress_over_bytes, self.compress_level)

    async def _run_async(
        self,
        prepared: PreparedSend,
        attempts: int,
        timeout_s: float | None,
        future: asyncio.Future[SendResult],
    ) -> None:
        try:
            result = await self._send(prepared, attempts, timeout_s)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except (MQClientError, RemotingError) as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            assert result is not None
            future.set_result(result)

    async def _publish_info_for(self, topic: str) -> TopicPublishInfo:
        """``tryToFindTopicPublishInfo``: cached, else the topic's route, else TBW102's."""
        info = self._publish_info.get(topic)
        if info is not None and info.ok:
            return info
        has_route = await self.instance.update_topic_route(topic)
        info = self._adopt_route(topic)
        if not has_route and (info is None or not info.ok):
            await self.instance.update_topic_route(
                topic,
                template=self.create_topic_key,
                template_queue_nums=self.default_topic_queue_nums,
            )
            info = self._adopt_route(topic)
        if info is None or not info.ok:
            raise MQClientError(f"no route info of topic {topic}")
        return info

    def _adopt_route(self, topic: str) -> TopicPublishInfo | None:
        """Our publish info of ``topic``; an unregistered producer is not handed routes by the
        instance, so it takes the one the instance just stored."""
        route = self.instance.route_table.get(topic)
        if not self.register and route is not None:
            self.update_publish_info(topic, route)
        return self._publish_info.get(topic)

    async def _send(
        self,
        prepared: PreparedSend,
        attempts: int,
        timeout_s: float | None,
        *,
        queue: MessageQueue | None = None,
        oneway: bool = False,
    ) -> SendResult | None:
        """``sendDefaultImpl``: up to ``attempts`` tries within one total timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.send_timeout_s if timeout_s is None else timeout_s)
        info = await self._publish_info_for(prepared.topic)
        last_error: Exception | None = None
        mq: MessageQueue | None = None
        for _ in range(attempts):
            mq = queue or info.select(None if mq is None else mq.broker_name)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RemotingTimeoutError(f"send to {prepared.topic} timed out") from last_error
            try:
                return await self._send_to(prepared, mq, remaining, oneway)
            except MQResponseError as exc:
                if exc.response_code not in RETRIABLE_SEND_CODES:
                    raise
                last_error = exc
            except (RemotingError, MQClientError) as exc:
                last_error = exc
            log.warning("send to %s failed, attempt on another queue: %s", mq, last_error)
            self.instance.request_route_refresh(prepared.topic)
        code = getattr(last_error, "response_code", None)
        raise MQClientError(
            f"send to {prepared.topic} failed {attempts} time(s): {last_error}", code
        ) from last_error

    async def _send_to(
        self, prepared: PreparedSend, mq: MessageQueue, timeout_s: float, oneway: bool
    ) -> SendResult | None:
        addr = await self.instance.master_addr_or_refresh(prepared.topic, mq.broker_name)
        if addr is None:
            raise MQClientError(f"the broker {mq.broker_name} does not exist")
        header = build_header(
            prepared,
            self.group,
            mq,
            self._clock.now_ms(),
            self.create_topic_key,
            self.default_topic_queue_nums,
        )
        api = self.instance.api
        if oneway:
            await api.send_message_oneway(addr, header, prepared.body, batch=prepared.batch)
            return None
        response = await api.send_message(
            addr, header, prepared.body, timeout_s, batch=prepared.batch
        )
        return send_result(response, prepared, mq)


def _call_back(callback: SendCallback, future: asyncio.Future[SendResult]) -> None:
    if future.cancelled():
        callback(None, asyncio.CancelledError())
    elif future.exception() is not None:
        callback(None, future.exception())
    else:
        callback(future.result(), None)
