"""The NameServer as users start it: bin/mqnamesrv, nohup, -c, -p, bin/mqshutdown."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrmq.remoting import bodies
from pyrmq.remoting.client import RemotingClient
from pyrmq.remoting.codes import RequestCode, ResponseCode
from pyrmq.remoting.command import request
from tests.support.processes import REPO, ServerProcess, run_bin, server_env, write_properties


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return write_properties(
        tmp_path / "namesrv.properties",
        listenPort=0,
        bindAddress="127.0.0.1",
        kvConfigPath=tmp_path / "kvConfig.json",
    )


@pytest.fixture
def namesrv(tmp_path: Path, conf: Path) -> Iterator[ServerProcess]:
    server = ServerProcess("mqnamesrv", ["-c", str(conf)], tmp_path)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


async def test_started_namesrv_answers_and_mqshutdown_stops_it(
    namesrv: ServerProcess, tmp_path: Path
) -> None:
    client = RemotingClient()
    try:
        response = await client.invoke(namesrv.addr, request(RequestCode.GET_BROKER_CLUSTER_INFO))
        assert response.code == ResponseCode.SUCCESS
        assert bodies.decode_cluster_info(response.body or b"").cluster_addr_table == {}
    finally:
        await client.close()
    pid_files = list((tmp_path / "run").glob("namesrv-*.pid"))
    assert [p.read_text().strip() for p in pid_files] == [str(namesrv.pid)]

    stopped = run_bin("mqshutdown", ["namesrv"], tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"mqnamesrv({namesrv.pid})" in stopped.stdout
    assert namesrv.wait_exit() == 0
    assert not list((tmp_path / "run").glob("namesrv-*.pid"))
    assert "shut down" in namesrv.output()


def test_nohup_form_of_the_tutorial(tmp_path: Path, conf: Path) -> None:
    # nohup sh bin/mqnamesrv & -- output lands in nohup.out of the working directory.
    subprocess.run(
        ["sh", "-c", f"nohup sh {REPO}/bin/mqnamesrv -c {conf} > nohup.out 2>&1 &"],
        cwd=tmp_path,
        env=server_env(tmp_path / "run"),
        check=True,
        timeout=30,
    )
    pid = 0
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pid_files = list((tmp_path / "run").glob("namesrv-*.pid"))
            if pid_files:
                pid = int(pid_files[0].read_text())
            if pid and "boot success" in _read(tmp_path / "nohup.out"):
                break
            time.sleep(0.05)
        assert pid, _read(tmp_path / "nohup.out")
        assert "boot success" in _read(tmp_path / "nohup.out")
        stopped = run_bin("mqshutdown", ["namesrv"], tmp_path)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not _alive(pid)
    finally:
        if pid and _alive(pid):
            os.kill(pid, 9)


def test_mqshutdown_without_a_server(tmp_path: Path) -> None:
    result = run_bin("mqshutdown", ["namesrv"], tmp_path)
    assert result.returncode == 1
    assert "No mqnamesrv running" in result.stdout


def test_stale_pid_file_of_another_process_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "namesrv-127.0.0.1-9876.pid").write_text(f"{os.getpid()}\n")
    result = run_bin("mqshutdown", ["namesrv"], tmp_path)
    assert result.returncode == 1  # this pytest process is not a NameServer: not signalled


def test_print_config_shows_effective_values(tmp_path: Path, conf: Path) -> None:
    defaults = run_bin("mqnamesrv", ["-p"], tmp_path)
    assert defaults.returncode == 0
    assert "listenPort=9876" in defaults.stdout.splitlines()
    from_file = run_bin("mqnamesrv", ["-c", str(conf), "-p"], tmp_path)
    assert "listenPort=0" in from_file.stdout.splitlines()
    assert "bindAddress=127.0.0.1" in from_file.stdout.splitlines()


def test_bad_value_stops_startup_naming_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.properties"
    bad.write_text("# a comment\nbindAddress=127.0.0.1\nlistenPort=98x76\n")
    result = run_bin("mqnamesrv", ["-c", str(bad)], tmp_path)
    assert result.returncode == 2
    assert f"{bad}:3" in result.stderr
    assert "listenPort" in result.stderr and "98x76" in result.stderr


def test_unknown_key_is_reported_with_a_suggestion_and_startup_goes_on(
    tmp_path: Path, conf: Path
) -> None:
    conf.write_text(conf.read_text() + "orderMessageEnabel=true\n")
    server = ServerProcess("mqnamesrv", ["-c", str(conf)], tmp_path)
    try:
        server.wait_ready()
        line = next(ln for ln in server.output().splitlines() if "orderMessageEnabel" in ln)
        assert f"{conf}:4" in line
        assert "did you mean orderMessageEnable?" in line
    finally:
        server.stop()


def test_console_script_is_installed() -> None:
    script = REPO / ".venv" / "bin" / "pyrmq-namesrv"
    if not script.exists():
        pytest.skip("not installed in .venv (run through make test)")
    result = subprocess.run(
        [str(script), "-p"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "listenPort=9876" in result.stdout


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of an exited shell does not count
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def test_one_namesrv_per_loopback_host_on_the_same_port(tmp_path: Path) -> None:
    # The tutorial runs a NameServer on each host; on one machine 127.0.0.1 and 127.0.0.2
    # stand for two hosts, both on the same port. They share nothing.
    first_conf = write_properties(
        tmp_path / "n1.properties",
        listenPort=0,
        bindAddress="127.0.0.1",
        kvConfigPath=tmp_path / "kv1.json",
    )
    first = ServerProcess("mqnamesrv", ["-c", str(first_conf)], tmp_path).wait_ready()
    second = None
    client = RemotingClient()
    try:
        second_conf = write_properties(
            tmp_path / "n2.properties",
            listenPort=first.port,
            bindAddress="127.0.0.2",
            kvConfigPath=tmp_path / "kv2.json",
        )
        second = ServerProcess("mqnamesrv", ["-c", str(second_conf)], tmp_path).wait_ready()
        assert (second.host, second.port) == ("127.0.0.2", first.port)
        put = request(RequestCode.PUT_KV_CONFIG, {"namespace": "ns", "key": "k", "value": "v"})
        assert (await client.invoke(first.addr, put)).code == ResponseCode.SUCCESS
        get = {"namespace": "ns", "key": "k"}
        assert (await client.invoke(first.addr, request(RequestCode.GET_KV_CONFIG, get))).code == 0
        other = await client.invoke(second.addr, request(RequestCode.GET_KV_CONFIG, get))
        assert other.code == ResponseCode.QUERY_NOT_FOUND

        stopped = run_bin("mqshutdown", ["namesrv"], tmp_path)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert first.wait_exit() == 0 and second.wait_exit() == 0
    finally:
        await client.close()
        first.stop()
        if second is not None:
            second.stop()
