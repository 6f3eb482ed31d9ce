"""Small command-line refusals a new user meets: each names the problem and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from runner import Experiment, Workspace
from runner.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


def invoke(ws: Workspace | None, *args: str) -> Result:
    """Run ``runner [--workspace WS] ARGS`` in-process, through the real error boundary."""
    prefix = ["--workspace", str(ws.root)] if ws is not None else []
    return CliRunner().invoke(cli, [*prefix, *args])


def _train_src(tmp_path: Path) -> Path:
    """A source folder holding a one-line ``train.py``."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("x = 1\n")
    return src


def test_non_utf8_config_is_refused_as_bad_config(ws: Workspace):
    """A config.yaml that is not UTF-8 exits 3 with a message naming the file."""
    (ws.root / ".runner" / "config.yaml").write_bytes(b"max_concurrent_runs: 2\n# caf\xe9\n")
    result = invoke(ws, "runs")
    assert 3 == result.exit_code, result.stderr
    assert "not UTF-8" in result.stderr
    assert "line 2" in result.stderr


def test_server_without_the_extra_names_the_install_command(ws: Workspace, tmp_path: Path):
    """`runner server` without Starlette or uvicorn exits 2 naming the install command."""
    code = ("import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
            "from runner.cli.main import main\n"
            f"sys.argv = ['runner', '--workspace', {str(ws.root)!r}, 'server', '--port', '0']\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert 2 == proc.returncode, proc.stderr
    assert "pip install 'runner[server]'" in proc.stderr
    assert "unexpected" not in proc.stderr


def test_dry_run_of_a_missing_script_fails(ws: Workspace, tmp_path: Path):
    """`submit --dry-run` of a script that does not exist fails as submit would."""
    (tmp_path / "src").mkdir()
    result = invoke(ws, "submit", "--dry-run", "-d", str(tmp_path / "src"), "nope.py")
    assert 2 == result.exit_code, result.output
    assert "does not exist" in result.stderr


def test_dry_run_over_the_snapshot_limit_fails(ws: Workspace, tmp_path: Path):
    """`submit --dry-run` of a folder over snapshot_max_files fails with exit 5."""
    (ws.root / ".runner" / "config.yaml").write_text("snapshot_max_files: 2\n")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.py").write_text("x = 1\n")
    result = invoke(ws, "submit", "--dry-run", "-d", str(src), "f0.py")
    assert 5 == result.exit_code, result.output
    assert "snapshot_max_files" in result.stderr


def test_dry_run_within_the_limits_lists_the_files(ws: Workspace, tmp_path: Path):
    """`submit --dry-run` of a valid folder still lists what it would capture."""
    src = _train_src(tmp_path)
    result = invoke(ws, "submit", "--dry-run", "-d", str(src), "train.py")
    assert 0 == result.exit_code, result.output
    assert "train.py" in result.output


def test_download_of_a_missing_name_leaves_no_folder(exp: Experiment, tmp_path: Path):
    """`download RUN nope -o DIR` fails and does not create DIR."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.complete()
    out = tmp_path / "out"
    result = invoke(exp.workspace, "download", run.id, "nope.txt", "-o", str(out))
    assert 4 == result.exit_code, result.output
    assert not out.exists()


def test_missing_file_refusal_lists_twenty_names_then_an_ellipsis(exp: Experiment,
                                                                 tmp_path: Path):
    """The error for a missing file shows 20 names and says how many more there are."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    source = tmp_path / "a.txt"
    source.write_text("a")
    for i in range(21):
        run.upload_file(f"f{i:02d}.txt", source)
    run.complete()
    result = invoke(exp.workspace, "download", run.id, "nope.txt", "-o", str(tmp_path / "o"))
    assert 4 == result.exit_code
    assert "f19.txt, ... (1 more)" in result.stderr
    assert "f20.txt" not in result.stderr


def test_env_file_that_does_not_exist_is_reported_as_missing(ws: Workspace, tmp_path: Path):
    """`submit --env ./nope.yml` says there is no such file (exit 4)."""
    src = _train_src(tmp_path)
    result = invoke(ws, "submit", "--detach", "-d", str(src), "--env", "./nope.yml", "train.py")
    assert 4 == result.exit_code, result.output
    assert "no such file" in result.stderr
    assert [] == ws.store.query_runs()


def test_env_var_without_a_value_is_refused(ws: Workspace, tmp_path: Path):
    """`submit --env-var NOEQ` is refused as not KEY=VALUE (exit 2), and no run is made."""
    src = _train_src(tmp_path)
    result = invoke(ws, "submit", "--detach", "-d", str(src), "--env-var", "NOEQ", "train.py")
    assert 2 == result.exit_code, result.output
    assert "KEY=VALUE" in result.output + result.stderr
    assert [] == ws.store.query_runs()
