"""The error tree also speaks the standard library's language: bad values are
``ValueError``s and missing things are ``LookupError``s."""

from __future__ import annotations

import pytest

from runner import Experiment, Run, Workspace
from runner.core import errors


def test_usage_refusals_are_value_exceptions():
    """Every UsageError subclass is a ValueError, so `except ValueError` catches it."""
    kinds = [errors.UsageError, errors.ConfigError, errors.MetricError, errors.ArtifactError,
             errors.SnapshotError, errors.EnvironmentSpecError, errors.RunEnvironmentError]
    assert [True] * len(kinds) == [issubclass(k, ValueError) for k in kinds]


def test_not_found_refusals_are_lookup_exceptions():
    """Every not-found error is a LookupError, as KeyError and IndexError are."""
    kinds = [errors.NotFoundError, errors.WorkspaceNotFound, errors.RunNotFound,
             errors.ArtifactNotFound, errors.EnvironmentNotFound]
    assert [True] * len(kinds) == [issubclass(k, LookupError) for k in kinds]


def test_missing_run_is_caught_by_a_lookup_handler(ws: Workspace):
    """Opening a run that does not exist raises something `except LookupError` catches."""
    with pytest.raises(LookupError):
        Run.get(ws, "no_such_run")


def test_bad_metric_is_caught_by_a_value_handler(exp: Experiment):
    """A list given to log() raises something `except ValueError` catches."""
    run = exp.start_logging()
    with pytest.raises(ValueError):
        run.log("x", [1, 2])
    run.complete()


def test_exit_codes_are_unchanged():
    """The extra bases do not change the documented exit codes."""
    assert (2, 3, 4, 5) == (errors.UsageError.exit_code, errors.ConfigError.exit_code,
                            errors.RunNotFound.exit_code, errors.SnapshotError.exit_code)
