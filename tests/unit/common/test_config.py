"""Tests for pyrmq.common.config: the properties parser, writer and dataclass binder."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.common.config import (
    ConfigError,
    PropertyEntry,
    apply_entries,
    bind,
    check_entries,
    format_properties,
    from_properties_text,
    known_keys,
    load_config,
    load_properties_file,
    parse_properties,
    to_pairs,
    to_properties,
    update_from_mapping,
)

JAVA_TRIM = "".join(chr(code) for code in range(0x21))
TUTORIAL = Path(__file__).parents[3] / ".." / "shared" / "tutorial"
TUTORIAL_FILES = sorted(TUTORIAL.glob("*.properties")) if TUTORIAL.is_dir() else []
NO_TUTORIAL = f"tutorial fixtures not found in {TUTORIAL.resolve()}"
needs_tutorial = pytest.mark.skipif(not TUTORIAL_FILES, reason=NO_TUTORIAL)


class BrokerRole(enum.Enum):
    ASYNC_MASTER = 0
    SYNC_MASTER = 1
    SLAVE = 2


class FlushDiskType(enum.Enum):
    SYNC_FLUSH = 0
    ASYNC_FLUSH = 1


@dataclass(slots=True)
class Sample:
    """Every supported field type, an alias pair, a key override and an ignored key."""

    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset({"storePathIndex", "abortFile"})

    listen_port: int = 10911
    ratio: float = 0.5
    auto_create_topic_enable: bool = False
    broker_name: str = "broker-a"
    namesrv_addr: str | None = None
    broker_role: BrokerRole = BrokerRole.ASYNC_MASTER
    flush_disk_type: FlushDiskType = FlushDiskType.ASYNC_FLUSH
    mapped_file_size_commit_log: int = field(
        default=1 << 30, metadata={"aliases": ("mapedFileSizeCommitLog",)}
    )
    d_leger_peers: str = ""
    ha_master_address: str = field(default="", metadata={"key": "haMasterAddr"})


@dataclass(slots=True)
class Netty:
    """A second class sharing a file with Sample, as NettyServerConfig does in a broker."""

    server_worker_threads: int = 8


@dataclass(slots=True)
class TutorialStore:
    """The few broker keys the tutorial tests look at; the rest of its files are unknown here."""

    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"storePathConsumeQueue", "storePathIndex", "storeCheckpoint", "abortFile"}
    )

    broker_role: BrokerRole = BrokerRole.ASYNC_MASTER
    flush_disk_type: FlushDiskType = FlushDiskType.ASYNC_FLUSH
    store_path_root_dir: str = ""
    mapped_file_size_commit_log: int = field(
        default=1 << 30, metadata={"aliases": ("mapedFileSizeCommitLog",)}
    )
    d_leger_peers: str = ""


def pairs(text: str) -> list[tuple[str, str]]:
    return [(entry.key, entry.value) for entry in parse_properties(text)]


# --------------------------------------------------------------------------- parser

PARSE_CASES = [
    ("equals", "a=b", [("a", "b")]),
    ("colon", "a:b", [("a", "b")]),
    ("space", "a b", [("a", "b")]),
    ("tab", "a\tb", [("a", "b")]),
    ("form feed", "a\fb", [("a", "b")]),
    ("spaced equals", "key = value", [("key", "value")]),
    ("spaced colon", "key  :  value", [("key", "value")]),
    ("blanks then value", "key     value", [("key", "value")]),
    ("second equals is value", "a==b", [("a", "=b")]),
    ("equals after blank separator", "a = = b", [("a", "= b")]),
    ("separators inside value", "a=b:c=d e", [("a", "b:c=d e")]),
    ("escaped equals in key", "a\\=b=c", [("a=b", "c")]),
    ("escaped colon in key", "a\\:b:c", [("a:b", "c")]),
    ("escaped space in key", "a\\ b c", [("a b", "c")]),
    ("escaped backslash then separator", "a\\\\=b", [("a\\", "b")]),
    ("hash comment", "# note\na=b", [("a", "b")]),
    ("bang comment", "! note\na=b", [("a", "b")]),
    ("indented comment", "  \t# note\na=b", [("a", "b")]),
    ("comment never continues", "# note \\\na=b", [("a", "b")]),
    ("hash inside value", "a=b#c", [("a", "b#c")]),
    ("blank lines", "\n  \n\t\f\na=b\n\n", [("a", "b")]),
    ("leading whitespace", "   \ta=b", [("a", "b")]),
    ("trailing whitespace kept", "a=b  \t", [("a", "b  \t")]),
    ("continuation", "a=b\\\n   c", [("a", "bc")]),
    ("continuation keeps inner blanks", "a=b \\\n  c", [("a", "b c")]),
    ("continuation in key", "ab\\\n  cd=e", [("abcd", "e")]),
    ("continuation line starting with hash", "a=b\\\n  #c", [("a", "b#c")]),
    ("continuation over several lines", "a=1\\\n 2\\\n\t3", [("a", "123")]),
    ("even backslashes do not continue", "a=b\\\\\nc=d", [("a", "b\\"), ("c", "d")]),
    ("three backslashes continue", "a=b\\\\\\\n c", [("a", "b\\c")]),
    ("continuation at end of text", "a=b\\", [("a", "b")]),
    ("continuation onto blank line", "a=b\\\n\nc=d", [("a", "b"), ("c", "d")]),
    ("control escapes", "a=\\t\\n\\r\\f", [("a", "\t\n\r\f")]),
    ("unicode escapes", "a=\\u0041\\u00e9\\u00E9", [("a", "Aéé")]),
    ("surrogate pair escapes", "a=\\ud83d\\ude00", [("a", "\U0001f600")]),
    ("other escapes mean the char", "a=\\q\\\\\\#\\=", [("a", "q\\#=")]),
    ("escaped leading space of value", "a=\\  b", [("a", "  b")]),
    ("key only", "a", [("a", "")]),
    ("key and equals", "a=", [("a", "")]),
    ("key and blanks", "a   ", [("a", "")]),
    ("key, equals and blanks", "a =  ", [("a", "")]),
    ("empty key", "=b", [("", "b")]),
    ("vertical tab is not a blank", "a\x0bb=c", [("a\x0bb", "c")]),
    ("raw non-ASCII", "ключ=значение", [("ключ", "значение")]),
    ("CRLF", "a=b\r\nc=d\r\n", [("a", "b"), ("c", "d")]),
    ("lone CR", "a=b\rc=d", [("a", "b"), ("c", "d")]),
    ("CRLF continuation", "a=b\\\r\n  c\r\nd=e", [("a", "bc"), ("d", "e")]),
    ("repeats all kept", "a=1\na=2", [("a", "1"), ("a", "2")]),
    ("nothing", "", []),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in PARSE_CASES], ids=[c[0] for c in PARSE_CASES]
)
def test_parse(text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(text) == expected


def test_parse_line_numbers_are_where_logical_lines_start() -> None:
    text = "# head\n\na=1\nb=2\\\n  more\\\n  more\r\n! note\r\n  c = 3\n"
    entries = parse_properties(text, "conf/x.properties")
    assert [(e.key, e.line) for e in entries] == [("a", 3), ("b", 4), ("c", 8)]
    assert {e.source for e in entries} == {"conf/x.properties"}


@pytest.mark.parametrize("text", ["a=\\u12", "a=\\uXYZW", "\\u00g0=b"])
def test_parse_malformed_unicode_escape(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^conf/x\.properties:2: malformed \\uxxxx") as info:
        parse_properties("# c\n" + text, "conf/x.properties")
    assert (info.value.source, info.value.line) == ("conf/x.properties", 2)


FORMAT_CASES = [
    ("a", "b", "a=b\n"),
    ("k y", " v w ", "k\\ y=\\ v w \n"),
    ("a=b:c", "=:#!", "a\\=b\\:c=\\=\\:\\#\\!\n"),
    ("#a", "!b", "\\#a=\\!b\n"),
    ("p", "C:\\store", "p=C\\:\\\\store\n"),
    ("t", "\t\n\r\f", "t=\\t\\n\\r\\f\n"),
    ("é", "\x00\x7f\U0001f600", "\\u00E9=\\u0000\\u007F\\uD83D\\uDE00\n"),
]


@pytest.mark.parametrize(("key", "value", "expected"), FORMAT_CASES)
def test_format_escapes_like_properties_store(key: str, value: str, expected: str) -> None:
    assert format_properties([(key, value)]) == expected
    assert pairs(expected) == [(key, value)]


@settings(database=None, max_examples=300)
@given(st.lists(st.tuples(st.text(), st.text())))
def test_parse_reads_back_what_format_writes(items: list[tuple[str, str]]) -> None:
    assert pairs(format_properties(items)) == items


def test_load_properties_file_encodings(tmp_path: Path) -> None:
    utf8 = tmp_path / "utf8.properties"
    utf8.write_bytes("\ufeffbrokerName=é\n".encode())
    latin1 = tmp_path / "latin1.properties"
    latin1.write_bytes("brokerName=é\n".encode("latin-1"))
    for path in (utf8, latin1):
        assert load_properties_file(path) == [PropertyEntry("brokerName", "é", 1, str(path))]


# --------------------------------------------------------------------------- binder

BIND_CASES = [
    ("listenPort=10912", "listen_port", 10912),
    ("listenPort=+7", "listen_port", 7),
    ("listenPort=-7", "listen_port", -7),
    ("listenPort = 10912  ", "listen_port", 10912),
    ("listenPort=9223372036854775807", "listen_port", 2**63 - 1),
    ("ratio=0.75", "ratio", 0.75),
    ("ratio=1e3", "ratio", 1000.0),
    ("ratio=-.5", "ratio", -0.5),
    ("ratio=2.5f", "ratio", 2.5),
    ("ratio=Infinity", "ratio", float("inf")),
    ("autoCreateTopicEnable=true", "auto_create_topic_enable", True),
    ("autoCreateTopicEnable=TRUE", "auto_create_topic_enable", True),
    ("autoCreateTopicEnable=False", "auto_create_topic_enable", False),
    ("autoCreateTopicEnable=true\t", "auto_create_topic_enable", True),
    ("brokerName=broker-b", "broker_name", "broker-b"),
    ("brokerName=", "broker_name", ""),
    ("brokerName=broker-b ", "broker_name", "broker-b"),
    ("namesrvAddr=127.0.0.1:9876;127.0.0.2:9876", "namesrv_addr", "127.0.0.1:9876;127.0.0.2:9876"),
    ("brokerRole=SYNC_MASTER", "broker_role", BrokerRole.SYNC_MASTER),
    ("brokerRole=SLAVE", "broker_role", BrokerRole.SLAVE),
    ("flushDiskType=SYNC_FLUSH", "flush_disk_type", FlushDiskType.SYNC_FLUSH),
    ("mappedFileSizeCommitLog=1024", "mapped_file_size_commit_log", 1024),
    ("mapedFileSizeCommitLog=2048", "mapped_file_size_commit_log", 2048),
    ("dLegerPeers=n0-127.0.0.1:40911", "d_leger_peers", "n0-127.0.0.1:40911"),
    ("haMasterAddr=127.0.0.1:10912", "ha_master_address", "127.0.0.1:10912"),
]


@pytest.mark.parametrize(("text", "name", "expected"), BIND_CASES)
def test_bind_types(text: str, name: str, expected: object) -> None:
    config, _ = from_properties_text(Sample, text)
    assert getattr(config, name) == expected
    assert type(getattr(config, name)) is type(expected)


BAD_CASES = [
    ("listenPort=abc", "listenPort: 'abc' (expected an integer)"),
    ("listenPort=0x10", "listenPort: '0x10' (expected an integer)"),
    ("listenPort=1.5", "listenPort: '1.5' (expected an integer)"),
    ("listenPort=1_000", "listenPort: '1_000' (expected an integer)"),
    ("listenPort=", "listenPort: '' (expected an integer)"),
    ("listenPort=9223372036854775808", "(expected an integer that fits in 64 bits)"),
    ("ratio=abc", "ratio: 'abc' (expected a number)"),
    ("ratio=inf", "ratio: 'inf' (expected a number)"),
    ("autoCreateTopicEnable=ture", "autoCreateTopicEnable: 'ture' (expected true or false)"),
    ("autoCreateTopicEnable=1", "autoCreateTopicEnable: '1' (expected true or false)"),
    ("brokerRole=SLAV", "brokerRole: 'SLAV' (expected one of ASYNC_MASTER, SYNC_MASTER, SLAVE)"),
    ("brokerRole=slave", "brokerRole: 'slave' (expected one of"),
    ("mapedFileSizeCommitLog=1G", "mapedFileSizeCommitLog: '1G' (expected an integer)"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CASES)
def test_bind_bad_value_names_file_line_key_and_value(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_properties_text(Sample, "# head\n" + text, source="conf/broker.conf")
    assert str(info.value).startswith("conf/broker.conf:2: bad value for ")
    assert message in str(info.value)
    key, _, value = text.partition("=")
    assert (info.value.source, info.value.line) == ("conf/broker.conf", 2)
    assert (info.value.key, info.value.value) == (key, value)


def test_bad_enum_message_in_full() -> None:
    with pytest.raises(ConfigError) as info:
        from_properties_text(Sample, "brokerRole=SLAV", source="conf/broker.conf")
    assert str(info.value) == (
        "conf/broker.conf:1: bad value for brokerRole: 'SLAV' "
        "(expected one of ASYNC_MASTER, SYNC_MASTER, SLAVE)"
    )


def test_bad_value_that_is_overridden_does_not_count() -> None:
    config, warnings = from_properties_text(Sample, "listenPort=abc\nlistenPort=1", source="f")
    assert config.listen_port == 1
    assert warnings == ["f:2: listenPort repeated (first set on line 1); the last value wins"]


def test_first_bad_winning_value_in_file_order_is_reported() -> None:
    text = "brokerRole=SLAV\nlistenPort=x\nbrokerRole=NOPE"
    with pytest.raises(ConfigError, match=r"^f:2: bad value for listenPort"):
        from_properties_text(Sample, text, source="f")


WARNING_CASES = [
    (
        "repeated key",
        "storePathIndex=/a\nbrokerName=a\n# c\nbrokerName=b",
        ["conf/x.properties:4: brokerName repeated (first set on line 2); the last value wins"],
    ),
    (
        "alias then main key",
        "mapedFileSizeCommitLog=1\nmappedFileSizeCommitLog=2",
        [
            "conf/x.properties:2: mappedFileSizeCommitLog repeated "
            "(first set as mapedFileSizeCommitLog on line 1); the last value wins"
        ],
    ),
    (
        "misspelt key",
        "a=1\nb=2\nc=3\nd=4\nflushDiskTyp=ASYNC_FLUSH",
        [
            "conf/x.properties:1: unknown key a",
            "conf/x.properties:2: unknown key b",
            "conf/x.properties:3: unknown key c",
            "conf/x.properties:4: unknown key d",
            "conf/x.properties:5: unknown key flushDiskTyp (did you mean flushDiskType?)",
        ],
    ),
    (
        "wrong case",
        "listenport=1",
        ["conf/x.properties:1: unknown key listenport (did you mean listenPort?)"],
    ),
    (
        "misspelt alias",
        "mapedFileSizeCommitLg=1",
        [
            "conf/x.properties:1: unknown key mapedFileSizeCommitLg "
            "(did you mean mapedFileSizeCommitLog?)"
        ],
    ),
    ("nothing close", "zookeeperAddress=x", ["conf/x.properties:1: unknown key zookeeperAddress"]),
    ("ignored keys", "storePathIndex=/x\nabortFile=/y \nabortFile=/z", []),
    (
        "trailing whitespace",
        "brokerName=a \nlistenPort=1\t",
        [
            "conf/x.properties:1: trailing whitespace after brokerName ignored",
            "conf/x.properties:2: trailing whitespace after listenPort ignored",
        ],
    ),
    ("clean", "brokerName=a\nlistenPort=1", []),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in WARNING_CASES], ids=[c[0] for c in WARNING_CASES]
)
def test_bind_warnings(text: str, expected: list[str]) -> None:
    _, warnings = from_properties_text(Sample, text, source="conf/x.properties")
    assert warnings == expected


def test_last_value_wins_and_ignored_keys_bind_nothing() -> None:
    text = "brokerName=a\nstorePathIndex=/x\nbrokerName=b\nmapedFileSizeCommitLog=5"
    config, _ = from_properties_text(Sample, text)
    assert config == Sample(broker_name="b", mapped_file_size_commit_log=5)


def test_bind_onto_base_copies_it() -> None:
    base = Sample(listen_port=1, broker_name="x")
    config, warnings = bind(Sample, parse_properties("brokerName=y"), base)
    assert config == Sample(listen_port=1, broker_name="y")
    assert base == Sample(listen_port=1, broker_name="x")
    assert warnings == []


def test_check_entries_across_classes() -> None:
    entries = parse_properties("listenPort=1\nserverWorkerThreads=4\nlistenPrt=2", "f")
    assert apply_entries(Netty, entries) == Netty(server_worker_threads=4)
    assert apply_entries(Sample, entries) == Sample(listen_port=1)
    assert check_entries(entries, Sample, Netty) == [
        "f:3: unknown key listenPrt (did you mean listenPort?)"
    ]


def test_known_keys() -> None:
    assert known_keys(Netty) == ["serverWorkerThreads"]
    keys = known_keys(Sample)
    assert keys == sorted(keys)
    assert {"mappedFileSizeCommitLog", "mapedFileSizeCommitLog", "haMasterAddr"} <= set(keys)
    assert {"storePathIndex", "dLegerPeers", "autoCreateTopicEnable"} <= set(keys)
    assert "haMasterAddress" not in keys


def test_load_config(tmp_path: Path) -> None:
    path = tmp_path / "broker.properties"
    path.write_text("brokerRole = SLAVE\nflushDiskTyp=SYNC_FLUSH\n", encoding="utf-8")
    config, warnings = load_config(Sample, path)
    assert config == Sample(broker_role=BrokerRole.SLAVE)
    assert warnings == [f"{path}:2: unknown key flushDiskTyp (did you mean flushDiskType?)"]


def test_update_from_mapping_mutates_the_live_object() -> None:
    live = Sample()
    warnings = update_from_mapping(
        live, {"listenPort": "1", "brokerRole": "SLAVE", "x": "y"}, "UPDATE_BROKER_CONFIG"
    )
    assert live == Sample(listen_port=1, broker_role=BrokerRole.SLAVE)
    assert warnings == ["UPDATE_BROKER_CONFIG: unknown key x"]


def test_update_from_mapping_is_all_or_nothing() -> None:
    live = Sample()
    with pytest.raises(ConfigError, match=r"^upd: bad value for brokerRole: 'SLAV'"):
        update_from_mapping(live, {"listenPort": "1", "brokerRole": "SLAV"}, "upd")
    assert live == Sample()


def test_bad_class_definitions_are_type_errors() -> None:
    @dataclass
    class Listy:
        items: list[int] = field(default_factory=list)

    @dataclass
    class Clash:
        a_b: int = 0
        other: int = field(default=0, metadata={"aliases": ("aB",)})

    for cls in (Listy, Clash, int):
        with pytest.raises(TypeError):
            known_keys(cls)


# --------------------------------------------------------------------------- printing


def test_to_properties_uses_java_forms_sorted_and_skips_none() -> None:
    assert to_properties(Sample(broker_name="a=b")) == (
        "autoCreateTopicEnable=false\n"
        "brokerName=a\\=b\n"
        "brokerRole=ASYNC_MASTER\n"
        "dLegerPeers=\n"
        "flushDiskType=ASYNC_FLUSH\n"
        "haMasterAddr=\n"
        "listenPort=10911\n"
        "mappedFileSizeCommitLog=1073741824\n"
        "ratio=0.5\n"
    )


def test_to_pairs_renders_floats_as_java_reads_them() -> None:
    rendered = dict(to_pairs(Sample(ratio=float("-inf"), namesrv_addr="n")))
    assert (rendered["ratio"], rendered["namesrvAddr"]) == ("-Infinity", "n")


def test_to_properties_round_trip() -> None:
    config = Sample(
        listen_port=-1,
        ratio=1e300,
        auto_create_topic_enable=True,
        broker_name="b é:\\#!=\U0001f600 x",
        namesrv_addr="127.0.0.1:9876",
        broker_role=BrokerRole.SLAVE,
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        mapped_file_size_commit_log=2**40,
        d_leger_peers="n0-127.0.0.1:40911;n1-127.0.0.2:40911",
    )
    assert from_properties_text(Sample, to_properties(config)) == (config, [])


def _trimmed(text: str) -> str:
    return text.strip(JAVA_TRIM)


@settings(database=None, max_examples=200)
@given(
    st.builds(
        Sample,
        listen_port=st.integers(-(2**63), 2**63 - 1),
        ratio=st.floats(allow_nan=False),
        auto_create_topic_enable=st.booleans(),
        broker_name=st.text().map(_trimmed),
        namesrv_addr=st.none() | st.text().map(_trimmed),
        broker_role=st.sampled_from(BrokerRole),
        flush_disk_type=st.sampled_from(FlushDiskType),
    )
)
def test_to_properties_round_trip_generated(config: Sample) -> None:
    # None prints as nothing and so reads back as the default, which is None here.
    assert from_properties_text(Sample, to_properties(config)) == (config, [])


# --------------------------------------------------------------------------- tutorial files


def _naive_pairs(text: str) -> list[tuple[str, str]]:
    """The tutorial files are simple enough for split-on-first-'=' to be the truth."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.partition("=")[0], line.partition("=")[2]) for line in lines]


