"""Real server processes for tests: started through bin/, found by PID, always stopped.

The nats-server harness shape: spawn, wait for the boot line (which names the bound port),
and stop by PID at the end (SIGTERM, then SIGKILL if it lingers). Output goes to a log file in
the test's temp dir so a failure shows what the server said.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.vectors import REPO

BOOT_LINE = re.compile(r"boot success.* listening on (?P<host>[\d.]+):(?P<port>\d+)")


def server_env(pid_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYRMQ_PID_DIR"] = str(pid_dir)
    env.pop("PYTHONPATH", None)
    return env


class LoggedProcess:
    """A process whose output goes to ``log_path``, ready once its boot line appears there,
    stopped by PID (SIGTERM, then SIGKILL after ``stop_grace_s``)."""

    stop_grace_s = 10.0

    def __init__(
        self,
        command: Sequence[str],
        log_path: Path,
        boot: re.Pattern[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.log_path = log_path
        self._boot = boot
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(command), stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_boot(self, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = self._boot.search(self.output())
            if match:
                return match
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"no boot line within {timeout_s}s:\n{self.output()}")

    def wait_exit(self, timeout_s: float = 20.0) -> int:
        return self.proc.wait(timeout_s)

    def stop(self) -> None:
        """Stop by PID: SIGTERM, then SIGKILL after ``stop_grace_s``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class ServerProcess(LoggedProcess):
    """One server started with ``sh bin/<script> args``; its boot line names where it listens."""

    def __init__(self, script: str, args: Sequence[str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.pid_dir = workdir / "run"
        super().__init__(
            ["sh", str(REPO / "bin" / script), *args],
            workdir / f"{script}.log",
            BOOT_LINE,
            env=server_env(self.pid_dir),
            cwd=workdir,
        )
        self.host = ""
        self.port = 0

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def wait_ready(self, timeout_s: float = 20.0) -> ServerProcess:
        match = self.wait_boot(timeout_s)
        self.host, self.port = match["host"], int(match["port"])
        return self


def write_properties(path: Path, **values: object) -> Path:
    lines = [f"{key}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_bin(
    script: str, args: Sequence[str], workdir: Path, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(REPO / "bin" / script), *args],
        capture_output=True,
        text=True,
        env=server_env(workdir / "run"),
        cwd=workdir,
        timeout=timeout_s,
        check=False,
    )
