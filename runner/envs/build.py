"""Builders: turn a spec into a virtualenv at a given folder, output streamed to a log.

Three builders share one narrow interface (``cannot_build(spec) -> reason |
None`` and ``build(spec, base, target, sink)``)::

    UvBuilder          uv venv + uv pip install          fast; when uv is installed
    VirtualenvBuilder  virtualenv (in-process) + pip     always available
    CondaBuilder       conda/mamba create + pip          only when the spec opts in

Builds happen in a temporary folder that the cache renames into place, so
:func:`relocate` rewrites the absolute paths a virtualenv holds (console-script
shebangs, activate scripts, ``pyvenv.cfg``).  Conda environments embed their
prefix in binaries, so :class:`CondaBuilder` says it is not relocatable and is
built in place instead.  Output of every tool goes to the log line by line,
flushed, so a follower sees it as it happens; a failure raises
:class:`EnvironmentBuildError` quoting the tool's last lines.
"""

from __future__ import annotations

import collections
import configparser
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from ..core.errors import EnvironmentBuildError
from .interp import InterpreterInfo

logger = logging.getLogger(__name__)

_IS_WINDOWS = sys.platform == "win32"
_BIN = "Scripts" if _IS_WINDOWS else "bin"
#: Variables that would make a build install somewhere else or see foreign packages.
_DROP_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PIP_USER", "PIP_TARGET",
              "PIP_PREFIX", "PIP_ROOT", "PIP_REQUIRE_VIRTUALENV", "VIRTUAL_ENV", "CONDA_PREFIX",
              "UV_PYTHON", "UV_PROJECT_ENVIRONMENT", "__PYVENV_LAUNCHER__")
TAIL_LINES = 10


@dataclass(frozen=True)
class BuildSpec:
    """What gets installed: the part of an environment that its hash covers."""

    python_version: str | None = None
    pip: tuple[str, ...] = ()
    pip_options: tuple[str, ...] = ()
    conda_packages: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    use_conda: bool = False
    name: str = field(default="", compare=False)

    def option_args(self) -> list[str]:
        """The pip options as argv pieces."""
        return [piece for option in self.pip_options for piece in shlex.split(option)]


class Builder(Protocol):
    """What the cache asks of a builder."""

    name: str
    relocatable: bool  # False: built at its final path (never renamed)

    def cannot_build(self, spec: BuildSpec) -> str | None:
        """Why this builder cannot build ``spec``, or None when it can."""

    def build(self, spec: BuildSpec, base: InterpreterInfo, target: Path,
              sink: LogSink) -> None:
        """Create the environment at ``target``; raise EnvironmentBuildError on failure."""


class LogSink:
    """Writes build output to the run's log as it comes, flushed per line."""

    def __init__(self, log: BinaryIO | None) -> None:
        self.log = log

    @property
    def where(self) -> str:
        """How to name the log in an error message."""
        name = getattr(self.log, "name", None)
        if isinstance(name, str) and not name.startswith("<"):
            return f"Full build log: {name}"
        return "The full build output is above."

    def write(self, data: bytes) -> None:
        """Write raw bytes."""
        if self.log is not None:
            self.log.write(data)
            self.log.flush()

    def line(self, text: str) -> None:
        """Write one line of our own."""
        self.write((text.rstrip("\n") + "\n").encode("utf-8", "replace"))


def build_env() -> dict[str, str]:
    """The environment variables a build tool runs with (pip's own settings kept)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    return env


def run_streamed(argv: list[str], sink: LogSink, what: str, cwd: str | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
    """Run a tool, its stdout+stderr copied to the log line by line.

    Raises:
        EnvironmentBuildError: the tool could not start or exited non-zero.
    """
    sink.line("$ " + " ".join(shlex.quote(a) for a in argv))
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    env = build_env()
    env.update(extra_env or {})
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    except OSError as exc:
        raise EnvironmentBuildError(f"{what} could not start: {exc}. {sink.where}",
                                    tool=argv[0])
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            sink.write(raw)
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                tail.append(text)
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if code != 0:
        quoted = "\n".join("    " + line for line in tail) or "    (no output)"
        raise EnvironmentBuildError(
            f"{what} failed (exit code {code}). Its last lines:\n{quoted}\n"
            f"Fix the package list (name, version, index options) and try again. {sink.where}",
            exit_status=code, tail=list(tail))


def venv_python(env_dir: str | os.PathLike[str]) -> Path:
    """The interpreter of a virtualenv or conda environment folder."""
    env_dir = Path(env_dir)
    if _IS_WINDOWS:  # pragma: no cover - exercised on Windows only
        scripts = env_dir / "Scripts" / "python.exe"
        return scripts if scripts.exists() else env_dir / "python.exe"
    return env_dir / "bin" / "python"


def _pip_install(python: Path, spec: BuildSpec, sink: LogSink) -> None:
    if not spec.pip and not spec.pip_options:
        sink.line("No pip packages to install.")
        return
    argv = [str(python), "-m", "pip", "install", "--no-input", "--no-warn-script-location",
            *spec.option_args(), *spec.pip]
    run_streamed(argv, sink, "pip install")


class VirtualenvBuilder:
    """virtualenv (its Python API, in this process) then one ``pip install``."""

    name = "virtualenv+pip"
    relocatable = True

    def cannot_build(self, spec: BuildSpec) -> str | None:
        """Return why this builder cannot build ``spec``, or None."""
        if spec.use_conda:
            return "the environment opts in to conda"
        return None

    def build(self, spec: BuildSpec, base: InterpreterInfo, target: Path, sink: LogSink) -> None:
        """Create the virtualenv at ``target`` and install the packages."""
        from virtualenv import cli_run

        started = time.monotonic()
        argv = ["--no-periodic-update", "--quiet", "-p", base.executable, str(target)]
        sink.line(f"$ virtualenv {' '.join(shlex.quote(a) for a in argv)}")
        try:
            cli_run(argv, setup_logging=False, env=build_env())
        except (OSError, RuntimeError, ValueError, SystemExit) as exc:  # SystemExit: bad args
            raise EnvironmentBuildError(
                f"virtualenv could not create {target} with Python {base.version} "
                f"({base.executable}): {exc}. {sink.where}", tool="virtualenv")
        sink.line(f"created virtualenv (Python {base.version}) in "
                  f"{time.monotonic() - started:.2f} s")
        _pip_install(venv_python(target), spec, sink)


def find_uv() -> str | None:
    """The uv binary: the ``uv`` Python package's, else ``uv`` on PATH."""
    try:
        from uv import find_uv_bin

        found = find_uv_bin()
        if found and os.path.isfile(found):
            return os.fspath(found)
    except (ImportError, OSError):  # not installed, or installed without its binary
        pass
    return shutil.which("uv")


