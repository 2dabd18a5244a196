"""``make run``: a NameServer and a single-master broker in one process, for trying pyrmq.

The NameServer listens on 127.0.0.1:9876 and the broker reads ``conf/broker.conf`` (store under
``./data/store``). Ctrl-C or SIGTERM stops both gracefully: the broker first (it unregisters),
then the NameServer. Real deployments start them separately with ``bin/mqnamesrv`` and
``bin/mqbroker``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pyrmq import _runtime
from pyrmq.broker.controller import BrokerController
from pyrmq.broker.startup import load_broker_config
from pyrmq.common.config import ConfigError
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.controller import NamesrvController

log = logging.getLogger("pyrmq.local")


async def serve(conf: Path, stop: asyncio.Event) -> int:
    startup = load_broker_config(str(conf))
    for warning in startup.warnings:
        log.warning("%s", warning)
    namesrv = NamesrvController(
        NamesrvConfig(
            bind_address="127.0.0.1", kv_config_path=str(Path("data/namesrv/kvConfig.json"))
        )
    )
    await namesrv.start()
    namesrv.log_boot_success()
    broker = BrokerController(startup.broker, startup.store)
    try:
        broker.load()
        await broker.start()
        log.info(
            "The broker[%s, %s] boot success (store under %s)",
            startup.broker.broker_name,
            startup.broker.broker_addr,
            startup.store.store_path_root_dir,
        )
        await stop.wait()
    finally:
        if broker.started:
            await broker.shutdown()
        await namesrv.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyrmq-local", description=__doc__)
    parser.add_argument("-c", "--configFile", default="conf/broker.conf", type=Path)
    args = parser.parse_args(argv)
    try:
        load_broker_config(str(args.configFile))
    except (ConfigError, OSError) as exc:
        print(f"pyrmq-local: {exc}", file=sys.stderr)
        return 2
    return _runtime.run(lambda stop: serve(args.configFile, stop))


if __name__ == "__main__":
    sys.exit(main())
