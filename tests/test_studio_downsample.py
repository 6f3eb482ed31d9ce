"""Thinning metric series for the studio's charts: the shape survives, odd values become
gaps, and a million points take a fraction of a second. Standard library only."""

from __future__ import annotations

import math

import pytest

from runner.studio import downsample as ds


def test_a_short_series_is_returned_whole():
    """A series no longer than the points asked for is not thinned."""
    result = ds.series([3.0, 1.0, 2.0], points=10)

    assert ([0, 1, 2], [3.0, 1.0, 2.0], False) == (
        result["x"], result["y"], result["downsampled"])


def test_a_long_series_is_thinned_to_at_most_the_points_asked():
    """100,000 values asked as 500 points give at most 500, in order, x being positions."""
    values = [math.sin(i / 300) for i in range(100_000)]

    result = ds.series(values, points=500)

    assert len(result["x"]) <= 500
    assert result["x"] == sorted(result["x"])
    assert all(values[x] == y for x, y in zip(result["x"], result["y"]))
    assert (100_000, True) == (result["count"], result["downsampled"])


def test_thinning_keeps_every_extreme_and_a_single_spike():
    """The global minimum and maximum, and a one-point spike, are among the points kept."""
    values = [float(i % 100) for i in range(200_000)]
    values[123_457] = 1e6
    values[7] = -5.0

    result = ds.series(values, points=400)

    assert 1e6 in result["y"]
    assert -5.0 in result["y"]
    assert 123_457 in result["x"]


def test_undrawable_values_become_gaps():
    """NaN, infinities, None and strings mixed into numbers come out as None."""
    values = [1.0, math.nan, math.inf, None, "x", 2, -math.inf, True]

    assert [1.0, None, None, None, None, 2, None, 1] == ds.series(values, 100)["y"]


def test_thinning_a_series_with_gaps_still_finds_the_extremes():
    """Buckets holding NaN first, None or infinities fall back to a value-by-value search."""
    values = [math.nan, 5.0, None, -3.0, math.inf, 1.0] * 10_000

    result = ds.series(values, points=100)

    assert {5.0, -3.0} <= set(result["y"])
    assert None not in result["y"]


def test_a_bucket_with_nothing_drawable_keeps_one_gap():
    """A run of None values leaves a gap (None) in the thinned series."""
    values = [1.0] * 1000 + [None] * 1000 + [2.0] * 1000

    result = ds.series(values, points=30)

    assert None in result["y"]


def test_strings_are_not_numeric():
    """A series of strings is shown as text, a series of numbers as a chart."""
    assert (False, True, False) == (ds.is_numeric(["a", "b"]), ds.is_numeric([1, 2.5]),
                                    ds.is_numeric([]))


def test_a_table_draws_its_first_column_as_x():
    """Rows {x, y, z} give x as the axis and y, z as lines."""
    rows = [{"x": i / 10, "y": i * i, "z": -i} for i in range(20)]

    result = ds.table_series(rows, points=100)

    assert ("x", 20, ["y", "z"]) == (result["x_name"], len(result["x"]),
                                     [s["name"] for s in result["series"]])
    assert [i * i for i in range(20)] == result["series"][0]["y"]


def test_a_table_with_a_text_first_column_is_drawn_against_the_row():
    """A first column of labels cannot be an axis: rows are numbered instead."""
    rows = [{"label": f"r{i}", "y": i} for i in range(5)]

    result = ds.table_series(rows)

    assert ("row", [0, 1, 2, 3, 4], ["y"]) == (
        result["x_name"], result["x"], [s["name"] for s in result["series"]])


def test_a_long_table_keeps_each_columns_extremes():
    """Thinning a table keeps, per bucket, the rows of every column's minimum and maximum."""
    rows = [{"x": i, "a": math.sin(i / 50), "b": (i % 7)} for i in range(50_000)]
    rows[31_000]["b"] = 99

    result = ds.table_series(rows, points=400)

    assert len(result["x"]) <= 400
    assert 99 in result["series"][1]["y"]
    assert 31_000 in result["x"]


def test_points_below_two_are_refused():
    """A chart needs at least two points."""
    with pytest.raises(ValueError):
        ds.select([[1.0, 2.0, 3.0]], 1)


def test_a_million_points_thin_to_the_points_asked_keeping_the_extremes():
    """1,000,000 floats thin to at most 2,000 points that hold the global minimum and
    maximum (how fast is measured by tests/benchmarks/bench_studio.py, not here)."""
    values = [math.sin(i / 1000) for i in range(1_000_000)]

    result = ds.series(values, ds.DEFAULT_POINTS)

    assert len(result["x"]) <= ds.DEFAULT_POINTS
    assert max(values) == max(result["y"])
    assert min(values) == min(result["y"])
