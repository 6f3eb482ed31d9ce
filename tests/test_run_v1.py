"""The rest of v1's Run API: batch children, logs in bulk, listing by v1 type names, the
run's environment, numpy/pandas table columns, and the artifact-backed metric kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import Environment, Experiment, MetricError, Run, ScriptRunConfig, UsageError
from runner.inrun.offline import OfflineRun

CONFUSION = {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
             "data": {"class_labels": ["0", "1"], "matrix": [[3, 1], [0, 4]]}}
RESIDUALS = {"schema_type": "residuals", "schema_version": "1.0.0",
             "data": {"bin_edges": [-1.0, 0.0, 1.0], "bin_counts": [4, 6]}}
PREDICTIONS = {"schema_type": "predictions", "schema_version": "1.0.0",
               "data": {"bin_averages": [0.2, 0.7], "bin_errors": [0.1, 0.1],
                        "bin_counts": [5, 5], "bin_edges": [0.0, 0.5, 1.0]}}
ACCURACY = {"schema_type": "accuracy_table", "schema_version": "1.0.1",
            "data": {"class_labels": ["0", "1"], "probability_thresholds": [0.0, 1.0],
                     "percentile_thresholds": [0.0, 1.0],
                     "probability_tables": [[[4, 4, 0, 0], [0, 0, 4, 4]]] * 2,
                     "percentile_tables": [[[4, 4, 0, 0], [0, 0, 4, 4]]] * 2}}


def test_artifact_backed_kinds_round_trip_through_get_metrics(exp: Experiment):
    """Each v1 kind, given as a dict or JSON string, comes back from get_metrics as logged."""
    with exp.start_logging(snapshot_directory=None, outputs=False) as run:
        run.log_confusion_matrix("cm", json.dumps(CONFUSION))
        run.log_residuals("res", RESIDUALS)
        run.log_predictions("pred", PREDICTIONS)
        run.log_accuracy_table("acc", ACCURACY)

    assert {"cm": CONFUSION, "res": RESIDUALS, "pred": PREDICTIONS, "acc": ACCURACY} == \
        run.get_metrics()


@pytest.mark.parametrize("value,words", [
    ("{not json", "Invalid JSON"),
    ({"schema_type": "residuals", "data": {"class_labels": ["a"], "matrix": [[1]]}},
     "schema_type"),
    ({"data": {"class_labels": ["a", "b"], "matrix": [[1, 2]]}}, "matrix"),
])
def test_a_malformed_kind_is_refused_naming_the_problem(exp: Experiment, value, words):
    """Bad JSON, the wrong schema_type or a wrong shape is a MetricError naming it."""
    with exp.start_logging(snapshot_directory=None, outputs=False) as run:
        with pytest.raises(MetricError, match=words):
            run.log_confusion_matrix("cm", value)

    assert {} == run.get_metrics()


def test_offline_run_prints_the_kinds(capsys):
    """Outside a run, the kinds print what they would log."""
    OfflineRun().log_residuals("res", RESIDUALS)

    assert "Attempted to log residuals metric res:" in capsys.readouterr().out


def test_log_table_takes_numpy_arrays_and_pandas_series(exp: Experiment):
    """Columns given as a numpy array and a pandas Series are logged element by element."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    with exp.start_logging(snapshot_directory=None, outputs=False) as run:
        run.log_table("t", {"x": np.arange(3), "y": pd.Series([0.5, 1.5, 2.5])})

    assert {"x": [0, 1, 2], "y": [0.5, 1.5, 2.5]} == run.get_metrics()["t"]


def test_create_children_by_count_tags_each_child_with_its_number(exp: Experiment):
    """create_children(count=3) starts 3 Running children tagged 0, 1, 2."""
    with exp.start_logging(snapshot_directory=None, outputs=False) as run:
        children = run.create_children(count=3)
        statuses = [c.get_status() for c in children]
        for child in children:
            child.complete()

    assert ["Running"] * 3 == statuses
    assert ["0", "1", "2"] == [c.get_tags()["azureml.batch_child_number"] for c in children]
    assert {c.id for c in children} == {c.id for c in run.get_children()}


def test_create_children_by_tag_values_makes_one_child_per_value(exp: Experiment):
    """create_children(tag_key=, tag_values=) tags each child with one value."""
    with exp.start_logging(snapshot_directory=None, outputs=False) as run:
        children = run.create_children(tag_key="fold", tag_values=["a", "b"])
        for child in children:
            child.complete()

    assert [{"fold": "a"}, {"fold": "b"}] == [c.get_tags() for c in children]


@pytest.mark.parametrize("kwargs,words", [({}, "not both and not neither"),
                                          ({"count": 2, "tag_key": "k"}, "not both"),
                                          ({"tag_key": "k"}, "tag_values"),
                                          ({"count": 101}, "at most 100")])
def test_create_children_refuses_wrong_calls_before_making_any(exp: Experiment, kwargs, words):
    """Wrong combinations and more than 100 children are refused; no child is made."""
    with exp.start_logging(snapshot_directory=None, outputs=False) as run:
        with pytest.raises(UsageError, match=words):
            run.create_children(**kwargs)

    assert [] == list(run.get_children())


def test_v1_type_names_filter_runs_and_logs_come_in_bulk(exp: Experiment, tmp_path: Path):
    """get_runs(type='azureml.scriptrun') and Run.list find the submitted run; its logs come
    back with their content and as copied files."""
    (tmp_path / "train.py").write_text("print('hello from the script')\n")
    env = Environment("mine")
    env.python.user_managed_dependencies = True
    run = exp.submit(ScriptRunConfig(str(tmp_path), "train.py", environment=env))
    run.wait_for_completion()
    exp.start_logging(snapshot_directory=None, outputs=False).complete()

    assert [run.id] == [r.id for r in exp.get_runs(type="azureml.scriptrun")]
    assert [run.id] == [r.id for r in Run.list(exp, type="azureml.scriptrun",
                                               status="Completed")]
    logs = run.get_details_with_logs()["logFiles"]
    assert "hello from the script" in logs["logs/std_log.txt"]
    written = run.get_all_logs(destination=str(tmp_path / "logs-copy"))
    assert str(tmp_path / "logs-copy" / "logs" / "std_log.txt") in written
    assert "mine" == run.get_environment().name
    assert run.get_environment().python.user_managed_dependencies is True


def test_get_environment_of_a_run_without_one_says_why(exp: Experiment):
    """An interactive run has no environment definition: a UsageError says so."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.complete()

    with pytest.raises(UsageError, match="no environment definition"):
        run.get_environment()


def test_get_all_logs_refuses_a_file_as_destination(exp: Experiment, tmp_path: Path):
    """A destination that is a file is refused, naming it."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.complete()
    (tmp_path / "f").write_text("x")

    with pytest.raises(UsageError, match="not a folder"):
        run.get_all_logs(destination=str(tmp_path / "f"))
