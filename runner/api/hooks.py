"""What the API needs from the layers above it, filled in by ``runner/__init__``.

The API layer never imports execution, targets or the studio, not even inside a
function. Where a ``Run`` or an ``Experiment`` needs one of them (submitting a
config, waiting for a run, cancelling it, drawing it in a notebook, a compute
target named in ``config.yaml``), it calls a hook. ``runner/__init__`` registers
each hook when the package is imported, with a small function that imports its
layer only when called, so ``import runner`` stays light.

Hooks:
    submit(experiment, config, tags=None, **kwargs) -> Run
    wait(run, show_output, wait_post_processing, raise_on_error) -> dict
    cancel(workspace, row) -> None
    repr_html(run) -> str
    run_url(paths, run_id) -> str | None
    context_run(context) -> Run   the Run of a submitted script (local, or one that
        logs through a tracking server): made where both ``Run`` and what uses it
        (``Experiment``, ``RemoteRun``) can be imported
    workspace(path=None) -> Workspace   the workspace at ``path``, else found from the
        current folder (``Workspace.from_config``), for API modules that ``workspace``
        itself leads to (the registry's, through ``Run``)
    target_types: ``config.yaml`` ``type:`` value -> from_config(name, entry, source)
    run_types: a run ``type`` -> a function giving the ``Run`` subclass for it (a sweep's
        parent is a ``HyperDriveRun``), as v1 rehydrated runs by type
    owned_types: run types whose cancel goes to an owner process (the ``cancel`` hook)
"""

from __future__ import annotations

from typing import Any, Callable

_hooks: dict[str, Callable[..., Any]] = {}

#: ``compute_targets`` ``type:`` value -> a function building the target object.
target_types: dict[str, Callable[[str, dict[str, Any], str], Any]] = {}

#: run ``type`` -> a function returning the Run subclass that opens it.
run_types: dict[str, Callable[[], type]] = {}

#: Run types an owner process ends (cancel asks it through the ``cancel`` hook).
owned_types: set[str] = {"script"}


def run_class(run_type: str, default: type) -> type:
    """The class that opens runs of ``run_type`` (``default`` when none is registered)."""
    factory = run_types.get(run_type)
    return factory() if factory is not None else default


def register(name: str, function: Callable[..., Any]) -> None:
    """Fill the hook ``name`` (the layer above does this once, at import)."""
    _hooks[name] = function


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the hook ``name``.

    Raises:
        RuntimeError: nothing registered it (``runner`` itself was not imported,
            which only happens when a module of the package is run on its own).
    """
    try:
        function = _hooks[name]
    except KeyError:
        raise RuntimeError(f"runner hook {name!r} is not registered; import runner first.")
    return function(*args, **kwargs)
