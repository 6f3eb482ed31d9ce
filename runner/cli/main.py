"""The ``runner`` command line: thin commands over the public API.

The shell layer. Commands call what users call (``Workspace``, ``Run.get``,
``run.get_metrics()``, :func:`runner.api.experiment.list_runs`) and only render;
they hold no SQL and start no processes.

Errors become exits in exactly one place, :meth:`RunnerGroup.main`: a
:class:`~runner.core.errors.RunnerError` prints one line
``runner: error: <message>`` to stderr and exits with its ``exit_code``; click's
own usage errors exit 2 with click's message; Ctrl-C exits 130; anything else is
one line and exit 1. ``--traceback`` adds the stack. ``CliRunner().invoke(cli,
...)`` therefore behaves exactly like the console script.

Import cost is part of the contract (``runner runs`` over 10,000 runs in under
half a second, ``runner submit`` must start fast): at import this module loads
click and the standard library only; API modules are imported inside commands.

More commands come from other modules: see :func:`_register_extra_commands`.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import render as _render

if TYPE_CHECKING:
    from ..api.run import Run
    from ..api.workspace import Workspace

#: Exit status for Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_CODE = 130

#: Scalar metrics shown per run by ``runner runs``.
_LISTED_METRICS = 3



# --------------------------------------------------------------------------- boundary


class _State:
    """What the group's options say, for the commands and the error boundary."""

    def __init__(self) -> None:
        self.workspace_path: str | None = None
        self.traceback = False
        self._workspace: Workspace | None = None

    def workspace(self) -> Workspace:
        """The workspace named by ``--workspace``, else found like ``Workspace.from_config()``.

        Its ``config.yaml`` is validated here, so every command reports a broken one.
        """
        if self._workspace is None:
            from ..api.workspace import Workspace

            if self.workspace_path is not None:
                ws = Workspace.get(self.workspace_path)
            else:
                ws = Workspace.from_config()
                ws.config  # noqa: B018 - validate settings before doing anything
            self._workspace = ws
        return self._workspace


class RunnerGroup(click.Group):
    """A click group whose ``main`` is the one place errors become exit codes.

    Commands of other modules (:func:`_register_extra_commands`) are loaded the
    first time a name is not one of this module's commands, or the list of
    commands is asked for (``--help``): by then every module is fully imported,
    whatever imported what first, and ``runner runs`` never imports them.
    """

    _extras_loaded = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._extras_loaded:
            self._load_extras()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        if not self._extras_loaded:
            self._load_extras()
        return super().list_commands(ctx)

    def _load_extras(self) -> None:
        self._extras_loaded = True  # first, so a broken module fails once, not in a loop
        _register_extra_commands(self)

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Run the command line and exit; with ``standalone_mode=False`` (embedding)
        exceptions propagate and the command's value is returned, as in click."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        state = extra.setdefault("obj", _State())
        try:
            value = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("runner: aborted.", err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
        except KeyboardInterrupt:
            click.echo("runner: interrupted.", err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
        except Exception as exc:  # noqa: BLE001 - the boundary: one line, exit 1
            sys.exit(_report(exc, getattr(state, "traceback", False)))
        # Without standalone mode click returns the code of ctx.exit(n) (0 for --help).
        sys.exit(value if type(value) is int else 0)


def _report(exc: Exception, show_traceback: bool) -> int:
    """Print ``exc`` as one line (the stack first with ``--traceback``); its exit code."""
    from ..core.errors import RunnerError

    if show_traceback:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, RunnerError):
        message = exc.message
        code = exc.exit_code
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
        if not show_traceback:
            message += " (run again with --traceback to see where)"
        code = 1
    click.echo(f"runner: error: {message}", err=True)
    return code


def main(argv: list[str] | None = None, prog_name: str | None = None) -> NoReturn:
    """Entry point of the ``runner`` console script and ``python -m runner``.

    A command is one short process: once it is done and its output flushed, the
    process ends at once instead of tearing the interpreter down (which would
    also checkpoint the store's write-ahead log on every command; SQLite does
    that by itself as the log grows).
    """
    try:
        cli.main(args=argv, prog_name=prog_name)
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int):
        if code is not None:
            click.echo(code, err=True)
        code = 0 if code is None else 1
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


@click.group(cls=RunnerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workspace", "workspace_path", metavar="PATH",
              help="Workspace folder (default: RUNNER_WORKSPACE, else the nearest folder "
                   "at or above the current one holding .runner/).")
@click.option("--traceback", "show_traceback", is_flag=True,
              help="Show the full stack when a command fails.")
