"""Tests for pyrmq.broker.startup: mqbroker's options, -c file, -n override, post-processing."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.startup import (
    BrokerArgs,
    BrokerStartupConfig,
    config_text,
    load_broker_config,
    main_config,
    parse_args,
)
from pyrmq.common.config import ConfigError, known_keys
from pyrmq.store.config import BrokerRole, FlushDiskType, MessageStoreConfig

ROOT = Path(__file__).parents[3]
TUTORIAL = ROOT / ".." / "shared" / "tutorial"
TUTORIAL_FILES = sorted(TUTORIAL.glob("*.properties")) if TUTORIAL.is_dir() else []
NO_TUTORIAL = f"tutorial fixtures not found in {TUTORIAL.resolve()}"
TUTORIAL_HOME = "/home/wangjianghua/src/rocketmq/data"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # BrokerConfig's namesrvAddr default comes from the environment; relative store paths from
    # the current directory.
    monkeypatch.delenv("NAMESRV_ADDR", raising=False)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "broker.properties") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --------------------------------------------------------------------------- tutorial files


@dataclass(frozen=True)
class Tutorial:
    cluster: str
    name: str
    broker_id: int
    role: BrokerRole
    flush: FlushDiskType
    namesrvs: int
    root: str
    dledger: bool = False
    #: (line, text) of each expected warning, in order
    warnings: tuple[tuple[int, str], ...] = ()


ASYNC, SYNC, SLAVE = BrokerRole.ASYNC_MASTER, BrokerRole.SYNC_MASTER, BrokerRole.SLAVE
AFLUSH, SFLUSH = FlushDiskType.ASYNC_FLUSH, FlushDiskType.SYNC_FLUSH
C31, C32, C34 = (
    "rocketmq-2m-noslave-cluster",
    "rocketmq-2m-slave-cluster-async",
    "rocketmq-2m-slave-cluster",
)
M1, M2 = "rocketmq-broker-m1", "rocketmq-broker-m2"
STORE, STORE1, DLEDGER = (
    f"{TUTORIAL_HOME}/store",
    f"{TUTORIAL_HOME}/store1",
    f"{TUTORIAL_HOME}/store/dledger",
)
REPEATED_ROOT = (30, "storePathRootDir repeated (first set on line 20); the last value wins")
TYPO = (27, "unknown key flushDiskTyp (did you mean flushDiskType?)")

TUTORIAL_TABLE = {
    "3.1-2m-noslave--broker-a": Tutorial(C31, M1, 0, ASYNC, AFLUSH, 2, STORE),
    "3.1-2m-noslave--broker-b": Tutorial(C31, M2, 0, ASYNC, AFLUSH, 2, STORE),
    "3.2-2m-2s-async--broker-a": Tutorial(C32, M1, 0, ASYNC, AFLUSH, 4, STORE),
    "3.2-2m-2s-async--broker-a-s": Tutorial(C32, M1, 1, SLAVE, AFLUSH, 4, STORE),
    "3.2-2m-2s-async--broker-b": Tutorial(C32, M2, 0, ASYNC, AFLUSH, 4, STORE),
    "3.2-2m-2s-async--broker-b-s": Tutorial(C32, M2, 1, SLAVE, AFLUSH, 4, STORE1),
    "3.3-2m-2s-sync-shown-as-async--broker-a": Tutorial(C32, M1, 0, SYNC, SFLUSH, 4, STORE),
    "3.3-2m-2s-sync-shown-as-async--broker-a-s": Tutorial(C32, M1, 1, SLAVE, AFLUSH, 4, STORE),
    "3.3-2m-2s-sync-shown-as-async--broker-b": Tutorial(C32, M2, 0, SYNC, SFLUSH, 4, STORE),
    "3.3-2m-2s-sync-shown-as-async--broker-b-s": Tutorial(C32, M2, 1, SLAVE, AFLUSH, 4, STORE1),
    "3.4-dledger-n0--broker-a": Tutorial(
        C32, M1, 0, SYNC, SFLUSH, 3, DLEDGER, dledger=True, warnings=(REPEATED_ROOT,)
    ),
    # flushDiskTyp is misspelled: flushDiskType stays at its default, ASYNC_FLUSH.
    "3.4-dledger-n1--broker-a-s": Tutorial(
        C34, M1, 1, SLAVE, AFLUSH, 3, DLEDGER, dledger=True, warnings=(TYPO, REPEATED_ROOT)
    ),
    "3.4-dledger-n2--broker-a-s": Tutorial(
        C34, M1, 2, SLAVE, AFLUSH, 3, DLEDGER, dledger=True, warnings=(TYPO, REPEATED_ROOT)
    ),
}


def test_tutorial_table_covers_every_tutorial_file() -> None:
    if not TUTORIAL_FILES:
        pytest.skip(NO_TUTORIAL)
    assert sorted(TUTORIAL_TABLE) == sorted(path.stem for path in TUTORIAL_FILES)


@pytest.mark.parametrize("stem", sorted(TUTORIAL_TABLE))
def test_tutorial_file_loads(stem: str, tmp_path: Path) -> None:
    path = TUTORIAL / f"{stem}.properties"
    if not path.is_file():
        pytest.skip(NO_TUTORIAL)
    expected = TUTORIAL_TABLE[stem]
    tutorial_home_existed = Path(TUTORIAL_HOME).exists()

    config = load_broker_config(str(path))

    broker, store = config.broker, config.store
    assert config.source == str(path)
    assert (broker.broker_cluster_name, broker.broker_name) == (expected.cluster, expected.name)
    assert broker.broker_id == expected.broker_id
    assert (store.broker_role, store.flush_disk_type) == (expected.role, expected.flush)
    assert store.enable_d_leger_commit_log is expected.dledger
    assert len(broker.namesrv_addr_list()) == expected.namesrvs
    assert broker.namesrv_addr_list()[0] == "127.0.0.1:9876"
    assert store.store_path_root_dir == expected.root  # the last storePathRootDir wins
    # The old maped* spellings are honoured (a 4.5.2+ Java broker would keep 6,000,000).
    assert store.mapped_file_size_commit_log == 1_073_741_824
    assert store.mapped_file_size_consume_queue == 50_000_000
    assert (broker.listen_port, store.ha_listen_port) == (10911, 10912)
    assert (store.file_reserved_time, store.delete_when) == (120, "04")
    assert (store.disk_max_used_space_ratio, store.max_message_size) == (88, 65536)
    assert store.destroy_maped_file_interval_forcibly == 120_000
    assert store.redelete_hanged_file_interval == 120_000
    assert (broker.default_topic_queue_nums, broker.send_message_thread_pool_nums) == (4, 128)
    assert broker.auto_create_topic_enable and broker.auto_create_subscription_group
    assert config.warnings == [f"{path}:{line}: {text}" for line, text in expected.warnings]
    # Loading creates nothing: not the tutorial's folders, not the current directory's.
    assert Path(TUTORIAL_HOME).exists() is tutorial_home_existed
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stem", ["3.4-dledger-n1--broker-a-s", "3.4-dledger-n2--broker-a-s"])
def test_tutorial_flush_disk_typ_warning_names_file_and_line(stem: str) -> None:
    path = TUTORIAL / f"{stem}.properties"
    if not path.is_file():
        pytest.skip(NO_TUTORIAL)
    config = load_broker_config(str(path))
    line = next(
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if text.startswith("flushDiskTyp=")
    )
    assert f"{path}:{line}: unknown key flushDiskTyp (did you mean flushDiskType?)" in (
        config.warnings
    )


# --------------------------------------------------------------------------- pyrmq's conf/

CONF_TABLE = {
    # file: (brokerName, brokerIP1, namesrvAddr, store root under the current directory)
    "conf/broker.conf": ("broker-a", "127.0.0.1", "127.0.0.1:9876", "data/store"),
    "conf/2m-noslave/broker-a.properties": (
        "rocketmq-broker-m1",
        "127.0.0.1",
        "127.0.0.1:9876;127.0.0.2:9876",
        "data/2m-noslave/broker-a",
    ),
    "conf/2m-noslave/broker-b.properties": (
        "rocketmq-broker-m2",
        "127.0.0.2",
        "127.0.0.1:9876;127.0.0.2:9876",
        "data/2m-noslave/broker-b",
    ),
}


@pytest.mark.parametrize("name", sorted(CONF_TABLE))
def test_conf_file_loads_without_warnings(name: str, tmp_path: Path) -> None:
    broker_name, ip, namesrv, root = CONF_TABLE[name]
    config = load_broker_config(str(ROOT / name))
    assert config.warnings == []
    broker, store = config.broker, config.store
    assert (broker.broker_name, broker.broker_i_p1, broker.listen_host) == (broker_name, ip, ip)
    assert broker.namesrv_addr == namesrv
    assert (broker.broker_id, store.broker_role) == (0, BrokerRole.ASYNC_MASTER)
    assert store.flush_disk_type is FlushDiskType.ASYNC_FLUSH
    assert (broker.listen_port, store.ha_listen_port) == (10911, 10912)
    assert store.store_path_root_dir == str(tmp_path / root)  # relative to the current dir
    assert list(tmp_path.iterdir()) == []


def test_two_masters_no_slave_files_differ_only_where_they_must() -> None:
    a = load_broker_config(str(ROOT / "conf/2m-noslave/broker-a.properties"))
    b = load_broker_config(str(ROOT / "conf/2m-noslave/broker-b.properties"))
    assert a.broker.broker_addr == "127.0.0.1:10911"
    assert b.broker.broker_addr == "127.0.0.2:10911"
    assert a.store.store_path_root_dir != b.store.store_path_root_dir
    assert a.broker.broker_cluster_name == b.broker.broker_cluster_name
    assert a.store.mapped_file_size_consume_queue == 50_000_000
    assert a.store.max_message_size == 65536
    assert not {e.key for e in a.entries} & {"storePathConsumeQueue", "storePathIndex"}


def test_bin_mqbroker_runs_the_broker_module() -> None:
    script = ROOT / "bin" / "mqbroker"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert '. "$(dirname "$0")/_python.sh"' in text
    assert 'exec "$PYRMQ_PYTHON" -m pyrmq.broker "$@"' in text


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Bad:
    text: str
    line: int
    key: str
    value: str
    message: str  # a fragment of the message


ERROR_TABLE = {
    "role typo": Bad("brokerId=1\nbrokerRole=SLAV\n", 2, "brokerRole", "SLAV", "SLAVE"),
    "role case": Bad("flushDiskType=SYNC_flush\n", 1, "flushDiskType", "SYNC_flush", "SYNC_FLUSH"),
    "port not a number": Bad("listenPort=abc\n", 1, "listenPort", "abc", "an integer"),
    "boolean yes": Bad(
        "autoCreateTopicEnable=yes\n", 1, "autoCreateTopicEnable", "yes", "true or false"
    ),
    "namesrv without port": Bad("namesrvAddr=nohost\n", 1, "namesrvAddr", "nohost", ":port"),
    "namesrv bad port": Bad(
        "namesrvAddr=127.0.0.1:98x6\n", 1, "namesrvAddr", "127.0.0.1:98x6", "not a number"
    ),
    "namesrv port range": Bad(
        "# c\nnamesrvAddr=127.0.0.1:9876;127.0.0.2:70000\n",
        2,
        "namesrvAddr",
        "127.0.0.1:9876;127.0.0.2:70000",
        "outside 1..65535",
    ),
    "namesrv no host": Bad("namesrvAddr=:9876\n", 1, "namesrvAddr", ":9876", "no host"),
    "slave brokerId 0": Bad(
        "brokerRole=SLAVE\nbrokerId=0\n", 2, "brokerId", "0", "brokerId must be > 0 for a SLAVE"
    ),
    "slave brokerId -1": Bad(
        "brokerId=-1\nbrokerRole=SLAVE\n", 1, "brokerId", "-1", "brokerId must be > 0 for a SLAVE"
    ),
    # Java checks the role before DLedger, so a DLedger SLAVE file needs brokerId > 0 too.
    "dledger slave brokerId 0": Bad(
        "enableDLegerCommitLog=true\nbrokerRole=SLAVE\nbrokerId=0\n",
        3,
        "brokerId",
        "0",
        "brokerId must be > 0 for a SLAVE",
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_TABLE))
def test_bad_file_raises_config_error_naming_file_line_key_value(case: str, tmp_path: Path) -> None:
    bad = ERROR_TABLE[case]
    path = write(tmp_path, bad.text)
    with pytest.raises(ConfigError) as raised:
        load_broker_config(path)
    error = raised.value
    assert (error.source, error.line, error.key, error.value) == (
        path,
        bad.line,
        bad.key,
        bad.value,
    )
    message = str(error)
    assert message.startswith(f"{path}:{bad.line}: ")
    assert bad.key in message and repr(bad.value) in message and bad.message in message


def test_slave_without_brokerid_points_at_the_role_line(tmp_path: Path) -> None:
    path = write(tmp_path, "brokerName=b\nbrokerRole=SLAVE\n")
    with pytest.raises(ConfigError, match="brokerId must be > 0 for a SLAVE") as raised:
        load_broker_config(path)
    assert (raised.value.source, raised.value.line, raised.value.key) == (path, 2, "brokerId")
    assert str(raised.value).startswith(f"{path}:2: brokerRole=SLAVE but brokerId is not set")


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_broker_config(str(tmp_path / "nope.properties"))


# --------------------------------------------------------------------------- post-processing


@dataclass(frozen=True)
class Post:
    text: str
    broker_id: int
    ha_listen_port: int
    warnings: tuple[str, ...]  # "LINE: text"


POST_TABLE = {
    "master keeps 0": Post("brokerRole=ASYNC_MASTER\nbrokerId=0\n", 0, 10912, ()),
    "async master forced to 0": Post(
        "brokerRole=ASYNC_MASTER\nbrokerId=1\n",
        0,
        10912,
        (
            "2: brokerId=1 ignored: brokerRole=ASYNC_MASTER means brokerId 0"
            " (set brokerRole=SLAVE for a slave)",
        ),
    ),
    "sync master forced to 0": Post(
        "brokerId=3\nbrokerRole=SYNC_MASTER\n",
        0,
        10912,
        (
            "1: brokerId=3 ignored: brokerRole=SYNC_MASTER means brokerId 0"
            " (set brokerRole=SLAVE for a slave)",
        ),
    ),
    "default role is a master": Post(
        "brokerId=2\n",
        0,
        10912,
        (
            "1: brokerId=2 ignored: brokerRole=ASYNC_MASTER means brokerId 0"
            " (set brokerRole=SLAVE for a slave)",
        ),
    ),
    "slave keeps its id": Post("brokerRole=SLAVE\nbrokerId=2\n", 2, 10912, ()),
    "dledger leaves brokerId alone": Post(
        "brokerRole=SYNC_MASTER\nbrokerId=5\nenableDLegerCommitLog=true\n", 5, 10912, ()
    ),
    "ha port follows listenPort": Post("listenPort=20911\n", 0, 20912, ()),
    "ha port overwritten": Post(
        "listenPort=10911\nhaListenPort=20000\n",
        0,
        10912,
        ("2: haListenPort=20000 ignored: a 4.9 broker always uses listenPort + 1 = 10912",),
    ),
    "ha port already right": Post("listenPort=30911\nhaListenPort=30912\n", 0, 30912, ()),
    "unknown key": Post(
        "listenport=10911\n", 0, 10912, ("1: unknown key listenport (did you mean listenPort?)",)
    ),
    "repeated key": Post(
        "brokerName=x\nbrokerName=y\n",
        0,
        10912,
        ("2: brokerName repeated (first set on line 1); the last value wins",),
    ),
    "ignored 3.x keys": Post("storePathIndex=/x\nabortFile=/y\nstoreCheckpoint=/z\n", 0, 10912, ()),
    "netty keys ignored": Post("serverWorkerThreads=8\n", 0, 10912, ()),
}


@pytest.mark.parametrize("case", sorted(POST_TABLE))
def test_post_processing(case: str, tmp_path: Path) -> None:
    post = POST_TABLE[case]
    path = write(tmp_path, post.text)
    config = load_broker_config(path)
    assert config.broker.broker_id == post.broker_id
    assert config.store.ha_listen_port == post.ha_listen_port
    assert config.warnings == [f"{path}:{warning}" for warning in post.warnings]


def test_no_file_gives_java_defaults() -> None:
    config = load_broker_config(None)
    assert config.source is None and config.warnings == [] and config.entries == []
    assert config.store.store_path_root_dir == str(Path.home() / "store")
    assert (config.broker.listen_port, config.store.ha_listen_port) == (10911, 10912)
    assert config.broker.broker_id == 0
    assert config.broker.namesrv_addr is None


@pytest.mark.parametrize(
    ("text", "root", "commitlog"),
    [
        ("storePathRootDir=./data/store\n", "data/store", ""),
        ("storePathRootDir=rel\nstorePathCommitLog=rel/c1;rel/c2\n", "rel", "rel/c1;rel/c2"),
    ],
)
def test_relative_store_paths_resolve_against_the_current_directory(
    text: str, root: str, commitlog: str, tmp_path: Path
) -> None:
    config_dir = tmp_path / "elsewhere"
    config_dir.mkdir()
    config = load_broker_config(write(config_dir, text))
    assert config.store.store_path_root_dir == str(tmp_path / root)
    expected = ";".join(str(tmp_path / part) for part in commitlog.split(";")) if commitlog else ""
    assert config.store.store_path_commit_log == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]  # nothing created


@pytest.mark.parametrize(
    ("file_value", "override", "expected"),
    [
        ("127.0.0.1:9876", "127.0.0.2:9876;127.0.0.3:9876", "127.0.0.2:9876;127.0.0.3:9876"),
        (None, "127.0.0.2:9876", "127.0.0.2:9876"),
        ("127.0.0.1:9876", None, "127.0.0.1:9876"),
        # the file's bad value does not matter once -n replaces it, as in Java
        ("nohost", "127.0.0.1:9876", "127.0.0.1:9876"),
    ],
)
def test_n_overrides_the_file(
    file_value: str | None, override: str | None, expected: str, tmp_path: Path
) -> None:
    text = f"namesrvAddr={file_value}\n" if file_value else "brokerName=x\n"
    config = load_broker_config(write(tmp_path, text), override)
    assert config.broker.namesrv_addr == expected
    assert config.warnings == []


def test_bad_n_names_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^command line -n: bad value for namesrvAddr") as e:
        load_broker_config(write(tmp_path, "namesrvAddr=127.0.0.1:9876\n"), "localhost")
    assert (e.value.key, e.value.value, e.value.line) == ("namesrvAddr", "localhost", 0)


def test_bad_namesrv_addr_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAMESRV_ADDR", "somewhere")
    with pytest.raises(ConfigError, match=r"^environment NAMESRV_ADDR: bad value for namesrvAddr"):
        load_broker_config(None)


# --------------------------------------------------------------------------- syntax

SYNTAX_TABLE = {
    "spaces around =": ("brokerName = broker-x\nlistenPort = 20911\n", "broker-x", 20911, None),
    "colon separator": ("brokerName: broker-x\nlistenPort:20911\n", "broker-x", 20911, None),
    "blank separator": ("brokerName broker-x\n", "broker-x", 10911, None),
    "continuation lines": (
        "brokerName=broker-\\\n    x\nnamesrvAddr=127.0.0.1:9876;\\\n    127.0.0.2:9876\n",
        "broker-x",
        10911,
        "127.0.0.1:9876;127.0.0.2:9876",
    ),
    "comments and crlf": (
        "# c\r\n! c\r\nbrokerName=broker-x\r\nlistenPort=20911\r\n",
        "broker-x",
        20911,
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(SYNTAX_TABLE))
def test_properties_syntax(case: str, tmp_path: Path) -> None:
    text, name, port, namesrv = SYNTAX_TABLE[case]
    config = load_broker_config(write(tmp_path, text))
    assert (config.broker.broker_name, config.broker.listen_port) == (name, port)
    assert config.store.ha_listen_port == port + 1
    assert config.broker.namesrv_addr == namesrv
    assert config.warnings == []


def test_continuation_keeps_the_first_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, "brokerName=x\nlistenPort=1\\\n  2a\n")
    with pytest.raises(ConfigError) as raised:
        load_broker_config(path)
    assert (raised.value.line, raised.value.value) == (2, "12a")


def test_trailing_blank_after_a_number_is_trimmed_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "listenPort=20911 \n")
    config = load_broker_config(path)
    assert config.broker.listen_port == 20911
    assert config.warnings == [f"{path}:1: trailing whitespace after listenPort ignored"]


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], BrokerArgs(None, None, False, False)),
        (["-c", "f", "-n", "a:1"], BrokerArgs("f", "a:1", False, False)),
        (["--configFile", "f", "--namesrvAddr", "a:1"], BrokerArgs("f", "a:1", False, False)),
        (["-c", "f", "-p"], BrokerArgs("f", None, True, False)),
        (["--printConfigItem", "--printImportantConfig"], BrokerArgs(None, None, True, True)),
        (["-m"], BrokerArgs(None, None, False, True)),
    ],
)
def test_parse_args(argv: list[str], expected: BrokerArgs) -> None:
    assert parse_args(argv) == expected


def run_main(argv: list[str]) -> tuple[BrokerStartupConfig | None, int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    config, code = main_config(argv, stdout=out, stderr=err)
    return config, code, out.getvalue(), err.getvalue()


def test_main_config_returns_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, "brokerName=x\nbrokerNam=y\n")
    config, code, out, err = run_main(["-c", path, "-n", "127.0.0.1:9876"])
    assert code == 0 and config is not None
    assert (config.broker.broker_name, config.broker.namesrv_addr) == ("x", "127.0.0.1:9876")
    assert config.warnings == [f"{path}:2: unknown key brokerNam (did you mean brokerName?)"]
    assert out == err == ""  # warnings are the caller's to log


def test_p_prints_broker_keys_then_store_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "brokerName=broker-x\nmapedFileSizeCommitLog=1024\nbrokerId=4\n")
    config, code, out, err = run_main(["-c", path, "-p"])
    assert (config, code) == (None, 0)
    lines = out.splitlines()
    assert "brokerName=broker-x" in lines
    assert "mappedFileSizeCommitLog=1024" in lines
    assert "brokerId=0" in lines  # the effective value, after post-processing
    assert "haListenPort=10912" in lines
    keys = [line.partition("=")[0] for line in lines]
    broker_keys, store_keys = set(known_keys(BrokerConfig)), set(known_keys(MessageStoreConfig))
    split = next(i for i, key in enumerate(keys) if key in store_keys)
    assert set(keys[:split]) <= broker_keys and set(keys[split:]) <= store_keys
    assert f"mqbroker: warning: {path}:3: brokerId=4 ignored" in err


def test_m_prints_only_important_keys(tmp_path: Path) -> None:
    config, code, out, _ = run_main(["-c", write(tmp_path, "brokerName=broker-x\n"), "-m"])
    assert (config, code) == (None, 0)
    assert "brokerName=broker-x\n" in out and "brokerRole=ASYNC_MASTER\n" in out
    assert "sendMessageThreadPoolNums=" not in out and "mappedFileSizeCommitLog=" not in out


def test_config_text_of_p_and_m() -> None:
    config = load_broker_config(None, "127.0.0.1:9876")
    full, important = config_text(config), config_text(config, important_only=True)
    assert "namesrvAddr=127.0.0.1\\:9876\n" in full  # Properties.store escapes ':'
    assert set(important.splitlines()) < set(full.splitlines())


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("brokerRole=SLAV\n", ":1: bad value for brokerRole: 'SLAV'"),
        ("brokerRole=SLAVE\nbrokerId=0\n", ":2: bad value for brokerId: '0'"),
        ("namesrvAddr=nohost\n", ":1: bad value for namesrvAddr: 'nohost'"),
    ],
)
def test_main_config_reports_errors_with_exit_2(text: str, fragment: str, tmp_path: Path) -> None:
    path = write(tmp_path, text)
    config, code, out, err = run_main(["-c", path])
    assert (config, code, out) == (None, 2, "")
    assert err.startswith(f"mqbroker: {path}{fragment}")


def test_main_config_missing_file(tmp_path: Path) -> None:
    config, code, _, err = run_main(["-c", str(tmp_path / "nope.conf")])
    assert (config, code) == (None, 2)
    assert err.startswith("mqbroker: cannot read config file: ") and "nope.conf" in err


@pytest.mark.parametrize(("argv", "code"), [(["--bogus"], 2), (["-c"], 2), (["-h"], 0)])
def test_main_config_usage(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(argv)[:2] == (None, code)
    captured = capsys.readouterr()
    assert "mqbroker" in captured.out + captured.err
