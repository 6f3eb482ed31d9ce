"""``runner env``: list, build, show and prune managed environments from the shell.

A click group attached to the main CLI with ``cli.add_command(env)``.  It calls
the same functions the API and the run supervisor use (``Environment.get``,
``prepare_environment``, the cache's ``prune``) and only renders; errors
(:class:`runner.RunnerError`) propagate to the main CLI's single error
boundary.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..core.paths import WorkspacePaths


def _workspace_paths() -> WorkspacePaths:
    """The workspace the ``runner`` command works on (``--workspace``,
    ``RUNNER_WORKSPACE``, else the nearest ``.runner/`` walking up).

    Raises:
        WorkspaceNotFound: there is none.
    """
    from .main import _workspace

    return _workspace().paths


def _human_size(n: int | None) -> str:
    from ..snapshot.snapshots import human_size

    return "-" if n is None else human_size(n)


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    delta = time.time() - ts
    if delta < 120:
        return "just now"
    if delta < 7200:
        return f"{delta / 60:.0f} min ago"
    if delta < 2 * 86400:
        return f"{delta / 3600:.0f} h ago"
    if delta < 30 * 86400:
        return f"{delta / 86400:.0f} days ago"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def _load(target: str, paths: WorkspacePaths, version: str | None = None):
    """An Environment from a name (registered or curated) or a file (YAML or requirements)."""
    from ..api.environment import Environment
    from ..envs.schema import load_yaml_file

    path = Path(target)
    if path.suffix.lower() in (".yml", ".yaml", ".txt") or os.sep in target or path.is_file():
        if path.suffix.lower() == ".txt":
            return Environment.from_pip_requirements(path.stem, path)
        data = load_yaml_file(path)
        if isinstance(data, dict) and "dependencies" in data and "python" not in data:
            return Environment.from_conda_specification(str(data.get("name") or path.stem), path)
        return Environment.from_yaml(path)
    return Environment.get(paths, target, version=version)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


@click.group("env")
def env() -> None:
    """Managed environments: list, build, show, prune."""


@env.command("list")
def list_cmd() -> None:
    """List environments usable by name and the builds in the cache."""
    from ..api.environment import Environment
    from ..core.errors import RunnerError
    from ..envs import cache as _cache
    from ..envs.prepare import environment_hash
    from ..envs.registry import names as registered_names

    paths = _workspace_paths()
    registered = set(registered_names(paths))
    entries = {e.env_hash: e for e in _cache.list_entries(paths)}
    rows: list[list[str]] = []
    shown: set[str] = set()
    for name, environment in Environment.list(paths).items():
        kind = "registered" if name in registered else "curated"
        try:
            env_hash = environment_hash(environment, paths)
        except RunnerError as exc:
            rows.append([name, environment.version or "-", kind, "(cannot build)", "-",
                         str(exc).split(".")[0]])
            continue
        if env_hash is None:
            rows.append([name, environment.version or "-", kind, "(user-managed)", "-", "-"])
            continue
        entry = entries.get(env_hash)
        shown.add(env_hash)
        rows.append([name, environment.version or "-", kind, env_hash[:12],
                     _human_size(entry.size()) if entry else "not built",
                     _ago(entry.last_used) if entry else "-"])
    for env_hash, entry in entries.items():
        if env_hash not in shown:
            label = entry.record.get("name") or "-"
            rows.append([f"({label})", "-", "build", env_hash[:12], _human_size(entry.size()),
                         _ago(entry.last_used)])
    click.echo(_table(rows, ["NAME", "VERSION", "KIND", "HASH", "SIZE", "LAST USED"]))


@env.command("build")
@click.argument("target")
@click.option("--version", "version", default=None, help="Registered version (default: latest).")
@click.option("--builder", type=click.Choice(["auto", "uv", "pip"]), default="auto",
              show_default=True, help="uv when installed, else virtualenv + pip.")
def build_cmd(target: str, version: str | None, builder: str) -> None:
    """Build environment TARGET (a name, or a .yml / requirements .txt file) into the cache."""
    from ..envs.prepare import prepare_environment, validate_environment

    paths = _workspace_paths()
    environment = _load(target, paths, version)
    validate_environment(environment, paths)
    click.echo(f"Preparing environment {environment.name!r}...")
    sys.stdout.flush()
    started = time.monotonic()
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    resolved = prepare_environment(environment, paths, out, builder=builder)
    elapsed = time.monotonic() - started
    if not resolved.managed:
        click.echo(f"{environment.name!r} is user-managed: nothing to build "
                   f"(runs with {resolved.python}).")
        return
    state = "already built" if resolved.cache_hit else f"built in {elapsed:.1f} s"
    click.echo(f"Environment {environment.name!r} {state}: {resolved.env_hash}\n"
               f"  python: {resolved.python}")


@env.command("show")
@click.argument("target")
@click.option("--version", "version", default=None, help="Registered version (default: latest).")
def show_cmd(target: str, version: str | None) -> None:
    """Show environment TARGET: its definition, hash, and what its build installed."""
    import yaml

    from ..core.errors import RunnerError
    from ..envs import cache as _cache
    from ..envs.prepare import environment_hash, redact_env_vars
    from ..envs.schema import normalize_env_dict

    paths = _workspace_paths()
    environment = _load(target, paths, version)
    data: dict[str, Any] = normalize_env_dict(environment.to_dict())
    data["environment_variables"] = redact_env_vars(data["environment_variables"])
    click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    try:
        env_hash = environment_hash(environment, paths)
    except RunnerError as exc:
        click.echo(f"hash: cannot be computed: {exc}")
        return
    if env_hash is None:
        click.echo("build: none (user-managed)")
        return
    click.echo(f"hash: {env_hash}")
    entry = _cache.lookup(paths, env_hash)
    if entry is None:
        click.echo(f"build: not built (runner env build {target})")
        return
    record = entry.record
    click.echo(f"build: {entry.path}\n  builder: {record.get('builder')}, python "
               f"{record.get('python')}, {_human_size(entry.size())}, built "
               f"{_ago(record.get('created'))} in {record.get('build_seconds')} s, last used "
               f"{_ago(entry.last_used)}")
    click.echo("  installed:")
    for line in record.get("freeze") or []:
        click.echo(f"    {line}")


@env.command("prune")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), default=None,
              metavar="DAYS", help="Only builds not used for DAYS days (default: every unused).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
def prune_cmd(older_than: float | None, dry_run: bool) -> None:
    """Remove cached builds that no live run is using (and leftovers of failed builds)."""
    from ..envs import cache as _cache

    paths = _workspace_paths()
    result = _cache.prune(paths, older_than_days=older_than, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    for env_hash in result.removed:
        click.echo(f"{verb} {env_hash}")
    for env_hash in result.kept_in_use:
        click.echo(f"Kept {env_hash} (in use by a live run or being built)")
    click.echo(f"{verb} {len(result.removed)} environment(s), {_human_size(result.freed)}.")
