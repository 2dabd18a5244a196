"""RocketMQ 4.9.8's SQL92 message selector: parser and evaluator over message properties.

Mirrors the ``filter`` module (``SelectorParser.jj``, ``expression/*``): a subset of JMS
selectors — ``AND``/``OR``/``NOT``, ``=``/``<>``/``>``/``>=``/``<``/``<=``, ``BETWEEN``/
``NOT BETWEEN``, ``IN``/``NOT IN`` (string lists), ``IS [NOT] NULL``, unary ``+``/``-``,
string (``'it''s'``), integer (``10``, ``10L``), decimal (``1.5``, ``.5``, ``1E3``) and
``TRUE``/``FALSE``/``NULL`` literals, ``--`` and ``/* */`` comments. 4.9.8 has no ``LIKE``,
``CONTAINS`` or ``STARTSWITH`` (5.x added them), no arithmetic and no ``!=``. Identifiers are
property names (``[A-Za-z_$][A-Za-z0-9_$]*``, case-sensitive; ``TAGS``, ``KEYS`` ... are ordinary
properties); keywords are case-insensitive. Sans-IO and pure. protocol.md §4.8.

Java semantics reproduced on purpose, because a broker must select the same messages:

* three-valued logic: a missing property is NULL, comparisons with NULL are UNKNOWN, and
  only TRUE selects a message (``a = b`` with both missing is TRUE, as in Java);
* a property is always a string; comparing it with a number converts it with
  ``Integer``/``Long``/``Double.valueOf`` depending on the literal's type (``5`` is an Integer,
  ``3000000000`` a Long, ``5.0`` a Double); ``a > b`` between two properties compares them as
  doubles; ``a = TRUE`` uses ``Boolean.valueOf``;
* a failed conversion is a Java exception: it aborts the *whole* evaluation and the message
  is not selected (``b = 1 OR a > 5`` is TRUE when b is '1', but ``a > 5 OR b = 1`` with a
  'x' selects nothing) — ``evaluate`` returns False, ``evaluate_java`` raises
  ``SqlEvaluationError``;
* ``NOT`` binds tighter than comparisons: ``NOT a = 1`` is ``(NOT a) = 1`` (always FALSE or
  UNKNOWN); write ``NOT (a = 1)``;
* parsing stops after the first complete expression: trailing tokens that cannot continue
  it are ignored (``a = 1 b`` is ``a = 1``), as the generated Java parser never asks for EOF;
* literal checks made at parse time: no string/boolean operand for ``<``/``>``..., no NULL
  operand for ``=``/``<>``, ``BETWEEN`` bounds in order, float literals must be finite and
  at least ``Double.MIN_VALUE`` (so ``0.0`` is rejected, as in Java), integers fit a long.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "SqlEvaluationError",
    "SqlExpression",
    "SqlParseError",
    "compile_sql",
]


class SqlParseError(ValueError):
    """The expression does not compile; ``position`` is the character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"Invalid MessageSelector. {message} (at position {position})")
        self.reason = message
        self.position = position


class SqlEvaluationError(ValueError):
    """A Java runtime exception during evaluation (a property that is not a number, ...)."""


# ----------------------------------------------------------------------------------- values
# Java's boxed types as Python values: None (null), bool (Boolean), str (String), int
# (Integer), _Long (Long), float (Double). Only literals and their negations are numbers:
# properties are always strings.


