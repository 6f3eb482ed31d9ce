"""A metric that is accepted is stored, or the run says it is not."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from runner import Experiment, ScriptRunConfig
from runner.core.errors import MetricError, UsageError


def test_a_lone_surrogate_in_a_name_is_refused_at_the_call(exp: Experiment):
    """log() with a lone surrogate in the name raises MetricError; later values are stored."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    with pytest.raises(MetricError, match="lone surrogate"):
        run.log("bad\ud800", 1.0)
    for i in range(1000):
        run.log("good", float(i))
    run.complete()
    assert (1000, "Completed") == (len(run.get_metrics()["good"]), run.get_status())


def test_an_int_too_large_to_store_is_refused_at_the_call(exp: Experiment):
    """log() of 10**5000 raises MetricError at the call instead of failing every write."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    with pytest.raises(MetricError, match="too large"):
        run.log("h", 10**5000)
    run.log("h", 2**70)
    run.complete()
    assert {"h": 2**70} == run.get_metrics()


@pytest.mark.parametrize("call", [
    lambda run: run.log("s", "x\udc80"),
    lambda run: run.log_row("t", **{"col\ud800": 1}),
    lambda run: run.log_list("l", [1.0, "y\ud800"]),
    lambda run: run.log_table("t2", {"a\udfff": [1]}),
    lambda run: run.log("n", 1.0, step=1.5),
])
def test_unstorable_values_are_refused_at_the_call(exp: Experiment, call):
    """Strings with lone surrogates, as values or columns, and non-int steps raise MetricError."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    with pytest.raises(MetricError):
        call(run)
    run.complete()
    assert ({}, []) == (run.get_metrics(), run.get_details()["warnings"])


def test_a_tag_key_with_a_lone_surrogate_is_refused_as_misuse(exp: Experiment):
    """set_tags with a lone surrogate in a key raises UsageError and writes no tag."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    with pytest.raises(UsageError, match="lone surrogate"):
        run.set_tags({"ok": "1", "k\ud800": "v"})
    run.complete()
    assert {} == run.get_tags()


def test_values_the_store_cannot_encode_are_recorded_lost_and_the_rest_kept(exp: Experiment):
    """A drained entry that cannot be encoded is left out, recorded as lost, the rest written."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    store = exp.workspace.store
    store.write_metrics(run.id, [("big", "scalar", [10**5000], None, None),
                                 ("bad\ud800", "scalar", [1.0], None, None),
                                 ("ok", "scalar", [1.0, 2.0], None, None)])
    store.write_metrics(run.id, [("ok", "scalar", [3.0], None, None)])
    run.complete()
    assert {"ok": [1.0, 2.0, 3.0]} == run.get_metrics()
    assert [("big", 1), ("bad\\ud800", 1)] == [
        (r["name"], r["count"]) for r in store.metric_losses(run.id)]
    assert ["MetricsLost", "MetricsLost"] == [w["code"] for w in run.get_details()["warnings"]]


def test_many_names_in_one_write_are_stored_in_order(exp: Experiment):
    """A write of more names than one transaction holds stores every name and value."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    for i in range(25_000):
        run.log(f"m{i}", float(i))
    run.log("m7", 1.5)
    run.complete()
    metrics = run.get_metrics()
    assert (25_000, [7.0, 1.5], 24_999.0) == (len(metrics), metrics["m7"], metrics["m24999"])


def test_a_second_handle_appending_to_a_cached_metric_keeps_every_value(exp: Experiment):
    """Two handles on one run logging the same name interleave without losing a value."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    other = type(run)(exp, run.id)
    for i in range(3):
        run.log("m", float(i))
        run.flush()
        other.log("m", float(10 + i))
        other.flush()
    run.complete()
    assert [0.0, 10.0, 1.0, 11.0, 2.0, 12.0] == run.get_metrics()["m"]


def test_a_submitted_run_that_lost_values_says_so_and_wait_warns(exp: Experiment,
                                                               tmp_path: Path):
    """Values dropped for a kind clash show in the details, and wait_for_completion warns."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "clash.py").write_text(textwrap.dedent("""
        from runner import Run
        run = Run.get_context()
        run.log_row("t", a=1)
        run.flush()
        other = type(run)(run.experiment, run.id)
        other.log("t", 1.0)
        other.log("t", 2.0)
        other.flush()
    """))
    run = exp.submit(ScriptRunConfig(src, "clash.py"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        details = run.wait_for_completion()
    assert "Completed" == details["status"]
    assert ["MetricsLost"] == [w["code"] for w in details["warnings"]]
    assert "2 value(s) of metric 't'" in details["warnings"][0]["message"]
    assert any("lost metric values" in str(w.message) for w in caught)


def test_a_writer_that_fell_behind_makes_logging_wait_and_keeps_order(exp: Experiment):
    """While the writer is behind, log() waits for it to catch up; no value is lost or reordered."""
    from runner.inrun import flusher as _flusher

    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.log("m", 0.0)
    _flusher._throttle(True)
    try:
        throttled = run._fast is not run._buffer.fast
        run.log("m", 1.0)  # returns once the writer has caught up
        caught_up = _flusher._caught_up.is_set()
    finally:
        _flusher._throttle(False)
    run.log("m", 2.0)
    run.complete()
    assert (True, True, [0.0, 1.0, 2.0]) == (throttled, caught_up, run.get_metrics()["m"])
