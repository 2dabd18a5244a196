"""Reading and writing fastjson-flavoured JSON (mirrors fastjson 1.x as RocketMQ uses it).

RocketMQ 4.9.x serialises every body with fastjson 1.2.69 (protocol.md §3.6). Its default
output ("legacy JSON") is not RFC JSON: map keys that are not strings are written bare
(``{0:"a"}``) and object map keys are written as objects
(``{{"brokerName":"b","queueId":0,"topic":"t"}:5}``). Its parser is lenient. This module is the one
place that knows those rules; it is sans-IO and knows nothing about bodies.

* ``loads`` reads both forms. orjson handles RFC JSON (the common case: 5.x and non-Java
  senders, and every body without non-string keys); anything orjson rejects, and integers
  beyond 64 bits (which orjson would turn into floats), go through a small
  recursive-descent parser that also takes bare numeric and identifier keys, object and array
  keys, single quotes, stray commas, ``\\x``/``\\v``/octal escapes and number suffixes
  (``12L``). Object keys become ``FrozenKey``, array keys tuples, so they can be dict keys.
* ``dumps_legacy`` writes fastjson's default output byte for byte (given keys in the order the
  caller wants; fastjson sorts bean properties alphabetically, callers do that).
* ``dumps_standard`` writes what a 4.9.4+ NameServer sends for GET_ROUTEINFO_BY_TOPIC to clients
  that asked for standard JSON: ``BrowserCompatible`` + ``MapSortField`` (keys quoted and sorted,
  every non-ASCII character and ``/`` escaped, integers beyond ±(2^53−1) as strings).

The writers are our own: fastjson's escaping (upper-case ``\\u00XX``, U+007F–U+009F and
U+2028/U+2029 escaped), its Java ``Double.toString`` number format and bare keys all differ from
orjson's output, so orjson cannot produce these bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Final

import orjson

__all__ = [
    "FrozenKey",
    "JsonError",
    "dumps_legacy",
    "dumps_standard",
    "freeze",
    "java_double",
    "loads",
    "thaw",
]


class JsonError(ValueError):
    """Malformed JSON. ``pos`` is the index into the decoded text (characters, not bytes)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(f"{message} at position {pos}")
        self.pos = pos


# ----------------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class FrozenKey:
    """A JSON object used as a map key, hashable (``Map<MessageQueue, X>`` keys).

    ``items`` are (name, value) pairs with nested objects frozen to ``FrozenKey`` and arrays to
    tuples. ``FrozenKey.of`` (what the parser uses) sorts the pairs by name so equal objects
    compare equal whatever order they arrived in; the writers emit ``items`` in stored order.
    """

    items: tuple[tuple[Any, Any], ...]

    @classmethod
    def of(cls, mapping: Mapping[Any, Any]) -> FrozenKey:
        pairs = sorted(((k, freeze(v)) for k, v in mapping.items()), key=_pair_order)
        return cls(tuple(pairs))

    def get(self, name: Any, default: Any = None) -> Any:
        for key, value in self.items:
            if key == name:
                return value
        return default

    def to_dict(self) -> dict[Any, Any]:
        return {key: thaw(value) for key, value in self.items}


def freeze(value: Any) -> Any:
    """``value`` made hashable: objects become ``FrozenKey``, arrays tuples."""
    if isinstance(value, Mapping):
        return FrozenKey.of(value)
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of ``freeze``: ``FrozenKey`` becomes a dict, tuples lists."""
    if isinstance(value, FrozenKey):
        return value.to_dict()
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


def _key_order(key: Any) -> tuple[int, Any]:
    # Java's TreeMap order (MapSortField): numbers numerically, strings by UTF-16 code unit
    # (differs from code-point order only above U+FFFF), anything else by its JSON text.
    if isinstance(key, int | float):
        return (0, key)
    if isinstance(key, str):
        return (1, key.encode("utf-16-be", "surrogatepass"))
    return (2, dumps_legacy(key))


def _pair_order(pair: tuple[Any, Any]) -> tuple[int, Any]:
    return _key_order(pair[0])


# ----------------------------------------------------------------------------------- reading

# orjson turns integers outside the i64/u64 range into floats instead of failing; such input
# (a run of 20 digits, or 19 after a minus) goes to our parser, which keeps them exact.
_BIG_INT_BYTES: Final = re.compile(rb"-[0-9]{19}|[0-9]{20}")
_BIG_INT_TEXT: Final = re.compile(r"-[0-9]{19}|[0-9]{20}")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse RFC or fastjson-legacy JSON; raises ``JsonError`` with the position on bad input."""
    if isinstance(data, memoryview):
        data = bytes(data)
    if isinstance(data, str):
        risky = _BIG_INT_TEXT.search(data) is not None
    else:
        risky = _BIG_INT_BYTES.search(data) is not None
    if not risky:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    # Java decodes with new String(bytes, UTF_8), which replaces malformed sequences.
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return _Parser(text).document()


