"""``runner attach RUN``: follow a Ray run again after the process that followed it died.

A thin command over :func:`runner.targets.ray_owner.attach`.
"""

from __future__ import annotations

import os

import click


@click.command()
@click.argument("run_id")
@click.option("--ray-token-env", metavar="VAR",
              help="The environment variable holding the Ray dashboard's token, if it has one.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the run to end and print its status.")
def attach(run_id: str, ray_token_env: str | None, wait: bool) -> None:
    """Re-attach to the Ray job of RUN_ID and finish its record from Ray's final status.

    For a run on a Ray cluster whose owner process was killed (or whose machine
    slept or rebooted): the job went on without it, and its record stays as it
    was until an owner follows the job again.
    """
    from ..core.errors import UsageError
    from ..targets.ray_owner import attach as _attach
    from .main import _get_run, _workspace

    token = None
    if ray_token_env:
        token = os.environ.get(ray_token_env)
        if not token:
            raise UsageError(f"the environment variable {ray_token_env} holds no token.",
                             variable=ray_token_env)
    ws = _workspace()
    pid = _attach(ws, run_id, token=token, mode="exec")
    click.echo(f"Following run {run_id} again (owner pid {pid}).", err=True)
    if wait:
        details = _get_run(run_id).wait_for_completion(raise_on_error=False)
        click.echo(details["status"])


COMMANDS = [attach]
