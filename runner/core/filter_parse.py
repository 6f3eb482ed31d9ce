"""Reading a filter: the tokenizer and the recursive-descent parser of the grammar in
:mod:`runner.core.filter`, with errors that point at the column. Pure: no I/O.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

from .filter import (
    _ALIASES,
    _KEYWORDS,
    _NAME,
    _OPS,
    _TIMES,
    FIELDS,
    NAMESPACES,
    And,
    Compare,
    Exists,
    Field,
    Filter,
    FilterError,
    In,
    Not,
    Or,
    Value,
    _error,
    _iso_epoch,
    _Junction,
    _quote,
)

_QUOTED = r"(?:[^{0}\\]|\\.)*"
_TOKEN = re.compile(
    r"(?P<field>(?P<ns>[A-Za-z_]\w*)\.(?:`(?P<bq>" + _QUOTED.format("`") + r")`|"
    + _NAME.pattern + r"))|(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<word>[A-Za-z_]\w*)|(?P<op>==|!=|<=|>=|[=<>~])|(?P<punct>[(),])"
    r"|(?P<str>\"" + _QUOTED.format('"') + r"\"|'" + _QUOTED.format("'") + r"')",
    re.ASCII | re.DOTALL)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.?)", re.DOTALL)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "`": "`", "n": "\n", "r": "\r", "t": "\t"}
_FIELD_LIST = ("a field: " + ", ".join(FIELDS) + ", display_name, "
               + ", ".join(f"{ns}.<name>" for ns in NAMESPACES) + " or props.<name>")
_START = "a field, 'not' or '('"
_DOTS = "an operator; a name with dots goes in backticks, as in metrics.`a.b`"



@dataclass(frozen=True)
class _Token:
    kind: str  # field, num, word, op, punct, str, end
    text: str
    pos: int
    value: Any = None


def _unescape(text: str, raw: str, start: int) -> str:
    def one(found: re.Match[str]) -> str:
        code = found.group(1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        if code in _ESCAPES:
            return _ESCAPES[code]
        raise _error(text, start + found.start(), f"unknown escape '{found.group()}'",
                     "one of \\\\ \\' \\\" \\` \\n \\r \\t \\uXXXX", found.group())
    return _ESCAPE.sub(one, raw)


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return [*tokens, _Token("end", "", pos)]
        found = _TOKEN.match(text, pos)
        if found is None:
            ch = text[pos]
            if text[pos:pos + 2] == ".`":
                raise _error(text, pos + 1, "unterminated name", "a closing `", "`")
            if ch in "'\"":
                raise _error(text, pos, "unterminated string", f"a closing {ch}", ch)
            expected = f"{_START}, an operator or a value"
            if ch in ".`":
                expected = _DOTS if ch == "." else "a namespace before a `name`: metrics.`a b`"
            raise _error(text, pos, f"unexpected character {ch!r}", expected, ch)
        kind, word, value = found.lastgroup, found.group(), found.group()
        if found.group("field"):
            kind, name = "field", found.group("bq")
            if name is None:
                name = word.split(".", 1)[1]
            elif not name:
                raise _error(text, found.start("bq") - 1, "empty name", "a name in the ``", "``")
            else:
                name = _unescape(text, name, found.start("bq"))
            value = (found.group("ns").lower(), name)
        elif kind == "word":
            value = word.lower()
        elif kind == "str":
            value = _unescape(text, word[1:-1], pos + 1)
        elif kind == "num":
            value = float(word) if any(c in word for c in ".eE") else int(word)
            if not math.isfinite(value):
                raise _error(text, pos, f"number {word} out of range", "a finite number", word)
        tokens.append(_Token(kind or "", word, pos, value))
        pos = found.end()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.at = text, _tokenize(text), 0

    def peek(self, *words: str) -> _Token | None:
        """The next token if it is one of ``words`` (any token when none are given)."""
        token = self.tokens[self.at]
        if not words or (token.text.lower() in words and token.kind in ("word", "punct", "op")):
            return token
        return None

    def take(self, *words: str) -> _Token | None:
        token = self.peek(*words)
        if token is not None and token.kind != "end":
            self.at += 1
        return token

    def fail(self, expected: str, what: str | None = None) -> FilterError:
        token = self.tokens[self.at]
        what = what or (f"unexpected {token.text!r}" if token.text else "unexpected end of filter")
        return _error(self.text, token.pos, what, expected, token.text or None)

    def parse(self) -> Filter:
        node = self.junction(Or)
        if self.tokens[self.at].kind != "end":
            raise self.fail("'and', 'or' or the end of the filter")
        return node

    def junction(self, kind: type[_Junction]) -> Filter:
        items = [self.junction(And) if kind is Or else self.not_expr()]
        while self.take(kind.word):
            items.append(self.junction(And) if kind is Or else self.not_expr())
        flat: list[Filter] = []
        for item in items:
            flat.extend(item.operands if isinstance(item, kind) else (item,))
        return flat[0] if len(flat) == 1 else kind(tuple(flat))

    def not_expr(self) -> Filter:
        if self.take("not"):
            return Not(self.not_expr())
        opening = self.take("(")
        if opening is None:
            return self.predicate(self.field())
        node = self.junction(Or)
        if not self.take(")"):
            raise self.fail(f"'and', 'or' or ')' closing the '(' at column {opening.pos + 1}")
        return node

    def field(self) -> Field:
        token = self.tokens[self.at]
        if token.kind == "field":
            space, name = token.value
            if _ALIASES.get(space, space) in NAMESPACES:
                self.at += 1
                return Field(_ALIASES.get(space, space), name)
            guess = difflib.get_close_matches(space, [*NAMESPACES, "props"], n=1)
            rest = token.text.split(".", 1)[1]
            hint = f" (did you mean {guess[0] + '.' + rest!r}?)" if guess else ""
        elif token.kind == "word" and token.value not in _KEYWORDS:
            name = _ALIASES.get(token.value, token.value)
            if name in FIELDS:
                self.at += 1
                return Field(None, name)
            if name in NAMESPACES:
                raise self.fail(f"a name after it, as in {name}.mse or {name}.`val loss` "
                                "(backticks for names with spaces, dots or a leading digit)",
                                f"{token.text!r} needs a name")
            guess = difflib.get_close_matches(token.value, [*FIELDS, *NAMESPACES], n=1)
            hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        else:
            raise self.fail(_START)
        raise self.fail(_FIELD_LIST, f"unknown field {token.text!r}{hint}")

    def predicate(self, field: Field) -> Filter:
        if self.take("exists"):
            return Exists(field)
        token = self.take(*_OPS, "==", "~", "like")
        if token is not None:
            op = {"==": "=", "like": "like"}.get(token.text.lower(), token.text)
            if op in ("~", "like") and field.namespace is None and field.name in _TIMES:
                self.at -= 1
                raise self.fail("=, !=, <, <=, >, >=, in, not in or exists",
                                f"{op!r} does not apply to {field}")
            return Compare(field, op, self.literal(field, op))
        negated = self.take("not") is not None
        if self.take("in"):
            if not self.take("("):
                raise self.fail("'(' opening the list after 'in'")
            values = [self.literal(field, "=")]
            while not self.take(")"):
                if not self.take(","):
                    raise self.fail("',' or ')' in the list")
                values.append(self.literal(field, "="))
            return In(field, tuple(values), negated)
        if negated:
            raise self.fail("'in' after 'not' (as in: field not in (...))")
        if self.peek("and", "or", ")") or self.tokens[self.at].kind == "end":
            return Exists(field)
        raise self.fail(f"an operator after {field}: =, !=, <, <=, >, >=, ~, like, in, "
                        "not in or exists")

    def literal(self, field: Field, op: str) -> Value:
        token = self.tokens[self.at]
        if token.kind in ("num", "str"):
            value = token.value
        elif token.kind == "word" and token.value in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[token.value]
        else:
            bare = token.kind == "word" and token.value not in _KEYWORDS
            hint = f"; quote text, as in {_quote(token.text)}" if bare else ""
            raise self.fail("a value (a number, a quoted string, true, false or null)" + hint)
        if op in ("~", "like") and not isinstance(value, str):
            raise self.fail(f"a quoted string after {op!r}")
        if op in ("<", "<=", ">", ">=") and (value is None or isinstance(value, bool)):
            raise self.fail(f"a number or a string after {op!r} (true, false and null take "
                            "only =, !=, in and not in)")
        if (isinstance(value, str) and field.namespace is None and field.name in _TIMES
                and _iso_epoch(value) is None):
            raise self.fail(f"an ISO 8601 date such as \"2026-01-01\" or \"2026-01-01T12:00Z\","
                            f" or epoch seconds, for {field}", f"{token.text} is not a date")
        self.at += 1
        return value


def parse_filter(text: str) -> Filter:
    """Parse a filter expression into an immutable :class:`Filter` tree.

    Args:
        text: the expression, as in ``metrics.mse < 3000 and status = "Completed"``.

    Returns:
        The tree; its ``str()`` is the canonical form, which parses back to an equal tree.

    Raises:
        FilterError: the text breaks the grammar or names an unknown field; the message
            gives the column, the offending token and what was expected.
    """
    if not isinstance(text, str):
        raise FilterError(f"filter: expected a string, not {type(text).__name__}",
                          column=None, token=None, expected="a string")
    return _Parser(text).parse()