# pip option -> uv option (None: drop; the option has no meaning for uv)
_UV_OPTIONS = {"-r": "-r", "-c": "-c", "-f": "-f", "-e": "-e", "--index-url": "--index-url",
               "--extra-index-url": "--extra-index-url", "--no-index": "--no-index",
               "--no-deps": "--no-deps", "--only-binary": "--only-binary",
               "--no-binary": "--no-binary", "--trusted-host": "--allow-insecure-host",
               "--pre": "--prerelease=allow", "--prefer-binary": None}


def _pip_config_files() -> list[str]:
    """pip's configuration files, lowest priority first (as pip reads them)."""
    single = os.environ.get("PIP_CONFIG_FILE")
    if single == os.devnull:
        return []
    files = []
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files += [os.path.join(d, "pip", "pip.conf") for d in reversed(xdg_dirs) if d]
    files.append("/etc/pip.conf")
    home = os.path.expanduser("~")
    files.append(os.path.join(home, ".pip", "pip.conf"))
    xdg_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files.append(os.path.join(xdg_home, "pip", "pip.conf"))
    if single:
        files.append(single)
    return [f for f in files if os.path.isfile(f)]


def pip_settings() -> dict[str, str]:
    """pip's effective index settings: config files, then ``PIP_*`` variables."""
    settings: dict[str, str] = {}
    keys = ("index-url", "extra-index-url", "find-links", "no-index", "constraint", "pre",
            "trusted-host", "cert", "proxy")
    for path in _pip_config_files():
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                for key in keys:
                    if parser.has_option(section, key):
                        settings[key] = parser.get(section, key)
    for key in keys:
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value is not None:
            settings[key] = value
    return settings


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def uv_args_from_pip_settings(spec_options: list[str]) -> list[str]:
    """Translate pip's own configuration into uv flags, letting the spec's options win."""
    settings = pip_settings()
    spec_names = {opt.split()[0] for opt in spec_options}
    args: list[str] = []
    if "--no-index" in spec_names or _truthy(settings.get("no-index", "")):
        if "--no-index" not in spec_names:
            args.append("--no-index")
    else:
        if "index-url" in settings and "--index-url" not in spec_names:
            args += ["--index-url", settings["index-url"].strip()]
        for url in settings.get("extra-index-url", "").split():
            args += ["--extra-index-url", url]
    for link in settings.get("find-links", "").split():
        args += ["-f", link]
    for constraint in settings.get("constraint", "").split():
        args += ["-c", constraint]
    if _truthy(settings.get("pre", "")):
        args.append("--prerelease=allow")
    for host in settings.get("trusted-host", "").split():
        args += ["--allow-insecure-host", host]
    return args


def uv_env_from_pip_settings() -> dict[str, str]:
    """pip's ``cert`` and ``proxy`` settings as the variables uv reads (unless already set)."""
    settings, env = pip_settings(), {}
    if settings.get("cert") and "SSL_CERT_FILE" not in os.environ:
        env["SSL_CERT_FILE"] = settings["cert"].strip()
    if settings.get("proxy"):
        for name in ("HTTPS_PROXY", "HTTP_PROXY"):
            if name not in os.environ and name.lower() not in os.environ:
                env[name] = settings["proxy"].strip()
    return env


