"""How the command line shows things: tables, durations, metric summaries, JSON.

Pure functions from data to text, so the commands in ``_cli`` stay thin.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

#: Lists longer than this are summarized (count, last, min, max) by ``runner metrics``.
_INLINE_LIST = 8


def echo_json(value: Any) -> None:
    """Print ``value`` as one strict JSON document (NaN and infinities as strings).

    Indented for a terminal only: with ``indent`` json uses its pure-Python
    encoder, several times slower over a listing of 10,000 runs.
    """

    indent = 2 if sys.stdout.isatty() else None
    try:
        text = json.dumps(value, indent=indent, allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(finite(value), indent=indent, allow_nan=False, default=str)
    click.echo(text)


def finite(value: Any) -> Any:
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def run_json(row: dict[str, Any]) -> dict[str, Any]:
    start, end = row["start_time"], row["end_time"]
    return {
        "id": row["id"],
        "experiment": row["experiment"],
        "parent_id": row["parent_id"],
        "type": row["type"],
        "status": row["status"],
        "display_name": row["display_name"],
        "created": iso(row["created"]),
        "start_time": iso(start),
        "end_time": iso(end),
        "duration_seconds": round(end - start, 3) if start is not None and end is not None
        else None,
        "metrics": row["metrics"],
        "gpus": row.get("gpus"),
    }


def iso(ts: float | None) -> str | None:
    """UTC ISO-8601 with a ``Z``, as ``get_details()`` writes times."""
    if ts is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat()[:-6] + "Z"


def epoch(iso: str | None) -> float | None:
    """Seconds since the epoch of a ``get_details()`` time (``...Z``)."""
    if not iso:
        return None
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def local(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def duration(start: float | None, end: float | None, now: float) -> str:
    if start is None:
        return "-"
    seconds = max(0.0, (end if end is not None else now) - start)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns; the last one is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    return "\n".join(fmt.format(*row).rstrip() for row in [headers, *rows])


def clip(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def short(value: Any, width: int = 24) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif value is None:
        text = "None"
    else:
        text = str(value)
    return clip(text, width)


def is_number(value: Any) -> bool:
    return type(value) in (int, float)


def metric_summary(value: Any) -> str:
    """A scalar as itself; a short list inline; a long one as count, last, min, max."""
    if not isinstance(value, list):
        if isinstance(value, dict):
            return pairs(value)
        return short(value, 60)
    if len(value) <= _INLINE_LIST:
        return "[" + ", ".join(short(v, 16) for v in value) + "]"
    parts = [f"{len(value)} values", f"last={short(value[-1])}"]
    numbers = [v for v in value if is_number(v) and v == v]
    if numbers:
        parts += [f"min={short(min(numbers))}", f"max={short(max(numbers))}"]
    return ", ".join(parts)


def metric_table(columns: dict[str, Any], limit: int | None) -> str:
    """A logged table (``{column: [values]}`` or one row ``{column: value}``) as columns."""
    cells = {c: v if isinstance(v, list) else [v] for c, v in columns.items()}
    count = max((len(v) for v in cells.values()), default=0)
    shown = count if limit is None else min(count, limit)
    rows = [[short(v[i], 20) if i < len(v) else "" for v in cells.values()]
            for i in range(shown)]
    text = table(list(cells), rows)
    if shown < count:
        text += f"\n... {count - shown} more rows (see all with --name or --json)"
    return text


def pairs(mapping: dict[str, Any]) -> str:
    if not mapping:
        return "-"
    return ", ".join(k if v is None else f"{k}={short(v, 40)}" for k, v in mapping.items())


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def definition_lines(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """The parts of a run definition worth a line: script, arguments, environment, ..."""
    if not isinstance(definition, dict):
        return []
    lines: list[tuple[str, str]] = []
    if definition.get("script"):
        lines.append(("Script", str(definition["script"])))
    arguments = definition.get("arguments")
    if arguments:
        import shlex

        text = " ".join(shlex.quote(str(a)) for a in arguments) \
            if isinstance(arguments, list) else str(arguments)
        lines.append(("Arguments", text))
    for key, value in definition.items():
        if key in ("script", "arguments") or value in (None, "", [], {}):
            continue
        if isinstance(value, dict):
            value = value.get("name") or pairs(value)
        label = key[:1].upper() + key[1:].replace("_", " ")
        lines.append((label, short(value, 80)))
    return lines




def dataset_lines(details: dict[str, Any]) -> list[tuple[str, str]]:
    """``Input <name>`` / ``Output <name>`` lines of a run's datasets: version and path."""
    lines: list[tuple[str, str]] = []
    for item in details.get("inputDatasets") or []:
        ds = item.get("dataset") or {}
        use = item.get("consumptionDetails") or {}
        which = f"{ds['name']}:{ds['version']}" if ds.get("name") else \
            f"unregistered (snapshot {str(ds.get('snapshotId'))[:12]})"
        lines.append((f"Input {use.get('inputName')}",
                      f"{which} as {str(use.get('mechanism', '')).lower()} "
                      f"at {use.get('pathOnCompute')}"))
    for item in details.get("outputDatasets") or []:
        ds = item.get("dataset") or {}
        name = (item.get("outputDetails") or {}).get("outputName")
        text = f"{item.get('datastore')}:{item.get('pathOnDatastore')}"
        if ds.get("name"):
            text += f", registered as {ds['name']}:{ds['version']}"
        if item.get("error"):
            text += f" ({item['error']})"
        lines.append((f"Output {name}", text))
    return lines
