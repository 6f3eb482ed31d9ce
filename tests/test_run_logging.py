"""Logging into a run: which values are kept, and the shapes get_metrics() returns."""

from __future__ import annotations

import io
import math
import struct
import sys
import threading
import zlib
from pathlib import Path

import pytest

from runner import Experiment, MetricError, Run


@pytest.fixture
def run(exp: Experiment):
    """A running interactive run that tracks no outputs folder."""
    run = exp.start_logging(snapshot_directory=None, outputs=False)
    yield run
    run.complete()


def _stored(run: Run, name: str | None = None, **kwargs):
    """get_metrics() through a fresh handle, so the values come from the store."""
    run.flush()
    return Run(run.experiment, run.id).get_metrics(name, **kwargs)


def _png() -> bytes:
    """The bytes of a valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


class _Figure:
    """A stand-in with matplotlib's savefig(): what log_image(plot=) relies on."""

    def savefig(self, target, format: str = "png") -> None:
        target.write(_png())


# --------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "value", [0, -7, 2**40, 2**70, 0.25, "text", "", True, False, None],
    ids=repr,
)
def test_scalar_values_round_trip_with_their_type(run: Run, value):
    """int, float, str, bool and None come back equal and of the same type."""
    run.log("m", value)

    stored = _stored(run)["m"]

    assert value == stored
    assert type(value) is type(stored)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinities_are_kept(run: Run, value: float):
    """inf and -inf are stored as they are."""
    run.log("m", value)

    assert value == _stored(run)["m"]


def test_nan_is_kept(run: Run):
    """NaN is stored as NaN, alone and among other values."""
    run.log("alone", math.nan)
    run.log("among", 1.0)
    run.log("among", math.nan)

    stored = _stored(run)

    assert math.isnan(stored["alone"])
    assert 1.0 == stored["among"][0]
    assert math.isnan(stored["among"][1])


def test_numpy_scalars_become_python_numbers(run: Run):
    """numpy scalars are stored as the matching Python bool, int, float or str."""
    np = pytest.importorskip("numpy")
    run.log("f32", np.float32(1.5))
    run.log("f64", np.float64(0.125))
    run.log("i64", np.int64(5))
    run.log("u8", np.uint8(7))
    run.log("b", np.bool_(True))
    run.log("s", np.str_("x"))

    stored = _stored(run)

    assert {"f32": 1.5, "f64": 0.125, "i64": 5, "u8": 7, "b": True, "s": "x"} == stored
    assert [float, float, int, int, bool, str] == [
        type(stored[k]) for k in ("f32", "f64", "i64", "u8", "b", "s")]


@pytest.mark.parametrize(
    "value",
    [[1, 2], range(3), (x for x in range(3))],
    ids=["list", "range", "generator"],
)
def test_log_of_a_sequence_points_to_log_list(run: Run, value):
    """log() given a list, range or generator raises MetricError naming log_list."""
    with pytest.raises(MetricError, match="log_list"):
        run.log("m", value)

    assert {} == _stored(run)


def test_other_objects_are_stored_as_repr_with_a_warning(run: Run):
    """An object log() cannot store natively is stored as its repr(), with a warning."""

    class Thing:
        def __repr__(self) -> str:
            return "<Thing 42>"

    with pytest.warns(UserWarning, match="repr"):
        run.log("thing", Thing())
    with pytest.warns(UserWarning, match="repr"):
        run.log("pair", (1, 2))

    assert {"thing": "<Thing 42>", "pair": "(1, 2)"} == _stored(run)


def test_log_with_step_keeps_the_values(run: Run):
    """Values logged with step= are returned like any other, in order."""
    for step, value in enumerate([0.5, 0.25, 0.125]):
        run.log("loss", value, step=step)

    assert [0.5, 0.25, 0.125] == _stored(run)["loss"]


def test_empty_metric_name_is_refused(run: Run):
    """A metric needs a non-empty string name."""
    with pytest.raises(MetricError, match="name"):
        run.log("", 1.0)


# --------------------------------------------------------------------- shapes


def test_value_logged_once_is_bare(run: Run):
    """A metric logged once is its bare value."""
    run.log("acc", 0.9)

    assert {"acc": 0.9} == _stored(run)


def test_value_logged_several_times_is_a_list_in_order(run: Run):
    """A metric logged several times is the list of values in logged order."""
    for value in (3.0, 1.0, 2.0):
        run.log("loss", value)

    assert {"loss": [3.0, 1.0, 2.0]} == _stored(run)


def test_log_list_is_a_list(run: Run):
    """log_list stores each element as a value of the metric."""
    run.log_list("xs", [1, 2, 3])

    assert {"xs": [1, 2, 3]} == _stored(run)


def test_log_list_of_one_element_is_bare(run: Run):
    """A one-element log_list collapses to a bare value."""
    run.log_list("xs", [5])

    assert {"xs": 5} == _stored(run)


