"""Free ports on loopback for servers that must be told their port in advance.

The OS picks a port (bind to 0) and we let it go again, so another process could take it
before the server binds it: use it only where the port must be known up front (a restart on
the same port, DLedger peers, Java servers, a VIP channel at port - 2).
"""

from __future__ import annotations

import socket


def _bindable(host: str, port: int) -> bool:
    if not 0 < port < 65536:
        return False
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", also: tuple[int, ...] = ()) -> int:
    """A port free on ``host`` now, with ``port + d`` free too for every ``d`` in ``also``."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if all(_bindable(host, port + d) for d in also):
            return port
    raise RuntimeError(f"no free port on {host} with neighbours {also}")