class _Long(int):
    """A Java ``Long``: an int that converts strings with ``Long.valueOf``, not ``Integer``'s."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{int(self)}L"


Value: TypeAlias = "bool | int | float | str | None"

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
#: Double.MIN_VALUE: createFloat refuses smaller literals (0.0 included).
_DOUBLE_MIN_VALUE: Final = 5e-324

_JAVA_INTEGER = re.compile(r"[+-]?\d+")
# FloatingDecimal.readJavaFormatString after trim(): ASCII digits, optional type suffix.
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?)", re.ASCII
)
_JAVA_HEX_DOUBLE = re.compile(
    r"([+-]?)(0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?\d+)[fFdD]?", re.ASCII
)


def _eval_error(message: str) -> SqlEvaluationError:
    return SqlEvaluationError(message)


def _parse_java_integer(text: str, low: int, high: int, what: str) -> int:
    """``Integer.valueOf`` / ``Long.valueOf``: sign and (Unicode) digits, no spaces, in range."""
    if _JAVA_INTEGER.fullmatch(text) is None:
        raise _eval_error(f'NumberFormatException: For input string: "{text}" ({what})')
    value = int(text)
    if not low <= value <= high:
        raise _eval_error(f'NumberFormatException: For input string: "{text}" ({what} range)')
    return value


def _java_trim(text: str) -> str:
    # String.trim() removes every char <= U+0020 at both ends, not Unicode whitespace.
    return text.strip("".join(map(chr, range(0x21))))


def _parse_java_double(text: str) -> float:
    """``Double.valueOf``: Java's literal syntax only (no ``inf``, no ``1_0``, no Unicode)."""
    trimmed = _java_trim(text)
    if _JAVA_DOUBLE.fullmatch(trimmed) is not None:
        body = trimmed.rstrip("fFdD") if trimmed[-1:] in "fFdD" else trimmed
        return float(body)
    hexa = _JAVA_HEX_DOUBLE.fullmatch(trimmed)
    if hexa is not None:
        try:
            value = float.fromhex(hexa.group(2))
        except OverflowError:  # Java rounds an overflowing hex literal to Infinity
            value = math.inf
        return -value if hexa.group(1) == "-" else value
    raise _eval_error(f'NumberFormatException: For input string: "{text}"')


def _cmp_ints(left: int, right: int) -> int:
    return (left > right) - (left < right)


def _cmp_doubles(left: float, right: float) -> int:
    """``Double.compare``: NaN is above everything (and equals NaN), -0.0 is below 0.0."""
    if left < right:
        return -1
    if left > right:
        return 1
    left_nan, right_nan = math.isnan(left), math.isnan(right)
    if left_nan or right_nan:
        return int(left_nan) - int(right_nan)
    return int(math.copysign(1.0, left) > 0) - int(math.copysign(1.0, right) > 0)


def _cmp_strings(left: str, right: str) -> int:
    """``String.compareTo``: UTF-16 code unit order (differs from code points above U+FFFF)."""
    if left == right:
        return 0
    return -1 if left.encode("utf-16-be") < right.encode("utf-16-be") else 1


def _kind(value: bool | int | float | str) -> str:
    # bool before int: bool is an int subclass; _Long before int for the same reason.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _Long):
        return "long"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    return "str"


def _cmp_same(kind: str, left: bool | int | float | str, right: bool | int | float | str) -> int:
    if kind == "double":
        return _cmp_doubles(float(left), float(right))
    if kind == "str":
        return _cmp_strings(str(left), str(right))
    return _cmp_ints(int(left), int(right))  # bool, int, long


def _compare(left: bool | int | float | str, right: bool | int | float | str) -> int:
    """``ComparisonExpression.__compare`` with string conversion on (as the broker parses).

    Mixed types are promoted as Java does; a string meets a number through ``X.valueOf`` of
    the *number's* type (a NumberFormatException aborts the evaluation); a Boolean on the left
    of a string is a ClassCastException in Java (it casts the wrong operand); any other mix
    compares as -1.
    """
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind == right_kind:
        return _cmp_same(left_kind, left, right)
    if left_kind == "bool":
        if right_kind == "str":
            raise _eval_error("ClassCastException: Boolean cannot be cast to String")
        return -1
    if left_kind == "str":
        return _compare_string_left(str(left), right, right_kind)
    if right_kind == "str":
        right = _convert_string(str(right), left_kind)
        return _cmp_same(left_kind, left, right)
    if right_kind == "bool":
        return -1
    if "double" in (left_kind, right_kind):
        return _cmp_doubles(float(left), float(right))
    return _cmp_ints(int(left), int(right))  # Integer vs Long