def test_log_list_accepts_a_generator_and_concatenates(run: Run):
    """log_list takes any iterable, and later values append to the same list."""
    run.log_list("xs", (i * 0.5 for i in range(3)))
    run.log_list("xs", [9.0])
    run.log("xs", 10.0)

    assert {"xs": [0.0, 0.5, 1.0, 9.0, 10.0]} == _stored(run)


@pytest.mark.parametrize("value", [[[1, 2]], [{"a": 1}], "abc", 5])
def test_log_list_rejects_nested_or_non_list_values(run: Run, value):
    """log_list of nested lists, dicts, a str or a number raises MetricError."""
    with pytest.raises(MetricError):
        run.log_list("xs", value)

    assert {} == _stored(run)


def test_log_row_once_is_a_dict_of_values(run: Run):
    """One log_row is {column: value}."""
    run.log_row("r", x=1, y="a")

    assert {"r": {"x": 1, "y": "a"}} == _stored(run)


def test_log_row_accumulates_columns(run: Run):
    """Several log_row calls are {column: [values...]}."""
    run.log_row("r", x=1, y=2.5)
    run.log_row("r", x=2, y=3.5)
    run.log_row("r", x=3, y=4.5)

    assert {"r": {"x": [1, 2, 3], "y": [2.5, 3.5, 4.5]}} == _stored(run)


def test_log_row_pads_a_row_that_lacks_a_column_with_none(run: Run):
    """Rows with different columns give columns of one length, None where a row had none."""
    run.log_row("r", x=1, y=2.5)
    run.log_row("r", x=2)
    run.log_row("r", y=4.5, z="new")

    assert {"r": {"x": [1, 2, None], "y": [2.5, None, 4.5], "z": [None, None, "new"]}} == (
        _stored(run))


def test_log_table_then_log_row_keep_columns_aligned(run: Run):
    """A log_table of two rows and a log_row with another column stay aligned by row."""
    run.log_table("t", {"a": [1, 2]})
    run.log_row("t", b=3)

    assert {"t": {"a": [1, 2, None], "b": [None, None, 3]}} == _stored(run)


def test_log_row_with_a_list_value_is_refused(run: Run):
    """A list cell in log_row raises MetricError and stores nothing."""
    with pytest.raises(MetricError, match="Rows cannot contain list values"):
        run.log_row("r", x=[1, 2], y=3)

    assert {} == _stored(run)


def test_log_row_needs_a_column(run: Run):
    """log_row with no columns raises MetricError."""
    with pytest.raises(MetricError, match="column"):
        run.log_row("r")


def test_log_table_is_columns_of_lists(run: Run):
    """log_table stores {column: [values...]} as given."""
    run.log_table("t", {"x": [1, 2], "y": ["a", "b"]})

    assert {"t": {"x": [1, 2], "y": ["a", "b"]}} == _stored(run)


def test_log_table_of_one_row_is_scalars(run: Run):
    """A one-row table (lists of one, or scalar columns) is {column: value}."""
    run.log_table("lists", {"x": [1], "y": ["a"]})
    run.log_table("scalars", {"x": 1, "y": "a"})

    assert {"lists": {"x": 1, "y": "a"}, "scalars": {"x": 1, "y": "a"}} == _stored(run)


def test_log_table_appends_rows(run: Run):
    """A second log_table appends its rows to the first."""
    run.log_table("t", {"x": [1, 2]})
    run.log_table("t", {"x": [3]})

    assert {"t": {"x": [1, 2, 3]}} == _stored(run)


def test_ragged_log_table_is_refused_and_stores_nothing(run: Run):
    """Columns of different lengths raise MetricError and leave the table as it was."""
    run.log_table("t", {"x": [1], "y": [2]})

    with pytest.raises(MetricError, match="same length"):
        run.log_table("t", {"x": [1, 2], "y": [3]})

    assert {"t": {"x": 1, "y": 2}} == _stored(run)


@pytest.mark.parametrize("value", [{}, [1, 2], "x"])
def test_log_table_needs_a_non_empty_dict(run: Run, value):
    """log_table of an empty dict or a non-dict raises MetricError."""
    with pytest.raises(MetricError, match="dict"):
        run.log_table("t", value)


def test_a_name_keeps_its_first_kind(run: Run):
    """A name logged as a table cannot take a scalar, and the reverse."""
    run.log_row("r", x=1)
    run.log("s", 1.0)

    with pytest.raises(MetricError, match="table"):
        run.log("r", 2.0)
    with pytest.raises(MetricError, match="scalar"):
        run.log_row("s", x=2)

    assert {"r": {"x": 1}, "s": 1.0} == _stored(run)


def test_get_metrics_with_name_is_a_dict(run: Run):
    """get_metrics(name=n) is {n: value}, and {} for a metric never logged."""
    run.log("a", 1.0)
    run.log("b", 2.0)

    assert {"a": 1.0} == _stored(run, name="a")
    assert {} == _stored(run, name="missing")


