"""SQL92 selector: grammar, parse-time checks and Java's evaluation semantics (4.9.8).

Expected values follow the Java classes (``SelectorParser``, ``ComparisonExpression``,
``LogicExpression``, ``UnaryExpression``) and the cases of its ``ParserTest``/``ExpressionTest``.
``ERROR`` marks a Java runtime exception: the whole evaluation fails and selects nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrmq.common.filter_sql import SqlEvaluationError, SqlParseError, compile_sql

ERROR = "error"


def java_result(text: str, props: Mapping[str, str]) -> bool | str | None:
    expr = compile_sql(text)
    try:
        return expr.evaluate_java(props)
    except SqlEvaluationError:
        return ERROR


# ----------------------------------------------------------------------------------- parsing

VALID = [
    # ParserTest
    "a=3 and b<>4 And c>5 AND d<=4",
    "a=3 or b<>4 Or c>5 OR d<=4",
    "a in ('3', '4', '5')",
    "(a not in ('6', '4', '5')) or (b in ('3', '4', '5'))",
    "(a between 2 and 10) AND (b not between 6 and 9)",
    "a is null",
    "a is not null",
    "a <= now",  # now is just a property name
    # more grammar
    "TAGS = 'TagA'",
    "TRUE",
    "NOT (a = 1)",
    "a > -5 AND b < +5",
    "a >= 1.5 AND b <= .5 AND c > 1E3 AND d > 2.e-1",
    "a = 10L",
    "a = 3000000000",
    "$x_1 = 'y'",
    "a /* comment */ = 1",
    "a = 1 -- comment\n AND b = 2",
    "a between -1 and 1",
    "1 IS NULL",
    "a = b",
    "(a)",
    "a",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_expressions_compile(text: str) -> None:
    assert compile_sql(text).text == text


INVALID = [
    # (text, part of the reason, position)
    ("a and between 2 and 10", "Encountered 'between'", 6),  # ParserTest
    (" a between 10 and 0", "Illegal values of between", 3),
    ("a > 100000000000000000000000", "NumberFormatException", 4),
    ("a > 9223372036854775808", "NumberFormatException", 4),
    ("a > 1" + "0" * 400 + ".5", "is greater than", 4),
    ("a > 0.0", "is less than", 4),  # createFloat refuses < Double.MIN_VALUE
    ("a > 1e-400", "is less than", 4),
    ("a > 'x'", "cannot be compared", 2),
    ("a <= TRUE", "cannot be compared", 2),
    ("(a = 1) > 2", "cannot be compared", 8),
    ("a = NULL", "'NULL' cannot be compared", 2),
    ("NULL <> a", "'NULL' cannot be compared", 5),
    ("TRUE = 1", "'TRUE' cannot be compared with '1'", 5),
    ("a between 1 and NULL", "values can not be null", 2),
    ("a between 'a' and 'b'", "cannot be compared", 2),
    ("5", "will not result in a boolean value", 0),
    ("'x'", "will not result in a boolean value", 0),
    ("-a", "will not result in a boolean value", 0),
    ("a = 1 OR 2", "will not result in a boolean value", 6),
    ("NOT 1", "will not result in a boolean value", 4),
    ("'x' IN ('a')", "Expected a property", 4),
    ("a IN ()", "Encountered ')'", 6),
    ("a IN (1)", "Encountered '1'", 6),
    ("a NOT LIKE 'x'", "BETWEEN or IN after NOT", 6),
    ("a IS x", "was expecting NULL", 5),
    ("a = 1 AND", "Encountered <EOF>", 9),
    ("(a = 1", "was expecting )", 6),
    ("a == 1", "Encountered '='", 3),
    ("a != 1", "Lexical error", 2),
    ("a = 'x", "Lexical error", 4),
    ("a = 1 #", "Lexical error", 6),  # the token after an expression is always looked at
    ("/* open", "Lexical error", 0),
    ("a.b = 1", "Lexical error", 1),
    ("", "Encountered <EOF>", 0),
    ("   ", "Encountered <EOF>", 3),
]


@pytest.mark.parametrize(("text", "reason", "position"), INVALID)
def test_invalid_expressions_fail_with_position(text: str, reason: str, position: int) -> None:
    with pytest.raises(SqlParseError) as info:
        compile_sql(text)
    assert reason in info.value.reason
    assert info.value.position == position
    assert str(info.value).startswith("Invalid MessageSelector. ")
    assert isinstance(info.value, ValueError)


TRAILING = [
    # The generated Java parser never asks for EOF: what cannot continue is ignored.
    ("a = 1 b", "((a == 1))"),
    ("a = 1 )", "((a == 1))"),
    ("a = 07", "((a == 0))"),  # DECIMAL is "0" | [1-9][0-9]*: "07" is two tokens
    ("a = 0L", "((a == 0))"),
    ("a LIKE 'x%'", "(a)"),
    ("a = 1 -- no newline, so two minus signs", "((a == 1))"),
]


@pytest.mark.parametrize(("text", "shown"), TRAILING)
def test_trailing_tokens_are_ignored_as_in_java(text: str, shown: str) -> None:
    assert repr(compile_sql(text)) == f"SqlExpression{shown}"


def test_line_comment_needs_its_newline() -> None:
    # With the newline "--5" is a comment; without it, two negations.
    with pytest.raises(SqlParseError):
        compile_sql("a = --5\n")
    assert compile_sql("a = --5").evaluate({"a": "5"})


def test_keywords_are_case_insensitive_and_names_are_not() -> None:
    expr = compile_sql("a Between 1 aNd 3 oR B iS nOt NuLl")
    assert expr.evaluate({"a": "2"})
    assert expr.evaluate({"B": "x"})
    assert not expr.evaluate({"b": "x"})
    assert not expr.evaluate({"A": "2"})


def test_no_like_contains_or_startswith_in_4_9_8() -> None:
    for text in ("a CONTAINS 'x'", "a STARTSWITH 'x'", "a LIKE 'x'"):
        # "a" alone is a boolean cast, the rest is ignored: never a string match.
        assert not compile_sql(text).evaluate({"a": "x"})


def test_expressions_equal_by_structure_like_java() -> None:
    spaced = compile_sql("a=3  and    b<>4 And c>5 AND d<=4")
    assert compile_sql("a=3 and b<>4 And c>5 AND d<=4") == spaced
    assert hash(compile_sql("a=3 and b<>4 And c>5 AND d<=4")) == hash(spaced)
    assert compile_sql("a=3 or b<>4 Or c>5 OR d<=4") != spaced


def test_deep_nesting_is_a_parse_error_and_long_chains_evaluate() -> None:
    with pytest.raises(SqlParseError, match="nested too deeply"):
        compile_sql("(" * 5000 + "a = 1" + ")" * 5000)
    chain = compile_sql(" AND ".join(f"p{i} = {i}" for i in range(3000)))
    assert chain.evaluate({f"p{i}": str(i) for i in range(3000)})
    assert not chain.evaluate({})


# ----------------------------------------------------------------------------------- evaluation

EVALUATION = [
    # ExpressionTest
    ("a=3 and b<>4 And c>5 AND d<=4", {"a": "3", "b": "5", "c": "6", "d": "4"}, True),
    ("a in ('3', '4', '5')", {"a": "4"}, True),
    ("a in ('3', '4', '5')", {"a": "6"}, False),
    ("a not in ('3', '4', '5')", {"a": "6"}, True),
    ("a not in ('3', '4', '5')", {"a": "3"}, False),
    ("a between 2 and 10", {"a": "2"}, True),
    ("a between 2 and 10", {"a": "10"}, True),
    ("a between 2 and 10", {"a": "11"}, False),
    ("a not between 2 and 10", {"a": "1"}, True),
    ("a not between 2 and 10", {"a": "5"}, False),
    ("a is null", {}, True),
    ("a is null", {"a": "x"}, False),
    ("a is not null", {"a": "x"}, True),
    ("a is not null and a='hello'", {"a": "hello"}, True),
    ("a is not null and a='hello'", {}, False),
    ("a is null OR a='hello'", {}, True),
    ("a is null OR a='hello'", {"a": "abc"}, False),
    ("a=TRUE OR b=FALSE", {"a": "true", "b": "false"}, True),
    ("a=TRUE OR b=FALSE", {"a": "false", "b": "true"}, False),
    ("a=TRUE", {"a": "TrUe"}, True),  # Boolean.valueOf ignores case
    ("TAGS is not null and TAGS='''''tag'''''", {"TAGS": "''tag''"}, True),
    ("a > 3.1E10", {"a": "3.1415E10"}, True),
    ("a > 3.14", {"a": "3.1415"}, True),
    ("a > b", {"a": "10", "b": "20"}, False),
    ("a > b", {"a": "20", "b": "10"}, True),
    ("a=b", {"a": "3.14", "b": "3.14"}, True),
    ("a<>b", {"a": "3.14", "b": "3.141"}, True),
    # NULL: comparisons are UNKNOWN, UNKNOWN selects nothing
    ("a = 1", {}, None),
    ("a <> 1", {}, None),
    ("a > 1", {}, None),
    ("a between 1 and 2", {}, None),
    ("a in ('x')", {}, None),
    ("a not in ('x')", {}, None),
    ("NOT (a = 1)", {}, None),
    ("a = 1 OR b = 1", {"b": "1"}, True),
    ("a = 1 OR b = 1", {"b": "2"}, None),
    ("a = 1 AND b = 1", {"b": "2"}, False),
    ("a = 1 AND b = 1", {"b": "1"}, None),
    ("a = b", {}, True),  # null = null is TRUE in Java's doCreateEqual
    ("a = b", {"b": "1"}, None),
    ("'x' = a", {}, False),  # x = null is FALSE, null = x UNKNOWN
    ("1 IS NULL", {}, False),
    ("NULL", {}, None),
    ("TRUE", {}, True),
    ("FALSE", {}, False),
    # numbers: the literal's type decides the conversion of the property
    ("a = 5", {"a": "5"}, True),
    ("a = 5", {"a": "05"}, True),
    ("a = 5", {"a": "+5"}, True),
    ("a = -5", {"a": "-5"}, True),
    ("a = 5", {"a": "\u0665"}, True),  # Integer.valueOf takes any Unicode digit
    ("a = 5", {"a": "5.0"}, ERROR),  # Integer.valueOf("5.0")
    ("a = 5", {"a": " 5"}, ERROR),
    ("a = 5", {"a": "1_0"}, ERROR),
    ("a > 5", {"a": "3000000000"}, ERROR),  # out of Integer range
    ("a > 5L", {"a": "3000000000"}, ERROR),  # 5L is still an Integer
    ("a > 3000000000", {"a": "3000000001"}, True),  # a Long literal: Long.valueOf
    ("a > 3000000000", {"a": "3000000000.5"}, ERROR),
    ("a = 5.0", {"a": "5"}, True),  # Double.valueOf
    ("a = 5.0", {"a": " 5 "}, True),  # Double.valueOf trims
    ("a = 5.0", {"a": "5d"}, True),
    ("a = 8.0", {"a": "0x1p3"}, True),
    ("a = 5.0", {"a": "\u0665"}, ERROR),  # Double.valueOf: ASCII only
    ("a > 1.5", {"a": "Infinity"}, True),
    ("a > 1.5", {"a": "inf"}, ERROR),
    ("a > 1.5", {"a": "NaN"}, True),  # Double.compare puts NaN above everything
    ("a < 1.5", {"a": "NaN"}, False),
    ("a = 5", {"a": "abc"}, ERROR),
    ("a > b", {"a": "1", "b": "x"}, ERROR),
    ("-a > 1", {"a": "5"}, None),  # a property is a string: negating it gives null
    ("a = - - 5", {"a": "5"}, True),
    # strings
    ("a = 'x'", {"a": "x"}, True),
    ("a = 'x'", {"a": "X"}, False),
    ("a <> 'x'", {"a": "y"}, True),
    ("a = 1", {"a": "x"}, ERROR),
    # booleans
    ("a = TRUE", {"a": "yes"}, False),
    ("TRUE = a", {"a": "true"}, ERROR),  # Java casts the Boolean to String: ClassCastException
    ("a", {"a": "true"}, False),  # a bare property is TRUE only if it holds a Boolean
    ("a", {}, None),
    ("NOT a", {"a": "true"}, True),
    ("NOT a = 1", {"a": "1"}, False),  # (NOT a) = 1
    ("(a = 1) = TRUE", {"a": "1"}, True),
    ("(a = 1) = 1", {"a": "1"}, False),  # Boolean vs Integer compares as -1
    ("(a = 1) = 'true'", {"a": "1"}, ERROR),
    # an exception aborts everything, so operand order matters
    ("b = 1 OR a > 5", {"a": "x", "b": "1"}, True),
    ("a > 5 OR b = 1", {"a": "x", "b": "1"}, ERROR),
    ("NOT (a > 5)", {"a": "x"}, ERROR),
    # IN compares strings only
    ("a IN ('1', '2')", {"a": "1"}, True),
    ("a IN ('1.0')", {"a": "1"}, False),
    ("a NOT IN ('it''s')", {"a": "it's"}, False),
]


@pytest.mark.parametrize(("text", "props", "expected"), EVALUATION)
def test_evaluation_matches_java(
    text: str, props: dict[str, str], expected: bool | str | None
) -> None:
    assert java_result(text, props) == expected
    # What the broker applies: only TRUE selects.
    assert compile_sql(text).evaluate(props) is (expected is True)


def test_real_message_properties() -> None:
    props = {"TAGS": "TagA", "KEYS": "k1 k2", "WAIT": "true", "UNIQ_KEY": "AC1", "a": "7"}
    assert compile_sql("TAGS = 'TagA' AND a BETWEEN 5 AND 10").evaluate(props)
    assert compile_sql("TAGS IN ('TagA', 'TagB') AND WAIT = TRUE").evaluate(props)
    assert not compile_sql("TAGS = 'TagB' OR a > 7").evaluate(props)


# ----------------------------------------------------------------------------------- properties

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
OPERATORS = {
    "=": lambda x, y: x == y,
    "<>": lambda x, y: x != y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
}


def literal(number: int) -> str:
    return f"-{-number}" if number < 0 else str(number)


@given(value=INT32, bound=INT32, op=st.sampled_from(sorted(OPERATORS)))
def test_integer_comparisons_follow_the_numbers(value: int, bound: int, op: str) -> None:
    expr = compile_sql(f"a {op} {literal(bound)}")
    assert expr.evaluate({"a": str(value)}) is OPERATORS[op](value, bound)


@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    low=INT32,
    high=INT32,
)
def test_between_doubles_is_inclusive(value: float, low: int, high: int) -> None:
    low, high = min(low, high), max(low, high)
    low_text, high_text = f"{literal(low)}.5", f"{literal(high)}.5"
    expr = compile_sql(f"a BETWEEN {low_text} AND {high_text}")
    inside = float(low_text) <= value <= float(high_text)
    assert expr.evaluate({"a": repr(value)}) is inside
    assert compile_sql(f"a NOT BETWEEN {low_text} AND {high_text}").evaluate(
        {"a": repr(value)}
    ) is (not inside)


@given(text=st.text())
def test_string_literals_round_trip(text: str) -> None:
    quoted = "'" + text.replace("'", "''") + "'"
    assert compile_sql(f"a = {quoted}").evaluate({"a": text})
    assert not compile_sql(f"a <> {quoted}").evaluate({"a": text})
    assert compile_sql(f"a IN ({quoted}, 'zz')").evaluate({"a": text}) or text == "zz"


@given(
    values=st.lists(st.text(alphabet="abc'", max_size=3), min_size=1, max_size=8),
    probe=st.text(alphabet="abc'", max_size=3),
)
def test_in_is_set_membership(values: list[str], probe: str) -> None:
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    assert compile_sql(f"a IN ({items})").evaluate({"a": probe}) is (probe in values)
    assert compile_sql(f"a NOT IN ({items})").evaluate({"a": probe}) is (probe not in values)


# Random AND/OR/NOT trees over "pN = '1'" atoms against a Kleene-logic reference.
ATOMS = st.integers(min_value=0, max_value=3).map(lambda i: ("atom", i))
TREES = st.recursive(
    ATOMS,
    lambda children: st.one_of(
        st.tuples(st.just("not"), children),
        st.tuples(st.sampled_from(["and", "or"]), children, children),
    ),
    max_leaves=12,
)


def render(tree: tuple[Any, ...]) -> str:
    if tree[0] == "atom":
        return f"p{tree[1]} = '1'"
    if tree[0] == "not":
        return f"NOT ({render(tree[1])})"
    return f"({render(tree[1])}) {tree[0]} ({render(tree[2])})"


def kleene(tree: tuple[Any, ...], props: Mapping[str, str]) -> bool | None:
    if tree[0] == "atom":
        value = props.get(f"p{tree[1]}")
        return None if value is None else value == "1"
    if tree[0] == "not":
        inner = kleene(tree[1], props)
        return None if inner is None else not inner
    left, right = kleene(tree[1], props), kleene(tree[2], props)
    if tree[0] == "and":
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


@given(
    tree=TREES,
    props=st.dictionaries(
        st.sampled_from(["p0", "p1", "p2", "p3"]), st.sampled_from(["1", "2"]), max_size=4
    ),
)
def test_logic_is_three_valued(tree: tuple[Any, ...], props: dict[str, str]) -> None:
    expr = compile_sql(render(tree))
    expected = kleene(tree, props)
    assert expr.evaluate_java(props) is expected
    assert expr.evaluate(props) is (expected is True)


@given(text=st.text(alphabet="ab01'() =<>-+.,eLN*/\n", max_size=30))
def test_any_text_compiles_or_fails_cleanly(text: str) -> None:
    try:
        expr = compile_sql(text)
    except SqlParseError as exc:
        assert 0 <= exc.position <= len(text)
        return
    for props in ({}, {"a": "1", "b": "x"}, {"a": "0", "b": "1"}):
        assert isinstance(expr.evaluate(props), bool)


@given(
    words=st.lists(
        st.sampled_from(["a", "=", "1", "AND", "OR", "NOT", "(", ")", "IS", "NULL", "'x'", ">"]),
        max_size=12,
    )
)
def test_token_soup_compiles_or_fails_cleanly(words: list[str]) -> None:
    try:
        expr = compile_sql(" ".join(words))
    except SqlParseError:
        return
    assert isinstance(expr.evaluate({"a": "1"}), bool)
