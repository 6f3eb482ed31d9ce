"""The ``.runner/`` tree of a workspace, as pure path arithmetic (no I/O).

::

    <root>/.runner/
      config.yaml            settings (see runner/api/workconfig.py)
      runner.db              SQLite (WAL): experiments, runs, tags, metrics, ...
      snapshots/
        blobs/<ab>/<sha256>  content store: one read-only file per distinct content
        cache/<sha256>.json  stat cache of one source folder (size, mtime, inode -> sha256)
        <snapshot_id>/       MANIFEST.json + files/ (a browsable tree of hard links to blobs)
      envs/<hash>/           managed virtualenvs, complete ones only
      envs/.tmp/             builds in progress
      environments/<name>/   registered environment versions (<version>.yml)
      datastores/<name>/     folders of datastores registered without a path of their own
                             (the default one, workspaceblobstore)
      runs/<run_id>/         record of one run: outputs/, logs/, uploaded files
                             (while it runs, also the working copy of its snapshot)
      workcopies/<entry>/    pristine working copies kept for the next run of their snapshot
                             (see runner/snapshot/workpool.py)
      shim/                  what a run's interpreter gets on its path (runner, azureml)
      locks/                 lock files
      tmp/                   scratch space, same filesystem as the rest
"""

from __future__ import annotations

import os
from pathlib import Path

RUNNER_DIR = ".runner"


class WorkspacePaths:
    """Where everything of one workspace lives; ``root`` is the folder holding ``.runner``."""

    __slots__ = ("root",)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def runner_dir(self) -> Path:
        return self.root / RUNNER_DIR

    @property
    def config(self) -> Path:
        return self.runner_dir / "config.yaml"

    @property
    def db(self) -> Path:
        return self.runner_dir / "runner.db"

    @property
    def snapshots(self) -> Path:
        return self.runner_dir / "snapshots"

    @property
    def blobs(self) -> Path:
        return self.snapshots / "blobs"

    @property
    def envs(self) -> Path:
        return self.runner_dir / "envs"

    @property
    def datastores(self) -> Path:
        return self.runner_dir / "datastores"

    @property
    def runs(self) -> Path:
        return self.runner_dir / "runs"

    @property
    def workcopies(self) -> Path:
        return self.runner_dir / "workcopies"

    @property
    def shim(self) -> Path:
        return self.runner_dir / "shim"

    @property
    def locks(self) -> Path:
        return self.runner_dir / "locks"

    @property
    def tmp(self) -> Path:
        return self.runner_dir / "tmp"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def snapshot_dir(self, snapshot_id: str) -> Path:
        return self.snapshots / snapshot_id

    def env_dir(self, env_hash: str) -> Path:
        return self.envs / env_hash

    def blob(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest
