"""Where a dataset's files are: its path specs, resolved to files on this machine.

A dataset is defined by *sources*, each one of: a local path (a file, a folder =
everything under it, or a glob such as ``data/*.csv`` or ``data/**``), a path on a
datastore (``(datastore, "data/**")`` or a :class:`~runner.api.datastore.DataPath`),
or a plain ``http(s)://`` file (fetched when the dataset is frozen or read, where
the network allows). Cloud-only storage (``azureml://``, ``wasbs://``, ``abfss://``,
``https://<account>.blob.core.windows.net/...``) is refused: there is no service.

Each source has a *base*, the folder its files are named relative to (a folder
source: itself; a file: its parent; a glob: the part before the first wildcard),
so ``to_path()`` gives ``/a.csv``, ``/sub/b.csv`` as Azure ML did.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import DatasetNotFound, UsageError
from .datastore import DataPath, Datastore, check_relative

if TYPE_CHECKING:
    from .workspace import Workspace

_CLOUD = re.compile(
    r"^(azureml|wasbs?|abfss?|adl|gs|s3|hdfs|dbfs)://|^https?://[^/]*\.(blob|dfs|file)\."
    r"core\.(windows|chinacloudapi|usgovcloudapi)\.(net|cn)(/|$)", re.IGNORECASE)
_WILDCARD = re.compile(r"[*?\[]")
_NAME = re.compile(r"[A-Za-z0-9][\w.-]{0,254}\Z")


def check_dataset_name(name: Any) -> str:
    """A dataset name: a letter or digit, then letters, digits, ``_``, ``-``, ``.``.

    Raises:
        UsageError: anything else.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"dataset name {name!r} must start with a letter or digit and hold "
                         "only letters, digits, '_', '-' and '.'.")
    return name


def check_not_cloud(text: str) -> None:
    """Refuse a cloud-only location with what to do instead.

    Raises:
        UsageError: ``text`` names Azure storage or an ``azureml://`` path.
    """
    if _CLOUD.match(text):
        raise UsageError(
            f"{text!r} is in cloud storage, which runner cannot read: there is no Azure "
            "service behind it. Copy the files to this machine (or to a datastore with "
            "datastore.upload) and give the local path or (datastore, 'path').", path=text)


def to_sources(workspace: Workspace | None, path: Any) -> list[dict[str, Any]]:
    """Turn the ``path`` argument of ``from_files``/``from_delimited_files`` into sources.

    Raises:
        UsageError: an unsupported kind of path, a cloud path, or a path outside a
            datastore.
    """
    items = path if isinstance(path, list) else [path]
    if not items:
        raise UsageError("path is empty; give a file, folder, glob or (datastore, 'path').")
    sources = []
    for item in items:
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], Datastore):
                raise UsageError(f"a datastore path is (datastore, 'path'), not {item!r}.")
            sources.append(_datastore_source(item[0], item[1]))
        elif isinstance(item, DataPath):
            sources.append(_datastore_source(item.datastore, item.path_on_datastore))
        elif isinstance(item, (str, os.PathLike)):
            text = os.fspath(item)
            check_not_cloud(text)
            if re.match(r"^https?://", text, re.IGNORECASE):
                sources.append({"kind": "url", "url": text})
            elif re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
                raise UsageError(f"{text!r}: only local paths, datastore paths and http(s) "
                                 "files can be read.", path=text)
            else:
                sources.append({"kind": "local", "pattern": os.path.abspath(text)})
        else:
            raise UsageError(f"a dataset path is a str, a (datastore, 'path') tuple or a "
                             f"DataPath, not {type(item).__name__}.")
    return sources


def _datastore_source(datastore: Datastore, pattern: Any) -> dict[str, Any]:
    rel = check_relative(pattern, "datastore path")
    fixed = _split(rel)[0]
    datastore.resolve(fixed, "datastore path")  # refuses links that lead outside
    return {"kind": "datastore", "datastore": datastore.name, "pattern": rel}


def _split(pattern: str) -> tuple[str, bool]:
    """(the part before the first wildcard, up to a '/'; whether there is a wildcard)."""
    match = _WILDCARD.search(pattern)
    if match is None:
        return pattern, False
    head = pattern[: match.start()]
    return head[: head.rfind("/") + 1].rstrip("/") if "/" in head else "", True


def resolve(workspace: Workspace | None, sources: list[dict[str, Any]],
            tmp_dir: Path | None = None) -> list[tuple[str, Path]]:
    """The files of ``sources``: ``[(name relative to its base, path)]``, sorted.

    ``url`` sources are fetched into ``tmp_dir``.

    Raises:
        DatasetNotFound: a source matches no file (the message names it).
        UsageError: a datastore source without a workspace, or a fetch that failed.
    """
    found: list[tuple[str, Path]] = []
    for source in sources:
        if source["kind"] == "url":
            found.append(_fetch(source["url"], tmp_dir))
            continue
        if source["kind"] == "datastore":
            if workspace is None:
                raise UsageError("a dataset on a datastore needs its workspace.")
            store = Datastore(workspace, source["datastore"])
            root = str(store.root)
            pattern = os.path.join(root, source["pattern"]) if source["pattern"] else root
            shown = f"{source['pattern'] or '/'} on datastore {store.name!r}"
        else:
            pattern = source["pattern"]
            shown = pattern
        files = _match(pattern)
        if not files:
            raise DatasetNotFound(f"no files found at {shown}; check the path (a folder, a "
                                  "file or a glob such as 'data/*.csv').", path=shown)
        found.extend(files)
    return sorted(found)


def _match(pattern: str) -> list[tuple[str, Path]]:
    fixed, wild = _split(pattern.replace(os.sep, "/"))
    if not wild:
        path = Path(pattern)
        if path.is_file():
            return [(path.name, path)]
        if path.is_dir():
            return [(p.relative_to(path).as_posix(), p) for p in sorted(path.rglob("*"))
                    if p.is_file()]
        return []
    base = Path(fixed or "/")
    out = []
    for hit in sorted(glob.glob(pattern, recursive=True)):
        p = Path(hit)
        if p.is_file():
            out.append((p.relative_to(base).as_posix(), p))
    return out


def _fetch(url: str, tmp_dir: Path | None) -> tuple[str, Path]:
    import tempfile
    import urllib.parse
    import urllib.request

    name = os.path.basename(urllib.parse.urlparse(url).path) or "download"
    folder = Path(tempfile.mkdtemp(prefix="url-", dir=tmp_dir))
    target = folder / name
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
    except OSError as exc:
        raise UsageError(f"could not fetch {url}: {exc}; download it and give the local "
                         "path instead.", path=url) from exc
    return name, target
