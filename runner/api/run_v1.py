"""The rest of v1's Run API that real notebooks call: children in batches, logs in
bulk, listing, the run's environment, and the artifact-backed metric kinds.

``log_confusion_matrix``, ``log_accuracy_table``, ``log_predictions`` and
``log_residuals`` take v1's JSON shape (``{"schema_type", "schema_version",
"data"}``, a dict or a JSON string), checked by :mod:`runner.core.v1_kinds`.
v1 uploaded the JSON as an artifact and ``get_metrics`` gave its ``aml://``
URI; here the checked dict is the metric's value, so ``get_metrics()[name]``
gives it back (a deliberate difference: the value round-trips).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import MetricError, UsageError

if TYPE_CHECKING:
    from .environment import Environment
    from .experiment import Experiment
    from .run import Run

#: v1 run type names -> runner's (``exp.get_runs(type="azureml.scriptrun")``).
V1_RUN_TYPES = {"azureml.scriptrun": "script", "scriptrun": "script",
                "azureml.interactive": "interactive", "azureml.childrun": "child"}

#: Most children ``create_children`` makes in one call, as in v1.
MAX_CHILDREN = 100


def run_type(value: str | None) -> str | None:
    """runner's run type for a v1 (or runner) type name."""
    if value is None:
        return None
    return V1_RUN_TYPES.get(str(value).lower(), value)


class RunV1:
    """Mixin of :class:`runner.Run` (see the module docstring)."""

    _id: str
    _experiment: Experiment

    # ------------------------------------------------------------- metric kinds

    def _log_kind(self, name: str, kind: str, value: Any) -> None:
        from ..core import v1_kinds

        try:
            checked = v1_kinds.validate_kind(kind, value)
        except ValueError as exc:
            raise MetricError(f"{v1_kinds.KINDS[kind]['method']}({name!r}): {exc}",
                              metric=name) from None
        self._add(name, kind, checked, None)  # type: ignore[attr-defined]

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        """Log a confusion matrix in v1's shape (``class_labels``, ``matrix``).

        Raises:
            MetricError: not JSON, or a field missing or of the wrong shape (named).
        """
        self._log_kind(name, "confusion_matrix", value)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        """Log an accuracy table in v1's shape (probability and percentile tables)."""
        self._log_kind(name, "accuracy_table", value)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        """Log predictions in v1's shape (``bin_averages``, ``bin_errors``, ...)."""
        self._log_kind(name, "predictions", value)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        """Log residuals in v1's shape (``bin_edges``, ``bin_counts``)."""
        self._log_kind(name, "residuals", value)

    # ------------------------------------------------------------------ children

    def create_children(self, count: int | None = None, tag_key: str | None = None,
                        tag_values: list[str] | None = None) -> list[Run]:
        """Start several child runs at once (Running), as v1 did.

        ``count=n`` tags each child ``azureml.batch_child_number`` = 0..n-1;
        ``tag_key`` with ``tag_values`` makes one child per value, tagged with it.

        Raises:
            UsageError: both or neither forms, a tag_key without values, or more than 100.
        """
        if (count is None) == (tag_key is None):
            raise UsageError("create_children() takes count=N, or tag_key= with tag_values=, "
                             "not both and not neither.")
        if tag_key is not None:
            if not tag_values or isinstance(tag_values, str):
                raise UsageError("create_children(tag_key=...) needs tag_values, a list with "
                                 "one value per child.")
            tags = [{tag_key: str(v)} for v in tag_values]
        else:
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise UsageError(f"create_children(count=...) needs a whole number of at least "
                                 f"1, not {count!r}.")
            tags = [{"azureml.batch_child_number": str(i)} for i in range(count)]
        if len(tags) > MAX_CHILDREN:
            raise UsageError(f"create_children() makes at most {MAX_CHILDREN} children at "
                             f"once, not {len(tags)}; call it again for more.")
        children = []
        for tag in tags:
            child = self.child_run()  # type: ignore[attr-defined]
            child.set_tags(tag)
            children.append(child)
        return children

    # ---------------------------------------------------------------------- logs

    def get_details_with_logs(self) -> dict[str, Any]:
        """:meth:`get_details` with each ``logFiles`` entry's content instead of its path."""
        details = self.get_details()  # type: ignore[attr-defined]
        contents = {}
        for name, path in details.get("logFiles", {}).items():
            try:
                contents[name] = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                contents[name] = f"(cannot read {path}: {exc.strerror})"
        details["logFiles"] = contents
        return details

    def get_all_logs(self, destination: str | os.PathLike[str] | None = None) -> list[str]:
        """Copy the run's log files into ``destination`` (default ``./assets/<run_id>``).

        Returns:
            The paths written.

        Raises:
            UsageError: ``destination`` exists and is not a folder.
        """
        dest = Path(destination) if destination is not None else Path("assets") / self._id
        if dest.exists() and not dest.is_dir():
            raise UsageError(f"get_all_logs(destination={str(dest)!r}): it exists and is not "
                             f"a folder.", path=str(dest))
        written = []
        for name, path in self.get_details().get("logFiles", {}).items():  # type: ignore
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            written.append(str(target))
        return written

    # ------------------------------------------------------------------- listing

    @staticmethod
    def list(experiment: Experiment, type: str | None = None, tags: Any = None,
             properties: Any = None, status: str | None = None,
             include_children: bool = False) -> Iterator[Run]:
        """The experiment's runs, newest first (as ``experiment.get_runs``, with ``status``)."""
        return experiment.get_runs(type=type, tags=tags, properties=properties,
                                   include_children=include_children, status=status)

    # --------------------------------------------------------------- environment

    def get_environment(self) -> Environment:
        """The Environment the run was submitted with.

        Raises:
            UsageError: the run has no environment definition (an interactive run, or one
                that ran with the submitting interpreter as it is).
        """
        from .environment import Environment

        row = self._store.get_run(self._id)  # type: ignore[attr-defined]
        data = (row["definition"] or {}).get("environment")
        if not data:
            raise UsageError(
                f"run {self._id} has no environment definition: it ran with the submitting "
                f"interpreter as it is (or is an interactive run).", run_id=self._id)
        return Environment.from_dict(data)