@click.version_option(package_name="runner", prog_name="runner")
@click.pass_context
def cli(ctx: click.Context, workspace_path: str | None, show_traceback: bool) -> None:
    """Submit scripts and track runs on your own machine."""
    state = ctx.ensure_object(_State)
    state.workspace_path = workspace_path
    state.traceback = show_traceback


def _state() -> _State:
    """The options of this invocation (made fresh when a command is invoked on its own)."""
    return click.get_current_context().ensure_object(_State)


def _workspace() -> Workspace:
    """The workspace of this invocation (``--workspace``, else found), config validated."""
    return _state().workspace()


def _get_run(run_id: str) -> Run:
    """The run ``run_id`` of this invocation's workspace; raises RunNotFound."""
    from ..api.run import Run

    return Run.get(_workspace(), run_id)



def _owner_line(run: Run) -> str:
    """Who owns the run: ``pid 1234 (running)``, ``pid 1234 (ended)`` or ``-``."""
    from ..store import proc as _proc

    row = run.experiment.workspace.store.get_run(run.id)
    pid = row.get("owner_pid")
    if not pid:
        return "-"
    alive = _proc.is_alive(pid, row.get("owner_start"))
    return f"pid {pid} ({'running' if alive else 'ended'})"


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document instead of a table.")


# --------------------------------------------------------------------------- commands


@cli.command()
@click.argument("path", required=False)
def init(path: str | None) -> None:
    """Create a workspace in PATH (default: --workspace, else the current folder)."""
    from pathlib import Path

    from ..api.workspace import Workspace

    target = Path(path or _state().workspace_path or ".").resolve()
    existed = (target / ".runner").is_dir()
    ws = Workspace.create(target)
    if existed:
        click.echo(f"{ws.root} is a workspace already.")
    else:
        click.echo(f"Created a workspace in {ws.root} (settings: {ws.paths.config}).")


@cli.command()
@json_option
def experiments(as_json: bool) -> None:
    """List experiments: run counts by status and last activity."""
    items = _workspace().store.experiments()
    if as_json:
        _render.echo_json([
            {"name": e["name"], "runs": e["runs"], "statuses": e["statuses"],
             "created": _render.iso(e["created"]), "last_activity": _render.iso(e["last_activity"])}
            for e in items
        ])
        return
    if not items:
        click.echo("No experiments yet; submit a run with `runner submit SCRIPT`.")
        return
    rows = [
        [e["name"], str(e["runs"]),
         ", ".join(f"{n} {s}" for s, n in sorted(e["statuses"].items())) or "-",
         _render.local(e["last_activity"])]
        for e in items
    ]
    click.echo(_render.table(["EXPERIMENT", "RUNS", "BY STATUS", "LAST ACTIVITY"], rows))


@cli.command()
@click.option("--experiment", "-e", metavar="NAME", help="Only runs of this experiment.")
@click.option("--status", "-s", metavar="STATUS",
              help="Only runs with this status (Queued, Running, Completed, Failed, ...).")
@click.option("--tag", "tags", metavar="KEY[=VALUE]", multiple=True,
              help="Only runs with this tag (and value); repeat for several.")
@click.option("--limit", "-n", type=click.IntRange(min=1), metavar="N",
              help="At most N runs (the newest).")
@click.option("--all", "-a", "include_children", is_flag=True,
              help="Include child runs.")
@click.option("--filter", "-f", "filter_text", metavar="EXPR",
              help="Only runs the expression holds for, e.g. "
                   "'metrics.mse < 3000 and params.alpha >= 0.5 and status = \"Completed\"' "
                   "(the studio's runs list and exp.get_runs(filter=...) read the same).")
@json_option
def runs(experiment: str | None, status: str | None, tags: tuple[str, ...],
         limit: int | None, include_children: bool, filter_text: str | None,
         as_json: bool) -> None:
    """List runs, newest first."""
    from ..api.experiment import list_runs

    values: dict[str, Any] = {}
    keys: list[str] = []
    for item in tags:
        key, sep, value = item.partition("=")
        if not key:
            raise click.BadParameter(f"{item!r} names no tag; use KEY or KEY=VALUE.",
                                     param_hint="'--tag'")
        if sep:
            values[key] = value
        else:
            keys.append(key)
    items = list_runs(
        _workspace(), experiment=experiment, status=status, tags=values or None,
        tag_keys=keys, include_children=include_children, limit=limit, filter=filter_text,
    )
    if as_json:
        _render.echo_json([_render.run_json(row) for row in items])
        return
    if not items:
        click.echo("No runs found." if (experiment or status or tags or filter_text) else
                   "No runs yet; submit one with `runner submit SCRIPT`.")
        return
    now = time.time()
    rows = []
    gpu_column = any(row.get("gpus") is not None or _gpu_request(row) for row in items)
    for row in items:
        metrics = row["metrics"]
        shown = " ".join(f"{name}={_render.short(metrics[name])}"
                         for name in sorted(metrics)[:_LISTED_METRICS])
        if len(metrics) > _LISTED_METRICS:
            shown += f" (+{len(metrics) - _LISTED_METRICS})"
        line = [
            row["id"], row["experiment"], _status_text(row), _render.local(row["start_time"]),
            _render.duration(row["start_time"], row["end_time"], now),
            _render.clip(row["display_name"] or "", 32), shown,
        ]
        if gpu_column:
            line.insert(3, ",".join(row["gpus"]) if row.get("gpus") else "-")
        rows.append(line)
    header = ["RUN ID", "EXPERIMENT", "STATUS", "STARTED", "DURATION", "NAME", "METRICS"]
    if gpu_column:
        header.insert(3, "GPUS")
    click.echo(_render.table(header, rows))


