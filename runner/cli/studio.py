"""``runner studio``: serve the workspace's web studio.

Why a module of its own: the command needs the optional ``runner[studio]``
extra (Starlette, uvicorn), imported only when the command runs, so
``runner runs`` and ``import runner`` never pay for it. Registered through
``runner.cli.main._EXTRA_COMMAND_MODULES``.
"""

from __future__ import annotations

import click

from .main import _workspace


def _require_studio_extra() -> None:
    """Raise a UsageError naming the extra when Starlette or uvicorn is missing."""
    from ..core.errors import UsageError

    missing = []
    for module in ("starlette", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UsageError(
            f"the studio needs {' and '.join(missing)}; install them with "
            "`pip install 'runner[studio]'`."
        )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any address other than loopback needs --token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--token", envvar="RUNNER_STUDIO_TOKEN", metavar="TOKEN",
              help="Every request must carry this token (env: RUNNER_STUDIO_TOKEN). "
                   "Required off loopback.")
@click.option("--open", "open_browser", is_flag=True, help="Open the studio in a browser.")
def studio(host: str, port: int, token: str | None, open_browser: bool) -> None:
    """Serve a web studio of the workspace: experiments, runs, live logs, charts."""
    from ..studio.server import check_binding

    check_binding(host, token)  # before anything else: the clearest error first
    _require_studio_extra()
    from ..studio.server import StudioServer

    ws = _workspace()
    server = StudioServer(ws, host=host, port=port, token=token or None)
    url = server.url + "/"
    visit = url + (f"?token={token}" if token else "")

    def started() -> None:
        click.echo(f"runner studio: serving {ws.root} at {visit}  (Ctrl-C to stop)")
        if open_browser:
            import webbrowser

            webbrowser.open(visit)

    server.serve(on_started=started)  # returns on Ctrl-C or SIGTERM, studio.json removed
    click.echo("runner studio: stopped.")


COMMANDS = [studio]
