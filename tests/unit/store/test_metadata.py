"""store.metadata: the four config/*.json files, byte for byte as a 4.9 broker writes them.

The expected bytes below were produced by fastjson 1.2.69 itself (built from its 1.2.69 tag)
serialising beans with the same properties as RocketMQ 4.9.8's managers, once with
``JSON.toJSONString(obj, true)`` (what ``ConfigManager.persist`` writes) and once compact.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.remoting.bodies import DataVersion, TopicConfig
from pyrmq.remoting.fastjson import dumps_legacy, loads
from pyrmq.store.config import MessageStoreConfig
from pyrmq.store.metadata import (
    ConsumerOffsetFile,
    DelayOffsetFile,
    MetadataPaths,
    SubscriptionGroupConfig,
    SubscriptionGroupFile,
    TopicsFile,
    dumps_pretty,
    metadata_paths,
    offset_key,
    split_offset_key,
)

AnyFile = TopicsFile | ConsumerOffsetFile | SubscriptionGroupFile | DelayOffsetFile

# ----------------------------------------------------------------------------------- vectors

VERSION = DataVersion(timestamp=1700000000000, counter=3)
VERSION_PRETTY = b'"dataVersion":{\n\t\t"counter":3,\n\t\t"timestamp":1700000000000\n\t}'
VERSION_COMPACT = b'"dataVersion":{"counter":3,"timestamp":1700000000000}'

TOPICS = TopicsFile(
    {
        'caf\u00e9"q': TopicConfig('caf\u00e9"q', 8, 8),
        "TopicTest": TopicConfig("TopicTest", 8, 8),
    },
    VERSION,
)
_TC_FIELDS = (
    b'"order":false,\n\t\t\t"perm":6,\n\t\t\t"readQueueNums":8,\n\t\t\t'
    b'"topicFilterType":"SINGLE_TAG",\n\t\t\t"topicName":%s,\n\t\t\t"topicSysFlag":0,\n\t\t\t'
    b'"writeQueueNums":8'
)
TOPICS_PRETTY = (
    b"{\n\t" + VERSION_PRETTY + b',\n\t"topicConfigTable":{\n'
    b'\t\t"caf\xc3\xa9\\"q":{\n\t\t\t' + _TC_FIELDS % b'"caf\xc3\xa9\\"q"' + b"\n\t\t},\n"
    b'\t\t"TopicTest":{\n\t\t\t' + _TC_FIELDS % b'"TopicTest"' + b"\n\t\t}\n\t}\n}"
)
TOPICS_COMPACT = (
    b"{" + VERSION_COMPACT + b',"topicConfigTable":{"caf\xc3\xa9\\"q":{"order":false,"perm":6,'
    b'"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"caf\xc3\xa9\\"q",'
    b'"topicSysFlag":0,"writeQueueNums":8},"TopicTest":{"order":false,"perm":6,'
    b'"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest",'
    b'"topicSysFlag":0,"writeQueueNums":8}}}'
)

OFFSETS = ConsumerOffsetFile({"T2@g2": {}, "TopicTest@g1": {0: 12, 1: 9, 20: 5}})
OFFSETS_PRETTY = (
    b'{\n\t"offsetTable":{\n\t\t"T2@g2":{},\n\t\t"TopicTest@g1":{0:12,1:9,20:5\n\t\t}\n\t}\n}'
)
OFFSETS_COMPACT = b'{"offsetTable":{"T2@g2":{},"TopicTest@g1":{0:12,1:9,20:5}}}'

DELAY = DelayOffsetFile({1: 0, 3: 17})
DELAY_PRETTY = b'{\n\t"offsetTable":{1:0,3:17\n\t}\n}'
DELAY_COMPACT = b'{"offsetTable":{1:0,3:17}}'

GROUPS = SubscriptionGroupFile({"g1": SubscriptionGroupConfig("g1")}, VERSION)
GROUPS_PRETTY = (
    b"{\n\t" + VERSION_PRETTY + b',\n\t"subscriptionGroupTable":{\n\t\t"g1":{\n'
    b'\t\t\t"brokerId":0,\n\t\t\t"consumeBroadcastEnable":true,\n\t\t\t"consumeEnable":true,\n'
    b'\t\t\t"consumeFromMinEnable":true,\n\t\t\t"groupName":"g1",\n'
    b'\t\t\t"notifyConsumerIdsChangedEnable":true,\n\t\t\t"retryMaxTimes":16,\n'
    b'\t\t\t"retryQueueNums":1,\n\t\t\t"whichBrokerWhenConsumeSlowly":1\n\t\t}\n\t}\n}'
)
GROUPS_COMPACT = (
    b"{" + VERSION_COMPACT + b',"subscriptionGroupTable":{"g1":{"brokerId":0,'
    b'"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,'
    b'"groupName":"g1","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,'
    b'"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}}}'
)

EMPTY_TOPICS = TopicsFile({}, VERSION)
EMPTY_GROUPS = SubscriptionGroupFile({}, VERSION)

# (object, pretty bytes, compact bytes): the table drives encoding and decoding alike.
VECTORS: list[tuple[AnyFile, bytes, bytes]] = [
    (TOPICS, TOPICS_PRETTY, TOPICS_COMPACT),
    (
        EMPTY_TOPICS,
        b"{\n\t" + VERSION_PRETTY + b',\n\t"topicConfigTable":{}\n}',
        b"{" + VERSION_COMPACT + b',"topicConfigTable":{}}',
    ),
    (OFFSETS, OFFSETS_PRETTY, OFFSETS_COMPACT),
    (ConsumerOffsetFile(), b'{\n\t"offsetTable":{}\n}', b'{"offsetTable":{}}'),
    (DELAY, DELAY_PRETTY, DELAY_COMPACT),
    (DelayOffsetFile(), b'{\n\t"offsetTable":{}\n}', b'{"offsetTable":{}}'),
    (
        DelayOffsetFile({i: i * 1000 for i in range(1, 19)}),
        b'{\n\t"offsetTable":{'
        + b",".join(b"%d:%d" % (i, i * 1000) for i in range(1, 19))
        + b"\n\t}\n}",
        b'{"offsetTable":{' + b",".join(b"%d:%d" % (i, i * 1000) for i in range(1, 19)) + b"}}",
    ),
    (GROUPS, GROUPS_PRETTY, GROUPS_COMPACT),
    (
        EMPTY_GROUPS,
        b"{\n\t" + VERSION_PRETTY + b',\n\t"subscriptionGroupTable":{}\n}',
        b"{" + VERSION_COMPACT + b',"subscriptionGroupTable":{}}',
    ),
]
IDS = [
    "topics",
    "topics-empty",
    "offsets",
    "offsets-empty",
    "delay",
    "delay-empty",
    "delay-18-levels",
    "groups",
    "groups-empty",
]


@pytest.mark.parametrize(("obj", "pretty", "compact"), VECTORS, ids=IDS)
def test_encode_pretty_is_what_a_4_9_broker_persists(
    obj: AnyFile, pretty: bytes, compact: bytes
) -> None:
    assert obj.encode() == pretty
    assert obj.encode(pretty=True) == pretty


@pytest.mark.parametrize(("obj", "pretty", "compact"), VECTORS, ids=IDS)
def test_encode_compact_is_the_body_form(obj: AnyFile, pretty: bytes, compact: bytes) -> None:
    assert obj.encode(pretty=False) == compact


@pytest.mark.parametrize(("obj", "pretty", "compact"), VECTORS, ids=IDS)
def test_decode_reads_both_forms(obj: AnyFile, pretty: bytes, compact: bytes) -> None:
    assert type(obj).decode(pretty) == obj
    assert type(obj).decode(compact) == obj
    assert type(obj).decode(compact.decode("utf-8")) == obj


def test_integer_keys_are_written_in_ascending_order() -> None:
    # Java's ConcurrentHashMap iterates small Integer keys in ascending order.
    assert DelayOffsetFile({3: 17, 1: 0}).encode() == DELAY_PRETTY
    assert ConsumerOffsetFile({"t@g": {2: 5, 0: 1}}).encode(pretty=False) == (
        b'{"offsetTable":{"t@g":{0:1,2:5}}}'
    )


# ----------------------------------------------------------------------------------- dialects

# (file class, text, expected): both integer-key spellings, whitespace, the shapes of store.md §5.7
DIALECTS: list[tuple[type[AnyFile], bytes, AnyFile]] = [
    (
        ConsumerOffsetFile,
        b'{"offsetTable":{"TopicTest@g":{0:12,1:9}}}',
        ConsumerOffsetFile({"TopicTest@g": {0: 12, 1: 9}}),
    ),
    (
        ConsumerOffsetFile,
        b'{"offsetTable":{"TopicTest@g":{"0":12,"1":9}}}',
        ConsumerOffsetFile({"TopicTest@g": {0: 12, 1: 9}}),
    ),
    (
        ConsumerOffsetFile,
        b'{ "offsetTable" : { "t@g" : { "0" : "12" } } }',
        ConsumerOffsetFile({"t@g": {0: 12}}),
    ),
    (
        ConsumerOffsetFile,
        b'{"offsetTable":{"<topic>@<group>":{0:123,1:456}}}',
        ConsumerOffsetFile({"<topic>@<group>": {0: 123, 1: 456}}),
    ),
    (DelayOffsetFile, b'{"offsetTable":{1:0,3:17}}', DELAY),
    (DelayOffsetFile, b'{"offsetTable":{"1":0,"3":17}}', DELAY),
    (DelayOffsetFile, b'{"offsetTable":{1:0,2:17}}', DelayOffsetFile({1: 0, 2: 17})),
    (DelayOffsetFile, b"{}", DelayOffsetFile()),
    (ConsumerOffsetFile, b'{"offsetTable":null}', ConsumerOffsetFile()),
    (
        TopicsFile,
        b'{"dataVersion":{"counter":7,"timestamp":1700000000001},"topicConfigTable":{"T":'
        b'{"order":false,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG",'
        b'"topicName":"T","topicSysFlag":0,"writeQueueNums":8}}}',
        TopicsFile({"T": TopicConfig("T", 8, 8)}, DataVersion(1700000000001, 7)),
    ),
    (
        SubscriptionGroupFile,
        b'{"dataVersion":{"counter":1,"timestamp":5},"subscriptionGroupTable":{"<group>":'
        b'{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,'
        b'"consumeFromMinEnable":true,"groupName":"<group>","notifyConsumerIdsChangedEnable":true,'
        b'"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}}}',
        SubscriptionGroupFile({"<group>": SubscriptionGroupConfig("<group>")}, DataVersion(5, 1)),
    ),
    (
        # fastjson-style leniency: numbers and booleans as strings, missing fields defaulted
        SubscriptionGroupFile,
        b'{"subscriptionGroupTable":{"g":{"consumeEnable":"false","retryMaxTimes":"3",'
        b'"brokerId":1}}}',
        SubscriptionGroupFile(
            {
                "g": SubscriptionGroupConfig(
                    "g", consume_enable=False, retry_max_times=3, broker_id=1
                )
            }
        ),
    ),
]


@pytest.mark.parametrize(("cls", "text", "expected"), DIALECTS)
def test_decode_dialects(cls: type[AnyFile], text: bytes, expected: AnyFile) -> None:
    assert cls.decode(text) == expected


# 5.x brokers write more: dataVersion in offset files, forbiddenTable, new group and topic fields.
FIVE_X: list[tuple[type[AnyFile], bytes, AnyFile]] = [
    (
        ConsumerOffsetFile,
        b'{\n\t"dataVersion":{\n\t\t"counter":5,\n\t\t"stateVersion":0,\n\t\t"timestamp":17\n\t},'
        b'\n\t"offsetTable":{\n\t\t"t@g":{0:3\n\t\t}\n\t}\n}',
        ConsumerOffsetFile({"t@g": {0: 3}}),
    ),
    (
        DelayOffsetFile,
        b'{"dataVersion":{"counter":2,"stateVersion":0,"timestamp":9},"offsetTable":{1:4}}',
        DelayOffsetFile({1: 4}),
    ),
    (
        SubscriptionGroupFile,
        b'{"dataVersion":{"counter":1,"stateVersion":2,"timestamp":5},"forbiddenTable":{},'
        b'"subscriptionGroupTable":{"g":{"attributes":{},"brokerId":0,'
        b'"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,'
        b'"consumeMessageOrderly":false,"consumeTimeoutMinute":15,"groupName":"g",'
        b'"groupRetryPolicy":{"type":"CUSTOMIZED","customizedRetryPolicy":{"maxDelay":7200000,'
        b'"levels":[1000,5000]}},"groupSysFlag":0,"notifyConsumerIdsChangedEnable":true,'
        b'"retryMaxTimes":16,"retryQueueNums":1,"subscriptionDataSet":[],'
        b'"whichBrokerWhenConsumeSlowly":1}}}',
        SubscriptionGroupFile({"g": SubscriptionGroupConfig("g")}, DataVersion(5, 1)),
    ),
    (
        TopicsFile,
        b'{"dataVersion":{"counter":1,"stateVersion":0,"timestamp":5},"mappingDataVersion":'
        b'{"counter":0,"stateVersion":0,"timestamp":1},"topicConfigTable":{"T":{"attributes":{},'
        b'"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",'
        b'"topicName":"T","topicSysFlag":0,"writeQueueNums":4}},"topicQueueMappingDetailMap":{},'
        b'"topicQueueMappingInfoMap":{}}',
        TopicsFile({"T": TopicConfig("T", 4, 4)}, DataVersion(5, 1)),
    ),
]


@pytest.mark.parametrize(
    ("cls", "text", "expected"), FIVE_X, ids=lambda v: getattr(v, "__name__", "")
)
def test_decode_ignores_5x_extra_fields(cls: type[AnyFile], text: bytes, expected: AnyFile) -> None:
    decoded = cls.decode(text)
    assert decoded == expected
    # Written back in 4.9's shape: the extras are gone.
    assert cls.decode(decoded.encode()) == expected


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (ConsumerOffsetFile, b""),
        (ConsumerOffsetFile, b"null"),
        (ConsumerOffsetFile, b"[]"),
        (ConsumerOffsetFile, b'{"offsetTable":[]}'),
        (ConsumerOffsetFile, b'{"offsetTable":{"t@g":{"x":1}}}'),
        (ConsumerOffsetFile, b'{"offsetTable":{"t@g":{0:"twelve"}}}'),
        (ConsumerOffsetFile, b'{"offsetTable":{"t@g":{0:12}'),  # torn write
        (DelayOffsetFile, b'{"offsetTable":{1:true:2}}'),
        (SubscriptionGroupFile, b'{"subscriptionGroupTable":{"g":[]}}'),
        (SubscriptionGroupFile, b'{"subscriptionGroupTable":{"g":{"consumeEnable":"maybe"}}}'),
        (TopicsFile, b'{"topicConfigTable":{"t":5}}'),
    ],
)
def test_decode_rejects_other_shapes_with_value_error(cls: type[AnyFile], text: bytes) -> None:
    with pytest.raises(ValueError):
        cls.decode(text)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5) | st.integers(-3, 3), inner, max_size=3)
    ),
    max_leaves=12,
)
DOCUMENTS = st.binary(max_size=200) | st.builds(
    dumps_legacy,
    st.fixed_dictionaries(
        {},
        optional={
            "offsetTable": JSON_VALUES,
            "dataVersion": JSON_VALUES,
            "topicConfigTable": JSON_VALUES,
            "subscriptionGroupTable": JSON_VALUES,
        },
    ),
)


@given(DOCUMENTS)
def test_decode_of_anything_returns_or_raises_value_error(data: bytes) -> None:
    for cls in (TopicsFile, ConsumerOffsetFile, SubscriptionGroupFile, DelayOffsetFile):
        with contextlib.suppress(ValueError):
            cls.decode(data)


# ----------------------------------------------------------------------------------- round trips

I32 = st.integers(-(2**31), 2**31 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
NAMES = st.text(max_size=12)
VERSIONS = st.builds(DataVersion, timestamp=I64, counter=I64)
TOPIC_CONFIGS = st.builds(
    TopicConfig,
    topic_name=NAMES,
    read_queue_nums=I32,
    write_queue_nums=I32,
    perm=I32,
    topic_filter_type=st.sampled_from(["SINGLE_TAG", "MULTI_TAG"]),
    topic_sys_flag=I32,
    order=st.booleans(),
)
GROUP_CONFIGS = st.builds(
    SubscriptionGroupConfig,
    group_name=NAMES,
    consume_enable=st.booleans(),
    consume_from_min_enable=st.booleans(),
    consume_broadcast_enable=st.booleans(),
    retry_queue_nums=I32,
    retry_max_times=I32,
    broker_id=I64,
    which_broker_when_consume_slowly=I64,
    notify_consumer_ids_changed_enable=st.booleans(),
)
FILES: st.SearchStrategy[AnyFile] = st.one_of(
    st.builds(TopicsFile, st.dictionaries(NAMES, TOPIC_CONFIGS, max_size=4), VERSIONS),
    st.builds(
        ConsumerOffsetFile,
        st.dictionaries(NAMES, st.dictionaries(I32, I64, max_size=5), max_size=4),
    ),
    st.builds(SubscriptionGroupFile, st.dictionaries(NAMES, GROUP_CONFIGS, max_size=4), VERSIONS),
    st.builds(DelayOffsetFile, st.dictionaries(I32, I64, max_size=20)),
)


@given(FILES)
def test_round_trip_through_both_forms(obj: AnyFile) -> None:
    cls = type(obj)
    assert cls.decode(obj.encode()) == obj
    assert cls.decode(obj.encode(pretty=False)) == obj


@given(FILES)
def test_pretty_is_compact_plus_newlines_and_tabs(obj: AnyFile) -> None:
    # Strings escape their own newlines and tabs, so raw ones come only from PrettyFormat.
    pretty = obj.encode()
    assert pretty.replace(b"\n", b"").replace(b"\t", b"") == obj.encode(pretty=False)
    assert loads(pretty) == loads(obj.encode(pretty=False))


# ----------------------------------------------------------------------------------- pretty writer


def test_dumps_pretty_breaks_lines_only_before_string_keys() -> None:
    mixed = {"a": {1: {"b": 2}, "c": 3}}
    assert dumps_pretty(mixed) == b'{\n\t"a":{1:{\n\t\t\t"b":2\n\t\t},\n\t\t"c":3\n\t}\n}'
    assert dumps_pretty(5) == b"5"
    assert dumps_pretty({}) == b"{}"


def test_dumps_pretty_refuses_arrays() -> None:
    with pytest.raises(TypeError):
        dumps_pretty({"a": [1]})


# ----------------------------------------------------------------------------------- offset keys


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("TopicTest@group", ("TopicTest", "group")),
        ("%RETRY%group@group", ("%RETRY%group", "group")),
        ("t@g@", ("t", "g")),  # Java's split drops trailing empty parts
        ("@g", ("", "g")),
        ("t@", None),
        ("a@b@c", None),
        ("no-separator", None),
        ("", None),
    ],
)
def test_split_offset_key_follows_java_split(key: str, expected: tuple[str, str] | None) -> None:
    assert split_offset_key(key) == expected


def test_offset_key_joins_topic_and_group() -> None:
    assert offset_key("TopicTest", "g1") == "TopicTest@g1"
    assert split_offset_key(offset_key("TopicTest", "g1")) == ("TopicTest", "g1")


# ----------------------------------------------------------------------------------- files


def test_subscription_group_config_defaults_are_4_9_8s() -> None:
    config = SubscriptionGroupConfig("g")
    assert SubscriptionGroupConfig.from_wire({}, "g") == config
    assert config.to_wire() == {
        "brokerId": 0,
        "consumeBroadcastEnable": True,
        "consumeEnable": True,
        "consumeFromMinEnable": True,
        "groupName": "g",
        "notifyConsumerIdsChangedEnable": True,
        "retryMaxTimes": 16,
        "retryQueueNums": 1,
        "whichBrokerWhenConsumeSlowly": 1,
    }


def test_metadata_paths_are_under_config(tmp_path: Path) -> None:
    paths = metadata_paths(MessageStoreConfig(store_path_root_dir=str(tmp_path)))
    config = tmp_path / "config"
    assert paths == MetadataPaths(
        topics=config / "topics.json",
        consumer_offset=config / "consumerOffset.json",
        subscription_group=config / "subscriptionGroup.json",
        delay_offset=config / "delayOffset.json",
    )


def _bak(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


@pytest.mark.parametrize(("obj", "pretty", "compact"), VECTORS, ids=IDS)
def test_persist_writes_the_pretty_bytes_and_load_reads_them(
    tmp_path: Path, obj: AnyFile, pretty: bytes, compact: bytes
) -> None:
    path = tmp_path / "config" / type(obj).FILE_NAME
    obj.persist(path)
    assert path.read_bytes() == pretty
    assert not _tmp(path).exists()
    assert type(obj).load(path) == obj


def test_persist_keeps_the_previous_version_as_bak(tmp_path: Path) -> None:
    path = tmp_path / "consumerOffset.json"
    first = ConsumerOffsetFile({"t@g": {0: 1}})
    second = ConsumerOffsetFile({"t@g": {0: 2}})
    first.persist(path)
    second.persist(path)
    assert ConsumerOffsetFile.decode(_bak(path).read_bytes()) == first
    assert ConsumerOffsetFile.load(path) == second


def test_crash_leaves_tmp_and_corrupt_main_so_load_uses_bak(tmp_path: Path) -> None:
    path = tmp_path / "consumerOffset.json"
    old = ConsumerOffsetFile({"t@g": {0: 100, 1: 200}})
    old.persist(path)
    ConsumerOffsetFile({"t@g": {0: 150, 1: 250}}).persist(path)
    # Simulate a crash of a writer without fsync (Java's MixAll.string2File): a half-written
    # temp file and a torn main file.
    new_bytes = ConsumerOffsetFile({"t@g": {0: 175, 1: 275}}).encode()
    _tmp(path).write_bytes(new_bytes[:10])
    path.write_bytes(path.read_bytes()[:17])

    loaded = ConsumerOffsetFile.load(path)

    assert loaded == old


@pytest.mark.parametrize("main", [None, b"", b"\x00" * 64, b'{"offsetTable":'])
def test_load_falls_back_to_bak_when_main_is_missing_empty_or_garbage(
    tmp_path: Path, main: bytes | None
) -> None:
    path = tmp_path / "delayOffset.json"
    _bak(path).write_bytes(DELAY_PRETTY)
    if main is not None:
        path.write_bytes(main)
    assert DelayOffsetFile.load(path) == DELAY


@pytest.mark.parametrize(
    "cls", [TopicsFile, ConsumerOffsetFile, SubscriptionGroupFile, DelayOffsetFile]
)
def test_load_gives_an_empty_file_when_nothing_parses(tmp_path: Path, cls: type[AnyFile]) -> None:
    path = tmp_path / cls.FILE_NAME
    assert cls.load(path) == cls()
    path.write_bytes(b"{broken")
    _bak(path).write_bytes(b"")
    assert cls.load(path) == cls()


def test_load_accepts_a_java_written_file_with_quoted_keys(tmp_path: Path) -> None:
    # A file rewritten by some other tool in standard JSON still loads.
    path = tmp_path / "consumerOffset.json"
    path.write_bytes(b'{"offsetTable": {"t@g": {"0": 12, "1": 9}}}\n')
    assert ConsumerOffsetFile.load(str(path)) == ConsumerOffsetFile({"t@g": {0: 12, 1: 9}})