def _gpu_request(row: dict[str, Any]) -> float:
    from ..core.gpus import requested

    return requested((row.get("definition") or {}).get("resources"))


def _status_text(row: dict[str, Any]) -> str:
    """The status, with why a queued run waits when it waits for GPUs."""
    if row["status"] != "Queued" or not _gpu_request(row):
        return row["status"]
    from ..execution.gpus import waiting_for

    ws = _workspace()
    amount = waiting_for(ws.store, ws.config, row)
    if amount is None:
        return row["status"]
    return f"Queued: waiting for {amount:g} GPU{'' if amount == 1 else 's'}"


@cli.command()
@click.argument("run_id", metavar="RUN")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """Show a run's details."""
    run = _get_run(run_id)
    details = run.get_details()
    if as_json:
        _render.echo_json(details)
        return
    from ..core.status import RunStatus

    lines: list[tuple[str, str]] = [
        ("Run", details["runId"]),
        ("Experiment", details["experiment"]),
    ]
    if details.get("displayName"):
        lines.append(("Display name", details["displayName"]))
    lines += [("Type", details["type"]), ("Status", details["status"])]
    if details.get("parentRunId"):
        lines.append(("Parent run", details["parentRunId"]))
    created = _render.epoch(details["createdTimeUtc"])
    start = _render.epoch(details["startTimeUtc"])
    end = _render.epoch(details.get("endTimeUtc"))
    lines.append(("Created", _render.local(created)))
    lines.append(("Started", _render.local(start)))
    if details["status"] in RunStatus.TERMINAL:
        lines.append(("Ended", _render.local(end)))
    if start is not None:
        lines.append(("Duration", _render.duration(start, end, time.time())))
    if "exitCode" in details:
        lines.append(("Exit code", str(details["exitCode"])))
    if details.get("gpus") is not None:
        lines.append(("GPUs", ",".join(details["gpus"]) or "-"))
    error = (details.get("error") or {}).get("error")
    if error:
        lines.append(("Error", f"{error.get('message', '')} [{error.get('code', 'Error')}]"))
    lines.append(("Supervisor", _owner_line(run)))
    lines.append(("Snapshot", details.get("snapshotId") or "-"))
    lines += _render.definition_lines(details.get("runDefinition") or {})
    lines.append(("Tags", _render.pairs(details["tags"])))
    lines.append(("Properties", _render.pairs(details["properties"])))
    lines += _render.dataset_lines(details)
    lines.append(("Files", f"{len(run.get_file_names())} (list them with "
                           f"`runner files {run_id}`)"))
    logs = sorted(details.get("logFiles") or {})
    lines.append(("Log files", ", ".join(logs) if logs else "-"))
    if details.get("system"):
        lines.append(("System", _render.pairs(details["system"])
                      if isinstance(details["system"], dict) else _render.short(details["system"])))
    system_metrics = run.get_system_metrics()
    for name in sorted(system_metrics):
        lines.append((f"System {name}", _render.metric_summary(system_metrics[name])))
    width = max(len(label) for label, _ in lines) + 2
    text = "\n".join(f"{label + ':':<{width}}{value}" for label, value in lines)
    if error and error.get("details"):
        text += "\nError details:\n" + _render.indent(str(error["details"]), "    ")
    click.echo(text)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--name", metavar="NAME", help="Only this metric (shown in full).")