def _compare_string_left(left: str, right: bool | int | float | str, right_kind: str) -> int:
    if right_kind == "bool":
        return _cmp_ints(left.lower() == "true", bool(right))  # Boolean.valueOf
    return _cmp_same(right_kind, _convert_string(left, right_kind), right)


def _convert_string(text: str, kind: str) -> int | float:
    if kind == "int":
        return _parse_java_integer(text, _INT_MIN, _INT_MAX, "Integer")
    if kind == "long":
        return _parse_java_integer(text, _LONG_MIN, _LONG_MAX, "Long")
    return _parse_java_double(text)


def _java_text(value: Value) -> str:
    """How Java's ``toString`` of an expression shows a constant (for error messages)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


# ----------------------------------------------------------------------------------- nodes
# One class per Java expression class. ``ev`` returns the Java value (None = null/UNKNOWN)
# and raises SqlEvaluationError where Java throws.

Props: TypeAlias = Mapping[str, str]


class _Node:
    __slots__ = ()
    #: Java's ``BooleanExpression`` marker: what AND/OR/NOT accept without a cast.
    is_boolean = False

    def ev(self, props: Props) -> Value:
        raise NotImplementedError


class _Constant(_Node):
    __slots__ = ("value",)

    def __init__(self, value: Value) -> None:
        self.value = value

    def ev(self, props: Props) -> Value:
        return self.value

    def __repr__(self) -> str:
        return _java_text(self.value)


class _BoolConstant(_Constant):
    """``BooleanConstantExpression``: TRUE, FALSE and NULL literals."""

    __slots__ = ()
    is_boolean = True


class _Property(_Node):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def ev(self, props: Props) -> Value:
        return props.get(self.name)

    def __repr__(self) -> str:
        return self.name


class _Negate(_Node):
    __slots__ = ("operand",)

    def __init__(self, operand: _Node) -> None:
        self.operand = operand

    def ev(self, props: Props) -> Value:
        value = self.operand.ev(props)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None  # Java negates Numbers only; a string property gives null
        if isinstance(value, _Long):
            return _Long(-value)
        return -value

    def __repr__(self) -> str:
        return f"(- {self.operand!r})"


class _BooleanCast(_Node):
    """A bare property used as a condition: TRUE only if it holds a Boolean (never, in
    practice: properties are strings), UNKNOWN if missing."""

    __slots__ = ("operand",)
    is_boolean = True

    def __init__(self, operand: _Node) -> None:
        self.operand = operand

    def ev(self, props: Props) -> Value:
        value = self.operand.ev(props)
        if value is None:
            return None
        return value if isinstance(value, bool) else False

    def __repr__(self) -> str:
        return repr(self.operand)


class _Not(_Node):
    __slots__ = ("operand",)
    is_boolean = True

    def __init__(self, operand: _Node) -> None:
        self.operand = operand

    def ev(self, props: Props) -> Value:
        value = self.operand.ev(props)
        return None if value is None else not value

    def __repr__(self) -> str:
        return f"(NOT {self.operand!r})"


class _Binary(_Node):
    __slots__ = ("left", "right")
    symbol = "?"

    def __init__(self, left: _Node, right: _Node) -> None:
        self.left = left
        self.right = right

    def __repr__(self) -> str:
        return f"({self.left!r} {self.symbol} {self.right!r})"


class _Logic(_Node):
    """A chain of ANDs or ORs, flattened: ``(a AND b) AND c`` evaluates a, b, c in that order
    and stops where Java's nested evaluation stops, but without one stack frame per link."""

    __slots__ = ("operands",)
    is_boolean = True
    symbol = "?"
    #: The value that decides the chain at once: FALSE for AND, TRUE for OR.
    decisive = False

    def __init__(self, operands: tuple[_Node, ...]) -> None:
        self.operands = operands

    @classmethod
    def of(cls, left: _Node, right: _Node) -> _Logic:
        if type(left) is cls:
            return cls((*left.operands, right))
        return cls((left, right))

    def ev(self, props: Props) -> Value:
        decisive = self.decisive
        unknown = False
        for operand in self.operands:
            value = operand.ev(props)
            if value is decisive:
                return decisive
            unknown = unknown or value is None
        return None if unknown else not decisive

    def __repr__(self) -> str:
        # Java's toString of the nested form: ((a && b) && c).
        text = repr(self.operands[0])
        for operand in self.operands[1:]:
            text = f"({text} {self.symbol} {operand!r})"
        return text


