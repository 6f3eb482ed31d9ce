"""The run filter language: grammar, canonical text, evaluation rules and error messages.

Speed (checked by hand, not asserted): one parsed filter of four comparisons evaluates
10,000 views in about 10 ms::

    f = parse_filter('metrics.mse < 3000 and params.alpha >= 0.5 and tags.sweep = "1"'
                     ' and status = "Completed"')
    timeit.timeit(lambda: [f.matches(v) for v in views], number=1)  # 10_000 views
"""

from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime, timezone

import pytest

from runner.core.errors import UsageError
from runner.core.filter import (
    And,
    Compare,
    Exists,
    Field,
    FilterError,
    In,
    Not,
    Or,
)
from runner.core.filter_parse import parse_filter

JAN_2 = datetime(2026, 1, 2, tzinfo=timezone.utc).timestamp()

VIEW = {
    "status": "Completed",
    "name": "ResNet50-baseline",
    "id": "run_42",
    "experiment": "vision",
    "type": "script",
    "created": JAN_2,
    "started": JAN_2 + 5,
    "ended": None,
    "duration": 120.0,
    "user": "ana",
    "target": "local",
    "parent": None,
    "metrics": {"mse": 2500.0, "acc": 0.93, "loss": 0.2, "val loss": 0.31, "converged": 1.0},
    "params": {"alpha": "0.75", "optimizer": "sgd", "--lr": "0.01", "flag": "True",
               "layers": 50},
    "tags": {"sweep": "1", "env": "prod", "note": 'say "hi"\n'},
    "properties": {"azureml.git": "abc123"},
}

STATUS = Field(None, "status")
MSE = Field("metrics", "mse")


def match(text: str, view: dict | None = None) -> bool:
    return parse_filter(text).matches(VIEW if view is None else view)


# ----------------------------------------------------------------- structure


def test_and_binds_tighter_than_or():
    """``a or b and c`` groups as ``a or (b and c)``."""
    a, b, c = (Exists(Field("tags", n)) for n in "abc")
    assert Or((a, And((b, c)))) == parse_filter("tags.a or tags.b and tags.c")
    assert Or((And((a, b)), c)) == parse_filter("tags.a and tags.b or tags.c")


def test_not_binds_tighter_than_and_and_looser_than_a_comparison():
    """``not`` applies to the next comparison only, not to the ``and`` that follows."""
    expected = And((Not(Compare(MSE, "<", 1)), Exists(Field("tags", "x"))))
    assert expected == parse_filter("not metrics.mse < 1 and tags.x")


def test_parentheses_override_precedence():
    """Parentheses group an ``or`` under an ``and`` or a ``not``."""
    a, b, c = (Exists(Field("tags", n)) for n in "abc")
    assert And((a, Or((b, c)))) == parse_filter("tags.a and (tags.b or tags.c)")
    assert Not(Or((a, b))) == parse_filter("not (tags.a or tags.b)")
    assert Not(Not(a)) == parse_filter("not not tags.a")


def test_same_junctions_flatten():
    """Nested ``and``s (or ``or``s) become one node with all the operands."""
    a, b, c = (Exists(Field("tags", n)) for n in "abc")
    assert And((a, b, c)) == parse_filter("(tags.a and tags.b) and tags.c")
    assert Or((a, b, c)) == parse_filter("tags.a or (tags.b or tags.c)")


def test_precedence_decides_the_result():
    """``or`` of a true comparison and a false ``and`` is true; grouped differently it is not."""
    assert True is match('status = "Completed" or metrics.mse > 9000 and tags.env = "dev"')
    assert False is match('(status = "Completed" or metrics.mse > 9000) and tags.env = "dev"')


def test_a_bare_field_means_exists():
    """A field alone, as in ``not tags.reviewed``, tests that the field is present."""
    expected = Or((In(STATUS, ("Failed", "Canceled")), Not(Exists(Field("tags", "reviewed")))))
    assert expected == parse_filter("status in ('Failed', 'Canceled') or not tags.reviewed")
    assert True is match("status in ('Failed', 'Canceled') or not tags.reviewed")
    assert False is match("tags.reviewed")