def test_get_metrics_recursive_is_keyed_by_run_and_skips_empty_runs(run: Run):
    """recursive=True is {run_id: metrics} over the run and descendants with metrics."""
    run.log("top", 1.0)
    child = run.child_run("child")
    quiet = run.child_run("quiet")
    grandchild = child.child_run("grandchild")
    child.log("c", 2.0)
    grandchild.log_list("g", [1, 2])

    metrics = Run(run.experiment, run.id).get_metrics(recursive=True)

    assert {run.id: {"top": 1.0}, child.id: {"c": 2.0}, grandchild.id: {"g": [1, 2]}} == metrics
    assert quiet.id not in metrics
    for r in (grandchild, child, quiet):
        r.complete()


def test_get_metrics_on_a_new_run_is_empty(run: Run):
    """A run with nothing logged has no metrics."""
    assert {} == run.get_metrics()


def test_own_get_metrics_sees_values_logged_just_before(run: Run):
    """A run's own get_metrics() includes what it logged a moment ago."""
    run.log("x", 1.0)
    run.log("x", 2.0)

    assert {"x": [1.0, 2.0]} == run.get_metrics()


# ---------------------------------------------------------------------- order


def test_order_is_kept_when_floats_and_other_values_interleave(run: Run):
    """Floats (fast path) and other values (slow path) on one name keep their order."""
    logged = [1.0, 2.0, "a", 3.0, 4, None, 5.0, True, 6.0, math.inf]
    for value in logged:
        run.log("m", value)

    assert logged == _stored(run)["m"]


def test_order_is_kept_across_flushes(run: Run):
    """Interleaved values flushed in many batches come back in logged order."""
    logged = [(f"s{i}" if i % 7 == 0 else i if i % 11 == 0 else i / 2) for i in range(20000)]
    for i, value in enumerate(logged):
        run.log("m", value)
        if i % 1000 == 999:
            run.flush()

    assert logged == _stored(run)["m"]


def test_order_is_kept_while_other_threads_flush(run: Run):
    """Flushes from several threads at once never reorder a metric's values."""
    stop = threading.Event()

    def keep_flushing() -> None:
        while not stop.is_set():
            run.flush()

    threads = [threading.Thread(target=keep_flushing) for _ in range(3)]
    logged = [float(i) if i % 5 else i for i in range(50000)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a race shows up
    try:
        for thread in threads:
            thread.start()
        for value in logged:
            run.log("m", value)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(interval)

    assert logged == _stored(run)["m"]


# --------------------------------------------------------------------- images


def test_log_image_path_stores_the_file_under_the_name_given(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """log_image(path=) uploads the image under that relative path; the metric is its name."""
    monkeypatch.chdir(tmp_path)
    Path("plots").mkdir()
    Path("plots/roc.png").write_bytes(_png())

    run.log_image("roc", path="plots/roc.png")

    assert {"roc": "plots/roc.png"} == _stored(run)
    assert ["plots/roc.png"] == run.get_file_names()
    assert _png() == (run.folder / "plots" / "roc.png").read_bytes()


def test_log_image_absolute_path_is_stored_by_basename(run: Run, tmp_path: Path):
    """An absolute image path is stored under its file name."""
    image = tmp_path / "abs.png"
    image.write_bytes(_png())

    run.log_image("img", path=str(image))

    assert {"img": "abs.png"} == _stored(run)


def test_log_image_plot_is_stored_as_name_and_timestamp(run: Run):
    """log_image(plot=) saves a PNG named <name>_<unix seconds>.png."""
    run.log_image("fig", plot=_Figure())

    stored = _stored(run)["fig"]

    assert stored.startswith("fig_") and stored.endswith(".png")
    assert [stored] == run.get_file_names()
    assert _png() == (run.folder / stored).read_bytes()


def test_log_image_needs_exactly_one_of_path_and_plot(run: Run, tmp_path: Path):
    """Both or neither of path= and plot= raise MetricError and store nothing."""
    image = tmp_path / "a.png"
    image.write_bytes(_png())

    with pytest.raises(MetricError, match="exactly one"):
        run.log_image("img")
    with pytest.raises(MetricError, match="exactly one"):
        run.log_image("img", path=str(image), plot=_Figure())

    assert ({}, []) == (_stored(run), run.get_file_names())


def test_log_image_of_a_non_image_file_is_refused(run: Run, tmp_path: Path):
    """A file that is not an image raises MetricError and uploads nothing."""
    text = tmp_path / "notes.png"
    text.write_text("just text")

    with pytest.raises(MetricError, match="not an image"):
        run.log_image("img", path=str(text))

    assert ({}, []) == (_stored(run), run.get_file_names())


def test_log_image_of_a_missing_file_is_refused(run: Run, tmp_path: Path):
    """A path with no file raises MetricError."""
    with pytest.raises(MetricError, match="no image file"):
        run.log_image("img", path=str(tmp_path / "missing.png"))


def test_log_image_plot_without_savefig_is_refused(run: Run):
    """plot= without a savefig() method raises MetricError."""
    with pytest.raises(MetricError, match="savefig"):
        run.log_image("img", plot=io.BytesIO())
