"""The cache of built environments under ``.runner/envs/``, keyed by what gets installed.

::

    envs/<hash>/                  a complete environment (only complete ones are here)
      runner-env.json             written last, before the rename: spec, freeze, builder
      last_used                   touched on every use (its mtime is "last used")
    envs/.tmp/<hash>.<pid>.<n>/   a build in progress; anything left here is garbage

The hash covers the Python (implementation and X.Y.Z), the sorted pip
requirements, the pip options in order (with the content of referenced
requirement/constraint files) and, for conda, the packages and channels.
Name and version are not part of it: two names for the same packages share one
environment, as Azure ML's image cache did.

A cache hit is two ``stat`` calls, one small JSON read and one ``utime``: no
lock, no subprocess.  A miss takes ``locks/env-<hash>.lock``, looks again (a
concurrent process may have just built it), builds into ``envs/.tmp/``, writes
the completion record and renames the folder into place.  A failed or killed
build never reaches ``envs/<hash>`` and its leftovers are wiped by the next
build of that hash or by :func:`prune`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import EnvironmentBuildError, EnvironmentSpecError
from ..core.paths import WorkspacePaths
from .build import (
    Builder,
    BuildSpec,
    CondaBuilder,
    LogSink,
    UvBuilder,
    VirtualenvBuilder,
    freeze,
    relocate,
    venv_python,
)
from .interp import InterpreterInfo
from .lock import env_lock, live_leases, write_lease
from .schema import read_requirements_file

logger = logging.getLogger(__name__)

RECORD = "runner-env.json"
LAST_USED = "last_used"
HASH_FORMAT = 1
_counter = itertools.count()


def _file_digest(path: str, depth: int = 0) -> str:
    """sha256 of a requirements/constraints file and of the files it references."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EnvironmentSpecError(
            f"File {path} referenced by a pip option cannot be read ({exc.strerror}). "
            f"Create it or fix the path in the environment definition.", path=path)
    digest = hashlib.sha256(data)
    if depth < 10:
        _, options = read_requirements_file(path)
        for option in options:
            pieces = shlex.split(option)
            if pieces[0] in ("-r", "-c"):
                digest.update(_file_digest(pieces[1], depth + 1).encode())
    return digest.hexdigest()


def environment_hash(spec: BuildSpec, base: InterpreterInfo) -> str:
    """The cache key of ``spec`` built on ``base``: 32 hex digits.

    Raises:
        EnvironmentSpecError: a referenced requirements file cannot be read.
    """
    options = []
    for option in spec.pip_options:
        pieces = shlex.split(option)
        if pieces[0] in ("-r", "-c") and "://" not in pieces[1]:
            options.append(f"{pieces[0]} sha256:{_file_digest(pieces[1])}")
        else:
            options.append(option)
    key: dict[str, object] = {
        "format": HASH_FORMAT,
        "python": base.tag if not spec.use_conda else f"conda-{spec.python_version}",
        "pip": sorted(spec.pip),
        "pip_options": options,
        "platform": sys.platform,
    }
    if spec.use_conda:
        key["conda"] = sorted(spec.conda_packages)
        key["channels"] = list(spec.channels)
    blob = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


@dataclass(frozen=True)
class CacheEntry:
    """A complete cached environment.

    Attributes:
        env_hash: its key.
        path: its folder.
        record: the completion record (spec, freeze, builder, created).
    """

    env_hash: str
    path: Path
    record: dict

    @property
    def python(self) -> Path:
        """Its interpreter."""
        return venv_python(self.path)

    @property
    def last_used(self) -> float:
        """When a run last used it (epoch seconds)."""
        try:
            return (self.path / LAST_USED).stat().st_mtime
        except OSError:
            return float(self.record.get("created", 0))

    def size(self) -> int:
        """Bytes on disk (walks the folder)."""
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        return total


def lookup(paths: WorkspacePaths, env_hash: str) -> CacheEntry | None:
    """The complete cached environment of ``env_hash``, or None (the hit path: no subprocess)."""
    folder = paths.env_dir(env_hash)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    # A dangling interpreter symlink means the base Python is gone: not usable.
    if not isinstance(record, dict) or not os.path.exists(venv_python(folder)):
        return None
    return CacheEntry(env_hash, folder, record)


