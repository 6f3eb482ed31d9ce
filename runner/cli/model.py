"""``runner model``: list, show, download and delete registered models from the shell.

A click group registered through ``runner.cli.main._EXTRA_COMMAND_MODULES``. It
calls the same API users call (``Model.list``, ``Model(ws, name, version=)``,
``model.download``, ``model.delete``) and only renders; errors propagate to the
main CLI's single error boundary.
"""

from __future__ import annotations

import click

from . import render as _render
from .main import _workspace, json_option


def _split(spec: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION``."""
    from ..core.errors import UsageError

    name, sep, version = spec.rpartition(":")
    if not sep:
        return spec, None
    if not version.isdigit():
        raise UsageError(f"{spec!r}: give NAME or NAME:VERSION (VERSION a number).")
    return name, int(version)


def _open(spec: str):
    from ..api.model import Model

    name, version = _split(spec)
    return Model(_workspace(), name, version=version)


@click.group("model")
def model() -> None:
    """Registered models: list, show, download, delete."""


@model.command("list")
@click.option("--name", "-n", metavar="NAME", help="Only versions of this model.")
@click.option("--tag", "tags", metavar="KEY[=VALUE]", multiple=True,
              help="Only models with this tag (and value); repeatable.")
@click.option("--latest", is_flag=True, help="Only the latest version of each name.")
@json_option
def list_models(name: str | None, tags: tuple[str, ...], latest: bool, as_json: bool) -> None:
    """List model versions, newest first."""
    from ..api.model import Model

    wanted = [[k, v] if sep else k for k, sep, v in (t.partition("=") for t in tags)]
    models = Model.list(_workspace(), name=name, tags=wanted or None, latest=latest)
    if as_json:
        _render.echo_json([m.serialize() for m in models])
        return
    rows = [[m.name, str(m.version), _render.local(m.created_time.timestamp()),
             m.run_id or "-", str(len(m.get_files())), _render.pairs(m.tags)] for m in models]
    if not rows:
        click.echo("No models registered (register one with run.register_model or "
                   "Model.register).")
        return
    click.echo(_render.table(["NAME", "VERSION", "REGISTERED", "RUN", "FILES", "TAGS"], rows))


@model.command("show")
@click.argument("spec", metavar="NAME[:VERSION]")
@json_option
def show_model(spec: str, as_json: bool) -> None:
    """Show a model version (the latest when no version is given) and its files."""
    from ..snapshot.snapshots import human_size

    found = _open(spec)
    data = found.serialize()
    if as_json:
        _render.echo_json(data)
        return
    lines = [("Model", found.id), ("Registered", _render.local(found.created_time.timestamp())),
             ("Run", found.run_id or "-"), ("Experiment", found.experiment_name or "-"),
             ("Description", found.description or "-"), ("Framework",
             " ".join(filter(None, [found.model_framework, found.model_framework_version]))
             or "-"), ("Tags", _render.pairs(found.tags)),
             ("Properties", _render.pairs(found.properties)), ("Path", found.url)]
    width = max(len(label) for label, _ in lines) + 2
    click.echo("\n".join(f"{label + ':':<{width}}{value}" for label, value in lines))
    click.echo("Files:")
    for f in data["files"]:
        click.echo(f"  {human_size(int(f['size'])):>10}  {f['path']}")


@model.command("download")
@click.argument("spec", metavar="NAME[:VERSION]")
@click.option("--output", "-o", "target", metavar="DIR", default=".", show_default=True,
              help="Folder to write the model's files into.")
@click.option("--exist-ok", is_flag=True, help="Replace files that are there already.")
def download_model(spec: str, target: str, exist_ok: bool) -> None:
    """Copy a model version's files into a folder."""
    path = _open(spec).download(target, exist_ok=exist_ok)
    click.echo(path)


@model.command("delete")
@click.argument("spec", metavar="NAME:VERSION")
def delete_model(spec: str) -> None:
    """Delete one model version (give the version: nothing is deleted by name alone)."""
    from ..core.errors import UsageError

    name, version = _split(spec)
    if version is None:
        raise UsageError(f"give the version to delete, as {name}:VERSION (see `runner model "
                         f"list --name {name}`).")
    found = _open(spec)
    found.delete()
    click.echo(f"Deleted model {found.id}.")


COMMANDS = [model]
