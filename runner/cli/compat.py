"""``runner compat``: make ``import azureml.core`` work in this interpreter.

A v1 driver or notebook imports ``azureml.core``. ``runner compat install``
writes one file, ``runner-azureml-compat.pth``, into this interpreter's
site-packages (or the user site with ``--user``). Python runs its one line at
start-up: it adds a finder at the END of ``sys.meta_path`` that answers only
for ``azureml`` and only after the normal path search found nothing. So
``import azureml`` loads runner's compatibility package (``runner/compat``)
only when no real ``azureml-core`` is anywhere on ``sys.path``, whatever the
order of site folders; the real one always wins. ``sys.path`` is not changed.
``runner compat uninstall`` removes the file; ``runner compat status`` says
which ``azureml`` an ``import`` would load.

Submitted scripts need none of this: the launch shim puts the same folder at
the end of their path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

PTH_NAME = "runner-azureml-compat.pth"

#: The .pth line (one line; Python runs lines starting with "import" at start-up).
_PTH_LINE = (
    "import sys, importlib.machinery as _m; sys.meta_path.append(type('RunnerAzuremlCompat', "
    "(), {{'find_spec': staticmethod(lambda name, path=None, target=None, _d={folder!r}, "
    "_f=_m.PathFinder.find_spec: _f(name, [_d]) if name == 'azureml' else None)}})())\n"
)


def compat_dir() -> Path:
    """The folder holding runner's ``azureml`` package."""
    return Path(__file__).resolve().parent.parent / "compat"


def _site_dir(user: bool) -> Path:
    if user:
        import site

        return Path(site.getusersitepackages())
    import sysconfig  # here, not at import: `runner submit` loads this module too

    return Path(sysconfig.get_paths()["purelib"])


def _which_azureml() -> tuple[str | None, bool]:
    """Where a fresh interpreter finds ``azureml.core`` (None: nowhere), and whether it
    is runner's."""
    code = ("import importlib.util as u; s = u.find_spec('azureml.core'); "
            "import azureml; print(s.origin if s else ''); "
            "print(getattr(azureml, 'RUNNER_COMPAT', False))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    if proc.returncode != 0:
        return None, False
    lines = proc.stdout.splitlines()
    return (lines[0] or None), lines[1:2] == ["True"]


@click.group()
def compat() -> None:
    """The azureml compatibility package for v1 drivers and notebooks."""


@compat.command("install")
@click.option("--user", is_flag=True, help="Write into the user site-packages instead.")
def install(user: bool) -> None:
    """Make `import azureml.core` load runner's v1 names in this interpreter.

    Writes runner-azureml-compat.pth into site-packages; a real azureml-core,
    when installed, still wins.
    """
    from ..core.errors import UsageError

    folder = _site_dir(user)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PTH_NAME).write_text(_PTH_LINE.format(folder=str(compat_dir())),
                                       encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {folder / PTH_NAME}: {exc.strerror}; try "
                         f"`runner compat install --user`.", path=str(folder)) from exc
    click.echo(f"wrote {folder / PTH_NAME}: `import azureml` falls back to {compat_dir()}")
    origin, ours = _which_azureml()
    if origin and not ours:
        click.echo(f"note: a real azureml-core is installed ({origin}); it is imported "
                   f"first, so runner's names are not used in this interpreter.")


@compat.command("uninstall")
@click.option("--user", is_flag=True, help="Remove from the user site-packages instead.")
def uninstall(user: bool) -> None:
    """Remove runner-azureml-compat.pth."""
    path = _site_dir(user) / PTH_NAME
    if path.exists():
        path.unlink()
        click.echo(f"removed {path}")
    else:
        click.echo(f"nothing to remove: {path} does not exist")


@compat.command("status")
def status() -> None:
    """Say which azureml a fresh interpreter imports."""
    origin, ours = _which_azureml()
    if origin is None:
        click.echo("azureml.core is not importable; run `runner compat install`.")
    elif ours:
        click.echo(f"azureml.core is runner's: {origin}")
    else:
        click.echo(f"azureml.core is a real azureml-core: {origin}")


COMMANDS = [compat]
