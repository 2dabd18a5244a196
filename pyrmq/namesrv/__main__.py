"""``pyrmq-namesrv`` / ``python -m pyrmq.namesrv`` / ``sh bin/mqnamesrv``: start a NameServer.

Options as ``NamesrvStartup``: ``-c FILE`` reads a properties file, ``-p`` prints the effective
configuration and exits. A bad value stops startup with a message naming file, line and key.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pyrmq import _runtime
from pyrmq.common.config import ConfigError, load_config, to_properties
from pyrmq.common.pidfile import remove_pid_file, write_pid_file
from pyrmq.namesrv.config import NamesrvConfig
from pyrmq.namesrv.controller import NamesrvController

log = logging.getLogger("pyrmq.namesrv")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mqnamesrv", description="pyrmq NameServer")
    parser.add_argument("-c", "--configFile", dest="config_file", help="name server config file")
    parser.add_argument(
        "-p",
        "--printConfigItem",
        dest="print_config",
        action="store_true",
        help="print the effective configuration and exit",
    )
    return parser.parse_args(argv)


def load(config_file: str | None) -> tuple[NamesrvConfig, list[str]]:
    if config_file is None:
        return NamesrvConfig(), []
    return load_config(NamesrvConfig, config_file)


async def serve(config: NamesrvConfig, stop: asyncio.Event) -> int:
    controller = NamesrvController(config)
    try:
        await controller.start()
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.bind_address, config.listen_port, exc)
        return 1
    # The pid file exists before the ready line, so mqshutdown works as soon as it shows.
    pid_path = write_pid_file("namesrv", config.bind_address, controller.port)
    controller.log_boot_success()
    try:
        await stop.wait()
    finally:
        await controller.stop()
        remove_pid_file(pid_path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config, warnings = load(args.config_file)
    except (ConfigError, OSError) as exc:
        print(f"mqnamesrv: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(to_properties(config))
        return 0
    _runtime.setup_logging()
    for warning in warnings:
        log.warning("%s", warning)
    return _runtime.run(lambda stop: serve(config, stop))


if __name__ == "__main__":
    sys.exit(main())