class _And(_Logic):
    __slots__ = ()
    symbol = "&&"
    decisive = False


class _Or(_Logic):
    __slots__ = ()
    symbol = "||"
    decisive = True


class _Equal(_Binary):
    """``doCreateEqual``: both sides are evaluated; null = null is TRUE, null = x UNKNOWN,
    x = null FALSE; otherwise equal after Java's type promotion."""

    __slots__ = ()
    is_boolean = True
    symbol = "=="

    def ev(self, props: Props) -> Value:
        left = self.left.ev(props)
        right = self.right.ev(props)
        if left is None or right is None:
            if left is None and right is None:
                return True
            return None if left is None else False
        return _compare(left, right) == 0


class _Relational(_Binary):
    """``>``, ``>=``, ``<``, ``<=``: UNKNOWN with a null side; two strings compare as doubles."""

    __slots__ = ("accept", "op")
    is_boolean = True

    #: Which results of the three-way comparison each operator accepts.
    _ACCEPT: Final = {">": (1,), ">=": (0, 1), "<": (-1,), "<=": (-1, 0)}

    def __init__(self, op: str, left: _Node, right: _Node) -> None:
        super().__init__(left, right)
        self.op = op
        self.accept = self._ACCEPT[op]

    def __repr__(self) -> str:
        return f"({self.left!r} {self.op} {self.right!r})"

    def ev(self, props: Props) -> Value:
        left = self.left.ev(props)
        if left is None:
            return None
        right = self.right.ev(props)
        if right is None:
            return None
        if isinstance(left, str) and isinstance(right, str):
            try:
                answer = _cmp_doubles(_parse_java_double(left), _parse_java_double(right))
            except SqlEvaluationError as exc:
                raise _eval_error(
                    f"It's illegal to compare string by '>=', '>', '<', '<='. lv={left}, rv={right}"
                ) from exc
        else:
            answer = _compare(left, right)
        return answer in self.accept


class _In(_Node):
    __slots__ = ("negated", "operand", "values")
    is_boolean = True

    def __init__(self, operand: _Property, values: list[str], negated: bool) -> None:
        self.operand = operand
        self.values = frozenset(values)
        self.negated = negated

    def ev(self, props: Props) -> Value:
        value = self.operand.ev(props)
        if not isinstance(value, str):
            return None
        return (value in self.values) != self.negated

    def __repr__(self) -> str:
        word = "NOT IN" if self.negated else "IN"
        items = ", ".join(sorted(self.values))
        return f"{self.operand!r} {word} ( {items} )"


# ----------------------------------------------------------------------------------- lexer

