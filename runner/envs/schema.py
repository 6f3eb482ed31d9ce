"""The environment definition as data: the project's YAML schema, conda files, requirements files.

Every way of writing an environment (``environments/*.yml``, a conda
``environment.yml``, a ``requirements.txt``, ``Environment.to_dict()``) ends up
here as one *canonical dict*, validated before anything is built or written::

    {
      "name": "sklearn",                   # str
      "version": "1",                      # str or None (registered version)
      "python": {
        "user_managed_dependencies": False,  # True: run with interpreter_path as it is
        "interpreter_path": "python",        # only used when user-managed
        "version": "3.11",                   # None: the Python runner runs on
        "pip": ["six==1.16.0"],              # requirement specifiers
        "pip_options": ["--no-index", "-f /abs/wheels"],  # one option (+ value) each
        "conda_packages": [],                # conda on PATH builds them, else pip
        "channels": [],
        "use_conda": False,
      },
      "environment_variables": {"OMP_NUM_THREADS": "1"},
    }

Relative paths in options (``-r``, ``-c``, ``-f``, ``-e``) are made absolute
against the folder of the file they came from, so a definition keeps meaning
the same thing whatever the current directory is later.  The module reads
files but never writes; errors name the file (and the line, for bad YAML) and
say how to fix them.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
from pathlib import Path
from typing import Any

from ..core.errors import EnvironmentSpecError

#: Top-level keys of the project's environment YAML.
TOP_KEYS = ("name", "version", "python", "environment_variables")
#: Keys of its ``python:`` section, with their defaults.
PYTHON_DEFAULTS: dict[str, Any] = {
    "user_managed_dependencies": False,
    "interpreter_path": "python",
    "version": None,
    "pip": [],
    "pip_options": [],
    "conda_packages": [],
    "channels": [],
    "use_conda": False,
}
#: Keys Azure ML (and conda) accept at the top of a conda specification.
CONDA_KEYS = ("name", "channels", "dependencies", "prefix", "variables")

# pip options that take a value; the ones whose value may be a local path come first.
_PATH_OPTIONS = {"-r": "-r", "--requirement": "-r", "-c": "-c", "--constraint": "-c",
                 "-f": "-f", "--find-links": "-f", "-e": "-e", "--editable": "-e"}
_VALUE_OPTIONS = {"-i": "--index-url", "--index-url": "--index-url",
                  "--extra-index-url": "--extra-index-url", "--trusted-host": "--trusted-host",
                  "--only-binary": "--only-binary", "--no-binary": "--no-binary",
                  "--prefer-binary": None, "--pre": None, "--no-index": None, "--no-deps": None}
_PY_VERSION_RE = re.compile(r"^\d+(\.\d+){0,2}$")
_ENV_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def default_python() -> dict[str, Any]:
    """Return a fresh ``python:`` section holding the defaults."""
    return copy.deepcopy(PYTHON_DEFAULTS)


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    """Read and parse a YAML file.

    Args:
        path: the file.

    Returns:
        The parsed document (``None`` for an empty file).

    Raises:
        EnvironmentSpecError: the file is missing or unreadable, or the YAML is
            malformed (the message names the file, line and column).
    """
    import yaml

    path = Path(path)
    text = _read_text(path, "Environment file")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise EnvironmentSpecError(
            f"Malformed YAML in {path}{where}: {problem}. Fix the syntax there "
            f"(indentation, a missing ':' or unbalanced quotes) and try again.",
            path=str(path), line=(mark.line + 1) if mark is not None else None)


def _where(source: str | None) -> str:
    return f" in {source}" if source else ""


def _fail(message: str, source: str | None) -> EnvironmentSpecError:
    return EnvironmentSpecError(message, path=source)


def _str_list(value: Any, key: str, source: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _fail(f"'{key}'{_where(source)} must be a list of strings, not "
                    f"{type(value).__name__} {value!r}. Write it as a YAML list:\n"
                    f"  {key.split('.')[-1]}:\n    - item", source)
    out = []
    for i, item in enumerate(value):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip() or "\n" in item.strip():
            raise _fail(f"'{key}[{i}]'{_where(source)} must be a non-empty one-line string, "
                        f"not {item!r}.", source)
        out.append(item.strip())
    return out


def _bool(value: Any, key: str, source: str | None) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"'{key}'{_where(source)} must be true or false, not {value!r}.", source)
    return value


def check_python_version(value: Any, source: str | None = None) -> str | None:
    """Return a requested Python version as a string ``X[.Y[.Z]]`` or None.

    Raises:
        EnvironmentSpecError: the value is not a version number.
    """
    if value is None:
        return None
    if isinstance(value, float):
        raise _fail(f"python version {value!r}{_where(source)} must be a quoted string "
                    f"(YAML reads 3.10 as the number 3.1): write version: \"{value}\".", source)
    value = str(value).strip()
    if value.endswith(".*"):
        value = value[:-2]
    if not _PY_VERSION_RE.match(value):
        raise _fail(f"python version {value!r}{_where(source)} is not a version number; "
                    f"write it like \"3.11\" or \"3.11.7\".", source)
    return value


def _is_url(value: str) -> bool:
    return "://" in value or value.startswith("file:")


def normalize_pip_option(option: str, base_dir: Path, source: str | None = None) -> str:
    """Return one pip option line in canonical form, local paths made absolute.

    Args:
        option: e.g. ``"--index-url https://x/simple"``, ``"-r requirements.txt"``.
        base_dir: folder that relative paths are relative to.
        source: file the option came from, for error messages.

    Raises:
        EnvironmentSpecError: an unknown option, or one missing its value.
    """
    try:
        tokens = shlex.split(option)
    except ValueError as exc:
        raise _fail(f"pip option {option!r}{_where(source)} cannot be parsed: {exc}.", source)
    if not tokens:
        raise _fail(f"empty pip option{_where(source)}.", source)
    name, value = tokens[0], None
    if "=" in name and name.startswith("--"):
        name, value = name.split("=", 1)
        rest = tokens[1:]
    elif len(name) > 2 and name[:2] in _PATH_OPTIONS and not name.startswith("--"):
        name, value, rest = name[:2], name[2:], tokens[1:]
    else:
        rest = tokens[1:]
    if name in _PATH_OPTIONS:
        canonical = _PATH_OPTIONS[name]
    elif name in _VALUE_OPTIONS:
        canonical = _VALUE_OPTIONS[name] or name
    else:
        known = sorted(set(_PATH_OPTIONS) | set(_VALUE_OPTIONS))
        raise _fail(f"pip option {name!r}{_where(source)} is not supported in an environment "
                    f"definition. Supported: {', '.join(known)}.", source)
    takes_value = name in _PATH_OPTIONS or _VALUE_OPTIONS.get(name) is not None
    if takes_value:
        if value is None:
            if not rest:
                raise _fail(f"pip option {name}{_where(source)} needs a value, "
                            f"e.g. '{name} VALUE'.", source)
            value, rest = rest[0], rest[1:]
        if rest:
            raise _fail(f"pip option line {option!r}{_where(source)} holds more than one "
                        f"option; give each option its own line.", source)
        if canonical in ("-r", "-c", "-f", "-e") and not _is_url(value):
            local = Path(os.path.expanduser(value))
            # "-e ." style editable paths and requirement files are local paths;
            # "-e git+https://..." stays as it is (handled by _is_url).
            if not local.is_absolute():
                local = base_dir / local
            value = os.path.normpath(str(local))
        return f"{canonical} {shlex.quote(value)}"
    if value is not None or rest:
        raise _fail(f"pip option {name}{_where(source)} takes no value.", source)
    return canonical


def split_pip_entries(entries: list[str], base_dir: Path,
                      source: str | None = None) -> tuple[list[str], list[str]]:
    """Split pip list entries into (requirements, options); option lines start with '-'."""
    packages: list[str] = []
    options: list[str] = []
    for entry in entries:
        if entry.startswith("-"):
            options.append(normalize_pip_option(entry, base_dir, source))
        elif _is_local_path(entry):
            local = Path(os.path.expanduser(entry))
            packages.append(os.path.normpath(str(local if local.is_absolute() else
                                                 base_dir / local)))
        else:
            packages.append(" ".join(entry.split()))
    return packages, options


def _is_local_path(entry: str) -> bool:
    """A requirement that is a local file or folder (``./pkg``, ``dist/x.whl``), not a name."""
    if _is_url(entry) or " @ " in entry:
        return False
    return entry.startswith(("./", "../", "/", "~", ".\\", "..\\")) or \
        entry.endswith((".whl", ".tar.gz", ".zip"))


def read_requirements_file(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Read a pip requirements file into (requirements, options).

    Comments, blank lines and line continuations are handled as pip does;
    paths in options are made absolute against the file's folder.

    Raises:
        EnvironmentSpecError: the file is missing or holds an unsupported option.
    """
    path = Path(path)
    text = _read_text(path, "Requirements file")
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    base = path.resolve().parent
    return split_pip_entries(lines, base, str(path))


