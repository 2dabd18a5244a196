"""Properties files and config dataclasses: pyrmq's one parser, writer and binder.

What this module owns, and the Java it mirrors (RocketMQ 4.9.8 on Java 8):

* ``parse_properties`` / ``load_properties_file`` -- ``java.util.Properties.load``: its
  ``LineReader`` (natural lines, comments, continuations) and ``loadConvert`` (escapes), over
  text, keeping the source and line of every entry so messages can point at them.
* ``format_properties`` -- the escaping of ``Properties.store`` (``saveConvert``), so whatever we
  write reads back unchanged, in Java and here.
* ``bind`` / ``apply_entries`` / ``check_entries`` / ``load_config`` / ``from_properties_text`` /
  ``update_from_mapping`` -- ``MixAll.properties2Object``: setting the fields of a config object
  from properties (broker and namesrv ``-c`` files, UPDATE_*_CONFIG bodies).
* ``to_pairs`` / ``to_properties`` / ``known_keys`` -- ``MixAll.object2Properties`` and
  ``properties2String`` (``-p``, GET_*_CONFIG bodies).

Config classes are dataclasses (``@dataclass(slots=True)``, every field with a default) whose
fields are int, float, bool, str, an ``enum.Enum`` subclass, or one of those ``| None``.

* A field's key is its name in camelCase (``ha_listen_port`` -> ``haListenPort``,
  ``d_leger_peers`` -> ``dLegerPeers``), which is what Java derives from the setter name.
  ``field(metadata={"key": ...})`` overrides it; ``metadata={"aliases": (...)}`` adds spellings
  that set the same field.
* Keys a version accepts but does not use are listed in a class attribute
  ``IGNORED_KEYS: ClassVar[frozenset[str]]``: they bind nothing and draw no warning. A class
  attribute, not a field, because such keys have no value to keep or print.

Where pyrmq differs from RocketMQ on purpose (Java hides each of these mistakes):

* Values are trimmed (``String.trim``: every char <= U+0020 off both ends) before conversion.
  4.9.8's ``properties2Object`` trims nothing, so ``listenPort=10911 `` throws inside it, the
  throw is swallowed and the default silently stays, ``true `` reads as false, and a string
  keeps its blank. 5.2.0 began trimming strings (commit 086a726c5d, ISSUE #7659). pyrmq trims
  every type, and warns, so the file still reads the same to a Java broker once fixed.
* A value that does not convert raises ``ConfigError`` (Java swallows the exception and keeps
  the default). Booleans must be ``true`` or ``false`` in any case: ``Boolean.parseBoolean``
  would turn ``ture`` into false. Ints are decimal with an optional sign and must fit in 64
  bits (``Long.parseLong``); enums are given by member name, case-sensitive (``Enum.valueOf``).
* An unknown key draws a warning with the closest known key (Java ignores it), and so does a
  repeated key (Java keeps the last value, as we do).
* Files are read as UTF-8 (BOM dropped), falling back to Latin-1, the charset Java's
  ``load(InputStream)`` uses.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "ConfigError",
    "PropertyEntry",
    "apply_entries",
    "bind",
    "check_entries",
    "format_properties",
    "from_properties_text",
    "known_keys",
    "load_config",
    "load_properties_file",
    "parse_properties",
    "to_pairs",
    "to_properties",
    "update_from_mapping",
]

T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True, slots=True)
class PropertyEntry:
    """One ``key=value`` of a properties text; ``line`` is where its logical line starts."""

    key: str
    value: str
    line: int
    source: str

    @property
    def where(self) -> str:
        return _where(self.source, self.line)


class ConfigError(ValueError):
    """A properties text that cannot be used; the message names source, line, key and value."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        line: int,
        key: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.key = key
        self.value = value


def _where(source: str, line: int) -> str:
    # Line 0 marks entries that never had a line (runtime updates given as a mapping).
    return f"{source}:{line}" if line > 0 else source


# --------------------------------------------------------------------------- parser

# Properties knows only these three blanks; any other (e.g. \v) is an ordinary key character.
_BLANKS = " \t\f"
# \r\n, lone \r and lone \n all end a natural line; str.splitlines would also split on \f,
# \v, \x1c and \u2028, which Properties treats as text.
_EOL = re.compile(r"\r\n|\r|\n")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(u)|(.)|\Z)", re.DOTALL)
_CONTROL_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_properties(text: str, source: str = "<string>") -> list[PropertyEntry]:
    """Parse properties text as ``java.util.Properties.load`` does, keeping every entry.

    Repeated keys all appear, in order: deciding that the last wins is the binder's job.
    Raises ConfigError for a malformed ``\\uXXXX`` escape, as Java throws for it.
    """
    entries = []
    for line, logical in _logical_lines(text):
        raw_key, raw_value = _split_key_value(logical)
        key = _unescape(raw_key, source, line)
        entries.append(PropertyEntry(key, _unescape(raw_value, source, line), line, source))
    return entries


