/* runner studio: the experiments, runs and compare pages. */
"use strict";

(function () {
  const {el, clear} = Studio;

  /* ------------------------------------------------------------ experiments */

  Studio.pages.experiments = function (data) {
    const body = document.querySelector("#experiments tbody");
    const items = data.experiments || [];
    document.getElementById("no-experiments").hidden = items.length > 0;
    for (const e of items) {
      const statuses = el("span");
      for (const [status, n] of Object.entries(e.statuses).sort()) {
        statuses.append(el("span", {class: "status " + status, text: n + " " + status}), " ");
      }
      body.append(el("tr", null,
        el("td", null, el("a", {href: "/experiments/" + Studio.enc(e.name), text: e.name})),
        el("td", {class: "num", text: e.runs}),
        el("td", null, statuses),
        el("td", {text: Studio.time(e.last_activity)})));
    }
  };

  /* ------------------------------------------------------------------- runs */

  const BASE_COLUMNS = [
    ["", null], ["Run", "id"], ["Name", "name"], ["Status", "status"], ["Started", "start"],
    ["Duration", "duration"], ["Script", null], ["Tags", null],
  ];

  Studio.pages.runs = function (data) {
    const query = data.query;
    const form = document.getElementById("filters");
    const selected = new Set();
    const compareButton = document.getElementById("compare");
    form.status.value = query.status || "";
    form.tag.value = (query.tags || []).join(" ");
    form.q.value = query.text || "";

    function params() {
      const p = new URLSearchParams();
      if (query.experiment) p.set("experiment", query.experiment);
      if (query.status) p.set("status", query.status);
      for (const t of query.tags || []) p.append("tag", t);
      if (query.text) p.set("q", query.text);
      if (query.sort !== "created") p.set("sort", query.sort);
      if (query.order !== "desc") p.set("order", query.order);
      if (query.page > 1) p.set("page", query.page);
      if (query.per_page !== 50) p.set("per_page", query.per_page);
      return p;
    }

    async function load() {
      const p = params();
      const shown = new URLSearchParams(p);
      shown.delete("experiment");
      const text = shown.toString();
      history.replaceState(null, "", location.pathname + (text ? "?" + text : ""));
      try {
        render(await Studio.api("/api/runs?" + p.toString()));
      } catch (error) {
        document.getElementById("range").textContent = "Error: " + error.message;
      }
    }

    function header(metricNames) {
      const row = el("tr");
      const columns = BASE_COLUMNS.concat(metricNames.map((n) => [n, "metric:" + n]));
      if (!query.experiment) columns.splice(2, 0, ["Experiment", "experiment"]);
      for (const [label, key] of columns) {
        const th = el("th", {text: label, class: key ? "sortable" : null});
        if (key && key.startsWith("metric:")) th.classList.add("num");
        if (key && key === query.sort) {
          th.classList.add("sorted");
          if (query.order === "asc") th.classList.add("asc");
        }
        if (key) {
          th.addEventListener("click", () => {
            query.order = query.sort === key && query.order === "desc" ? "asc" : "desc";
            query.sort = key;
            query.page = 1;
            load();
          });
        }
        row.append(th);
      }
      return row;
    }

    function render(result) {
      const table = document.getElementById("runs");
      clear(table.tHead).append(header(result.metric_names));
      const body = clear(table.tBodies[0]);
      for (const run of result.runs) {
        const box = el("input", {type: "checkbox", "aria-label": "select " + run.id,
                                 checked: selected.has(run.id)});
        box.addEventListener("change", () => {
          if (box.checked) selected.add(run.id); else selected.delete(run.id);
          compareButton.disabled = selected.size < 1;
        });
        const cells = [
          el("td", null, box),
          el("td", {class: "mono"}, el("a", {href: Studio.runUrl(run.id), text: run.id})),
          el("td", {text: run.display_name || ""}),
          el("td", null, Studio.status(run.status)),
          el("td", {text: Studio.time(run.start_time)}),
          el("td", {class: "num", text: Studio.duration(run.duration)}),
          el("td", {class: "mono", text: run.script || ""}),
          el("td", null, Studio.tags(run.tags)),
        ];
        if (!query.experiment) {
          cells.splice(2, 0, el("td", null, el("a", {
            href: "/experiments/" + Studio.enc(run.experiment), text: run.experiment})));
        }
        for (const name of result.metric_names) {
          cells.push(el("td", {class: "num", text: Studio.value(run.metrics[name])}));
        }
        body.append(el("tr", {dataset: {run: run.id}}, ...cells));
      }
      document.getElementById("no-runs").hidden = result.runs.length > 0;
      const first = (result.page - 1) * result.per_page;
      const last = first + result.runs.length;
      const total = result.total === null ? (result.has_more ? "more" : last) : result.total;
      document.getElementById("range").textContent =
        result.runs.length ? (first + 1) + "–" + last + " of " + total : "";
      document.getElementById("prev").disabled = result.page <= 1;
      document.getElementById("next").disabled = !result.has_more;
      clearTimeout(render.timer);
      if (result.runs.some((r) => !Studio.TERMINAL.has(r.status))) {
        render.timer = setTimeout(load, 5000);  // live runs on the page: keep it current
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      query.status = form.status.value || null;
      query.tags = form.tag.value.split(/\s+/).filter(Boolean);
      query.text = form.q.value.trim() || null;
      query.page = 1;
      load();
    });
    document.getElementById("prev").addEventListener("click", () => { query.page--; load(); });
    document.getElementById("next").addEventListener("click", () => { query.page++; load(); });
    compareButton.addEventListener("click", () => {
      location.href = "/compare?runs=" + [...selected].map(Studio.enc).join(",");
    });
    render(data.result);
  };

  /* ---------------------------------------------------------------- compare */

  Studio.pages.compare = function (data) {
    const table = document.getElementById("compare-table");
    const runs = data.runs;
    table.tHead.append(el("tr", null, el("th", {text: ""}),
      ...runs.map((r) => el("th", null, el("a", {href: Studio.runUrl(r.id),
                                                 text: r.display_name || r.id})))));
    const body = table.tBodies[0];
    const row = (label, cells) => body.append(el("tr", null, el("th", {text: label}), ...cells));
    row("Experiment", runs.map((r) => el("td", {text: r.experiment})));
    row("Status", runs.map((r) => el("td", null, Studio.status(r.status))));
    row("Duration", runs.map((r) => el("td", {class: "num", text: Studio.duration(r.duration)})));
    row("Script", runs.map((r) => el("td", {class: "mono", text: r.script || "–"})));
    row("Arguments", runs.map((r) => el("td", {class: "mono", text: r.arguments.join(" ") || "–"})));
    for (const tag of data.tag_names) {
      row("tag " + tag, runs.map((r) => el("td", {text: tag in r.tags ? (r.tags[tag] ?? "✓") : "–"})));
    }
    for (const name of data.metric_names) {
      const values = runs.map((r) => r.metrics[name]);
      const numbers = values.filter((v) => typeof v === "number");
      row(name, values.map((v) => el("td", {class: "num", text: Studio.value(v)})));
      if (numbers.length > 1) body.lastChild.dataset.metric = name;
    }
    const charts = document.getElementById("compare-charts");
    document.getElementById("no-charts").hidden = data.charts.length > 0;
    for (const chart of data.charts) {
      const plot = el("div", {class: "plot"});
      charts.append(el("div", {class: "card", dataset: {metric: chart.name}},
        el("h3", {text: chart.name}), plot));
      overlay(plot, chart.name, runs);
    }
  };

  /* Every run's curve of one metric on a shared x axis (gaps where a run has no point). */
  async function overlay(plot, name, runs) {
    const points = Studio.points(plot);
    const results = await Promise.all(runs.map((r) =>
      Studio.api("/api/runs/" + Studio.enc(r.id) + "/series?name=" + Studio.enc(name) +
                 "&points=" + points).catch(() => null)));
    const curves = [];
    results.forEach((s, i) => {
      if (!s) return;
      const y = s.kind === "table" ? (s.series[0] || {}).y : s.y;
      if (y) curves.push({name: runs[i].display_name || runs[i].id, x: s.x, y: y});
    });
    const xs = [...new Set(curves.flatMap((c) => c.x.filter((v) => v !== null)))]
      .sort((a, b) => a - b);
    const index = new Map(xs.map((v, i) => [v, i]));
    const lines = curves.map((c) => {
      const y = new Array(xs.length).fill(null);
      c.x.forEach((xv, i) => { if (index.has(xv)) y[index.get(xv)] = c.y[i]; });
      return {name: c.name, y: y};
    });
    Studio.chart(plot, {x: xs, xName: "step", lines: lines, spanGaps: true});
  }
})();
