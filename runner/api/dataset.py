"""``Dataset``: file and tabular datasets, registered as frozen, versioned snapshots.

``Dataset.File.from_files(path=...)`` and
``Dataset.Tabular.from_delimited_files(path=...)`` define a dataset by where its
files are (see :mod:`runner.api.dataset_paths`); nothing is read or copied yet.
``dataset.register(ws, name)`` freezes the files into the content store (the same
bytes are stored once) as a version of ``name``: later changes to the folder make
a new version when registered again, never change an old one.
``Dataset.get_by_name(ws, name, version)`` opens a version, whose files are then
read from the frozen snapshot.

Reading: ``to_path()`` lists the files, ``download(target)`` copies them,
``mount()`` gives a read-only folder of them (the frozen snapshot itself), and a
tabular dataset's ``to_pandas_dataframe()`` reads them with pandas (the optional
``pandas`` extra). Standard library only until pandas is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import UsageError
from ..registry import assets as _assets
from ..registry import content as _content
from . import dataset_paths as _paths
from .data_io import DatasetConsumptionConfig

if TYPE_CHECKING:
    from .workspace import Workspace



class DataType:
    """Column types for ``set_column_types`` (``DataType.to_float()`` and friends)."""

    def __init__(self, kind: str, formats: list[str] | None = None) -> None:
        self.kind = kind
        self.formats = formats

    @staticmethod
    def to_string() -> DataType:
        """Text."""
        return DataType("string")

    @staticmethod
    def to_long() -> DataType:
        """64-bit integers."""
        return DataType("long")

    @staticmethod
    def to_float() -> DataType:
        """Floating point numbers."""
        return DataType("float")

    @staticmethod
    def to_bool() -> DataType:
        """Booleans."""
        return DataType("bool")

    @staticmethod
    def to_datetime(formats: str | list[str] | None = None) -> DataType:
        """Dates and times, parsed with ``formats`` (strptime) when given."""
        return DataType("datetime", [formats] if isinstance(formats, str) else formats)

    def __repr__(self) -> str:
        return f"DataType({self.kind!r})"


_TYPE_NAMES = {"str": "string", "string": "string", "int": "long", "long": "long",
               "int64": "long", "float": "float", "double": "float", "float64": "float",
               "bool": "bool", "boolean": "bool", "datetime": "datetime", "date": "datetime"}


def _column_types(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError("set_column_types must be a dict of column -> DataType.")
    out = {}
    for column, kind in value.items():
        if isinstance(kind, DataType):
            out[str(column)] = {"kind": kind.kind, "formats": kind.formats}
            continue
        name = kind.__name__ if isinstance(kind, type) else str(kind)
        if name.lower() not in _TYPE_NAMES:
            raise UsageError(f"column {column!r}: unknown type {kind!r}; use DataType.to_long(), "
                             "to_float(), to_string(), to_bool() or to_datetime().")
        out[str(column)] = {"kind": _TYPE_NAMES[name.lower()], "formats": None}
    return out


class AbstractDataset:
    """What file and tabular datasets share: naming, registering, reading files."""

    _type = "file"
    _is_dataset = True  # what data_io looks for (it cannot import this module)

    def __init__(self, spec: dict[str, Any], workspace: Workspace | None = None,
                 row: dict[str, Any] | None = None) -> None:
        self._spec = spec
        self._workspace = workspace
        self._row = row

    # ------------------------------------------------------------- identity

    @property
    def name(self) -> str | None:
        """The registered name, or None."""
        return self._row["name"] if self._row else None

    @property
    def version(self) -> int | None:
        """The registered version, or None."""
        return self._row["version"] if self._row else None

    @property
    def id(self) -> str | None:
        """``name:version`` of a registered dataset, else None."""
        return f"{self.name}:{self.version}" if self._row else None

    @property
    def description(self) -> str | None:
        """The registered description."""
        return self._row["description"] if self._row else None

    @property
    def tags(self) -> dict[str, str | None]:
        """The registered tags."""
        return dict(self._row["tags"]) if self._row else {}

    @property
    def workspace(self) -> Workspace | None:
        """The workspace it is registered in (or was defined on)."""
        return self._workspace

    @property
    def snapshot_id(self) -> str | None:
        """The frozen snapshot of a registered version's files."""
        return self._row["snapshot_id"] if self._row else None

    def __repr__(self) -> str:
        where = self.id or ", ".join(_describe(s) for s in self._spec["sources"])
        return f"<{type(self).__name__} {where}>"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._spec == self._spec \
            and other.id == self.id  # type: ignore[attr-defined]

    __hash__ = object.__hash__

    # ------------------------------------------------------------ registering

    def register(self, workspace: Workspace, name: str, description: str | None = None,
                 tags: dict[str, Any] | None = None,
                 create_new_version: bool = False) -> AbstractDataset:
        """Freeze the dataset's files and register them as a version of ``name``.

        Registering unchanged files again returns the existing version.

        Args:
            workspace: Where to register.
            name: The dataset's name.
            description: Free text.
            tags: Key/values.
            create_new_version: Needed when ``name`` exists with other files.

        Returns:
            The registered version.

        Raises:
            UsageError: a bad name, or ``name`` exists with other content and
                ``create_new_version`` is False.
            DatasetNotFound: the files are missing.
        """
        _paths.check_dataset_name(name)
        snapshot = self._freeze(workspace)
        row = _assets.register(workspace.store, _assets.DATASET, name, snapshot, self._spec,
                               description=description, tags=tags,
                               if_same="reuse" if create_new_version else "strict")
        return _from_row(workspace, row)

    def _freeze(self, workspace: Workspace) -> str:
        """The snapshot id of the dataset's files (freezing them if not registered)."""
        if self._row is not None:
            return self._row["snapshot_id"]
        workspace.paths.tmp.mkdir(parents=True, exist_ok=True)
        files = _paths.resolve(workspace, self._spec["sources"], workspace.paths.tmp)
        base = Path(os.path.commonpath([str(p.parent) for _, p in files]))
        try:
            return _content.freeze(workspace.paths, base, files).id
        finally:
            import shutil

            for _, path in files:  # fetched http(s) files: stored now, not needed any more
                if path.parent.name.startswith("url-") and path.parent.parent == \
                        workspace.paths.tmp:
                    shutil.rmtree(path.parent, ignore_errors=True)

    def add_tags(self, tags: dict[str, Any]) -> None:
        """Add or change tags of a registered version."""
        row = self._registered("add_tags")
        _assets.set_meta(self._workspace.store, _assets.DATASET, row["name"],  # type: ignore
                         row["version"], "tags", dict(tags))
        self._row = _assets.get(self._workspace.store, _assets.DATASET,  # type: ignore
                                row["name"], row["version"])

    def _registered(self, what: str) -> dict[str, Any]:
        if self._row is None:
            raise UsageError(f"{what} needs a registered dataset; call register(ws, name) "
                             "first.")
        return self._row

    # ------------------------------------------------------------------ reading

    def _files(self) -> list[tuple[str, Path]]:
        if self._row is not None:
            folder = _content.files_dir(self._workspace.paths,  # type: ignore[union-attr]
                                        self._row["snapshot_id"])
            return [(str(f["path"]), folder / str(f["path"])) for f in _content.list_files(
                self._workspace.paths, self._row["snapshot_id"])]  # type: ignore[union-attr]
        tmp = self._workspace.paths.tmp if self._workspace is not None else None
        return _paths.resolve(self._workspace, self._spec["sources"], tmp)

    def to_path(self) -> list[str]:
        """The dataset's files, as paths relative to its root (``/a.csv``, ``/sub/b.csv``)."""
        return ["/" + rel for rel, _ in self._files()]

    def download(self, target_path: str | os.PathLike[str] | None = None,
                 overwrite: bool = False, ignore_not_found: bool = False) -> list[str]:
        """Copy the files into ``target_path`` (default: a new temp folder); return their paths.

        Raises:
            UsageError: a file exists there and ``overwrite`` is False.
        """
        import shutil
        import tempfile

        dest = Path(target_path) if target_path is not None else Path(tempfile.mkdtemp())
        files = self._files()
        if not overwrite:
            taken = [rel for rel, _ in files if (dest / rel).exists()]
            if taken:
                raise UsageError(f"{len(taken)} file(s) exist already in {str(dest)!r} "
                                 f"(such as {taken[0]!r}); pass overwrite=True or choose an "
                                 "empty folder.", path=str(dest))
        written = []
        for rel, source in files:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()
            shutil.copyfile(source, target)
            written.append(str(target))
        return written

    def mount(self, mount_point: str | os.PathLike[str] | None = None, **kwargs: Any
              ) -> MountContext:
        """A context manager giving a read-only folder of the files (``.mount_point``).

        The folder is the frozen snapshot itself (an unregistered dataset is frozen
        first); with ``mount_point``, a symlink there points to it while mounted.
        """
        if self._workspace is None:  # a local dataset: freeze it into the current workspace
            from . import hooks

            self._workspace = hooks.call("workspace", None)
        return MountContext(self, mount_point)

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        """Use this dataset as input ``name`` of a run (``run.input_datasets[name]``)."""
        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Pass the dataset to a run as a read-only folder path."""
        return self.as_named_input(self.name or "input").as_mount(path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Pass the dataset to a run as a folder path holding copies of its files."""
        return self.as_named_input(self.name or "input").as_download(path_on_compute)

    def as_hdfs(self) -> Any:
        """Refused: there is no HDFS here (raises UsageError)."""
        return self.as_named_input(self.name or "input").as_hdfs()

    # ------------------------------------------------------------------ lookup

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: int | str = "latest",
                    **kwargs: Any) -> AbstractDataset:
        """Open version ``version`` (default the latest) of the registered dataset ``name``.

        Raises:
            DatasetNotFound: no such name or version (the message lists what exists).
        """
        return _from_row(workspace, _assets.get(workspace.store, _assets.DATASET, name,
                                                version))

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, AbstractDataset]:
        """The latest version of every registered dataset, by name."""
        latest: dict[str, dict[str, Any]] = {}
        for row in _assets.query(workspace.store, _assets.DATASET):
            if row["name"] not in latest or row["version"] > latest[row["name"]]["version"]:
                latest[row["name"]] = row
        return {name: _from_row(workspace, latest[name]) for name in sorted(latest)}

    def get_versions(self) -> list[int]:
        """The versions of this registered dataset's name."""
        row = self._registered("get_versions")
        return sorted(r["version"] for r in _assets.query(
            self._workspace.store, _assets.DATASET, name=row["name"]))  # type: ignore


