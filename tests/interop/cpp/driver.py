"""Drives the C++ RocketMQ client (a rocketmq-client-cpp core behind the ``rocketmq`` binding).

Runs under one of the venvs that ``tests/interop/cpp/build.sh`` makes, never under pyrmq's:
.cache/interop/cpp/venv holds PyPI ``rocketmq`` 0.4.4 (the 1.x core), .cache/interop/cpp2/venv
PyPI ``rocketmq-python-cvs`` 2.1.0.3 (a 2.1.0 core; the same binding API and import name, hence
two venvs). ``rocketmq.client`` is a ctypes binding over the bundled ``librocketmq.so``, so every
frame on the wire is written by the C++ core. A 2.x core is told apart by the functions its C API
exports (``Show*Version``, ``SetPushConsumerMessageTrace``). Subcommands print one JSON object per
line on stdout and nothing else (the core's own output is sent to stderr):

  produce         --namesrv A --topic T --count N   sync sends with tags, keys, a user property
  produce-orderly --namesrv A --topic T --count N --shards K   send_orderly, sharding key i % K
  consume         --namesrv A --topic T --group G --expect N --timeout S [--settle S]
                  [--expression TAGS] [--orderly] [--broadcast] [--reconsume-later K]
                  [--warmup-prefix P]

(``--help`` on each lists the rest: --delay-level, --log-dir, --step-timeout, ...). Each line has
an ``event``: ``sent`` (index, msg_id, status, offset and what was sent), ``started``,
``received`` (body, tags, keys, property, msg_id, queue_id, offset, reconsume_times, timestamps,
the status answered), ``warmup`` (a received message not counted), ``done`` (the totals) or
``error`` (what the client raised); ``done`` also names the core that ran (``core``: a 2.x
core's version string, None for 1.x, which cannot say). The exit status is 0 when everything
asked for happened, 1 on a client error, 2 when ``consume`` ran out of time, 3 when the watchdog
fired: every wait is bounded, and the watchdog ends the process if starting, sending or shutting
down a client hangs.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import sys
import threading
import time
from typing import Any, TextIO

#: Only JSON lines on stdout: keep a private copy of the real stdout for them and point file
#: descriptor 1 at stderr before the library is loaded, so whatever the C++ core (or anything
#: else in the process) prints lands on stderr.
_OUT: TextIO = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

from rocketmq.client import Message, Producer, PushConsumer, RecvMessage  # noqa: E402
from rocketmq.exceptions import RocketMQException, ffi_check  # noqa: E402
from rocketmq.ffi import MessageModel, _CConsumeStatus, _CLogLevel, dll  # noqa: E402

#: A 2.x core exports these, undeclared by the binding: its version string and the
#: message-trace switch (CTraceModel: OPEN = 0). The 1.x core has neither.
CORE2 = hasattr(dll, "SetPushConsumerMessageTrace")
TRACE_OPEN = 0
if CORE2:
    for _kind in ("Producer", "PushConsumer"):
        getattr(dll, f"Show{_kind}Version").argtypes = [ctypes.c_void_p]
        getattr(dll, f"Show{_kind}Version").restype = ctypes.c_char_p
    dll.SetPushConsumerMessageTrace.argtypes = [ctypes.c_void_p, ctypes.c_int]
    dll.SetPushConsumerMessageTrace.restype = ctypes.c_int

#: The user property every driver message carries, and what interop tests look for.
PROPERTY = "interop"


def emit(**fields: Any) -> None:
    _OUT.write(json.dumps(fields, sort_keys=True) + "\n")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class Watchdog:
    """Ends the process (exit 3, after an ``error`` line) if a step outlives its deadline: the
    C++ core's calls cannot be interrupted from Python."""

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None

    def arm(self, seconds: float, step: str) -> None:
        self.disarm()
        timer = threading.Timer(seconds, self._fire, args=(seconds, step))
        timer.daemon = True
        timer.start()
        self._timer = timer

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @staticmethod
    def _fire(seconds: float, step: str) -> None:
        emit(event="error", step=step, error=f"{step} did not finish within {seconds}s")
        _OUT.flush()
        os._exit(3)


WATCHDOG = Watchdog()


def home(log_dir: str) -> None:
    """Point HOME at ``log_dir`` before any client exists: both cores keep their files under
    HOME (the log under ``logs/rocketmq-cpp/``, a broadcasting group's local offsets), and the
    1.x core ignores ``Set*LogPath``."""
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        os.environ["HOME"] = log_dir


