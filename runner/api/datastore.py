"""``Datastore``: a named local folder that datasets, uploads and run outputs live in.

Azure ML's datastores named blob containers and file shares; here a datastore
names a folder on this machine. Every workspace has a default one,
``workspaceblobstore``, under ``.runner/datastores/`` (made on first use);
``Datastore.register_local(ws, name, path)`` names any other folder. Paths on a
datastore are relative and never leave its folder (``..``, absolute paths and
links pointing out are refused).

``upload``/``upload_files`` copy files in (each through a temp file renamed into
place, so a reader never sees half a file) and ``download`` copies them out, with
a progress bar on a terminal and one line per file elsewhere.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import NotFoundError, UsageError
from ..registry import assets as _assets

if TYPE_CHECKING:
    from .workspace import Workspace

DEFAULT_DATASTORE = "workspaceblobstore"
_NAME = re.compile(r"[A-Za-z0-9_]{1,255}\Z")
_CLOUD_HINT = ("runner keeps data on this machine: copy the files into a local folder and "
               "register it with Datastore.register_local(workspace, name, path).")


def check_relative(path: Any, what: str = "path") -> str:
    """Normalize a path on a datastore (``a/b``, ``''`` for its root) or raise.

    Raises:
        UsageError: it is absolute, has ``..`` or is not a string.
    """
    if path is None:
        return ""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"{what} must be a string, not {type(path).__name__}.")
    raw = os.fspath(path).replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in raw.split("/"):
        raise UsageError(f"{what} {os.fspath(path)!r} is outside the datastore: give a path "
                         "relative to the datastore's root, without '..'.", path=raw)
    norm = posixpath.normpath(raw) if raw.strip("/.") else ""
    return "" if norm == "." else norm


def ensure_default(workspace: Workspace) -> dict[str, Any]:
    """The default datastore's row, registering ``workspaceblobstore`` on first use."""
    rows = _assets.datastores(workspace.store)
    for row in rows:
        if row["is_default"]:
            return row
    if any(r["name"] == DEFAULT_DATASTORE for r in rows):
        _assets.set_default_datastore(workspace.store, DEFAULT_DATASTORE)
        return _assets.get_datastore(workspace.store, DEFAULT_DATASTORE)
    folder = workspace.paths.datastores / DEFAULT_DATASTORE
    folder.mkdir(parents=True, exist_ok=True)
    return _assets.add_datastore(workspace.store, DEFAULT_DATASTORE, str(folder), default=True)


