"""A run as self-contained HTML (inline SVG charts) or as text, for notebooks.

Why it exists: ``Run._repr_html_`` and :class:`runner.widgets.RunDetails` show a
run inside Jupyter, where there is no studio server and possibly no internet.
So the HTML here carries everything inline: styles, charts drawn as SVG
polylines from the same downsampled series the studio serves (thinned to the
chart's width), small images as ``data:`` URIs. The same facts also render as
plain text for terminals. Standard library only.
"""

from __future__ import annotations

import base64
from html import escape
from typing import TYPE_CHECKING, Any

from ..core.errors import RunnerError
from . import files as _files
from . import queries as _queries

if TYPE_CHECKING:
    from ..api.run import Run

#: Size of one chart, in CSS pixels.
CHART_WIDTH = 300
CHART_HEIGHT = 110
#: Metrics drawn, log lines shown, images embedded (and their largest size).
MAX_CHARTS = 12
LOG_LINES = 20
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1024 * 1024

_COLORS = ("#0b61a4", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad")
_STATUS_COLORS = {"Completed": "#1a7f37", "Failed": "#c62828", "Canceled": "#9a6700",
                  "CancelRequested": "#9a6700"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def axis_labels(pad_left: float, pad: float, plot_w: float, plot_h: float, height: float,
                x_range: tuple[float, float], y_range: tuple[float, float]) -> str:
    """The four range labels of an inline SVG chart: y high and low at the left, x low
    and high along the bottom."""
    text = 'font-size="10" fill="#66707a" font-family="sans-serif"'
    (x_low, x_high), (y_low, y_high) = x_range, y_range
    return (f'<text x="{pad_left - 4}" y="{pad + 8}" text-anchor="end" {text}>'
            f'{escape(_fmt(y_high))}</text>'
            f'<text x="{pad_left - 4}" y="{pad + plot_h}" text-anchor="end" {text}>'
            f'{escape(_fmt(y_low))}</text>'
            f'<text x="{pad_left}" y="{height - 2}" {text}>{escape(_fmt(x_low))}</text>'
            f'<text x="{pad_left + plot_w}" y="{height - 2}" text-anchor="end" {text}>'
            f'{escape(_fmt(x_high))}</text>')


def svg_chart(x: list[Any], lines: list[tuple[str, list[Any]]], width: int = CHART_WIDTH,
              height: int = CHART_HEIGHT) -> str:
    """An SVG line chart of ``lines`` (name, y values) over ``x``; gaps where y is None."""
    points = [(xv, yv) for _, ys in lines for xv, yv in zip(x, ys)
              if xv is not None and yv is not None]
    if not points:
        return '<svg width="0" height="0"></svg>'
    x_low = min(p[0] for p in points)
    x_high = max(p[0] for p in points)
    y_low = min(p[1] for p in points)
    y_high = max(p[1] for p in points)
    x_span = (x_high - x_low) or 1
    y_span = (y_high - y_low) or 1
    pad_left, pad, plot_w, plot_h = 46, 4, width - 50, height - 20
    paths = []
    for i, (name, ys) in enumerate(lines):
        segments, current = [], []
        for xv, yv in zip(x, ys):
            if xv is None or yv is None:
                if current:
                    segments.append(current)
                current = []
                continue
            px = pad_left + (xv - x_low) / x_span * plot_w
            py = pad + plot_h - (yv - y_low) / y_span * plot_h
            current.append(f"{px:.1f},{py:.1f}")
        if current:
            segments.append(current)
        color = _COLORS[i % len(_COLORS)]
        for seg in segments:
            paths.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.4" '
                         f'points="{" ".join(seg)}"><title>{escape(name)}</title></polyline>')
    axis = (f'<line x1="{pad_left}" y1="{pad}" x2="{pad_left}" y2="{pad + plot_h}" '
            f'stroke="#dde1e5"/><line x1="{pad_left}" y1="{pad + plot_h}" '
            f'x2="{pad_left + plot_w}" y2="{pad + plot_h}" stroke="#dde1e5"/>'
            + axis_labels(pad_left, pad, plot_w, plot_h, height, (x_low, x_high), (y_low, y_high)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{axis}{"".join(paths)}</svg>')


def facts(run: Run) -> dict[str, Any]:
    """What a notebook view shows: status, times, metrics (with chart data) and log tail."""
    ws = run.experiment.workspace
    status = _queries.status_item(ws, run.id)
    items = _queries.metrics(ws, run.id)
    drawn = 0
    for item in items:
        if item["chart"] in ("line", "xy") and drawn < MAX_CHARTS:
            item["series"] = _queries.series(ws, run.id, item["name"], CHART_WIDTH)
            drawn += 1
    return {"run": run, "status": status, "metrics": items,
            "log": _files.log_tail(ws, run.id, LOG_LINES),
            "url": run.get_portal_url()}


def run_html(run: Run, data: dict[str, Any] | None = None) -> str:
    """The run as one self-contained HTML fragment."""
    try:
        data = data or facts(run)
    except RunnerError as exc:
        return f"<p>{escape(str(run.id))}: {escape(exc.message)}</p>"
    status = data["status"]
    color = _STATUS_COLORS.get(status["status"], "#0969da")
    head = (
        f'<div style="font:13px/1.4 sans-serif"><b>{escape(run.experiment.name)}</b> / '
        f'<code>{escape(run.id)}</code> <span style="color:{color};border:1px solid {color};'
        f'border-radius:9px;padding:0 7px">{escape(status["status"])}</span> '
        f'<span style="color:#66707a">duration {escape(_duration(status["duration"]))}</span> '
        f'<a href="{escape(data["url"])}" target="_blank">open</a>'
    )
    if status.get("error"):
        head += (f'<div style="color:#c62828;white-space:pre-wrap">'
                 f'{escape(str(status["error"].get("message", "")))}</div>')
    cards = []
    images = 0
    for item in data["metrics"]:
        body = _metric_body(run, item, images < MAX_IMAGES)
        if item["chart"] == "image":
            images += 1
        cards.append(
            '<div style="border:1px solid #dde1e5;border-radius:6px;padding:6px 8px;'
            f'margin:0 8px 8px 0;display:inline-block;vertical-align:top">'
            f'<div><b>{escape(item["name"])}</b> <span style="color:#66707a">'
            f'{item["count"]}</span></div>{body}</div>')
    log = ""
    if data["log"]:
        log = ('<pre style="background:#0f1419;color:#d6dde4;padding:6px 8px;'
               'border-radius:6px;max-height:300px;overflow:auto;white-space:pre-wrap">'
               + escape("\n".join(data["log"])) + "</pre>")
    return head + '<div style="margin-top:6px">' + "".join(cards) + "</div>" + log + "</div>"


def _metric_body(run: Run, item: dict[str, Any], embed_image: bool) -> str:
    chart = item["chart"]
    if "series" in item:
        s = item["series"]
        if s["kind"] == "table":
            lines = [(line["name"], line["y"]) for line in s["series"]]
        else:
            lines = [(item["name"], s["y"])]
        return svg_chart(s["x"], lines)
    if chart == "value":
        return f'<div style="font-size:18px">{escape(_fmt(item["value"]))}</div>'
    if chart == "text":
        return f'<div>{escape(", ".join(_fmt(v) for v in item["values"][-5:]))}</div>'
    if chart == "table":
        columns = item.get("rows") or {}
        return "<div>" + escape(", ".join(columns)) + "</div>"
    if chart == "image" and embed_image and item.get("images"):
        return _image(run, item["images"][-1])
    return ""


def _image(run: Run, name: str) -> str:
    media = _files.image_type(name)
    try:
        path = _files.run_file(run.experiment.workspace, run.id, name)
        if media is None or path.stat().st_size > MAX_IMAGE_BYTES:
            return f"<div>{escape(name)}</div>"
        data = base64.b64encode(path.read_bytes()).decode()
    except (RunnerError, OSError):
        return f"<div>{escape(name)}</div>"
    return (f'<img alt="{escape(name)}" style="max-width:{CHART_WIDTH}px" '
            f'src="data:{media};base64,{data}">')


def run_text(run: Run, data: dict[str, Any] | None = None) -> str:
    """The run as a few lines of text: status, last metric values, log tail."""
    data = data or facts(run)
    status = data["status"]
    lines = [f"Run {run.id} ({run.experiment.name}): {status['status']}, "
             f"duration {_duration(status['duration'])}", f"  {data['url']}"]
    if status.get("error"):
        lines.append(f"  error: {status['error'].get('message', '')}")
    for item in data["metrics"]:
        if item["chart"] == "line":
            shown = f"{_fmt(item['last'])} (last of {item['count']})"
        elif item["chart"] == "value":
            shown = _fmt(item["value"])
        elif item["chart"] == "text":
            shown = f"{_fmt(item['values'][-1])} (last of {item['count']})"
        elif item["chart"] == "image":
            shown = f"{item['count']} image(s)"
        else:
            shown = f"table of {item['count']} rows"
        lines.append(f"  {item['name']}: {shown}")
    if data["log"]:
        lines.append("  log:")
        lines.extend(f"    {line}" for line in data["log"][-10:])
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h " if hours else "") + f"{minutes}m {secs:02d}s"
