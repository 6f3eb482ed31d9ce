"""Commands that start, follow and stop submitted runs: ``submit``, ``logs``,
``wait``, ``cancel`` and ``snapshot``.

Thin over the API (``Experiment.submit``, ``Run.wait_for_completion``,
``Run.cancel``, the snapshot functions); errors go to the one boundary in
``_cli``. Heavy imports stay inside the commands: ``runner submit`` is timed.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .main import _get_run, _state, _workspace

if TYPE_CHECKING:
    from ..api.run import Run
    from ..api.workspace import Workspace


def _pairs(values: tuple[str, ...], what: str, *,
           need_value: bool = False) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key or (need_value and not sep):
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=what)
        out[key] = value if sep else None
    return out


def _submit_workspace() -> Workspace:
    """The workspace; in a folder with none above it, one is made here (and said so)."""
    from ..api.workspace import Workspace
    from ..core.errors import WorkspaceNotFound

    state = _state()
    try:
        return state.workspace()
    except WorkspaceNotFound:
        if state.workspace_path is not None:
            raise
        ws = Workspace.create(".")
        click.echo(f"Created a workspace in {ws.root} (.runner/).", err=True)
        state._workspace = ws
        return ws


def _environment(ws: Workspace, env: str | None, python: str | None) -> Any:
    """The Environment named by ``--env`` (a name or a file) or ``--python``."""
    if env and python:
        raise click.UsageError("give --env or --python, not both.")
    if not env and not python:
        return None
    from ..api.environment import Environment

    if python:
        environment = Environment("user-managed")
        environment.python.user_managed_dependencies = True
        environment.python.interpreter_path = python
        return environment
    if not env:
        return None
    path = Path(env)
    if not path.is_file() and ("/" in env or os.sep in env
                               or path.suffix.lower() in (".yml", ".yaml", ".txt", ".json")):
        from ..core.errors import NotFoundError

        raise NotFoundError(f"--env {env}: no such file ({path.resolve()}); give an existing "
                            "requirements.txt or YAML file, or an environment name.",
                            path=str(path))
    if path.is_file():
        if path.suffix == ".txt":
            return Environment.from_pip_requirements(path.stem, path)
        text = path.read_text(encoding="utf-8", errors="replace")
        if re.search(r"^dependencies\s*:", text, re.MULTILINE):
            return Environment.from_conda_specification(path.stem, path)
        return Environment.from_yaml(path)
    return Environment.get(ws, env)


def _experiment_name(source: Path) -> str:
    name = re.sub(r"[^\w-]+", "-", source.resolve().name).strip("-_") or "default"
    return name[:255]


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.option("--experiment", "-e", metavar="NAME",
              help="Experiment name (default: the source folder's name).")
@click.option("--source-dir", "-d", default=".", show_default=True, metavar="DIR",
              help="Folder captured as the run's snapshot; SCRIPT is relative to it.")
@click.option("--python", metavar="PATH", help="Run with this interpreter as it is.")
@click.option("--env", "env", metavar="NAME|FILE",
              help="A registered or curated environment, or a requirements.txt / YAML file.")
@click.option("--env-var", "env_vars", multiple=True, metavar="KEY=VALUE",
              help="Environment variable for the script (repeatable).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Cancel the run after this many seconds.")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="Tag (repeatable).")
@click.option("--target", metavar="NAME",
              help="Run on this compute target of config.yaml's compute_targets "
                   "(default: local).")
@click.option("--gpus", type=click.FloatRange(min=0), metavar="N",
              help="GPUs the run needs; it waits for N free GPUs of its own (a fraction "
                   "below 1 shares one GPU).")
@click.option("--detach", is_flag=True, help="Print the run id and return at once.")
@click.option("--dry-run", is_flag=True,
              help="List what the snapshot would capture and ignore, then stop.")
@click.argument("script")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def submit(experiment: str | None, source_dir: str, python: str | None, env: str | None,
           env_vars: tuple[str, ...], timeout: float | None, tags: tuple[str, ...],
           target: str | None, gpus: float | None, detach: bool, dry_run: bool,
           script: str, args: tuple[str, ...]) -> None:
    """Submit SCRIPT (with ARGS) as a run and stream its output until it ends.

    Exits 0 when the run completes, 7 when it fails, 8 when it is canceled, 10 when
    the time limit (--timeout) ended it.
    Ctrl-C asks whether to detach (the run goes on) or cancel it.
    """
    source = Path(source_dir)
    if dry_run:
        _dry_run(source, script)
        return
    from ..api.config import ScriptRunConfig
    from ..api.experiment import Experiment

    ws = _submit_workspace()
    if target is not None:  # a typo here is an error, not a local run
        from ..api.config import resolve_target

        resolve_target(target, ws.config.compute_targets)
    exp = Experiment(ws, experiment or _experiment_name(source))
    config = ScriptRunConfig(str(source), script, arguments=list(args),
                             environment=_environment(ws, env, python),
                             max_run_duration_seconds=timeout, compute_target=target)
    config.run_config.environment_variables = {
        k: v or "" for k, v in _pairs(env_vars, "--env-var", need_value=True).items()}
    if gpus:
        config.run_config.resources = {**config.run_config.resources,
                                       "gpu": int(gpus) if gpus == int(gpus) else gpus}
    run = exp.submit(config, tags=_pairs(tags, "--tag") or None)
    if detach:
        click.echo(run.id)
        return
    _follow(run)


def _follow(run: Run) -> None:
    """Stream the run to its end; Ctrl-C offers detach or cancel. Exits with the outcome."""
    try:
        details = run.wait_for_completion(show_output=True)
    except KeyboardInterrupt:
        click.echo("", err=True)
        choice = "d"
        if sys.stdin is not None and sys.stdin.isatty():
            choice = click.prompt(
                "Detach (the run goes on) or cancel it?", default="d",
                type=click.Choice(["d", "c"]), err=True)
        if choice == "c":
            run.cancel()
            click.echo(f"Canceling {run.id} ...", err=True)
            details = run.wait_for_completion(raise_on_error=False)
        else:
            click.echo(f"Detached. Follow it with: runner logs -f {run.id}", err=True)
            return
    _exit_canceled(run, details)


def _exit_canceled(run: Run, details: dict[str, Any]) -> None:
    """Exit 8 for a run canceled on request, 10 (saying why) for one the time limit ended."""
    from ..core.errors import CANCELED_EXIT_CODE, TIMEOUT_EXIT_CODE
    from ..core.status import CANCELED
    from ..execution.wait import canceled_reason

    if details["status"] != CANCELED:
        return
    reason = canceled_reason(details)
    if reason:
        click.echo(f"runner: run {run.id} was canceled: {reason}", err=True)
        sys.exit(TIMEOUT_EXIT_CODE)
    sys.exit(CANCELED_EXIT_CODE)


def _dry_run(source: Path, script: str) -> None:
    """Show the snapshot; fail as submit would on a missing script or a snapshot over a limit."""
    from ..core.errors import WorkspaceNotFound
    from ..execution.submit import check_script, check_source
    from ..snapshot.snapshots import SnapshotLimits, check_limits, select_files

    checked = check_source(str(source))
    check_script(checked, script)
    try:  # the limits of the workspace a submit would use; the defaults before there is one
        settings = _state().workspace().config
        limits = SnapshotLimits(settings.snapshot_max_bytes, settings.snapshot_max_files)
    except WorkspaceNotFound:
        limits = SnapshotLimits()
    selection = select_files(source)
    check_limits(selection, limits)
    click.echo(f"Would capture {len(selection.files)} files "
               f"({selection.total_bytes:,} bytes) from {source.resolve()}:")
    for entry in selection.files:
        click.echo(f"  {entry.path}")
    if selection.ignored:
        click.echo(f"Ignored ({len(selection.ignored)}):")
        for path, reason in selection.ignored:
            click.echo(f"  {path}  ({reason})")


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
def logs(run_id: str, follow: bool) -> None:
    """Print the run's output (the environment build log first, if any)."""
    from ..execution.logs import LOG_ORDER, read_text
    from ..execution.wait import follow_logs

    run = _get_run(run_id)
    if follow:
        follow_logs(run, sys.stdout)
        return
    for name in LOG_ORDER:
        text = read_text(run.folder / name)
        if text:
            click.echo(text, nl=not text.endswith("\n"))


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--show-output", "-o", is_flag=True, help="Stream the log while waiting.")
def wait(run_id: str, show_output: bool) -> None:
    """Wait for the run to end; exit 0 Completed, 7 Failed, 8 Canceled, 10 timed out."""

    run = _get_run(run_id)
    details = run.wait_for_completion(show_output=show_output)
    if not show_output:
        click.echo(details["status"])
    _exit_canceled(run, details)


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--no-wait", is_flag=True, help="Return once the cancel is requested.")
def cancel(run_id: str, no_wait: bool) -> None:
    """Cancel a run: its process tree gets SIGTERM, then SIGKILL after the grace period."""
    run = _get_run(run_id)
    run.cancel()
    if not no_wait:
        run.wait_for_completion(raise_on_error=False)
    click.echo(f"{run.id}: {run.get_status()}")


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, required=True, metavar="RUN | diff RUN_A RUN_B")
@click.option("--restore", metavar="DIR", help="Write the snapshot's files into DIR.")
@click.option("--list", "as_list", is_flag=True, help="List the snapshot's files.")
def snapshot(args: tuple[str, ...], restore: str | None, as_list: bool) -> None:
    """Show a run's snapshot, list or restore its files, or diff two runs' snapshots.

    \b
    runner snapshot RUN [--list] [--restore DIR]
    runner snapshot diff RUN_A RUN_B
    """
    from ..snapshot import diff as _diff
    from ..snapshot import snapshots as _snapshot

    ws = _workspace()
    if args[0] == "diff":
        if len(args) != 3:
            raise click.UsageError("usage: runner snapshot diff RUN_A RUN_B")
        ids = [_snapshot_of(_get_run(r)) for r in args[1:]]
        click.echo(_diff.diff_snapshots(ws.paths, ids[0], ids[1]).render(), nl=False)
        return
    if len(args) != 1:
        raise click.UsageError("usage: runner snapshot RUN [--list] [--restore DIR]")
    run = _get_run(args[0])
    snapshot_id = _snapshot_of(run)
    if restore:
        click.echo(run.restore_snapshot(path=restore))
        return
    manifest = _snapshot.load_manifest(ws.paths, snapshot_id)
    if as_list:
        for entry in manifest.get("entries", manifest.get("files", [])):
            click.echo(entry["path"] if isinstance(entry, dict) else entry[0])
        return
    click.echo(f"snapshot {snapshot_id}")
    click.echo(f"folder   {ws.paths.snapshot_dir(snapshot_id)}")
    for key in ("files", "bytes", "source"):
        if key in manifest and not isinstance(manifest[key], list):
            click.echo(f"{key:<8} {manifest[key]}")


def _snapshot_of(run: Run) -> str:
    from ..core.errors import NotFoundError

    snapshot_id = run.get_snapshot_id()
    if not snapshot_id:
        raise NotFoundError(f"run {run.id} has no snapshot.", run_id=run.id)
    return snapshot_id


COMMANDS = [submit, logs, wait, cancel, snapshot]
