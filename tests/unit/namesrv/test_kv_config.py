"""KVConfigManager: namespaced KV store persisted as kvConfig.json (4.9.8 KVConfigManager)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pyrmq.common.constants import NAMESPACE_ORDER_TOPIC_CONFIG
from pyrmq.namesrv.kv_config import KVConfigManager


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "namesrv" / "kvConfig.json"


def read_json(path: Path) -> object:
    return orjson.loads(path.read_bytes())


def bak(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


# ===================================================================================== in memory


def test_put_get_overwrite() -> None:
    kv = KVConfigManager(None)
    kv.put("ns", "k", "v1")
    kv.put("ns", "k2", "x")
    kv.put("other", "k", "o")
    kv.put("ns", "k", "v2")

    assert kv.get("ns", "k") == "v2"
    assert kv.get("ns", "k2") == "x"
    assert kv.get("other", "k") == "o"
    assert kv.config_table == {"ns": {"k": "v2", "k2": "x"}, "other": {"k": "o"}}


@pytest.mark.parametrize(("namespace", "key"), [("ns", "missing"), ("missing", "k")])
def test_get_missing(namespace: str, key: str) -> None:
    kv = KVConfigManager(None)
    kv.put("ns", "k", "v")
    assert kv.get(namespace, key) is None


def test_delete() -> None:
    kv = KVConfigManager(None)
    kv.put("ns", "k", "v")
    kv.put("ns", "k2", "v2")

    kv.delete("ns", "k")
    kv.delete("ns", "never")  # absent key: no error
    kv.delete("no-ns", "k")  # absent namespace: no error

    assert kv.get("ns", "k") is None
    assert kv.get("ns", "k2") == "v2"
    assert kv.namespace("ns") == {"k2": "v2"}


def test_namespace_is_a_copy() -> None:
    kv = KVConfigManager(None)
    kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "TopicA", "broker-a:4;broker-b:4")

    table = kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG)
    assert table == {"TopicA": "broker-a:4;broker-b:4"}
    assert table is not None
    table["evil"] = "x"

    assert kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG) == {"TopicA": "broker-a:4;broker-b:4"}
    assert kv.namespace("unknown") is None


def test_emptied_namespace_is_still_listed_as_empty_table() -> None:
    kv = KVConfigManager(None)
    kv.put("ns", "k", "v")
    kv.delete("ns", "k")

    assert kv.namespace("ns") == {}


# ===================================================================================== persistence


def test_put_writes_kvconfig_json_shape(path: Path) -> None:
    kv = KVConfigManager(path)
    kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "TopicA", "broker-a:4")
    kv.put("ns2", "k", "v")

    assert read_json(path) == {
        "configTable": {
            NAMESPACE_ORDER_TOPIC_CONFIG: {"TopicA": "broker-a:4"},
            "ns2": {"k": "v"},
        }
    }
    # The previous content was kept as .bak; no temp file remains.
    assert read_json(bak(path)) == {
        "configTable": {NAMESPACE_ORDER_TOPIC_CONFIG: {"TopicA": "broker-a:4"}}
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["kvConfig.json", "kvConfig.json.bak"]


def test_delete_is_persisted(path: Path) -> None:
    kv = KVConfigManager(path)
    kv.put("ns", "k", "v")
    kv.put("ns", "k2", "v2")
    kv.delete("ns", "k")

    assert read_json(path) == {"configTable": {"ns": {"k2": "v2"}}}


def test_reload_from_file(path: Path) -> None:
    writer = KVConfigManager(path)
    writer.put("ns", "k", "v")
    writer.put("ns", "k2", "v2")
    writer.put("ns3", "a", "b")
    writer.delete("ns", "k2")

    reader = KVConfigManager(str(path))
    reader.load()

    assert reader.config_table == {"ns": {"k": "v"}, "ns3": {"a": "b"}}
    assert reader.get("ns3", "a") == "b"


def test_load_java_written_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    # fastjson output of KVConfigSerializeWrapper.toJson() on a Java NameServer.
    path.write_text(
        '{"configTable":{"ORDER_TOPIC_CONFIG":{"TopicOrder":"broker-a:8;broker-b:8"},'
        '"myns":{"key1":"value1","key2":"value2"}}}'
    )
    kv = KVConfigManager(path)
    kv.load()

    assert kv.namespace("ORDER_TOPIC_CONFIG") == {"TopicOrder": "broker-a:8;broker-b:8"}
    assert kv.get("myns", "key2") == "value2"


def test_load_without_file_keeps_empty_table(path: Path) -> None:
    kv = KVConfigManager(path)
    kv.load()

    assert kv.config_table == {}
    assert not path.parent.exists()


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(b"{not json", id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"other": {}}', id="no-configTable"),
        pytest.param(b'{"configTable": [1]}', id="configTable-not-object"),
    ],
)
def test_load_falls_back_to_bak_when_main_is_corrupt(path: Path, corrupt: bytes) -> None:
    writer = KVConfigManager(path)
    writer.put("ns", "k", "old")
    writer.put("ns", "k", "new")  # .bak now holds "old"
    path.write_bytes(corrupt)

    kv = KVConfigManager(path)
    kv.load()

    assert kv.config_table == {"ns": {"k": "old"}}


def test_load_uses_bak_when_main_is_missing(path: Path) -> None:
    path.parent.mkdir(parents=True)
    bak(path).write_bytes(b'{"configTable":{"ns":{"k":"from-bak"}}}')

    kv = KVConfigManager(path)
    kv.load()

    assert kv.get("ns", "k") == "from-bak"


def test_load_with_both_files_corrupt_keeps_empty_table(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    bak(path).write_bytes(b"more garbage")

    kv = KVConfigManager(path)
    kv.load()

    assert kv.config_table == {}


def test_changes_after_fallback_are_written_to_main_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    bak(path).write_bytes(b'{"configTable":{"ns":{"k":"v"}}}')
    kv = KVConfigManager(path)
    kv.load()

    kv.put("ns", "k2", "v2")

    assert read_json(path) == {"configTable": {"ns": {"k": "v", "k2": "v2"}}}


@pytest.mark.parametrize("path_arg", [None, ""])
def test_manager_without_path_never_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path_arg: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    kv = KVConfigManager(path_arg)
    assert kv.path is None

    kv.load()
    kv.put("ns", "k", "v")
    kv.delete("ns", "k")
    kv.put("ns", "k2", "v2")

    assert kv.get("ns", "k2") == "v2"
    assert list(tmp_path.iterdir()) == []
