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


class _History:
    """v1's ``run_config.history``: output collection and snapshots are always on here."""

    def __init__(self) -> None:
        self.output_collection = True
        self.snapshot_project = True
        self.directories_to_watch = ["logs"]


class RunConfiguration:
    """The run's settings: script, arguments, target, environment, variables, limits.

    As in Azure ML v1 it comes with an ``Environment("default-environment")``, so
    ``run_config.environment.python.user_managed_dependencies = True`` works. Left
    untouched, that default means the submitting interpreter as it is (runner's
    default); any change to it (packages, user-managed, an interpreter) is honoured.

    Args:
        script: the script, relative to the source directory.
        arguments: its command-line arguments.
        framework: ``"Python"``; other values are refused at submit (set
            ``distributed_job_config`` on the ScriptRunConfig instead).
        communicator: ``"None"``; as ``framework``.
        conda_dependencies: a CondaDependencies for the default environment.
        command: a command to run instead of script + arguments.
    """

    def __init__(self, script: str | None = None, arguments: list[Any] | None = None,
                 framework: str | None = None, communicator: str | None = None,
                 conda_dependencies: Any = None, _history_enabled: Any = None,
                 _path: Any = None, _name: Any = None, command: Any = None) -> None:
        from .environment import Environment
        from .runconfig_v1 import DockerConfiguration

        self.script = script
        self.arguments: list[Any] = list(arguments or [])
        self.command: str | list[str] = command or ""
        self.target: Any = LOCAL
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.environment: Environment | None = Environment("default-environment")
        self.environment._runner_default = True  # type: ignore[attr-defined]
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.environment_variables: dict[str, str] = {}
        self.max_run_duration_seconds: float | None = None
        self.node_count = 1
        self.docker = DockerConfiguration()
        self.history = _History()
        #: A PyTorchConfiguration or MpiConfiguration (ScriptRunConfig sets it).
        self.distributed_job_config: Any = None
        #: Accepted as empty; anything put in them is refused at submit by name.
        self.data: dict[str, Any] = {}
        self.data_references: dict[str, Any] = {}
        self.output_data: dict[str, Any] = {}
        self.datacaches: list[Any] = []
        self.credential_passthrough = False
        #: What a run asks for: ``{"cpu": 1, "gpu": 0, "memory": bytes}`` (a Ray job's
        #: ``entrypoint_num_cpus/gpus/memory``); a local run gets ``gpu`` GPUs of its own.
        self.resources: dict[str, float] = {}

    def __repr__(self) -> str:
        return (f"<RunConfiguration script={self.script!r} target={self.target!r} "
                f"environment={getattr(self.environment, 'name', None)!r}>")


def _is_default_env(env: Any) -> bool:
    """True for the untouched ``default-environment`` a RunConfiguration starts with."""
    if env is None or not getattr(env, "_runner_default", False):
        return False
    from .environment import Environment

    return env.to_dict() == Environment("default-environment").to_dict()


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
        distributed_job_config: a PyTorchConfiguration or MpiConfiguration: several
            local processes (see ``runner.api.runconfig_v1``).
        resume_from: refused (no DataPath checkpoints here).
        max_run_duration_seconds: cancel the run after this many seconds.
        command: a command (list or string) to run instead of script + arguments.
        resources: what the run needs, e.g. ``{"gpu": 2}``: on this machine, the GPUs it
            is given (a fraction below 1 shares one GPU); same as ``run_config.resources``.
        docker_runtime_config: a DockerConfiguration; ``use_docker=True`` runs without
            Docker after one notice.

    Raises:
        UsageError: ``resume_from``, an argument v1 did not have, or a wrong
            ``docker_runtime_config`` type.
    """

    def __init__(self, source_directory: str | os.PathLike[str], script: str | None = None,
                 arguments: list[Any] | None = None,
                 run_config: RunConfiguration | None = None,
                 _telemetry_values: Any = None,
                 compute_target: Any = None, environment: Environment | None = None,
                 distributed_job_config: Any = None, resume_from: Any = None,
                 max_run_duration_seconds: float | None = None,
                 command: str | list[Any] | None = None,
                 resources: dict[str, float] | None = None,
                 docker_runtime_config: Any = None, **kwargs: Any) -> None:
        if kwargs:
            raise UsageError(f"ScriptRunConfig got unsupported arguments: "
                             f"{', '.join(sorted(kwargs))}.")
        if resume_from is not None:
            raise UsageError(
                "ScriptRunConfig(resume_from=...) is not supported: runner has no DataPath "
                "checkpoints. Pass the checkpoint's path in arguments and load it in the "
                "script.", field="resume_from")
        self.source_directory = os.fspath(source_directory)
        self.script = script
        self.arguments = list(arguments) if arguments is not None else None
        self.command = command
        conflicts = []
        if run_config is not None:
            for label, given, current in (
                ("compute_target", compute_target, run_config.target),
                ("environment", environment,
                 None if _is_default_env(run_config.environment) else run_config.environment),
                ("max_run_duration_seconds", max_run_duration_seconds,
                 run_config.max_run_duration_seconds),
                ("distributed_job_config", distributed_job_config,
                 run_config.distributed_job_config),
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
        if distributed_job_config is not None and "distributed_job_config" not in conflicts:
            self.run_config.distributed_job_config = distributed_job_config
        if docker_runtime_config is not None:
            from .runconfig_v1 import DockerConfiguration

            if not isinstance(docker_runtime_config, DockerConfiguration):
                raise UsageError(
                    f"docker_runtime_config must be a DockerConfiguration, not "
                    f"{type(docker_runtime_config).__name__}.")
            self.run_config.docker = docker_runtime_config

    @property
    def distributed_job_config(self) -> Any:
        """The run's distributed job config (None for one process)."""
        return self.run_config.distributed_job_config

    @property
    def docker_runtime_config(self) -> Any:
        """The run's DockerConfiguration."""
        return self.run_config.docker

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
    #: How several processes are started (None: one process).
    distributed: Any = None
    #: The Docker settings asked for, as recorded (nothing runs in a container).
    docker: dict[str, Any] | None = None
    #: One-line notices for the submitter (e.g. Docker asked for, not used).
    notices: list[str] = field(default_factory=list)

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
    notices: list[str] = []
    target = resolve_target(rc.target, compute_targets, strict=False, notices=notices)
    distributed = _check_v1_fields(rc, target)
    environment = None if _is_default_env(rc.environment) else rc.environment
    docker = _docker(rc, rc.environment, notices)
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
        environment=environment,
        environment_variables=variables,
        max_run_duration_seconds=limit,
        resources=resources,
        distributed=distributed,
        docker=docker,
        notices=notices,
    )