def load_properties_file(path: str | PathLike[str]) -> list[PropertyEntry]:
    """Read and parse a properties file; entries name the path as given."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Not UTF-8: most likely a file written for Java's default ISO-8859-1 reading.
        text = data.decode("latin-1")
    return parse_properties(text, str(path))


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first line number, logical line) with comments, blanks and continuations done."""
    start = 0  # line number of the logical line being gathered; 0 = none
    parts: list[str] = []
    for number, natural in enumerate(_EOL.split(text), start=1):
        stripped = natural.lstrip(_BLANKS)
        if not start:
            # Comments and blank lines exist only at the start of a logical line: a
            # continuation line beginning with '#' is text, and a comment never continues.
            if not stripped or stripped[0] in "#!":
                continue
            start = number
        if _continues(stripped):
            parts.append(stripped[:-1])
            continue
        parts.append(stripped)
        yield start, "".join(parts)
        start, parts = 0, []
    if start:  # the text ended inside a continuation
        yield start, "".join(parts)


def _continues(line: str) -> bool:
    # An odd run of trailing backslashes ends in an unescaped one: the continuation mark.
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    """Split a logical line into its raw (still escaped) key and value."""
    key_end, has_separator = _find_separator(line)
    start = key_end + 1 if key_end < len(line) else key_end
    # Blanks around the separator go; so does one '=' or ':' after a blank separator, which
    # is what makes ``key = value`` mean what it says.
    while start < len(line):
        char = line[start]
        if char in "=:" and not has_separator:
            has_separator = True
        elif char not in _BLANKS:
            break
        start += 1
    return line[:key_end], line[start:]


def _find_separator(line: str) -> tuple[int, bool]:
    """Index of the first unescaped '=', ':' or blank, and whether it is '=' or ':'."""
    escaped = False
    for index, char in enumerate(line):
        if not escaped and (char in "=:" or char in _BLANKS):
            return index, char in "=:"
        escaped = char == "\\" and not escaped
    return len(line), False


def _unescape(raw: str, source: str, line: int) -> str:
    if "\\" not in raw:
        return raw

    def replace(match: re.Match[str]) -> str:
        hex_digits, bad_unicode, char = match.groups()
        if hex_digits is not None:
            return chr(int(hex_digits, 16))
        if bad_unicode is not None:
            where = _where(source, line)
            message = f"{where}: malformed \\uxxxx escape in {raw!r}"
            raise ConfigError(message, source=source, line=line, value=raw)
        # A lone backslash at the very end (char None) cannot survive _logical_lines; drop it.
        return _CONTROL_ESCAPES.get(char, char) if char is not None else ""

    return _join_surrogates(_ESCAPE.sub(replace, raw))


def _join_surrogates(text: str) -> str:
    # \uXXXX escapes are UTF-16 code units: a pair written as two escapes is one character.
    # Lone surrogates stay as they are, as a Java String would keep them.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


# --------------------------------------------------------------------------- writer

_STORE_ESCAPES = {
    "\\": "\\\\",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\f": "\\f",
    "=": "\\=",
    ":": "\\:",
    "#": "\\#",
    "!": "\\!",
}


def format_properties(pairs: Iterable[tuple[str, str]]) -> str:
    """Write ``key=value`` lines escaped as ``Properties.store`` does; parse reads them back."""
    return "".join(f"{_escape(key, True)}={_escape(value, False)}\n" for key, value in pairs)


def _escape(text: str, is_key: bool) -> str:
    # Every space of a key is escaped (it would end the key); in a value only a leading one
    # (it would be skipped as separator space).
    return "".join(
        _escape_char(char, is_key or index == 0) for index, char in enumerate(_utf16(text))
    )


def _escape_char(char: str, escape_space: bool) -> str:
    if char == " ":
        return "\\ " if escape_space else " "
    if char in _STORE_ESCAPES:
        return _STORE_ESCAPES[char]
    if " " < char <= "~":
        return char
    return f"\\u{ord(char):04X}"


def _utf16(text: str) -> Iterator[str]:
    """Characters as UTF-16 code units: \\uXXXX can only write 16 bits."""
    for char in text:
        code = ord(char)
        if code <= 0xFFFF:
            yield char
        else:
            code -= 0x10000
            yield chr(0xD800 + (code >> 10))
            yield chr(0xDC00 + (code & 0x3FF))


# --------------------------------------------------------------------------- conversions