_WS: Final = re.compile(r"[ \t\n\r\f\b]*")  # fastjson's isWhitespace set
_NUMBER: Final = re.compile(
    r"-?[0-9]+(?P<frac>\.[0-9]+)?(?P<exp>[eE][-+]?[0-9]+)?(?P<suffix>[LSBFD])?"
)
_IDENT: Final = re.compile(r"[^\W0-9][\w$]*|\$[\w$]*")
_CHUNK: Final = {'"': re.compile(r'[^"\\]*'), "'": re.compile(r"[^'\\]*")}
_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}")
_HEX2: Final = re.compile(r"[0-9a-fA-F]{2}")
_SIMPLE_ESCAPES: Final = {
    '"': '"', "'": "'", "\\": "\\", "/": "/",
    "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    **{str(digit): chr(digit) for digit in range(8)},  # fastjson reads \0..\7 as one char
}  # fmt: skip
_LITERALS: Final = (("true", True), ("false", False), ("null", None))


class _Parser:
    """Recursive descent over ``text``; every method starts at ``pos`` and leaves it after."""

    __slots__ = ("end", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.end = len(text)

    def document(self) -> Any:
        try:
            value = self.value()
        except RecursionError:
            raise JsonError("nesting too deep", self.pos) from None
        if self.peek():
            raise self.error("trailing data")
        return value

    def error(self, message: str) -> JsonError:
        return JsonError(message, self.pos)

    def peek(self) -> str:
        """Skip whitespace; the next character, or "" at the end."""
        self.pos = _match(_WS, self.text, self.pos).end()
        return self.text[self.pos] if self.pos < self.end else ""

    def value(self) -> Any:
        ch = self.peek()
        if ch == "{":
            return self.object()
        if ch == "[":
            return self.array()
        if ch in _CHUNK:
            return self.string()
        if ch == "-" or ch.isdigit():
            return self.number()
        if not ch:
            raise self.error("unexpected end of input")
        return self.literal()

    def object(self) -> dict[Any, Any]:
        self.pos += 1
        result: dict[Any, Any] = {}
        while (ch := self.peek()) != "}":
            if ch == ",":  # fastjson's AllowArbitraryCommas: stray and trailing commas
                self.pos += 1
                continue
            key = self.key()
            if self.peek() != ":":
                raise self.error("expected ':'")
            self.pos += 1
            result[key] = self.value()
            if self.peek() not in (",", "}"):
                raise self.error("expected ',' or '}'")
        self.pos += 1
        return result

    def array(self) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        while (ch := self.peek()) != "]":
            if ch == ",":
                self.pos += 1
                continue
            result.append(self.value())
            if self.peek() not in (",", "]"):
                raise self.error("expected ',' or ']'")
        self.pos += 1
        return result

    def key(self) -> Any:
        ch = self.peek()
        if ch in _CHUNK:
            return self.string()
        if ch == "{":
            return FrozenKey.of(self.object())
        if ch == "[":
            return freeze(self.array())
        if ch == "-" or ch.isdigit():
            return self.number()
        match = _IDENT.match(self.text, self.pos)
        if match is None:
            raise self.error("expected an object key")
        self.pos = match.end()
        return match.group()

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.error("malformed number")
        token = match.group()
        suffix = match.group("suffix")
        if suffix:
            token = token[:-1]
        try:
            if match.group("frac") or match.group("exp") or suffix in ("F", "D"):
                value: int | float = float(token)
            else:
                value = int(token)
        except ValueError:  # more digits than int() accepts (sys.set_int_max_str_digits)
            raise self.error("number too long") from None
        self.pos = match.end()
        return value

    def literal(self) -> bool | None:
        for word, value in _LITERALS:
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        raise self.error(f"unexpected character {self.text[self.pos]!r}")

    def string(self) -> str:
        start = self.pos
        quote = self.text[start]
        chunk = _CHUNK[quote]
        self.pos += 1
        parts: list[str] = []
        while True:
            match = _match(chunk, self.text, self.pos)
            parts.append(match.group())
            self.pos = match.end()
            if self.pos >= self.end:
                raise JsonError("unterminated string", start)
            if self.text[self.pos] == quote:
                self.pos += 1
                return "".join(parts)
            parts.append(self.escape())

    def escape(self) -> str:
        ch = self.text[self.pos + 1 : self.pos + 2]
        if ch == "u":
            return self.unicode_escape()
        if ch == "x":
            return chr(self.hex_digits(_HEX2, 2))
        simple = _SIMPLE_ESCAPES.get(ch)
        if simple is None:
            raise self.error("invalid escape")
        self.pos += 2
        return simple

    def unicode_escape(self) -> str:
        code = self.hex_digits(_HEX4, 4)
        # A high surrogate followed by an escaped low one is one code point (UTF-16 pair);
        # a lone surrogate is kept as is, as Java would.
        if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", self.pos):
            match = _HEX4.match(self.text, self.pos + 2)
            low = int(match.group(), 16) if match else 0
            if 0xDC00 <= low < 0xE000:
                self.pos += 6
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        return chr(code)

    def hex_digits(self, pattern: re.Pattern[str], count: int) -> int:
        """Read ``\\x``/``\\u`` plus ``count`` hex digits at ``pos``."""
        match = pattern.match(self.text, self.pos + 2)
        if match is None:
            raise self.error("invalid escape")
        self.pos += 2 + count
        return int(match.group(), 16)


def _match(pattern: re.Pattern[str], text: str, pos: int) -> re.Match[str]:
    """Match a pattern that cannot fail (it matches the empty string)."""
    match = pattern.match(text, pos)
    assert match is not None
    return match


# ----------------------------------------------------------------------------------- writing

# What fastjson's SerializeWriter escapes by default: C0 controls, '"', '\\', U+007F..U+009F
# and U+2028/U+2029 (specicalFlags_doubleQuotes). With BrowserCompatible: C0 controls, '"',
# '/', '\\' and everything from U+007F up. \b \t \n \f \r and the three specials get short
# forms, the rest \\uXXXX with upper-case hex.
_LEGACY_SPECIAL: Final = re.compile('[\x00-\x1f"\\\\\x7f-\x9f\u2028\u2029]')
_BROWSER_SPECIAL: Final = re.compile('[\x00-\x1f"/\\\\\x7f-\U0010ffff]')
_SHORT_ESCAPES: Final = {
    "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r",
    '"': '\\"', "\\": "\\\\", "/": "\\/",
}  # fmt: skip
_JS_SAFE_INT: Final = 2**53 - 1  # BrowserCompatible quotes longs beyond this


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group()
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code > 0xFFFF:  # Java strings are UTF-16: each unit of the pair is escaped on its own
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"
    return f"\\u{code:04X}"


def java_double(value: float) -> str:
    """fastjson's double text (RyuDouble, Java ``Double.toString`` layout); NaN/±inf → null."""
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    digits, exp = _shortest_digits(abs(value))
    sign = "-" if value < 0 else ""
    if -3 <= exp < 7:
        return sign + _plain_decimal(digits, exp)
    if len(digits) == 1:
        # Ryu keeps two significant digits in scientific form, rounded from the exact binary
        # value: "1.0E10", but 4.9E-324 (not 5.0E-324) for the smallest subnormal.
        mantissa, _, exponent = f"{abs(value):.1e}".partition("e")
        return f"{sign}{mantissa}E{int(exponent)}"
    return f"{sign}{digits[0]}.{digits[1:]}E{exp}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of a positive float and its decimal exponent (d.ddd × 10^e).

    Python's repr and Ryu both pick the shortest correctly rounded digit string.
    """
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    stripped = all_digits.lstrip("0")
    exp = len(whole) - 1 - (len(all_digits) - len(stripped)) + int(exponent or 0)
    return stripped.rstrip("0") or "0", exp


def _plain_decimal(digits: str, exp: int) -> str:
    if exp < 0:
        return "0." + "0" * (-exp - 1) + digits
    if exp + 1 >= len(digits):
        return digits + "0" * (exp + 1 - len(digits)) + ".0"
    return digits[: exp + 1] + "." + digits[exp + 1 :]


class _LegacyWriter:
    """fastjson's default output (``RemotingSerializable.encode``)."""

    __slots__ = ("parts",)
    special: ClassVar[re.Pattern[str]] = _LEGACY_SPECIAL

    def __init__(self) -> None:
        self.parts: list[str] = []

    def run(self, obj: Any) -> bytes:
        self.value(obj)
        # Java's getBytes(UTF_8) turns a lone surrogate into '?'; "replace" does the same.
        return "".join(self.parts).encode("utf-8", "replace")

    def value(self, value: Any) -> None:
        writer = _SCALARS.get(type(value))
        if writer is not None:
            self.parts.append(writer(self, value))
        elif isinstance(value, Mapping):
            self.mapping(value.items())
        elif isinstance(value, FrozenKey):
            self.mapping(value.items)
        elif isinstance(value, list | tuple | set | frozenset):
            self.array(value)
        else:
            self.parts.append(self.scalar_subclass(value))

    def scalar_subclass(self, value: Any) -> str:
        if isinstance(value, Enum):  # fastjson writes enums by name
            return self.string(value.name)
        for kind in (bool, int, float, str):
            if isinstance(value, kind):
                return _SCALARS[kind](self, kind(value))
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

    def mapping(self, items: Iterable[tuple[Any, Any]]) -> None:
        parts = self.parts
        parts.append("{")
        for index, (key, value) in enumerate(self.entries(items)):
            if index:
                parts.append(",")
            self.key(key)
            parts.append(":")
            self.value(value)
        parts.append("}")

    def array(self, values: Iterable[Any]) -> None:
        self.parts.append("[")
        for index, value in enumerate(values):
            if index:
                self.parts.append(",")
            self.value(value)
        self.parts.append("]")

    def entries(self, items: Iterable[tuple[Any, Any]]) -> Iterable[tuple[Any, Any]]:
        return items  # fastjson writes map entries in the map's own order

    def key(self, key: Any) -> None:
        # Non-string keys are written as their JSON value: {0:..}, {true:..}, {{..}:..}.
        self.value(key)

    def string(self, text: str) -> str:
        return '"' + self.special.sub(_escape_char, text) + '"'

    def integer(self, value: int) -> str:
        return str(value)


class _StandardWriter(_LegacyWriter):
    """``BrowserCompatible, QuoteFieldNames, SkipTransientField, MapSortField``."""

    __slots__ = ()
    special = _BROWSER_SPECIAL

    def entries(self, items: Iterable[tuple[Any, Any]]) -> Iterable[tuple[Any, Any]]:
        return sorted(items, key=_pair_order)

    def key(self, key: Any) -> None:
        # BrowserCompatible implies WriteNonStringKeyAsString: the key's default JSON, quoted.
        text = key if isinstance(key, str) else dumps_legacy(key).decode("utf-8")
        self.parts.append(self.string(text))

    def integer(self, value: int) -> str:
        if -_JS_SAFE_INT <= value <= _JS_SAFE_INT:
            return str(value)
        return f'"{value}"'


_SCALARS: Final[dict[type, Callable[[_LegacyWriter, Any], str]]] = {
    str: lambda writer, value: writer.string(value),
    int: lambda writer, value: writer.integer(value),
    bool: lambda _writer, value: "true" if value else "false",
    float: lambda _writer, value: java_double(value),
    type(None): lambda _writer, _value: "null",
}


def dumps_legacy(obj: Any) -> bytes:
    """fastjson's default (legacy) output of ``obj``, compact, map entries in given order.

    Accepts dict/Mapping, list/tuple/set, str, int, float, bool, None, Enum (by name) and
    ``FrozenKey`` (as an object). Non-string keys are written bare: ``{0:"x"}``, and
    ``FrozenKey`` keys as objects. ``None`` values are written as ``null``: fastjson would drop
    them, so body encoders leave them out themselves.
    """
    return _LegacyWriter().run(obj)


def dumps_standard(obj: Any) -> bytes:
    """RFC JSON as the NameServer's standard route JSON: sorted keys, ASCII only, big ints quoted.

    Non-string keys become the string of their legacy JSON (``{"0":"x"}``).
    """
    return _StandardWriter().run(obj)
