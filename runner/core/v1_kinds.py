"""Shapes of the artifact-backed metric kinds of Azure ML SDK v1.

``run.log_confusion_matrix``, ``log_accuracy_table``, ``log_predictions`` and
``log_residuals`` take ``(name, value, description="")``; ``value`` is a dict
or a JSON string ``{"schema_type": ..., "schema_version": ..., "data": {...}}``.

What v1 itself did (azureml-core 1.61, ``_run_impl/run_history_facade.py`` and
``core/_metrics.py``): a ``str`` is ``json.loads``-ed (a decode error raises
``UserErrorException("Invalid JSON provided")``); nothing else is checked; the
value is ``json.dumps``-ed and uploaded as an artifact named ``<name>``.  The
renderers (Studio / ``azureml-widgets``) silently draw nothing when the
schema_type does not match, when schema_version is neither ``"v1"`` nor a
semver in ``1.*``, or when a data list is empty.

:func:`validate_kind` is stricter than v1 on purpose: it also checks the shapes the
v1 docstrings state and the renderers need (a C x C matrix, N + 1 bin edges for N
counts...), so a malformed value fails when logged, not silently when drawn.
Standard library only.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

#: Metric value stored for these kinds: the URI of the uploaded JSON artifact.
ARTIFACT_URI_TEMPLATE = "aml://artifactId/ExperimentRun/dcid.{run_id}/{name}"

KINDS: dict[str, dict[str, Any]] = {
    "confusion_matrix": {
        "method": "log_confusion_matrix",
        "schema_version": "1.0.0",
        "metric_type": "azureml.v2.confusion_matrix",
        "legacy_metric_type": "azureml.v1.confusion_matrix",
        "offline_label": "confusion_matrix",
        "required": ("class_labels", "matrix"),
        "optional": (),
    },
    "accuracy_table": {
        "method": "log_accuracy_table",
        "schema_version": "1.0.1",
        "metric_type": "azureml.v2.accuracy_table",
        "legacy_metric_type": "azureml.v1.accuracy_table",
        "offline_label": "accuracy_table",
        "required": ("probability_tables", "percentile_tables", "probability_thresholds",
                     "percentile_thresholds", "class_labels"),
        "optional": (),
    },
    "predictions": {
        "method": "log_predictions",
        "schema_version": "1.0.0",
        "metric_type": "azureml.v2.predictions",
        "legacy_metric_type": "azureml.v1.predictions",
        "offline_label": "predictions",
        "required": ("bin_averages", "bin_errors", "bin_counts", "bin_edges"),
        "optional": (),
    },
    "residuals": {
        "method": "log_residuals",
        "schema_version": "1.0.0",
        "metric_type": "azureml.v2.residuals",
        "legacy_metric_type": "azureml.v1.residuals",
        # v1's offline run prints "Attempted to log residual metric ..." (singular).
        "offline_label": "residual",
        "required": ("bin_edges", "bin_counts"),
        "optional": ("mean", "stddev", "res_count"),  # written by AutoML (azureml-metrics)
    },
}

_SEMVER_1 = re.compile(r"^1\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def resolve_kind(kind: str) -> str:
    """Return the canonical kind key for ``kind``.

    Accepts the key (``"residuals"``), the Run method name (``"log_residuals"``)
    or a metric type (``"azureml.v2.residuals"`` / ``"azureml.v1.residuals"``).

    :raises ValueError: if ``kind`` is not one of the four kinds.
    """
    if isinstance(kind, str):
        key = kind.strip()
        for name, spec in KINDS.items():
            if key in (name, spec["method"], spec["metric_type"], spec["legacy_metric_type"]):
                return name
    raise ValueError(f"unknown metric kind {kind!r}; expected one of {sorted(KINDS)}")


def _plain(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON data (tuples and ``.tolist()`` objects become lists)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    tolist = getattr(value, "tolist", None)  # numpy arrays and numpy scalars
    if callable(tolist):
        return _plain(tolist(), where)
    raise ValueError(f"{where}: {type(value).__name__} is not JSON serializable")


def _error(message: str) -> ValueError:
    """Build the ValueError that every check raises."""
    return ValueError(message)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _num_list(data: dict[str, Any], key: str, problems: list[str]) -> list[Any] | None:
    """Check that ``data[key]`` is a non-empty list of numbers; return it or None."""
    seq = data.get(key)
    if not isinstance(seq, list) or not seq:
        problems.append(f"data.{key} must be a non-empty list of numbers")
        return None
    bad = [i for i, x in enumerate(seq) if not _is_number(x)]
    if bad:
        problems.append(f"data.{key}[{bad[0]}] must be a number, got {seq[bad[0]]!r}")
        return None
    return seq


def _labels(data: dict[str, Any], problems: list[str]) -> list[Any] | None:
    labels = data.get("class_labels")
    if not isinstance(labels, list) or not labels:
        problems.append("data.class_labels must be a non-empty list of labels")
        return None
    bad = [i for i, x in enumerate(labels) if not isinstance(x, (str, int, float))]
    if bad:
        problems.append(f"data.class_labels[{bad[0]}] must be a string (or number)")
        return None
    return labels


def _check_confusion_matrix(data: dict[str, Any], problems: list[str]) -> None:
    labels = _labels(data, problems)
    matrix = data.get("matrix")
    if not isinstance(matrix, list) or not matrix:
        problems.append("data.matrix must be a non-empty list of rows")
        return
    width = len(labels) if labels is not None else len(matrix)
    if labels is not None and len(matrix) != width:
        problems.append(
            f"data.matrix has {len(matrix)} rows but data.class_labels has {width} labels"
        )
    for i, row in enumerate(matrix):
        if not isinstance(row, list) or len(row) != width:
            problems.append(f"data.matrix[{i}] must be a list of {width} numbers")
            return
        bad = [j for j, x in enumerate(row) if not _is_number(x)]
        if bad:
            problems.append(f"data.matrix[{i}][{bad[0]}] must be a number, got {row[bad[0]]!r}")
            return


def _check_tables(data: dict[str, Any], key: str, n_cls: int, n_thr: int | None,
                  thr_key: str, problems: list[str]) -> None:
    """Check ``data[key]`` has shape [n_cls, n_thr, 4] of non-negative numbers."""
    tables = data.get(key)
    if not isinstance(tables, list) or not tables:
        problems.append(f"data.{key} must be a non-empty 3-D list [class][threshold][TP,FP,TN,FN]")
        return
    if len(tables) != n_cls:
        problems.append(f"data.{key} has {len(tables)} class tables but data.class_labels "
                        f"has {n_cls} labels")
    for c, table in enumerate(tables):
        if not isinstance(table, list) or not table:
            problems.append(f"data.{key}[{c}] must be a non-empty list of [TP, FP, TN, FN] rows")
            return
        if n_thr is not None and len(table) != n_thr:
            problems.append(f"data.{key}[{c}] has {len(table)} rows but data.{thr_key} "
                            f"has {n_thr} thresholds")
            return
        for t, cell in enumerate(table):
            ok = isinstance(cell, list) and len(cell) == 4 and all(
                _is_number(x) and not (isinstance(x, float) and math.isnan(x)) and x >= 0
                for x in cell)
            if not ok:
                problems.append(f"data.{key}[{c}][{t}] must be 4 non-negative numbers "
                                f"[TP, FP, TN, FN], got {cell!r}")
                return


def _check_accuracy_table(data: dict[str, Any], problems: list[str]) -> None:
    labels = _labels(data, problems)
    prob = _num_list(data, "probability_thresholds", problems)
    perc = _num_list(data, "percentile_thresholds", problems)
    n_cls = len(labels) if labels is not None else len(data.get("probability_tables") or [])
    _check_tables(data, "probability_tables", n_cls, None if prob is None else len(prob),
                  "probability_thresholds", problems)
    _check_tables(data, "percentile_tables", n_cls, None if perc is None else len(perc),
                  "percentile_thresholds", problems)


def _check_histogram(data: dict[str, Any], keys: tuple[str, ...], problems: list[str]) -> None:
    """Check equal-length bin lists plus ``bin_edges`` with exactly one more element."""
    lists = {k: _num_list(data, k, problems) for k in (*keys, "bin_edges")}
    n = None
    for k in keys:
        seq = lists[k]
        if seq is None:
            continue
        if n is None:
            n, first = len(seq), k
        elif len(seq) != n:
            problems.append(f"data.{k} has {len(seq)} bins but data.{first} has {n}")
    edges = lists["bin_edges"]
    if edges is not None and n is not None and len(edges) != n + 1:
        problems.append(f"data.bin_edges must have len(data.{keys[0]}) + 1 = {n + 1} edges, "
                        f"got {len(edges)}")


def _check_residuals(data: dict[str, Any], problems: list[str]) -> None:
    _check_histogram(data, ("bin_counts",), problems)
    for key in ("mean", "stddev"):
        if key in data and data[key] is not None and not _is_number(data[key]):
            problems.append(f"data.{key} must be a number when present")
    if "res_count" in data and data["res_count"] is not None and (
            not isinstance(data["res_count"], int) or isinstance(data["res_count"], bool)):
        problems.append("data.res_count must be an integer when present")


def _check_predictions(data: dict[str, Any], problems: list[str]) -> None:
    _check_histogram(data, ("bin_averages", "bin_errors", "bin_counts"), problems)


_CHECKS = {"confusion_matrix": _check_confusion_matrix, "accuracy_table": _check_accuracy_table,
           "predictions": _check_predictions, "residuals": _check_residuals}


def validate_kind(kind: str, value: Any, *, strict: bool = True) -> dict[str, Any]:
    """Parse and check one artifact-backed metric value; return a normalised copy.

    :param kind: kind key, Run method name or metric type (see :func:`resolve_kind`).
    :param value: a dict, or a JSON ``str``/``bytes`` holding a JSON object.
    :param strict: ``True`` (default) also checks shapes and lengths as the v1
        docstrings state them and as the renderers need them; ``False`` only
        checks JSON, the top level and that every required data field is a list
        (v1 itself checked nothing beyond JSON decoding).
    :returns: ``{"schema_type", "schema_version", "data", ...}``; other top-level
        keys are kept.  A missing ``schema_type`` / ``schema_version`` is filled
        with the kind's canonical values (v1 did not fill them; the renderers need
        them).  Tuples and ``.tolist()`` objects (numpy) become lists.
    :raises ValueError: naming the bad field; several problems are joined by ``"; "``.
    """
    name = resolve_kind(kind)
    spec = KINDS[name]
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Invalid JSON provided for {name}: {exc}") from None
    elif isinstance(value, dict):
        value = copy.deepcopy(value)
    else:
        raise _error(f"{name} value must be a dict or a JSON string, got {type(value).__name__}")
    if not isinstance(value, dict):
        raise _error(f"{name} JSON must be an object, got {type(value).__name__}")
    value = _plain(value, "value")

    if value.get("schema_type") in (None, ""):
        value["schema_type"] = name
    elif value["schema_type"] != name:
        raise ValueError(f"schema_type is {value['schema_type']!r} but "
                         f"{spec['method']} needs {name!r}")
    version = value.get("schema_version")
    if version in (None, ""):
        value["schema_version"] = spec["schema_version"]
    elif not isinstance(version, str):
        raise _error(f"schema_version must be a string such as {spec['schema_version']!r}")
    elif strict and version != "v1" and not _SEMVER_1.match(version):
        raise ValueError(f"schema_version {version!r} is neither 'v1' nor a 1.x.y semver "
                         f"(e.g. {spec['schema_version']!r}); v1 renderers would ignore it")

    data = value.get("data")
    if not isinstance(data, dict):
        raise _error(f"data must be an object holding {', '.join(spec['required'])}")
    missing = [k for k in spec["required"] if k not in data]
    if missing:
        raise _error(f"data is missing required field(s) for {name}: "
                         + ", ".join(f"data.{k}" for k in missing))
    problems: list[str] = []
    for key in spec["required"]:
        if not isinstance(data[key], list):
            problems.append(f"data.{key} must be a list, got {type(data[key]).__name__}")
    if not problems and strict:
        _CHECKS[name](data, problems)
    if problems:
        raise _error(f"invalid {name}: " + "; ".join(problems))
    return value


def artifact_uri(run_id: str, name: str) -> str:
    """Return the metric value v1 stores for an artifact-backed metric ``name``."""
    return ARTIFACT_URI_TEMPLATE.format(run_id=run_id, name=name)
