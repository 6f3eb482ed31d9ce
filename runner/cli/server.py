"""``runner server``: serve the workspace's store over HTTP for runs on other machines.

A thin command over :mod:`runner.server`; Starlette and uvicorn are imported
only when it runs (the ``server`` extra).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", default=8766, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: a free one).")
@click.option("--token", metavar="TOKEN",
              help="Require 'Authorization: Bearer TOKEN' on every request.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Read the token from FILE (keeps it out of the process list).")
@click.option("--certfile", type=click.Path(dir_okay=False), metavar="PEM",
              help="Serve HTTPS with this certificate (chain); needs --keyfile.")
@click.option("--keyfile", type=click.Path(dir_okay=False), metavar="PEM",
              help="The private key of --certfile.")
@click.option("--insecure", is_flag=True,
              help="Allow a non-loopback --host without TLS (a trusted network only).")
def server(host: str, port: int, token: str | None, token_file: str | None,
           certfile: str | None, keyfile: str | None, insecure: bool) -> None:
    """Serve this workspace to runs on other machines (e.g. a Ray cluster).

    Runs log their metrics, errors and files here: give its address as the
    compute target's tracking_uri. Listening beyond loopback needs a token and
    TLS (--certfile/--keyfile), or --insecure.
    """
    from ..core.errors import UsageError
    from .main import _workspace

    if token and token_file:
        raise click.UsageError("give --token or --token-file, not both.")
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise UsageError(f"the token file {token_file} is empty.", path=token_file)
    missing = []
    for module in ("starlette", "uvicorn"):  # imported lazily, deep inside serve()
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UsageError(f"`runner server` needs {' and '.join(missing)}; install them with "
                         "`pip install 'runner[server]'`.")
    from ..server import check_bind, serve
    from ..server.running import check_tls
    ws = _workspace()
    check_tls(certfile, keyfile)
    check_bind(host, token, tls=bool(certfile), insecure=insecure)
    scheme = "https" if certfile else "http"

    def ready(bound: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        auth = "token required" if token else "no token: loopback only"
        click.echo(f"Serving workspace {ws.root} at {scheme}://{shown}:{bound} ({auth}). "
                   "Ctrl-C stops.", err=True)

    serve(ws, host=host, port=port, token=token, log_level="warning", on_ready=ready,
          certfile=certfile, keyfile=keyfile, insecure=insecure)


COMMANDS = [server]
