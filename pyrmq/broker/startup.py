"""Broker startup configuration: command line, ``-c`` file, ``-n`` override, post-processing.

Mirrors the configuration half of RocketMQ 4.9.8's ``BrokerStartup.createBrokerController``
(``broker/src/main/java/org/apache/rocketmq/broker/BrokerStartup.java``): everything up to
``new BrokerController(...)``. No sockets are opened and no file or folder is created here; the
broker's ``__main__`` calls ``main_config`` and starts the controller with what it returns.

What this module owns:

* ``BROKER_ARG_PARSER`` / ``parse_args`` -- the options of ``mqbroker`` (``-c``, ``-n``, ``-p``,
  ``-m``), as ``buildCommandlineOptions`` plus ``ServerUtil``'s ``-n``.
* ``load_broker_config`` -- one properties file bound to ``BrokerConfig`` (which also holds the
  NettyServerConfig keys) and ``MessageStoreConfig``, then the post-processing of
  ``BrokerStartup`` (lines 134-176 of the 4.9.8 file).
* ``config_text`` / ``main_config`` -- ``-p`` / ``-m`` output and the exit codes.

Where pyrmq is loud and Java silent (store.md §8.1): unknown keys, repeated keys, a master's
``brokerId`` that gets overwritten and a ``haListenPort`` that gets overwritten all draw a
warning ``FILE:LINE: ...``; a value that does not convert is an error (``ConfigError``) instead
of a silently kept default.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from pyrmq.broker.config import BrokerConfig
from pyrmq.common.config import (
    ConfigError,
    PropertyEntry,
    apply_entries,
    check_entries,
    format_properties,
    load_properties_file,
    to_pairs,
)
from pyrmq.store.config import BrokerRole, MessageStoreConfig

__all__ = [
    "BROKER_ARG_PARSER",
    "IMPORTANT_KEYS",
    "BrokerArgs",
    "BrokerStartupConfig",
    "config_text",
    "load_broker_config",
    "main_config",
    "parse_args",
]

PROG = "mqbroker"
#: Where a ``-n`` value is said to come from in messages.
COMMAND_LINE_N = "command line -n"
#: Where a namesrvAddr taken from the environment (BrokerConfig's default) comes from.
ENVIRONMENT_NAMESRV = "environment NAMESRV_ADDR"

#: The fields 4.9.8 marks ``@ImportantField`` (what ``-m`` prints), among the keys pyrmq has.
IMPORTANT_KEYS: frozenset[str] = frozenset(
    {
        # BrokerConfig
        "namesrvAddr",
        "brokerIP1",
        "brokerName",
        "brokerClusterName",
        "brokerId",
        "autoCreateTopicEnable",
        "autoCreateSubscriptionGroup",
        "msgTraceTopicName",
        "traceTopicEnable",
        "rejectTransactionMessage",
        "fetchNamesrvAddrByAddressServer",
        "transactionTimeOut",
        "transactionCheckMax",
        "transactionCheckInterval",
        "aclEnable",
        # MessageStoreConfig
        "storePathRootDir",
        "storePathCommitLog",
        "storePathDLedgerCommitLog",
        "flushIntervalCommitLog",
        "commitIntervalCommitLog",
        "flushCommitLogTimed",
        "deleteWhen",
        "fileReservedTime",
        "maxTransferBytesOnMessageInMemory",
        "maxTransferCountOnMessageInMemory",
        "maxTransferBytesOnMessageInDisk",
        "maxTransferCountOnMessageInDisk",
        "accessMessageInMemoryMaxRatio",
        "messageIndexEnable",
        "messageIndexSafe",
        "haMasterAddress",
        "brokerRole",
        "flushDiskType",
        "cleanFileForciblyEnable",
        "transientStorePoolEnable",
    }
)

_MASTER_ID = 0  # MixAll.MASTER_ID


@dataclass(slots=True)
class BrokerStartupConfig:
    """What a broker starts with: both config objects after post-processing.

    ``warnings`` are ``FILE:LINE: ...`` lines for the log; ``source`` is the ``-c`` path as
    given (None without a file); ``entries`` are the file's entries in order, repeated and
    unknown keys included (Java keeps them too, in its ``Configuration``, to write them back).
    """

    broker: BrokerConfig
    store: MessageStoreConfig
    warnings: list[str]
    source: str | None
    entries: list[PropertyEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BrokerArgs:
    """The parsed ``mqbroker`` command line."""

    config_file: str | None
    namesrv_addr: str | None
    print_config: bool
    print_important: bool


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="pyrmq Broker")
    parser.add_argument("-c", "--configFile", dest="config_file", help="broker config file")
    parser.add_argument(
        "-n",
        "--namesrvAddr",
        dest="namesrv_addr",
        help="name server address list, e.g. '127.0.0.1:9876;127.0.0.2:9876' (overrides the file)",
    )
    parser.add_argument(
        "-p",
        "--printConfigItem",
        dest="print_config",
        action="store_true",
        help="print all config items and exit",
    )
    parser.add_argument(
        "-m",
        "--printImportantConfig",
        dest="print_important",
        action="store_true",
        help="print important config items and exit",
    )
    return parser


BROKER_ARG_PARSER = _build_parser()


def parse_args(argv: Sequence[str] | None = None) -> BrokerArgs:
    """Parse ``mqbroker`` options; exits through argparse (code 2) on a bad command line."""
    namespace = BROKER_ARG_PARSER.parse_args(None if argv is None else list(argv))
    return BrokerArgs(
        config_file=namespace.config_file,
        namesrv_addr=namespace.namesrv_addr,
        print_config=bool(namespace.print_config),
        print_important=bool(namespace.print_important),
    )


# --------------------------------------------------------------------------- loading


def load_broker_config(
    path: str | None, namesrv_override: str | None = None
) -> BrokerStartupConfig:
    """Read a broker ``-c`` file (or none) the way BrokerStartup does, then check the result.

    Raises ConfigError (naming file, line, key and value) for a value that does not convert,
    a namesrvAddr entry that is not host:port, or a SLAVE whose brokerId is not > 0; OSError
    when the file cannot be read.
    """
    entries = load_properties_file(path) if path is not None else []
    # BrokerStartup line 107 sets listenPort 10911 before the file: BrokerConfig's default.
    # Lines 124-127: the same Properties feed every config object.
    broker = apply_entries(BrokerConfig, entries)
    store = apply_entries(MessageStoreConfig, entries)
    warnings = check_entries(entries, BrokerConfig, MessageStoreConfig)

    # Line 134: the command line (-n) is applied to BrokerConfig after the file.
    namesrv_entry = _last(entries, "namesrvAddr")
    if namesrv_override is not None:
        namesrv_entry = PropertyEntry("namesrvAddr", namesrv_override, 0, COMMAND_LINE_N)
        broker = apply_entries(BrokerConfig, [namesrv_entry], broker)

    _check_namesrv_addr(broker.namesrv_addr, namesrv_entry)
    warnings += _apply_role(broker, store, entries, path)
    warnings += _apply_ha_listen_port(broker, store, entries)
    _resolve_store_paths(store)
    return BrokerStartupConfig(broker, store, warnings, path, entries)


def _last(entries: Sequence[PropertyEntry], key: str) -> PropertyEntry | None:
    """The entry that wins for ``key`` (the last one), if the file has any."""
    for entry in reversed(entries):
        if entry.key == key:
            return entry
    return None


def _check_namesrv_addr(value: str | None, entry: PropertyEntry | None) -> None:
    """Lines 141-154: every ``;``-separated entry must be host:port, else exit -3.

    Java's ``RemotingUtil.string2SocketAddress`` splits at the last ':' and parses the port
    with ``Integer.parseInt``; pyrmq also wants a host and a port in 1..65535, and skips empty
    entries (``a:1;`` is accepted by both).
    """
    if value is None:
        return
    if entry is None:
        entry = PropertyEntry("namesrvAddr", value, 0, ENVIRONMENT_NAMESRV)
    for part in value.split(";"):
        addr = part.strip()
        if not addr:
            continue
        problem = _host_port_problem(addr)
        if problem is not None:
            message = (
                f"{entry.where}: bad value for namesrvAddr: {entry.value!r} ({addr!r} {problem};"
                " expected host:port entries separated by ';', e.g. 127.0.0.1:9876;127.0.0.2:9876)"
            )
            raise ConfigError(
                message, source=entry.source, line=entry.line, key="namesrvAddr", value=entry.value
            )


def _host_port_problem(addr: str) -> str | None:
    host, colon, port = addr.rpartition(":")
    if not colon:
        return "has no ':port'"
    if not host:
        return "has no host"
    if not (port.isascii() and port.isdigit()):
        return f"has a port {port!r} that is not a number"
    if not 0 < int(port) <= 65535:
        return f"has a port {port} outside 1..65535"
    return None


def _apply_role(
    broker: BrokerConfig,
    store: MessageStoreConfig,
    entries: Sequence[PropertyEntry],
    path: str | None,
) -> list[str]:
    """Lines 156-174: brokerId from brokerRole (masters 0, slaves > 0) and DLedger.

    Java then sets brokerId -1 under DLedger (line 173) and lets the elected role decide;
    pyrmq keeps the file's brokerId there and leaves that to the DLedger code.
    """
    id_entry = _last(entries, "brokerId")
    role = store.broker_role
    if role is BrokerRole.SLAVE:
        if broker.broker_id <= 0:
            raise _slave_id_error(broker.broker_id, id_entry, _last(entries, "brokerRole"), path)
        return []
    if store.enable_d_leger_commit_log or broker.broker_id == _MASTER_ID:
        return []
    broker.broker_id = _MASTER_ID
    if id_entry is None:  # cannot happen from a file today: the default is 0
        return []
    return [
        f"{id_entry.where}: brokerId={id_entry.value.strip()} ignored: brokerRole={role.name}"
        f" means brokerId {_MASTER_ID} (set brokerRole=SLAVE for a slave)"
    ]


def _slave_id_error(
    broker_id: int,
    id_entry: PropertyEntry | None,
    role_entry: PropertyEntry | None,
    path: str | None,
) -> ConfigError:
    role_at = f" (brokerRole=SLAVE at {role_entry.where})" if role_entry is not None else ""
    if id_entry is not None:
        message = (
            f"{id_entry.where}: bad value for brokerId: {id_entry.value!r}:"
            f" brokerId must be > 0 for a SLAVE{role_at}"
        )
        return ConfigError(
            message,
            source=id_entry.source,
            line=id_entry.line,
            key="brokerId",
            value=id_entry.value,
        )
    where = role_entry.where if role_entry is not None else (path or "<defaults>")
    message = (
        f"{where}: brokerRole=SLAVE but brokerId is not set (default {broker_id}):"
        " brokerId must be > 0 for a SLAVE"
    )
    return ConfigError(
        message,
        source=role_entry.source if role_entry is not None else where,
        line=role_entry.line if role_entry is not None else 0,
        key="brokerId",
        value=str(broker_id),
    )


def _apply_ha_listen_port(
    broker: BrokerConfig, store: MessageStoreConfig, entries: Sequence[PropertyEntry]
) -> list[str]:
    """Line 176: 4.x always sets haListenPort = listenPort + 1, whatever the file says."""
    forced = broker.listen_port + 1
    entry = _last(entries, "haListenPort")
    store.ha_listen_port = forced
    if entry is None or entry.value.strip() == str(forced):
        return []
    return [
        f"{entry.where}: haListenPort={entry.value.strip()} ignored: a 4.9 broker always uses"
        f" listenPort + 1 = {forced}"
    ]


def _resolve_store_paths(store: MessageStoreConfig) -> None:
    """Relative store paths name folders of the current directory, as Java's ``File`` does;
    made absolute now so ``-p`` and the logs say which, and a later chdir changes nothing."""
    store.store_path_root_dir = os.path.abspath(store.store_path_root_dir)
    if store.store_path_commit_log:
        # 4.9 accepts several commitlog folders separated by ';'.
        store.store_path_commit_log = ";".join(
            os.path.abspath(part) if part else part
            for part in store.store_path_commit_log.split(";")
        )
    if store.store_path_d_ledger_commit_log:
        store.store_path_d_ledger_commit_log = os.path.abspath(store.store_path_d_ledger_commit_log)


# --------------------------------------------------------------------------- -p / -m / main


def config_text(config: BrokerStartupConfig, important_only: bool = False) -> str:
    """``-p`` (every key) or ``-m`` (the important ones): broker keys, then store keys.

    Each object's keys are sorted; None values are left out (Java prints ``key=``).
    """
    pairs = [*to_pairs(config.broker), *to_pairs(config.store)]
    if important_only:
        pairs = [(key, value) for key, value in pairs if key in IMPORTANT_KEYS]
    return format_properties(pairs)


def main_config(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> tuple[BrokerStartupConfig | None, int]:
    """The config a broker should start with, or why not.

    Returns ``(config, 0)`` to start; ``(None, 0)`` after ``-p``/``-m``/``-h`` printed what
    was asked; ``(None, 2)`` after printing the error (bad option, unreadable file, bad value)
    to stderr. Warnings stay in ``config.warnings`` for the caller's log (with -p/-m they go to
    stderr, since nothing else would show them).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse already printed usage or help
        return None, exit_.code if isinstance(exit_.code, int) else 2
    try:
        config = load_broker_config(args.config_file, args.namesrv_addr)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=err)
        return None, 2
    except OSError as exc:
        print(f"{PROG}: cannot read config file: {exc}", file=err)
        return None, 2
    if args.print_config or args.print_important:
        for warning in config.warnings:
            print(f"{PROG}: warning: {warning}", file=err)
        out.write(config_text(config, important_only=not args.print_config))
        return None, 0
    return config, 0
