"""One filter language for runs (the tree and its evaluation; reading the text is
:func:`runner.core.filter_parse.parse_filter`), shared by the studio, ``runner runs --filter`` and
``Experiment.get_runs(filter=...)``.

Grammar (EBNF). Keywords, plain fields and namespaces are case-insensitive; the name after
a namespace is not::

    filter     = or_expr ;
    or_expr    = and_expr , { "or" , and_expr } ;
    and_expr   = not_expr , { "and" , not_expr } ;
    not_expr   = "not" , not_expr | "(" , or_expr , ")" | predicate ;
    predicate  = field , [ ( "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" ) , literal
                         | ( "~" | "like" ) , string
                         | [ "not" ] , "in" , "(" , literal , { "," , literal } , ")"
                         | "exists" ] ;
    field      = "status" | "name" | "display_name" | "id" | "experiment" | "type"
               | "created" | "started" | "ended" | "duration" | "user" | "target" | "parent"
               | namespace , "." , ( name | "`" , { char } , "`" ) ;
    namespace  = "metrics" | "params" | "tags" | "properties" | "props" ;
    name       = ( letter | "_" ) , { letter | digit | "_" | "-" | "/" } ;
    literal    = number | string | "true" | "false" | "null" ;
    number     = [ "-" ] , ( digits , [ "." , [ digits ] ] | "." , digits ) ,
                 [ ( "e" | "E" ) , [ "+" | "-" ] , digits ] ;
    string     = "'" , { char } , "'" | '"' , { char } , '"' ;
    (* in strings and `names`, a backslash escapes \\ ' " ` n r t or uXXXX *)

So ``or`` binds loosest, then ``and``, then ``not``, then a comparison. A bare field (as in
``not tags.reviewed``) means ``field exists``; ``display_name`` is ``name``, ``props.`` is
``properties.``; a name with spaces or dots is quoted: ``metrics.`val loss```.

:meth:`Filter.matches` reads a plain mapping view of a run: the plain fields as keys
(``created``/``started``/``ended`` in epoch seconds, ``duration`` in seconds or None), and
``metrics``, ``params``, ``tags``, ``properties`` as dicts; a metric's value is the *last*
scalar it logged. The rules:

* Missing. An absent or None value is unknown, and every comparison with it is false:
  ``=``, ``!=``, orderings, ``in``, ``not in``, ``~``, ``like``. So ``params.opt != 'adam'``
  keeps only runs that have ``opt``, while ``not params.opt = 'adam'`` (plain negation)
  keeps runs without it too. ``field exists`` tests presence; ``field = null`` means it is
  missing, ``field != null`` that it exists, and ``null`` in an ``in`` list matches missing.
* Numbers. An unquoted number compares numerically with numbers and with text that parses
  as one (params and tags are text: ``params.alpha >= 0.5`` holds for "0.75"). A quoted
  string compares as text with text, numerically with a number if it parses as one. Values
  that cannot be reconciled are unequal: ``=`` and orderings are false, ``!=`` true.
* ``true``/``false`` match booleans, "true"/"false" in any case, and 1/0; they and ``null``
  take only ``=``, ``!=``, ``in`` and ``not in``.
* Text. ``status`` compares ignoring case, other text exactly. ``~`` is "contains" and
  ``like`` a whole-value pattern (``%`` any run, ``_`` one character, a backslash makes the
  next one literal: write ``"50\\\\%"``); both ignore case.
* Times. A string compared with ``created``, ``started`` or ``ended`` is an ISO 8601 date
  or date-time, UTC unless it has an offset ("2026-01-01" is that midnight UTC); a number
  is epoch seconds. ``~`` and ``like`` do not apply to times.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Callable, Union

from .errors import UsageError

__all__ = ["FIELDS", "NAMESPACES", "And", "Compare", "Exists", "Field", "Filter",
           "FilterError", "In", "Not", "Or", "Value"]

#: A literal: a number, a string, ``true``/``false`` or ``null``.
Value = Union[int, float, str, bool, None]
Predicate = Callable[[Mapping[str, Any]], bool]

#: The plain fields by canonical name (``display_name`` is read as ``name``).
FIELDS = ("status", "name", "id", "experiment", "type", "created", "started", "ended",
          "duration", "user", "target", "parent")
#: The namespaces of named values (``props`` is read as ``properties``).
NAMESPACES = ("metrics", "params", "tags", "properties")

_ALIASES = {"display_name": "name", "props": "properties"}
_TIMES = frozenset({"created", "started", "ended"})
_KEYWORDS = frozenset({"and", "or", "not", "in", "exists", "like", "true", "false", "null"})
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge}
_NAME = re.compile(r"[A-Za-z_][\w/-]*", re.ASCII)
class FilterError(UsageError, ValueError):
    """Raised for a filter that does not parse or names an unknown field.

    The message names the 1-based column, the offending token and what was expected, then
    shows the filter with a caret under the spot. ``column``, ``token`` (None at the end)
    and ``expected`` are attributes too.
    """


def _error(text: str, pos: int, what: str, expected: str, token: str | None) -> FilterError:
    shown = "".join(" " if ch.isspace() else ch for ch in text)
    message = f"filter: {what} at column {pos + 1}; expected {expected}\n  {shown}\n  {' ' * pos}^"
    return FilterError(message, column=pos + 1, token=token, expected=expected)


def _quote(text: str, mark: str = '"') -> str:
    def escape(ch: str) -> str:
        if ch in ("\\", mark):
            return "\\" + ch
        if ch in "\n\r\t":
            return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch]
        return f"\\u{ord(ch):04x}" if ord(ch) < 32 or ch == "\x7f" else ch
    return mark + "".join(escape(ch) for ch in text) + mark


def _text_of(value: Value) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return _quote(value) if isinstance(value, str) else repr(value)


# ------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Field:
    """A field a filter reads: ``Field(None, "status")`` or ``Field("metrics", "mse")``."""

    namespace: str | None
    name: str

    def __str__(self) -> str:
        if self.namespace is None:
            return self.name
        name = self.name if _NAME.fullmatch(self.name) else _quote(self.name, "`")
        return f"{self.namespace}.{name}"


class Filter:
    """A parsed filter: an immutable tree whose ``str()`` is its canonical text.

    Filters are equal when their canonical texts are (``1``, ``1.0`` and ``true`` differ),
    and ``parse_filter(str(f)) == f`` for every ``f`` that :func:`parse_filter` returns.
    """

    def matches(self, view: Mapping[str, Any]) -> bool:
        """Whether a run's view satisfies the filter, by the rules of the module docstring.

        Args:
            view: the run as a plain mapping, keyed as the module docstring describes.
        """
        return self._predicate(view)

    def fields(self) -> tuple[Field, ...]:
        """The fields the filter reads, each once, in the order they first appear."""
        found: dict[Field, None] = {}

        def visit(part: Any) -> None:
            if isinstance(part, Field):
                found[part] = None
            elif isinstance(part, (tuple, Filter)):
                for item in part if isinstance(part, tuple) else vars(part).values():
                    visit(item)
        visit(self)
        return tuple(found)

    @cached_property
    def _predicate(self) -> Predicate:
        return self._compile()

    def _compile(self) -> Predicate:
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if key != "_predicate"}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Filter):
            return NotImplemented
        return type(self) is type(other) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, str(self)))


@dataclass(frozen=True, eq=False)
class _Junction(Filter):
    operands: tuple[Filter, ...]
    word = ""

    def __str__(self) -> str:
        def show(node: Filter) -> str:
            nested = isinstance(self, Or) and isinstance(node, And)
            bare = nested or not isinstance(node, _Junction)
            return str(node) if bare else f"({node})"
        return f" {self.word} ".join(show(node) for node in self.operands)

    def _compile(self) -> Predicate:
        tests, want = tuple(node._predicate for node in self.operands), isinstance(self, Or)

        def match(view: Mapping[str, Any]) -> bool:
            for test in tests:
                if test(view) == want:
                    return want
            return not want
        return match


class Or(_Junction):
    """True when any of two or more ``operands`` is."""

    word = "or"


class And(_Junction):
    """True when all of two or more ``operands`` are."""

    word = "and"


@dataclass(frozen=True, eq=False)
class Not(Filter):
    """True when ``operand`` is false (plain negation: missing values make no exception)."""

    operand: Filter

    def __str__(self) -> str:
        inner = self.operand
        return f"not ({inner})" if isinstance(inner, _Junction) else f"not {inner}"

    def _compile(self) -> Predicate:
        test = self.operand._predicate
        return lambda view: not test(view)


@dataclass(frozen=True, eq=False)
class Exists(Filter):
    """True when the field is in the view and not None."""

    field: Field

    def __str__(self) -> str:
        return f"{self.field} exists"

    def _compile(self) -> Predicate:
        get = _getter(self.field, raw=True)
        return lambda view: get(view) is not None


@dataclass(frozen=True, eq=False)
class Compare(Filter):
    """``field op value``, where ``op`` is one of ``= != < <= > >= ~ like``."""

    field: Field
    op: str
    value: Value

    def __str__(self) -> str:
        return f"{self.field} {self.op} {_text_of(self.value)}"

    def _compile(self) -> Predicate:
        if self.value is None:
            get, present = _getter(self.field, raw=True), self.op == "!="
            return lambda view: (get(view) is not None) == present
        get, test = _getter(self.field), _tester(self.field, self.op, self.value)

        def match(view: Mapping[str, Any]) -> bool:
            actual = get(view)
            return actual is not None and test(actual)
        return match


@dataclass(frozen=True, eq=False)
class In(Filter):
    """``field in (values)``, or ``field not in (values)`` when ``negated``."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False

    def __str__(self) -> str:
        items = ", ".join(_text_of(value) for value in self.values)
        return f"{self.field} {'not in' if self.negated else 'in'} ({items})"

    def _compile(self) -> Predicate:
        get, negated = _getter(self.field), self.negated
        missing = None in self.values and not negated
        tests = tuple(_tester(self.field, "=", v) for v in self.values if v is not None)

        def match(view: Mapping[str, Any]) -> bool:
            actual = get(view)
            if actual is None:
                return missing
            for test in tests:
                if test(actual):
                    return not negated
            return negated
        return match


