"""KVConfigManager: the NameServer's namespaced key/value store, persisted as kvConfig.json.

Mirrors ``KVConfigManager`` and ``KVConfigSerializeWrapper`` (``{"configTable":{ns:{k:v}}}``):
PUT/GET/DELETE_KV_CONFIG and GET_KVLIST_BY_NAMESPACE (protocol.md §3.1). Every change is written
through ``common.persist`` before the request is answered.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson

from pyrmq.common import persist

log = logging.getLogger(__name__)


class KVConfigManager:
    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.config_table: dict[str, dict[str, str]] = {}

    def load(self) -> None:
        if self.path is None:
            return
        table = persist.load(self.path, _parse)
        if table is not None:
            self.config_table = table
            log.info("loaded %d KV namespaces from %s", len(table), self.path)

    def put(self, namespace: str, key: str, value: str) -> None:
        self.config_table.setdefault(namespace, {})[key] = value
        self._persist()

    def get(self, namespace: str, key: str) -> str | None:
        return self.config_table.get(namespace, {}).get(key)

    def delete(self, namespace: str, key: str) -> None:
        table = self.config_table.get(namespace)
        if table is not None and table.pop(key, None) is not None:
            self._persist()

    def namespace(self, namespace: str) -> dict[str, str] | None:
        """Every entry of ``namespace``, or None when it was never written (-> QUERY_NOT_FOUND).

        Like Java, deleting the last key leaves the namespace listed, empty."""
        table = self.config_table.get(namespace)
        return dict(table) if table is not None else None

    def _persist(self) -> None:
        if self.path is not None:
            persist.write_atomic(self.path, orjson.dumps({"configTable": self.config_table}))


def _parse(data: bytes) -> dict[str, dict[str, str]]:
    loaded = orjson.loads(data)
    table = loaded.get("configTable") if isinstance(loaded, dict) else None
    if not isinstance(table, dict):
        raise ValueError("no configTable object")
    return {
        str(ns): {str(k): str(v) for k, v in entries.items()}
        for ns, entries in table.items()
        if isinstance(entries, dict)
    }
