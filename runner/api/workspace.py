"""The workspace: a folder holding ``.runner/`` (store, snapshots, envs, runs).

Found like git finds a repository: walking up from a folder (default: the
current one) to the first that holds ``.runner/``. ``RUNNER_WORKSPACE`` names
one directly and wins over the walk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import WorkspaceNotFound
from ..core.paths import RUNNER_DIR, WorkspacePaths
from ..inrun import context as _context
from .workspace_v1 import WorkspaceV1, v1_names

if TYPE_CHECKING:
    from ..store.db import Store
    from .dataset import AbstractDataset
    from .datastore import Datastore
    from .experiment import Experiment
    from .model import Model
    from .workconfig import WorkspaceConfig


class Workspace(WorkspaceV1):
    """A workspace folder. Make one with :meth:`create`, find one with
    :meth:`from_config` or open a known one with :meth:`get`.

    ``Workspace(subscription_id, resource_group, workspace_name)`` (Azure ML v1's
    form) opens the workspace ``from_config()`` finds and keeps those names for
    display (see :mod:`runner.api.workspace_v1`).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *args: Any,
                 **kwargs: Any) -> None:
        v1 = v1_names((path, *args), kwargs)
        self._v1: dict[str, str | None] = {}
        if v1 is not None:
            found = _context.workspace_override() or find_root(None)
            if found is None:
                raise WorkspaceNotFound(
                    f"Workspace({v1['subscription_id']!r}, {v1['resource_group']!r}, "
                    f"{v1['workspace_name']!r}) opens the local workspace, and none was found "
                    f"in {Path.cwd()} or above; create one with `runner init` or set "
                    f"RUNNER_WORKSPACE.", path=str(Path.cwd()))
            path = found
            self._v1 = v1
        elif args or kwargs:
            raise TypeError(f"Workspace() takes a folder, or v1's (subscription_id, "
                            f"resource_group, workspace_name); got {args!r} {kwargs!r}.")
        if path is None:
            raise TypeError("Workspace() needs a folder (or use Workspace.from_config()).")
        root = Path(path).resolve()
        runner_dir = root / RUNNER_DIR
        if not runner_dir.is_dir():
            raise WorkspaceNotFound(
                f"{root} is not a workspace (it has no {RUNNER_DIR}/ folder); create one "
                f"with `runner init {root}` or Workspace.create({str(root)!r}).",
                path=str(root),
            )
        self.paths = WorkspacePaths(root)
        self._store: Store | None = None
        self._config: WorkspaceConfig | None = None

    @property
    def root(self) -> Path:
        """The folder that holds ``.runner/``."""
        return self.paths.root

    @property
    def name(self) -> str:
        """The workspace folder's name (or the v1 ``workspace_name`` it was opened with)."""
        return self._v1.get("workspace_name") or self.paths.root.name

    @property
    def store(self) -> Store:
        """The workspace's store (opened on first use)."""
        if self._store is None:
            from ..store.db import Store

            self._store = Store(self.paths)
        return self._store

    @property
    def config(self) -> WorkspaceConfig:
        """The validated settings of ``.runner/config.yaml`` (read on first use)."""
        if self._config is None:
            from .workconfig import load_config

            self._config = load_config(self.paths.config)
        return self._config

    @classmethod
    def create(cls, path: str | os.PathLike[str] = ".", exist_ok: bool = True) -> Workspace:
        """Make ``path/.runner/`` (with a documented ``config.yaml``) and return it.

        Raises:
            WorkspaceNotFound: ``exist_ok`` is False and one exists already, or
                ``.runner`` exists and is not a folder.
        """
        from .workconfig import TEMPLATE

        root = Path(path).resolve()
        runner_dir = root / RUNNER_DIR
        if runner_dir.exists() and not runner_dir.is_dir():
            raise WorkspaceNotFound(
                f"{runner_dir} exists and is not a folder; move it away to create a "
                "workspace here.",
                path=str(runner_dir),
            )
        if runner_dir.is_dir() and not exist_ok:
            raise WorkspaceNotFound(f"{root} is a workspace already.", path=str(root))
        root.mkdir(parents=True, exist_ok=True)
        runner_dir.mkdir(exist_ok=True)
        paths = WorkspacePaths(root)
        for folder in (paths.runs, paths.snapshots, paths.envs, paths.locks, paths.tmp):
            folder.mkdir(exist_ok=True)
        if not paths.config.exists():
            tmp = paths.tmp / "config.yaml.new"
            tmp.write_text(TEMPLATE, encoding="utf-8")
            os.replace(tmp, paths.config)
        ws = cls(root)
        ws.store.initialize()
        return ws

    @classmethod
    def get(cls, path: str | os.PathLike[str], auth: Any = None, subscription_id: str | None = None,
            resource_group: str | None = None, location: str | None = None,
            **kwargs: Any) -> Workspace:
        """Open the workspace at ``path`` exactly (no walking up).

        v1's ``Workspace.get(name, subscription_id=..., resource_group=...)``: a
        ``name`` that is not a folder opens the workspace ``from_config()`` finds,
        keeping ``name`` as its name.

        Raises:
            WorkspaceNotFound: ``path`` holds no ``.runner/`` folder.
        """
        text = os.fspath(path)
        looks_like_name = isinstance(text, str) and os.sep not in text and \
            not Path(text).is_dir()
        if looks_like_name and (subscription_id or resource_group or find_root(None)
                                or _context.workspace_override()):
            ws = cls(subscription_id=subscription_id, resource_group=resource_group,
                     workspace_name=text, location=location)
            ws.config  # noqa: B018 - validate settings early
            return ws
        ws = cls(path)
        ws.config  # noqa: B018 - validate settings early
        return ws

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, auth: Any = None,
                    _logger: Any = None, _file_name: Any = None) -> Workspace:
        """Find the workspace: ``RUNNER_WORKSPACE`` if set, else walk up from ``path``.

        Raises:
            WorkspaceNotFound: none was found; the message says how to create one.
        """
        override = _context.workspace_override()
        if override:
            return cls(override)
        if path is not None and Path(path).is_file():  # v1: a config.json's path
            path = Path(path).parent
        found = find_root(path)
        if found is None:
            start = Path(path or ".").resolve()
            raise WorkspaceNotFound(
                f"no workspace found in {start} or any folder above it; create one with "
                "`runner init` (or Workspace.create(path)), or set RUNNER_WORKSPACE.",
                path=str(start),
            )
        return cls(found)

    def get_default_datastore(self) -> Datastore:
        """The default datastore (``workspaceblobstore``, a folder under ``.runner/``)."""
        from .datastore import Datastore

        return Datastore(self)

    def set_default_datastore(self, name: str) -> None:
        """Make the registered datastore ``name`` the default.

        Raises:
            DatastoreNotFound: it is not registered.
        """
        from .datastore import Datastore

        Datastore(self, name).set_as_default()

    @property
    def datastores(self) -> dict[str, Datastore]:
        """Every datastore of the workspace, by name."""
        from .datastore import Datastore

        return {d.name: d for d in Datastore.list(self)}

    @property
    def datasets(self) -> dict[str, AbstractDataset]:
        """The latest version of every registered dataset, by name."""
        from .dataset import Dataset

        return Dataset.get_all(self)

    @property
    def models(self) -> dict[str, Model]:
        """The latest version of every registered model, by name."""
        from .model import Model

        return {m.name: m for m in sorted(Model.list(self, latest=True), key=lambda m: m.name)}

    def _experiment(self, name: str) -> Experiment:
        """The experiment ``name`` of this workspace (made on first use)."""
        from .experiment import Experiment

        return Experiment(self, name)

    def __repr__(self) -> str:
        return f"<Workspace {self.root}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)


def find_root(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest folder at or above ``path`` that holds ``.runner/``."""
    here = Path(path or ".").resolve()
    for folder in (here, *here.parents):
        if (folder / RUNNER_DIR).is_dir():
            return folder
    return None