def _check_v1_fields(rc: RunConfiguration, target: Any) -> Any:
    """Refuse, by name, the v1 settings that would otherwise be silently dropped."""
    from .runconfig_v1 import distributed_plan

    plan = distributed_plan(getattr(rc, "distributed_job_config", None))
    if plan is not None and target != LOCAL:
        raise UsageError("distributed_job_config is supported on local runs only, not on "
                         f"compute target {getattr(target, 'label', target)!r}.")
    framework = str(getattr(rc, "framework", "Python") or "Python")
    wanted = getattr(getattr(rc, "distributed_job_config", None), "framework", "Python")
    if framework.lower() not in ("python", wanted.lower()):
        raise UsageError(
            f"run_config.framework = {framework!r} is not supported; leave it 'Python' and "
            f"set distributed_job_config (e.g. PyTorchConfiguration(process_count=2)) on "
            f"the ScriptRunConfig.", field="framework")
    communicator = str(getattr(rc, "communicator", "None") or "None")
    if communicator.lower() != "none" and plan is None:
        raise UsageError(
            f"run_config.communicator = {communicator!r} is not supported without a "
            f"distributed job; set distributed_job_config on the ScriptRunConfig.",
            field="communicator")
    node_count = getattr(rc, "node_count", 1)
    if node_count not in (None, 1):
        raise UsageError(
            f"run_config.node_count = {node_count!r} is not supported: runner runs on one "
            f"machine. Use node_count = 1 (several processes: distributed_job_config).",
            field="node_count")
    for name in ("data", "data_references", "output_data", "datacaches"):
        if getattr(rc, name, None):
            raise UsageError(
                f"run_config.{name} is not supported; pass paths to the script in "
                f"arguments instead.", field=name)
    return plan


def _docker(rc: RunConfiguration, environment: Any, notices: list[str]) -> dict[str, Any] | None:
    """The Docker settings to record; a notice when Docker is asked for."""
    docker_config = getattr(rc, "docker", None)
    section = getattr(environment, "docker", None) if environment is not None else None
    asked = bool(getattr(docker_config, "use_docker", False)) or \
        bool(getattr(section, "enabled", False))
    if not asked and section is None:
        return None
    recorded: dict[str, Any] = {}
    if docker_config is not None and hasattr(docker_config, "to_dict"):
        recorded.update(docker_config.to_dict())
    if section is not None and hasattr(section, "to_dict"):
        recorded.update(section.to_dict())
    if asked:
        image = getattr(section, "base_image", None)
        notices.append(
            "Docker was asked for (use_docker / docker.enabled); runner runs no containers: "
            "the run goes ahead on this machine" +
            (f", and the base image {image} is not used." if image else "."))
    return recorded



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


def resolve_target(value: Any, configured: dict[str, Any] | None, strict: bool = True,
                   notices: list[str] | None = None) -> Any:
    """What a run's ``compute_target`` means: ``"local"`` or a target object.

    Args:
        value: ``None``/``"local"``, a target object, a configured name, or an object
            with a ``name`` (as Azure ML's ComputeTarget handles have).
        configured: the workspace's ``compute_targets``.
        strict: a name no target has is an error; otherwise (v1 drivers naming their
            Azure cluster) it runs locally and a notice is added to ``notices``.
        notices: where such a notice goes.

    Raises:
        UsageError: with ``strict``, a name no target of the workspace has.
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
    if isinstance(name, str) and (getattr(value, "runs_locally", False) or not strict):
        if notices is not None:
            notices.append(f"compute target {name!r} runs on this machine (it is not a "
                           f"target of .runner/config.yaml).")
        return LOCAL
    names = ", ".join(sorted(known)) or "none configured"
    raise UsageError(
        f"compute target {value!r} is not known; use 'local' (the default), a "
        f"RayCluster(...), or a name from compute_targets in .runner/config.yaml "
        f"({names}).", target=str(value))