def touch(entry: CacheEntry) -> None:
    """Record a use of ``entry`` (for ``runner env list`` and ``prune --older-than``)."""
    try:
        os.utime(entry.path / LAST_USED)
    except OSError:
        try:
            (entry.path / LAST_USED).touch()
        except OSError:
            pass


def _rmtree(path: Path) -> None:
    """Remove a folder; first renamed aside so a half-removed folder is never seen."""
    if not os.path.lexists(path):
        return
    trash_root = path.parent if path.parent.name == ".tmp" else path.parent / ".tmp"
    trash_root.mkdir(parents=True, exist_ok=True)
    doomed = trash_root / f"trash-{path.name}.{os.getpid()}.{next(_counter)}"
    try:
        os.rename(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)


def choose_builder(spec: BuildSpec, preference: str = "auto") -> tuple[Builder, str]:
    """The builder for ``spec``: conda when opted in, else uv when usable, else virtualenv.

    Args:
        spec: what to build.
        preference: ``auto``, ``uv`` or ``pip``.

    Returns:
        (builder, note) where note says why a faster builder was not used (or "").

    Raises:
        EnvironmentBuildError: no builder can build it; lists every reason.
    """
    if spec.use_conda:
        candidates: list[Builder] = [CondaBuilder()]
    elif preference == "pip":
        candidates = [VirtualenvBuilder()]
    elif preference == "uv":
        candidates = [UvBuilder()]
    elif preference == "auto":
        candidates = [UvBuilder(), VirtualenvBuilder()]
    else:
        raise ValueError(f"builder must be 'auto', 'uv' or 'pip', not {preference!r}")
    reasons = []
    for builder in candidates:
        reason = builder.cannot_build(spec)
        if reason is None:
            note = "; ".join(f"{b} not used: {r}" for b, r in reasons)
            return builder, note
        reasons.append((builder.name, reason))
    raise EnvironmentBuildError(
        "No builder can build this environment: "
        + "; ".join(f"{b}: {r}" for b, r in reasons) + ".", reasons=reasons)


def _lease(paths: WorkspacePaths, env_hash: str, lease: tuple[str, int] | None) -> None:
    if lease is not None:
        write_lease(paths, env_hash, lease[0], lease[1])


def ensure_built(spec: BuildSpec, base: InterpreterInfo, paths: WorkspacePaths, sink: LogSink,
                 preference: str = "auto", lease: tuple[str, int] | None = None
                 ) -> tuple[CacheEntry, bool]:
    """Return the cached environment of ``spec``, building it when missing.

    Args:
        spec: what to install.
        base: the interpreter to base a virtualenv on.
        paths: the workspace.
        sink: where build output goes.
        preference: ``auto``, ``uv`` or ``pip``.
        lease: (run_id, pid) to lease the environment to, atomically with finding it.

    Returns:
        (entry, cache_hit).

    Raises:
        EnvironmentBuildError: the build failed (nothing is left in the cache).
    """
    env_hash = environment_hash(spec, base)
    entry = lookup(paths, env_hash)
    if entry is not None:
        if lease is not None:
            with env_lock(paths, env_hash):  # prune holds it while checking leases
                entry = lookup(paths, env_hash)
                if entry is not None:
                    _lease(paths, env_hash, lease)
        if entry is not None:
            touch(entry)
            sink.line(f"Environment {env_hash} is cached: {entry.path}")
            return entry, True
    lock = env_lock(paths, env_hash)
    if not lock.try_acquire():
        sink.line(f"Waiting for another process that is building environment {env_hash}...")
        lock.acquire()
    try:
        entry = lookup(paths, env_hash)
        if entry is not None:
            sink.line(f"Environment {env_hash} was built by another process: {entry.path}")
            _lease(paths, env_hash, lease)
            touch(entry)
            return entry, True
        entry = _build_locked(spec, base, paths, sink, preference, env_hash)
        _lease(paths, env_hash, lease)
        return entry, False
    finally:
        lock.release()