class UvBuilder:
    """``uv venv`` then ``uv pip install --python <venv python>``, pip's config translated."""

    name = "uv"
    relocatable = True

    def __init__(self, uv: str | None = None) -> None:
        self.uv = uv if uv is not None else find_uv()

    def cannot_build(self, spec: BuildSpec) -> str | None:
        """Return why this builder cannot build ``spec``, or None."""
        if self.uv is None:
            return "uv is not installed (pip install 'runner[uv]' for faster builds)"
        if spec.use_conda:
            return "the environment opts in to conda"
        for option in spec.pip_options:
            if option.split()[0] not in _UV_OPTIONS:
                return f"uv does not support the pip option {option.split()[0]}"
        return None

    def _option_args(self, spec: BuildSpec) -> list[str]:
        args: list[str] = []
        for option in spec.pip_options:
            pieces = shlex.split(option)
            mapped = _UV_OPTIONS[pieces[0]]
            if mapped is not None:
                args += [mapped, *pieces[1:]]
        return args

    def build(self, spec: BuildSpec, base: InterpreterInfo, target: Path, sink: LogSink) -> None:
        """Create the virtualenv at ``target`` and install the packages."""
        assert self.uv is not None
        cwd = str(target.parent)  # not the user's folder: no pyproject.toml is picked up
        extra_env = uv_env_from_pip_settings()
        run_streamed([self.uv, "venv", "--no-project", "--python", base.executable,
                      str(target)], sink, "uv venv", cwd=cwd, extra_env=extra_env)
        if not spec.pip and not spec.pip_options:
            sink.line("No pip packages to install.")
            return
        args = [*uv_args_from_pip_settings(list(spec.pip_options)), *self._option_args(spec)]
        if "--extra-index-url" in args:
            # pip picks the best version across all indexes; uv by default stops at the
            # first index that has the project. Keep pip's meaning.
            args += ["--index-strategy", "unsafe-best-match"]
        argv = [self.uv, "pip", "install", "--python", str(venv_python(target)), *args,
                *spec.pip]
        run_streamed(argv, sink, "uv pip install", cwd=cwd, extra_env=extra_env)


def find_conda() -> str | None:
    """micromamba, mamba or conda on PATH (first found)."""
    for name in ("micromamba", "mamba", "conda"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CondaBuilder:
    """``conda create`` (or mamba/micromamba) then ``pip install``; built in place."""

    name = "conda"
    relocatable = False  # conda embeds the prefix in binaries: never renamed

    def __init__(self, conda: str | None = None) -> None:
        self.conda = conda if conda is not None else find_conda()

    def cannot_build(self, spec: BuildSpec) -> str | None:
        """Return why this builder cannot build ``spec``, or None."""
        if not spec.use_conda:
            return "the environment does not opt in to conda (python.use_conda)"
        if self.conda is None:
            return "no conda, mamba or micromamba on PATH"
        return None

    def build(self, spec: BuildSpec, base: InterpreterInfo, target: Path, sink: LogSink) -> None:
        """Create the conda environment at ``target`` and pip-install the pip packages."""
        assert self.conda is not None
        version = spec.python_version or ".".join(base.version.split(".")[:2])
        argv = [self.conda, "create", "--yes", "--prefix", str(target), f"python={version}",
                "pip", *spec.conda_packages]
        for channel in spec.channels:
            argv += ["-c", channel]
        run_streamed(argv, sink, f"{Path(self.conda).name} create", cwd=str(target.parent))
        _pip_install(venv_python(target), spec, sink)


def relocate(built: Path, final: Path) -> int:
    """Rewrite absolute paths of ``built`` to ``final`` before the folder is renamed.

    Only text files in ``bin/`` (console scripts, activate scripts) and
    ``pyvenv.cfg`` hold the virtualenv's own path; ``.pyc`` files name their
    source but Python fixes that on import.

    Returns:
        How many files were rewritten.
    """
    olds = {os.fspath(built), os.path.realpath(built)}
    new = os.fspath(final).encode()
    files = [built / "pyvenv.cfg"]
    bin_dir = built / _BIN
    if bin_dir.is_dir():
        files += sorted(bin_dir.iterdir())
    count = 0
    for path in files:
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > 4_000_000:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        changed = data
        for old in olds:
            changed = changed.replace(old.encode(), new)
        if changed != data and b"\0" not in data:
            mode = path.stat().st_mode
            path.write_bytes(changed)
            os.chmod(path, mode)
            count += 1
    return count


def freeze(env_dir: Path) -> list[str]:
    """The installed distributions as ``name==version``, sorted, read from ``*.dist-info``.

    Reads metadata files directly: no interpreter started (``pip freeze`` costs ~0.5 s).
    """
    site_dirs = list(env_dir.glob("lib/python*/site-packages")) + \
        list(env_dir.glob("Lib/site-packages"))
    found: dict[str, str] = {}
    for site in site_dirs:
        for meta_dir in site.glob("*.dist-info"):
            name = version = None
            try:
                with open(meta_dir / "METADATA", encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        if not line.strip():
                            break
                        if line.startswith("Name:"):
                            name = line[5:].strip()
                        elif line.startswith("Version:"):
                            version = line[8:].strip()
            except OSError:
                continue
            if name and version:
                found[name] = version
    return [f"{n}=={found[n]}" for n in sorted(found, key=str.lower)]
