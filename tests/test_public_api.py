"""The public surface: one sorted ``__all__`` that matches what ``runner`` exports, and an
``import runner`` that costs nothing outside the standard library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import runner


def test_all_is_sorted_without_duplicates():
    """runner.__all__ is sorted and names each export once."""
    assert sorted(set(runner.__all__)) == runner.__all__


def test_all_is_exactly_the_exported_names():
    """__all__ lists every name runner exports and nothing else."""
    assert sorted(runner._EXPORTS) == runner.__all__
    assert set(runner.__all__) <= set(dir(runner))


def test_every_export_resolves_and_is_documented():
    """Each name in __all__ resolves to an object with a docstring."""
    undocumented = []
    for name in runner.__all__:
        value = getattr(runner, name)
        assert value is getattr(runner, name)
        if not (value.__doc__ or "").strip():
            undocumented.append(name)
    assert [] == undocumented


def test_star_import_gives_exactly_all():
    """`from runner import *` binds exactly the names of __all__."""
    namespace: dict = {}

    exec("from runner import *", namespace)

    assert set(runner.__all__) == set(namespace) - {"__builtins__"}


def test_unknown_attribute_has_no_such_attribute():
    """A name runner does not export raises AttributeError."""
    with pytest.raises(AttributeError, match="no_such_name"):
        runner.no_such_name  # noqa: B018


def test_exceptions_form_one_tree_with_exit_codes():
    """Every exported error derives from RunnerError and carries an int exit code."""
    errors = [getattr(runner, n) for n in runner.__all__
              if isinstance(getattr(runner, n), type)
              and issubclass(getattr(runner, n), BaseException)]

    assert runner.RunnerError in errors
    assert all(issubclass(e, runner.RunnerError) for e in errors)
    assert all(isinstance(e.exit_code, int) for e in errors)
    assert runner.RunFailed is runner.ActivityFailedException


def test_import_runner_loads_no_third_party_module():
    """`import runner` alone imports nothing outside the standard library."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import runner\n"
        "new = set(sys.modules) - before\n"
        "print(json.dumps(sorted(m for m in new\n"
        "    if m.split('.')[0] not in (*sys.stdlib_module_names, 'runner'))))\n"
    )

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)

    assert 0 == proc.returncode, proc.stderr
    assert [] == json.loads(proc.stdout)


def test_hyperdrive_names_are_exported_under_v1_names():
    """Every name v1's azureml.train.hyperdrive gave a sweep notebook is a runner export."""
    v1 = {"HyperDriveConfig", "HyperDriveRun", "PrimaryMetricGoal", "RandomParameterSampling",
          "GridParameterSampling", "BayesianParameterSampling", "BanditPolicy",
          "MedianStoppingPolicy", "TruncationSelectionPolicy", "NoTerminationPolicy",
          "choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal",
          "qnormal", "lognormal", "qlognormal"}
    assert set() == v1 - set(runner.__all__)
    assert callable(runner.choice) and "choice" == runner.choice(1, 2).kind
