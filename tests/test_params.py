"""Rules of a run's parameters: read from its arguments, kept on the record."""

from __future__ import annotations

import sys

import pytest

from runner import Environment, Experiment, Run, ScriptRunConfig, Workspace
from runner.core.params import parse_arguments


@pytest.mark.parametrize(("argv", "expected"), [
    (["--lr", "0.1"], {"lr": "0.1"}),
    (["--lr=0.1"], {"lr": "0.1"}),
    (["-n", "3"], {"n": "3"}),
    (["--alpha", "-0.5"], {"alpha": "-0.5"}),
    (["--verbose", "--lr", "1"], {"verbose": "true", "lr": "1"}),
    (["--dry-run"], {"dry-run": "true"}),
    (["data.csv", "--k", "2", "out"], {"k": "2"}),
    (["--k", "1", "--k", "2"], {"k": "2"}),
    (["--", "--not", "this"], {}),
    (["--=x", "--empty="], {"empty": ""}),
])
def test_arguments_read_as_name_value_pairs(argv: list[str], expected: dict[str, str]) -> None:
    """Options with values, flags and ``--name=value`` become parameters; positionals
    and anything after ``--`` do not."""
    assert expected == parse_arguments(argv)


def test_a_submitted_run_records_its_arguments_as_parameters(ws: Workspace, tmp_path) -> None:
    """A submitted run's arguments show in get_details()['parameters']."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    config = ScriptRunConfig(str(src), "train.py", arguments=["--alpha", 0.5, "--epochs=3"])
    env = Environment("here")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    config.run_config.environment = env
    run = Experiment(ws, "params").submit(config)
    run.wait_for_completion()

    assert {"alpha": "0.5", "epochs": "3"} == Run.get(ws, run.id).get_details()["parameters"]


def test_properties_added_by_hand_are_parameters_unless_the_run_has_the_name(
        ws: Workspace, exp: Experiment) -> None:
    """run.add_properties makes parameters, but never replaces one from another source."""
    run = exp.start_logging(snapshot_directory=None)
    ws.store.set_params(run.id, {"lr": "0.1"}, "arguments")
    run.add_properties({"lr": "0.5", "batch": 32})
    run.complete()

    assert {"lr": "0.1", "batch": "32"} == run.get_details()["parameters"]
