"""Pid files: how ``mqshutdown`` finds the servers it stops, without matching process names.

Each server writes ``<role>-<host>-<port>.pid`` into the pid directory (``$PYRMQ_PID_DIR``,
default ``~/.pyrmq/run``) once it listens, and removes it when it stops. A file whose process is
gone, or is no longer a pyrmq process of that role (pid reuse), is stale and ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def pid_dir() -> Path:
    return Path(os.environ.get("PYRMQ_PID_DIR") or Path.home() / ".pyrmq" / "run")


@dataclass(frozen=True, slots=True)
class PidFile:
    path: Path
    pid: int


def pid_file_path(role: str, host: str, port: int) -> Path:
    return pid_dir() / f"{role}-{host}-{port}.pid"


def write_pid_file(role: str, host: str, port: int) -> Path:
    path = pid_file_path(role, host, port)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)
    return path


def remove_pid_file(path: Path) -> None:
    try:
        if int(path.read_text().strip()) == os.getpid():
            path.unlink()
    except (FileNotFoundError, ValueError):
        pass


def find_pid_files(role: str) -> list[PidFile]:
    """Live servers of ``role`` recorded in the pid directory."""
    found: list[PidFile] = []
    for path in sorted(pid_dir().glob(f"{role}-*.pid")):
        try:
            pid = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            continue
        if is_pyrmq_process(pid, role):
            found.append(PidFile(path, pid))
    return found


def is_pyrmq_process(pid: int, role: str) -> bool:
    """True when ``pid`` runs pyrmq's ``role`` server (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [word.decode(errors="replace") for word in cmdline]
    return any(f"pyrmq.{role}" in word or f"pyrmq-{role}" in word for word in words)
