"""A run's files: uploading, listing and downloading them, and the rules for names."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from runner import ArtifactError, ArtifactNotFound, Experiment, Run, UsageError


@pytest.fixture
def run(exp: Experiment):
    """A running interactive run that tracks no outputs folder."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    yield run
    run.complete()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A folder of files to upload: a.txt, sub/b.txt, sub/deep/c.bin."""
    root = tmp_path / "src"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text("A")
    (root / "sub" / "b.txt").write_text("B")
    (root / "sub" / "deep" / "c.bin").write_bytes(b"\x00C")
    return root


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# -------------------------------------------------------------------- uploads


def test_upload_file_from_a_path(run: Run, src: Path):
    """upload_file stores a copy of the file under the name given."""
    run.upload_file("outputs/a.txt", src / "a.txt")

    assert ["outputs/a.txt"] == run.get_file_names()
    assert "A" == (run.folder / "outputs" / "a.txt").read_text()


def test_upload_file_from_a_binary_or_text_stream(run: Run):
    """upload_file stores what a bytes or text stream holds."""
    run.upload_file("raw.bin", io.BytesIO(b"\x01\x02"))
    run.upload_file("notes.txt", io.StringIO("hello"))

    assert ["notes.txt", "raw.bin"] == run.get_file_names()
    assert b"\x01\x02" == (run.folder / "raw.bin").read_bytes()
    assert "hello" == (run.folder / "notes.txt").read_text()


def test_upload_file_normalizes_the_name(run: Run, src: Path):
    """'./x' and backslashes become a plain '/'-separated name."""
    run.upload_file("./outputs\\w.txt", src / "a.txt")

    assert ["outputs/w.txt"] == run.get_file_names()


def test_upload_file_of_a_missing_file_is_refused(run: Run, tmp_path: Path):
    """Uploading a path with no file raises ArtifactError and records nothing."""
    with pytest.raises(ArtifactError, match="no file"):
        run.upload_file("x.txt", tmp_path / "missing.txt")

    assert [] == run.get_file_names()


def test_upload_files_uploads_each_name_from_its_path(run: Run, src: Path):
    """upload_files stores names[i] from paths[i]."""
    run.upload_files(["one.txt", "two/two.txt"], [str(src / "a.txt"), str(src / "sub/b.txt")])

    assert ["one.txt", "two/two.txt"] == run.get_file_names()
    assert "B" == (run.folder / "two" / "two.txt").read_text()


def test_upload_files_with_mismatched_lengths_uploads_nothing(run: Run, src: Path):
    """Different numbers of names and paths raise UsageError before any upload."""
    with pytest.raises(UsageError, match="names"):
        run.upload_files(["one.txt", "two.txt"], [str(src / "a.txt")])

    assert [] == run.get_file_names()


def test_upload_files_with_a_bad_name_uploads_nothing(run: Run, src: Path):
    """One invalid name among several raises ArtifactError before any upload."""
    with pytest.raises(ArtifactError):
        run.upload_files(["ok.txt", "../bad.txt"], [str(src / "a.txt"), str(src / "a.txt")])

    assert [] == run.get_file_names()


def test_upload_folder_keeps_relative_paths(run: Run, src: Path):
    """upload_folder stores every file as <name>/<path relative to the folder>."""
    run.upload_folder("data", src)

    assert ["data/a.txt", "data/sub/b.txt", "data/sub/deep/c.bin"] == run.get_file_names()
    assert b"\x00C" == (run.folder / "data" / "sub" / "deep" / "c.bin").read_bytes()


def test_upload_folder_of_a_file_is_refused(run: Run, src: Path):
    """upload_folder given a file rather than a folder raises ArtifactError."""
    with pytest.raises(ArtifactError, match="not a folder"):
        run.upload_folder("data", src / "a.txt")


# --------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["../x", "/abs", "C:\\x", "c:/x", "a/../../b", "a/..", "", "."])
def test_bad_artifact_names_are_refused_and_nothing_is_written(
    run: Run, src: Path, name: str
):
    """Names that escape the run folder (or name nothing) raise ArtifactError; no file lands."""
    before = _tree(run.folder.parent.parent)

    with pytest.raises(ArtifactError):
        run.upload_file(name, src / "a.txt")
    with pytest.raises(ArtifactError):
        run.upload_file(name, io.BytesIO(b"x"))

    assert before == _tree(run.folder.parent.parent)
    assert [] == run.get_file_names()


def test_duplicate_name_is_refused_and_the_original_kept(run: Run, src: Path):
    """Artifacts are write-once: a second upload under a name raises and changes nothing."""
    run.upload_file("model.txt", src / "a.txt")

    with pytest.raises(ArtifactError, match="already has a file"):
        run.upload_file("model.txt", src / "sub" / "b.txt")
    with pytest.raises(ArtifactError, match="already has a file"):
        run.upload_file("./model.txt", io.BytesIO(b"other"))

    assert ["model.txt"] == run.get_file_names()
    assert "A" == (run.folder / "model.txt").read_text()


def test_duplicate_name_from_another_handle_is_refused(run: Run, src: Path):
    """Write-once holds across handles on the same run."""
    run.upload_file("model.txt", src / "a.txt")

    with pytest.raises(ArtifactError):
        Run(run.experiment, run.id).upload_file("model.txt", src / "sub" / "b.txt")

    assert "A" == (run.folder / "model.txt").read_text()


# ----------------------------------------------------------------- downloads


def test_download_file_defaults_to_its_basename_in_the_cwd(
    run: Run, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """download_file(name) writes basename(name) into the current folder."""
    run.upload_file("outputs/sub/b.txt", src / "sub" / "b.txt")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)

    written = run.download_file("outputs/sub/b.txt")

    assert "B" == (here / "b.txt").read_text()
    assert (here / "b.txt").resolve() == Path(written).resolve()


def test_download_file_into_a_folder_or_to_a_path(run: Run, src: Path, tmp_path: Path):
    """An existing folder receives basename(name); any other path is the file written."""
    run.upload_file("outputs/a.txt", src / "a.txt")
    folder = tmp_path / "dl"
    folder.mkdir()

    run.download_file("outputs/a.txt", folder)
    run.download_file("outputs/a.txt", tmp_path / "new" / "renamed.txt")

    assert "A" == (folder / "a.txt").read_text()
    assert "A" == (tmp_path / "new" / "renamed.txt").read_text()


def test_download_file_of_a_missing_name_lists_the_files(run: Run, src: Path, tmp_path: Path):
    """Downloading an unknown name raises ArtifactNotFound listing the run's files."""
    run.upload_file("outputs/a.txt", src / "a.txt")

    with pytest.raises(ArtifactNotFound, match=r"outputs/a\.txt"):
        run.download_file("outputs/nope.txt", tmp_path)

    assert [] == [p for p in tmp_path.iterdir() if p.name == "nope.txt"]


