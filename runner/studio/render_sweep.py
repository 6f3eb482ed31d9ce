"""A sweep (a HyperDrive parent run) as self-contained HTML or text, for notebooks.

``RunDetails(hyperdrive_run).show()`` and the parent's ``_repr_html_`` draw the trials:
a table (status, best primary metric, sampled values), the primary metric by each numeric
parameter (one dot per trial, its best value), and the primary metric over reports for
every trial (one line each). Inline SVG only, standard library only.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .render import (
    _COLORS,
    _STATUS_COLORS,
    CHART_HEIGHT,
    CHART_WIDTH,
    _fmt,
    axis_labels,
    svg_chart,
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def svg_scatter(points: list[tuple[float, float, str]], width: int = CHART_WIDTH,
                height: int = CHART_HEIGHT) -> str:
    """An SVG scatter of ``(x, y, label)`` points."""
    if not points:
        return '<svg width="0" height="0"></svg>'
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_low, x_high, y_low, y_high = min(xs), max(xs), min(ys), max(ys)
    x_span, y_span = (x_high - x_low) or 1, (y_high - y_low) or 1
    pad_left, pad, plot_w, plot_h = 46, 6, width - 54, height - 24
    dots = "".join(
        f'<circle cx="{pad_left + (x - x_low) / x_span * plot_w:.1f}" '
        f'cy="{pad + plot_h - (y - y_low) / y_span * plot_h:.1f}" r="3" fill="{_COLORS[0]}">'
        f'<title>{escape(label)}</title></circle>' for x, y, label in points)
    axis = (f'<line x1="{pad_left}" y1="{pad + plot_h}" x2="{pad_left + plot_w}" '
            f'y2="{pad + plot_h}" stroke="#dde1e5"/>'
            + axis_labels(pad_left, pad, plot_w, plot_h, height, (x_low, x_high), (y_low, y_high)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{axis}{dots}</svg>')


def sweep_html(run: Any) -> str:
    """The sweep as one HTML fragment: status, trials table, and the two kinds of chart."""
    trials = run.trials()
    config = run.get_primary_metric_config()
    metric = config["name"]
    status = run.get_status()
    color = _STATUS_COLORS.get(status, "#0b61a4")
    rows = "".join(
        f"<tr><td>{escape(t['run_id'])}</td>"
        f"<td style='color:{_STATUS_COLORS.get(t['status'], '#222')}'>{escape(t['status'])}</td>"
        f"<td>{escape(_fmt(t['best_primary_metric']))}</td>"
        f"<td>{escape(', '.join(f'{k}={_fmt(v)}' for k, v in t['hyperparameters'].items()))}"
        f"</td><td>{escape(t['error'] or '') if t['status'] != 'Completed' else ''}</td></tr>"
        for t in trials)
    charts = []
    names = list(trials[0]["hyperparameters"]) if trials else []
    for name in names:
        points = []
        for t in trials:
            x = _number(t["hyperparameters"].get(name))
            if x is not None and t["best_primary_metric"] is not None:
                points.append((x, float(t["best_primary_metric"]), t["run_id"]))
        if points:
            charts.append(f"<figure><figcaption>{escape(metric)} by {escape(name)}"
                          f"</figcaption>{svg_scatter(points)}</figure>")
    longest = max((len(t["values"]) for t in trials), default=0)
    if longest:
        lines = [(t["run_id"], list(t["values"]) + [None] * (longest - len(t["values"])))
                 for t in trials if t["values"]]
        charts.append(f"<figure><figcaption>{escape(metric)} over reports</figcaption>"
                      f"{svg_chart(list(range(1, longest + 1)), lines)}</figure>")
    return (
        f"<div class='runner-sweep' style='font-family:sans-serif;font-size:13px'>"
        f"<div><b>Sweep {escape(run.id)}</b> <span style='color:{color}'>{escape(status)}"
        f"</span> &middot; {len(trials)} trials &middot; {escape(config['goal'].lower())} "
        f"{escape(metric)}</div>"
        f"<div style='display:flex;flex-wrap:wrap;gap:12px'>{''.join(charts)}</div>"
        f"<table style='border-collapse:collapse'><thead><tr><th>trial</th><th>status</th>"
        f"<th>best {escape(metric)}</th><th>parameters</th><th>note</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>")


def sweep_text(run: Any) -> str:
    """The sweep as text: a status line and the trials table."""
    from ..sweep.table import format_table

    trials = run.trials()
    metric = run.get_primary_metric_config()["name"]
    return (f"Sweep {run.id} ({run.experiment.name}): {run.get_status()}, "
            f"{len(trials)} trials\n" + format_table(metric, trials))
