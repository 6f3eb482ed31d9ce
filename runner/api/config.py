"""What to run: ``ScriptRunConfig`` and ``RunConfiguration``, as in Azure ML v1.

These are plain settings holders. ``resolve_config`` is the pure decision of
what a submission means (script or command, arguments as strings, environment,
variables, time limit); it reports conflicts instead of silently ignoring them.
"""

from __future__ import annotations

import math
import os
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import UsageError

if TYPE_CHECKING:
    from .environment import Environment

LOCAL = "local"


class RunConfiguration:
    """The run's settings: script, arguments, target, environment, variables, limits."""

    def __init__(self, script: str | None = None, arguments: list[Any] | None = None,
                 framework: str = "Python", communicator: str = "None") -> None:
        self.script = script
        self.arguments: list[Any] = list(arguments or [])
        self.command: str | list[str] = ""
        self.target: Any = LOCAL
        self.framework = framework
        self.communicator = communicator
        self.environment: Environment | None = None
        self.environment_variables: dict[str, str] = {}
        self.max_run_duration_seconds: float | None = None
        self.node_count = 1
        #: What a run asks for: ``{"cpu": 1, "gpu": 0, "memory": bytes}`` (a Ray job's
        #: ``entrypoint_num_cpus/gpus/memory``); a local run gets ``gpu`` GPUs of its own.
        self.resources: dict[str, float] = {}

    def __repr__(self) -> str:
        return (f"<RunConfiguration script={self.script!r} target={self.target!r} "
                f"environment={getattr(self.environment, 'name', None)!r}>")


class ScriptRunConfig:
    """A script (or command) in a source directory, and how to run it.

    Args:
        source_directory: the folder captured as the run's snapshot.
        script: path of the script, relative to ``source_directory``.
        arguments: command-line arguments (non-strings are converted with ``str``).
        run_config: a RunConfiguration; when given, the other settings come from it.
        compute_target: ``"local"`` (default), a :class:`runner.RayCluster`, or the
            name of a target under ``compute_targets`` in ``config.yaml``.
        environment: the Environment to run in (default: this interpreter as it is).
        max_run_duration_seconds: cancel the run after this many seconds.
        command: a command (list or string) to run instead of script + arguments.
        resources: what the run needs, e.g. ``{"gpu": 2}``: on this machine, the GPUs it
            is given (a fraction below 1 shares one GPU); same as ``run_config.resources``.
    """

    def __init__(self, source_directory: str | os.PathLike[str], script: str | None = None,
                 arguments: list[Any] | None = None,
                 run_config: RunConfiguration | None = None,
                 compute_target: Any = None, environment: Environment | None = None,
                 max_run_duration_seconds: float | None = None,
                 command: str | list[Any] | None = None,
                 resources: dict[str, float] | None = None, **kwargs: Any) -> None:
        self.source_directory = os.fspath(source_directory)
        self.script = script
        self.arguments = list(arguments) if arguments is not None else None
        self.command = command
        conflicts = []
        if run_config is not None:
            for label, given, current in (
                ("compute_target", compute_target, run_config.target),
                ("environment", environment, run_config.environment),
                ("max_run_duration_seconds", max_run_duration_seconds,
                 run_config.max_run_duration_seconds),
            ):
                if given is not None and current not in (None, LOCAL, given):
                    conflicts.append(label)
            self._conflicts = conflicts
            self.run_config = run_config
        else:
            self._conflicts = []
            self.run_config = RunConfiguration()
        if compute_target is not None and not conflicts:
            self.run_config.target = compute_target
        if environment is not None and "environment" not in conflicts:
            self.run_config.environment = environment
        if max_run_duration_seconds is not None and "max_run_duration_seconds" not in conflicts:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        if resources is not None:
            self.run_config.resources = resources

    @property
    def environment(self) -> Environment | None:
        return self.run_config.environment

    @environment.setter
    def environment(self, value: Environment | None) -> None:
        self.run_config.environment = value

    def __repr__(self) -> str:
        what = self.command if self.command else self.script
        return f"<ScriptRunConfig {what!r} in {self.source_directory!r}>"


@dataclass
class ResolvedConfig:
    """What a submission runs, decided before anything is written."""

    source_directory: str
    script: str | None
    arguments: list[str]
    command: list[str] | None
    target: Any  # "local", or a target object (runner.targets)
    environment: Any
    environment_variables: dict[str, str] = field(default_factory=dict)
    max_run_duration_seconds: float | None = None
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def target_name(self) -> str:
        """``local``, or how the run record names the remote target."""
        return self.target if isinstance(self.target, str) else self.target.label


