"""``Model``: the workspace's model registry, as Azure ML SDK v1 scripts call it.

A model version is a registered asset (``runner.registry``): a name, a version
(1, 2, ... per name), tags, add-only properties, a description, the run it came
from, and its files, frozen in the content store when it is registered (the same
bytes are stored once). ``Model.register`` takes a local file or folder;
``run.register_model`` takes a file or folder among a run's files.

A model's files keep the name they were registered under: ``outputs/model.pkl``
becomes ``model.pkl``, a folder ``outputs/`` becomes ``outputs/...``.
``download`` and ``get_model_path`` return that file or folder.

Deployment (``Model.deploy``, ``InferenceConfig``, web services) is not part of
``runner``: those calls raise :class:`UsageError` saying what to do instead.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ModelNotFound, UsageError
from ..registry import assets as _assets
from ..registry import content as _content

if TYPE_CHECKING:
    from .workspace import Workspace

_DEPLOY_HINT = (
    "Deploying models as web services is not part of runner. Load the model in your own "
    "service instead: path = Model.get_model_path(name, version, _workspace=ws) (or "
    "model.download(folder)) gives its files; serve them with a web framework of your "
    "choice (for example FastAPI or Flask) calling your scoring script's init() and run()."
)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"model_name must be a non-empty string, not {name!r}.")
    if len(name) > 255 or "/" in name or ":" in name:
        raise UsageError(f"model name {name!r} must be at most 255 characters, without "
                         "'/' or ':'.", name=name)
    return name


def _pairs(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a dict of key -> value, not {type(value).__name__}.")
    return value


def _filter_items(value: Any, what: str) -> list[tuple[str, Any]]:
    """v1's tag filters: ``["key", ["key2", "value2"]]``, or a dict (equality)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [(str(k), str(v) if v is not None else None) for k, v in value.items()]
    if isinstance(value, str):
        value = [value]
    items: list[tuple[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            items.append((item, _ANY))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            items.append((str(item[0]), None if item[1] is None else str(item[1])))
        else:
            raise UsageError(f"{what} filter items are 'key' or ['key', 'value'], not "
                             f"{item!r}.")
    return items


_ANY = object()


def _matches(meta: dict[str, Any], items: list[tuple[str, Any]]) -> bool:
    return all(k in meta and (v is _ANY or meta[k] == v) for k, v in items)


class Model:
    """One registered model version.

    ``Model(ws, name)`` is the latest version of ``name``; ``version=``, ``id=``
    (``"name:version"``), ``tags=``, ``properties=`` and ``run_id=`` narrow it.

    Raises:
        ModelNotFound: nothing registered matches (the message says what exists).
    """

    def __init__(self, workspace: Workspace, name: str | None = None, id: str | None = None,
                 tags: Any = None, properties: Any = None, version: int | None = None,
                 run_id: str | None = None, **kwargs: Any) -> None:
        self.workspace = workspace
        row = kwargs.get("_row")
        if row is None:
            row = _lookup(workspace, name, id, tags, properties, version, run_id)
        self._row = row

    # ------------------------------------------------------------- identity

    @property
    def name(self) -> str:
        """The model's name."""
        return self._row["name"]

    @property
    def version(self) -> int:
        """Its version (1, 2, ... per name)."""
        return self._row["version"]

    @property
    def id(self) -> str:
        """``name:version``."""
        return f"{self.name}:{self.version}"

    @property
    def tags(self) -> dict[str, str | None]:
        """Its tags (mutable)."""
        return dict(self._row["tags"])

    @property
    def properties(self) -> dict[str, str | None]:
        """Its properties (add-only)."""
        return dict(self._row["properties"])

    @property
    def description(self) -> str | None:
        """Its description."""
        return self._row["description"]

    @property
    def run_id(self) -> str | None:
        """The run it was registered from, if any."""
        return self._row["run_id"]

    @property
    def experiment_name(self) -> str | None:
        """The experiment of that run, if any."""
        return self._row["spec"].get("experiment")

    @property
    def created_time(self) -> Any:
        """When it was registered (a UTC ``datetime``)."""
        from datetime import datetime, timezone

        return datetime.fromtimestamp(self._row["created"], timezone.utc)

    @property
    def model_framework(self) -> str | None:
        """The framework given at registration (free text, e.g. ``ScikitLearn``)."""
        return self._row["spec"].get("framework")

    @property
    def model_framework_version(self) -> str | None:
        """The framework version given at registration."""
        return self._row["spec"].get("framework_version")

    @property
    def url(self) -> str:
        """A ``file://`` URL of the model's (read-only) file or folder."""
        return self._path().as_uri()

    def _path(self) -> Path:
        return _content.files_dir(self.workspace.paths, self._row["snapshot_id"]) / \
            self._row["spec"]["path"]

    def get_files(self) -> list[dict[str, Any]]:
        """``[{"path": ..., "size": ...}]`` of the model's files."""
        return _content.list_files(self.workspace.paths, self._row["snapshot_id"])

    def __repr__(self) -> str:
        return (f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, "
                f"version={self.version}, tags={self.tags}, properties={self.properties})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other.workspace == self.workspace \
            and other.id == self.id

    def __hash__(self) -> int:
        return hash((self.workspace, self.id))

    def serialize(self) -> dict[str, Any]:
        """The model as a dict (``name``, ``version``, ``id``, ``runId``, ``files``, ...)."""
        return {
            "name": self.name, "version": self.version, "id": self.id,
            "description": self.description, "tags": self.tags,
            "properties": self.properties, "runId": self.run_id,
            "experimentName": self.experiment_name,
            "createdTime": self.created_time.isoformat().replace("+00:00", "Z"),
            "framework": self.model_framework,
            "frameworkVersion": self.model_framework_version,
            "path": self._row["spec"]["path"], "files": self.get_files(),
        }

    # ----------------------------------------------------------- registering

    @staticmethod
    def register(workspace: Workspace, model_path: str | os.PathLike[str], model_name: str,
                 tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
                 description: str | None = None, datasets: Any = None,
                 model_framework: str | None = None, model_framework_version: str | None = None,
                 child_paths: list[str] | None = None, **kwargs: Any) -> Model:
        """Register a local file or folder as a new version of ``model_name``.

        Args:
            workspace: Where to register it.
            model_path: The file or folder.
            model_name: The model's name; versions go up by one per registration.
            tags: Mutable key/values.
            properties: Add-only key/values.
            description: Free text.
            datasets: Accepted for compatibility; recorded as a property when given.
            model_framework: Free text, e.g. ``"ScikitLearn"``.
            model_framework_version: Free text.
            child_paths: Only these files (relative to the folder ``model_path``).

        Raises:
            NotFoundError: ``model_path`` (or a child path) does not exist.
            UsageError: a bad name, tags or properties.
        """
        name = _check_name(model_name)
        path = Path(model_path)
        files = _content.files_under(path)
        if child_paths:
            if not path.is_dir():
                raise UsageError("child_paths needs model_path to be a folder.")
            wanted = {posixpath.normpath(f"{path.name}/{c}".replace("\\", "/"))
                      for c in child_paths}
            files = [f for f in files if f[0] in wanted]
            missing = sorted(wanted - {f[0] for f in files})
            if missing:
                raise UsageError(f"child_paths not found in {str(path)!r}: "
                                 f"{', '.join(missing)}.")
        return _register(workspace, name, path.resolve().parent, files, path.name,
                         tags=tags, properties=properties, description=description,
                         framework=model_framework, framework_version=model_framework_version,
                         source=str(path.resolve()))

    @staticmethod
    def list(workspace: Workspace, name: str | None = None, tags: Any = None,
             properties: Any = None, run_id: str | None = None, latest: bool = False,
             **kwargs: Any) -> list[Model]:
        """Registered model versions, newest first, matching every filter.

        Args:
            workspace: The workspace.
            name: Only this name.
            tags: ``["key", ["key", "value"]]`` (or a dict): has the key / equals.
            properties: Like ``tags``.
            run_id: Only models registered from this run.
            latest: Only the latest version of each name.
        """
        rows = _assets.query(workspace.store, _assets.MODEL, name=name, run_id=run_id)
        tag_items = _filter_items(tags, "tags")
        prop_items = _filter_items(properties, "properties")
        rows = [r for r in rows if _matches(r["tags"], tag_items)
                and _matches(r["properties"], prop_items)]
        if latest:
            best: dict[str, dict[str, Any]] = {}
            for r in rows:
                if r["name"] not in best or r["version"] > best[r["name"]]["version"]:
                    best[r["name"]] = r
            rows = [r for r in rows if best[r["name"]] is r]
        return [Model(workspace, _row=r) for r in rows]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None,
                       _workspace: Workspace | None = None) -> str:
        """The path of a registered model's file or folder (read-only), to load it from.

        Inside a submitted run the run's workspace is used; elsewhere ``_workspace``
        or the workspace found from the current folder.

        Raises:
            ModelNotFound: no such model or version.
        """
        workspace = _workspace if _workspace is not None else _current_workspace()
        return str(Model(workspace, model_name, version=version)._path())

    # --------------------------------------------------------------- changing

    def _reload(self) -> None:
        self._row = _assets.get(self.workspace.store, _assets.MODEL, self.name, self.version)

    def add_tags(self, tags: dict[str, Any]) -> None:
        """Add or change tags."""
        _assets.set_meta(self.workspace.store, _assets.MODEL, self.name, self.version, "tags",
                         _pairs(tags, "tags"))
        self._reload()
        print("Model tag add operation complete.")

    def remove_tags(self, tags: list[str]) -> None:
        """Remove tags by key."""
        _assets.remove_tags(self.workspace.store, _assets.MODEL, self.name, self.version,
                            list(tags))
        self._reload()
        print("Model tag remove operation complete.")

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties (changing one is an error: they are add-only)."""
        _assets.set_meta(self.workspace.store, _assets.MODEL, self.name, self.version,
                         "properties", _pairs(properties, "properties"))
        self._reload()
        print("Model properties add operation complete.")

    def update(self, tags: dict[str, Any] | None = None, description: str | None = None,
               **kwargs: Any) -> None:
        """Replace the tags (when given) and the description (when given)."""
        if tags is not None:
            _assets.remove_tags(self.workspace.store, _assets.MODEL, self.name, self.version,
                                list(self.tags))
            _assets.set_meta(self.workspace.store, _assets.MODEL, self.name, self.version,
                             "tags", _pairs(tags, "tags"))
        if description is not None:
            _assets.set_description(self.workspace.store, _assets.MODEL, self.name,
                                    self.version, description)
        self._reload()

    def update_tags_properties(self, add_tags: dict[str, Any] | None = None,
                               remove_tags: list[str] | None = None,
                               add_properties: dict[str, Any] | None = None) -> None:
        """Add and remove tags and add properties in one call."""
        if remove_tags:
            self.remove_tags(remove_tags)
        if add_tags:
            self.add_tags(add_tags)
        if add_properties:
            self.add_properties(add_properties)

    def delete(self) -> None:
        """Delete this version (its number is not given again; other versions stay).

        Raises:
            ModelNotFound: it was deleted already.
        """
        if not _assets.delete(self.workspace.store, _assets.MODEL, self.name, self.version):
            raise ModelNotFound(f"model {self.id} does not exist (deleted already?).",
                                name=self.name, version=self.version)

    def download(self, target_dir: str | os.PathLike[str] = ".", exist_ok: bool = False,
                 exists_ok: bool | None = None) -> str:
        """Copy the model's files into ``target_dir``; return the model's file or folder there.

        Raises:
            UsageError: a file is in the way and ``exist_ok`` is False.
        """
        overwrite = exist_ok if exists_ok is None else exists_ok
        dest = Path(target_dir)
        _content.copy_out(self.workspace.paths, self._row["snapshot_id"], dest, overwrite)
        return str(dest / self._row["spec"]["path"])

    # ------------------------------------------------------------- refused

    @staticmethod
    def deploy(*args: Any, **kwargs: Any) -> Any:
        """Refused: deploying web services is not part of runner (raises UsageError)."""
        raise UsageError(f"Model.deploy is not supported. {_DEPLOY_HINT}")

    @staticmethod
    def package(*args: Any, **kwargs: Any) -> Any:
        """Refused: building deployment images is not part of runner (raises UsageError)."""
        raise UsageError(f"Model.package is not supported. {_DEPLOY_HINT}")

    @staticmethod
    def profile(*args: Any, **kwargs: Any) -> Any:
        """Refused: profiling deployments is not part of runner (raises UsageError)."""
        raise UsageError(f"Model.profile is not supported. {_DEPLOY_HINT}")


class _RefusedType(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise UsageError(f"{cls.__name__}.{name} is not supported. {_DEPLOY_HINT}")


class InferenceConfig(metaclass=_RefusedType):
    """Refused: deployment configuration is not part of runner; making one raises
    :class:`UsageError` naming what to do instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UsageError(f"InferenceConfig is not supported. {_DEPLOY_HINT}")


class Webservice(metaclass=_RefusedType):
    """Refused: web services are not part of runner; using this class raises
    :class:`UsageError` naming what to do instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UsageError(f"{type(self).__name__} is not supported. {_DEPLOY_HINT}")


class AciWebservice(Webservice):
    """Refused like :class:`Webservice`."""


class LocalWebservice(Webservice):
    """Refused like :class:`Webservice`."""


# ------------------------------------------------------------------- helpers


def _lookup(workspace: Workspace, name: str | None, model_id: str | None, tags: Any,
            properties: Any, version: int | None, run_id: str | None) -> dict[str, Any]:
    if model_id is not None:
        id_name, _, id_version = str(model_id).rpartition(":")
        if not id_name or not id_version.isdigit():
            raise UsageError(f"model id {model_id!r} must be 'name:version'.")
        name, version = id_name, int(id_version)
    if name is None:
        raise UsageError("Model(workspace, name) needs a name (or id='name:version').")
    if tags is None and properties is None and run_id is None:
        return _assets.get(workspace.store, _assets.MODEL, name, version)
    found = Model.list(workspace, name=name, tags=tags, properties=properties, run_id=run_id)
    found = [m for m in found if version is None or m.version == int(version)]
    if not found:
        _assets.get(workspace.store, _assets.MODEL, name, version)  # says what is missing
        raise ModelNotFound(f"no version of model {name!r} matches the tags, properties or "
                            "run_id given.", name=name)
    return max(found, key=lambda m: m.version)._row


def _register(workspace: Workspace, name: str, base: Path, files: list[tuple[str, Path]],
              path: str, *, tags: Any, properties: Any, description: str | None,
              framework: str | None = None, framework_version: str | None = None,
              run: Any = None, source: str | None = None) -> Model:
    tags = _pairs(tags, "tags")
    properties = _pairs(properties, "properties")
    info = _content.freeze(workspace.paths, base, files)
    spec: dict[str, Any] = {"path": path, "framework": framework,
                            "framework_version": framework_version, "source": source}
    if run is not None:
        spec["experiment"] = run.experiment.name
    row = _assets.register(workspace.store, _assets.MODEL, name, info.id, spec,
                           description=description, run_id=run.id if run is not None else None,
                           tags=tags, properties=properties)
    return Model(workspace, _row=row)


def _current_workspace() -> Workspace:
    from ..inrun import context as _context
    from . import hooks

    ctx = _context.run_context()
    if ctx is not None and ctx.tracking_uri:
        raise UsageError("Model.get_model_path in a run on a remote target cannot reach the "
                         "workspace's registry; download the model with the driver and ship it "
                         "in the source directory.")
    return hooks.call("workspace", ctx.workspace if ctx is not None else None)


def model_catalog(workspace: Workspace, run_id: str | None = None) -> list[dict[str, Any]]:
    """Every model with its versions, for pages and tools (the studio's Models page).

    Args:
        workspace: The workspace.
        run_id: Only models registered from this run (a run's page links to them).

    Returns:
        ``[{"name", "latest", "versions": [Model.serialize() ..., newest first]}]``, by name.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for model in Model.list(workspace, run_id=run_id):
        groups.setdefault(model.name, []).append(model.serialize())
    out = []
    for name in sorted(groups):
        versions = sorted(groups[name], key=lambda v: -v["version"])
        out.append({"name": name, "latest": versions[0]["version"], "versions": versions})
    return out
