"""A run's files: uploading under checked names, listing and downloading.

Mixed into :class:`runner.api.run.Run`, which provides ``_id``, ``_store`` (the
workspace store or its HTTP stand-in) and ``folder`` (the run's folder).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import IO, Any

from ..core import metrics as _metrics
from ..core.errors import ArtifactError, ArtifactNotFound, MetricError, UsageError
from ..store import artifacts as _artifacts


def _image_kind(path: Path) -> str | None:
    """The image type of the file at ``path`` from its content, or None.

    Each format is checked by its real header, not by a byte string anywhere in
    the head: an SVG must start (after an optional XML declaration, comments and
    a doctype) with its ``<svg`` root element.
    """
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 18 and \
            int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if _SVG_START.match(head):
        return "svg"
    return None


_SVG_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--.*?-->|<!DOCTYPE[^>]*>)\s*)*"
    rb"<svg[\s>/]", re.DOTALL | re.IGNORECASE)


class RunFiles:
    """Files of a run: ``outputs/``, ``logs/`` and every file uploaded by name."""

    _id: str
    _store: Any
    folder: Path

    def _add(self, name: str, kind: str, value: Any, step: int | None) -> None:
        raise NotImplementedError  # provided by Run

    def log_image(self, name: str, path: str | os.PathLike[str] | None = None,
                  plot: Any = None, description: str = "") -> None:
        """Store an image file (``path``) or a matplotlib figure (``plot``) as metric ``name``.

        Raises:
            MetricError: both or neither of ``path`` and ``plot``, or not an image.
        """
        _metrics.check_name(name, "log_image")
        if (path is None) == (plot is None):
            raise MetricError(
                f"log_image({name!r}) takes exactly one of path= (an image file) or plot= "
                "(a matplotlib figure or pyplot).",
                metric=name,
            )
        if path is not None:
            source = Path(path)
            if not source.is_file():
                raise MetricError(f"log_image({name!r}): no image file at {source}.",
                                  metric=name)
            if _image_kind(source) is None:
                raise MetricError(
                    f"log_image({name!r}): {source} is not an image (png, jpeg, gif, bmp, "
                    "tiff, webp or svg).",
                    metric=name,
                )
            raw = os.fspath(path)
            artifact = raw if not os.path.isabs(raw) and ".." not in Path(raw).parts \
                else source.name
            if self._in_run_samefile(artifact, source):
                self._register(artifact)
            else:
                self.upload_file(artifact, source)
        else:
            if not hasattr(plot, "savefig"):
                raise MetricError(
                    f"log_image({name!r}): plot= must have a savefig() method (a matplotlib "
                    "figure or pyplot).",
                    metric=name,
                )
            import io

            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            buffer.seek(0)
            artifact = f"{name}_{int(time.time())}.png"
            self.upload_file(artifact, buffer)
        self._add(name, _metrics.IMAGE, _artifacts.artifact_name(artifact), None)



    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[Any],
                    **kwargs: Any) -> None:
        """Store a file (or the content of a stream) in the run under ``name``.

        Raises:
            ArtifactError: the name escapes the run folder or is taken already.
        """
        artifact = _artifacts.artifact_name(name)
        if not hasattr(path_or_stream, "read"):
            source = Path(path_or_stream)  # type: ignore[arg-type]
            if not source.is_file():
                raise ArtifactError(f"upload_file({name!r}): no file at {source}.",
                                    name=name)
            if self._in_run_samefile(artifact, source):
                self._register(artifact)
                return
        if (self.folder / artifact).exists() or artifact in self._store.artifacts(self._id):
            raise ArtifactError(
                f"run {self._id} already has a file named {artifact!r}; artifacts are "
                "write-once, upload under another name.",
                name=artifact,
            )
        _artifacts.check_inside(self.folder, artifact)
        self._store.add_artifact(self._id, artifact)
        try:
            _artifacts.write_new(self.folder / artifact, path_or_stream)
        except BaseException:
            self._store.remove_artifact(self._id, artifact)
            raise

    def _in_run_samefile(self, artifact: str, source: Path) -> bool:
        target = self.folder / artifact
        try:
            return target.exists() and os.path.samefile(target, source)
        except OSError:
            return False

    def _register(self, artifact: str) -> None:
        if artifact not in self._store.artifacts(self._id):
            self._store.add_artifact(self._id, artifact)

    def upload_files(self, names: list[str], paths: list[str], **kwargs: Any) -> None:
        """Upload several files: ``names[i]`` from ``paths[i]``."""
        if len(names) != len(paths):
            raise UsageError(
                f"upload_files() got {len(names)} names and {len(paths)} paths; give one "
                "name per path.")
        checked = [_artifacts.artifact_name(n) for n in names]
        for artifact, path in zip(checked, paths):
            self.upload_file(artifact, path)

    def upload_folder(self, name: str, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Upload every file under folder ``path`` as ``name/<relative path>``."""
        folder = Path(path)
        if not folder.is_dir():
            raise ArtifactError(f"upload_folder({name!r}): {folder} is not a folder.",
                                name=name)
        prefix = _artifacts.artifact_name(name)
        files = sorted(Path(dirpath) / f for dirpath, _dirs, names in _artifacts.walk(folder)
                       for f in names if os.path.isfile(os.path.join(dirpath, f)))
        names = [f"{prefix}/{p.relative_to(folder).as_posix()}" for p in files]
        self.upload_files(names, [str(p) for p in files])

    def get_file_names(self) -> list[str]:
        """Names of the run's files: ``outputs/``, ``logs/`` and uploaded ones."""
        names = set(self._store.artifacts(self._id))
        names.update(_artifacts.record_files(self.folder))
        return sorted(names)

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None,
                      **kwargs: Any) -> str:
        """Copy the run's file ``name`` to ``output_file_path`` (default: its basename
        in the current folder; into it when it is a folder). Returns the path written.

        Raises:
            ArtifactNotFound: the run has no such file (the message lists some it has).
        """
        artifact = _artifacts.artifact_name(name)
        source = self.folder / artifact
        if not source.is_file() or artifact not in self.get_file_names():
            available = self.get_file_names()
            shown = ", ".join(available[:20]) or "none"
            if len(available) > 20:
                shown += f", ... ({len(available) - 20} more)"
            raise ArtifactNotFound(
                f"run {self._id} has no file {artifact!r}; its files are: {shown}.",
                name=artifact, run_id=self._id,
            )
        dest = Path(output_file_path) if output_file_path else Path(Path(artifact).name)
        if dest.is_dir():
            dest = dest / Path(artifact).name
        _artifacts.make_dirs(dest.parent)
        shutil.copyfile(source, dest)
        return str(dest)

    def download_files(self, prefix: str | None = None,
                       output_directory: str | os.PathLike[str] | None = None,
                       append_prefix: bool = True, **kwargs: Any) -> list[str]:
        """Copy every file whose name starts with ``prefix`` into ``output_directory``.

        Returns the paths written.
        """
        names = self.get_file_names()
        if prefix:
            clean = _artifacts.artifact_name(prefix)
            names = [n for n in names if n == clean or n.startswith(clean.rstrip("/") + "/")]
            if not names:
                raise ArtifactNotFound(f"run {self._id} has no files under {prefix!r}.",
                                       name=prefix, run_id=self._id)
        out = Path(output_directory or ".")
        written = []
        for artifact in names:
            rel = artifact
            if prefix and not append_prefix:
                rel = artifact[len(_artifacts.artifact_name(prefix)):].lstrip("/") or \
                    Path(artifact).name
            dest = out / rel
            _artifacts.make_dirs(dest.parent)
            shutil.copyfile(self.folder / artifact, dest)
            written.append(str(dest))
        return written

