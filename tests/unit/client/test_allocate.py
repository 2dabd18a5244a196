"""AllocateMessageQueueAveragely / ByCircle: §6.5's formulas and the disjoint+complete property."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.client.allocate import (
    AllocateStrategy,
    allocate_averagely,
    allocate_averagely_by_circle,
    sort_consumer_ids,
    sort_queues,
)
from pyrmq.remoting.bodies import MessageQueue

STRATEGIES = [allocate_averagely, allocate_averagely_by_circle]


def queues(
    n: int, topic: str = "T", brokers: tuple[str, ...] = ("broker-a",)
) -> list[MessageQueue]:
    per = n // len(brokers)
    return [MessageQueue(topic, b, i) for b in brokers for i in range(per)]


def cids(c: int) -> list[str]:
    return [f"10.0.0.{i}@{i}" for i in range(c)]


def table(strategy: AllocateStrategy, mqs: list[MessageQueue], ids: list[str]) -> list[list[int]]:
    return [[mq.queue_id for mq in strategy("G", cid, mqs, ids)] for cid in sort_consumer_ids(ids)]


@pytest.mark.parametrize(
    ("n", "c", "expected"),
    [
        (8, 3, [[0, 1, 2], [3, 4, 5], [6, 7]]),
        (5, 2, [[0, 1, 2], [3, 4]]),
        (8, 8, [[i] for i in range(8)]),
        (2, 3, [[0], [1], []]),
        (4, 1, [[0, 1, 2, 3]]),
        (16, 7, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14, 15]]),
    ],
)
def test_averagely_examples(n: int, c: int, expected: list[list[int]]) -> None:
    assert table(allocate_averagely, queues(n), cids(c)) == expected


@pytest.mark.parametrize(
    ("n", "c", "expected"),
    [
        (8, 3, [[0, 3, 6], [1, 4, 7], [2, 5]]),
        (5, 2, [[0, 2, 4], [1, 3]]),
        (2, 3, [[0], [1], []]),
    ],
)
def test_by_circle_examples(n: int, c: int, expected: list[list[int]]) -> None:
    assert table(allocate_averagely_by_circle, queues(n), cids(c)) == expected


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("n", [8, 16])
@pytest.mark.parametrize("c", range(1, 8))
def test_every_consumer_count_is_disjoint_and_complete(
    strategy: AllocateStrategy, n: int, c: int
) -> None:
    mqs = queues(n, brokers=("broker-a", "broker-b"))
    ids = cids(c)
    parts = [strategy("G", cid, mqs, ids) for cid in ids]
    flat = [mq for part in parts for mq in part]
    assert len(flat) == len(set(flat)) == n
    assert set(flat) == set(mqs)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_averagely_gives_contiguous_blocks_and_extra_to_the_first() -> None:
    mqs = queues(16, brokers=("broker-a", "broker-b"))
    ordered = sort_queues(mqs)
    parts = [allocate_averagely("G", cid, mqs, cids(5)) for cid in cids(5)]
    assert [len(p) for p in parts] == [4, 3, 3, 3, 3]
    assert [mq for part in parts for mq in part] == ordered


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_input_order_does_not_matter(strategy: AllocateStrategy) -> None:
    mqs = queues(12, brokers=("broker-b", "broker-a"))
    ids = cids(5)
    expected = {cid: strategy("G", cid, mqs, ids) for cid in ids}
    rng = random.Random(7)
    for _ in range(5):
        shuffled_mqs, shuffled_ids = mqs[:], ids[:]
        rng.shuffle(shuffled_mqs)
        rng.shuffle(shuffled_ids)
        for cid in ids:
            assert strategy("G", cid, shuffled_mqs, shuffled_ids) == expected[cid]


def test_queues_sort_by_topic_then_broker_then_numeric_queue_id() -> None:
    mqs = [
        MessageQueue("b", "broker-a", 0),
        MessageQueue("a", "broker-b", 0),
        MessageQueue("a", "broker-a", 10),
        MessageQueue("a", "broker-a", 9),
    ]
    assert sort_queues(mqs) == [mqs[3], mqs[2], mqs[1], mqs[0]]


def test_client_ids_sort_in_java_order() -> None:
    # "B" < "a" in Java (and in code-unit order); U+FF61 sorts above a surrogate pair in Java.
    assert sort_consumer_ids(["a", "B", "\U0001f600", "\uff61"]) == [
        "B",
        "a",
        "\U0001f600",
        "\uff61",
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_unknown_client_or_empty_inputs_get_nothing(strategy: AllocateStrategy) -> None:
    assert strategy("G", "stranger", queues(4), cids(2)) == []
    assert strategy("G", cids(1)[0], [], cids(1)) == []
    assert strategy("G", "x", queues(4), []) == []


@given(st.integers(min_value=1, max_value=64), st.integers(min_value=1, max_value=20))
def test_property_disjoint_and_complete(n: int, c: int) -> None:
    mqs = queues(n)
    ids = cids(c)
    for strategy in STRATEGIES:
        flat = [mq for cid in ids for mq in strategy("G", cid, mqs, ids)]
        assert sorted(flat) == sorted(mqs)
