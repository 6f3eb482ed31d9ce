"""Managed environments: what the submit side checks and what the run supervisor prepares.

Two calls, one on each side of a run::

    validate_environment(env, paths)            at submit, before anything is written:
                                                every error that needs no build
    prepare_environment(env, paths, log)        in the run's Preparing step: the
        -> ResolvedEnvironment                  interpreter to run (cached or built)

``env`` is a :class:`runner.Environment`, its ``to_dict()`` form, or None (the
submitting interpreter as it is).  User-managed environments
(``python.user_managed_dependencies = True``) run ``python.interpreter_path``
unchanged; managed ones get a virtualenv built once per content hash and
cached under ``.runner/envs/`` (see :mod:`runner.envs.cache`).

The submodules, lowest first: ``_schema`` (definitions as data), ``_interp``
(interpreters), ``_lock`` (locks, leases), ``_build`` (builders), ``_cache``
(the cache), ``_registry`` and ``_curated`` (named definitions).  Only the
standard library is imported here; virtualenv, psutil and yaml are imported by
the functions that need them.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .schema import normalize_env_dict

if TYPE_CHECKING:
    from .build import BuildSpec
from ..core.errors import EnvironmentNotFound, EnvironmentSpecError
from ..core.paths import WorkspacePaths

__all__ = [
    "ResolvedEnvironment",
    "acquire_lease",
    "build_spec",
    "canonical",
    "environment_hash",
    "prepare_environment",
    "redact_env_vars",
    "release_lease",
    "validate_environment",
]


_SECRET_RE = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)


@dataclass(frozen=True)
class ResolvedEnvironment:
    """What a run executes with, as decided in its Preparing step.

    Attributes:
        python: the interpreter to run the script with (absolute path).
        env_vars: variables to set for the script: the environment's own, plus
            ``VIRTUAL_ENV`` and ``PATH`` (its ``bin`` first) for a managed one.
        env_hash: the cache key of a managed environment; None when user-managed.
        cache_hit: the managed environment was already built.
        freeze: installed distributions (``name==version``) of a managed environment.
        managed: True when runner built (or reused) the environment.
    """

    python: str
    env_vars: dict[str, str]
    env_hash: str | None
    cache_hit: bool
    freeze: list[str] | None
    managed: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy, secret-looking variables redacted."""
        data = asdict(self)
        data["env_vars"] = redact_env_vars(self.env_vars)
        return data


def redact_env_vars(env_vars: dict[str, str]) -> dict[str, str]:
    """Return a copy whose values are ``***`` where the name looks secret.

    A name looks secret when it contains TOKEN, SECRET, PASSWORD, PASSWD, KEY
    or CREDENTIAL, in any case (``HF_TOKEN``, ``aws_secret_access_key``...).
    """
    return {k: ("***" if _SECRET_RE.search(k) else v) for k, v in env_vars.items()}


def canonical(env: Any) -> dict[str, Any]:
    """The validated canonical dict of an Environment or of its ``to_dict()`` form.

    Raises:
        EnvironmentSpecError: not an environment, or an invalid definition.
    """
    if isinstance(env, dict):
        return normalize_env_dict(env)
    to_dict = getattr(env, "to_dict", None)
    if to_dict is None:
        raise EnvironmentSpecError(
            f"An environment must be a runner.Environment (or its to_dict()), not "
            f"{type(env).__name__}.")
    return normalize_env_dict(to_dict())


def release_lease(paths: WorkspacePaths, env_hash: str, run_id: str) -> None:
    """Drop run ``run_id``'s lease on environment ``env_hash`` (see :func:`acquire_lease`)."""
    from .lock import release_lease as release

    release(paths, env_hash, run_id)


def build_spec(data: dict[str, Any]) -> BuildSpec:
    """The install part of a canonical dict."""
    from .build import BuildSpec

    py = data["python"]
    return BuildSpec(python_version=py["version"], pip=tuple(py["pip"]),
                     pip_options=tuple(py["pip_options"]),
                     conda_packages=tuple(py["conda_packages"]), channels=tuple(py["channels"]),
                     use_conda=py["use_conda"], name=data.get("name") or "")


