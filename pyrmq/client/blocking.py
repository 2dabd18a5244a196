"""Blocking facade: ``BlockingProducer`` and ``BlockingPushConsumer`` for plain (non-async) code.

Owns one background thread per object running its own event loop; every call is handed to that
loop and waited for. ``with BlockingProducer("g", "127.0.0.1:9876") as p: p.send(msg)``.
The listener of a ``BlockingPushConsumer`` is an ordinary function; it runs in worker threads
of that loop, so it may block. There is no Java counterpart (the Java client is blocking).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from pyrmq.client.consumer.consume import ConsumeStatus
from pyrmq.client.consumer.push_consumer import PushConsumer
from pyrmq.client.producer import Producer
from pyrmq.client.sending import SendResult
from pyrmq.common.message import Message, MessageExt

__all__ = ["BlockingProducer", "BlockingPushConsumer"]

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever in a daemon thread, until ``close``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        return self.submit(coro).result(timeout_s)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.run(self.loop.shutdown_asyncgens())
        self.run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


async def _build(factory: Callable[[], T]) -> T:
    # Built inside the loop so every asyncio primitive belongs to it.
    return factory()


class BlockingProducer:
    """A ``Producer`` driven from synchronous code; the keyword arguments go to ``Producer``."""

    def __init__(self, group: str, namesrv_addr: str, **kwargs: Any) -> None:
        self._loop = _LoopThread(f"pyrmq-producer-{group}")
        try:
            self.producer = self._loop.run(_build(lambda: Producer(group, namesrv_addr, **kwargs)))
        except BaseException:
            self._loop.close()
            raise

    def start(self) -> None:
        self._loop.run(self.producer.start())

    def shutdown(self) -> None:
        try:
            self._loop.run(self.producer.shutdown())
        finally:
            self._loop.close()

    def send(self, msg: Message, timeout_s: float | None = None) -> SendResult:
        return self._loop.run(self.producer.send(msg, timeout_s))

    def send_async(self, msg: Message) -> concurrent.futures.Future[SendResult]:
        """A ``concurrent.futures.Future`` of the result (add callbacks to it as needed)."""
        return self._loop.submit(self.producer.send(msg))

    def send_oneway(self, msg: Message) -> None:
        self._loop.run(self.producer.send_oneway(msg))

    def send_batch(self, msgs: Sequence[Message], timeout_s: float | None = None) -> SendResult:
        return self._loop.run(self.producer.send_batch(msgs, timeout_s))

    def __enter__(self) -> BlockingProducer:
        try:
            self.start()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class BlockingPushConsumer:
    """A ``PushConsumer`` driven from synchronous code; the keyword arguments go to it."""

    def __init__(self, group: str, namesrv_addr: str, **kwargs: Any) -> None:
        self._loop = _LoopThread(f"pyrmq-consumer-{group}")
        try:
            self.consumer = self._loop.run(
                _build(lambda: PushConsumer(group, namesrv_addr, **kwargs))
            )
        except BaseException:
            self._loop.close()
            raise

    def subscribe(self, topic: str, expression: str = "*") -> None:
        self._loop.run(_build(lambda: self.consumer.subscribe(topic, expression)))

    def register_listener(self, listener: Callable[[list[MessageExt]], ConsumeStatus]) -> None:
        """``listener(messages) -> ConsumeStatus``; it runs in a worker thread."""
        self._loop.run(_build(lambda: self.consumer.register_listener(listener)))

    def start(self) -> None:
        self._loop.run(self.consumer.start())

    def shutdown(self) -> None:
        try:
            self._loop.run(self.consumer.shutdown())
        finally:
            self._loop.close()

    def __enter__(self) -> BlockingPushConsumer:
        try:
            self.start()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