# ------------------------------------------------------------------- evaluation


def _iso_epoch(text: str) -> float | None:
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _number(value: Any) -> Any:
    if type(value) is float or type(value) is int:
        return value
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    number = _number(value)
    return _iso_epoch(value) if number is None and isinstance(value, str) else number


def _boolean(value: Any) -> bool | None:
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.lower())
    if isinstance(value, (bool, int, float)):
        return {1: True, 0: False}.get(value)
    return None


def _getter(field: Field, raw: bool = False) -> Callable[[Mapping[str, Any]], Any]:
    key, space = field.name, field.namespace
    if space is None:
        if key in _TIMES and not raw:
            return lambda view: _epoch(view.get(key))
        return lambda view: view.get(key)

    def get(view: Mapping[str, Any]) -> Any:
        values = view.get(space)
        return None if values is None else values.get(key)
    return get


def _like(pattern: str) -> re.Pattern[str]:
    parts = re.findall(r"\\.|.", pattern, re.DOTALL)
    wild = {"%": ".*", "_": "."}
    regex = "".join(re.escape(p[-1]) if len(p) == 2 else wild.get(p, re.escape(p)) for p in parts)
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _tester(field: Field, op: str, value: Value) -> Callable[[Any], bool]:
    """A test of a present (not None) value against ``value``."""
    if op == "~":
        needle = str(value).casefold()
        return lambda actual: needle in str(actual).casefold()
    if op == "like":
        pattern = _like(str(value))
        return lambda actual: pattern.fullmatch(str(actual)) is not None
    if op not in _OPS:
        raise FilterError(f"filter: unknown operator {op!r}", column=None, token=op)
    cmp, unmatched = _OPS[op], op == "!="
    if isinstance(value, bool):
        def test_bool(actual: Any) -> bool:
            flag = _boolean(actual)
            return unmatched if flag is None else cmp(flag, value)
        return test_bool
    if isinstance(value, str) and field.namespace is None and field.name in _TIMES:
        value = _iso_epoch(value)
        if value is None:
            raise FilterError(f"filter: {field} needs an ISO date", column=None, token=None)
    if not isinstance(value, str):
        def test_number(actual: Any) -> bool:
            number = _number(actual)
            return unmatched if number is None else cmp(number, value)
        return test_number
    fold = field == Field(None, "status")
    text, number = (value.casefold() if fold else value), _number(value)

    def test_text(actual: Any) -> bool:
        if isinstance(actual, str):
            return cmp(actual.casefold() if fold else actual, text)
        other = None if number is None else _number(actual)
        return unmatched if other is None else cmp(other, number)
    return test_text


# ---------------------------------------------------------------------- parsing