def _build_locked(spec: BuildSpec, base: InterpreterInfo, paths: WorkspacePaths, sink: LogSink,
                  preference: str, env_hash: str) -> CacheEntry:
    builder, note = choose_builder(spec, preference)
    final = Path(os.path.abspath(paths.env_dir(env_hash)))
    tmp_root = final.parent / ".tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    for stale in list(tmp_root.glob(f"{env_hash}.*")):  # a killed build of this hash
        sink.line(f"Removing an incomplete earlier build: {stale}")
        shutil.rmtree(stale, ignore_errors=True)
    if final.exists():  # incomplete (no record): never trusted, rebuilt
        sink.line(f"Removing an incomplete environment: {final}")
        _rmtree(final)
    target = final if not builder.relocatable else \
        tmp_root / f"{env_hash}.{os.getpid()}.{next(_counter)}"
    label = f" '{spec.name}'" if spec.name else ""
    sink.line(f"Building environment{label} ({env_hash}) with {builder.name}, "
              f"Python {base.version}" + (f" [{note}]" if note else ""))
    started = time.monotonic()
    try:
        builder.build(spec, base, target, sink)
        if target != final:
            relocate(target, final)
        record = {
            "hash": env_hash,
            "name": spec.name,
            "python": base.version,
            "base_interpreter": base.executable,
            "builder": builder.name,
            "pip": list(spec.pip),
            "pip_options": list(spec.pip_options),
            "conda_packages": list(spec.conda_packages) if spec.use_conda else [],
            "freeze": freeze(target),
            "created": time.time(),
            "build_seconds": round(time.monotonic() - started, 3),
        }
        (target / LAST_USED).touch()
        tmp_record = target / f".{RECORD}.tmp"
        tmp_record.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(tmp_record, target / RECORD)  # the completion marker: written last
        if target != final:
            os.rename(target, final)
    except BaseException as exc:
        _rmtree(target)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            sink.line("Build interrupted; nothing was cached.")
        raise
    sink.line(f"Built environment {env_hash} in {time.monotonic() - started:.2f} s: {final}")
    if record["freeze"]:
        sink.line("Installed: " + ", ".join(record["freeze"]))
    return CacheEntry(env_hash, final, record)


def list_entries(paths: WorkspacePaths) -> list[CacheEntry]:
    """Every complete cached environment, most recently used first."""
    try:
        folders = [p for p in paths.envs.iterdir() if not p.name.startswith(".")]
    except OSError:
        return []
    entries = [e for e in (lookup(paths, f.name) for f in folders) if e is not None]
    return sorted(entries, key=lambda e: e.last_used, reverse=True)


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` did.

    Attributes:
        removed: hashes removed (or that would be, with ``dry_run``).
        kept_in_use: hashes kept because a live run uses them.
        freed: bytes freed (or that would be).
    """

    removed: list[str]
    kept_in_use: list[str]
    freed: int


def prune(paths: WorkspacePaths, older_than_days: float | None = None,
          dry_run: bool = False) -> PruneResult:
    """Remove cached environments not in use by a live run, and leftovers of failed builds.

    Args:
        paths: the workspace.
        older_than_days: only those not used for this many days (None: all unused).
        dry_run: report, remove nothing.
    """
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    removed, kept, freed = [], [], 0
    for entry in list_entries(paths):
        if cutoff is not None and entry.last_used > cutoff:
            continue
        lock = env_lock(paths, entry.env_hash)
        if not lock.try_acquire():  # being built or rebuilt right now
            kept.append(entry.env_hash)
            continue
        try:
            if live_leases(paths, entry.env_hash, clean=not dry_run):
                kept.append(entry.env_hash)
                continue
            size = entry.size()
            if not dry_run:
                _rmtree(entry.path)
            removed.append(entry.env_hash)
            freed += size
        finally:
            lock.release()
    try:
        incomplete = [p for p in paths.envs.iterdir()
                      if not p.name.startswith(".") and lookup(paths, p.name) is None]
    except OSError:
        incomplete = []
    for folder in incomplete:
        lock = env_lock(paths, folder.name)
        if lock.try_acquire():
            try:
                if not dry_run and lookup(paths, folder.name) is None:
                    _rmtree(folder)
            finally:
                lock.release()
    tmp_root = paths.envs / ".tmp"
    if not dry_run and tmp_root.is_dir():
        for leftover in tmp_root.iterdir():
            env_hash = leftover.name.split(".")[0]
            if leftover.name.startswith("trash-"):
                shutil.rmtree(leftover, ignore_errors=True)
                continue
            lock = env_lock(paths, env_hash)
            if lock.try_acquire():  # not being built
                try:
                    shutil.rmtree(leftover, ignore_errors=True)
                finally:
                    lock.release()
    return PruneResult(removed, kept, freed)