def _cache_dir(paths: WorkspacePaths) -> Path | None:
    return paths.tmp if paths.runner_dir.is_dir() else None


def effective_python(data: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """What a managed build really installs: the ``python`` section after conda
    packages are given to conda (on PATH) or mapped to pip, and ``azureml-*``
    packages are left out (runner provides ``azureml``).

    Returns:
        ``(python section, notices for the submitter, lines for the build log)``.
    """
    from .build import find_conda
    from .conda_pip import pip_for_managed

    py = dict(data["python"])
    name = data.get("name")
    notices: list[str] = []
    if py["conda_packages"] and not py["use_conda"] and find_conda() is not None:
        py["use_conda"] = True
        notices.append(f"environment {name!r}: conda packages are built with "
                       f"{find_conda()} (a conda environment, cached by content).")
    conda_to_pip = [] if py["use_conda"] else list(py["conda_packages"])
    pip, mapped, left_out = pip_for_managed(list(py["pip"]), conda_to_pip)
    if conda_to_pip:
        py["conda_packages"], py["channels"] = [], []
        notices.append(
            f"environment {name!r}: no conda on PATH, so its conda packages are installed "
            f"with pip ({', '.join(conda_to_pip)})" +
            ("; mapped: " + "; ".join(mapped) if mapped else "") + ".")
    if left_out:
        notices.append(f"environment {name!r} leaves out: " + "; ".join(left_out) + ".")
    py["pip"] = pip
    log = [*(f"conda -> pip: {m}" for m in mapped), *(f"left out: {m}" for m in left_out)]
    return py, notices, log


def _check_managed(data: dict[str, Any], paths: WorkspacePaths):
    """Every check of a managed definition that needs no build.

    Returns ``(spec, base, notices, log lines)``.
    """
    from .interp import current, find_python_like_conda

    name = data.get("name")
    py, notices, log = effective_python(data)
    from .build import find_conda

    if py["use_conda"] and find_conda() is None:
        raise EnvironmentSpecError(
            f"Environment {name!r} sets python.use_conda, but no conda, mamba or micromamba is "
            f"on PATH. Install one (e.g. micromamba), or move the conda packages to the pip "
            f"list and set use_conda to false.")
    for option in py["pip_options"]:
        pieces = shlex.split(option)
        if pieces[0] in ("-r", "-c", "-f", "-e") and len(pieces) > 1:
            value = pieces[1]
            if "://" in value or value.startswith("file:") or "+" in value.split("/")[0]:
                continue
            if not os.path.exists(value):
                what = {"-r": "Requirements file", "-c": "Constraints file",
                        "-f": "Find-links folder", "-e": "Editable project"}[pieces[0]]
                raise EnvironmentSpecError(
                    f"{what} {value} (pip option '{pieces[0]}' of environment {name!r}) does not "
                    f"exist. Create it or fix the path in the definition.", path=value)
    spec = build_spec({**data, "python": py})
    if py["use_conda"]:
        base = current()
    else:
        base, note = find_python_like_conda(py["version"], _cache_dir(paths))
        if note:
            notices.append(f"environment {name!r}: {note}")
            log.append(note)
    return spec, base, notices, log


def environment_hash(env: Any, paths: WorkspacePaths) -> str | None:
    """The cache key a managed environment builds under; None when user-managed.

    Raises:
        EnvironmentSpecError: the definition cannot be satisfied.
    """
    from . import cache as _cache

    if env is None:
        return None
    data = canonical(env)
    if data["python"]["user_managed_dependencies"]:
        return None
    spec, base, _, _ = _check_managed(data, paths)
    return _cache.environment_hash(spec, base)


def validate_environment(env: Any, paths: WorkspacePaths) -> list[str]:
    """Check everything about ``env`` that needs no build; called before a run is written.

    Checks: the definition's shape; a user-managed interpreter exists and is a
    Python (run once, answer cached in ``paths.tmp``; never for
    ``sys.executable``); referenced requirement files exist; conda packages
    only with conda opted in and present; the requested Python is installed.

    Args:
        env: an Environment, its ``to_dict()``, or None (the submitting interpreter).
        paths: the workspace.

    Returns:
        Notices for the submitter: conda packages mapped to pip, packages left out,
        a Python other than the one pinned.

    Raises:
        EnvironmentSpecError: the first problem found, naming it and its fix.
    """
    from .interp import resolve_interpreter

    if env is None:
        return []
    data = canonical(env)
    if data["python"]["user_managed_dependencies"]:
        resolve_interpreter(data["python"]["interpreter_path"], _cache_dir(paths))
        return []
    return _check_managed(data, paths)[2]


def prepare_environment(env: Any, paths: WorkspacePaths, log: BinaryIO | None, *,
                        run_id: str | None = None, pid: int | None = None,
                        builder: str = "auto") -> ResolvedEnvironment:
    """Decide the interpreter of a run, building and caching a managed environment if needed.

    Build output is written to ``log`` line by line as it happens.  A cache hit
    runs no subprocess and takes no lock unless a lease is asked for.

    Args:
        env: an Environment, its ``to_dict()``, or None (``sys.executable`` as it is).
        paths: the workspace.
        log: the run's ``logs/env_build.txt`` opened for binary writing (or None).
        run_id: with ``pid``, lease the environment to this run (see :func:`acquire_lease`).
        pid: the process that will use it (the run's supervisor or script).
        builder: ``auto`` (uv when installed, else virtualenv + pip), ``uv`` or ``pip``.

    Returns:
        The resolved environment.

    Raises:
        EnvironmentSpecError: the definition cannot be satisfied.
        EnvironmentBuildError: building failed; quotes the tool's last lines and names the log.
    """
    if env is None:
        _say(log, f"Using the submitting interpreter as it is: {sys.executable}")
        return ResolvedEnvironment(sys.executable, {}, None, False, None, False)
    from .interp import resolve_interpreter

    data = canonical(env)
    env_vars = dict(data["environment_variables"])
    py = data["python"]
    if py["user_managed_dependencies"]:
        info = resolve_interpreter(py["interpreter_path"], _cache_dir(paths))
        _say(log, f"Using the user-managed interpreter {info.path} (Python {info.version})")
        return ResolvedEnvironment(info.path, env_vars, None, False, None, False)
    # Builders are imported only here: a run without a managed environment never pays for them.
    from . import cache as _cache
    from .build import LogSink

    sink = LogSink(log)
    spec, base, _, notes = _check_managed(data, paths)
    for line in notes:
        sink.line(line)
    lease = (run_id, pid if pid is not None else os.getpid()) if run_id else None
    entry, hit = _cache.ensure_built(spec, base, paths, sink, builder, lease)
    bin_dir = str(entry.python.parent)
    env_vars["VIRTUAL_ENV"] = str(entry.path)
    env_vars["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return ResolvedEnvironment(str(entry.python), env_vars, entry.env_hash, hit,
                               list(entry.record.get("freeze") or []), True)


def _say(log: BinaryIO | None, text: str) -> None:
    """One line of our own into a build log (if there is one)."""
    if log is not None:
        log.write((text + "\n").encode("utf-8", "replace"))
        log.flush()


def acquire_lease(paths: WorkspacePaths, env_hash: str, run_id: str, pid: int) -> None:
    """Mark environment ``env_hash`` as used by run ``run_id`` (process ``pid``).

    ``runner env prune`` keeps environments with a lease whose process (same
    pid, same start time) is alive.  :func:`prepare_environment` with
    ``run_id=`` does this atomically with finding the environment.

    Raises:
        EnvironmentNotFound: the environment is not (or no longer) in the cache.
    """
    from .cache import lookup
    from .lock import env_lock, write_lease

    with env_lock(paths, env_hash):
        if lookup(paths, env_hash) is None:
            raise EnvironmentNotFound(
                f"Environment {env_hash} is not in the cache (pruned?). Prepare it again.",
                env_hash=env_hash)
        write_lease(paths, env_hash, run_id, pid)
