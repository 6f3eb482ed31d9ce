"""Pure decisions of ``runner.core`` that reach a run's record: the error record of an
exception (Azure ML's shape), and the errors of a table that cannot be stored."""

from __future__ import annotations

import pytest

from runner.core.errors import MetricError
from runner.core.metrics import table_rows
from runner.core.status import exception_error


def test_an_exception_becomes_a_failure_record_with_the_last_12_traceback_lines():
    """Message, details (the traceback's last 12 lines, trailing blanks cut), type, text."""
    traceback_text = "\n".join(f"line {i}" for i in range(20)) + "\n\n"

    record = exception_error(ValueError("boom"), traceback_text)

    assert {"error": {
        "code": "UserError", "message": "User program failed with ValueError: boom",
        "details": "\n".join(f"line {i}" for i in range(8, 20)),
        "debugType": "ValueError", "debugMessage": "boom",
    }} == record


def test_an_exception_without_a_traceback_has_no_details():
    """Without traceback text the record has no details key at all."""
    assert {"error": {"code": "UserError", "message": "User program failed with KeyError: 'k'",
                      "debugType": "KeyError", "debugMessage": "'k'"}} == exception_error(
        KeyError("k"))


def test_columns_of_different_lengths_are_refused_naming_each_length():
    """log_table with columns of 2 and 1 values names both lengths and the metric."""
    with pytest.raises(MetricError) as info:
        table_rows("t", {"a": [1, 2], "b": [3]})

    assert ("Columns must have the same length, but log_table('t') got: a=2, b=1.", "t") == (
        str(info.value), info.value.metric)


@pytest.mark.parametrize("value", [{}, [1, 2], None])
def test_a_table_that_is_not_a_non_empty_dict_is_refused(value):
    """An empty dict, a list or None is a MetricError naming the metric."""
    needs = r"log_table\('t', value\) needs a non-empty dict"
    with pytest.raises(MetricError, match=needs) as info:
        table_rows("t", value)
    assert "t" == info.value.metric


def test_a_list_cell_is_refused_naming_its_column_and_metric():
    """A cell that is itself a list is refused with the column and the metric named."""
    with pytest.raises(MetricError, match="column 'b' of 't' got a list") as info:
        table_rows("t", {"a": [1], "b": [[1, 2]]})
    assert "t" == info.value.metric


def test_floats_pack_into_float_chunks_of_at_most_chunk_values():
    """70,000 floats are two 'd' chunks, of CHUNK values and of the rest, and unpack back."""
    from array import array

    from runner.core.metrics import CHUNK, pack, pack_floats, unpack

    values = array("d", (float(i) for i in range(CHUNK + 4464)))

    chunks = pack_floats(values)
    mixed = pack([1.0, 2.0, "a"])

    assert [("d", CHUNK), ("d", 4464)] == [(enc, count) for enc, _, count in chunks]
    assert list(values) == [v for enc, data, _ in chunks for v in unpack(enc, data)]
    assert ["d", "j"] == [enc for enc, _, _ in mixed]
