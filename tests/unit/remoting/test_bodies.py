"""NameServer JSON bodies: one (object, bytes) table drives both encoding and decoding."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.remoting import bodies as b
from pyrmq.remoting.fastjson import FrozenKey, JsonError

# ----------------------------------------------------------------------------------- samples

ROUTE = b.TopicRouteData(
    queue_datas=[b.QueueData("broker-a", 4, 4, 6, 0)],
    broker_datas=[b.BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:10911"})],
)
# The vectors README line as a 4.9.x NameServer writes it (the 5.x line minus enableActingMaster).
ROUTE_LEGACY = (
    b'{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a",'
    b'"cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a",'
    b'"perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}'
)
ROUTE_STANDARD = ROUTE_LEGACY.replace(b"{0:", b'{"0":')
# The vectors README lines verbatim (5.x NameServer).
ROUTE_5X_LEGACY = (
    b'{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a",'
    b'"cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},'
    b'"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,'
    b'"writeQueueNums":4}]}'
)
ROUTE_5X_STANDARD = ROUTE_5X_LEGACY.replace(b"{0:", b'{"0":')

ROUTE_HA = b.TopicRouteData(
    queue_datas=[b.QueueData("broker-a", 8, 8, 6, 0), b.QueueData("broker-b", 4, 2, 4, 1)],
    broker_datas=[
        b.BrokerData("c1", "broker-a", {1: "10.0.0.2:10911", 0: "10.0.0.1:10911"}),
        b.BrokerData("c1", "broker-b", {2: "10.0.0.4:10911"}),
    ],
    filter_server_table={"10.0.0.1:10911": ["10.0.0.1:30000", "10.0.0.1:30001"]},
    order_topic_conf="broker-a:8;broker-b:4",
)
ROUTE_HA_LEGACY = (
    b'{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},'
    b'"brokerName":"broker-a","cluster":"c1"},{"brokerAddrs":{2:"10.0.0.4:10911"},'
    b'"brokerName":"broker-b","cluster":"c1"}],'
    b'"filterServerTable":{"10.0.0.1:10911":["10.0.0.1:30000","10.0.0.1:30001"]},'
    b'"orderTopicConf":"broker-a:8;broker-b:4",'
    b'"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,'
    b'"writeQueueNums":8},{"brokerName":"broker-b","perm":4,"readQueueNums":4,"topicSysFlag":1,'
    b'"writeQueueNums":2}]}'
)

CLUSTER = b.ClusterInfo(
    broker_addr_table={
        "broker-a": b.BrokerData(
            "DefaultCluster", "broker-a", {0: "192.168.0.1:10911", 1: "192.168.0.2:10911"}
        )
    },
    cluster_addr_table={"DefaultCluster": ["broker-a"]},
)
CLUSTER_LEGACY = (
    b'{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"192.168.0.1:10911",'
    b'1:"192.168.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},'
    b'"clusterAddrTable":{"DefaultCluster":["broker-a"]}}'
)

# What a 4.9.x master "broker-a" of "DefaultCluster" registers: every topic, system ones too.
BROKER_TOPICS = [
    ("SCHEDULE_TOPIC_XXXX", 18, 18, 6),
    ("SELF_TEST_TOPIC", 1, 1, 6),
    ("DefaultCluster", 16, 16, 7),
    ("DefaultCluster_REPLY_TOPIC", 1, 1, 6),
    ("BenchmarkTest", 1024, 1024, 6),
    ("OFFSET_MOVED_EVENT", 1, 1, 6),
    ("broker-a", 1, 1, 7),
    ("TBW102", 8, 8, 7),
    ("TopicTest", 4, 4, 6),
    ("%RETRY%GroupA", 1, 1, 6),
]
REGISTER = b.RegisterBrokerBody(
    b.TopicConfigSerializeWrapper(
        {name: b.TopicConfig(name, r, w, p) for name, r, w, p in BROKER_TOPICS},
        b.DataVersion(1700000000123, 5),
    ),
    [],
)
_TC = (
    '"{0}":{{"order":false,"perm":{3},"readQueueNums":{1},"topicFilterType":"SINGLE_TAG",'
    '"topicName":"{0}","topicSysFlag":0,"writeQueueNums":{2}}}'
)
REGISTER_JSON = (
    '{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":5,'
    '"timestamp":1700000000123},"topicConfigTable":{'
    + ",".join(_TC.format(*topic) for topic in BROKER_TOPICS)
    + "}}}"
).encode()

MQ0 = b.MessageQueue("TopicTest", "broker-a", 0)
MQ1 = b.MessageQueue("TopicTest", "broker-a", 1)
STATS = b.TopicStatsTable(
    {MQ0: b.TopicOffset(0, 10, 1700000000123), MQ1: b.TopicOffset(2, 7, 1700000000456)}
)
_MQ0 = b'{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}'
_MQ1 = b'{"brokerName":"broker-a","queueId":1,"topic":"TopicTest"}'
STATS_LEGACY = (
    b'{"offsetTable":{' + _MQ0 + b':{"lastUpdateTimestamp":1700000000123,"maxOffset":10,'
    b'"minOffset":0},' + _MQ1 + b':{"lastUpdateTimestamp":1700000000456,"maxOffset":7,'
    b'"minOffset":2}}}'
)
STATS_STANDARD = (
    b'{"offsetTable":{"' + _MQ0.replace(b'"', b'\\"') + b'":{"lastUpdateTimestamp":1700000000123,'
    b'"maxOffset":10,"minOffset":0},"' + _MQ1.replace(b'"', b'\\"') + b'":{"lastUpdateTimestamp":'
    b'1700000000456,"maxOffset":7,"minOffset":2}}}'
)

TOPIC = b.TopicConfig("TopicTest", 8, 4, 7, "MULTI_TAG", 1, True)
TOPIC_JSON = (
    b'{"order":true,"perm":7,"readQueueNums":8,"topicFilterType":"MULTI_TAG",'
    b'"topicName":"TopicTest","topicSysFlag":1,"writeQueueNums":4}'
)

Encoder = Callable[..., bytes]
Decoder = Callable[[bytes], Any]

# (encoder, decoder, object, bytes, standard)
CODEC_TABLE: list[tuple[Encoder, Decoder, Any, bytes, bool]] = [
    (b.encode_topic_route_data, b.decode_topic_route_data, ROUTE, ROUTE_LEGACY, False),
    (b.encode_topic_route_data, b.decode_topic_route_data, ROUTE, ROUTE_STANDARD, True),
    (b.encode_topic_route_data, b.decode_topic_route_data, ROUTE_HA, ROUTE_HA_LEGACY, False),
    (
        b.encode_topic_route_data,
        b.decode_topic_route_data,
        ROUTE_HA,
        ROUTE_HA_LEGACY.replace(b"{0:", b'{"0":')
        .replace(b",1:", b',"1":')
        .replace(b"{2:", b'{"2":'),
        True,
    ),
    (b.encode_cluster_info, b.decode_cluster_info, CLUSTER, CLUSTER_LEGACY, False),
    (
        b.encode_register_broker_body,
        b.decode_register_broker_body,
        REGISTER,
        REGISTER_JSON,
        False,
    ),
    (
        b.encode_topic_config_serialize_wrapper,
        b.decode_topic_config_serialize_wrapper,
        REGISTER.topic_config_serialize_wrapper,
        REGISTER_JSON[len(b'{"filterServerList":[],"topicConfigSerializeWrapper":') : -1],
        False,
    ),
    (b.encode_topic_config, b.decode_topic_config, TOPIC, TOPIC_JSON, False),
    (
        b.encode_data_version,
        b.decode_data_version,
        b.DataVersion(1700000000000, 3),
        b'{"counter":3,"timestamp":1700000000000}',
        False,
    ),
    (
        b.encode_kv_table,
        b.decode_kv_table,
        b.KVTable({"TopicTest": "broker-a:4", "TopicOrder": "broker-a:8;broker-b:8"}),
        b'{"table":{"TopicTest":"broker-a:4","TopicOrder":"broker-a:8;broker-b:8"}}',
        False,
    ),
    (b.encode_kv_table, b.decode_kv_table, b.KVTable({}), b'{"table":{}}', False),
    (
        b.encode_topic_list,
        b.decode_topic_list,
        b.TopicList(["DefaultCluster", "broker-a"], "127.0.0.1:10911"),
        b'{"brokerAddr":"127.0.0.1:10911","topicList":["DefaultCluster","broker-a"]}',
        False,
    ),
    (
        b.encode_topic_list,
        b.decode_topic_list,
        b.TopicList(["TopicTest", "%RETRY%GroupA"]),
        b'{"topicList":["TopicTest","%RETRY%GroupA"]}',
        False,
    ),
    (b.encode_topic_stats_table, b.decode_topic_stats_table, STATS, STATS_LEGACY, False),
    (b.encode_topic_stats_table, b.decode_topic_stats_table, STATS, STATS_STANDARD, True),
    (
        b.encode_topic_stats_table,
        b.decode_topic_stats_table,
        b.TopicStatsTable(),
        b'{"offsetTable":{}}',
        False,
    ),
]

# Input written by other versions or other clients: (decoder, bytes, expected object).
LENIENT_TABLE: list[tuple[Decoder, bytes, Any]] = [
    (b.decode_topic_route_data, ROUTE_5X_LEGACY, ROUTE),
    (b.decode_topic_route_data, ROUTE_5X_STANDARD, ROUTE),
    # NameServers before 4.9.0: topicSynFlag.
    (
        b.decode_topic_route_data,
        ROUTE_LEGACY.replace(b'"topicSysFlag":0', b'"topicSynFlag":1'),
        b.TopicRouteData(
            [b.QueueData("broker-a", 4, 4, 6, 1)],
            [b.BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:10911"})],
        ),
    ),
    # 5.x extras: zoneName, topicQueueMappingByBroker.
    (
        b.decode_topic_route_data,
        ROUTE_5X_LEGACY.replace(b'"enableActingMaster":false', b'"zoneName":"z1"').replace(
            b'"filterServerTable":{}', b'"filterServerTable":{},"topicQueueMappingByBroker":{}'
        ),
        ROUTE,
    ),
    (
        b.decode_cluster_info,
        CLUSTER_LEGACY.replace(
            b'"cluster":"DefaultCluster"', b'"cluster":"DefaultCluster","enableActingMaster":true'
        ),
        CLUSTER,
    ),
    # A 5.x broker's register body.
    (
        b.decode_register_broker_body,
        b'{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,'
        b'"stateVersion":2,"timestamp":1700000000000},"mappingDataVersion":{"counter":0,'
        b'"stateVersion":0,"timestamp":1700000000001},"topicConfigTable":{"TopicTest":'
        b'{"attributes":{"+message.type":"NORMAL"},"order":false,"perm":6,"readQueueNums":4,'
        b'"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,'
        b'"writeQueueNums":4}},"topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}}',
        b.RegisterBrokerBody(
            b.TopicConfigSerializeWrapper(
                {"TopicTest": b.TopicConfig("TopicTest", 4, 4, 6)},
                b.DataVersion(1700000000000, 3, state_version=2),
            ),
            [],
        ),
    ),
    # Numbers and booleans as strings, floats for ints, missing keys defaulted.
    (
        b.decode_data_version,
        b'{"counter":"3","stateVersion":"7","timestamp":" 1700000000000 "}',
        b.DataVersion(1700000000000, 3, 7),
    ),
    (
        b.decode_topic_config,
        b'{"order":"true","perm":"7","readQueueNums":8.0,"topicName":"T","writeQueueNums":"",'
        b'"topicSysFlag":null}',
        b.TopicConfig("T", 8, 16, 7, "SINGLE_TAG", 0, True),
    ),
    (b.decode_topic_config, b'{"topicName":"T"}', b.TopicConfig("T")),
    (b.decode_topic_config, b"{'topicName':'T',order:1}", b.TopicConfig("T", order=True)),
    (
        b.decode_topic_config_serialize_wrapper,
        b'{"topicConfigTable":{"T":{"perm":4}}}',
        b.TopicConfigSerializeWrapper({"T": b.TopicConfig("T", perm=4)}, b.DataVersion(0, 0)),
    ),
    (
        b.decode_kv_table,
        b'{"table":{"a":1,"b":true,"c":"x"}}',
        b.KVTable({"a": "1", "b": "true", "c": "x"}),
    ),
    (b.decode_kv_table, b"{}", b.KVTable()),
    (b.decode_topic_list, b'{"topicList":["a"],"extra":{"x":[1]}}', b.TopicList(["a"])),
    (b.decode_cluster_info, b"{}", b.ClusterInfo()),
    (b.decode_topic_route_data, b"{}", b.TopicRouteData()),
    (
        b.decode_topic_stats_table,
        b'{"offsetTable":{' + _MQ0 + b':{"maxOffset":"5"}},"topicPutTps":0.0}',
        b.TopicStatsTable({MQ0: b.TopicOffset(0, 5, 0)}),
    ),
]

ERROR_TABLE: list[tuple[Decoder, bytes, type[Exception]]] = [
    (b.decode_topic_route_data, b"[]", b.BodyError),
    (b.decode_topic_route_data, b"null", b.BodyError),
    (b.decode_topic_route_data, b'{"queueDatas":{}}', b.BodyError),
    (b.decode_topic_route_data, b'{"queueDatas":[1]}', b.BodyError),
    (b.decode_data_version, b'{"counter":"abc"}', b.BodyError),
    (b.decode_data_version, b'{"counter":[]}', b.BodyError),
    (b.decode_topic_config, b'{"order":"maybe"}', b.BodyError),
    (b.decode_kv_table, b'{"table":[1]}', b.BodyError),
    (b.decode_kv_table, b'{"table":{"a":{}}}', b.BodyError),
    (b.decode_data_version, b'{"counter":', JsonError),
    (b.decode_data_version, b"", JsonError),
]


@pytest.mark.parametrize(("encode", "decode", "obj", "wire", "standard"), CODEC_TABLE)
def test_encode(encode: Encoder, decode: Decoder, obj: Any, wire: bytes, standard: bool) -> None:
    assert encode(obj, standard=standard) == wire


@pytest.mark.parametrize(("encode", "decode", "obj", "wire", "standard"), CODEC_TABLE)
def test_decode(encode: Encoder, decode: Decoder, obj: Any, wire: bytes, standard: bool) -> None:
    assert decode(wire) == obj


@pytest.mark.parametrize(("decode", "wire", "obj"), LENIENT_TABLE)
def test_decode_lenient(decode: Decoder, wire: bytes, obj: Any) -> None:
    assert decode(wire) == obj


@pytest.mark.parametrize(("decode", "wire", "error"), ERROR_TABLE)
def test_decode_errors(decode: Decoder, wire: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(wire)
    assert issubclass(error, ValueError)


def test_route_vector_is_the_5x_line_without_enable_acting_master() -> None:
    assert ROUTE_5X_LEGACY.replace(b',"enableActingMaster":false', b"") == ROUTE_LEGACY
    assert b.encode_topic_route_data(ROUTE) == ROUTE_LEGACY  # default is legacy


def test_decoded_broker_ids_are_ints_in_both_forms() -> None:
    for wire in (ROUTE_LEGACY, ROUTE_STANDARD):
        (broker,) = b.decode_topic_route_data(wire).broker_datas
        assert list(broker.broker_addrs) == [0]


# ----------------------------------------------------------------------------------- compressed


def _chunk(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def test_compressed_register_body_layout() -> None:
    body = b.RegisterBrokerBody(
        b.TopicConfigSerializeWrapper(
            {"TopicTest": b.TopicConfig("TopicTest", 4, 2, 6)}, b.DataVersion(1700000000000, 3)
        ),
        ["10.0.0.1:30000"],
    )
    wire = b.encode_register_broker_body_compressed(body)
    assert wire[:2] == b"\x78\xda"  # zlib stream, Deflater.BEST_COMPRESSION
    assert zlib.decompress(wire) == (
        _chunk(b'{"counter":3,"timestamp":1700000000000}')
        + struct.pack(">i", 1)
        + _chunk(b"TopicTest 4 2 6 SINGLE_TAG")
        + _chunk(b'["10.0.0.1:30000"]')
    )
    assert b.decode_register_broker_body(wire, compressed=True) == body


def test_compressed_register_body_round_trip_of_the_broker_sample() -> None:
    wire = b.encode_register_broker_body_compressed(REGISTER)
    assert b.decode_register_broker_body(wire, True) == REGISTER


def test_compressed_form_drops_sys_flag_and_order() -> None:
    body = b.RegisterBrokerBody(
        b.TopicConfigSerializeWrapper({"T": b.TopicConfig("T", 1, 1, 6, "MULTI_TAG", 3, True)})
    )
    decoded = b.decode_register_broker_body(b.encode_register_broker_body_compressed(body), True)
    assert decoded.topic_config_serialize_wrapper.topic_config_table == {
        "T": b.TopicConfig("T", 1, 1, 6, "MULTI_TAG", 0, False)
    }


def test_compressed_register_body_from_a_5x_broker() -> None:
    raw = (
        _chunk(b'{"counter":9,"stateVersion":1,"timestamp":1700000000000}')
        + struct.pack(">i", 2)
        + _chunk(b'TopicTest 4 4 6 SINGLE_TAG {"+message.type":"NORMAL"}')
        + _chunk(b"TBW102 8 8 7 SINGLE_TAG ")
        + _chunk(b"[]")
        + struct.pack(">i", 0)  # TopicQueueMappingInfo count (5.x)
    )
    body = b.decode_register_broker_body(zlib.compress(raw), compressed=True)
    assert body == b.RegisterBrokerBody(
        b.TopicConfigSerializeWrapper(
            {
                "TopicTest": b.TopicConfig("TopicTest", 4, 4, 6),
                "TBW102": b.TopicConfig("TBW102", 8, 8, 7),
            },
            b.DataVersion(1700000000000, 9, 1),
        ),
        [],
    )


@pytest.mark.parametrize(
    "wire",
    [
        b"not zlib at all",
        zlib.compress(_chunk(b'{"counter":1}')),  # no topic count
        zlib.compress(_chunk(b'{"counter":1}') + struct.pack(">i", 1) + _chunk(b"T 1 1")),
        zlib.compress(struct.pack(">i", 99) + b"{}"),
        zlib.compress(struct.pack(">i", -1)),
        zlib.compress(b"\x00\x00")[:-3],
    ],
)
def test_compressed_register_body_errors(wire: bytes) -> None:
    with pytest.raises(b.BodyError):
        b.decode_register_broker_body(wire, compressed=True)


def test_compressed_bad_filter_list_reads_as_empty() -> None:
    raw = _chunk(b"{}") + struct.pack(">i", 0) + _chunk(b"[oops")
    assert b.decode_register_broker_body(zlib.compress(raw), True).filter_server_list == []


# ----------------------------------------------------------------------------------- behaviour


def test_data_version_equality_and_next_version() -> None:
    v = b.DataVersion(1700000000000, 3)
    assert v == b.DataVersion(1700000000000, 3, state_version=9)  # 4.9.x ignores stateVersion
    assert hash(v) == hash(b.DataVersion(1700000000000, 3, 9))
    assert v != b.DataVersion(1700000000000, 4) and v != b.DataVersion(1700000000001, 3)
    assert v.next_version(1700000005000) == b.DataVersion(1700000005000, 4)
    assert b.encode_data_version(b.DataVersion(1, 2, 3)) == b'{"counter":2,"timestamp":1}'


def test_select_broker_addr() -> None:
    assert CLUSTER.broker_addr_table["broker-a"].select_broker_addr() == "192.168.0.1:10911"
    assert b.BrokerData("c", "b", {2: "x:2", 1: "x:1"}).select_broker_addr() == "x:1"
    assert b.BrokerData("c", "b", {}).select_broker_addr() is None


def test_message_queue_is_a_key() -> None:
    assert MQ0 < MQ1 < b.MessageQueue("TopicTest", "broker-b", 0) < b.MessageQueue("U", "a", 0)
    assert len({MQ0, b.MessageQueue("TopicTest", "broker-a", 0)}) == 1
    assert MQ0.to_key() == FrozenKey.of(
        {"topic": "TopicTest", "queueId": 0, "brokerName": "broker-a"}
    )
    assert b.MessageQueue.from_key(MQ0.to_key()) == MQ0
    assert b.MessageQueue.from_key(_MQ0.decode()) == MQ0


_names = st.text(min_size=1, max_size=12)
_ints = st.integers(0, 2**31 - 1)
_longs = st.integers(-(2**63), 2**63 - 1)
_routes = st.builds(
    b.TopicRouteData,
    st.lists(st.builds(b.QueueData, _names, _ints, _ints, _ints, _ints), max_size=3),
    st.lists(
        st.builds(b.BrokerData, _names, _names, st.dictionaries(_longs, _names, max_size=3)),
        max_size=3,
    ),
    st.dictionaries(_names, st.lists(_names, max_size=2), max_size=2),
    st.none() | _names,
)
_stats = st.builds(
    b.TopicStatsTable,
    st.dictionaries(
        st.builds(b.MessageQueue, _names, _names, _ints),
        st.builds(b.TopicOffset, _longs, _longs, _longs),
        max_size=4,
    ),
)


@given(_routes, st.booleans())
def test_route_round_trip(route: b.TopicRouteData, standard: bool) -> None:
    assert b.decode_topic_route_data(b.encode_topic_route_data(route, standard)) == route


@given(_stats)
def test_topic_stats_round_trip(stats: b.TopicStatsTable) -> None:
    assert b.decode_topic_stats_table(b.encode_topic_stats_table(stats)) == stats


@given(st.dictionaries(_names, st.builds(b.TopicConfig, _names, _ints, _ints, _ints)))
def test_register_body_round_trips(table: dict[str, b.TopicConfig]) -> None:
    # Java keys the table by topic name; keep our sample consistent with that.
    table = {tc.topic_name: tc for tc in table.values() if " " not in tc.topic_name}
    body = b.RegisterBrokerBody(b.TopicConfigSerializeWrapper(table, b.DataVersion(5, 6)), ["f"])
    assert b.decode_register_broker_body(b.encode_register_broker_body(body)) == body
    compressed = b.encode_register_broker_body_compressed(body)
    assert b.decode_register_broker_body(compressed, compressed=True) == body