_KEYWORDS: Final = frozenset({"NOT", "AND", "OR", "BETWEEN", "IN", "TRUE", "FALSE", "NULL", "IS"})
_OPERATORS: Final = ("<>", "<=", ">=", "<", ">", "=", "(", ")", ",", "+", "-")
_WHITESPACE: Final = " \t\n\r\f"
_ID = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_DECIMAL = re.compile(r"0|[1-9][0-9]*[lL]?")
_FLOAT = re.compile(
    r"[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+"
)
_STRING = re.compile(r"'(?:''|[^'])*'")
_LINE_COMMENT = re.compile(r"--[^\n\r]*(?:\r\n|\n|\r)")
_BLOCK_COMMENT = re.compile(r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/")

# Token kinds: keywords by name, operators by text, and these.
_EOF: Final = "<EOF>"
_NUMBER: Final = "<DECIMAL>"
_FLOAT_KIND: Final = "<FLOAT>"
_STRING_KIND: Final = "<STRING>"
_ID_KIND: Final = "<ID>"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    pos: int


def _skip_ignored(text: str, pos: int) -> int:
    """Past whitespace and comments. A ``--`` comment needs its end of line: without one it
    is two minus signs (JavaCC's longest match), an unterminated ``/*`` is a lexical error."""
    while pos < len(text):
        if text[pos] in _WHITESPACE:
            pos += 1
            continue
        comment = _LINE_COMMENT.match(text, pos) or _BLOCK_COMMENT.match(text, pos)
        if comment is None:
            break
        pos = comment.end()
    return pos


def _number_token(text: str, pos: int) -> _Token | None:
    decimal = _DECIMAL.match(text, pos)
    floating = _FLOAT.match(text, pos)
    decimal_end = decimal.end() if decimal else pos
    float_end = floating.end() if floating else pos
    if float_end > decimal_end:  # longest match; a tie goes to DECIMAL, declared first
        return _Token(_FLOAT_KIND, text[pos:float_end], pos)
    if decimal_end > pos:
        return _Token(_NUMBER, text[pos:decimal_end], pos)
    return None


def _next_token(text: str, pos: int) -> _Token:
    if pos >= len(text):
        return _Token(_EOF, "", pos)
    char = text[pos]
    if char.isascii() and (char.isdigit() or char == "."):
        token = _number_token(text, pos)
        if token is not None:
            return token
    elif char == "'":
        string = _STRING.match(text, pos)
        if string is not None:
            return _Token(_STRING_KIND, string.group(), pos)
    else:
        ident = _ID.match(text, pos)
        if ident is not None:
            word = ident.group()
            upper = word.upper()
            return _Token(upper if upper in _KEYWORDS else _ID_KIND, word, pos)
        for operator in _OPERATORS:
            if text.startswith(operator, pos):
                return _Token(operator, operator, pos)
    raise SqlParseError(f"Lexical error: unexpected {char!r}", pos)


def _tokens(text: str) -> Iterator[_Token]:
    """Tokens on demand: like JavaCC, text after what the parser looks at is never lexed."""
    pos = 0
    while True:
        pos = _skip_ignored(text, pos)
        token = _next_token(text, pos)
        yield token
        if token.kind == _EOF:
            return
        pos += len(token.text)


# ----------------------------------------------------------------------------------- parser


def _unquote(image: str) -> str:
    return image[1:-1].replace("''", "'")


def _decimal_constant(token: _Token) -> _Constant:
    """``createFromDecimal``: an Integer if it fits, else a Long; beyond a long is an error."""
    digits = token.text.rstrip("lL")
    value = int(digits)
    if value > _LONG_MAX:
        raise SqlParseError(f'NumberFormatException: For input string: "{digits}"', token.pos)
    return _Constant(value if value <= _INT_MAX else _Long(value))


def _float_constant(token: _Token) -> _Constant:
    """``createFloat``: finite and at least Double.MIN_VALUE (so ``0.0`` is refused)."""
    value = float(token.text)
    if math.isinf(value):
        raise SqlParseError(f"{token.text} is greater than {1.7976931348623157e308}", token.pos)
    if value < _DOUBLE_MIN_VALUE:
        raise SqlParseError(f"{token.text} is less than {_DOUBLE_MIN_VALUE}", token.pos)
    return _Constant(value)


def _check_ordered_operand(node: _Node, pos: int) -> None:
    """``checkLessThanOperand``: only numbers, properties and negations can be ordered."""
    if isinstance(node, _Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SqlParseError(f"Value '{node!r}' cannot be compared.", pos)
    elif node.is_boolean:
        raise SqlParseError(f"Value '{node!r}' cannot be compared.", pos)


def _check_equal_operands(left: _Node, right: _Node, pos: int) -> None:
    """``checkEqualOperand`` (no NULL literal) and ``checkEqualOperandCompatability``."""
    for node in (left, right):
        if isinstance(node, _Constant) and node.value is None:
            raise SqlParseError(f"'{node!r}' cannot be compared.", pos)
    if (
        isinstance(left, _Constant)
        and isinstance(right, _Constant)
        and left.is_boolean
        and not right.is_boolean
    ):
        raise SqlParseError(f"'{left!r}' cannot be compared with '{right!r}'", pos)


class _Parser:
    """Recursive descent over ``SelectorParser.jj``'s productions, one method each."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._ahead: list[_Token] = []

    # -- token stream

    def _peek(self, index: int = 0) -> _Token:
        while len(self._ahead) <= index:
            self._ahead.append(next(self._tokens))
        return self._ahead[index]

    def _take(self) -> _Token:
        token = self._peek()
        self._ahead.pop(0)
        return token

    def _expect(self, kind: str) -> _Token:
        token = self._peek()
        if token.kind != kind:
            raise self._unexpected(token, kind)
        return self._take()

    @staticmethod
    def _unexpected(token: _Token, expected: str) -> SqlParseError:
        shown = "<EOF>" if token.kind == _EOF else repr(token.text)
        return SqlParseError(f"Encountered {shown}; was expecting {expected}", token.pos)

    @staticmethod
    def _as_boolean(node: _Node, pos: int) -> _Node:
        """``asBooleanExpression``: conditions as they are, a bare property cast."""
        if node.is_boolean:
            return node
        if isinstance(node, _Property):
            return _BooleanCast(node)
        raise SqlParseError(f"Expression will not result in a boolean value: {node!r}", pos)

    # -- productions

    def selector(self) -> _Node:
        start = self._peek().pos
        # No EOF check, as in Java: whatever follows a complete expression is ignored.
        return self._as_boolean(self._or(), start)

    def _or(self) -> _Node:
        start = self._peek().pos
        left = self._and()
        while self._peek().kind == "OR":
            operator = self._take()
            right = self._and()
            left = _Or.of(self._as_boolean(left, start), self._as_boolean(right, operator.pos))
        return left

    def _and(self) -> _Node:
        start = self._peek().pos
        left = self._equality()
        while self._peek().kind == "AND":
            operator = self._take()
            right = self._equality()
            left = _And.of(self._as_boolean(left, start), self._as_boolean(right, operator.pos))
        return left

    def _equality(self) -> _Node:
        left = self._comparison()
        while True:
            token = self._peek()
            if token.kind in ("=", "<>"):
                self._take()
                right = self._comparison()
                _check_equal_operands(left, right, token.pos)
                equal = _Equal(left, right)
                left = equal if token.kind == "=" else _Not(equal)
            elif token.kind == "IS":
                self._take()
                negated = self._peek().kind == "NOT"
                if negated:
                    self._take()
                self._expect("NULL")
                is_null = _Equal(left, _BoolConstant(None))
                left = _Not(is_null) if negated else is_null
            else:
                return left

    def _comparison(self) -> _Node:
        left = self._unary()
        while True:
            token = self._peek()
            if token.kind in ("<", "<=", ">", ">="):
                self._take()
                left = self._ordered(token.kind, left, self._unary(), token.pos)
            elif token.kind == "BETWEEN":
                self._take()
                left = self._between(left, token.pos, negated=False)
            elif token.kind == "IN":
                self._take()
                left = self._in(left, token.pos, negated=False)
            elif token.kind == "NOT":
                # Java enters the loop on NOT, so anything but NOT BETWEEN / NOT IN fails.
                self._take()
                follower = self._take()
                if follower.kind == "BETWEEN":
                    left = self._between(left, token.pos, negated=True)
                elif follower.kind == "IN":
                    left = self._in(left, token.pos, negated=True)
                else:
                    raise self._unexpected(follower, "BETWEEN or IN after NOT")
            else:
                return left

    @staticmethod
    def _ordered(symbol: str, left: _Node, right: _Node, pos: int) -> _Node:
        _check_ordered_operand(left, pos)
        _check_ordered_operand(right, pos)
        return _Relational(symbol, left, right)

    def _between(self, value: _Node, pos: int, *, negated: bool) -> _Node:
        low = self._unary()
        self._expect("AND")
        high = self._unary()
        if negated:
            return _Or((self._ordered("<", value, low, pos), self._ordered(">", value, high, pos)))
        if isinstance(low, _Constant) and isinstance(high, _Constant):
            _check_between_bounds(low, high, pos)
        return _And((self._ordered(">=", value, low, pos), self._ordered("<=", value, high, pos)))

    def _in(self, operand: _Node, pos: int, *, negated: bool) -> _Node:
        self._expect("(")
        values = [_unquote(self._expect(_STRING_KIND).text)]
        while self._peek().kind == ",":
            self._take()
            values.append(_unquote(self._expect(_STRING_KIND).text))
        self._expect(")")
        if not isinstance(operand, _Property):
            raise SqlParseError(f"Expected a property for In expression, got: {operand!r}", pos)
        return _In(operand, values, negated)

    def _unary(self) -> _Node:
        token = self._peek()
        if token.kind == "+":
            self._take()
            return self._unary()
        if token.kind == "-":
            self._take()
            return _Negate(self._unary())
        if token.kind == "NOT":
            self._take()
            operand_pos = self._peek().pos
            return _Not(self._as_boolean(self._unary(), operand_pos))
        return self._primary()

    def _primary(self) -> _Node:
        token = self._take()
        kind = token.kind
        if kind == _STRING_KIND:
            return _Constant(_unquote(token.text))
        if kind == _NUMBER:
            return _decimal_constant(token)
        if kind == _FLOAT_KIND:
            return _float_constant(token)
        if kind in ("TRUE", "FALSE", "NULL"):
            return _BoolConstant({"TRUE": True, "FALSE": False, "NULL": None}[kind])
        if kind == _ID_KIND:
            return _Property(token.text)
        if kind == "(":
            inner = self._or()
            self._expect(")")
            return inner
        raise self._unexpected(token, "a literal, a property or '('")


def _check_between_bounds(low: _Constant, high: _Constant, pos: int) -> None:
    """``createBetween`` with two literals: neither NULL, and low <= high."""
    if low.value is None or high.value is None:
        raise SqlParseError("Illegal values of between, values can not be null!", pos)
    try:
        ordered = _compare(high.value, low.value) >= 0
    except SqlEvaluationError as exc:
        raise SqlParseError(str(exc), pos) from None
    if not ordered:
        raise SqlParseError(
            f"Illegal values of between, left value({low!r}) must less than or equal to "
            f"right value({high!r})",
            pos,
        )


# ----------------------------------------------------------------------------------- API


class SqlExpression:
    """A compiled selector. ``evaluate`` is what the broker applies to each message."""

    __slots__ = ("_root", "text")

    def __init__(self, text: str, root: _Node) -> None:
        self.text = text
        self._root = root

    def evaluate(self, properties: Mapping[str, str]) -> bool:
        """True only if the selector is TRUE for these properties (UNKNOWN and Java
        exceptions select nothing, as ``ExpressionMessageFilter.isMatchedByCommitLog``)."""
        try:
            return self._root.ev(properties) is True
        except SqlEvaluationError:
            return False

    def evaluate_java(self, properties: Mapping[str, str]) -> bool | None:
        """The three-valued result (None = UNKNOWN); raises ``SqlEvaluationError`` where
        Java's evaluation throws."""
        result = self._root.ev(properties)
        return result if isinstance(result, bool) else None

    def __repr__(self) -> str:
        return f"SqlExpression({self._root!r})"

    def __eq__(self, other: object) -> bool:
        # Java compares expressions by their toString: same structure, same literals.
        return isinstance(other, SqlExpression) and repr(self._root) == repr(other._root)

    def __hash__(self) -> int:
        return hash(repr(self._root))


def compile_sql(text: str) -> SqlExpression:
    """Parse a SQL92 selector; ``SqlParseError`` (a ValueError) says what and where."""
    try:
        root = _Parser(text).selector()
    except RecursionError:
        # Java's StackOverflowError is caught the same way (as a parse failure).
        raise SqlParseError("expression nested too deeply", 0) from None
    return SqlExpression(text, root)