@json_option
def metrics(run_id: str, name: str | None, as_json: bool) -> None:
    """Show a run's metrics: scalars, lists (summarized when long), tables."""
    run = _get_run(run_id)
    values = run.get_metrics(name=name)
    if name is not None and not values:
        from ..core.errors import NotFoundError

        known = ", ".join(sorted(run.get_metrics())) or "none"
        raise NotFoundError(f"run {run_id} has no metric {name!r}; its metrics are: {known}.",
                            run_id=run_id, name=name)
    if as_json:
        _render.echo_json(values)
        return
    if not values:
        click.echo(f"Run {run_id} has no metrics.")
        return
    width = max(len(n) for n in values) + 2
    out: list[str] = []
    for metric in sorted(values):
        value = values[metric]
        if isinstance(value, dict):
            out.append(f"{metric}:")
            out.append(_render.indent(_render.metric_table(value, limit=None if name else 20)))
        elif isinstance(value, list) and name is not None:
            out.append(f"{metric}: {_render.metric_summary(value)}")
            out.extend(f"  {_render.short(v, 60)}" for v in value)
        else:
            out.append(f"{metric:<{width}}{_render.metric_summary(value)}")
    click.echo("\n".join(out))


@cli.command()
@click.argument("run_id", metavar="RUN")
@json_option
def files(run_id: str, as_json: bool) -> None:
    """List a run's files (outputs/, logs/ and uploaded files)."""
    names = _get_run(run_id).get_file_names()
    if as_json:
        _render.echo_json(names)
    elif names:
        click.echo("\n".join(names))
    else:
        click.echo(f"Run {run_id} has no files.")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.argument("name", required=False)
@click.option("--output", "-o", "output_dir", metavar="DIR", default=".",
              help="Folder to write into (default: the current folder); created if needed.")
def download(run_id: str, name: str | None, output_dir: str) -> None:
    """Download a run's file NAME (a file or a folder of them), or all its files."""
    from pathlib import Path

    run = _get_run(run_id)
    out = Path(output_dir)
    if name is None:
        written = run.download_files(output_directory=out)
        if not written:
            click.echo(f"Run {run_id} has no files.")
            return
    else:
        folder = name.replace("\\", "/").strip("/") + "/"
        names = run.get_file_names()
        if name not in names and any(n.startswith(folder) for n in names):
            written = run.download_files(prefix=name, output_directory=out)
        else:
            # download_file makes the folder only once it knows the file exists, so a
            # missing name leaves no empty folder behind.
            written = [run.download_file(name, out / Path(name.replace("\\", "/")).name)]
    click.echo("\n".join(written))


# --------------------------------------------------------------------------- extensions
# ==== EXTRA COMMANDS: modules listed here add commands to `runner` ====

#: Modules that add commands to ``cli`` when they exist.
_EXTRA_COMMAND_MODULES = (
    "runner.cli.submit", "runner.cli.env", "runner.cli.studio", "runner.cli.server",
    "runner.cli.sweep",
    "runner.cli.model",
    "runner.cli.compat",
    "runner.cli.attach",
)


def _register_extra_commands(group: click.Group | None = None) -> None:
    """Add to ``group`` (default: ``cli``) the commands of each module of
    ``_EXTRA_COMMAND_MODULES``.

    A module lists its commands in ``COMMANDS`` (click commands or groups);
    without it, its top-level click commands that are not subcommands of one of
    its groups are added. It may import ``_state``, ``_workspace`` and
    ``_get_run`` from here (``--workspace`` is honoured through them) and must
    keep heavy imports inside its command functions. Every module listed ships
    with runner, so one that is absent (a packaging slip) is a
    :class:`~runner.RunnerError` naming it; any other import error is raised as
    it is, and so is a command name already taken. A command that needs an
    optional extra imports it when it runs and names the extra if it is missing.

    :class:`RunnerGroup` calls this when first needed, not at import: a
    command module may import ``runner.cli.main`` itself.
    """
    import importlib

    target = cli if group is None else group
    for module_name in _EXTRA_COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            from ..core.errors import RunnerError

            raise RunnerError(
                f"the command module {module_name} is missing from this installation of "
                "runner, so some commands are unavailable; reinstall runner "
                "(pip install --force-reinstall runner, or pip install -e . from a checkout)."
            ) from exc
        commands = getattr(module, "COMMANDS", None)
        if commands is None:
            found = [
                value for value in vars(module).values()
                if isinstance(value, click.Command) and value is not target
                and getattr(value.callback, "__module__", None) == module_name
            ]
            nested = {id(sub) for value in found if isinstance(value, click.Group)
                      for sub in value.commands.values()}
            commands = [value for value in found if id(value) not in nested]
        for command in commands:
            taken = target.commands.get(command.name or "")
            if taken is not None and taken is not command:
                raise RuntimeError(
                    f"{module_name} defines a command {command.name!r}, which `runner` "
                    "has already; rename one of them."
                )
            target.add_command(command)
