"""``pyrmq-broker`` / ``python -m pyrmq.broker`` / ``sh bin/mqbroker``: start a broker.

``-c FILE`` (the broker's .properties), ``-n ADDR`` (NameServer list override), ``-p`` (print the
effective configuration). A bad value stops startup with a message naming file, line and key;
the ready line names the address; SIGTERM (``sh bin/mqshutdown broker``) shuts down gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from pyrmq import _runtime
from pyrmq.broker.controller import BrokerController
from pyrmq.broker.startup import BrokerStartupConfig, main_config
from pyrmq.common.pidfile import remove_pid_file, write_pid_file
from pyrmq.store.checkpoint import StoreLockedError

log = logging.getLogger("pyrmq.broker")


async def serve(startup: BrokerStartupConfig, stop: asyncio.Event) -> int:
    broker = BrokerController(startup.broker, startup.store)
    config = startup.broker
    try:
        broker.load()
        await broker.start()
    except (OSError, ValueError, StoreLockedError) as exc:
        log.error("broker %s cannot start: %s", config.broker_name, exc)
        if broker.message_store.checkpoint is not None:
            await broker.message_store.shutdown()
        return 1
    pid_path = write_pid_file("broker", config.listen_host, broker.server.port)
    log.info(
        "The broker[%s, %s:%d] boot success. serializeType=JSON and name server is %s, "
        "listening on %s:%d",
        config.broker_name,
        config.broker_i_p1,
        broker.server.port,
        config.namesrv_addr,
        config.listen_host,
        broker.server.port,
    )
    try:
        await stop.wait()
    finally:
        await broker.shutdown()
        remove_pid_file(pid_path)
        log.info("The broker[%s] shut down", config.broker_name)
    return 0


def main(argv: list[str] | None = None) -> int:
    startup, code = main_config(sys.argv[1:] if argv is None else argv)
    if startup is None:
        return code
    _runtime.setup_logging()
    for warning in startup.warnings:
        log.warning("%s", warning)
    return _runtime.run(lambda stop: serve(startup, stop))


if __name__ == "__main__":
    sys.exit(main())