def quiet(handle: Any, kind: str, log_dir: str) -> None:
    """Only errors in the core's log, which goes under ``log_dir`` when given."""
    if log_dir and CORE2:
        path = os.path.join(log_dir, "logs", "rocketmq-cpp")
        os.makedirs(path, exist_ok=True)
        ffi_check(getattr(dll, f"Set{kind}LogPath")(handle, path.encode()))
    getattr(dll, f"Set{kind}LogLevel")(handle, _CLogLevel.ERROR)


def core(handle: Any, kind: str) -> str | None:
    """A 2.x core's version string; None for the 1.x core."""
    return text(getattr(dll, f"Show{kind}Version")(handle)) if CORE2 else None


def make_message(args: argparse.Namespace, i: int) -> tuple[Message, dict[str, str]]:
    fields = {
        "body": f"{args.prefix}-{i}",
        "tags": args.tags or f"Tag{i % 2}",
        "keys": f"{args.prefix}-key-{i}",
        "property": f"cpp-{i}",
    }
    msg = Message(args.topic)
    msg.set_body(fields["body"])
    msg.set_tags(fields["tags"])
    msg.set_keys(fields["keys"])
    msg.set_property(PROPERTY, fields["property"])
    if args.delay_level:
        msg.set_delay_time_level(args.delay_level)
    return msg, fields


def start_producer(args: argparse.Namespace) -> Producer:
    producer = Producer(
        args.group or f"cpp-pg-{os.getpid()}", timeout=int(args.send_timeout * 1000)
    )
    quiet(producer._handle, "Producer", args.log_dir)
    producer.set_namesrv_addr(args.namesrv)
    WATCHDOG.arm(args.step_timeout, "producer start")
    producer.start()
    WATCHDOG.disarm()
    return producer


def stop(client: Producer | PushConsumer, step: str, seconds: float) -> None:
    WATCHDOG.arm(seconds, step)
    try:
        client.shutdown()
    finally:
        WATCHDOG.disarm()


def produce(args: argparse.Namespace, orderly: bool) -> int:
    try:
        producer = start_producer(args)
    except RocketMQException as exc:
        emit(event="error", step="producer start", error=f"{type(exc).__name__}: {exc}")
        return 1
    sent = 0
    version = core(producer._handle, "Producer")
    try:
        for i in range(args.count):
            msg, fields = make_message(args, i)
            WATCHDOG.arm(args.step_timeout, f"send {i}")
            try:
                if orderly:
                    shard = i % args.shards
                    result = producer.send_orderly(msg, shard)
                    fields["shard"] = str(shard)
                else:
                    result = producer.send_sync(msg)
            except RocketMQException as exc:
                WATCHDOG.disarm()
                emit(event="error", step=f"send {i}", error=f"{type(exc).__name__}: {exc}")
                return 1
            WATCHDOG.disarm()
            emit(
                event="sent",
                at=now_ms(),
                index=i,
                msg_id=result.msg_id,
                status=result.status.name,
                offset=result.offset,
                **fields,
            )
            sent += 1
    finally:
        stop(producer, "producer shutdown", args.step_timeout)
    emit(event="done", sent=sent, core=version)
    return 0


def describe(msg: RecvMessage) -> dict[str, Any]:
    return {
        "event": "received",
        "at": now_ms(),
        "topic": msg.topic,
        "body": text(msg.body),
        "tags": text(msg.tags),
        "keys": text(msg.keys),
        "property": text(msg.get_property(PROPERTY)),
        "msg_id": msg.id,
        "queue_id": msg.queue_id,
        "offset": msg.queue_offset,
        "reconsume_times": msg.reconsume_times,
        "born_timestamp": msg.born_timestamp,
        "store_timestamp": msg.store_timestamp,
        "delay": text(msg.get_property("DELAY")),
    }


