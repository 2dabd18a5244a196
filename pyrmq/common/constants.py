"""Well-known numbers and names shared by every part of pyrmq.

Permission bits (``PermName``), topic system flags (``TopicSysFlag``), broker ids (``MixAll``),
KV namespaces (``NamesrvUtil``) and the default ports (protocol.md §1.1, §5.5). Stdlib only.
"""

from __future__ import annotations

#: MixAll.MASTER_ID: the broker id of a master; slaves have ids > 0.
MASTER_ID = 0

PERM_PRIORITY = 8
PERM_READ = 4
PERM_WRITE = 2
PERM_INHERIT = 1

TOPIC_SYS_FLAG_UNIT = 0x1
TOPIC_SYS_FLAG_UNIT_SUB = 0x2

#: NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG
NAMESPACE_ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"

DEFAULT_NAMESRV_PORT = 9876
DEFAULT_BROKER_PORT = 10911

#: TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC
AUTO_CREATE_TOPIC_KEY_TOPIC = "TBW102"


def perm_to_string(perm: int) -> str:
    """PermName.perm2String: ``RWX`` with ``-`` for a missing bit."""
    return (
        ("R" if perm & PERM_READ else "-")
        + ("W" if perm & PERM_WRITE else "-")
        + ("X" if perm & PERM_INHERIT else "-")
    )
