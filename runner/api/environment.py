"""Environment definitions as Azure ML SDK v1 users write them.

``Environment``, ``PythonSection``, ``DockerSection`` and ``CondaDependencies``
keep the names and defaults of ``azureml.core`` so existing scripts port
unchanged, with one difference that matters: a managed environment
(``python.user_managed_dependencies = False``, the default) is a virtualenv
built with pip (or uv) unless it lists conda packages and a conda (conda, mamba,
micromamba) is on PATH; without one, conda packages are installed with pip under
their pip names (:mod:`runner.envs.conda_pip`).

These classes only hold and validate data; building and caching live in
:mod:`runner.envs.prepare`, registered versions in ``.runner/environments/``
(:mod:`runner.envs.registry`), curated definitions in ``environments/*.yml``.
The file format of ``from_yaml`` / ``save`` is documented in
``environments/README.md``.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from ..core.errors import EnvironmentNotFound, EnvironmentSpecError, UsageError
from ..core.paths import WorkspacePaths
from ..envs import schema as _schema

__all__ = ["CondaDependencies", "DockerSection", "Environment", "PythonSection"]

#: What ``Environment(name)`` sets, as Azure ML did (and that variable reaches the script).
DEFAULT_ENVIRONMENT_VARIABLES = {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}


def _requirement_name(spec: str) -> str:
    """The normalised project name of a requirement string (``Foo_Bar>=1`` -> ``foo-bar``)."""
    head = re.split(r"[\s\[<>=!~;@]", spec.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", head).lower()


class CondaDependencies:
    """The packages of a managed environment: Python version, pip packages and options.

    Named after Azure ML's class and reading the same conda files; conda
    packages build a conda environment when a conda is on PATH, else are installed
    with pip (renames mapped).

    Args:
        conda_dependencies_file_path: a conda ``environment.yml`` to load.
    """

    def __init__(self, conda_dependencies_file_path: str | os.PathLike[str] | None = None
                 ) -> None:
        self._python_version: str | None = None
        self._pip: list[str] = []
        self._pip_options: list[str] = []
        self._conda: list[str] = []
        self._channels: list[str] = []
        self._variables: dict[str, str] = {}
        if conda_dependencies_file_path is not None:
            path = Path(conda_dependencies_file_path)
            data = _schema.load_yaml_file(path)
            py, variables = _schema.conda_spec_to_python(data, str(path), path.resolve().parent)
            self._set_python(py)
            self._variables = variables

    @staticmethod
    def create(pip_indexurl: str | None = None, pip_packages: list[str] | None = None,
               conda_packages: list[str] | None = None, python_version: str | None = None,
               pin_sdk_version: bool = True) -> CondaDependencies:
        """Make a definition from package lists.

        Args:
            pip_indexurl: an index URL, added as ``--index-url``.
            pip_packages: requirement strings (``"six==1.16.0"``).
            conda_packages: conda packages (conda when on PATH, else pip).
            python_version: ``"3.11"``; None means the Python runner runs on.
            pin_sdk_version: accepted for compatibility; ignored.

        Returns:
            The new definition.
        """
        cd = CondaDependencies()
        cd.set_python_version(python_version)
        if pip_indexurl:
            cd.set_pip_option(f"--index-url {pip_indexurl}")
        for package in pip_packages or []:
            cd.add_pip_package(package)
        for package in conda_packages or []:
            cd.add_conda_package(package)
        return cd

    @property
    def python_version(self) -> str | None:
        """The requested Python version (``"3.11"``), or None for runner's own."""
        return self._python_version

    @property
    def pip_packages(self) -> list[str]:
        """Requirement strings, in the order added (a copy)."""
        return list(self._pip)

    @property
    def pip_options(self) -> list[str]:
        """pip option lines such as ``--index-url URL`` or ``-r /abs/requirements.txt``."""
        return list(self._pip_options)

    @property
    def conda_packages(self) -> list[str]:
        """Conda packages (conda builds them when on PATH; else pip, renames mapped)."""
        return list(self._conda)

    @property
    def conda_channels(self) -> list[str]:
        """Conda channels (used when conda builds the environment)."""
        return list(self._channels)

    def set_python_version(self, version: str | None) -> None:
        """Request a Python version (``"3.11"``), or None for the one runner runs on.

        Raises:
            EnvironmentSpecError: not a version number.
        """
        self._python_version = _schema.check_python_version(version)

    def add_pip_package(self, pip_package: str) -> None:
        """Add a requirement (``"six==1.16.0"``, ``"./pkg"``), replacing one of the same name.

        Raises:
            EnvironmentSpecError: empty, or an option line that pip would not accept.
        """
        if not isinstance(pip_package, str) or not pip_package.strip():
            raise EnvironmentSpecError(f"A pip package must be a non-empty string, "
                                       f"not {pip_package!r}.")
        if pip_package.strip().startswith("-"):
            self.set_pip_option(pip_package)
            return
        # local paths ("./pkg", "dist/x.whl") are made absolute against the cwd now
        spec = _schema.split_pip_entries([pip_package.strip()], Path.cwd())[0][0]
        self.remove_pip_package(_requirement_name(spec))
        self._pip.append(spec)

    def remove_pip_package(self, pip_package: str) -> None:
        """Remove every requirement for the project ``pip_package`` (if any)."""
        name = _requirement_name(pip_package)
        self._pip = [p for p in self._pip if _requirement_name(p) != name]

    def set_pip_option(self, pip_option: str) -> None:
        """Add a pip option (``"--no-index"``, ``"-f ./wheels"``); relative paths use the cwd.

        Raises:
            EnvironmentSpecError: an option runner does not pass on.
        """
        option = _schema.normalize_pip_option(pip_option, Path.cwd())
        if option not in self._pip_options:
            self._pip_options.append(option)

    def add_conda_package(self, conda_package: str) -> None:
        """Add a conda package (conda on PATH builds it; else pip, renames mapped)."""
        if conda_package not in self._conda:
            self._conda.append(conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        """Remove a conda package given exactly as it was added."""
        self._conda = [c for c in self._conda if c != conda_package]

    def add_channel(self, channel: str) -> None:
        """Add a conda channel."""
        if channel not in self._channels:
            self._channels.append(channel)

    def serialize_to_string(self) -> str:
        """This definition as a conda ``environment.yml``."""
        import yaml

        deps: list[Any] = []
        deps.append(f"python={self._python_version}" if self._python_version else "python")
        deps.append("pip")
        deps.extend(self._conda)
        pip = [*self._pip_options, *self._pip]
        if pip:
            deps.append({"pip": pip})
        data: dict[str, Any] = {"name": "project_environment", "dependencies": deps}
        if self._channels:
            data["channels"] = list(self._channels)
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`serialize_to_string` to ``path`` (atomically) and return it."""
        return _write_atomically(Path(path), self.serialize_to_string())

    def _python_fields(self) -> dict[str, Any]:
        return {"version": self._python_version, "pip": list(self._pip),
                "pip_options": list(self._pip_options), "conda_packages": list(self._conda),
                "channels": list(self._channels)}

    def _set_python(self, py: dict[str, Any]) -> None:
        self._python_version = py["version"]
        self._pip = list(py["pip"])
        self._pip_options = list(py["pip_options"])
        self._conda = list(py["conda_packages"])
        self._channels = list(py["channels"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CondaDependencies) and \
            self._python_fields() == other._python_fields()

    def __repr__(self) -> str:
        return (f"<CondaDependencies python={self._python_version or 'default'} "
                f"pip={self._pip!r}>")


class PythonSection:
    """How the script's Python is provided.

    Attributes:
        user_managed_dependencies: True runs ``interpreter_path`` as it is; False
            (the default) builds a cached virtualenv from ``conda_dependencies``.
        interpreter_path: the interpreter of a user-managed environment, a path or
            a name looked up on PATH (default ``python``).
        conda_dependencies: what a managed environment installs.
        use_conda: require conda/mamba/micromamba (default False: used when on PATH
            and there are conda packages).
    """

    def __init__(self) -> None:
        self.user_managed_dependencies: bool = False
        self.interpreter_path: str = "python"
        self.conda_dependencies: CondaDependencies = CondaDependencies()
        self.use_conda: bool = False

    def __repr__(self) -> str:
        kind = "user-managed" if self.user_managed_dependencies else "managed"
        return f"<PythonSection {kind} interpreter_path={self.interpreter_path!r}>"


class ContainerRegistry:
    """v1's ``docker.base_image_registry``: recorded with the run, never contacted."""

    def __init__(self) -> None:
        self.address: str | None = None
        self.username: str | None = None
        self.password: str | None = None


class DockerSection:
    """Kept so Azure ML code that sets ``env.docker`` runs; runner starts no containers.

    ``enabled = True`` is accepted: the run goes ahead on this machine after one
    notice. The other settings are recorded in the run's definition (the
    registry password is never recorded) and have no effect.

    Attributes:
        enabled: Docker asked for (a notice at submit; no container).
        base_image: recorded.
        base_dockerfile: recorded.
        base_image_registry: recorded (address and user name).
        shared_volumes: recorded.
        shm_size: recorded.
        arguments: recorded.
        gpu_support: recorded.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = None
        self.base_dockerfile: str | None = None
        self.base_image_registry = ContainerRegistry()
        self.shared_volumes = True
        self.shm_size = "2g"
        self.arguments: list[str] = []
        self.gpu_support = False

    def to_dict(self) -> dict[str, Any]:
        """The settings as recorded with a run (no password)."""
        registry = self.base_image_registry
        return {"enabled": bool(self.enabled), "baseImage": self.base_image,
                "baseDockerfile": self.base_dockerfile,
                "baseImageRegistry": {"address": getattr(registry, "address", None),
                                      "username": getattr(registry, "username", None)},
                "sharedVolumes": self.shared_volumes, "shmSize": self.shm_size,
                "arguments": list(self.arguments or [])}


def _write_atomically(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _workspace_paths(workspace: Any) -> WorkspacePaths:
    if isinstance(workspace, WorkspacePaths):
        return workspace
    paths = getattr(workspace, "paths", None)
    if isinstance(paths, WorkspacePaths):
        return paths
    raise UsageError(f"Expected a runner Workspace (or WorkspacePaths), not "
                     f"{type(workspace).__name__}.")


class Environment:
    """A named, versioned definition of the Python a run executes with.

    Args:
        name: the environment's name (a string, or None).

    Raises:
        TypeError: ``name`` is not a string or None (as in Azure ML).
    """

    def __init__(self, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Environment name must be a str or None, not {type(name).__name__}")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = dict(DEFAULT_ENVIRONMENT_VARIABLES)

    # ----------------------------------------------------------------- constructors
    @staticmethod
    def from_pip_requirements(name: str, file_path: str | os.PathLike[str],
                              pip_version: str | None = None) -> Environment:
        """A managed environment installing the lines of a requirements file.

        The file is read now (its lines replace the pip list, as in Azure ML);
        ``-r``/``-c`` references it holds are kept and hashed by content.

        Args:
            name: the environment's name.
            file_path: the requirements file.
            pip_version: accepted for compatibility; ignored (the venv's pip is used).

        Raises:
            EnvironmentSpecError: the file is missing or holds an unsupported option.
        """
        packages, options = _schema.read_requirements_file(file_path)
        env = Environment(name)
        env.python.conda_dependencies._pip = packages
        env.python.conda_dependencies._pip_options = options
        return env

    @staticmethod
    def from_conda_specification(name: str, file_path: str | os.PathLike[str]) -> Environment:
        """A managed environment from a conda ``environment.yml``.

        ``python=X.Y`` and the ``pip:`` list are honoured, ``variables:`` become
        environment variables; other conda packages are built by conda when one is
        on PATH, else installed with pip under their pip names.

        Raises:
            EnvironmentSpecError: the file is missing, malformed (file and line
                named) or not a conda specification.
        """
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(file_path)
        env.environment_variables.update(env.python.conda_dependencies._variables)
        return env

    @staticmethod
    def from_yaml(path: str | os.PathLike[str]) -> Environment:
        """Load a definition in the project's schema (``environments/README.md``).

        ``name`` defaults to the file name without ``.yml``; relative paths in
        pip options are taken from the file's folder.

        Raises:
            EnvironmentSpecError: missing file, malformed YAML (file and line named),
                unknown keys or wrong types.
        """
        path = Path(path)
        data = _schema.load_yaml_file(path)
        if isinstance(data, dict) and data.get("name") is None:
            data = {**data, "name": path.stem}
        data = _schema.normalize_env_dict(data, source=str(path), base_dir=path.resolve().parent)
        return Environment._from_canonical(data)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Environment:
        """Rebuild an environment from :meth:`to_dict` output.

        Raises:
            EnvironmentSpecError: the dict is not a valid definition.
        """
        return Environment._from_canonical(_schema.normalize_env_dict(data))

    @staticmethod
    def _from_canonical(data: dict[str, Any]) -> Environment:
        env = Environment(data["name"])
        env.version = data["version"]
        py = data["python"]
        env.python.user_managed_dependencies = py["user_managed_dependencies"]
        env.python.interpreter_path = py["interpreter_path"]
        env.python.use_conda = py["use_conda"]
        env.python.conda_dependencies._set_python(py)
        env.environment_variables = dict(data["environment_variables"])
        return env

    # ------------------------------------------------------------------ serialising
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict in the project's schema (what a run definition stores).

        Secret-looking variables are included in clear: redact with
        ``runner.envs.prepare.redact_env_vars`` before showing or storing them.
        """
        py = self.python
        return {
            "name": self.name,
            "version": self.version,
            "python": {
                "user_managed_dependencies": py.user_managed_dependencies,
                "interpreter_path": py.interpreter_path,
                **py.conda_dependencies._python_fields(),
                "use_conda": py.use_conda,
            },
            "environment_variables": dict(self.environment_variables),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write this definition as YAML in the project's schema (validated first).

        Raises:
            EnvironmentSpecError: the definition is invalid (nothing is written).
        """
        import yaml

        data = _schema.normalize_env_dict(self.to_dict())
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        return _write_atomically(Path(path), text)

    def clone(self, new_name: str) -> Environment:
        """A copy under another name, unregistered (``version`` None)."""
        env = copy.deepcopy(self)
        env.name = new_name
        env.version = None
        return env

    # ------------------------------------------------------------ workspace storage
    def register(self, workspace: Any) -> Environment:
        """Store this definition in the workspace as a new version.

        Args:
            workspace: a runner Workspace (or its ``WorkspacePaths``).

        Returns:
            A new Environment with its registered ``version``.

        Raises:
            EnvironmentSpecError: invalid definition or name (``AzureML``/``Microsoft``
                prefixes are reserved), or a preset version already used differently.
        """
        from ..envs import registry as _registry

        paths = _workspace_paths(workspace)
        data = _schema.normalize_env_dict(self.to_dict())
        if not paths.runner_dir.is_dir():
            raise UsageError(f"No workspace at {paths.root} (no .runner folder); create it "
                             f"first with `runner init`.")
        return Environment._from_canonical(_registry.register(paths, data))

    @staticmethod
    def get(workspace: Any, name: str, version: str | None = None,
            label: str | None = None) -> Environment:
        """A registered environment (latest version by default) or a curated one by name.

        Registered environments take precedence over curated ones of the same name.
        Azure ML's curated names (``AzureML-Minimal``, ``AzureML-sklearn-1.5``..., any
        case) resolve to a definition of the same intent; a notice, and the returned
        environment's ``maps_to``, say which.

        Raises:
            EnvironmentNotFound: unknown name or version; the message lists what exists.
            EnvironmentSpecError: ``label`` given (labels are not supported).
        """
        from ..envs import curated as _curated
        from ..envs import registry as _registry

        if label is not None:
            raise EnvironmentSpecError(
                "Environment labels are not supported by runner; ask for a version instead."
                if version is None else "Give either version or label, not both.")
        paths = _workspace_paths(workspace)
        version = None if version is None else str(version)
        data = _registry.load(paths, name, version)
        if data is None:
            data = _curated.load_curated(name)
            if data is not None and version is not None and data["version"] != version:
                raise EnvironmentNotFound(
                    f"Curated environment {name!r} has no version {version!r}; it has version "
                    f"{data['version']}. Leave out version= to get it.", name=name,
                    version=version)
        if data is None:
            azure = _curated.load_azure_curated(name)
            if azure is not None:
                from .notices import notice

                data, maps_to = azure
                if version is not None and str(version) != data["version"]:
                    maps_to += f" Version {version} is not kept; this is its only version."
                notice(maps_to)
                env = Environment._from_canonical(data)
                env.maps_to = maps_to  # type: ignore[attr-defined]
                return env
        if data is None:
            registered = _registry.names(paths)
            curated = _curated.curated_names()
            raise EnvironmentNotFound(
                f"Environment {name!r} is neither registered in {paths.root} nor curated. "
                f"Registered: {', '.join(registered) or 'none'}; curated: "
                f"{', '.join(curated) or 'none'}. Register it with env.register(ws) or use "
                f"one of these names.", name=name, version=version)
        return Environment._from_canonical(data)

    @staticmethod
    def list(workspace: Any) -> dict[str, Environment]:
        """Every environment usable by name: ``{name: latest Environment}``, curated ones
        (runner's and Azure ML's names, each with ``maps_to``) included."""
        from ..envs import curated as _curated
        from ..envs import registry as _registry

        paths = _workspace_paths(workspace)
        found: dict[str, Environment] = {}
        for name in _curated.azure_curated_names():
            azure = _curated.load_azure_curated(name)
            if azure is not None:
                found[name] = Environment._from_canonical(azure[0])
                found[name].maps_to = azure[1]  # type: ignore[attr-defined]
        for name in _curated.curated_names():
            data = _curated.load_curated(name)
            if data is not None:
                found[name] = Environment._from_canonical(data)
        for name in _registry.names(paths):
            data = _registry.load(paths, name)
            if data is not None:
                found[name] = Environment._from_canonical(data)
        return dict(sorted(found.items()))

    # ------------------------------------------------------------------------ misc
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Environment) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        kind = "user-managed" if self.python.user_managed_dependencies else "managed"
        version = f" version={self.version}" if self.version else ""
        return f"<Environment {self.name!r}{version} {kind}>"
