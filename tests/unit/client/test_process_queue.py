"""ProcessQueue: the committable offset (smallest in flight, or one past the highest); orderly
taking, committing and consuming again; lock validity."""

from __future__ import annotations

from pyrmq.client.consumer.process_queue import LOCK_MAX_LIVE_MS, PULL_MAX_IDLE_MS, ProcessQueue
from pyrmq.common.message import MessageExt


def msg(offset: int, body: bytes = b"xx", **props: str) -> MessageExt:
    return MessageExt("T", body, properties=dict(props), queue_offset=offset)


def test_empty_queue_has_nothing_to_commit() -> None:
    pq = ProcessQueue()
    assert pq.committable_offset() == -1
    assert pq.remove_messages([msg(0)]) == -1


def test_commit_offset_is_smallest_in_flight_then_max_plus_one() -> None:
    pq = ProcessQueue()
    msgs = [msg(i) for i in range(10, 15)]
    assert pq.put_messages(msgs) == 5
    assert (pq.msg_count, pq.msg_size, pq.max_span) == (5, 10, 4)
    assert pq.remove_messages([msgs[2], msgs[3]]) == 10  # 10 still in flight
    assert pq.remove_messages([msgs[0]]) == 11
    assert pq.committable_offset() == 11
    assert pq.remove_messages([msgs[1], msgs[4]]) == 15
    assert (pq.msg_count, pq.msg_size) == (0, 0)
    assert pq.committable_offset() == 15


def test_repeated_messages_are_counted_once() -> None:
    pq = ProcessQueue()
    pq.put_messages([msg(1), msg(2)])
    assert pq.put_messages([msg(2), msg(3)]) == 1
    assert pq.msg_count == 3 and pq.msg_size == 6


def test_messages_behind_come_from_max_offset_property() -> None:
    pq = ProcessQueue()
    pq.put_messages([msg(4), msg(5, MAX_OFFSET="20")])
    assert pq.msg_acc_cnt == 15


def test_pull_expiry() -> None:
    pq = ProcessQueue(last_pull_ms=1000)
    assert not pq.is_pull_expired(1000 + PULL_MAX_IDLE_MS)
    assert pq.is_pull_expired(1001 + PULL_MAX_IDLE_MS)


# ----------------------------------------------------------------------------------- orderly


def test_orderly_take_commit_and_consume_again() -> None:
    pq = ProcessQueue()
    pq.put_messages([msg(5), msg(3), msg(4), msg(6)])
    assert pq.start_consuming() and not pq.start_consuming()  # one request at a time
    first = pq.take_messages(2)
    assert [m.queue_offset for m in first] == [3, 4]  # offset order, whatever the arrival
    assert pq.msg_count == 4  # taken messages still count for flow control
    pq.make_messages_to_consume_again(first)  # SUSPEND: the same two again, first
    assert [m.queue_offset for m in pq.take_messages(3)] == [3, 4, 5]
    assert pq.commit() == 6
    assert (pq.msg_count, pq.msg_size) == (1, 2)
    assert [m.queue_offset for m in pq.take_messages(8)] == [6]
    assert pq.commit() == 7
    assert pq.commit() == -1  # nothing taken
    assert pq.take_messages(1) == [] and not pq.consuming  # empty: the next pull dispatches
    assert pq.msg_size == 0
    assert pq.put_messages([msg(7)]) == 1 and pq.start_consuming()


def test_orderly_repeated_messages_while_taken_are_ignored() -> None:
    pq = ProcessQueue()
    pq.put_messages([msg(1), msg(2)])
    pq.take_messages(1)
    assert pq.put_messages([msg(1), msg(2), msg(3)]) == 1


def test_lock_validity_is_30_seconds() -> None:
    pq = ProcessQueue()
    pq.set_locked(True, 1000)
    assert pq.locked and not pq.is_lock_expired(1000 + LOCK_MAX_LIVE_MS)
    assert pq.is_lock_expired(1001 + LOCK_MAX_LIVE_MS)
    pq.set_locked(False, 5000)
    assert not pq.locked and pq.last_lock_ms == 1000
