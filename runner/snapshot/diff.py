"""Comparing two snapshots: files added, removed and changed, with unified diffs
for text (``runner snapshot diff RUN_A RUN_B``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.paths import WorkspacePaths
from .snapshots import FILES_DIR, load_manifest

#: Text diffs are made for files up to this size.
_DIFF_MAX_BYTES = 1024 * 1024


@dataclass
class SnapshotDiff:
    """What changed from snapshot ``id_a`` to ``id_b`` (sorted relative paths)."""

    id_a: str
    id_b: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    text_diffs: dict[str, str]
    #: Changed files whose content differs but got no text diff (binary, or over 1 MB).
    binary: list[str] = field(default_factory=list)

    def render(self) -> str:
        """Return a human summary: one ``A``/``D``/``M`` line per path, then text diffs."""
        if not (self.added or self.removed or self.changed):
            return f"Snapshots {self.id_a} and {self.id_b} hold the same files.\n"
        lines = [
            f"{self.id_a} -> {self.id_b}: {len(self.added)} added, "
            f"{len(self.removed)} removed, {len(self.changed)} changed"
        ]
        marks = [("A", p) for p in self.added] + [("D", p) for p in self.removed]
        marks += [("M", p) for p in self.changed]
        lines += [f"{mark}  {p}" for mark, p in sorted(marks, key=lambda m: m[1])]
        out = "\n".join(lines) + "\n"
        for p in self.changed:
            if p in self.text_diffs:
                out += "\n" + self.text_diffs[p]
            elif p in self.binary:
                out += f"\nBinary files a/{p} and b/{p} differ\n"
        return out



def diff_snapshots(paths: WorkspacePaths, id_a: str, id_b: str) -> SnapshotDiff:
    """Compare two snapshots; changed text files get a unified diff.

    A file is text when it decodes as UTF-8 and has no NUL byte; text diffs are
    made for files up to 1 MB.

    Raises:
        NotFoundError: Either snapshot does not exist.
    """
    a = {e["path"]: e for e in load_manifest(paths, id_a)["entries"]}
    b = {e["path"]: e for e in load_manifest(paths, id_b)["entries"]}
    added = sorted(b.keys() - a.keys())
    removed = sorted(a.keys() - b.keys())

    def sig(e: dict[str, Any]) -> tuple[Any, ...]:
        return e["kind"], e.get("sha256"), e.get("target"), bool(e.get("exec"))

    changed = sorted(p for p in a.keys() & b.keys() if sig(a[p]) != sig(b[p]))
    diffs: dict[str, str] = {}
    binary = []
    for p in changed:
        if a[p]["kind"] == b[p]["kind"] == "file" and a[p]["sha256"] != b[p]["sha256"]:
            old = _text(paths.snapshot_dir(id_a) / FILES_DIR / p, a[p]["size"])
            new = _text(paths.snapshot_dir(id_b) / FILES_DIR / p, b[p]["size"])
            if old is not None and new is not None:
                import difflib

                lines = difflib.unified_diff(old.splitlines(keepends=True),
                                             new.splitlines(keepends=True),
                                             fromfile=f"a/{p}", tofile=f"b/{p}")
                diffs[p] = "".join(line if line.endswith("\n")
                                   else line + "\n\\ No newline at end of file\n"
                                   for line in lines)
            else:
                binary.append(p)
    return SnapshotDiff(id_a, id_b, added, removed, changed, diffs, binary)


def _text(path: Path, size: int) -> str | None:
    if size > _DIFF_MAX_BYTES:
        return None
    try:
        data = path.read_bytes()
        return None if b"\0" in data else data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