def test_download_file_refuses_names_that_escape(run: Run, tmp_path: Path):
    """A download name with '..' raises ArtifactError."""
    with pytest.raises(ArtifactError):
        run.download_file("../../.runner/runner.db", tmp_path)


def test_download_files_under_a_prefix(run: Run, src: Path, tmp_path: Path):
    """download_files(prefix, output_directory) writes the matching files with their paths."""
    run.upload_folder("outputs", src)
    run.upload_file("other.txt", src / "a.txt")

    written = run.download_files("outputs/sub", output_directory=tmp_path / "out")

    assert ["outputs", "outputs/sub", "outputs/sub/b.txt", "outputs/sub/deep",
            "outputs/sub/deep/c.bin"] == _tree(tmp_path / "out")
    assert 2 == len(written)


def test_download_files_without_prefix_takes_everything(run: Run, src: Path, tmp_path: Path):
    """download_files() with no prefix writes every file of the run."""
    run.upload_folder("data", src)

    run.download_files(output_directory=tmp_path / "all")

    assert ["data", "data/a.txt", "data/sub", "data/sub/b.txt", "data/sub/deep",
            "data/sub/deep/c.bin"] == _tree(tmp_path / "all")


def test_download_files_without_append_prefix_strips_it(run: Run, src: Path, tmp_path: Path):
    """append_prefix=False writes paths relative to the prefix."""
    run.upload_folder("outputs", src)

    run.download_files("outputs/sub", output_directory=tmp_path / "o", append_prefix=False)

    assert ["b.txt", "deep", "deep/c.bin"] == _tree(tmp_path / "o")


def test_download_files_of_an_unknown_prefix_is_refused(run: Run, tmp_path: Path):
    """A prefix matching no file raises ArtifactNotFound."""
    with pytest.raises(ArtifactNotFound, match="nothing"):
        run.download_files("nothing", output_directory=tmp_path)


def test_get_file_names_of_a_new_run_is_empty(run: Run):
    """A run with no files lists none."""
    assert [] == run.get_file_names()
