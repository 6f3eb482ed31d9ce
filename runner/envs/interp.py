"""Finding and checking Python interpreters, cheaply.

Submitting a run checks that its interpreter really is a Python, and a managed
environment asking for ``python: "3.12"`` needs a 3.12 installed.  Running an
interpreter costs 10-50 ms (90 ms through a pyenv shim), so each answer is kept
in ``.runner/tmp/interpreters.json`` keyed by the file's (realpath, size,
mtime), and in this process's memory under the same key.  The submitting
interpreter itself (``sys.executable``) is never run.  A wrapper script's (pyenv
shim's) answer depends on the environment, not on the file: it is kept in
memory only, keyed also by the folder and the variables that choose what the
wrapper runs, so a warm process (a notebook submitting again, a forked
supervisor) does not run it twice.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.errors import EnvironmentSpecError

logger = logging.getLogger(__name__)

_CACHE_NAME = "interpreters.json"
_PROBE = (
    "import json, sys; print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3], "
    "'implementation': sys.implementation.name, 'executable': sys.executable}))"
)
_IS_WINDOWS = sys.platform == "win32"
#: Variables that decide what a wrapper script (pyenv, asdf, conda shims) runs.
_WRAPPER_VARS = ("PATH", "PYENV_VERSION", "PYENV_ROOT", "PYENV_DIR", "ASDF_PYTHON_VERSION",
                 "VIRTUAL_ENV", "CONDA_PREFIX", "UV_PYTHON")
#: This process's answers: (realpath, size, mtime_ns[, cwd, variables]) -> info.
_MEMO: dict[tuple, dict[str, str]] = {}


@dataclass(frozen=True)
class InterpreterInfo:
    """What one Python interpreter is.

    Attributes:
        path: the path as found (what to run).
        executable: ``sys.executable`` as the interpreter reports it.
        version: ``X.Y.Z``.
        implementation: ``cpython``, ``pypy``...
    """

    path: str
    executable: str
    version: str
    implementation: str

    @property
    def tag(self) -> str:
        """``cpython-3.11.7``: the part of an environment's hash the interpreter gives."""
        return f"{self.implementation}-{self.version}"


def current() -> InterpreterInfo:
    """Describe ``sys.executable`` without running anything."""
    version = ".".join(str(n) for n in sys.version_info[:3])
    return InterpreterInfo(sys.executable, sys.executable, version, sys.implementation.name)


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