def _check_env_vars(value: Any, source: str | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(f"'environment_variables'{_where(source)} must be a mapping of NAME: value, "
                    f"not {type(value).__name__}.", source)
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not _ENV_VAR_NAME_RE.match(key):
            raise _fail(f"environment variable name {key!r}{_where(source)} is not valid; use "
                        f"letters, digits and '_', not starting with a digit.", source)
        if isinstance(val, bool) or not isinstance(val, (str, int, float)):
            raise _fail(f"environment variable {key}{_where(source)} must have a string value, "
                        f"not {val!r}; quote it in YAML (\"{val}\").", source)
        out[key] = str(val)
    return out


def normalize_env_dict(data: Any, source: str | None = None,
                       base_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Validate a definition in the project schema and return its canonical dict.

    Args:
        data: the parsed YAML or ``to_dict()`` output.
        source: the file it came from (named in errors).
        base_dir: folder for relative paths in pip options (default: cwd).

    Raises:
        EnvironmentSpecError: unknown keys, wrong types, bad versions or options.
    """
    if not isinstance(data, dict):
        raise _fail(f"An environment definition{_where(source)} must be a mapping with at least "
                    f"'name:', not {type(data).__name__}.", source)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    unknown = sorted(str(k) for k in data if k not in TOP_KEYS)
    if unknown:
        hint = ""
        if "dependencies" in data:
            hint = (" This looks like a conda specification: load it with "
                    "Environment.from_conda_specification(name, path).")
        raise _fail(f"Unknown key(s) {', '.join(unknown)}{_where(source)}; allowed top-level "
                    f"keys: {', '.join(TOP_KEYS)}.{hint}", source)
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise _fail(f"'name'{_where(source)} must be a non-empty string, not {name!r}.", source)
    version = data.get("version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (str, int)):
            raise _fail(f"'version'{_where(source)} must be a string like \"1\", "
                        f"not {version!r}.", source)
        version = str(version)
    py_in = data.get("python") or {}
    if not isinstance(py_in, dict):
        raise _fail(f"'python'{_where(source)} must be a mapping.", source)
    unknown = sorted(str(k) for k in py_in if k not in PYTHON_DEFAULTS)
    if unknown:
        raise _fail(f"Unknown key(s) python.{', python.'.join(unknown)}{_where(source)}; allowed: "
                    f"{', '.join(PYTHON_DEFAULTS)}.", source)
    py = default_python()
    for key in ("user_managed_dependencies", "use_conda"):
        if key in py_in:
            py[key] = _bool(py_in[key], f"python.{key}", source)
    interp = py_in.get("interpreter_path", "python")
    if not isinstance(interp, str) or not interp.strip():
        raise _fail(f"'python.interpreter_path'{_where(source)} must be a non-empty string.",
                    source)
    py["interpreter_path"] = interp.strip()
    py["version"] = check_python_version(py_in.get("version"), source)
    packages, options = split_pip_entries(_str_list(py_in.get("pip"), "python.pip", source),
                                          base, source)
    for opt in _str_list(py_in.get("pip_options"), "python.pip_options", source):
        options.append(normalize_pip_option(opt, base, source))
    py["pip"], py["pip_options"] = packages, options
    py["conda_packages"] = _str_list(py_in.get("conda_packages"), "python.conda_packages", source)
    py["channels"] = _str_list(py_in.get("channels"), "python.channels", source)
    return {
        "name": name.strip() if name is not None else None,
        "version": version,
        "python": py,
        "environment_variables": _check_env_vars(data.get("environment_variables"), source),
    }


def _python_from_conda(spec: str, source: str | None) -> str | None:
    """The version in a conda ``python=3.11`` / ``python==3.11.7`` / ``python`` entry."""
    rest = spec[len("python"):].strip()
    if not rest:
        return None
    if rest.startswith("=="):
        rest = rest[2:]
    elif rest.startswith("="):
        rest = rest[1:]
    else:
        raise _fail(f"conda dependency {spec!r}{_where(source)}: only an exact python version "
                    f"is supported; write python=3.11.", source)
    return check_python_version(rest.split("=")[0].strip(), source)


def conda_spec_to_python(data: Any, source: str | None = None,
                         base_dir: str | os.PathLike[str] | None = None
                         ) -> tuple[dict[str, Any], dict[str, str]]:
    """Translate a conda environment specification into a ``python:`` section.

    ``python=X.Y`` and the ``pip:`` list are honoured; ``pip`` itself is
    dropped (every managed environment has a pip); any other conda package is
    kept in ``conda_packages`` (built by conda, or mapped to pip, at build time).

    Returns:
        (python section, environment variables from ``variables:``).

    Raises:
        EnvironmentSpecError: not a conda specification or malformed entries.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(f"A conda specification{_where(source)} must be a mapping with "
                    f"'dependencies:', not {type(data).__name__}.", source)
    unknown = sorted(str(k) for k in data if k not in CONDA_KEYS)
    if unknown:
        raise _fail(f"Unknown key(s) {', '.join(unknown)} in conda specification"
                    f"{_where(source)}; allowed: {', '.join(CONDA_KEYS)}.", source)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    py = default_python()
    py["channels"] = _str_list(data.get("channels"), "channels", source)
    deps = data.get("dependencies") or []
    if not isinstance(deps, list):
        raise _fail(f"'dependencies'{_where(source)} must be a list.", source)
    for i, dep in enumerate(deps):
        if isinstance(dep, dict):
            if set(dep) != {"pip"}:
                raise _fail(f"dependencies[{i}]{_where(source)}: only a 'pip:' list may appear "
                            f"as a mapping, not {sorted(dep)}.", source)
            packages, options = split_pip_entries(
                _str_list(dep["pip"], f"dependencies[{i}].pip", source), base, source)
            py["pip"].extend(packages)
            py["pip_options"].extend(options)
            continue
        if not isinstance(dep, str) or not dep.strip():
            raise _fail(f"dependencies[{i}]{_where(source)} must be a string such as "
                        f"'python=3.11', not {dep!r}.", source)
        dep = " ".join(dep.split())
        bare = re.split(r"[=<>! ]", dep, maxsplit=1)[0].split("::")[-1].lower()
        if bare == "python":
            py["version"] = _python_from_conda(dep.split("::")[-1], source)
        elif bare == "pip":
            continue
        else:
            py["conda_packages"].append(dep)
    return py, _check_env_vars(data.get("variables"), source)


def _read_text(path: Path, what: str) -> str:
    """The text of a definition file, or an error naming it and how to fix the path."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvironmentSpecError(
            f"{what} {path} does not exist. Check the path (relative paths are taken from "
            f"the current directory, {os.getcwd()}).", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentSpecError(f"Cannot read {what.lower()} {path}: {exc}.",
                                   path=str(path)) from exc