_JAVA_TRIM = "".join(chr(code) for code in range(0x21))  # what String.trim removes
_INT = re.compile(r"[+-]?[0-9]+")
# Double.parseDouble's decimal forms (with its optional f/d suffix) and its two words;
# float() alone would also take "inf", "1_0" and other spellings Java rejects.
_FLOAT = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)"
)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class _BadValue(Exception):
    """Raised by a converter; ``expected`` completes the message "(expected ...)"."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _to_int(text: str) -> int:
    if not _INT.fullmatch(text):
        raise _BadValue("an integer")
    number = int(text)
    if not _LONG_MIN <= number <= _LONG_MAX:
        raise _BadValue("an integer that fits in 64 bits")
    return number


def _to_float(text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise _BadValue("a number")
    return float(text.rstrip("fFdD").replace("Infinity", "inf"))


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise _BadValue("true or false")
    return lowered == "true"


def _to_str(text: str) -> str:
    return text


def _to_enum(enum_type: type[enum.Enum], text: str) -> enum.Enum:
    if text not in enum_type.__members__:
        raise _BadValue("one of " + ", ".join(member.name for member in enum_type))
    return enum_type[text]


_CONVERTERS: dict[object, Callable[[str], object]] = {
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    str: _to_str,
}


def _render(value: object) -> str | None:
    """A field value in Java's ``toString`` form; None for null, which Java leaves out."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):  # before int and str: IntEnum and StrEnum are both
        return value.name
    if isinstance(value, float):
        return _render_float(value)
    return str(value)


def _render_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)  # shortest exact form; Double.parseDouble reads it back


# --------------------------------------------------------------------------- field tables


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    key: str
    aliases: tuple[str, ...]
    convert: Callable[[str], object]


@dataclass(frozen=True, slots=True)
class _Table:
    fields: tuple[_Field, ...]
    by_key: Mapping[str, _Field]  # main keys and aliases
    ignored: frozenset[str]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@functools.cache
def _table(cls: type) -> _Table:
    """The keys and converters of a config class, checked once per class."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = tuple(_field_spec(f, hints[f.name]) for f in dataclasses.fields(cls))
    by_key: dict[str, _Field] = {}
    for spec in fields:
        for key in (spec.key, *spec.aliases):
            if key in by_key:
                raise TypeError(
                    f"{cls.__name__}: key {key} names {by_key[key].name} and {spec.name}"
                )
            by_key[key] = spec
    ignored = frozenset(getattr(cls, "IGNORED_KEYS", frozenset()))
    if ignored & by_key.keys():
        raise TypeError(
            f"{cls.__name__}: IGNORED_KEYS names fields: {sorted(ignored & by_key.keys())}"
        )
    return _Table(fields, by_key, ignored)


def _field_spec(field: dataclasses.Field[Any], hint: object) -> _Field:
    key = field.metadata.get("key") or _camel(field.name)
    aliases = field.metadata.get("aliases", ())
    if isinstance(aliases, str):  # ("x") instead of ("x",) is an easy slip
        aliases = (aliases,)
    return _Field(field.name, key, tuple(aliases), _converter_for(hint, field.name))


def _converter_for(hint: object, name: str) -> Callable[[str], object]:
    inner = _without_none(hint)
    if inner in _CONVERTERS:
        return _CONVERTERS[inner]
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return functools.partial(_to_enum, inner)
    raise TypeError(f"field {name}: unsupported type {hint!r}")


def _without_none(hint: object) -> object:
    """``X | None`` -> X; a value in a file is never null, so the None side needs no parsing."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def known_keys(cls: type) -> list[str]:
    """Every key ``bind`` accepts for ``cls``: main keys, aliases and ignored keys, sorted."""
    table = _table(cls)
    return sorted([*table.by_key, *table.ignored])


# --------------------------------------------------------------------------- binding


def bind(
    cls: type[T], entries: Iterable[PropertyEntry], base: T | None = None
) -> tuple[T, list[str]]:
    """A new ``cls`` (defaults, or a copy of ``base``) with ``entries`` applied, and warnings.

    The last occurrence of a key wins. Raises ConfigError for the first value (in file
    order, among the values that win) that does not convert.
    """
    entries = list(entries)
    return apply_entries(cls, entries, base), check_entries(entries, cls)


def apply_entries(cls: type[T], entries: Iterable[PropertyEntry], base: T | None = None) -> T:
    """``bind`` without the warnings; for files shared by several classes (see check_entries)."""
    table = _table(cls)
    winners: dict[str, PropertyEntry] = {}
    for entry in entries:
        spec = table.by_key.get(entry.key)
        if spec is not None:
            # Re-insert so the dict keeps the order of the winning lines: the first bad
            # value reported is then the first one in the file that matters.
            winners.pop(spec.name, None)
            winners[spec.name] = entry
    values = {name: _convert(table, entry) for name, entry in winners.items()}
    if base is None:
        return cls(**values)
    return dataclasses.replace(base, **values)