class Datastore:
    """A named local folder of the workspace's data.

    ``Datastore(ws)`` is the default datastore, ``Datastore(ws, name)`` a registered one.

    Raises:
        DatastoreNotFound: ``name`` is not registered.
    """

    datastore_type = "LocalFolder"

    def __init__(self, workspace: Workspace, name: str | None = None, **kwargs: Any) -> None:
        self.workspace = workspace
        row = kwargs.get("_row")
        if row is None:
            default = ensure_default(workspace)
            row = default if name is None else _assets.get_datastore(workspace.store, name)
        self._row = row

    @property
    def name(self) -> str:
        """The datastore's name."""
        return self._row["name"]

    @property
    def root(self) -> Path:
        """Its folder."""
        return Path(self._row["path"])

    @property
    def is_default(self) -> bool:
        """Whether it is the workspace's default datastore."""
        return bool(_assets.get_datastore(self.workspace.store, self.name)["is_default"])

    def __repr__(self) -> str:
        return f"<Datastore {self.name} {self.root}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Datastore) and other.workspace == self.workspace \
            and other.name == self.name

    def __hash__(self) -> int:
        return hash((self.workspace, self.name))

    # ------------------------------------------------------------- registering

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        """The registered datastore ``datastore_name``."""
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        """The workspace's default datastore."""
        return Datastore(workspace)

    @staticmethod
    def list(workspace: Workspace) -> list[Datastore]:
        """Every datastore of the workspace (the default one included), by name."""
        ensure_default(workspace)
        return [Datastore(workspace, r["name"], _row=r)
                for r in _assets.datastores(workspace.store)]

    @staticmethod
    def register_local(workspace: Workspace, datastore_name: str,
                       path: str | os.PathLike[str], overwrite: bool = False,
                       create_if_missing: bool = False) -> Datastore:
        """Name the local folder ``path`` as datastore ``datastore_name``.

        Raises:
            UsageError: a bad name, or the name is taken by another folder and
                ``overwrite`` is False.
            NotFoundError: ``path`` is not a folder (and ``create_if_missing`` is False).
        """
        if not isinstance(datastore_name, str) or not _NAME.match(datastore_name):
            raise UsageError(f"datastore name {datastore_name!r} must be 1-255 letters, digits "
                             "or underscores.")
        folder = Path(path).expanduser()
        if create_if_missing:
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotFoundError(f"datastore folder {str(folder)!r} "
                                f"{'is not a folder' if folder.exists() else 'does not exist'}"
                                "; create it or pass create_if_missing=True.", path=str(folder))
        ensure_default(workspace)
        row = _assets.add_datastore(workspace.store, datastore_name, str(folder.resolve()),
                                    overwrite=overwrite)
        return Datastore(workspace, datastore_name, _row=row)

    @staticmethod
    def register_azure_blob_container(*args: Any, **kwargs: Any) -> Datastore:
        """Refused: cloud storage is not part of runner (raises UsageError)."""
        raise UsageError(f"Azure blob containers are not supported. {_CLOUD_HINT}")

    @staticmethod
    def register_azure_file_share(*args: Any, **kwargs: Any) -> Datastore:
        """Refused: cloud storage is not part of runner (raises UsageError)."""
        raise UsageError(f"Azure file shares are not supported. {_CLOUD_HINT}")

    @staticmethod
    def register_azure_data_lake_gen2(*args: Any, **kwargs: Any) -> Datastore:
        """Refused: cloud storage is not part of runner (raises UsageError)."""
        raise UsageError(f"Azure Data Lake is not supported. {_CLOUD_HINT}")

    def set_as_default(self) -> None:
        """Make this the workspace's default datastore."""
        _assets.set_default_datastore(self.workspace.store, self.name)

    def unregister(self) -> None:
        """Forget this datastore (its folder and files stay).

        Raises:
            UsageError: it is the default datastore.
        """
        if self.is_default:
            raise UsageError(f"datastore {self.name!r} is the default; make another one the "
                             "default (set_as_default) before unregistering it.")
        _assets.unregister_datastore(self.workspace.store, self.name)

    # ------------------------------------------------------------------- paths

    def resolve(self, path: Any = None, what: str = "path") -> Path:
        """The local path of ``path`` on this datastore (it may not exist).

        Raises:
            UsageError: ``path`` leaves the datastore (``..``, absolute, or a link
                pointing outside).
        """
        rel = check_relative(path, what)
        root = self.root
        full = root / rel if rel else root
        real_root = os.path.realpath(root)
        real = os.path.realpath(full)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise UsageError(f"{what} {rel!r} on datastore {self.name!r} resolves to {real}, "
                             "outside the datastore's folder.", path=rel)
        return full

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataPath:
        """A reference to ``path`` on this datastore (usable wherever a path is)."""
        return DataPath(self, path, data_reference_name)

    # --------------------------------------------------------------- transfers

    def upload(self, src_dir: str | os.PathLike[str], target_path: str | None = None,
               overwrite: bool = False, show_progress: bool = True) -> DataPath:
        """Copy the files under folder ``src_dir`` to ``target_path`` on this datastore.

        Files already there are skipped unless ``overwrite``.

        Raises:
            NotFoundError: ``src_dir`` is not a folder.
            UsageError: ``target_path`` leaves the datastore.
        """
        source = Path(src_dir)
        if not source.is_dir():
            raise NotFoundError(f"upload: {str(source)!r} is not a folder; use upload_files for "
                                "single files.", path=str(source))
        dest = self.resolve(target_path, "target_path")
        files = sorted(p for p in source.rglob("*") if p.is_file())
        pairs = [(p, dest / p.relative_to(source)) for p in files]
        _transfer(pairs, overwrite, show_progress, "Uploading", self.root)
        return DataPath(self, check_relative(target_path))

    def upload_files(self, files: Iterable[str | os.PathLike[str]],
                     relative_root: str | os.PathLike[str] | None = None,
                     target_path: str | None = None, overwrite: bool = False,
                     show_progress: bool = True) -> DataPath:
        """Copy ``files`` to ``target_path``, keeping their paths below ``relative_root``
        (default: the folder they have in common).

        Raises:
            NotFoundError: a file does not exist.
            UsageError: a file is not under ``relative_root``, or ``target_path``
                leaves the datastore.
        """
        paths = [Path(f).resolve() for f in files]
        for p in paths:
            if not p.is_file():
                raise NotFoundError(f"upload_files: no file at {str(p)!r}.", path=str(p))
        if not paths:
            return DataPath(self, check_relative(target_path))
        root = Path(relative_root).resolve() if relative_root is not None else \
            Path(os.path.commonpath([str(p.parent) for p in paths]))
        dest = self.resolve(target_path, "target_path")
        pairs = []
        for p in paths:
            if root != p and root not in p.parents:
                raise UsageError(f"upload_files: {str(p)!r} is not under relative_root "
                                 f"{str(root)!r}.", path=str(p))
            pairs.append((p, dest / p.relative_to(root)))
        _transfer(pairs, overwrite, show_progress, "Uploading", self.root)
        return DataPath(self, check_relative(target_path))

    def download(self, target_path: str | os.PathLike[str], prefix: str | None = None,
                 overwrite: bool = False, show_progress: bool = True) -> int:
        """Copy the files whose path starts with ``prefix`` into ``target_path``,
        keeping their paths on the datastore; returns how many were copied.

        Raises:
            UsageError: ``prefix`` leaves the datastore.
        """
        rel = check_relative(prefix, "prefix")
        self.resolve(rel, "prefix")
        root = self.root
        out = Path(target_path)
        files = []
        for p in sorted(root.rglob("*")):
            name = p.relative_to(root).as_posix()
            if p.name.startswith(".") and p.name.endswith(".part"):
                continue  # an upload in progress
            if p.is_file() and (not rel or name == rel or name.startswith(rel)):
                files.append((p, out / name))
        return _transfer(files, overwrite, show_progress, "Downloading", None)