class _ProbeCache:
    """The JSON file of answers; unusable caches are silently ignored."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.file = cache_dir / _CACHE_NAME if cache_dir is not None else None
        self._data: dict[str, dict] | None = None
        self.dirty = False

    @property
    def data(self) -> dict[str, dict]:
        """The answers on disk, read when first needed (a memory hit never reads them)."""
        if self._data is None:
            self._data = {}
            if self.file is not None:
                try:
                    loaded = json.loads(self.file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    loaded = {}
                self._data = loaded if isinstance(loaded, dict) else {}
        return self._data

    def save(self) -> None:
        if not self.dirty or self.file is None or not self.file.parent.parent.is_dir():
            return
        try:
            self.file.parent.mkdir(exist_ok=True)
            tmp = self.file.with_name(f".{_CACHE_NAME}.{os.getpid()}")
            tmp.write_text(json.dumps(self.data, indent=0, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.file)
        except OSError as exc:  # a cache: never worth failing for
            logger.debug("cannot write interpreter cache %s: %s", self.file, exc)


def _probe(path: str, cache: _ProbeCache) -> InterpreterInfo | str:
    """Return the interpreter's info, or a reason why it is not a usable Python."""
    real = os.path.realpath(path)
    if os.path.realpath(sys.executable) == real:
        return InterpreterInfo(path, sys.executable, current().version, current().implementation)
    try:
        st = os.stat(real)
    except OSError as exc:
        return f"it does not exist ({exc.strerror})"
    key = f"{real}|{st.st_size}|{st.st_mtime_ns}"
    memo_key: tuple = (real, st.st_size, st.st_mtime_ns)
    hit = _MEMO.get(memo_key)
    if hit is None:
        script = _is_script(real)
        if script:
            memo_key += (os.getcwd(), *(os.environ.get(name) for name in _WRAPPER_VARS))
            hit = _MEMO.get(memo_key)
        else:
            hit = cache.data.get(key)
    else:
        script = False
    if isinstance(hit, dict) and {"executable", "version", "implementation"} <= set(hit):
        _MEMO[memo_key] = hit
        return InterpreterInfo(path, hit["executable"], hit["version"], hit["implementation"])
    if not os.access(real, os.X_OK) and not _IS_WINDOWS:
        return "it is not executable"
    try:
        proc = subprocess.run([path, "-I", "-S", "-c", _PROBE], capture_output=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"running it failed ({exc})"
    out = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        data = json.loads(out[-1]) if proc.returncode == 0 and out else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = f": {err[-1]}" if err else ""
        return f"it is not a Python interpreter (exit code {proc.returncode}{tail})"
    info = InterpreterInfo(path, data["executable"] or real, data["version"],
                           data["implementation"])
    answer = {k: v for k, v in asdict(info).items() if k != "path"}
    _MEMO[memo_key] = answer
    if not script:
        cache.data[key] = answer
        cache.dirty = True
    return info


def _which(name: str) -> str | None:
    if os.sep in name or (os.altsep and os.altsep in name):
        path = os.path.abspath(os.path.expanduser(name))
        return path if os.path.exists(path) else None
    return shutil.which(name)


def resolve_interpreter(interpreter_path: str, cache_dir: Path | None = None) -> InterpreterInfo:
    """Find ``interpreter_path`` (a path, or a name looked up on PATH) and check it is a Python.

    Args:
        interpreter_path: e.g. ``python``, ``/usr/bin/python3``, ``.venv/bin/python``.
        cache_dir: folder of the answer cache (``paths.tmp``); None for no cache.

    Returns:
        The interpreter; ``path`` is absolute.

    Raises:
        EnvironmentSpecError: not found, or not a Python.
    """
    found = _which(interpreter_path)
    if found is None:
        where = ("on PATH" if os.sep not in interpreter_path else
                 f"(resolved against {os.getcwd()})")
        raise EnvironmentSpecError(
            f"Interpreter {interpreter_path!r} of a user-managed environment was not found "
            f"{where}. Set env.python.interpreter_path to an existing Python executable, "
            f"e.g. {sys.executable}.", interpreter_path=interpreter_path)
    cache = _ProbeCache(cache_dir)
    info = _probe(found, cache)
    cache.save()
    if isinstance(info, str):
        raise EnvironmentSpecError(
            f"Interpreter {found} (python.interpreter_path={interpreter_path!r}) cannot be used: "
            f"{info}. Point env.python.interpreter_path at a Python executable.",
            interpreter_path=interpreter_path)
    return info


def _candidates() -> list[str]:
    """Paths that may be Python interpreters: PATH entries, pyenv and uv installs."""
    names: list[str] = []
    patterns = ["python3.[0-9]*", "python3", "python"] if not _IS_WINDOWS else ["python.exe"]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder:
            continue
        for pattern in patterns:
            names.extend(sorted(glob.glob(os.path.join(glob.escape(folder), pattern))))
    home = Path.home()
    roots = [os.environ.get("PYENV_ROOT") or str(home / ".pyenv"),
             os.environ.get("UV_PYTHON_INSTALL_DIR") or str(home / ".local/share/uv/python")]
    for root in roots:
        names.extend(sorted(glob.glob(os.path.join(glob.escape(root), "versions", "*", "bin",
                                                   "python3"))))
        names.extend(sorted(glob.glob(os.path.join(glob.escape(root), "*", "bin", "python3"))))
    out, seen = [], set()
    for name in names:
        if name.endswith(("-config", ".py")) or not os.path.isfile(name):
            continue
        real = os.path.realpath(name)
        if real not in seen:
            seen.add(real)
            out.append(name)
    # Real binaries first: their answers are cached, wrapper scripts are run each time.
    out.sort(key=lambda name: _is_script(os.path.realpath(name)))
    return out


def _matches(version: str, request: str) -> bool:
    want = request.split(".")
    return version.split(".")[: len(want)] == want


def find_python(request: str | None, cache_dir: Path | None = None) -> InterpreterInfo:
    """Find an installed CPython matching a version request (``3``, ``3.11``, ``3.11.7``).

    ``None`` and any request the current interpreter matches give
    ``sys.executable`` without running anything.

    Raises:
        EnvironmentSpecError: no match; the message lists the versions found.
    """
    cur = current()
    if request is None or _matches(cur.version, request):
        return cur
    cache = _ProbeCache(cache_dir)
    found: list[InterpreterInfo] = []
    try:
        for path in _candidates():
            info = _probe(path, cache)
            if isinstance(info, str):
                continue
            if _matches(info.version, request) and info.implementation == cur.implementation:
                return info
            found.append(info)
    finally:
        cache.save()
    raise _not_installed(request, found, cur)


def _not_installed(request: str, found: list[InterpreterInfo],
                   cur: InterpreterInfo) -> EnvironmentSpecError:
    versions = sorted({i.version for i in found} | {cur.version},
                      key=lambda v: tuple(int(p) for p in v.split(".")))
    return EnvironmentSpecError(
        f"Python {request} is requested (python.version) but is not installed. Versions found: "
        f"{', '.join(versions)}. Install Python {request} (e.g. with pyenv or `uv python "
        f"install {request}`) or change python.version to one of these.",
        requested=request, found=versions)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


#: The oldest Python runner's in-run code (put on every run's path) works in.
MIN_RUN_PYTHON = (3, 9)


def find_python_like_conda(request: str | None, cache_dir: Path | None = None
                           ) -> tuple[InterpreterInfo, str | None]:
    """Find a Python for a request as a conda pin would, from the installed ones.

    ``3.6.2`` is matched by any 3.6 when no 3.6.2 is installed, and by the nearest
    installed version above it (same major) when no 3.6 is: conda would download
    3.6; runner uses what this machine has and says so.

    A pin older than runner's in-run code supports (3.9) is matched by the nearest
    installed 3.9 or newer.

    Returns:
        The interpreter, and a notice when it is not the exact version asked for.

    Raises:
        EnvironmentSpecError: no installed Python of that major version at or above it.
    """
    cur = current()
    if request is None or _matches(cur.version, request):
        return cur, None
    wanted = request
    if _key(request)[0] == MIN_RUN_PYTHON[0] and _key(request)[:2] < MIN_RUN_PYTHON:
        request = ".".join(map(str, MIN_RUN_PYTHON))
    cache = _ProbeCache(cache_dir)
    found: list[InterpreterInfo] = [cur]
    try:
        for path in _candidates():
            info = _probe(path, cache)
            if isinstance(info, str) or info.implementation != cur.implementation:
                continue
            if _matches(info.version, request) and wanted == request:
                return info, None
            found.append(info)
    finally:
        cache.save()
    if wanted != request:
        above = [i for i in found if _key(i.version)[:2] >= MIN_RUN_PYTHON]
        if not above:
            raise _not_installed(request, found, cur)
        info = min(above, key=lambda i: _key(i.version))
        return info, (f"Python {wanted} is older than runner supports in a run (3.9 and "
                      f"newer); using the nearest installed version above it, {info.version}.")
    parts = request.split(".")
    same_minor = [i for i in found if _matches(i.version, ".".join(parts[:2]))]
    if len(parts) == 3 and same_minor:
        info = max(same_minor, key=lambda i: _key(i.version))
        return info, (f"Python {request} is not installed; using {info.version} (the same "
                      f"{parts[0]}.{parts[1]}), as conda's python={request} pin allows.")
    above = [i for i in found if i.version.split(".")[0] == parts[0]
             and _key(i.version)[:len(parts)] >= _key(request)]
    if not above:
        raise _not_installed(request, found, cur)
    info = min(above, key=lambda i: _key(i.version))
    return info, (f"Python {request} is not installed; using the nearest installed version "
                  f"at or above it, {info.version}.")
