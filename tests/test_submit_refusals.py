"""Bad submissions are refused at submit, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import Experiment, ScriptRunConfig
from runner.core.errors import UsageError


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    return src


def test_nan_max_run_duration_is_refused(exp: Experiment, tmp_path: Path):
    """max_run_duration_seconds=NaN is refused instead of turning the limit off."""
    config = ScriptRunConfig(_src(tmp_path), "train.py", max_run_duration_seconds=float("nan"))
    with pytest.raises(UsageError, match="finite"):
        exp.submit(config)
    assert [] == list(exp.get_runs())


def test_infinite_max_run_duration_is_refused(exp: Experiment, tmp_path: Path):
    """max_run_duration_seconds=inf is refused: no limit is spelled None."""
    config = ScriptRunConfig(_src(tmp_path), "train.py", max_run_duration_seconds=float("inf"))
    with pytest.raises(UsageError, match="max_run_duration_seconds"):
        exp.submit(config)


def test_nul_byte_in_an_argument_is_refused_at_submit(exp: Experiment, tmp_path: Path):
    """An argument with a NUL byte is refused by submit, and no run is recorded."""
    config = ScriptRunConfig(_src(tmp_path), "train.py", arguments=["--name", "a\0b"])
    with pytest.raises(UsageError, match="NUL byte"):
        exp.submit(config)
    assert [] == list(exp.get_runs())


def test_nul_byte_in_an_environment_variable_is_refused(exp: Experiment, tmp_path: Path):
    """An environment variable value with a NUL byte is refused by submit."""
    config = ScriptRunConfig(_src(tmp_path), "train.py")
    config.run_config.environment_variables = {"A": "x\0y"}
    with pytest.raises(UsageError, match="NUL byte"):
        exp.submit(config)
    assert [] == list(exp.get_runs())
