"""mqshutdown: stop the NameServers or Brokers started on this machine, gracefully.

``python -m pyrmq.tools.shutdown namesrv|broker``: SIGTERM to every live server of that role
found through its pid file (``common.pidfile``), then wait for each to exit. Mirrors
``bin/mqshutdown``, which Java implements with ``kill`` on the JVM's pid.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from pyrmq.common.pidfile import find_pid_files, is_pyrmq_process

ROLES = ("namesrv", "broker")


def _wait_gone(pid: int, role: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_pyrmq_process(pid, role):
            return True
        time.sleep(0.05)
    return False


def shutdown(role: str, timeout_s: float) -> int:
    servers = find_pid_files(role)
    if not servers:
        print(f"No mq{role} running.")
        return 1
    failed = 0
    for server in servers:
        os.kill(server.pid, signal.SIGTERM)
        print(f"The mq{role}({server.pid}) is running...")
    for server in servers:
        if _wait_gone(server.pid, role, timeout_s):
            print(f"Send shutdown request to mq{role}({server.pid}) OK")
        else:
            print(f"mq{role}({server.pid}) did not stop within {timeout_s:g}s", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mqshutdown", description=__doc__)
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait per server")
    args = parser.parse_args(argv)
    return shutdown(args.role, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
