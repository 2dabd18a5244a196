"""Queue allocation strategies of clustering consumers (protocol.md §6.5).

Every consumer of a group computes the same table from the same sorted inputs, so the results
are disjoint and together cover every queue; a consumer that sorted differently, or used another
strategy, would break that. Mirrors ``AllocateMessageQueueAveragely`` and
``AllocateMessageQueueAveragelyByCircle`` (and the sorting ``RebalanceImpl.rebalanceByTopic``
does before calling them). Pure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pyrmq.remoting.bodies import MessageQueue

__all__ = [
    "AllocateStrategy",
    "allocate_averagely",
    "allocate_averagely_by_circle",
    "sort_consumer_ids",
    "sort_queues",
]

log = logging.getLogger(__name__)

#: (group, current client id, all queues, all client ids) -> this client's queues.
AllocateStrategy = Callable[[str, str, Sequence[MessageQueue], Sequence[str]], list[MessageQueue]]


def _utf16(text: str) -> bytes:
    # Java's String.compareTo compares UTF-16 code units; big-endian UTF-16 bytes compare the
    # same way (Python's str order is by code point, which differs above U+FFFF).
    return text.encode("utf-16-be", "surrogatepass")


def sort_queues(queues: Sequence[MessageQueue]) -> list[MessageQueue]:
    """``MessageQueue.compareTo``: topic, then broker name, then queue id."""
    return sorted(queues, key=lambda mq: (_utf16(mq.topic), _utf16(mq.broker_name), mq.queue_id))


def sort_consumer_ids(cids: Sequence[str]) -> list[str]:
    return sorted(cids, key=_utf16)


def _prepare(
    group: str, current_cid: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> tuple[list[MessageQueue], list[str], int] | None:
    """Sorted inputs and our index, or None when we take nothing (Java ``check``)."""
    if not mq_all or not cid_all:
        return None
    cids = sort_consumer_ids(cid_all)
    if current_cid not in cids:
        # The broker has not seen our heartbeat yet: take nothing rather than overlap.
        log.info("[%s] client %s is not in the consumer list %s", group, current_cid, cids)
        return None
    return sort_queues(mq_all), cids, cids.index(current_cid)


def allocate_averagely(
    group: str, current_cid: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> list[MessageQueue]:
    """A contiguous block per consumer; the first ``n % c`` consumers get one queue more.

    n = |queues|, c = |consumers|, i = our index, mod = n % c:
    size = 1 if n <= c, else n//c + 1 if i < mod, else n//c;
    start = i*size if i < mod, else i*size + mod; we take min(size, n - start) queues from start.
    """
    prepared = _prepare(group, current_cid, mq_all, cid_all)
    if prepared is None:
        return []
    queues, cids, index = prepared
    n, c = len(queues), len(cids)
    mod = n % c
    if n <= c:
        size = 1
    elif mod > 0 and index < mod:
        size = n // c + 1
    else:
        size = n // c
    start = index * size if mod > 0 and index < mod else index * size + mod
    return [queues[start + i] for i in range(max(0, min(size, n - start)))]


def allocate_averagely_by_circle(
    group: str, current_cid: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> list[MessageQueue]:
    """Round robin: consumer i takes every queue k with k % c == i."""
    prepared = _prepare(group, current_cid, mq_all, cid_all)
    if prepared is None:
        return []
    queues, cids, index = prepared
    return queues[index :: len(cids)]
