"""Deep trees and symlinks in a run folder: walked without recursion, never written through."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from runner import Experiment, ScriptRunConfig
from runner.core.errors import ArtifactError, MetricError

DEPTH = 1200


@pytest.fixture(autouse=True)
def _remove_deep_trees(tmp_path: Path):
    """Remove the deep trees at the end: pytest's own clean-up recurses and would fail."""
    yield
    from runner.store.artifacts import remove_tree

    remove_tree(tmp_path)


def test_a_deep_folder_chain_in_the_working_copy_and_outputs_completes(exp: Experiment,
                                                                       tmp_path: Path):
    """A 1,200-deep chain in the run folder and in outputs/ leaves the run Completed."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "deep.py").write_text(textwrap.dedent(f"""
        import os
        start = os.getcwd()
        for top in ("work", "outputs"):
            os.makedirs(top, exist_ok=True)
            os.chdir(top)
            for _ in range({DEPTH}):
                os.mkdir("d")
                os.chdir("d")
            open("leaf.txt", "w").write("x")
            os.chdir(start)
    """))
    run = exp.submit(ScriptRunConfig(src, "deep.py"))
    details = run.wait_for_completion()
    names = run.get_file_names()
    assert "Completed" == details["status"], details.get("error")
    assert "outputs/" + "d/" * DEPTH + "leaf.txt" in names
    assert not (run.folder / "work").exists()


def test_upload_folder_of_a_deep_tree(exp: Experiment, tmp_path: Path):
    """upload_folder walks a tree deeper than the recursion limit."""
    folder = tmp_path / "tree"
    path = str(folder)
    os.makedirs(path)
    for _ in range(DEPTH):
        path = os.path.join(path, "d")
        os.mkdir(path)
    with open(os.path.join(path, "leaf.txt"), "w") as f:
        f.write("x")
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.upload_folder("tree", folder)
    run.complete()
    assert ["tree/" + "d/" * DEPTH + "leaf.txt"] == [
        n for n in run.get_file_names() if n.startswith("tree/")]


def test_upload_file_through_a_symlink_out_of_the_run_is_refused(exp: Experiment,
                                                                 tmp_path: Path):
    """upload_file('lnk/x') where lnk points outside the run folder writes nothing there."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run.folder / "lnk").symlink_to(outside)
    source = tmp_path / "x.txt"
    source.write_text("data")
    with pytest.raises(ArtifactError, match="symlink"):
        run.upload_file("lnk/x", source)
    run.complete()
    assert ([], []) == (list(outside.iterdir()),
                        [n for n in run.get_file_names() if n.startswith("lnk")])


@pytest.mark.parametrize("content", [
    b"hello, this is text that mentions <svg> somewhere\n",
    b"BM but not a bitmap at all, just words\n",
    b"\x89PNG\r\n\x1a\n but then nothing of a png",
])
def test_log_image_refuses_files_that_are_not_images(exp: Experiment, tmp_path: Path,
                                                     content: bytes):
    """A text file containing '<svg', 'BM' or a bare PNG signature is not an image."""
    path = tmp_path / "fake.img"
    path.write_bytes(content)
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    with pytest.raises(MetricError, match="not an image"):
        run.log_image("img", path=str(path))
    run.complete()
    assert ({}, []) == (run.get_metrics(), [n for n in run.get_file_names() if "fake" in n])


def test_log_image_accepts_a_real_svg(exp: Experiment, tmp_path: Path):
    """An SVG file whose root element is <svg> (after an XML declaration) is an image."""
    path = tmp_path / "pic.svg"
    path.write_text('<?xml version="1.0"?>\n<!-- drawn -->\n<svg xmlns="http://www.w3.org/2000/svg"'
                    ' width="1" height="1"/>\n')
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    run.log_image("img", path=str(path))
    run.complete()
    assert "pic.svg" == run.get_metrics()["img"]
