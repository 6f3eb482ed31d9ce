"""``runner sweep``: look at a HyperDrive sweep and resume one whose owner died.

A module of its own so ``runner runs`` never imports the sweep machinery; registered
through ``runner.cli.main._EXTRA_COMMAND_MODULES``.
"""

from __future__ import annotations

import click

from .main import _get_run, _workspace, json_option


@click.group()
def sweep() -> None:
    """HyperDrive sweeps: show their trials, resume one whose owner died."""


def _sweep_run(run_id: str):
    from ..core.errors import UsageError

    run = _get_run(run_id)
    if run.type != "hyperdrive":
        raise UsageError(f"run {run_id} is a {run.type} run, not a sweep (a HyperDrive "
                         "parent run).", run_id=run_id)
    return run


@sweep.command()
@click.argument("run_id", metavar="PARENT")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """Show a sweep's trials: status, best primary metric, sampled values."""
    run = _sweep_run(run_id)
    if as_json:
        from .render import echo_json

        echo_json({"id": run.id, "status": run.get_status(),
                   "primary_metric": run.get_primary_metric_config(), "trials": run.trials()})
        return
    from ..studio.render_sweep import sweep_text

    click.echo(sweep_text(run))


@sweep.command()
@click.argument("run_id", metavar="PARENT")
@click.option("--wait", "wait", is_flag=True, help="Wait for the sweep to end, printing "
              "each trial as it ends.")
def resume(run_id: str, wait: bool) -> None:
    """Go on with a sweep whose owner process died, from the trials it recorded."""
    from ..sweep.submit import resume_sweep

    run = resume_sweep(_workspace(), run_id)
    click.echo(f"Resumed sweep {run.id}: {len(run.trials())} trials recorded so far.")
    if wait:
        run.wait_for_completion(show_output=True, raise_on_error=False)


COMMANDS = [sweep]
