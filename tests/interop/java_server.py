"""Apache RocketMQ's own NameServer and Broker (4.9.7, from Maven Central) as test processes.

Started with ``java -cp`` on loopback with small heaps, found by PID, always stopped (SIGTERM,
then SIGKILL). Java's startup classes need ROCKETMQ_HOME with logback configs, so each process
gets a home in its temp dir with a console-only logback config. Java cannot report an
OS-chosen port to its registry, so ports are probed free first (the broker also binds
port - 2, its VIP channel, and port + 1, its HA port).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.interop.java_driver import java_binary, java_classpath
from tests.support.ports import free_port
from tests.support.processes import LoggedProcess, write_properties

LOGBACK = """<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{20} - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="out"/></root>
</configuration>
"""
NAMESRV_BOOT = re.compile(r"The Name Server boot success")
BROKER_BOOT = re.compile(r"The broker\[.*\] boot success")
#: Every delay level one second, as the pyrmq fixture.
FAST_LEVELS = " ".join(["1s"] * 18)


class JavaProcess(LoggedProcess):
    """One Java server: ``main_class -c conf`` with its own ROCKETMQ_HOME."""

    stop_grace_s = 15.0

    def __init__(self, main_class: str, conf: Path, workdir: Path, boot: re.Pattern[str]) -> None:
        home = workdir / "home"
        (home / "conf").mkdir(parents=True, exist_ok=True)
        for name in ("logback_namesrv.xml", "logback_broker.xml", "logback_tools.xml"):
            (home / "conf" / name).write_text(LOGBACK)
        command = [
            java_binary(),
            "-Xms128m",
            "-Xmx256m",
            "-XX:MaxDirectMemorySize=256m",
            "-XX:+UseSerialGC",
            # RocketMQ 4.9 unmaps segments through DirectByteBuffer's cleaner: on Java 17 its
            # shutdown fails half-way (no offsets persisted, abort file left) without these.
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
            "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
            f"-Duser.home={workdir}",
            f"-Drocketmq.home.dir={home}",
            "-cp",
            java_classpath(),
            main_class,
            "-c",
            str(conf),
        ]
        env = dict(os.environ, ROCKETMQ_HOME=str(home))
        super().__init__(command, workdir / "server.log", boot, env=env, cwd=workdir)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        self.wait_boot(timeout_s)


@dataclass
class JavaBroker:
    process: JavaProcess
    host: str
    port: int

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class JavaDeployment:
    """Java brokers registering with ``namesrv_addr``, and the Java NameServer if we started
    one (None: the brokers use another NameServer, e.g. pyrmq's); stopped together."""

    root: Path
    namesrv_addr: str
    namesrv: JavaProcess | None = None
    brokers: dict[str, JavaBroker] = field(default_factory=dict)

    def start_broker(self, name: str, host: str = "127.0.0.1", **extra: object) -> JavaBroker:
        self.root.mkdir(parents=True, exist_ok=True)
        port = free_port(host, also=(-2, 1))
        store = self.root / name / "store"
        settings: dict[str, object] = {
            "brokerClusterName": "DefaultCluster",
            "brokerName": name,
            "brokerId": 0,
            "brokerIP1": host,
            "brokerIP2": host,  # the HA address slaves learn (default: a non-loopback address)
            "listenPort": port,
            "namesrvAddr": self.namesrv_addr,
            "storePathRootDir": store,
            "storePathCommitLog": store / "commitlog",
            "mappedFileSizeCommitLog": 16 * 1024 * 1024,
            "maxHashSlotNum": 100_000,
            "maxIndexNum": 400_000,
            "defaultTopicQueueNums": 4,
            "autoCreateTopicEnable": "true",
            "enablePropertyFilter": "true",
            "messageDelayLevel": FAST_LEVELS,
            "transactionTimeOut": 1000,
            "transactionCheckInterval": 1000,
            **extra,
        }
        conf = write_properties(self.root / f"{name}.properties", **settings)
        workdir = self.root / f"{name}-run-{time.monotonic_ns()}"
        workdir.mkdir(parents=True, exist_ok=True)
        process = JavaProcess(
            "org.apache.rocketmq.broker.BrokerStartup", conf, workdir, BROKER_BOOT
        )
        broker = JavaBroker(process, host, port)
        self.brokers[name] = broker
        process.wait_ready()
        return broker

    def stop_all(self) -> None:
        for broker in self.brokers.values():
            broker.process.stop()
        if self.namesrv is not None:
            self.namesrv.stop()


def start_java_namesrv(root: Path) -> JavaDeployment:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = write_properties(
        root / "namesrv.properties", listenPort=port, kvConfigPath=root / "kvConfig.json"
    )
    workdir = root / "namesrv"
    workdir.mkdir(parents=True, exist_ok=True)
    process = JavaProcess("org.apache.rocketmq.namesrv.NamesrvStartup", conf, workdir, NAMESRV_BOOT)
    deployment = JavaDeployment(root, f"127.0.0.1:{port}", process)
    try:
        process.wait_ready()
    except Exception:
        process.stop()
        raise
    return deployment
