"""Client settings and identity: timers, timeouts, the client id.

Owns the numbers every client instance runs by (protocol.md §6.1: route poll 30 s, heartbeat
30 s, offset persistence 5 s after 10 s, rebalance 20 s, 3 s metadata timeout) and how a client
names itself (``<ip>@<instanceName>``). Mirrors ``ClientConfig`` (``buildMQClientId``,
``changeInstanceNameToPID``). Stdlib and ``remoting.client.split_addr`` only.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from pyrmq.remoting.client import split_addr

__all__ = ["ClientConfig", "build_client_id", "local_ip"]


@dataclass(slots=True)
class ClientConfig:
    """``ClientConfig`` timers and timeouts, in seconds (Java's defaults)."""

    poll_name_server_interval_s: float = 30.0
    heartbeat_broker_interval_s: float = 30.0
    persist_consumer_offset_interval_s: float = 5.0
    persist_consumer_offset_initial_delay_s: float = 10.0
    rebalance_interval_s: float = 20.0
    api_timeout_s: float = 3.0


def local_ip(namesrv_addrs: list[str]) -> str:
    """The address this host uses to reach the first NameServer (connecting a UDP socket sends
    nothing); 127.0.0.1 when that cannot be found. Java scans interfaces instead; the address
    the brokers see is what matters for display."""
    try:
        host, port = split_addr(namesrv_addrs[0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            return str(sock.getsockname()[0])
    except (OSError, ValueError):
        return "127.0.0.1"


def build_client_id(ip: str, instance_name: str, unit_name: str | None = None) -> str:
    """``<ip>@<instanceName>[@<unitName>]``; ``DEFAULT`` becomes ``<pid>#<nanoTime>`` as
    ``ClientConfig.changeInstanceNameToPID`` makes it, so every client object is distinct."""
    if instance_name == "DEFAULT":
        instance_name = f"{os.getpid()}#{time.monotonic_ns()}"
    client_id = f"{ip}@{instance_name}"
    return f"{client_id}@{unit_name}" if unit_name else client_id