def resolve_config(config: ScriptRunConfig,
                   compute_targets: dict[str, Any] | None = None) -> ResolvedConfig:
    """Decide what ``config`` runs; every conflict or bad value is a UsageError.

    ``compute_targets`` are the workspace's named targets (``config.yaml``).
    """
    if not isinstance(config, ScriptRunConfig):
        raise UsageError(
            f"submit() takes a ScriptRunConfig, not {type(config).__name__}.")
    rc = config.run_config
    if config._conflicts:
        raise UsageError(
            "ScriptRunConfig got " + ", ".join(config._conflicts) + " both as an argument and "
            "(differently) in run_config; set each in one place only.")
    script = config.script if config.script is not None else rc.script
    arguments = config.arguments if config.arguments is not None else rc.arguments
    command = config.command if config.command else (rc.command or None)
    if command and script:
        raise UsageError(
            "ScriptRunConfig got both command and script; command replaces script and "
            "arguments, give one of them.")
    if command and arguments:
        raise UsageError(
            "ScriptRunConfig got both command and arguments; put the arguments in the command.")
    if not command and not script:
        raise UsageError("ScriptRunConfig needs a script (or a command) to run.")
    argv: list[str] | None = None
    if command:
        if isinstance(command, str):
            argv = shlex.split(command)
        else:
            argv = [_stringify(a, "command") for a in command]
        if not argv:
            raise UsageError("ScriptRunConfig command is empty.")
    args = [_stringify(a, "arguments") for a in (arguments or [])]
    target = resolve_target(rc.target, compute_targets)
    resources = _resources(getattr(rc, "resources", None) or {})
    variables = {}
    for key, value in (rc.environment_variables or {}).items():
        name = _stringify(key, "environment variable names")
        if not name or "=" in name:
            raise UsageError(f"environment variable name {name!r} must be non-empty and "
                             "without '='.")
        variables[name] = _stringify(value, f"environment variable {name}")
    limit = rc.max_run_duration_seconds
    if limit is not None:
        if (isinstance(limit, bool) or not isinstance(limit, (int, float))
                or not math.isfinite(limit) or limit <= 0):
            # NaN compares false with everything, so without the isfinite test it
            # would pass `limit <= 0` and silently turn the limit off.
            raise UsageError(
                f"max_run_duration_seconds must be a positive, finite number of seconds, "
                f"not {limit!r}.")
    return ResolvedConfig(
        source_directory=config.source_directory,
        script=script.replace("\\", "/") if script else None,
        arguments=args,
        command=argv,
        target=target,
        environment=rc.environment,
        environment_variables=variables,
        max_run_duration_seconds=limit,
        resources=resources,
    )


def _resources(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise UsageError(f"run_config.resources must be a dict like {{'cpu': 1}}, not {value!r}.")
    for key, amount in value.items():
        if key not in ("cpu", "gpu", "memory"):
            raise UsageError(f"run_config.resources has {key!r}; use 'cpu', 'gpu' and "
                             "'memory' (bytes).")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise UsageError(f"run_config.resources[{key!r}] must be a number >= 0, "
                             f"not {amount!r}.")
    return dict(value)


def _stringify(value: Any, what: str) -> str:
    if isinstance(value, str):
        return _exec_safe(value, what)
    if isinstance(value, (list, dict, set, tuple)):
        raise UsageError(
            f"{what} must be single values (strings or numbers); got a "
            f"{type(value).__name__}: {value!r}. Pass each element separately.")
    try:
        text = str(value)
    except Exception as exc:
        raise UsageError(
            f"{what}: a {type(value).__name__} value cannot be turned into a string "
            f"({exc}); pass a string.") from exc
    return _exec_safe(text, what)


def _exec_safe(text: str, what: str) -> str:
    """``text`` if the operating system can pass it to a program, else a UsageError.

    Refused here, at submit, rather than by ``exec`` in the supervisor after the
    run was recorded.
    """
    if "\0" in text:
        raise UsageError(f"{what}: {text!r} contains a NUL byte, which no program can "
                         "receive; remove it.")
    try:
        os.fsencode(text)
    except UnicodeEncodeError as exc:
        raise UsageError(f"{what}: {text!r} cannot be encoded for the operating system "
                         f"({exc.reason}); remove the character at {exc.start}.") from None
    return text


def resolve_target(value: Any, configured: dict[str, Any] | None) -> Any:
    """What a run's ``compute_target`` means: ``"local"`` or a target object.

    Args:
        value: ``None``/``"local"``, a target object, a configured name, or an object
            with a ``name`` (as Azure ML's ComputeTarget handles have).
        configured: the workspace's ``compute_targets``.

    Raises:
        UsageError: a name no target of the workspace has.
    """
    if value is None or value == LOCAL:
        return LOCAL
    if getattr(value, "is_compute_target", False):
        return value
    name = value if isinstance(value, str) else getattr(value, "name", None)
    if name == LOCAL:
        return LOCAL
    known = configured or {}
    if isinstance(name, str) and name in known:
        return known[name]
    names = ", ".join(sorted(known)) or "none configured"
    raise UsageError(
        f"compute target {value!r} is not known; use 'local' (the default), a "
        f"RayCluster(...), or a name from compute_targets in .runner/config.yaml "
        f"({names}).", target=str(value))