def _convert(table: _Table, entry: PropertyEntry) -> object:
    try:
        return table.by_key[entry.key].convert(entry.value.strip(_JAVA_TRIM))
    except _BadValue as bad:
        message = (
            f"{entry.where}: bad value for {entry.key}: {entry.value!r} (expected {bad.expected})"
        )
        raise ConfigError(
            message, source=entry.source, line=entry.line, key=entry.key, value=entry.value
        ) from None


def check_entries(entries: Iterable[PropertyEntry], *classes: type) -> list[str]:
    """Warnings about ``entries`` read for ``classes`` together.

    A broker file feeds four config objects, as in BrokerStartup: check it once against all
    of them, so a key of one is not "unknown" to the others, and apply it to each.
    """
    tables = [_table(cls) for cls in classes]
    ignored = frozenset[str]().union(*(table.ignored for table in tables))
    warnings: list[str] = []
    first_seen: dict[str, PropertyEntry] = {}
    for entry in entries:
        slot = _slot(tables, entry.key)
        if slot is None:
            if entry.key not in ignored:  # known but unused keys draw nothing at all
                warnings.append(_unknown_warning(entry, tables))
            continue
        if slot in first_seen:
            warnings.append(_repeat_warning(entry, first_seen[slot]))
        else:
            first_seen[slot] = entry
        if entry.value != entry.value.rstrip(_JAVA_TRIM):
            # Java 4.9 would keep the blank in a string and drop a number or boolean
            # silently: say so, so the file gets fixed rather than read two ways.
            warnings.append(f"{entry.where}: trailing whitespace after {entry.key} ignored")
    return warnings


def _slot(tables: list[_Table], key: str) -> str | None:
    """The field a key sets, named by its main key so all spellings meet; None if none."""
    for table in tables:
        spec = table.by_key.get(key)
        if spec is not None:
            return spec.key
    return None


def _unknown_warning(entry: PropertyEntry, tables: list[_Table]) -> str:
    known = [key for table in tables for key in (*table.by_key, *table.ignored)]
    suggestion = _closest(entry.key, known)
    hint = f" (did you mean {suggestion}?)" if suggestion else ""
    return f"{entry.where}: unknown key {entry.key}{hint}"


def _closest(key: str, known: Iterable[str]) -> str | None:
    # Compare lower-cased so "listenport" finds "listenPort"; 0.75 keeps long camelCase keys
    # that merely share a word ("storePath...") from being offered as the fix.
    by_lower = {candidate.lower(): candidate for candidate in known}
    matches = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[matches[0]] if matches else None


def _repeat_warning(entry: PropertyEntry, first: PropertyEntry) -> str:
    spelled = f" as {first.key}" if first.key != entry.key else ""
    if first.source != entry.source:
        at = f"at {_where(first.source, first.line)}"
    elif first.line > 0:
        at = f"on line {first.line}"
    else:
        at = "earlier"
    return f"{entry.where}: {entry.key} repeated (first set{spelled} {at}); the last value wins"


# --------------------------------------------------------------------------- entry points


def load_config(
    cls: type[T], path: str | PathLike[str], base: T | None = None
) -> tuple[T, list[str]]:
    """Read a properties file into a new ``cls``: ``load_properties_file`` then ``bind``."""
    return bind(cls, load_properties_file(path), base)


def from_properties_text(
    cls: type[T], text: str, base: T | None = None, source: str = "<string>"
) -> tuple[T, list[str]]:
    """Bind a properties text, e.g. the body of an UPDATE_*_CONFIG request."""
    return bind(cls, parse_properties(text, source), base)


def update_from_mapping(
    instance: DataclassInstance, mapping: Mapping[str, str], source: str = "<update>"
) -> list[str]:
    """Apply ``key -> value`` pairs to a live config object; returns warnings.

    All values are converted before any field changes, so a bad value (ConfigError) leaves
    ``instance`` as it was.
    """
    entries = [PropertyEntry(key, value, 0, source) for key, value in mapping.items()]
    updated, warnings = bind(type(instance), entries, instance)
    for spec in _table(type(instance)).fields:
        setattr(instance, spec.name, getattr(updated, spec.name))
    return warnings


def to_pairs(instance: DataclassInstance) -> list[tuple[str, str]]:
    """``(key, value)`` for every non-None field, in Java's forms, sorted by key."""
    pairs = []
    for spec in _table(type(instance)).fields:
        rendered = _render(getattr(instance, spec.name))
        if rendered is not None:
            pairs.append((spec.key, rendered))
    return sorted(pairs)


def to_properties(instance: DataclassInstance) -> str:
    """The effective config as escaped ``key=value`` lines (``-p``, GET_*_CONFIG bodies)."""
    return format_properties(to_pairs(instance))
