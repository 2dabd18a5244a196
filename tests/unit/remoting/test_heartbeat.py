"""HEART_BEAT and the connection/stats bodies: real client captures, Java's forms, round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.common.message import tag_hash
from pyrmq.remoting import heartbeat as hb
from pyrmq.remoting.bodies import BodyError, MessageQueue
from tests.support.vectors import client_frames

# ----------------------------------------------------------------------------------- captures

HEARTBEATS = [f for f in client_frames() if f["code"] == 34]

# label → (messageModel, consumeFromWhere) of the run's consumer. cpp sends ordinals
# (messageModel 0/1, consumeFromWhere 0 = CONSUME_FROM_LAST_OFFSET), ali-ons names.
EXPECTED_BY_LABEL = {
    "flow-cpp1-batch": ("CLUSTERING", "CONSUME_FROM_LAST_OFFSET"),
    "flow-cpp1-broadcast": ("BROADCASTING", "CONSUME_FROM_LAST_OFFSET"),
    "flow-cpp1-delay": ("CLUSTERING", "CONSUME_FROM_LAST_OFFSET"),
    "flow-cpp1-orderly": ("CLUSTERING", "CONSUME_FROM_LAST_OFFSET"),
    "flow-cpp1-sync": ("CLUSTERING", "CONSUME_FROM_LAST_OFFSET"),
    "flow-cpp2-batch": ("CLUSTERING", "CONSUME_FROM_LAST_OFFSET"),
    "flow-cpp2-sync": ("CLUSTERING", "CONSUME_FROM_LAST_OFFSET"),
    "flow-ons-broadcast": ("BROADCASTING", "CONSUME_FROM_FIRST_OFFSET"),
    "flow-ons-delay": ("CLUSTERING", "CONSUME_FROM_FIRST_OFFSET"),
    "flow-ons-orderly": ("CLUSTERING", "CONSUME_FROM_FIRST_OFFSET"),
    "flow-ons-sync": ("CLUSTERING", "CONSUME_FROM_FIRST_OFFSET"),
}


def test_every_capture_run_has_heartbeats() -> None:
    if not HEARTBEATS:
        pytest.skip("the shared client captures are not beside this checkout")
    assert {frame["label"] for frame in HEARTBEATS} == set(EXPECTED_BY_LABEL)
    # One cpp heartbeat is sent by the producer alone (consumerDataSet absent).
    producer_only = [f for f in HEARTBEATS if '"consumerDataSet"' not in f["bodyText"]]
    assert [hb.decode_heartbeat(f["bodyText"]).consumer_data_set for f in producer_only] == [[]]


@pytest.mark.parametrize("frame", HEARTBEATS, ids=[f["_id"] for f in HEARTBEATS])
def test_captured_heartbeat_decodes(frame: dict[str, Any]) -> None:
    raw = json.loads(frame["bodyText"])
    model, from_where = EXPECTED_BY_LABEL[frame["label"]]

    data = hb.decode_heartbeat(frame["bodyText"].encode())

    assert data.client_id == raw["clientID"]
    assert [p.group_name for p in data.producer_data_set] == [
        p["groupName"] for p in raw.get("producerDataSet", [])
    ]
    assert {p.group_name for p in data.producer_data_set} <= {"CapGroup_PRODUCER"}
    assert len(data.consumer_data_set) == len(raw.get("consumerDataSet", []))
    for consumer in data.consumer_data_set:
        assert consumer.group_name.startswith("CapGroup_")
        assert consumer.consume_type == "CONSUME_PASSIVELY"
        assert consumer.message_model == model
        assert consumer.consume_from_where == from_where
        assert consumer.unit_mode is False
        subs = {sub.topic: sub for sub in consumer.subscription_data_set}
        expected_topics = {"CapTopic"}
        if model == "CLUSTERING":  # clustering push consumers also subscribe their retry topic
            expected_topics.add(f"%RETRY%{consumer.group_name}")
        assert set(subs) == expected_topics
        for sub in subs.values():
            assert sub.sub_string == "*"
            assert sub.tags_set == [] and sub.code_set == []
            assert sub.expression_type == "TAG" and sub.class_filter_mode is False
            assert isinstance(sub.sub_version, int) and sub.sub_version > 1_700_000_000_000


@pytest.mark.parametrize("frame", HEARTBEATS[:3], ids=[f["_id"] for f in HEARTBEATS[:3]])
def test_captured_heartbeat_survives_re_encoding(frame: dict[str, Any]) -> None:
    data = hb.decode_heartbeat(frame["bodyText"])
    assert hb.decode_heartbeat(hb.encode_heartbeat(data)) == data


# ----------------------------------------------------------------------------------- Java form

# protocol.md §3.5.3 verbatim (a 5.x client: heartbeatFingerprint/withoutSub are ignored).
JAVA_5X_HEARTBEAT = (
    b'{"clientID":"127.0.0.1@12345#98765432101234","consumerDataSet":[{"consumeFromWhere":'
    b'"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"GroupA",'
    b'"messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":'
    b'[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,'
    b'"tagsSet":["TagA"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],'
    b'"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],'
    b'"topic":"%RETRY%GroupA"}],"unitMode":false}],"heartbeatFingerprint":0,'
    b'"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}'
)
# What a 4.9 Java client writes for the same data.
JAVA_49_HEARTBEAT = JAVA_5X_HEARTBEAT.replace(b',"heartbeatFingerprint":0', b"").replace(
    b',"withoutSub":false', b""
)
HEARTBEAT = hb.HeartbeatData(
    client_id="127.0.0.1@12345#98765432101234",
    producer_data_set=[hb.ProducerData("CLIENT_INNER_PRODUCER")],
    consumer_data_set=[
        hb.ConsumerData(
            "GroupA",
            "CONSUME_PASSIVELY",
            "CLUSTERING",
            "CONSUME_FROM_LAST_OFFSET",
            [
                hb.SubscriptionData("TopicTest", "TagA", ["TagA"], [2598919], 1700000000000),
                hb.SubscriptionData("%RETRY%GroupA", "*", [], [], 1700000000001),
            ],
        )
    ],
)


def test_java_heartbeat_decodes() -> None:
    assert hb.decode_heartbeat(JAVA_5X_HEARTBEAT) == HEARTBEAT
    assert hb.decode_heartbeat(JAVA_49_HEARTBEAT) == HEARTBEAT


def test_heartbeat_encodes_as_a_49_java_client() -> None:
    assert hb.encode_heartbeat(HEARTBEAT) == JAVA_49_HEARTBEAT


CPP_STYLE = (
    b'{"clientID":"c","consumerDataSet":[{"consumeFromWhere":%b,"consumeType":%b,'
    b'"groupName":"g","messageModel":%b,"subscriptionDataSet":[]}]}'
)


@pytest.mark.parametrize(
    ("consume_type", "model", "from_where", "expected"),
    [
        (b"0", b"0", b"0", ("CONSUME_ACTIVELY", "BROADCASTING", "CONSUME_FROM_LAST_OFFSET")),
        (
            b"1",
            b"1",
            b"1",
            (
                "CONSUME_PASSIVELY",
                "CLUSTERING",
                "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
            ),
        ),
        (b"1", b"1", b"2", ("CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_MIN_OFFSET")),
        (b"1", b"1", b"3", ("CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_MAX_OFFSET")),
        (b"1", b"1", b"4", ("CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_FIRST_OFFSET")),
        (b"1", b"1", b"5", ("CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_TIMESTAMP")),
        (b'"1"', b'"0"', b'"5"', ("CONSUME_PASSIVELY", "BROADCASTING", "CONSUME_FROM_TIMESTAMP")),
        (
            b'"CONSUME_ACTIVELY"',
            b'"CLUSTERING"',
            b'"CONSUME_FROM_TIMESTAMP"',
            ("CONSUME_ACTIVELY", "CLUSTERING", "CONSUME_FROM_TIMESTAMP"),
        ),
        (b"2", b"null", b'""', ("CONSUME_POP", "", "")),  # 5.x pop; absent enums stay ""
    ],
)
def test_enums_by_ordinal_or_name(
    consume_type: bytes, model: bytes, from_where: bytes, expected: tuple[str, str, str]
) -> None:
    data = hb.decode_heartbeat(CPP_STYLE % (from_where, consume_type, model))
    (consumer,) = data.consumer_data_set
    assert (consumer.consume_type, consumer.message_model, consumer.consume_from_where) == expected


@pytest.mark.parametrize(
    ("consume_type", "model", "from_where"),
    [(b"3", b"0", b"0"), (b"0", b"2", b"0"), (b"0", b"0", b"6"), (b"0", b"-1", b"0")],
)
def test_enum_ordinal_out_of_range_is_refused(
    consume_type: bytes, model: bytes, from_where: bytes
) -> None:
    with pytest.raises(BodyError):
        hb.decode_heartbeat(CPP_STYLE % (from_where, consume_type, model))


def test_absent_enums_are_left_out_on_encoding() -> None:
    consumer = hb.ConsumerData("g", "", "", "")
    assert hb.encode_heartbeat(hb.HeartbeatData("c", [], [consumer])) == (
        b'{"clientID":"c","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[],'
        b'"unitMode":false}],"producerDataSet":[]}'
    )


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"consumerDataSet":{}}', b'{"consumerDataSet":[{"subscriptionDataSet":5}]}', b"{"],
)
def test_malformed_heartbeat_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        hb.decode_heartbeat(body)


# ----------------------------------------------------------------------------------- filtering


@pytest.mark.parametrize(
    ("expression", "sub_string", "tags"),
    [
        (None, "*", []),
        ("", "*", []),
        ("*", "*", []),
        ("TagA", "TagA", ["TagA"]),
        ("TagA || TagB", "TagA || TagB", ["TagA", "TagB"]),
        ("  TagA||TagB  ||   ", "  TagA||TagB  ||   ", ["TagA", "TagB"]),
        ("TagA || TagA", "TagA || TagA", ["TagA"]),
        ("|| ||", "|| ||", []),
        ("Tag with space", "Tag with space", ["Tag with space"]),
        ("标签 || x", "标签 || x", ["标签", "x"]),
    ],
)
def test_build_subscription_data(expression: str | None, sub_string: str, tags: list[str]) -> None:
    sub = hb.build_subscription_data("T", expression, sub_version=42)
    assert sub == hb.SubscriptionData("T", sub_string, tags, [tag_hash(t) for t in tags], 42)


def test_build_subscription_data_versions_and_sql() -> None:
    assert hb.build_subscription_data("T", "A").sub_version > 1_700_000_000_000
    sql = hb.build_subscription_data("T", "a > 5", expression_type="SQL92", sub_version=1)
    assert sql == hb.SubscriptionData("T", "a > 5", [], [], 1, "SQL92")
    with pytest.raises(ValueError):
        hb.build_subscription_data("T", "", expression_type="SQL92")


def test_tag_codes_are_java_string_hash_codes() -> None:
    assert hb.build_subscription_data("T", "TagA", sub_version=0).code_set == [2598919]


@pytest.mark.parametrize(
    ("expression", "tags", "client_keeps"),
    [
        ("*", None, True),
        ("*", "TagA", True),
        ("TagA", "TagA", True),
        ("TagA", "TagB", False),
        ("TagA", None, False),
        ("TagA || TagB", "TagB", True),
        ("TagA || TagB", "TagA || TagB", False),  # TAGS is one tag, not an expression
    ],
)
def test_matches_tag(expression: str, tags: str | None, client_keeps: bool) -> None:
    sub = hb.build_subscription_data("T", expression, sub_version=0)
    assert sub.matches_tag(tags) is client_keeps


def test_matches_tag_passes_everything_in_class_filter_and_sql_modes() -> None:
    sub = hb.build_subscription_data("T", "TagA", sub_version=0)
    sub.class_filter_mode = True
    assert sub.matches_tag("Other")
    sql = hb.build_subscription_data("T", "a = 1", expression_type="SQL92", sub_version=0)
    assert sql.matches_tag("Other") and sql.matches_tag(None)


@pytest.mark.parametrize(
    ("expression", "code", "broker_keeps"),
    [
        ("*", tag_hash("X"), True),
        ("*", None, True),
        ("TagA", tag_hash("TagA"), True),
        ("TagA", tag_hash("TagB"), False),
        ("TagA", None, True),  # no tags code: cannot filter here
        ("TagA || TagB", tag_hash("TagB"), True),
        ("TagA", tag_hash("TagA") + 2**32, True),  # long tags code: compared as intValue()
        ("TagA", 0, False),
    ],
)
def test_matches_tags_code(expression: str, code: int | None, broker_keeps: bool) -> None:
    sub = hb.build_subscription_data("T", expression, sub_version=0)
    assert sub.matches_tags_code(code) is broker_keeps


def test_matches_tags_code_defers_sql92_and_class_filter() -> None:
    sql = hb.build_subscription_data("T", "a = 1", expression_type="SQL92", sub_version=0)
    assert sql.matches_tags_code(123)
    sub = hb.SubscriptionData("T", "TagA", ["TagA"], [1], 0, class_filter_mode=True)
    assert sub.matches_tags_code(2)


def test_cpp_subscription_without_sets_or_type() -> None:
    sub = hb.SubscriptionData.from_wire({"subString": "*", "subVersion": "17", "topic": "T"})
    assert sub == hb.SubscriptionData("T", "*", [], [], 17, "TAG", False)
    assert sub.is_tag_type


# ----------------------------------------------------------------------------------- connections

CONNECTION = hb.ConsumerConnection(
    connection_set=[hb.Connection("127.0.0.1@1#2", "127.0.0.1:51234", "JAVA", 397)],
    subscription_table={"TopicTest": hb.SubscriptionData("TopicTest", "*", [], [], 1700000000000)},
    consume_type="CONSUME_PASSIVELY",
    message_model="CLUSTERING",
    consume_from_where="CONSUME_FROM_FIRST_OFFSET",
)
CONNECTION_LEGACY = (
    b'{"connectionSet":[{"clientAddr":"127.0.0.1:51234","clientId":"127.0.0.1@1#2",'
    b'"language":"JAVA","version":397}],"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET",'
    b'"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","subscriptionTable":'
    b'{"TopicTest":{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*",'
    b'"subVersion":1700000000000,"tagsSet":[],"topic":"TopicTest"}}}'
)


def test_consumer_connection_both_ways() -> None:
    assert hb.encode_consumer_connection(CONNECTION) == CONNECTION_LEGACY
    assert hb.decode_consumer_connection(CONNECTION_LEGACY) == CONNECTION


def test_consumer_connection_min_version() -> None:
    assert CONNECTION.compute_min_version() == 397
    assert hb.ConsumerConnection().compute_min_version() == 2**31 - 1


def test_producer_connection_both_ways() -> None:
    body = hb.ProducerConnection([hb.Connection("id", "1.2.3.4:5", "CPP", 63)])
    wire = (
        b'{"connectionSet":[{"clientAddr":"1.2.3.4:5","clientId":"id","language":"CPP",'
        b'"version":63}]}'
    )
    assert hb.encode_producer_connection(body) == wire
    assert hb.decode_producer_connection(wire) == body


@pytest.mark.parametrize(
    ("ids", "wire"),
    [
        (["a@1", "b@2"], b'{"consumerIdList":["a@1","b@2"]}'),
        ([], b'{"consumerIdList":[]}'),
    ],
)
def test_consumer_id_list(ids: list[str], wire: bytes) -> None:
    assert hb.encode_consumer_id_list(ids) == wire
    assert hb.decode_consumer_id_list(wire) == ids


def test_consumer_id_list_absent_is_empty() -> None:
    assert hb.decode_consumer_id_list(b"{}") == []


# ----------------------------------------------------------------------------------- stats

MQ = MessageQueue("TopicTest", "broker-a", 0)
STATS = hb.ConsumeStats({MQ: hb.OffsetWrapper(10, 7, 1700000000123)}, 0.0)
STATS_49 = (
    b'{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}'
    b':{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1700000000123}}}'
)
# protocol.md §3.5.8 verbatim (5.x adds pullOffset).
STATS_5X = (
    b'{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}'
    b':{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1700000000123,"pullOffset":7}}}'
)


def test_consume_stats_both_ways() -> None:
    assert hb.encode_consume_stats(STATS) == STATS_49
    assert hb.decode_consume_stats(STATS_49) == STATS


def test_consume_stats_5x_and_standard_keys() -> None:
    stats = hb.decode_consume_stats(STATS_5X)
    assert stats.offset_table[MQ].pull_offset == 7
    assert hb.encode_consume_stats(stats) == STATS_5X
    standard = (
        b'{"consumeTps":1.5,"offsetTable":{"{\\"brokerName\\":\\"broker-a\\",\\"queueId\\":0,'
        b'\\"topic\\":\\"TopicTest\\"}":{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1}}}'
    )
    decoded = hb.decode_consume_stats(standard)
    assert decoded.consume_tps == 1.5
    assert decoded.offset_table == {MQ: hb.OffsetWrapper(10, 7, 1)}


def test_consume_stats_total_diff_and_integer_tps() -> None:
    stats = hb.ConsumeStats(
        {
            MQ: hb.OffsetWrapper(10, 7, 0),
            MessageQueue("TopicTest", "broker-a", 1): hb.OffsetWrapper(5, 5, 0),
        },
        3,
    )
    assert stats.compute_total_diff() == 3
    assert hb.encode_consume_stats(stats).startswith(b'{"consumeTps":3.0,')


# ----------------------------------------------------------------------------------- round trips

_names = st.text(alphabet="abcXYZ%_-|09", min_size=1, max_size=12)
_subscriptions = st.builds(
    hb.SubscriptionData,
    topic=_names,
    sub_string=st.text(max_size=20),
    tags_set=st.lists(_names, unique=True, max_size=3),
    code_set=st.lists(st.integers(-(2**31), 2**31 - 1), unique=True, max_size=3),
    sub_version=st.integers(0, 2**62),
    expression_type=st.sampled_from(["TAG", "SQL92"]),
    class_filter_mode=st.booleans(),
)
_consumers = st.builds(
    hb.ConsumerData,
    group_name=_names,
    consume_type=st.sampled_from(hb.CONSUME_TYPE_NAMES),
    message_model=st.sampled_from(hb.MESSAGE_MODEL_NAMES),
    consume_from_where=st.sampled_from(hb.CONSUME_FROM_WHERE_NAMES),
    subscription_data_set=st.lists(_subscriptions, max_size=3),
    unit_mode=st.booleans(),
)
_heartbeats = st.builds(
    hb.HeartbeatData,
    client_id=st.text(max_size=30),
    producer_data_set=st.lists(st.builds(hb.ProducerData, _names), max_size=3),
    consumer_data_set=st.lists(_consumers, max_size=3),
)


@given(_heartbeats)
def test_heartbeat_round_trip(data: hb.HeartbeatData) -> None:
    assert hb.decode_heartbeat(hb.encode_heartbeat(data)) == data


@given(
    st.dictionaries(
        st.builds(MessageQueue, _names, _names, st.integers(0, 1023)),
        st.builds(
            hb.OffsetWrapper,
            st.integers(-1, 2**62),
            st.integers(-1, 2**62),
            st.integers(0, 2**62),
            st.none() | st.integers(0, 2**40),
        ),
        max_size=4,
    ),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_consume_stats_round_trip(table: dict[MessageQueue, hb.OffsetWrapper], tps: float) -> None:
    stats = hb.ConsumeStats(table, tps)
    assert hb.decode_consume_stats(hb.encode_consume_stats(stats)) == stats
