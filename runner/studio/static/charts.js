/* runner studio: line charts (uPlot) and metric panels.
 *
 * Studio.chart draws lines with readable axes: compact tick labels (100k, 1.5M) spaced so
 * that they never collide, whole-number ticks on step axes, dates on wall-time axes, a
 * log scale on either axis, and EMA smoothing with the raw curve kept faint. Dragging
 * across a chart asks its owner for that range (Studio.panel fetches it again at full
 * resolution); a double click goes back to the whole series.
 *
 * Studio.panel is a metric card's chart with its controls: the x axis (the logged step,
 * wall time or time since the start), log scales, smoothing, more metrics in the same
 * panel, and downloads (PNG of the chart, CSV of the values).
 */
"use strict";

(function () {
  const {el, clear} = Studio;
  const HEIGHT = 220;
  const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2.5e3, 5e3,
    1e4, 2e4, 2.5e4, 5e4, 1e5, 2e5, 2.5e5, 5e5, 1e6, 2e6, 2.5e6, 5e6, 1e7, 2e7, 5e7, 1e8,
    2e8, 5e8, 1e9, 2e9, 5e9, 1e10, 1e11, 1e12];

  /* A short tick label: 950, 1.5k, 100k, 2.5M, 0.0012, 1e-7. */
  Studio.compact = function (v) {
    if (v === null || v === undefined || !isFinite(v)) return "";
    const a = Math.abs(v);
    const trim = (n, d) => String(+n.toFixed(d));
    if (a >= 1e12) return v.toExponential(1);
    if (a >= 1e9) return trim(v / 1e9, 2) + "G";
    if (a >= 1e6) return trim(v / 1e6, 2) + "M";
    if (a >= 1e4) return trim(v / 1e3, 1) + "k";
    if (a === 0) return "0";
    if (a < 1e-3) return v.toExponential(1);
    return String(+v.toPrecision(4));
  };

  /* Exponential moving average, debiased (as TensorBoard): weight 0 is the raw curve. */
  Studio.ema = function (y, weight) {
    if (!weight) return y;
    const out = new Array(y.length);
    let last = 0, n = 0;
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (v === null || v === undefined || !isFinite(v)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  };

  function faint(color) {
    const n = parseInt(color.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + ",0.28)";
  }

  /* Draw (or redraw) lines in container.
   * spec: {x, xName, lines: [{name, y}], spanGaps, logX, logY, smooth, time, onZoom}.
   * x must ascend for uPlot; unordered x (an x–y table) is sorted with its rows. */
  Studio.chart = function (container, spec) {
    let x = spec.x, ys = spec.lines.map((l) => l.y);
    let ordered = true;
    for (let i = 1; i < x.length; i++) { if (!(x[i] >= x[i - 1])) { ordered = false; break; } }
    if (!ordered || spec.logX) {
      const order = x.map((_, i) => i).filter((i) => x[i] !== null && (!spec.logX || x[i] > 0))
        .sort((a, b) => x[a] - x[b]);
      x = order.map((i) => x[i]);
      ys = ys.map((y) => order.map((i) => y[i]));
    }
    if (spec.logY) ys = ys.map((y) => y.map((v) => (v !== null && v > 0 ? v : null)));
    const integer = !spec.time && x.length > 0 && x.every((v) => v === null || Number.isInteger(v));
    const series = [{label: spec.xName || "step"}];
    const data = [x];
    spec.lines.forEach((line, i) => {
      const color = Studio.COLORS[i % Studio.COLORS.length];
      const many = x.length >= 60;
      if (spec.smooth) {
        series.push({label: line.name + " (raw)", stroke: faint(color), width: 1,
                     spanGaps: !!spec.spanGaps, points: {show: false}});
        data.push(ys[i]);
        series.push({label: line.name, stroke: color, width: 1.8, spanGaps: !!spec.spanGaps,
                     points: {show: false}});
        data.push(Studio.ema(ys[i], spec.smooth));
      } else {
        series.push({label: line.name, stroke: color, width: 1.5, spanGaps: !!spec.spanGaps,
                     points: {show: !many}});
        data.push(ys[i]);
      }
    });
    const key = JSON.stringify([series.map((s) => s.label), !!spec.logX, !!spec.logY,
                                !!spec.time, integer, spec.xName]);
    const width = Math.max(200, container.clientWidth || 440);
    const existing = container._uplot;
    if (existing && container._chartKey === key) {
      existing.setData(data);
    } else {
      if (existing) existing.destroy();
      clear(container);
      const xAxis = {space: 90, values: spec.time ? undefined : (u, ticks) => ticks.map(Studio.compact)};
      if (integer) xAxis.incrs = INTEGER_INCRS;
      const opts = {
        width: width, height: HEIGHT,
        scales: {x: {time: !!spec.time, distr: spec.logX ? 3 : 1},
                 y: {distr: spec.logY ? 3 : 1}},
        axes: [xAxis, {size: 56, values: (u, ticks) => ticks.map(Studio.compact)}],
        legend: {live: true},
        cursor: {drag: {x: true, y: false, setScale: false}},
        series: series,
        hooks: {setSelect: [(u) => {
          if (u.select.width < 4) return;
          const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
          if (container._onZoom) container._onZoom(lo, hi);
          else u.setScale("x", {min: lo, max: hi});
        }]},
      };
      const plot = new uPlot(opts, data, container);
      plot.over.addEventListener("dblclick", () => {
        if (container._onZoom) container._onZoom(null, null);
      });
      container._uplot = plot;
      container._chartKey = key;
    }
    container._onZoom = spec.onZoom || null;
    container.dataset.points = String(x.length);
    container.dataset.integerX = integer ? "1" : "0";
    container.dataset.logY = spec.logY ? "1" : "0";
    container.dataset.drawn = "1";
    return container._uplot;
  };

  /* Keep charts as wide as their cards. */
  window.addEventListener("resize", () => {
    for (const node of document.querySelectorAll(".plot")) {
      if (node._uplot && node.clientWidth) node._uplot.setSize({width: node.clientWidth, height: HEIGHT});
    }
  });

  /* The chart as a PNG (white background, title on top). */
  Studio.savePng = function (plot, title) {
    const u = plot._uplot;
    if (!u) return;
    const source = u.ctx.canvas;
    const canvas = document.createElement("canvas");
    canvas.width = source.width;
    canvas.height = source.height + 28;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#1d2329";
    ctx.font = "bold 16px sans-serif";
    ctx.fillText(title, 8, 20);
    ctx.drawImage(source, 0, 28);
    canvas.toBlob((blob) => {
      const link = el("a", {href: URL.createObjectURL(blob),
                            download: title.replace(/[^\w.-]+/g, "_") + ".png"});
      document.body.append(link);
      link.click();
      setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    });
  };

  const AXES = [["step", "step"], ["time", "wall time"], ["relative", "relative time"]];

  /* A chart panel: controls above, the chart below.
   * opts: {sources: [{run, metric, label}], title, others: [metric names to add] | null,
   *        csv: url | null}. Returns {draw, state}. */
  Studio.panel = function (card, opts) {
    const state = {axis: "step", logX: false, logY: false, smooth: 0, range: null,
                   sources: opts.sources.slice()};
    const plot = el("div", {class: "plot"});
    const axis = el("select", {class: "x-axis", title: "x axis", "aria-label": "x axis"},
      ...AXES.map(([value, label]) => el("option", {value: value, text: label})));
    const logY = el("input", {type: "checkbox", class: "log-y"});
    const logX = el("input", {type: "checkbox", class: "log-x"});
    const smooth = el("input", {type: "range", class: "smooth", min: "0", max: "0.99",
                                step: "0.01", value: "0", title: "smoothing (EMA weight)"});
    const smoothValue = el("span", {class: "muted smooth-value", text: "0"});
    const reset = el("button", {type: "button", class: "reset", hidden: true, text: "whole range"});
    const png = el("button", {type: "button", class: "png", text: "PNG"});
    const tools = el("div", {class: "chart-tools"}, axis,
      el("label", null, logY, " log y"), el("label", null, logX, " log x"),
      el("label", {class: "smoothing"}, "smooth ", smooth, smoothValue), reset, png);
    if (opts.csv) tools.append(el("a", {href: opts.csv, class: "csv", download: "", text: "CSV"}));
    if (opts.others && opts.others.length) {
      const add = el("select", {class: "add-metric", "aria-label": "add a metric"},
        el("option", {value: "", text: "+ metric"}),
        ...opts.others.map((name) => el("option", {value: name, text: name})));
      add.addEventListener("change", () => {
        if (!add.value) return;
        const run = state.sources[0].run;
        state.sources.push({run: run, metric: add.value, label: add.value});
        add.remove(add.selectedIndex);
        add.value = "";
        draw();
      });
      tools.append(add);
    }
    card.append(tools, plot);
    axis.addEventListener("change", () => { state.axis = axis.value; state.range = null; draw(); });
    logY.addEventListener("change", () => { state.logY = logY.checked; draw(); });
    logX.addEventListener("change", () => { state.logX = logX.checked; draw(); });
    let smoothTimer = null;
    smooth.addEventListener("input", () => {
      state.smooth = Number(smooth.value);
      smoothValue.textContent = smooth.value;
      clearTimeout(smoothTimer);
      smoothTimer = setTimeout(() => redraw(), 30);
    });
    reset.addEventListener("click", () => { state.range = null; draw(); });
    png.addEventListener("click", () => Studio.savePng(plot, opts.title));

    let last = null;  /* the fetched series, kept so smoothing redraws without a fetch */
    let generation = 0;

    async function draw() {
      const mine = ++generation;
      const points = Studio.points(plot);
      const range = state.range ? "&x_min=" + state.range[0] + "&x_max=" + state.range[1] : "";
      const results = await Promise.all(state.sources.map((s) =>
        Studio.api("/api/runs/" + Studio.enc(s.run) + "/series?name=" + Studio.enc(s.metric) +
                   "&points=" + points + "&axis=" + state.axis + range).catch(() => null)));
      if (mine !== generation) return;  /* a newer draw is on its way */
      last = results;
      redraw();
      card.dataset.downsampled = results.some((s) => s && s.downsampled) ? "1" : "0";
    }

    function redraw() {
      const curves = [];
      let xName = "step";
      (last || []).forEach((s, i) => {
        if (!s) return;
        xName = s.x_name || xName;
        const y = s.kind === "table" ? (s.series[0] || {}).y : s.y;
        if (y) curves.push({name: state.sources[i].label, x: s.x, y: y});
      });
      let x, lines;
      if (curves.length === 1) {
        x = curves[0].x;
        lines = [{name: curves[0].name, y: curves[0].y}];
      } else {
        x = [...new Set(curves.flatMap((c) => c.x.filter((v) => v !== null)))].sort((a, b) => a - b);
        const index = new Map(x.map((v, i) => [v, i]));
        lines = curves.map((c) => {
          const y = new Array(x.length).fill(null);
          c.x.forEach((xv, i) => { if (index.has(xv)) y[index.get(xv)] = c.y[i]; });
          return {name: c.name, y: y};
        });
      }
      reset.hidden = !state.range;
      Studio.chart(plot, {x: x, xName: xName, lines: lines, spanGaps: curves.length > 1,
        logX: state.logX, logY: state.logY, smooth: state.smooth, time: state.axis === "time",
        onZoom: (lo, hi) => { state.range = lo === null ? null : [lo, hi]; draw(); }});
      plot.dataset.axis = state.axis;
      plot.dataset.range = state.range ? state.range.join(",") : "";
    }

    return {draw: draw, state: state, plot: plot};
  };
})();
