/* runner studio: the sweep page (a parent's children, or any runs picked together).
 *
 * Parallel coordinates from the parameters to the chosen metric, a scatter of the metric
 * against one parameter, and the best-so-far curve. The first two are plain SVG drawn
 * here: uPlot draws x-ordered series only, and the parallel-coordinates libraries either
 * need d3 and are no longer maintained (parcoords-es) or weigh megabytes (Plotly). A
 * sweep is at most a couple of thousand lines over a few axes, which SVG draws at once,
 * and SVG keeps every line a DOM node with its own tooltip and link. The best-so-far
 * curve is a line chart, drawn with uPlot like the others.
 */
"use strict";

(function () {
  const {el, clear} = Studio;
  const NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
    for (const c of children) node.append(c);
    return node;
  }

  function asNumber(v) {
    if (typeof v === "number") return isFinite(v) ? v : null;
    if (typeof v !== "string" || v.trim() === "") return null;
    const n = Number(v);
    return isFinite(n) ? n : null;
  }

  /* An axis for a list of values: numeric (linear, or log when it spans 100x and more)
   * or categorical (its distinct values in order). pos(v) is 0 (bottom) to 1 (top). */
  function scale(values) {
    const present = values.filter((v) => v !== null && v !== undefined);
    const numbers = present.map(asNumber);
    if (present.length && numbers.every((n) => n !== null)) {
      let lo = Math.min(...numbers), hi = Math.max(...numbers);
      const log = lo > 0 && hi / lo >= 100;
      const f = log ? Math.log10 : (x) => x;
      if (lo === hi) { lo -= 1; hi += 1; }
      const a = f(lo), b = f(hi);
      const ticks = [];
      if (log) { for (let e = Math.ceil(a); e <= Math.floor(b); e++) ticks.push(Math.pow(10, e)); }
      else { for (let i = 0; i <= 4; i++) ticks.push(lo + (hi - lo) * i / 4); }
      return {kind: log ? "log" : "linear", ticks: ticks, label: Studio.compact,
              pos: (v) => { const n = asNumber(v); return n === null ? null : (f(n) - a) / (b - a); }};
    }
    const cats = [...new Set(present.map(String))].sort((x, y) => {
      const nx = asNumber(x), ny = asNumber(y);
      return nx !== null && ny !== null ? nx - ny : x.localeCompare(y);
    });
    const index = new Map(cats.map((c, i) => [c, i]));
    return {kind: "category", ticks: cats, label: (v) => v,
            pos: (v) => (v === null || v === undefined ? null :
              cats.length === 1 ? 0.5 : index.get(String(v)) / (cats.length - 1))};
  }

  /* Green (best) through amber to red (worst). */
  function color(t) {
    const stops = [[43, 138, 62], [230, 119, 0], [201, 42, 42]];
    const k = Math.max(0, Math.min(1, t)) * 2, i = Math.min(1, Math.floor(k)), f = k - i;
    const c = stops[i].map((v, j) => Math.round(v + (stops[i + 1][j] - v) * f));
    return "rgb(" + c.join(",") + ")";
  }

  function parcoords(box, runs, params, metric, goal) {
    clear(box);
    const rows = runs.filter((r) => asNumber(r.metrics[metric]) !== null);
    const dims = params.map((p) => ({name: p, get: (r) => r.params[p]}))
      .concat([{name: metric, get: (r) => r.metrics[metric], metric: true}]);
    const width = Math.max(320, box.clientWidth || 800), height = 320;
    const top = 34, bottom = 26, left = 50, right = 60;
    const root = svg("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
                             class: "pc", role: "img", "aria-label": "parallel coordinates"});
    const xs = dims.map((_, i) => left + (dims.length === 1 ? 0 : i * (width - left - right) / (dims.length - 1)));
    const scales = dims.map((d) => scale(rows.map(d.get)));
    const y = (p) => top + (1 - p) * (height - top - bottom);
    const values = rows.map((r) => asNumber(r.metrics[metric]));
    const lo = Math.min(...values), hi = Math.max(...values);
    const rank = (v) => (hi === lo ? 0 : goal === "max" ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo));
    const lines = svg("g", {class: "lines"});
    const order = rows.map((r, i) => i).sort((a, b) => rank(values[b]) - rank(values[a]));  // best drawn last
    for (const i of order) {
      const r = rows[i];
      const points = [];
      dims.forEach((d, k) => {
        const p = scales[k].pos(d.get(r));
        if (p !== null && p !== undefined) points.push(xs[k].toFixed(1) + "," + y(p).toFixed(1));
      });
      const t = rank(values[i]);
      const line = svg("polyline", {points: points.join(" "), fill: "none", stroke: color(t),
        "stroke-width": t === 0 ? 2.6 : 1.4, "stroke-opacity": 0.85, class: "pc-line",
        "data-run": r.id},
        svg("title", null, (r.display_name || r.id) + "\n" + dims.map((d) =>
          d.name + " = " + Studio.value(d.get(r))).join("\n")));
      line.addEventListener("click", () => { location.href = Studio.runUrl(r.id); });
      lines.append(line);
    }
    root.append(lines);
    dims.forEach((d, k) => {
      const g = svg("g", {class: "pc-axis" + (d.metric ? " metric" : "")});
      g.append(svg("line", {x1: xs[k], x2: xs[k], y1: top, y2: height - bottom, stroke: "#66707a"}));
      const name = svg("text", {x: xs[k], y: top - 14, "text-anchor": "middle", class: "pc-name"});
      name.textContent = d.name;
      g.append(name);
      const s = scales[k];
      for (const tick of s.ticks) {
        const p = s.pos(tick);
        const label = svg("text", {x: xs[k] - 6, y: y(p) + 4, "text-anchor": "end", class: "pc-tick"});
        label.textContent = s.label(tick);
        g.append(svg("line", {x1: xs[k] - 3, x2: xs[k], y1: y(p), y2: y(p), stroke: "#66707a"}), label);
      }
      root.append(g);
    });
    box.append(root);
    box.dataset.lines = String(rows.length);
    box.dataset.axes = String(dims.length);
  }

  function scatter(box, runs, param, metric) {
    clear(box);
    const rows = runs.filter((r) => asNumber(r.metrics[metric]) !== null && r.params[param] !== undefined);
    const width = Math.max(300, box.clientWidth || 440), height = 240;
    const left = 56, right = 14, top = 10, bottom = 34;
    const sx = scale(rows.map((r) => r.params[param]));
    const sy = scale(rows.map((r) => r.metrics[metric]));
    const X = (p) => left + p * (width - left - right), Y = (p) => top + (1 - p) * (height - top - bottom);
    const root = svg("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
                             role: "img", "aria-label": metric + " against " + param});
    root.append(svg("line", {x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, stroke: "#dde1e5"}),
                svg("line", {x1: left, x2: left, y1: top, y2: height - bottom, stroke: "#dde1e5"}));
    for (const tick of sx.ticks) {
      const t = svg("text", {x: X(sx.pos(tick)), y: height - bottom + 16, "text-anchor": "middle", class: "pc-tick"});
      t.textContent = sx.label(tick);
      root.append(t);
    }
    for (const tick of sy.ticks) {
      const t = svg("text", {x: left - 6, y: Y(sy.pos(tick)) + 4, "text-anchor": "end", class: "pc-tick"});
      t.textContent = sy.label(tick);
      root.append(t);
    }
    const name = svg("text", {x: (left + width - right) / 2, y: height - 4, "text-anchor": "middle", class: "pc-name"});
    name.textContent = param;
    root.append(name);
    for (const r of rows) {
      const dot = svg("circle", {cx: X(sx.pos(r.params[param])).toFixed(1), cy: Y(sy.pos(r.metrics[metric])).toFixed(1),
        r: 4, fill: "#0b61a4", "fill-opacity": 0.7, class: "dot", "data-run": r.id},
        svg("title", null, (r.display_name || r.id) + ": " + param + " = " + r.params[param] + ", " +
          metric + " = " + Studio.value(r.metrics[metric])));
      dot.addEventListener("click", () => { location.href = Studio.runUrl(r.id); });
      root.append(dot);
    }
    box.append(root);
    box.dataset.points = String(rows.length);
  }

  function bestSoFar(plot, runs, metric, goal) {
    const x = [], raw = [], best = [];
    let current = null;
    runs.forEach((r, i) => {
      const v = asNumber(r.metrics[metric]);
      if (v !== null) current = current === null ? v : goal === "max" ? Math.max(current, v) : Math.min(current, v);
      x.push(i + 1);
      raw.push(v);
      best.push(current);
    });
    Studio.chart(plot, {x: x, xName: "run", lines: [{name: metric, y: raw}, {name: "best so far", y: best}]});
  }

  Studio.pages.sweep = function (data) {
    const runs = data.runs;
    const metricSelect = document.getElementById("sweep-metric");
    const goalSelect = document.getElementById("sweep-goal");
    const paramSelect = document.getElementById("sweep-param");
    const of = document.getElementById("sweep-of");
    if (data.parent) {
      of.append("children of ", el("a", {href: Studio.runUrl(data.parent), text: data.parent}));
    }
    of.append(" · " + runs.length + " runs");
    for (const m of data.metric_names) metricSelect.append(el("option", {value: m, text: m}));
    for (const p of data.param_names) paramSelect.append(el("option", {value: p, text: p}));
    if (data.primary) metricSelect.value = data.primary;
    goalSelect.value = data.goal || "min";
    const empty = !data.metric_names.length || !data.param_names.length;
    document.getElementById("no-sweep").hidden = !empty;

    function draw() {
      if (empty) return;
      const metric = metricSelect.value, goal = goalSelect.value, param = paramSelect.value;
      parcoords(document.getElementById("parcoords"), runs, data.param_names, metric, goal);
      document.getElementById("scatter-title").textContent = metric + " against " + param;
      scatter(document.getElementById("scatter"), runs, param, metric);
      bestSoFar(document.getElementById("best"), runs, metric, goal);
    }
    for (const node of [metricSelect, goalSelect, paramSelect]) node.addEventListener("change", draw);
    let timer = null;
    window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(draw, 100); });
    draw();
  };
})();