class DataPath:
    """A path on a datastore: ``DataPath(datastore, "data/train")``, or
    ``datastore.path("data/train")``, accepted wherever a dataset takes a path."""

    def __init__(self, datastore: Datastore, path_on_datastore: str | None = None,
                 name: str | None = None) -> None:
        self.datastore = datastore
        self.path_on_datastore = check_relative(path_on_datastore)
        self.data_reference_name = name

    def local_path(self) -> Path:
        """The folder or file on this machine."""
        return self.datastore.resolve(self.path_on_datastore)

    def __repr__(self) -> str:
        return f"<DataPath {self.datastore.name}:{self.path_on_datastore or '/'}>"

    def __str__(self) -> str:
        return str(self.local_path())


#: What Azure ML's ``Datastore.upload`` returned; here the same as a DataPath.
DataReference = DataPath


def _transfer(pairs: list[tuple[Path, Path]], overwrite: bool, show: bool, verb: str,
              inside: Path | None) -> int:
    """Copy each (source, dest) through a temp file; skip existing unless ``overwrite``.

    Raises:
        UsageError: with ``inside``, a destination that a link would take outside it
            (checked for every file before anything is copied).
    """
    if inside is not None:
        real_root = os.path.realpath(inside).rstrip(os.sep) + os.sep
        for _, dest in pairs:
            real = os.path.realpath(dest)
            if not real.startswith(real_root):
                raise UsageError(f"{str(dest)!r} resolves to {real}, outside the datastore's "
                                 f"folder {str(inside)!r}; nothing was copied.", path=str(dest))
    bar = _Progress(len(pairs), verb, show)
    copied = skipped = 0
    for source, dest in pairs:
        if dest.exists() and not overwrite:
            skipped += 1
            bar.step(source, skipped=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{dest.name[:16]}.", suffix=".part",
                                    dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, temp)
            shutil.copymode(source, temp)
            os.replace(temp, dest)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
        copied += 1
        bar.step(source)
    bar.done(copied, skipped)
    return copied


class _Progress:
    """A one-line bar on a terminal, one line per file elsewhere (logs, notebooks)."""

    def __init__(self, total: int, verb: str, show: bool) -> None:
        self.total = total
        self.verb = verb
        self.show = show
        self.count = 0
        self.tty = show and sys.stdout.isatty()
        if show and not self.tty:
            print(f"{verb} an estimated of {total} files", flush=True)

    def step(self, source: Path, skipped: bool = False) -> None:
        self.count += 1
        if not self.show:
            return
        if self.tty:
            width = 30
            filled = width * self.count // max(self.total, 1)
            sys.stdout.write(f"\r{self.verb} [{'#' * filled}{'.' * (width - filled)}] "
                             f"{self.count}/{self.total} files")
            sys.stdout.flush()
        elif skipped and self.verb == "Downloading":
            print(f"Path already exists. Skipping download for {source}", flush=True)
        elif skipped:
            print(f"Target already exists. Skipping upload for {source}", flush=True)
        else:
            print(f"{self.verb[:-3]}ed {source}, {self.count} files out of an estimated "
                  f"total of {self.total}", flush=True)

    def done(self, copied: int, skipped: int) -> None:
        if not self.show:
            return
        if self.tty:
            sys.stdout.write("\n")
        extra = f" ({skipped} already there, skipped)" if skipped else ""
        print(f"{self.verb[:-3]}ed {copied} files{extra}", flush=True)