def consume(args: argparse.Namespace) -> int:
    arrived: queue.Queue[dict[str, Any]] = queue.Queue()

    def count(seen: dict[str, Any]) -> int:
        """Report one delivery; 1 if it counts towards --expect."""
        warmup = bool(args.warmup_prefix) and str(seen["body"]).startswith(args.warmup_prefix)
        if warmup:
            seen["event"] = "warmup"
        emit(**seen)
        return 0 if warmup else 1

    def listener(_consumer: int, handle: int) -> int:
        # Runs on a C++ consume thread; everything is read before the callback returns. The
        # binding's own subscribe() wrapper re-raises a listener's exception, so ctypes returns 0
        # (CONSUME_SUCCESS): this raw callback answers the status itself.
        msg = RecvMessage(handle)
        seen = describe(msg)
        retry = msg.reconsume_times < args.reconsume_later
        seen["answer"] = "RECONSUME_LATER" if retry else "CONSUME_SUCCESS"
        arrived.put(seen)
        status = _CConsumeStatus.RECONSUME_LATER if retry else _CConsumeStatus.CONSUME_SUCCESS
        return int(status.value)

    model = MessageModel.BROADCASTING if args.broadcast else MessageModel.CLUSTERING
    consumer = PushConsumer(args.group, orderly=args.orderly, message_model=model)
    quiet(consumer._handle, "PushConsumer", args.log_dir)
    if CORE2:
        # The 2.1.0 core's push consumer shutdown() always shuts its message-trace producer
        # down, which exists only when trace is on: with trace off (the default)
        # ShutdownPushConsumer dereferences a null pointer (DefaultMQPushConsumerImpl::
        # shutdownMessageTraceInnerProducer, SIGSEGV) before it persists offsets and
        # unregisters. Fixed in rocketmq-client-cpp 2.2.0; here trace is on so that the consumer
        # can stop cleanly (its trace producer sends to RMQ_SYS_TRACE_TOPIC).
        ffi_check(dll.SetPushConsumerMessageTrace(consumer._handle, TRACE_OPEN))
    consumer.set_namesrv_addr(args.namesrv)
    consumer.set_thread_count(args.threads)
    ffi_check(dll.Subscribe(consumer._handle, args.topic.encode(), args.expression.encode()))
    consumer._register_callback(listener)
    WATCHDOG.arm(args.step_timeout, "consumer start")
    try:
        consumer.start()
    except RocketMQException as exc:
        WATCHDOG.disarm()
        emit(event="error", step="consumer start", error=f"{type(exc).__name__}: {exc}")
        return 1
    WATCHDOG.disarm()
    version = core(consumer._handle, "PushConsumer")
    emit(event="started", group=args.group, topic=args.topic, core=version)
    received = 0
    deadline = time.monotonic() + args.timeout
    settle_until: float | None = None
    try:
        while True:
            now = time.monotonic()
            if received >= args.expect and settle_until is None:
                # Anything more (a duplicate) would show in this window.
                settle_until = now + args.settle
            until = deadline if settle_until is None else min(deadline, settle_until)
            if now >= until:
                break
            try:
                seen = arrived.get(timeout=min(0.1, until - now))
            except queue.Empty:
                continue
            received += count(seen)
    finally:
        stop(consumer, "consumer shutdown", args.step_timeout)
    while not arrived.empty():  # consumed while shutting down: still reported
        received += count(arrived.get_nowait())
    emit(event="done", received=received, expected=args.expect, core=version)
    return 0 if received >= args.expect else 2


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--namesrv", required=True, help="host:port of the NameServer")
    common.add_argument("--topic", required=True)
    common.add_argument("--group", default="", help="producer or consumer group")
    common.add_argument(
        "--log-dir", default="", help="HOME for the C++ core: its log goes to logs/rocketmq-cpp/"
    )
    common.add_argument(
        "--step-timeout", type=float, default=20.0, help="bound on start, one send, shutdown"
    )
    for name in ("produce", "produce-orderly"):
        p = sub.add_parser(name, parents=[common])
        p.add_argument("--count", type=int, required=True)
        p.add_argument("--prefix", default="cpp", help="bodies are PREFIX-i, keys PREFIX-key-i")
        p.add_argument("--tags", default="", help="one tag for all (default Tag0 / Tag1)")
        p.add_argument("--send-timeout", type=float, default=5.0)
        p.add_argument("--delay-level", type=int, default=0, help="delay level of every message")
        if name == "produce-orderly":
            p.add_argument("--shards", type=int, default=2, help="sharding key is i %% shards")
    c = sub.add_parser("consume", parents=[common])
    c.add_argument("--expect", type=int, required=True)
    c.add_argument("--timeout", type=float, required=True, help="seconds to wait for --expect")
    c.add_argument("--settle", type=float, default=1.0, help="seconds to watch for duplicates")
    c.add_argument("--expression", default="*", help="tag expression")
    c.add_argument("--orderly", action="store_true", help="MessageListenerOrderly")
    c.add_argument("--broadcast", action="store_true", help="BROADCASTING message model")
    c.add_argument(
        "--warmup-prefix",
        default="",
        help="bodies starting with this are reported as 'warmup' and not counted",
    )
    c.add_argument(
        "--reconsume-later",
        type=int,
        default=0,
        help="answer RECONSUME_LATER while a message's reconsume_times is below this",
    )
    c.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "consume" and not args.group:
        parser.error("consume needs --group")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    home(args.log_dir)
    if args.command == "consume":
        code = consume(args)
    else:
        code = produce(args, orderly=args.command == "produce-orderly")
    _OUT.flush()
    return code


if __name__ == "__main__":
    # The binding's __del__ shuts the clients down again; skip that on the way out.
    os._exit(main(sys.argv[1:]))