class FileDataset(AbstractDataset):
    """A dataset of files of any kind."""

    _type = "file"


class TabularDataset(AbstractDataset):
    """A dataset of delimited text files read as one table."""

    _type = "tabular"

    def to_pandas_dataframe(self, on_error: str = "null",
                            out_of_range_datetime: str = "null") -> Any:
        """Read every file into one pandas DataFrame (files in path order).

        Raises:
            UsageError: pandas is not installed (``pip install 'runner[pandas]'``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise UsageError("to_pandas_dataframe() needs pandas, which is not installed; "
                             "install it with `pip install 'runner[pandas]'` (or pip install "
                             "pandas).") from None
        options = self._spec["tabular"]
        frames = []
        for _, path in self._files():
            frames.append(pd.read_csv(path, sep=options["separator"],
                                      header=0 if options["header"] else None,
                                      encoding=options.get("encoding") or "utf-8"))
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if not options["header"]:
            frame.columns = [f"Column{i + 1}" for i in range(len(frame.columns))]
        for column, kind in options.get("column_types", {}).items():
            if column not in frame.columns:
                raise UsageError(f"set_column_types names column {column!r}, which the data "
                                 f"does not have; its columns are {list(frame.columns)}.")
            frame[column] = _convert(pd, frame[column], kind)
        return frame


def _convert(pd: Any, series: Any, kind: dict[str, Any]) -> Any:
    if kind["kind"] == "string":
        return series.astype(str)
    if kind["kind"] == "long":
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    if kind["kind"] == "float":
        return pd.to_numeric(series, errors="coerce").astype(float)
    if kind["kind"] == "bool":
        text = series.astype(str).str.strip().str.lower()
        return text.map({"true": True, "1": True, "yes": True, "false": False, "0": False,
                         "no": False}).astype("boolean")
    formats = kind.get("formats") or [None]
    return pd.to_datetime(series, format=formats[0], errors="coerce")


class MountContext:
    """A mounted dataset: ``with dataset.mount() as m: open(m.mount_point + "/a.csv")``."""

    def __init__(self, dataset: AbstractDataset, mount_point: Any = None) -> None:
        self._dataset = dataset
        self._requested = Path(mount_point) if mount_point is not None else None
        self._folder: Path | None = None

    @property
    def mount_point(self) -> str:
        """The folder holding the files (valid between start and stop)."""
        if self._folder is None:
            raise UsageError("the dataset is not mounted; call start() or use `with`.")
        return str(self._requested or self._folder)

    def start(self) -> None:
        """Mount: freeze the files if needed and make the mount point."""
        workspace = self._dataset._workspace
        assert workspace is not None
        folder = _content.files_dir(workspace.paths, self._dataset._freeze(workspace))
        if self._requested is not None:
            if self._requested.exists() or self._requested.is_symlink():
                raise UsageError(f"mount point {str(self._requested)!r} exists already; give "
                                 "a path that does not exist yet.")
            self._requested.parent.mkdir(parents=True, exist_ok=True)
            self._requested.symlink_to(folder, target_is_directory=True)
        self._folder = folder

    def stop(self) -> None:
        """Unmount (removes the mount point's link, if one was made)."""
        if self._requested is not None and self._requested.is_symlink():
            self._requested.unlink()
        self._folder = None

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _describe(source: dict[str, Any]) -> str:
    if source["kind"] == "datastore":
        return f"{source['datastore']}:{source['pattern'] or '/'}"
    return source.get("pattern") or source.get("url", "?")


def _from_row(workspace: Workspace, row: dict[str, Any]) -> AbstractDataset:
    cls = TabularDataset if row["spec"].get("type") == "tabular" else FileDataset
    return cls(row["spec"], workspace, row)


def from_record(workspace: Workspace, record: dict[str, Any]) -> AbstractDataset:
    """The dataset a run read, from its record (registered version or frozen snapshot)."""
    spec = record["spec"]
    if record.get("dataset"):
        try:
            return Dataset.get_by_name(workspace, record["dataset"], record["version"])
        except UsageError:
            pass  # the version was deleted since: the snapshot still has the files
    cls = TabularDataset if spec.get("type") == "tabular" else FileDataset
    row = {"name": record.get("dataset") or record["name"], "version": record.get("version"),
           "snapshot_id": record["snapshot_id"], "description": None, "tags": {}}
    return cls(spec, workspace, row)


def _workspace_of(path: Any) -> Workspace | None:
    items = path if isinstance(path, list) else [path]
    for item in items:
        store = item[0] if isinstance(item, tuple) and item else getattr(item, "datastore", None)
        if store is not None and hasattr(store, "workspace"):
            return store.workspace
    return None


class _FileFactory:
    """``Dataset.File``: make file datasets."""

    @staticmethod
    def from_files(path: Any, validate: bool = True, partition_format: str | None = None,
                   is_file: bool = False) -> FileDataset:
        """A file dataset of ``path``: a file, folder or glob, ``(datastore, 'path/**')``,
        a DataPath, an ``http(s)://`` file, or a list of them.

        Raises:
            UsageError: a cloud-only or unsupported path, or one outside a datastore.
            DatasetNotFound: with ``validate``, a path that matches no file.
        """
        workspace = _workspace_of(path)
        sources = _paths.to_sources(workspace, path)
        if validate:
            _check_local(workspace, sources)
        return FileDataset({"type": "file", "sources": sources}, workspace)


    @staticmethod
    def upload_directory(src_dir: str | os.PathLike[str], target: Any,
                         pattern: str | None = None, overwrite: bool = False,
                         show_progress: bool = True) -> FileDataset:
        """Copy folder ``src_dir`` to ``target`` (``(datastore, 'path')`` or a DataPath)
        and return a file dataset of what is there.

        Raises:
            UsageError: ``target`` is not a datastore path, or leaves the datastore.
        """
        from .datastore import DataPath

        if isinstance(target, tuple) and len(target) == 2:
            target = DataPath(target[0], target[1])
        if not isinstance(target, DataPath):
            raise UsageError("upload_directory: target must be (datastore, 'path') or a "
                             "DataPath.")
        store = target.datastore
        source = Path(src_dir)
        if pattern:
            files = [p for p in source.glob(pattern) if p.is_file()]
            store.upload_files(files, relative_root=source, target_path=target.path_on_datastore,
                               overwrite=overwrite, show_progress=show_progress)
        else:
            store.upload(source, target.path_on_datastore, overwrite=overwrite,
                         show_progress=show_progress)
        return _FileFactory.from_files(target)


class _TabularFactory:
    """``Dataset.Tabular``: make tabular datasets."""

    @staticmethod
    def from_delimited_files(path: Any, validate: bool = True, include_path: bool = False,
                             infer_column_types: bool = True,
                             set_column_types: dict[str, Any] | None = None,
                             separator: str = ",", header: Any = True,
                             partition_format: str | None = None,
                             support_multi_line: bool = False, empty_as_string: bool = False,
                             encoding: str = "utf8") -> TabularDataset:
        """A tabular dataset of the delimited files at ``path`` (as for ``from_files``).

        Args:
            path: Where the files are.
            validate: Check now that the path has files.
            set_column_types: Column -> DataType (or ``int``/``float``/``str``/``bool``).
            separator: The field separator.
            header: True: every file's first line holds the column names; False: none.

        Raises:
            UsageError: as for ``from_files``, or bad options.
            DatasetNotFound: with ``validate``, a path that matches no file.
        """
        if not isinstance(separator, str) or not separator:
            raise UsageError(f"separator must be a non-empty string, not {separator!r}.")
        workspace = _workspace_of(path)
        sources = _paths.to_sources(workspace, path)
        header_flag = bool(getattr(header, "value", header)) if header is not None else False
        spec = {"type": "tabular", "sources": sources,
                "tabular": {"separator": separator, "header": header_flag,
                            "column_types": _column_types(set_column_types),
                            "encoding": encoding}}
        if validate:
            _check_local(workspace, sources)
        return TabularDataset(spec, workspace)


def _check_local(workspace: Workspace | None, sources: list[dict[str, Any]]) -> None:
    local = [s for s in sources if s["kind"] != "url"]
    if local:
        _paths.resolve(workspace, local)


class Dataset:
    """Make datasets (``Dataset.File``, ``Dataset.Tabular``) and open registered ones."""

    File = _FileFactory
    Tabular = _TabularFactory
    get_by_name = staticmethod(AbstractDataset.get_by_name)
    get_all = staticmethod(AbstractDataset.get_all)


def input_values(workspace: Workspace, records: list[dict[str, Any]]) -> dict[str, Any]:
    """``run.input_datasets``: input name -> its path (file datasets given as a mount or
    download) or its dataset (tabular ones, and file datasets given directly)."""
    out: dict[str, Any] = {}
    for record in records:
        tabular = record["spec"].get("type") == "tabular"
        if record["mode"] in ("mount", "download") and not tabular:
            out[record["name"]] = record["path"]
        else:
            out[record["name"]] = from_record(workspace, record)
    return out