@pytest.mark.parametrize(
    "path",
    TUTORIAL_FILES or [pytest.param(None, marks=pytest.mark.skip(reason=NO_TUTORIAL))],
    ids=lambda path: path.name if path else "missing",
)
def test_tutorial_file_parses(path: Path) -> None:
    entries = load_properties_file(path)
    assert [(e.key, e.value) for e in entries] == _naive_pairs(path.read_text(encoding="utf-8"))
    assert [e.line for e in entries] == sorted({e.line for e in entries})
    keys = {e.key for e in entries}
    assert {"brokerClusterName", "brokerName", "brokerId", "brokerRole", "listenPort"} <= keys
    _, warnings = bind(TutorialStore, entries)
    assert not [w for w in warnings if "storePathIndex" in w or "abortFile" in w]


@needs_tutorial
def test_tutorial_dledger_n0_repeats_store_path_root_dir() -> None:
    path = TUTORIAL / "3.4-dledger-n0--broker-a.properties"
    entries = load_properties_file(path)
    roots = [e for e in entries if e.key == "storePathRootDir"]
    assert [e.value for e in roots] == [
        "/home/wangjianghua/src/rocketmq/data/store",
        "/home/wangjianghua/src/rocketmq/data/store/dledger",
    ]
    peers = [e.value for e in entries if e.key == "dLegerPeers"]
    assert peers == ["n0-127.0.0.1:40911;n1-127.0.0.2:40911;n2-127.0.0.3:40911"]
    config, warnings = bind(TutorialStore, entries)
    assert config.store_path_root_dir == roots[1].value
    assert config.d_leger_peers == peers[0]
    assert config.mapped_file_size_commit_log == 1073741824  # from the maped* spelling
    assert (config.broker_role, config.flush_disk_type) == (
        BrokerRole.SYNC_MASTER,
        FlushDiskType.SYNC_FLUSH,
    )
    repeated = f"{path}:{roots[1].line}: storePathRootDir repeated (first set on line "
    assert [w for w in warnings if "repeated" in w] == [
        f"{repeated}{roots[0].line}); the last value wins"
    ]


@needs_tutorial
@pytest.mark.parametrize(
    "name", ["3.4-dledger-n1--broker-a-s.properties", "3.4-dledger-n2--broker-a-s.properties"]
)
def test_tutorial_dledger_slaves_misspell_flush_disk_type(name: str) -> None:
    path = TUTORIAL / name
    lines = path.read_text(encoding="utf-8").splitlines()
    line = lines.index("flushDiskTyp=ASYNC_FLUSH") + 1
    config, warnings = load_config(TutorialStore, path)
    assert f"{path}:{line}: unknown key flushDiskTyp (did you mean flushDiskType?)" in warnings
    assert config.broker_role is BrokerRole.SLAVE
    assert config.flush_disk_type is FlushDiskType.ASYNC_FLUSH  # the default: the key missed


@needs_tutorial
def test_tutorial_n1_misspelling_is_on_line_27() -> None:
    _, warnings = load_config(TutorialStore, TUTORIAL / "3.4-dledger-n1--broker-a-s.properties")
    assert [w for w in warnings if "flushDiskTyp " in w] == [
        f"{TUTORIAL / '3.4-dledger-n1--broker-a-s.properties'}:27: unknown key flushDiskTyp "
        "(did you mean flushDiskType?)"
    ]