def test_keywords_and_plain_field_names_ignore_case():
    """``AND``, ``Or``, ``NOT IN``, ``EXISTS``, ``TRUE`` and ``STATUS`` are all accepted."""
    text = 'STATUS NOT IN ("Failed") AND Metrics.mse Exists Or params.flag = TRUE'
    assert 'status not in ("Failed") and metrics.mse exists or params.flag = true' == str(
        parse_filter(text))


def test_aliases_read_as_canonical_fields():
    """``display_name`` is ``name`` and ``props.`` is ``properties.``."""
    assert Compare(Field(None, "name"), "~", "net") == parse_filter('display_name ~ "net"')
    assert Exists(Field("properties", "azureml.git")) == parse_filter("props.`azureml.git`")


def test_fields_lists_each_referenced_field_once_in_order():
    """``fields()`` names what the filter reads, first appearance first, without repeats."""
    flt = parse_filter("metrics.mse < 1 or (status = 'x' and metrics.mse > 0) or tags.a in (1)")
    assert (MSE, STATUS, Field("tags", "a")) == flt.fields()


def test_filters_are_immutable_and_hashable():
    """A parsed filter cannot be changed and can go in a set."""
    flt = parse_filter("metrics.mse < 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        flt.op = ">"  # type: ignore[misc]
    assert 1 == len({flt, parse_filter("metrics.mse<1")})


def test_filters_pickle_after_use():
    """A filter that has already evaluated views still pickles, and the copy still matches."""
    flt = parse_filter("metrics.mse < 3000 and status = 'completed'")
    assert True is flt.matches(VIEW)
    copy = pickle.loads(pickle.dumps(flt))
    assert (flt, True) == (copy, copy.matches(VIEW))


def test_equality_tells_number_kinds_and_booleans_apart():
    """``1``, ``1.0`` and ``true`` are different literals."""
    assert parse_filter("params.a = 1") != parse_filter("params.a = 1.0")
    assert parse_filter("params.a = 1") != parse_filter("params.a = true")


# ------------------------------------------------------------ canonical text


@pytest.mark.parametrize("text", [
    'metrics.mse < 3000 and params.alpha >= 0.5 and tags.sweep = "1" and status = "Completed"',
    'status in ("Failed", "Canceled") or not tags.reviewed',
    "params.optimizer != 'adam' and (metrics.acc > 0.9 or metrics.loss <= 0.1)",
    'name ~ "resnet"', "tags.env exists", 'duration > 60 and created > "2026-01-01"',
    'not (tags.a or tags.b) and not not tags.c', "metrics.`val loss` <= -1.5e-3",
    "params.`--lr` == 0.01", r'tags.note = "say \"hi\"\n\u0001"', "tags.`a\\`b` exists",
    "name like 'res%' or parent = null or metrics.x != NULL",
    "params.x not in (1, 2.5, 'a', false)",
    "(tags.a and tags.b) or (tags.c and (tags.d or tags.e))",
])
def test_canonical_text_parses_back_to_an_equal_filter(text: str):
    """``parse(str(f)) == f`` and the canonical text is a fixed point."""
    flt = parse_filter(text)
    assert flt == parse_filter(str(flt))
    assert str(flt) == str(parse_filter(str(flt)))


@pytest.mark.parametrize("expected, text", [
    ('metrics.mse = 1', "metrics.mse==1"),
    ('status = "Completed"', "status = 'Completed'"),
    ("not tags.reviewed exists", "NOT tags.reviewed"),
    ("tags.a exists or tags.b exists and tags.c exists", "(tags.a) or ((tags.b) and tags.c)"),
    ("tags.a = 1 and (tags.b = 2 or tags.c = 3)", "tags.a = 1 AND (tags.b = 2 OR tags.c = 3)"),
    ("metrics.`val loss` < 0.5", "metrics.`val loss`<.5"),
    ("metrics.x > 3000.0", "metrics.x > 3e3"),
    ("params.lr_max-2/x = -7", "params.`lr_max-2/x` = -7"),
    ('name in ("a", "b")', "display_name in ( 'a' , 'b' )"),
    ('params.opt not in ("x")', "params.opt  NOT  IN ('x')"),
])
def test_str_prints_the_canonical_form(expected: str, text: str):
    """Keywords lower case, ``=`` for ``==``, double quotes, minimal parentheses and backticks."""
    assert expected == str(parse_filter(text))


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize("expected, text", [
    (True, "metrics.mse = 2500"), (True, "metrics.mse == 2500"), (False, "metrics.mse = 2501"),
    (True, "metrics.mse != 2501"), (False, "metrics.mse != 2500"),
    (True, "metrics.mse < 3000"), (False, "metrics.mse < 2500"), (True, "metrics.mse <= 2500"),
    (True, "metrics.mse > 2000"), (False, "metrics.mse > 2500"), (True, "metrics.mse >= 2500"),
    (True, "metrics.mse in (1, 2500)"), (False, "metrics.mse in (1, 2)"),
    (True, "metrics.mse not in (1, 2)"), (False, "metrics.mse not in (2500)"),
    (True, 'name ~ "resnet"'), (True, 'name ~ "BASE"'), (False, 'name ~ "vgg"'),
    (True, 'name like "resnet%"'), (True, 'name like "RESNET__-%"'), (False, 'name like "resnet"'),
    (True, "tags.env exists"), (False, "tags.owner exists"),
])
def test_every_operator(expected: bool, text: str):
    """Each comparison operator, ``in``, ``not in``, ``~``, ``like`` and ``exists`` evaluates."""
    assert expected == match(text)


def test_like_escapes_wildcards_with_a_backslash():
    """In a ``like`` pattern ``\\%`` and ``\\_`` stand for themselves."""
    view = {"name": "50%_off"}
    assert True is match(r'name like "50\\%\\_%"', view)
    assert False is match(r'name like "50\\%\\_x%"', view)
    assert True is match('name like "5_%"', view)


def test_contains_reads_numbers_as_text():
    """``~`` on a numeric value looks inside its text form."""
    assert True is match('metrics.acc ~ "0.9"')


# ------------------------------------------------------------------ literals


@pytest.mark.parametrize("expected, text", [
    (50, "params.layers = 50"), (0.75, "params.alpha = 0.75"), (0.5, "params.a = .5"),
    (3.0, "params.a = 3."), (-2, "params.a = -2"), (1.5e-3, "params.a = 1.5e-3"),
    (-2e10, "params.a = -2E+10"), ("it's", "params.a = 'it\\'s'"), ("a\"b", 'params.a = "a\\"b"'),
    ("tab\tnew\nback\\", 'params.a = "tab\\tnew\\nback\\\\"'), ("é", 'params.a = "\\u00e9"'),
    (True, "params.a = true"), (False, "params.a = FALSE"), (None, "params.a = null"),
    ("", "params.a = ''"),
])
def test_every_literal_kind(expected: object, text: str):
    """Integers, floats, scientific and negative numbers, quoted strings with escapes, keywords."""
    value = parse_filter(text).value  # type: ignore[attr-defined]
    assert (type(expected), expected) == (type(value), value)


def test_backticks_quote_names_with_spaces_dots_and_dashes():
    """```val loss```, ```--lr``` and ```azureml.git``` name the values of those keys."""
    assert True is match("metrics.`val loss` < 0.5")
    assert True is match("params.`--lr` = 0.01")
    assert True is match('properties.`azureml.git` = "abc123"')
    assert Field("tags", "a`b") == parse_filter(r"tags.`a\`b`").field  # type: ignore[attr-defined]


def test_names_after_a_namespace_keep_their_case():
    """``metrics.MSE`` is not ``metrics.mse``."""
    assert False is match("metrics.MSE exists")


# -------------------------------------------------------------- type coercion


@pytest.mark.parametrize("expected, text", [
    (True, "params.alpha >= 0.5"), (True, "params.alpha = 0.75"), (False, "params.alpha < 0.5"),
    (True, 'metrics.mse = "2500"'), (True, 'metrics.mse < "1e4"'),
    (True, 'params.alpha = "0.75"'), (False, 'params.alpha = "0.750"'),
    (False, 'params.layers > "100"'), (True, 'params.alpha > "0.5"'),
    (True, 'tags.sweep = "1"'), (True, "tags.sweep = 1"), (True, "tags.sweep = 1.0"),
])
def test_numbers_compare_with_numeric_text_numerically(expected: bool, text: str):
    """An unquoted number reads numeric text as a number; quoted text compares as text."""
    assert expected == match(text)


@pytest.mark.parametrize("expected, text", [
    (False, "params.optimizer = 1"), (True, "params.optimizer != 1"),
    (False, "params.optimizer > 1"), (False, "params.optimizer <= 1"),
    (False, 'metrics.mse = "high"'), (True, 'metrics.mse != "high"'),
    (True, "params.optimizer not in (1, 2)"),
])
def test_values_that_cannot_be_reconciled_are_unequal(expected: bool, text: str):
    """Text that is not a number against a number: ``=`` and orderings false, ``!=`` true."""
    assert expected == match(text)


@pytest.mark.parametrize("expected, text", [
    (True, "params.flag = true"), (False, "params.flag = false"), (True, "params.flag != false"),
    (True, "metrics.converged = true"), (False, "params.optimizer = true"),
    (True, "params.optimizer != true"),
])
def test_booleans_match_booleans_their_text_and_one_or_zero(expected: bool, text: str):
    """``true`` matches True, "true"/"True" and 1; anything else is unequal."""
    assert expected == match(text)


def test_status_ignores_case_and_other_text_does_not():
    """``status = "completed"`` matches Completed; ``name = "resnet50-baseline"`` does not."""
    assert True is match('status = "completed"')
    assert True is match('status in ("FAILED", "COMPLETED")')
    assert False is match('name = "resnet50-baseline"')


# ------------------------------------------------------------ missing values


@pytest.mark.parametrize("text", [
    "tags.owner = 'x'", "tags.owner != 'x'", "tags.owner < 1", "tags.owner >= 1",
    "tags.owner in ('x')", "tags.owner not in ('x')", "tags.owner ~ 'x'", "tags.owner like '%'",
    "ended > 0", "ended != 0", "parent != 'run_1'", "duration > 0",
])
def test_every_comparison_with_a_missing_value_is_false(text: str):
    """Unknown is false: absent or None values fail ``=``, ``!=``, ``not in`` and the rest."""
    assert False is match(text, dict(VIEW, duration=None))


def test_not_negates_plainly_so_it_keeps_runs_with_missing_values():
    """``not tags.owner = 'x'`` is true where ``tags.owner != 'x'`` is false."""
    assert True is match("not tags.owner = 'x'")
    assert True is match("tags.owner != 'x' or not tags.owner exists")


@pytest.mark.parametrize("expected, text", [
    (True, "tags.owner = null"), (False, "tags.owner != null"), (False, "tags.env = null"),
    (True, "tags.env != null"), (True, "parent = null"), (True, "tags.owner in ('x', null)"),
    (False, "tags.owner not in ('x', null)"), (False, "tags.env in ('x', null)"),
    (True, "not tags.owner exists"), (False, "ended exists"),
])
def test_null_stands_for_missing(expected: bool, text: str):
    """``= null`` is "missing", ``!= null`` is "present", and ``null`` in a list matches missing."""
    assert expected == match(text)


def test_a_view_without_a_namespace_has_no_values_in_it():
    """A view lacking ``metrics`` entirely treats every metric as missing."""
    assert True is match("not metrics.mse exists", {"status": "Running"})
    assert False is match("metrics.mse < 1", {"status": "Running"})


# ------------------------------------------------------------------- times


@pytest.mark.parametrize("expected, text", [
    (True, 'created > "2026-01-01"'), (True, 'created >= "2026-01-02"'),
    (False, 'created > "2026-01-02"'), (True, 'created = "2026-01-02T00:00:00Z"'),
    (True, 'created < "2026-01-02T00:00:01+00:00"'),
    (False, 'created > "2026-01-02T00:00:00-01:00"'),
    (True, 'started > "2026-01-02 00:00:04"'), (True, f"created = {JAN_2}"),
    (True, 'created in ("2026-01-01", "2026-01-02")'),
])
def test_time_fields_read_iso_dates_as_utc(expected: bool, text: str):
    """A string compared with ``created``/``started``/``ended`` is an ISO date, UTC by default."""
    assert expected == match(text)


def test_time_fields_in_the_view_may_be_iso_text():
    """A view holding ISO text (or a datetime) for a time compares like the epoch."""
    assert True is match('created > "2026-01-01"', {"created": "2026-01-02T10:00:00Z"})
    moment = datetime(2026, 1, 3)
    assert True is match('created > "2026-01-02T12:00"', {"created": moment})


# ------------------------------------------------------------------- errors


def test_a_filter_refusal_is_a_usage_refusal_and_a_value_exception():
    """``FilterError`` is caught by ``except UsageError`` and ``except ValueError``."""
    with pytest.raises(UsageError):
        parse_filter("status =")
    with pytest.raises(ValueError):
        parse_filter("status =")


def test_the_message_shows_the_column_the_token_and_a_caret():
    """The message names what was wrong and expected, then the filter with a caret under it."""
    with pytest.raises(FilterError) as caught:
        parse_filter("metrics.mse < )")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("filter: unexpected ')' at column 15; expected a value (")
    assert ["  metrics.mse < )", "                ^"] == lines[1:]
    assert (15, ")") == (caught.value.column, caught.value.token)


def test_unknown_fields_name_the_allowed_ones():
    """A misspelt field is named, with a suggestion and the list of fields."""
    with pytest.raises(FilterError) as caught:
        parse_filter('statu = "x"')
    message = str(caught.value)
    assert "unknown field 'statu' (did you mean 'status'?) at column 1" in message
    assert "duration" in message and "metrics.<name>" in message and "props.<name>" in message


@pytest.mark.parametrize("column, text, fragment", [
    (1, "", "unexpected end of filter"),
    (4, "   ", "unexpected end of filter"),
    (15, "metrics.mse < ", "unexpected end of filter"),
    (1, "and status", "expected a field, 'not' or '('"),
    (1, "statu = 'x'", "unknown field 'statu'"),
    (1, "metric.mse < 3", "did you mean 'metrics.mse'?"),
    (1, "metrics < 3", "'metrics' needs a name"),
    (1, "params.1st > 0", "'params' needs a name"),
    (10, "metrics.a.b = 1", "a name with dots goes in backticks"),
    (10, "status = Completed", "quote text, as in \"Completed\""),
    (8, "status 'x'", "expected an operator after status"),
    (22, "status = 'x' and not ", "unexpected end of filter"),
    (14, "(status = 'x'", "')' closing the '(' at column 1"),
    (13, "status = 'x')", "expected 'and', 'or' or the end of the filter"),
    (10, "status = 'x", "unterminated string"),
    (9, "metrics.`val loss < 1", "unterminated name"),
    (9, "metrics.`` < 1", "empty name"),
    (12, r"status = 'a\d'", "unknown escape '\\d'"),
    (11, "status in 'a'", "'(' opening the list after 'in'"),
    (12, "status in ()", "expected a value"),
    (16, "status in ('a' 'b')", "',' or ')' in the list"),
    (17, "status in ('a', )", "expected a value"),
    (12, "tags.x not exists", "'in' after 'not'"),
    (15, "metrics.mse < true", "true, false and null take only"),
    (15, "metrics.mse > null", "true, false and null take only"),
    (8, "name ~ 3", "a quoted string after '~'"),
    (11, "name like 3", "a quoted string after 'like'"),
    (9, "created ~ '2026'", "'~' does not apply to created"),
    (11, "created > 'yesterday'", "'yesterday' is not a date"),
    (15, "metrics.mse > 1e999", "out of range"),
    (13, "metrics.x = #", "unexpected character '#'"),
    (8, "status & 'x'", "unexpected character '&'"),
    (1, "`x` = 1", "a namespace before a `name`"),
    (8, "name = metrics.x", "expected a value"),
    (17, "metrics.x > 1 or", "unexpected end of filter"),
    (5, "not )", "expected a field"),
    (17, "metrics.x > 3000abc", "unexpected 'abc'"),
])
def test_bad_expressions_report_the_column(column: int, text: str, fragment: str):
    """Each malformed filter fails with the 1-based column of the problem and says why."""
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert column == caught.value.column
    assert fragment in str(caught.value)
    assert " " * (column + 1) + "^" == str(caught.value).splitlines()[-1]


def test_a_non_string_filter_is_refused():
    """``parse_filter`` takes text only."""
    with pytest.raises(FilterError, match="expected a string, not int"):
        parse_filter(3)  # type: ignore[arg-type]
